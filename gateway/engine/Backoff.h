// Backoff: full-jitter exponential backoff (Brooker, "Exponential Backoff And
// Jitter"): delay = uniform(0, min(cap, base * 2^failures)). A server's
// Retry-After is a floor: the engine never retries earlier than it asked.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>

namespace rpm::engine {

class Backoff {
 public:
  // random(n) returns a uniform integer in [0, n]; injected so tests are exact.
  using Random = std::function<std::uint64_t(std::uint64_t)>;
  Backoff(std::chrono::milliseconds base, std::chrono::milliseconds cap, Random random);

  // The delay after one more consecutive failure (the first failure uses base).
  std::chrono::milliseconds nextDelay(std::optional<std::chrono::seconds> serverFloor = std::nullopt);
  // The first success resets the sequence.
  void reset() { failures_ = 0; }
  std::uint32_t consecutiveFailures() const { return failures_; }

 private:
  std::chrono::milliseconds base_, cap_;
  Random random_;
  std::uint32_t failures_ = 0;
};

// One full-jitter draw: uniform(0, min(cap, base * 2^attempts)).
std::chrono::milliseconds fullJitter(std::chrono::milliseconds base, std::chrono::milliseconds cap,
                                     std::uint32_t attempts, const Backoff::Random& random);

// A Random from a std::mt19937_64 seeded from std::random_device.
Backoff::Random systemRandom();

}  // namespace rpm::engine

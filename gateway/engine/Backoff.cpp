#include "gateway/engine/Backoff.h"

#include <memory>
#include <mutex>
#include <random>

namespace rpm::engine {

Backoff::Backoff(std::chrono::milliseconds base, std::chrono::milliseconds cap, Random random)
    : base_(base), cap_(cap), random_(std::move(random)) {}

std::chrono::milliseconds fullJitter(std::chrono::milliseconds base, std::chrono::milliseconds cap,
                                     std::uint32_t attempts, const Backoff::Random& random) {
  // ceiling = min(cap, base * 2^attempts), computed without overflow.
  std::int64_t ceiling = base.count();
  for (std::uint32_t i = 0; i < attempts && ceiling < cap.count(); ++i) ceiling *= 2;
  if (ceiling > cap.count()) ceiling = cap.count();
  return std::chrono::milliseconds(static_cast<std::int64_t>(random(static_cast<std::uint64_t>(ceiling))));
}

std::chrono::milliseconds Backoff::nextDelay(std::optional<std::chrono::seconds> serverFloor) {
  auto delay = fullJitter(base_, cap_, failures_, random_);
  if (failures_ < 64) ++failures_;
  if (serverFloor && delay < *serverFloor) delay = std::chrono::duration_cast<std::chrono::milliseconds>(*serverFloor);
  return delay;
}

Backoff::Random systemRandom() {
  auto engine = std::make_shared<std::mt19937_64>(std::random_device{}());
  auto mutex = std::make_shared<std::mutex>();
  return [engine, mutex](std::uint64_t n) {
    std::lock_guard<std::mutex> lock(*mutex);
    return std::uniform_int_distribution<std::uint64_t>(0, n)(*engine);
  };
}

}  // namespace rpm::engine

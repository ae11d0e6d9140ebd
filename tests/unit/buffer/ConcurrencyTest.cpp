// Concurrency of the group commit; also built and run under ThreadSanitizer
// (docs/buffer.md: "ThreadSanitizer run").
#include <catch2/catch.hpp>

#include <atomic>
#include <set>
#include <thread>

#include "buffer/SqliteBuffer.h"
#include "tests/support/FakeClock.h"
#include "tests/unit/buffer/BufferFixtures.h"

using namespace rpm;
using namespace rpm::buffer;

TEST_CASE("Concurrent producers and a consumer lose and duplicate nothing", "[unit][buffer][concurrency]") {
  test::TempDir dir;
  test::FakeClock clock;
  BufferOptions options;
  options.path = dir.file("buffer.db");
  auto opened = SqliteBuffer::open(options, clock);
  REQUIRE(opened.isOk());
  auto& store = **opened;

  constexpr int kProducers = 8;
  constexpr int kBatches = 40;
  constexpr int kBatchSize = 5;
  std::atomic<int> failures{0};
  std::atomic<int> producersDone{0};
  std::vector<std::thread> threads;
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] {
      for (int b = 0; b < kBatches; ++b) {
        std::vector<Reading> batch;
        for (int i = 0; i < kBatchSize; ++i) {
          batch.push_back(test::sampleReading("p" + std::to_string(p) + "-" + std::to_string(b * kBatchSize + i),
                                              b * kBatchSize + i));
        }
        // Every fourth batch is re-sent: duplicates must be reported, not stored.
        auto r = store.append(batch);
        if (!r.isOk()) failures++;
        if (b % 4 == 0) {
          auto again = store.append(batch);
          if (!again.isOk() || again->outcomes[0] != AppendOutcome::kDuplicate) failures++;
        }
      }
      producersDone++;
    });
  }
  std::multiset<std::string> delivered;
  std::thread consumer([&] {
    while (true) {
      bool finished = producersDone.load() == kProducers;
      auto leased = store.lease(16);
      if (!leased.isOk()) {
        failures++;
        return;
      }
      std::vector<Acknowledgement> acks;
      for (const auto& l : *leased) {
        delivered.insert(l.reading.id);
        acks.push_back({l.reading.id, l.leaseId, {{"Observation/x"}, "201"}});
      }
      if (!acks.empty() && !store.ack(acks).isOk()) failures++;
      if (!store.counters().isOk()) failures++;
      if (finished && leased->empty()) return;
    }
  });
  for (auto& t : threads) t.join();
  consumer.join();
  CHECK(failures.load() == 0);
  CHECK(delivered.size() == static_cast<std::size_t>(kProducers * kBatches * kBatchSize));
  CHECK(std::set<std::string>(delivered.begin(), delivered.end()).size() == delivered.size());
  auto c = store.counters();
  REQUIRE(c.isOk());
  CHECK(c->backlog == 0);
  CHECK(c->duplicates == static_cast<std::uint64_t>(kProducers * (kBatches / 4) * kBatchSize));
  CHECK(*store.integrityCheck() == "ok");
}

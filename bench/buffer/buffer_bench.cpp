// Buffer benchmark: every figure is printed next to a raw-SQLite baseline
// measured in the same run on the same disk. Never asserted anywhere.
// Usage: buffer_bench <scratch directory> [backlog readings, default 1000000]
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "buffer/ReadingCodec.h"
#include "buffer/SqliteBuffer.h"
#include "gateway/time/SystemClock.h"

using namespace rpm;
using Steady = std::chrono::steady_clock;
namespace fs = std::filesystem;

namespace {

Reading makeReading(const std::string& id, std::int64_t t) {
  Reading r;
  r.id = id;
  r.device = *DeviceKey::parse("bt:B0495F001071");
  r.kind = ReadingKind::kBloodPressure;
  r.subject = "Patient/8f14e45f-ceea-467f-a2c2-8b7b3c2d9a11";
  r.effectiveStart = UtcInstant(std::chrono::seconds(1700000000 + t));
  r.receivedAt = r.effectiveStart;
  r.value = std::vector<Component>{
      Component{Measure::kSystolic, Quantity{Decimal(121, 0), SpecialValue::kNone, "mm[Hg]"}, std::nullopt,
                Comparator::kNone, ""},
      Component{Measure::kDiastolic, Quantity{Decimal(80, 0), SpecialValue::kNone, "mm[Hg]"}, std::nullopt,
                Comparator::kNone, ""},
      Component{Measure::kMeanArterialPressure, Quantity{Decimal(94, 0), SpecialValue::kNone, "mm[Hg]"},
                std::nullopt, Comparator::kNone, ""},
      Component{Measure::kPulseRate, Quantity{Decimal(72, 0), SpecialValue::kNone, "/min"}, std::nullopt,
                Comparator::kNone, ""}};
  r.status = {StatusWord{"bp-measurement-status", 0}};
  r.raw = RawPayload{"gatt:2A35", std::vector<std::uint8_t>(19, 0x1e)};
  return r;
}

double secs(Steady::duration d) { return std::chrono::duration<double>(d).count(); }

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

std::string fresh(const std::string& dir, const std::string& name) {
  std::string p = dir + "/" + name;
  for (const char* s : {"", "-wal", "-shm"}) fs::remove(p + s);
  return p;
}

// Raw SQLite baseline with the same pragmas and row contents.
struct Raw {
  sqlite3* db = nullptr;
  sqlite3_stmt* insert = nullptr;
  explicit Raw(const std::string& path) {
    sqlite3_open(path.c_str(), &db);
    sqlite3_exec(db,
                 "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
                 "CREATE TABLE t(seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, body BLOB NOT NULL)",
                 nullptr, nullptr, nullptr);
    sqlite3_prepare_v2(db, "INSERT INTO t(id, body) VALUES(?1, ?2)", -1, &insert, nullptr);
  }
  ~Raw() {
    sqlite3_finalize(insert);
    sqlite3_close(db);
  }
  void row(const std::string& id, const std::vector<std::uint8_t>& body) {
    sqlite3_bind_text(insert, 1, id.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_blob(insert, 2, body.data(), static_cast<int>(body.size()), SQLITE_TRANSIENT);
    sqlite3_step(insert);
    sqlite3_reset(insert);
  }
};

long rssKiB() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

std::unique_ptr<buffer::SqliteBuffer> openBuffer(const std::string& path, const rpm::Clock& clock) {
  buffer::BufferOptions o;
  o.path = path;
  o.maxSizeBytes = 8ULL * 1024 * 1024 * 1024;
  auto s = buffer::SqliteBuffer::open(o, clock);
  if (!s.isOk()) {
    std::fprintf(stderr, "open failed: %s\n", s.status().toString().c_str());
    std::exit(1);
  }
  return std::move(s).value();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: buffer_bench <scratch dir> [backlog]\n");
    return 2;
  }
  std::string dir = argv[1];
  long backlog = argc > 2 ? std::stol(argv[2]) : 1000000;
  fs::create_directories(dir);
  fs::permissions(dir, fs::perms::owner_all);  // the buffer expects a 0700 directory
  SystemClock clock;
  auto body = buffer::encodeReading(makeReading("00000000-0000-5000-8000-000000000000", 0));
  std::printf("reading: %zu bytes serialized; scratch: %s\n\n", body.size(), dir.c_str());

  // 1. Raw single-row commits (WAL + FULL), then raw 100-row batches.
  double rawSingleRate, rawBatchRate;
  {
    Raw raw(fresh(dir, "raw-single.db"));
    const int n = 2000;
    auto t0 = Steady::now();
    for (int i = 0; i < n; ++i) raw.row("r" + std::to_string(i), body);
    rawSingleRate = n / secs(Steady::now() - t0);
  }
  {
    Raw raw(fresh(dir, "raw-batch.db"));
    const int n = 50000;
    auto t0 = Steady::now();
    for (int i = 0; i < n; i += 100) {
      sqlite3_exec(raw.db, "BEGIN", nullptr, nullptr, nullptr);
      for (int j = i; j < i + 100; ++j) raw.row("r" + std::to_string(j), body);
      sqlite3_exec(raw.db, "COMMIT", nullptr, nullptr, nullptr);
    }
    rawBatchRate = n / secs(Steady::now() - t0);
  }
  std::printf("raw SQLite single-row commits (WAL+FULL): %10.0f rows/s\n", rawSingleRate);
  std::printf("raw SQLite 100-row batched inserts:       %10.0f rows/s\n\n", rawBatchRate);

  // 2. Durable append, one reading per call, from 1, 8 and 64 producers.
  for (int producers : {1, 8, 64}) {
    auto store = openBuffer(fresh(dir, "append-" + std::to_string(producers) + ".db"), clock);
    const int perProducer = producers == 1 ? 2000 : (producers == 8 ? 2500 : 800);
    std::vector<std::thread> threads;
    auto t0 = Steady::now();
    for (int p = 0; p < producers; ++p) {
      threads.emplace_back([&, p] {
        for (int i = 0; i < perProducer; ++i) {
          auto r = store->append({makeReading("p" + std::to_string(p) + "-" + std::to_string(i), i)});
          if (!r.isOk()) std::fprintf(stderr, "append failed\n");
        }
      });
    }
    for (auto& t : threads) t.join();
    double rate = producers * perProducer / secs(Steady::now() - t0);
    std::printf("buffer append, %2d producers: %10.0f readings/s = %6.1fx raw single-row, %5.2fx raw batched\n",
                producers, rate, rate / rawSingleRate, rate / rawBatchRate);
  }

  // 3. Latency at 100 readings/s (paced), buffer vs raw single-row commit.
  std::vector<double> rawLat, bufLat;
  {
    Raw raw(fresh(dir, "raw-latency.db"));
    auto next = Steady::now();
    for (int i = 0; i < 500; ++i) {
      std::this_thread::sleep_until(next);
      next += std::chrono::milliseconds(10);
      auto t0 = Steady::now();
      raw.row("l" + std::to_string(i), body);
      rawLat.push_back(secs(Steady::now() - t0) * 1000);
    }
  }
  {
    auto store = openBuffer(fresh(dir, "latency.db"), clock);
    auto next = Steady::now();
    for (int i = 0; i < 500; ++i) {
      std::this_thread::sleep_until(next);
      next += std::chrono::milliseconds(10);
      auto t0 = Steady::now();
      (void)store->append({makeReading("l" + std::to_string(i), i)});
      bufLat.push_back(secs(Steady::now() - t0) * 1000);
    }
  }
  std::printf("\nlatency at 100 readings/s: buffer p50 %.3f ms p99 %.3f ms; raw commit p50 %.3f ms p99 %.3f ms; "
              "p99 ratio %.2fx\n",
              percentile(bufLat, 0.5), percentile(bufLat, 0.99), percentile(rawLat, 0.5), percentile(rawLat, 0.99),
              percentile(bufLat, 0.99) / percentile(rawLat, 0.99));

  // 4. Backlog: fill, measure bytes per reading and RSS, then drain.
  {
    std::string path = fresh(dir, "backlog.db");
    long rssBefore = rssKiB();
    auto store = openBuffer(path, clock);
    auto t0 = Steady::now();
    for (long i = 0; i < backlog; i += 1000) {
      std::vector<Reading> batch;
      for (long j = i; j < std::min(backlog, i + 1000); ++j) batch.push_back(makeReading("b" + std::to_string(j), j));
      (void)store->append(batch);
    }
    double fill = secs(Steady::now() - t0);
    auto counters = store->counters();
    (void)store->lease(100);
    long rss = rssKiB();
    std::printf("\nbacklog of %ld readings: filled in %.1f s (%.0f readings/s in 1000-reading appends)\n", backlog,
                fill, backlog / fill);
    std::printf("bytes on disk per reading: %.1f (database + WAL %llu bytes)\n",
                static_cast<double>(counters->diskBytes) / static_cast<double>(backlog),
                static_cast<unsigned long long>(counters->diskBytes));
    std::printf("RSS with the backlog: %.1f MiB (process before opening: %.1f MiB)\n", rss / 1024.0,
                rssBefore / 1024.0);
    store.reset();
    store = openBuffer(path, clock);  // reopen: includes the startup quick_check
    long drainN = std::min<long>(backlog, 100000);
    auto d0 = Steady::now();
    long drained = 0;
    while (drained < drainN) {
      auto leased = store->lease(100);
      if (!leased.isOk() || leased->empty()) break;
      std::vector<Acknowledgement> acks;
      for (const auto& l : *leased) acks.push_back({l.reading.id, l.leaseId, {{"Observation/1/_history/1"}, "201"}});
      (void)store->ack(acks);
      drained += static_cast<long>(leased->size());
    }
    double drainRate = drained / secs(Steady::now() - d0);
    std::printf("lease(100)+ack drain: %.0f readings/s over %ld readings (%.2fx raw batched insert rate)\n", drainRate,
                drained, drainRate / rawBatchRate);
    std::printf("RSS after draining: %.1f MiB\n", rssKiB() / 1024.0);
  }
  fs::remove_all(dir);
  return 0;
}

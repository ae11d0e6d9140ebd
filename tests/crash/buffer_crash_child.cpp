// Child of the crash test: appends bursts from several threads and prints
// each reading id on its own line once append() returned for it. The parent
// SIGKILLs it at random points. --print-before-commit-for-test prints before
// appending: the planted bug the harness must catch.
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "buffer/SqliteBuffer.h"
#include "gateway/time/SystemClock.h"
#include "tests/unit/buffer/BufferFixtures.h"

using namespace rpm;

namespace {
std::mutex outMutex;

void printIds(const std::vector<Reading>& readings) {
  std::string out;
  for (const auto& r : readings) out += r.id + "\n";
  std::lock_guard<std::mutex> g(outMutex);
  const char* p = out.data();
  std::size_t left = out.size();
  while (left > 0) {
    ssize_t n = ::write(1, p, left);
    if (n <= 0) _exit(3);
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: buffer_crash_child <db> <run> [--print-before-commit-for-test]\n");
    return 2;
  }
  bool printFirst = argc > 3 && std::strcmp(argv[3], "--print-before-commit-for-test") == 0;
  std::string run = argv[2];
  SystemClock clock;
  buffer::BufferOptions options;
  options.path = argv[1];
  auto opened = buffer::SqliteBuffer::open(options, clock);
  if (!opened.isOk()) {
    std::fprintf(stderr, "open failed: %s\n", opened.status().toString().c_str());
    return 1;
  }
  auto& store = **opened;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t * 7919 + std::stoi(run)));
      for (int k = 0;; ) {
        std::vector<Reading> batch;
        int n = static_cast<int>(rng() % 10) + 1;
        for (int i = 0; i < n; ++i, ++k) {
          Reading r = test::sampleReading(run + "-" + std::to_string(t) + "-" + std::to_string(k), k);
          r.raw.bytes.assign(rng() % 400, 0x42);
          batch.push_back(std::move(r));
        }
        if (printFirst) printIds(batch);
        auto result = store.append(batch);
        if (!result.isOk()) _exit(4);
        if (!printFirst) printIds(batch);
      }
    });
  }
  for (auto& th : threads) th.join();
  return 0;
}

// Corrupt databases: quarantine (moved aside, never deleted), salvage of the
// readable rows, and no crash loop (reliability-and-security.md §6 F11).
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <random>

#include "buffer/ReadingCodec.h"
#include "buffer/SqliteBuffer.h"
#include "tests/support/FakeClock.h"
#include "tests/unit/buffer/BufferFixtures.h"

using namespace rpm;
using namespace rpm::buffer;
namespace fs = std::filesystem;

namespace {

constexpr int kReadings = 400;

Reading numbered(int i) {
  Reading r = test::sampleReading("r" + std::to_string(i), i);
  r.raw.bytes.assign(300, static_cast<std::uint8_t>(i));
  return r;
}

void fill(const BufferOptions& options, const Clock& clock) {
  auto s = SqliteBuffer::open(options, clock);
  REQUIRE(s.isOk());
  for (int i = 0; i < kReadings; i += 20) {
    std::vector<Reading> batch;
    for (int j = i; j < i + 20; ++j) batch.push_back(numbered(j));
    REQUIRE((*s)->append(batch).isOk());
  }
}  // closing checkpoints the WAL into the database file

void patchFile(const std::string& path, std::uint64_t offset, const std::vector<std::uint8_t>& bytes) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  REQUIRE(f.good());
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// Every leased reading must equal, byte for byte, the one appended.
std::size_t leaseAndVerify(SqliteBuffer& s) {
  auto leased = s.lease(100000);
  REQUIRE(leased.isOk());
  for (const auto& l : *leased) {
    int i = std::stoi(l.reading.id.substr(1));
    CHECK(encodeReading(l.reading) == encodeReading(numbered(i)));
  }
  return leased->size();
}

}  // namespace

TEST_CASE("A database with a damaged page is quarantined and its readable readings salvaged",
          "[unit][buffer][corruption]") {
  test::TempDir dir;
  test::FakeClock clock;
  BufferOptions options;
  options.path = dir.file("buffer.db");
  fill(options, clock);
  auto pages = fs::file_size(options.path) / 4096;
  REQUIRE(pages > 10);
  // Garble the b-tree header of a page in the middle of the readings.
  patchFile(options.path, (pages / 2) * 4096, std::vector<std::uint8_t>(16, 0xff));

  auto opened = SqliteBuffer::open(options, clock);
  REQUIRE(opened.isOk());
  auto& s = **opened;
  const OpenReport& report = s.openReport();
  CHECK(report.quarantined);
  CHECK(fs::exists(report.quarantinePath));  // moved aside, never deleted
  CHECK(report.salvaged > kReadings / 2);
  CHECK(report.salvaged < kReadings);
  CHECK(*s.integrityCheck() == "ok");
  CHECK(s.counters()->quarantines == 1);
  CHECK(s.counters()->salvaged == report.salvaged);
  CHECK(leaseAndVerify(s) == report.salvaged);
  opened = Status(ErrorKind::kInternal, "closed");

  // The fresh database is sound: no second quarantine, no crash loop.
  auto again = SqliteBuffer::open(options, clock);
  REQUIRE(again.isOk());
  CHECK_FALSE((*again)->openReport().quarantined);
  CHECK((*again)->counters()->quarantines == 1);
}

TEST_CASE("Random flipped bytes never stop the buffer from opening", "[unit][buffer][corruption]") {
  for (unsigned seed = 1; seed <= 12; ++seed) {
    test::TempDir dir;
    test::FakeClock clock;
    BufferOptions options;
    options.path = dir.file("buffer.db");
    fill(options, clock);
    std::mt19937 rng(seed);
    auto size = fs::file_size(options.path);
    for (int k = 0; k < 40; ++k) {
      std::uniform_int_distribution<std::uint64_t> at(100, size - 1);  // past the file header
      patchFile(options.path, at(rng), {static_cast<std::uint8_t>(rng())});
    }
    auto opened = SqliteBuffer::open(options, clock);
    REQUIRE(opened.isOk());
    CHECK(*(*opened)->integrityCheck() == "ok");
    // Whatever was salvaged decodes to exactly what was stored.
    leaseAndVerify(**opened);
    opened = Status(ErrorKind::kInternal, "closed");
    auto again = SqliteBuffer::open(options, clock);
    REQUIRE(again.isOk());
    CHECK_FALSE((*again)->openReport().quarantined);
  }
}

TEST_CASE("A truncated WAL or a deleted shm file is recovered without quarantine", "[unit][buffer][corruption]") {
  test::TempDir dir;
  test::FakeClock clock;
  BufferOptions options;
  options.path = dir.file("live.db");
  auto live = SqliteBuffer::open(options, clock);
  REQUIRE(live.isOk());
  for (int i = 0; i < 60; ++i) REQUIRE((*live)->append({numbered(i)}).isOk());
  // Copy the files of the running buffer: the state a crash would leave.
  auto snapshot = [&](const std::string& name) {
    std::string target = dir.file(name);
    for (const char* suffix : {"", "-wal", "-shm"}) {
      if (fs::exists(options.path + suffix)) fs::copy_file(options.path + suffix, target + suffix);
    }
    return target;
  };
  REQUIRE(fs::file_size(options.path + "-wal") > 0);

  SECTION("deleted shm: every reading is still there") {
    std::string copy = snapshot("noshm.db");
    fs::remove(copy + "-shm");
    BufferOptions o = options;
    o.path = copy;
    auto s = SqliteBuffer::open(o, clock);
    REQUIRE(s.isOk());
    CHECK_FALSE((*s)->openReport().quarantined);
    CHECK((*s)->counters()->backlog == 60);
    CHECK(leaseAndVerify(**s) == 60);
  }
  SECTION("truncated WAL: the intact prefix of commits survives, the file stays sound") {
    std::string copy = snapshot("shortwal.db");
    fs::resize_file(copy + "-wal", fs::file_size(copy + "-wal") / 2 + 1000);
    fs::remove(copy + "-shm");
    BufferOptions o = options;
    o.path = copy;
    auto s = SqliteBuffer::open(o, clock);
    REQUIRE(s.isOk());
    CHECK_FALSE((*s)->openReport().quarantined);
    CHECK(*(*s)->integrityCheck() == "ok");
    auto n = leaseAndVerify(**s);
    CHECK(n < 60);
  }
}

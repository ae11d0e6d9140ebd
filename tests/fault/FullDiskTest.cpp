// Full disk on a real small tmpfs (reliability-and-security.md §1.7, §6 F9):
// ingest refuses cleanly, what was acknowledged stays intact, delivery and
// deletes keep working, and ingest resumes when space returns. Needs root
// for mount(2); with CI=true a missing mount is a failure, not a skip.
#include <catch2/catch.hpp>
#include <sys/mount.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "buffer/SqliteBuffer.h"
#include "tests/support/FakeClock.h"
#include "tests/unit/buffer/BufferFixtures.h"

using namespace rpm;
using namespace rpm::buffer;
namespace fs = std::filesystem;

namespace {

class SmallTmpfs {
 public:
  explicit SmallTmpfs(const std::string& dir, const char* size) : dir_(dir) {
    fs::create_directories(dir);
    std::string opts = std::string("size=") + size + ",mode=0700";
    mounted_ = ::mount("tmpfs", dir.c_str(), "tmpfs", 0, opts.c_str()) == 0;
    error_ = errno;
  }
  ~SmallTmpfs() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  int error() const { return error_; }

 private:
  std::string dir_;
  bool mounted_ = false;
  int error_ = 0;
};

bool inCi() {
  const char* ci = std::getenv("CI");
  return ci && std::string(ci) == "true";
}

// Fills the filesystem with a ballast file until a write fails.
void fillWithBallast(const std::string& path) {
  std::ofstream out(path, std::ios::binary);
  std::vector<char> block(4096, 'b');
  while (out.write(block.data(), static_cast<std::streamsize>(block.size()))) {
    out.flush();
    if (!out) break;
  }
}

}  // namespace

TEST_CASE("On a full filesystem ingest refuses cleanly and recovers when space returns", "[crash][buffer][full]") {
  test::TempDir dir;
  SmallTmpfs fsys(dir.file("mnt"), "3m");
  if (!fsys.mounted()) {
    if (inCi()) FAIL("cannot mount a tmpfs (errno " << fsys.error() << "); CI must run this test");
    WARN("skipped: cannot mount a tmpfs here (not root?)");
    return;
  }
  test::FakeClock clock;
  BufferOptions options;
  options.path = dir.file("mnt/state/buffer.db");
  options.maxSizeBytes = 64ULL * 1024 * 1024;  // far above the filesystem: the disk fills first
  options.deliveredRetention = std::chrono::hours(0);
  auto opened = SqliteBuffer::open(options, clock);
  REQUIRE(opened.isOk());
  auto& store = **opened;
  // Part of the disk is taken by something else, as on a real hub.
  {
    std::ofstream other(dir.file("mnt/other"), std::ios::binary);
    std::vector<char> block(1024 * 1024, 'o');
    other.write(block.data(), static_cast<std::streamsize>(block.size()));
  }
  int stored = 0;
  Status refused;
  for (int i = 0; i < 100000; ++i) {
    Reading r = test::sampleReading("r" + std::to_string(i), i);
    r.raw.bytes.assign(500, 1);
    auto result = store.append({r});
    if (!result.isOk()) {
      refused = result.status();
      break;
    }
    ++stored;
  }
  REQUIRE(stored > 100);
  CHECK(refused.kind() == ErrorKind::kStorageFull);
  CHECK(store.counters()->refusals == 1);
  fillWithBallast(dir.file("mnt/ballast"));  // now the disk is truly 100 % full
  CHECK(store.append({test::sampleReading("more")}).status().kind() == ErrorKind::kStorageFull);
  CHECK(store.counters()->backlog == static_cast<std::uint64_t>(stored));

  // Space returns: the other file and the ballast are removed.
  fs::remove(dir.file("mnt/ballast"));
  fs::remove(dir.file("mnt/other"));
  auto leased = store.lease(100000);
  REQUIRE(leased.isOk());
  CHECK(leased->size() == static_cast<std::size_t>(stored));
  std::vector<Acknowledgement> acks;
  for (const auto& l : *leased) acks.push_back({l.reading.id, l.leaseId, {{"Observation/1"}, "201"}});
  CHECK(store.ack(acks).isOk());
  CHECK(store.prune().isOk());
  CHECK(store.append({test::sampleReading("after")}).isOk());
  CHECK(*store.integrityCheck() == "ok");
}

TEST_CASE("With the cap below free space, delivery and deletes work on a full buffer", "[crash][buffer][full]") {
  test::TempDir dir;
  SmallTmpfs fsys(dir.file("mnt"), "8m");
  if (!fsys.mounted()) {
    if (inCi()) FAIL("cannot mount a tmpfs (errno " << fsys.error() << "); CI must run this test");
    WARN("skipped: cannot mount a tmpfs here (not root?)");
    return;
  }
  test::FakeClock clock;
  BufferOptions options;
  options.path = dir.file("mnt/buffer.db");
  options.maxSizeBytes = 1024 * 1024;
  options.deliveredRetention = std::chrono::hours(0);
  auto opened = SqliteBuffer::open(options, clock);
  REQUIRE(opened.isOk());
  auto& store = **opened;
  int stored = 0;
  for (; stored < 100000; ++stored) {
    Reading r = test::sampleReading("r" + std::to_string(stored), stored);
    r.raw.bytes.assign(500, 1);
    if (!store.append({r}).isOk()) break;
  }
  fillWithBallast(dir.file("mnt/ballast"));  // the filesystem is full too
  // Delivery and deletes still work: the WAL reuses its own space.
  auto leased = store.lease(100);
  REQUIRE(leased.isOk());
  REQUIRE(leased->size() == 100);
  std::vector<Acknowledgement> acks;
  for (const auto& l : *leased) acks.push_back({l.reading.id, l.leaseId, {{"Observation/1"}, "201"}});
  CHECK(store.ack(acks).isOk());
  CHECK(store.prune().isOk());
  CHECK(store.counters()->backlog == static_cast<std::uint64_t>(stored - 100));
  fs::remove(dir.file("mnt/ballast"));
  CHECK(store.append({test::sampleReading("after")}).isOk());
  CHECK(*store.integrityCheck() == "ok");
}

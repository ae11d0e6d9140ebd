// FaultVfs: a test sqlite3_vfs wrapping the default one, modelled on
// SQLite's own crash and I/O-error harnesses (src/test6.c, test_vfs.c).
//
// - I/O faults: fail the Nth write or sync, once or from then on.
// - Power loss: remember every write and truncate not yet followed by a sync
//   of its file; at a cut point all further I/O fails, and powerLoss()
//   rewrites each file as the last synced image plus a random subset of the
//   unsynced writes, some of them garbled.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <vector>

namespace rpm::test {

class FaultVfs {
 public:
  enum class Op { kWrite, kSync };

  // Registers the shim under `name` (not as the default VFS).
  explicit FaultVfs(const char* name);
  ~FaultVfs();
  FaultVfs(const FaultVfs&) = delete;
  FaultVfs& operator=(const FaultVfs&) = delete;

  const char* name() const { return name_.c_str(); }

  // Fails the nth operation of that kind from now on (1-based) with
  // errorCode; persistent: every later one too.
  void failNth(Op op, int n, bool persistent, int errorCode);
  void disarm();
  bool faultFired() const;

  // Power loss: the cut comes after `operations` more writes and syncs.
  void cutAfter(int operations);
  bool cut() const;
  // Rewrites every file this VFS touched as a power cut would leave it.
  // garble: some kept unsynced writes are replaced by random bytes.
  // Returns the number of unsynced writes dropped or garbled.
  int powerLoss(std::mt19937& rng, bool garble);

  // Called from the C shim (public for it; not for tests).
  struct Pending {
    bool truncate = false;
    std::int64_t offset = 0;  // truncate: new size
    std::vector<std::uint8_t> data;
  };
  struct Image {
    std::vector<std::uint8_t> durable;
    std::vector<Pending> pending;
  };
  int beforeOp(Op op);  // SQLITE_OK or the error to return
  void recordOpen(const std::string& path);
  void recordWrite(const std::string& path, std::int64_t offset, const void* data, int amount);
  void recordTruncate(const std::string& path, std::int64_t size);
  void recordSync(const std::string& path);
  void recordDelete(const std::string& path);
  sqlite3_vfs* base() const { return base_; }

 private:
  std::string name_;
  sqlite3_vfs vfs_{};
  sqlite3_vfs* base_ = nullptr;
  mutable std::mutex mutex_;
  // faults
  bool armed_ = false;
  Op faultOp_ = Op::kWrite;
  int faultAt_ = 0;
  int faultCount_ = 0;
  bool persistent_ = false;
  int errorCode_ = SQLITE_IOERR;
  bool fired_ = false;
  // power loss
  int cutCountdown_ = -1;
  bool cut_ = false;
  std::map<std::string, Image> images_;
};

}  // namespace rpm::test

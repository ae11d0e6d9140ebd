#include "tests/fault/FaultVfs.h"

#include <cstring>
#include <fstream>
#include <iterator>

namespace rpm::test {
namespace {

struct ShimFile {
  sqlite3_file base;  // must be first: SQLite sees this
  FaultVfs* owner;
  std::string* path;
  sqlite3_file* real;  // the wrapped file, allocated right after this struct
};

FaultVfs* ownerOf(sqlite3_vfs* vfs) { return static_cast<FaultVfs*>(vfs->pAppData); }
ShimFile* shim(sqlite3_file* f) { return reinterpret_cast<ShimFile*>(f); }

int shimClose(sqlite3_file* f) {
  ShimFile* s = shim(f);
  int rc = s->real->pMethods ? s->real->pMethods->xClose(s->real) : SQLITE_OK;
  delete s->path;
  s->path = nullptr;
  return rc;
}
int shimRead(sqlite3_file* f, void* buf, int amount, sqlite3_int64 offset) {
  return shim(f)->real->pMethods->xRead(shim(f)->real, buf, amount, offset);
}
int shimWrite(sqlite3_file* f, const void* buf, int amount, sqlite3_int64 offset) {
  ShimFile* s = shim(f);
  if (int rc = s->owner->beforeOp(FaultVfs::Op::kWrite); rc != SQLITE_OK) return rc;
  int rc = s->real->pMethods->xWrite(s->real, buf, amount, offset);
  if (rc == SQLITE_OK) s->owner->recordWrite(*s->path, offset, buf, amount);
  return rc;
}
int shimTruncate(sqlite3_file* f, sqlite3_int64 size) {
  ShimFile* s = shim(f);
  if (int rc = s->owner->beforeOp(FaultVfs::Op::kWrite); rc != SQLITE_OK) return rc;
  int rc = s->real->pMethods->xTruncate(s->real, size);
  if (rc == SQLITE_OK) s->owner->recordTruncate(*s->path, size);
  return rc;
}
int shimSync(sqlite3_file* f, int flags) {
  ShimFile* s = shim(f);
  if (int rc = s->owner->beforeOp(FaultVfs::Op::kSync); rc != SQLITE_OK) return rc;
  int rc = s->real->pMethods->xSync(s->real, flags);
  if (rc == SQLITE_OK) s->owner->recordSync(*s->path);
  return rc;
}
int shimFileSize(sqlite3_file* f, sqlite3_int64* size) {
  return shim(f)->real->pMethods->xFileSize(shim(f)->real, size);
}
int shimLock(sqlite3_file* f, int l) { return shim(f)->real->pMethods->xLock(shim(f)->real, l); }
int shimUnlock(sqlite3_file* f, int l) { return shim(f)->real->pMethods->xUnlock(shim(f)->real, l); }
int shimCheckReservedLock(sqlite3_file* f, int* out) {
  return shim(f)->real->pMethods->xCheckReservedLock(shim(f)->real, out);
}
int shimFileControl(sqlite3_file* f, int op, void* arg) {
  return shim(f)->real->pMethods->xFileControl(shim(f)->real, op, arg);
}
int shimSectorSize(sqlite3_file* f) { return shim(f)->real->pMethods->xSectorSize(shim(f)->real); }
int shimDeviceCharacteristics(sqlite3_file* f) {
  return shim(f)->real->pMethods->xDeviceCharacteristics(shim(f)->real);
}
int shimShmMap(sqlite3_file* f, int pg, int pgsz, int extend, void volatile** pp) {
  return shim(f)->real->pMethods->xShmMap(shim(f)->real, pg, pgsz, extend, pp);
}
int shimShmLock(sqlite3_file* f, int offset, int n, int flags) {
  return shim(f)->real->pMethods->xShmLock(shim(f)->real, offset, n, flags);
}
void shimShmBarrier(sqlite3_file* f) { shim(f)->real->pMethods->xShmBarrier(shim(f)->real); }
int shimShmUnmap(sqlite3_file* f, int deleteFlag) {
  return shim(f)->real->pMethods->xShmUnmap(shim(f)->real, deleteFlag);
}

const sqlite3_io_methods kMethods = {
    2,  // no xFetch/xUnfetch: memory-mapped I/O stays off through the shim
    shimClose, shimRead, shimWrite, shimTruncate, shimSync, shimFileSize, shimLock, shimUnlock,
    shimCheckReservedLock, shimFileControl, shimSectorSize, shimDeviceCharacteristics, shimShmMap, shimShmLock,
    shimShmBarrier, shimShmUnmap, nullptr, nullptr};

int vfsOpen(sqlite3_vfs* vfs, const char* name, sqlite3_file* file, int flags, int* outFlags) {
  FaultVfs* owner = ownerOf(vfs);
  ShimFile* s = shim(file);
  std::memset(s, 0, sizeof(ShimFile));
  s->owner = owner;
  s->real = reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(file) + sizeof(ShimFile));
  int rc = owner->base()->xOpen(owner->base(), name, s->real, flags, outFlags);
  if (rc != SQLITE_OK) return rc;
  s->path = new std::string(name ? name : "");
  if (name) owner->recordOpen(name);
  s->base.pMethods = &kMethods;
  return SQLITE_OK;
}
int vfsDelete(sqlite3_vfs* vfs, const char* name, int syncDir) {
  FaultVfs* owner = ownerOf(vfs);
  if (int rc = owner->beforeOp(FaultVfs::Op::kWrite); rc != SQLITE_OK) return rc;
  int rc = owner->base()->xDelete(owner->base(), name, syncDir);
  if (rc == SQLITE_OK) owner->recordDelete(name);
  return rc;
}
int vfsAccess(sqlite3_vfs* vfs, const char* name, int flags, int* out) {
  return ownerOf(vfs)->base()->xAccess(ownerOf(vfs)->base(), name, flags, out);
}
int vfsFullPathname(sqlite3_vfs* vfs, const char* name, int n, char* out) {
  return ownerOf(vfs)->base()->xFullPathname(ownerOf(vfs)->base(), name, n, out);
}
void* vfsDlOpen(sqlite3_vfs* vfs, const char* name) { return ownerOf(vfs)->base()->xDlOpen(ownerOf(vfs)->base(), name); }
void vfsDlError(sqlite3_vfs* vfs, int n, char* out) { ownerOf(vfs)->base()->xDlError(ownerOf(vfs)->base(), n, out); }
void (*vfsDlSym(sqlite3_vfs* vfs, void* h, const char* sym))(void) {
  return ownerOf(vfs)->base()->xDlSym(ownerOf(vfs)->base(), h, sym);
}
void vfsDlClose(sqlite3_vfs* vfs, void* h) { ownerOf(vfs)->base()->xDlClose(ownerOf(vfs)->base(), h); }
int vfsRandomness(sqlite3_vfs* vfs, int n, char* out) {
  return ownerOf(vfs)->base()->xRandomness(ownerOf(vfs)->base(), n, out);
}
int vfsSleep(sqlite3_vfs* vfs, int us) { return ownerOf(vfs)->base()->xSleep(ownerOf(vfs)->base(), us); }
int vfsCurrentTime(sqlite3_vfs* vfs, double* out) {
  return ownerOf(vfs)->base()->xCurrentTime(ownerOf(vfs)->base(), out);
}
int vfsGetLastError(sqlite3_vfs* vfs, int n, char* out) {
  return ownerOf(vfs)->base()->xGetLastError(ownerOf(vfs)->base(), n, out);
}
int vfsCurrentTimeInt64(sqlite3_vfs* vfs, sqlite3_int64* out) {
  return ownerOf(vfs)->base()->xCurrentTimeInt64(ownerOf(vfs)->base(), out);
}

std::vector<std::uint8_t> readWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void applyTo(std::vector<std::uint8_t>& image, const FaultVfs::Pending& p) {
  if (p.truncate) {
    image.resize(static_cast<std::size_t>(p.offset));
    return;
  }
  std::size_t end = static_cast<std::size_t>(p.offset) + p.data.size();
  if (image.size() < end) image.resize(end);
  std::memcpy(image.data() + p.offset, p.data.data(), p.data.size());
}

}  // namespace

FaultVfs::FaultVfs(const char* name) : name_(name) {
  base_ = sqlite3_vfs_find(nullptr);
  vfs_.iVersion = 2;
  vfs_.szOsFile = static_cast<int>(sizeof(ShimFile)) + base_->szOsFile;
  vfs_.mxPathname = base_->mxPathname;
  vfs_.zName = name_.c_str();
  vfs_.pAppData = this;
  vfs_.xOpen = vfsOpen;
  vfs_.xDelete = vfsDelete;
  vfs_.xAccess = vfsAccess;
  vfs_.xFullPathname = vfsFullPathname;
  vfs_.xDlOpen = vfsDlOpen;
  vfs_.xDlError = vfsDlError;
  vfs_.xDlSym = vfsDlSym;
  vfs_.xDlClose = vfsDlClose;
  vfs_.xRandomness = vfsRandomness;
  vfs_.xSleep = vfsSleep;
  vfs_.xCurrentTime = vfsCurrentTime;
  vfs_.xGetLastError = vfsGetLastError;
  vfs_.xCurrentTimeInt64 = vfsCurrentTimeInt64;
  sqlite3_vfs_register(&vfs_, 0);
}

FaultVfs::~FaultVfs() { sqlite3_vfs_unregister(&vfs_); }

void FaultVfs::failNth(Op op, int n, bool persistent, int errorCode) {
  std::lock_guard<std::mutex> g(mutex_);
  armed_ = true;
  faultOp_ = op;
  faultAt_ = n;
  faultCount_ = 0;
  persistent_ = persistent;
  errorCode_ = errorCode;
  fired_ = false;
}

void FaultVfs::disarm() {
  std::lock_guard<std::mutex> g(mutex_);
  armed_ = false;
  cutCountdown_ = -1;
  cut_ = false;
}

bool FaultVfs::faultFired() const {
  std::lock_guard<std::mutex> g(mutex_);
  return fired_;
}

void FaultVfs::cutAfter(int operations) {
  std::lock_guard<std::mutex> g(mutex_);
  cutCountdown_ = operations;
  cut_ = false;
  images_.clear();
}

bool FaultVfs::cut() const {
  std::lock_guard<std::mutex> g(mutex_);
  return cut_;
}

int FaultVfs::beforeOp(Op op) {
  std::lock_guard<std::mutex> g(mutex_);
  if (cut_) return op == Op::kSync ? SQLITE_IOERR_FSYNC : SQLITE_IOERR_WRITE;
  if (cutCountdown_ >= 0) {
    if (cutCountdown_ == 0) {
      cut_ = true;
      return op == Op::kSync ? SQLITE_IOERR_FSYNC : SQLITE_IOERR_WRITE;
    }
    --cutCountdown_;
  }
  if (armed_ && op == faultOp_) {
    ++faultCount_;
    if (faultCount_ == faultAt_ || (persistent_ && faultCount_ > faultAt_)) {
      fired_ = true;
      return errorCode_;
    }
  }
  return SQLITE_OK;
}

void FaultVfs::recordOpen(const std::string& path) {
  std::lock_guard<std::mutex> g(mutex_);
  if (cutCountdown_ < 0 && !cut_) return;
  if (images_.count(path)) return;
  images_[path].durable = readWholeFile(path);
}

void FaultVfs::recordWrite(const std::string& path, std::int64_t offset, const void* data, int amount) {
  std::lock_guard<std::mutex> g(mutex_);
  auto it = images_.find(path);
  if (it == images_.end()) return;
  Pending p;
  p.offset = offset;
  p.data.assign(static_cast<const std::uint8_t*>(data), static_cast<const std::uint8_t*>(data) + amount);
  it->second.pending.push_back(std::move(p));
}

void FaultVfs::recordTruncate(const std::string& path, std::int64_t size) {
  std::lock_guard<std::mutex> g(mutex_);
  auto it = images_.find(path);
  if (it == images_.end()) return;
  Pending p;
  p.truncate = true;
  p.offset = size;
  it->second.pending.push_back(std::move(p));
}

void FaultVfs::recordSync(const std::string& path) {
  std::lock_guard<std::mutex> g(mutex_);
  auto it = images_.find(path);
  if (it == images_.end()) return;
  for (const auto& p : it->second.pending) applyTo(it->second.durable, p);
  it->second.pending.clear();
}

void FaultVfs::recordDelete(const std::string& path) {
  std::lock_guard<std::mutex> g(mutex_);
  // Deleting a file is a directory operation: modelled as durable at once.
  auto it = images_.find(path);
  if (it != images_.end()) {
    it->second.durable.clear();
    it->second.pending.clear();
    images_.erase(it);
  }
}

int FaultVfs::powerLoss(std::mt19937& rng, bool garble) {
  std::lock_guard<std::mutex> g(mutex_);
  int damaged = 0;
  for (auto& [path, image] : images_) {
    std::vector<std::uint8_t> content = image.durable;
    for (const auto& p : image.pending) {
      int fate = static_cast<int>(rng() % 4);  // 0: dropped, 1: garbled (if allowed), else written
      if (fate == 0) {
        ++damaged;
        continue;
      }
      if (fate == 1 && garble && !p.truncate) {
        Pending bad = p;
        for (auto& b : bad.data) b = static_cast<std::uint8_t>(rng());
        applyTo(content, bad);
        ++damaged;
        continue;
      }
      applyTo(content, p);
    }
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(content.data()), static_cast<std::streamsize>(content.size()));
  }
  images_.clear();
  cut_ = false;
  cutCountdown_ = -1;
  return damaged;
}

}  // namespace rpm::test

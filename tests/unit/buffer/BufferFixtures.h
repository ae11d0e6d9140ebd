// Shared helpers of the buffer tests: sample readings and private temp dirs.
#pragma once

#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "gateway/model/Reading.h"

namespace rpm::test {

// A fresh directory under $TMPDIR, removed on destruction.
class TempDir {
 public:
  // base: where to create it; empty: $TMPDIR. Harnesses that model the disk
  // themselves (the VFS shim) use memoryBackedBase(): real fsyncs add nothing there.
  explicit TempDir(const std::string& base = "") {
    std::filesystem::path root = base.empty() ? std::filesystem::temp_directory_path() : std::filesystem::path(base);
    std::string tmpl = (root / "rpm-buffer-XXXXXX").string();
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    path_ = ::mkdtemp(buf.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  static std::string memoryBackedBase() {
    std::error_code ec;
    return std::filesystem::is_directory("/dev/shm", ec) ? "/dev/shm" : "";
  }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A blood-pressure reading with every commonly set field.
inline Reading sampleReading(const std::string& id, std::int64_t effectiveSeconds = 1700000000,
                             Priority priority = Priority::kLive, const std::string& subject = "Patient/p1") {
  Reading r;
  r.id = id;
  r.device = *DeviceKey::parse("bt:B0495F001071");
  r.kind = ReadingKind::kBloodPressure;
  r.subject = subject;
  r.effectiveStart = UtcInstant(std::chrono::seconds(effectiveSeconds));
  r.receivedAt = r.effectiveStart + std::chrono::seconds(2);
  r.utcOffsetMinutes = 60;
  r.value = std::vector<Component>{
      Component{Measure::kSystolic, Quantity{Decimal(1215, -1), SpecialValue::kNone, "mm[Hg]"}, std::nullopt,
                Comparator::kNone, ""},
      Component{Measure::kDiastolic, Quantity{Decimal(80, 0), SpecialValue::kNone, "mm[Hg]"}, std::nullopt,
                Comparator::kNone, ""}};
  r.status = {StatusWord{"bp-measurement-status", 0x0004}};
  r.priority = priority;
  r.raw = RawPayload{"gatt:2A35", {0x1e, 0x79, 0x00, 0x50, 0x00}};
  return r;
}

// Runs one SQL statement on a database file with a separate connection and
// returns the first column of the first row as text ("" when none).
inline std::string sqlOnFile(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::string out;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) == SQLITE_OK && sqlite3_step(s) == SQLITE_ROW) {
      const auto* t = sqlite3_column_text(s, 0);
      out = t ? reinterpret_cast<const char*>(t) : "";
    }
    sqlite3_finalize(s);
  }
  sqlite3_close_v2(db);
  return out;
}

}  // namespace rpm::test

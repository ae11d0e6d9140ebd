#include "buffer/SqliteBuffer.h"

#include <sqlite3.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>
#include <utility>

#include "buffer/ReadingCodec.h"
#include "gateway/log/Log.h"

namespace rpm::buffer {
namespace {

constexpr int kSchemaVersion = 1;
constexpr std::int64_t kPageSize = 4096;

// Reading states in readings.state (schema.md). Stored: never renumber.
constexpr int kQueued = 0;
constexpr int kHeld = 1;
constexpr int kDelivered = 3;

constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE readings(
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  state INTEGER NOT NULL,
  priority INTEGER NOT NULL,
  kind INTEGER NOT NULL,
  device TEXT NOT NULL,
  user_slot INTEGER,
  effective_us INTEGER NOT NULL,
  stored_us INTEGER NOT NULL,
  not_before_us INTEGER NOT NULL DEFAULT 0,
  attempts INTEGER NOT NULL DEFAULT 0,
  last_error TEXT,
  delivered_us INTEGER,
  resource_ids TEXT,
  receipt TEXT,
  body BLOB NOT NULL);
CREATE INDEX readings_queue ON readings(state, priority, effective_us, seq);
CREATE TABLE dead_letters(
  id TEXT PRIMARY KEY,
  priority INTEGER NOT NULL,
  kind INTEGER NOT NULL,
  device TEXT NOT NULL,
  user_slot INTEGER,
  effective_us INTEGER NOT NULL,
  stored_us INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  http_status INTEGER NOT NULL,
  reason TEXT NOT NULL,
  rejected_us INTEGER NOT NULL,
  body BLOB NOT NULL);
CREATE TABLE tombstones(id TEXT PRIMARY KEY, delivered_us INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE enrolments(
  device TEXT NOT NULL,
  user_slot INTEGER NOT NULL,
  patient TEXT NOT NULL,
  transport INTEGER NOT NULL,
  metadata TEXT NOT NULL,
  enrolled_us INTEGER NOT NULL,
  PRIMARY KEY(device, user_slot)) WITHOUT ROWID;
CREATE TABLE device_state(
  device TEXT PRIMARY KEY,
  reset_epoch INTEGER NOT NULL,
  glucose_cursor INTEGER NOT NULL,
  clock_offset_ms INTEGER,
  clock_offset_at_us INTEGER) WITHOUT ROWID;
CREATE TABLE device_logical_ids(
  server TEXT NOT NULL,
  device TEXT NOT NULL,
  logical_id TEXT NOT NULL,
  PRIMARY KEY(server, device)) WITHOUT ROWID;
INSERT INTO meta(key, value) VALUES ('quarantines', 0), ('salvaged', 0);
)sql";

// v2: the glucose reset anchor (docs/decisions/0040): a stored record's
// sequence and fingerprint, NULL until a download stores one.
constexpr const char* kSchemaV2 = R"sql(
ALTER TABLE device_state ADD COLUMN glucose_anchor_seq INTEGER;
ALTER TABLE device_state ADD COLUMN glucose_anchor TEXT;
)sql";

// Migrations: entry i takes a database from user_version i to i + 1.
const std::vector<const char*>& migrations() {
  static const std::vector<const char*> m = {kSchemaV1, kSchemaV2};
  return m;
}

ErrorKind kindOf(int rc) {
  switch (rc & 0xff) {
    case SQLITE_FULL:
      return ErrorKind::kStorageFull;
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
      return ErrorKind::kIo;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return ErrorKind::kCorrupt;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return ErrorKind::kUnavailable;
    default:
      return ErrorKind::kInternal;
  }
}

// sqlite3_errstr is generic text ("disk I/O error"); never sqlite3_errmsg,
// which may quote values.
Status sqlStatus(int rc, const char* what) {
  return Status(kindOf(rc), std::string("buffer database: ") + what + ": " + sqlite3_errstr(rc));
}

std::int64_t micros(UtcInstant t) { return t.time_since_epoch().count(); }
UtcInstant instantOf(std::int64_t us) { return UtcInstant(std::chrono::microseconds(us)); }
std::int64_t slotValue(std::optional<std::uint8_t> slot) { return slot ? *slot : -1; }

std::string joinLines(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) out += '\n';
    out += s;
  }
  return out;
}

std::uint64_t fileSize(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return 0;
  return static_cast<std::uint64_t>(st.st_size);
}

bool fileExists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// A prepared statement borrowed from the cache; reset and unbound on scope exit.
class Stmt {
 public:
  explicit Stmt(sqlite3_stmt* s) : s_(s) {}
  ~Stmt() {
    if (s_) {
      sqlite3_reset(s_);
      sqlite3_clear_bindings(s_);
    }
  }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  bool valid() const { return s_ != nullptr; }
  Stmt& bind(int i, std::int64_t v) {
    sqlite3_bind_int64(s_, i, v);
    return *this;
  }
  Stmt& bind(int i, const std::string& v) {
    sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& bindBlob(int i, const std::vector<std::uint8_t>& v) {
    sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& bindNull(int i) {
    sqlite3_bind_null(s_, i);
    return *this;
  }
  int step() { return sqlite3_step(s_); }
  std::int64_t i64(int c) const { return sqlite3_column_int64(s_, c); }
  bool isNull(int c) const { return sqlite3_column_type(s_, c) == SQLITE_NULL; }
  std::string text(int c) const {
    const auto* p = sqlite3_column_text(s_, c);
    return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(s_, c)))
             : std::string();
  }
  const std::uint8_t* blob(int c) const { return static_cast<const std::uint8_t*>(sqlite3_column_blob(s_, c)); }
  std::size_t blobSize(int c) const { return static_cast<std::size_t>(sqlite3_column_bytes(s_, c)); }

 private:
  sqlite3_stmt* s_;
};

struct Lease {
  std::int64_t leaseId;
  std::chrono::steady_clock::time_point expires;
};

}  // namespace

bool isContinuousStream(ReadingKind kind) { return kind == ReadingKind::kRrIntervals || kind == ReadingKind::kEcg; }

struct SqliteBuffer::Impl {
  BufferOptions options;
  const Clock& clock;
  sqlite3* db = nullptr;
  OpenReport report;
  std::unordered_map<const char*, sqlite3_stmt*> statements;

  // dbMutex guards the connection, the statement cache, leases and counters.
  std::mutex dbMutex;
  std::map<std::string, Lease> leases;
  std::int64_t nextLeaseId = 1;
  std::uint64_t duplicates = 0;
  std::uint64_t refusals = 0;
  std::uint64_t evictions = 0;
  std::uint64_t corruptBodies = 0;
  std::int64_t capPages = 0;
  std::int64_t appendLimitPages = 0;
  std::chrono::steady_clock::time_point nextPrune{};

  // Group commit: pending writes wait here until a leader commits them.
  struct Op {
    std::function<Status()> work;           // runs inside the shared transaction
    std::function<void()> onCommitted;      // in-memory effects, only after a durable commit
    Status result;
    bool done = false;
    std::condition_variable cv;             // wakes only this op's thread
  };
  std::mutex queueMutex;
  std::vector<std::shared_ptr<Op>> pending;
  bool leaderActive = false;
  std::size_t lastBatchSize = 1;

  Impl(BufferOptions o, const Clock& c) : options(std::move(o)), clock(c) {}
  ~Impl() { closeDb(); }

  void closeDb() {
    for (auto& [sql, stmt] : statements) sqlite3_finalize(stmt);
    statements.clear();
    if (db) sqlite3_close_v2(db);
    db = nullptr;
  }

  Stmt stmt(const char* sql) {
    auto it = statements.find(sql);
    if (it != statements.end()) return Stmt(it->second);
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) != SQLITE_OK) {
      sqlite3_finalize(s);
      return Stmt(nullptr);
    }
    statements.emplace(sql, s);
    return Stmt(s);
  }

  Status exec(const char* sql, const char* what) {
    int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
    return rc == SQLITE_OK ? Status::ok() : sqlStatus(rc, what);
  }

  // Runs a statement that returns no rows.
  Status run(Stmt& s, const char* what) {
    if (!s.valid()) return sqlStatus(sqlite3_errcode(db), what);
    int rc = s.step();
    return (rc == SQLITE_DONE || rc == SQLITE_ROW) ? Status::ok() : sqlStatus(rc, what);
  }

  Result<std::int64_t> scalar(const char* sql, const char* what) {
    Stmt s = stmt(sql);
    if (!s.valid()) return sqlStatus(sqlite3_errcode(db), what);
    int rc = s.step();
    if (rc == SQLITE_ROW) return s.i64(0);
    if (rc == SQLITE_DONE) return std::int64_t{0};
    return sqlStatus(rc, what);
  }

  // ---------------------------------------------------------------- opening

  Status openConnection() {
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    const char* vfs = options.vfsNameForTest.empty() ? nullptr : options.vfsNameForTest.c_str();
    int rc = sqlite3_open_v2(options.path.c_str(), &db, flags, vfs);
    if (rc != SQLITE_OK) {
      Status st = sqlStatus(rc, "open");
      closeDb();
      return st;
    }
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, 5000);
    return Status::ok();
  }

  // Pragmas, integrity check and migrations. kCorrupt means: quarantine.
  Status prepareDatabase() {
    // page_size only takes effect on an empty database.
    if (Status st = exec("PRAGMA page_size=4096", "set page size"); !st.isOk()) return st;
    auto mode = [&]() -> Result<std::string> {
      sqlite3_stmt* raw = nullptr;
      int rc = sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &raw, nullptr);
      if (rc != SQLITE_OK) {
        sqlite3_finalize(raw);
        return sqlStatus(rc, "enable WAL");
      }
      rc = sqlite3_step(raw);
      std::string m = rc == SQLITE_ROW ? reinterpret_cast<const char*>(sqlite3_column_text(raw, 0)) : "";
      sqlite3_finalize(raw);
      if (rc != SQLITE_ROW) return sqlStatus(rc, "enable WAL");
      return m;
    }();
    if (!mode) return mode.status();
    if (*mode != "wal") return Status(ErrorKind::kIo, "buffer database: WAL mode could not be enabled");
    const char* sync = options.durability == Durability::kPowerLoss ? "PRAGMA synchronous=FULL"
                                                                    : "PRAGMA synchronous=NORMAL";
    if (options.synchronousOffForTest) sync = "PRAGMA synchronous=OFF";
    if (Status st = exec(sync, "set synchronous"); !st.isOk()) return st;
    // Bounded WAL: checkpoint every 1 MiB of frames and truncate a WAL that
    // grew past 4 MiB, so the database plus WAL stays near the cap.
    if (Status st = exec("PRAGMA wal_autocheckpoint=256; PRAGMA journal_size_limit=4194304;"
                         "PRAGMA secure_delete=FAST; PRAGMA foreign_keys=OFF",
                         "set pragmas");
        !st.isOk())
      return st;
    capPages = std::max<std::int64_t>(16, static_cast<std::int64_t>(options.maxSizeBytes / kPageSize));
    // Keep a reserve so acknowledgements, tombstones and dead letters can
    // still be written when ingest has filled the database to its limit.
    std::int64_t reserve = std::max<std::int64_t>(16, capPages / 10);
    appendLimitPages = capPages - reserve;
    std::string cap = "PRAGMA max_page_count=" + std::to_string(capPages);
    if (Status st = exec(cap.c_str(), "set size cap"); !st.isOk()) return st;

    // quick_check: O(N) structure check without index cross-checks.
    {
      sqlite3_stmt* raw = nullptr;
      int rc = sqlite3_prepare_v2(db, "PRAGMA quick_check(1)", -1, &raw, nullptr);
      if (rc != SQLITE_OK) {
        sqlite3_finalize(raw);
        return sqlStatus(rc, "quick_check");
      }
      rc = sqlite3_step(raw);
      std::string result = rc == SQLITE_ROW ? reinterpret_cast<const char*>(sqlite3_column_text(raw, 0)) : "";
      sqlite3_finalize(raw);
      if (rc != SQLITE_ROW) return sqlStatus(rc, "quick_check");
      if (result != "ok") return Status(ErrorKind::kCorrupt, "buffer database: quick_check failed");
    }
    return migrate();
  }

  Status migrate() {
    auto version = scalar("PRAGMA user_version", "read schema version");
    if (!version) return version.status();
    const auto& steps = migrations();
    if (*version > static_cast<std::int64_t>(steps.size())) {
      return Status(ErrorKind::kUnsupported, "buffer database: schema version " + std::to_string(*version) +
                                                 " is newer than this build (" + std::to_string(kSchemaVersion) +
                                                 ")");
    }
    for (std::int64_t v = *version; v < static_cast<std::int64_t>(steps.size()); ++v) {
      if (Status st = exec("BEGIN IMMEDIATE", "begin migration"); !st.isOk()) return st;
      Status st = exec(steps[static_cast<std::size_t>(v)], "migrate schema");
      std::string setVersion = "PRAGMA user_version=" + std::to_string(v + 1);
      if (st.isOk()) st = exec(setVersion.c_str(), "set schema version");
      if (st.isOk()) st = exec("COMMIT", "commit migration");
      if (!st.isOk()) {
        sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
        return st;
      }
      log::info("buffer", "schema migrated", {log::Field("version", v + 1)});
    }
    return Status::ok();
  }

  Status quarantineAndSalvage() {
    closeDb();
    std::int64_t seconds = micros(clock.now()) / 1000000;
    std::string target;
    for (int n = 0;; ++n) {
      target = options.path + ".quarantine-" + std::to_string(seconds) + (n ? "-" + std::to_string(n) : "");
      if (!fileExists(target)) break;
    }
    // Move the database with its WAL and shared-memory index so the copy
    // opens exactly as it was. Nothing is deleted.
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::string from = options.path + suffix;
      if (!fileExists(from)) continue;
      if (::rename(from.c_str(), (target + suffix).c_str()) != 0) {
        return Status(ErrorKind::kIo, "buffer database: cannot move a corrupt database aside");
      }
    }
    report.quarantined = true;
    report.quarantinePath = target;
    if (Status st = createFile(); !st.isOk()) return st;
    if (Status st = openConnection(); !st.isOk()) return st;
    if (Status st = prepareDatabase(); !st.isOk()) return st;
    salvageFrom(target);
    if (Status st = exec("BEGIN IMMEDIATE", "begin"); !st.isOk()) return st;
    Status st;
    {
      Stmt q = stmt("UPDATE meta SET value = value + ?1 WHERE key = ?2");
      st = run(q.bind(1, std::int64_t{1}).bind(2, std::string("quarantines")), "count quarantine");
    }
    if (st.isOk()) {
      Stmt q = stmt("UPDATE meta SET value = value + ?1 WHERE key = ?2");
      st = run(q.bind(1, static_cast<std::int64_t>(report.salvaged)).bind(2, std::string("salvaged")),
               "count salvage");
    }
    if (st.isOk()) st = exec("COMMIT", "commit");
    if (!st.isOk()) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    log::error("buffer", "corrupt database quarantined",
               {log::Field("salvaged", report.salvaged), log::Field("unsalvageable", report.unsalvageable)});
    return Status::ok();
  }

  // Copies every readable row of the quarantined database into the fresh
  // one. A damaged b-tree stops a scan at the bad page, so each table is
  // read from both ends; rows are deduplicated by key on insert.
  void salvageFrom(const std::string& quarantined) {
    sqlite3* old = nullptr;
    if (sqlite3_open_v2(quarantined.c_str(), &old, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
      sqlite3_close_v2(old);
      report.unsalvageable += 1;
      return;
    }
    sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr);
    auto scan = [&](const char* sqlAsc, const char* sqlDesc, int columns,
                    const std::function<bool(sqlite3_stmt*)>& copyRow) {
      std::set<std::string> seen;
      for (const char* sql : {sqlAsc, sqlDesc}) {
        sqlite3_stmt* s = nullptr;
        if (sqlite3_prepare_v2(old, sql, -1, &s, nullptr) != SQLITE_OK) {
          // The schema itself is unreadable: whatever the table held is lost.
          sqlite3_finalize(s);
          report.unsalvageable += 1;
          continue;
        }
        while (sqlite3_step(s) == SQLITE_ROW) {
          if (sqlite3_column_count(s) < columns) break;
          const auto* keyText = sqlite3_column_text(s, 0);
          std::string key(keyText ? reinterpret_cast<const char*>(keyText) : "");
          if (!seen.insert(key).second) continue;
          if (!copyRow(s)) report.unsalvageable += 1;
        }
        sqlite3_finalize(s);
      }
    };
    auto validBody = [&](sqlite3_stmt* s, int column) -> std::optional<Reading> {
      auto r = decodeReading(static_cast<const std::uint8_t*>(sqlite3_column_blob(s, column)),
                             static_cast<std::size_t>(sqlite3_column_bytes(s, column)));
      if (!r) return std::nullopt;
      return std::move(r).value();
    };
    // Undelivered readings keep their state, attempts and time of storage;
    // delivered ones are remembered as tombstones.
    scan("SELECT id, state, attempts, stored_us, delivered_us, body FROM readings ORDER BY seq ASC",
         "SELECT id, state, attempts, stored_us, delivered_us, body FROM readings ORDER BY seq DESC", 6,
         [&](sqlite3_stmt* s) {
           int state = sqlite3_column_int(s, 1);
           auto reading = validBody(s, 5);
           if (!reading) return false;
           if (state == kDelivered) {
             Stmt t = stmt("INSERT OR IGNORE INTO tombstones(id, delivered_us) VALUES(?1, ?2)");
             return run(t.bind(1, reading->id).bind(2, sqlite3_column_int64(s, 4)), "salvage").isOk();
           }
           bool ok = insertReading(*reading, state == kHeld ? kHeld : kQueued, sqlite3_column_int64(s, 3),
                                   sqlite3_column_int(s, 2))
                         .isOk();
           if (ok) report.salvaged += 1;
           return ok;
         });
    scan("SELECT id, body, http_status, reason, attempts, rejected_us, stored_us FROM dead_letters ORDER BY id ASC",
         "SELECT id, body, http_status, reason, attempts, rejected_us, stored_us FROM dead_letters ORDER BY id DESC",
         7, [&](sqlite3_stmt* s) {
           auto reading = validBody(s, 1);
           if (!reading) return false;
           Rejection rej;
           rej.httpStatus = sqlite3_column_int(s, 2);
           const auto* reason = sqlite3_column_text(s, 3);
           rej.reason = reason ? reinterpret_cast<const char*>(reason) : "";
           bool ok = insertDeadLetter(*reading, sqlite3_column_int64(s, 6), sqlite3_column_int(s, 4), rej,
                                      sqlite3_column_int64(s, 5))
                         .isOk();
           if (ok) report.salvaged += 1;
           return ok;
         });
    scan("SELECT id, delivered_us FROM tombstones ORDER BY id ASC",
         "SELECT id, delivered_us FROM tombstones ORDER BY id DESC", 2, [&](sqlite3_stmt* s) {
           Stmt t = stmt("INSERT OR IGNORE INTO tombstones(id, delivered_us) VALUES(?1, ?2)");
           return run(t.bind(1, std::string(reinterpret_cast<const char*>(sqlite3_column_text(s, 0))))
                          .bind(2, sqlite3_column_int64(s, 1)),
                      "salvage")
               .isOk();
         });
    scan("SELECT device || '/' || user_slot, device, user_slot, patient, transport, metadata, enrolled_us "
         "FROM enrolments ORDER BY device ASC, user_slot ASC",
         "SELECT device || '/' || user_slot, device, user_slot, patient, transport, metadata, enrolled_us "
         "FROM enrolments ORDER BY device DESC, user_slot DESC",
         7, [&](sqlite3_stmt* s) {
           Stmt t = stmt(
               "INSERT OR IGNORE INTO enrolments(device, user_slot, patient, transport, metadata, enrolled_us) "
               "VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
           auto text = [&](int c) {
             const auto* p = sqlite3_column_text(s, c);
             return std::string(p ? reinterpret_cast<const char*>(p) : "");
           };
           return run(t.bind(1, text(1))
                          .bind(2, sqlite3_column_int64(s, 2))
                          .bind(3, text(3))
                          .bind(4, sqlite3_column_int64(s, 4))
                          .bind(5, text(5))
                          .bind(6, sqlite3_column_int64(s, 6)),
                      "salvage")
               .isOk();
         });
    scan("SELECT device, reset_epoch, glucose_cursor, clock_offset_ms, clock_offset_at_us FROM device_state "
         "ORDER BY device ASC",
         "SELECT device, reset_epoch, glucose_cursor, clock_offset_ms, clock_offset_at_us FROM device_state "
         "ORDER BY device DESC",
         5, [&](sqlite3_stmt* s) {
           Stmt t = stmt(
               "INSERT OR IGNORE INTO device_state(device, reset_epoch, glucose_cursor, clock_offset_ms, "
               "clock_offset_at_us) VALUES(?1, ?2, ?3, ?4, ?5)");
           t.bind(1, std::string(reinterpret_cast<const char*>(sqlite3_column_text(s, 0))))
               .bind(2, sqlite3_column_int64(s, 1))
               .bind(3, sqlite3_column_int64(s, 2));
           if (sqlite3_column_type(s, 3) == SQLITE_NULL) {
             t.bindNull(4).bindNull(5);
           } else {
             t.bind(4, sqlite3_column_int64(s, 3)).bind(5, sqlite3_column_int64(s, 4));
           }
           return run(t, "salvage").isOk();
         });
    scan("SELECT server || ' ' || device, server, device, logical_id FROM device_logical_ids ORDER BY server, device",
         "SELECT server || ' ' || device, server, device, logical_id FROM device_logical_ids "
         "ORDER BY server DESC, device DESC",
         4, [&](sqlite3_stmt* s) {
           Stmt t = stmt("INSERT OR IGNORE INTO device_logical_ids(server, device, logical_id) VALUES(?1, ?2, ?3)");
           auto text = [&](int c) {
             const auto* p = sqlite3_column_text(s, c);
             return std::string(p ? reinterpret_cast<const char*>(p) : "");
           };
           return run(t.bind(1, text(1)).bind(2, text(2)).bind(3, text(3)), "salvage").isOk();
         });
    if (sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      report.unsalvageable += report.salvaged;
      report.salvaged = 0;
    }
    sqlite3_close_v2(old);
  }

  // The database file is created 0600 before SQLite sees it; SQLite gives
  // the -wal and -shm files the same mode. The directory is made 0700.
  Status createFile() {
    std::string dir = options.path;
    auto slash = dir.find_last_of('/');
    dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : dir.substr(0, slash));
    // Every missing level is created 0700 (parents first).
    for (std::size_t pos = 1; pos != std::string::npos;) {
      pos = dir.find('/', pos + 1);
      std::string level = dir.substr(0, pos);
      if (!fileExists(level) && ::mkdir(level.c_str(), 0700) != 0 && errno != EEXIST) {
        return Status(ErrorKind::kIo, "buffer database: cannot create its directory");
      }
    }
    struct stat st {};
    if (::stat(dir.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
      log::warning("buffer", "buffer directory is accessible to other users; expected mode 0700");
    }
    int fd = ::open(options.path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return Status(ErrorKind::kIo, "buffer database: cannot create the database file");
    ::fchmod(fd, 0600);
    ::close(fd);
    return Status::ok();
  }

  // ------------------------------------------------------------ group commit

  Status submit(std::function<Status()> work, std::function<void()> onCommitted = {}) {
    // Shared so the leader can wake waiters after releasing the queue lock
    // (a woken waiter then does not block on it) without the op vanishing.
    auto op = std::make_shared<Op>();
    op->work = std::move(work);
    op->onCommitted = std::move(onCommitted);
    std::unique_lock<std::mutex> lock(queueMutex);
    pending.push_back(op);
    while (!op->done) {
      if (leaderActive) {
        op->cv.wait(lock);
        continue;
      }
      leaderActive = true;
      // When the last batch was large, producers are busy: give the ones
      // just woken a moment (a few scheduler yields, no clock) to queue up,
      // so commits stay large instead of alternating tiny and large. At light
      // load the last batch had one op and nothing waits.
      for (int spin = 0; spin < 64 && pending.size() < lastBatchSize * 3 / 4; ++spin) {
        lock.unlock();
        std::this_thread::yield();
        lock.lock();
      }
      std::vector<std::shared_ptr<Op>> batch;
      batch.swap(pending);
      lastBatchSize = batch.size();
      lock.unlock();
      commitBatch(batch);
      lock.lock();
      leaderActive = false;
      for (auto& o : batch) o->done = true;
      // Hand leadership to the next waiting op, if any.
      std::shared_ptr<Op> next = pending.empty() ? nullptr : pending.front();
      lock.unlock();
      for (auto& o : batch) {
        if (o != op) o->cv.notify_one();
      }
      if (next) next->cv.notify_one();
      lock.lock();
    }
    return op->result;
  }

  // One transaction, one fsync. Each op runs under its own savepoint so a
  // failing op (a refused append) leaves the others in the commit.
  void commitBatch(const std::vector<std::shared_ptr<Op>>& batch) {
    std::lock_guard<std::mutex> guard(dbMutex);
    Status begin = exec("BEGIN IMMEDIATE", "begin transaction");
    if (!begin.isOk()) {
      for (const auto& o : batch) o->result = begin;
      return;
    }
    for (const auto& o : batch) {
      if (sqlite3_get_autocommit(db)) break;  // an error rolled the whole transaction back: see below
      Status sp;
      {
        Stmt savepoint = stmt("SAVEPOINT op");
        sp = run(savepoint, "savepoint");
      }
      if (!sp.isOk()) {
        o->result = sp;
        continue;
      }
      o->result = o->work();
      if (!o->result.isOk()) {
        Stmt rollback = stmt("ROLLBACK TO op");
        (void)run(rollback, "roll back to savepoint");
      }
      Stmt release = stmt("RELEASE op");
      (void)run(release, "release savepoint");
    }
    if (sqlite3_get_autocommit(db)) {
      // Some errors (SQLITE_FULL, SQLITE_IOERR, SQLITE_NOMEM) roll back the
      // whole transaction, not just the statement: nothing of this batch is
      // stored, whatever the individual ops reported.
      Status lost(ErrorKind::kIo, "buffer database: transaction rolled back by a storage error");
      for (const auto& o : batch) {
        if (o->result.kind() == ErrorKind::kStorageFull) {
          lost = Status(ErrorKind::kStorageFull, "buffer database: transaction rolled back: disk or cap full");
          break;
        }
      }
      for (const auto& o : batch) {
        if (o->result.isOk() || o->result.kind() == ErrorKind::kDuplicate) o->result = lost;
      }
      return;
    }
    auto now = clock.monotonicNow();
    if (now >= nextPrune) {
      // Best effort: a failed prune is retried with the next batch.
      if (exec("SAVEPOINT prune", "savepoint").isOk()) {
        if (!pruneInTransaction().isOk()) sqlite3_exec(db, "ROLLBACK TO prune", nullptr, nullptr, nullptr);
        sqlite3_exec(db, "RELEASE prune", nullptr, nullptr, nullptr);
      }
      nextPrune = now + std::chrono::minutes(1);
    }
    int rc = sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK && options.ignoreCommitErrorsForTest) {
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      rc = SQLITE_OK;
    }
    if (rc != SQLITE_OK) {
      Status failed = sqlStatus(rc, "commit");
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      for (const auto& o : batch) {
        if (o->result.isOk()) o->result = failed;
      }
      return;
    }
    for (const auto& o : batch) {
      if (o->result.isOk() && o->onCommitted) o->onCommitted();
    }
  }

  // ---------------------------------------------------------------- readings

  Status insertReading(const Reading& r, int state, std::int64_t storedUs, std::int64_t attempts) {
    Stmt s = stmt(
        "INSERT INTO readings(id, state, priority, kind, device, user_slot, effective_us, stored_us, attempts, "
        "body) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT(id) DO NOTHING");
    if (!s.valid()) return sqlStatus(sqlite3_errcode(db), "prepare insert");
    s.bind(1, r.id)
        .bind(2, std::int64_t{state})
        .bind(3, static_cast<std::int64_t>(r.priority))
        .bind(4, static_cast<std::int64_t>(r.kind))
        .bind(5, r.device.canonical());
    if (r.userSlot) {
      s.bind(6, std::int64_t{*r.userSlot});
    } else {
      s.bindNull(6);
    }
    s.bind(7, micros(r.effectiveStart)).bind(8, storedUs).bind(9, attempts).bindBlob(10, encodeReading(r));
    int rc = s.step();
    if (rc != SQLITE_DONE) return sqlStatus(rc, "store reading");
    return sqlite3_changes(db) == 1 ? Status::ok() : Status(ErrorKind::kDuplicate, "reading already stored");
  }

  Status insertDeadLetter(const Reading& r, std::int64_t storedUs, std::int64_t attempts, const Rejection& rej,
                          std::int64_t rejectedUs) {
    Stmt s = stmt(
        "INSERT OR IGNORE INTO dead_letters(id, priority, kind, device, user_slot, effective_us, stored_us, "
        "attempts, http_status, reason, rejected_us, body) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
    if (!s.valid()) return sqlStatus(sqlite3_errcode(db), "prepare dead letter");
    s.bind(1, r.id)
        .bind(2, static_cast<std::int64_t>(r.priority))
        .bind(3, static_cast<std::int64_t>(r.kind))
        .bind(4, r.device.canonical());
    if (r.userSlot) {
      s.bind(5, std::int64_t{*r.userSlot});
    } else {
      s.bindNull(5);
    }
    s.bind(6, micros(r.effectiveStart))
        .bind(7, storedUs)
        .bind(8, attempts)
        .bind(9, std::int64_t{rej.httpStatus})
        .bind(10, rej.reason)
        .bind(11, rejectedUs)
        .bindBlob(12, encodeReading(r));
    return run(s, "store dead letter");
  }

  // includeReadings: false when an INSERT ... ON CONFLICT on readings.id follows anyway.
  Result<bool> knownId(const std::string& id, bool includeReadings = true) {
    for (const char* sql : {"SELECT 1 FROM tombstones WHERE id = ?1", "SELECT 1 FROM dead_letters WHERE id = ?1",
                            "SELECT 1 FROM readings WHERE id = ?1"}) {
      if (!includeReadings && std::strcmp(sql, "SELECT 1 FROM readings WHERE id = ?1") == 0) break;
      Stmt s = stmt(sql);
      if (!s.valid()) return sqlStatus(sqlite3_errcode(db), "prepare lookup");
      int rc = s.bind(1, id).step();
      if (rc == SQLITE_ROW) return true;
      if (rc != SQLITE_DONE) return sqlStatus(rc, "look up reading id");
    }
    return false;
  }

  Result<std::optional<std::string>> bindingFor(const DeviceKey& device, std::optional<std::uint8_t> slot) {
    Stmt s = stmt(
        "SELECT patient FROM enrolments WHERE device = ?1 AND user_slot IN (?2, -1) ORDER BY user_slot DESC LIMIT 1");
    if (!s.valid()) return sqlStatus(sqlite3_errcode(db), "prepare binding lookup");
    int rc = s.bind(1, device.canonical()).bind(2, slotValue(slot)).step();
    if (rc == SQLITE_ROW) return std::optional<std::string>(s.text(0));
    if (rc == SQLITE_DONE) return std::optional<std::string>();
    return sqlStatus(rc, "look up binding");
  }

  Result<std::int64_t> usedPages() {
    auto pages = scalar("PRAGMA page_count", "read page count");
    if (!pages) return pages;
    auto free = scalar("PRAGMA freelist_count", "read free pages");
    if (!free) return free;
    return *pages - *free;
  }

  // Evicts the oldest undelivered, unleased continuous-stream readings
  // (never clinical spot readings), 64 at a time so whole pages come free,
  // until `needed` more pages fit under the append limit.
  Status evictContinuous(std::int64_t needed) {
    for (int round = 0; round < 10000; ++round) {
      auto used = usedPages();
      if (!used) return used.status();
      if (*used + needed <= appendLimitPages) return Status::ok();
      Stmt s = stmt("SELECT seq, id FROM readings WHERE state = 0 AND kind IN (3, 11) ORDER BY seq LIMIT ?1");
      if (!s.valid()) return sqlStatus(sqlite3_errcode(db), "prepare eviction");
      s.bind(1, static_cast<std::int64_t>(64 + leases.size()));
      std::vector<std::int64_t> victims;
      int rc;
      while ((rc = s.step()) == SQLITE_ROW && victims.size() < 64) {
        if (!leases.count(s.text(1))) victims.push_back(s.i64(0));
      }
      if (rc != SQLITE_DONE && rc != SQLITE_ROW) return sqlStatus(rc, "select eviction");
      if (victims.empty()) return Status::ok();
      for (std::int64_t seq : victims) {
        Stmt d = stmt("DELETE FROM readings WHERE seq = ?1");
        if (Status st = run(d.bind(1, seq), "evict"); !st.isOk()) return st;
        evictions += 1;
      }
    }
    return Status::ok();
  }

  Status appendInTransaction(const std::vector<Reading>& readings, AppendReport& report,
                             std::uint64_t& dupCount) {
    report.outcomes.assign(readings.size(), AppendOutcome::kInvalid);
    dupCount = 0;
    std::int64_t bytes = 0;
    for (const auto& r : readings) bytes += static_cast<std::int64_t>(r.raw.bytes.size() + r.id.size() + 256);
    std::int64_t needed = bytes / kPageSize * 2 + 2;
    auto used = usedPages();
    if (!used) return used.status();
    if (*used + needed > appendLimitPages) {
      // At the cap: first forget bodies of delivered readings (only their
      // ids are needed), never an undelivered one.
      if (Status st = tombstoneDelivered(micros(clock.now())); !st.isOk()) return st;
      used = usedPages();
      if (!used) return used.status();
      bool allContinuous = std::all_of(readings.begin(), readings.end(),
                                       [](const Reading& r) { return isContinuousStream(r.kind); });
      if (*used + needed > appendLimitPages && allContinuous && !readings.empty() &&
          options.continuousWhenFull == ContinuousWhenFull::kEvictOldestContinuous) {
        if (Status st = evictContinuous(needed); !st.isOk()) return st;
        used = usedPages();
        if (!used) return used.status();
      }
      if (*used + needed > appendLimitPages) {
        return Status(ErrorKind::kStorageFull, "buffer database is at its size cap (buffer.max_size_mb)");
      }
    }
    std::int64_t now = micros(clock.now());
    for (std::size_t i = 0; i < readings.size(); ++i) {
      Reading r = readings[i];
      if (r.id.empty() || r.device.empty()) continue;  // kInvalid
      auto known = knownId(r.id, /*includeReadings=*/false);
      if (!known) return known.status();
      if (*known) {
        report.outcomes[i] = AppendOutcome::kDuplicate;
        dupCount += 1;
        continue;
      }
      int state = kQueued;
      if (r.subject.empty()) {
        auto binding = bindingFor(r.device, r.userSlot);
        if (!binding) return binding.status();
        if (*binding) {
          r.subject = **binding;
        } else {
          state = kHeld;
        }
      }
      Status st = insertReading(r, state, now, 0);
      if (st.kind() == ErrorKind::kDuplicate) {
        report.outcomes[i] = AppendOutcome::kDuplicate;
        dupCount += 1;
        continue;
      }
      if (!st.isOk()) {
        if (st.kind() == ErrorKind::kStorageFull) {
          return Status(ErrorKind::kStorageFull, "buffer database is at its size cap (buffer.max_size_mb)");
        }
        return st;
      }
      report.outcomes[i] = state == kHeld ? AppendOutcome::kHeld : AppendOutcome::kStored;
    }
    return Status::ok();
  }

  // Delivered readings older than the retention (or all delivered ones,
  // when olderThanUs is now) become id-only tombstones.
  Status tombstoneDelivered(std::int64_t olderThanUs) {
    Stmt t = stmt(
        "INSERT OR IGNORE INTO tombstones(id, delivered_us) SELECT id, delivered_us FROM readings "
        "WHERE state = 3 AND delivered_us <= ?1");
    if (Status st = run(t.bind(1, olderThanUs), "write tombstones"); !st.isOk()) return st;
    Stmt d = stmt("DELETE FROM readings WHERE state = 3 AND delivered_us <= ?1");
    return run(d.bind(1, olderThanUs), "prune delivered readings");
  }

  std::uint64_t lastPruned = 0;
  Status pruneInTransaction() {
    std::int64_t now = micros(clock.now());
    std::int64_t retention = std::chrono::duration_cast<std::chrono::microseconds>(options.deliveredRetention).count();
    if (Status st = tombstoneDelivered(now - retention); !st.isOk()) return st;
    lastPruned = static_cast<std::uint64_t>(sqlite3_changes(db));
    std::int64_t tombstoneAge =
        std::chrono::duration_cast<std::chrono::microseconds>(options.tombstoneRetention).count();
    Stmt d = stmt("DELETE FROM tombstones WHERE delivered_us <= ?1");
    if (Status st = run(d.bind(1, now - tombstoneAge), "prune tombstones"); !st.isOk()) return st;
    lastPruned += static_cast<std::uint64_t>(sqlite3_changes(db));
    return Status::ok();
  }

  void expireLeases() {
    auto now = clock.monotonicNow();
    for (auto it = leases.begin(); it != leases.end();) {
      it = it->second.expires <= now ? leases.erase(it) : std::next(it);
    }
  }

  // A lease is stale when the reading is now leased under another id.
  bool staleLease(const std::string& id, std::int64_t leaseId) {
    auto it = leases.find(id);
    return it != leases.end() && it->second.leaseId != leaseId;
  }

  Result<int> stateOf(const std::string& id) {
    Stmt s = stmt("SELECT state FROM readings WHERE id = ?1");
    int rc = s.bind(1, id).step();
    if (rc == SQLITE_ROW) return static_cast<int>(s.i64(0));
    if (rc != SQLITE_DONE) return sqlStatus(rc, "read state");
    auto known = knownId(id);
    if (!known) return known.status();
    if (!*known) return -1;
    Stmt t = stmt("SELECT 1 FROM tombstones WHERE id = ?1");
    return t.bind(1, id).step() == SQLITE_ROW ? kDelivered : -2;  // -2: dead letter
  }

Result<DeviceState> readState(const DeviceKey& device) {
    Impl& m = *this;
  Stmt s = m.stmt(
      "SELECT reset_epoch, glucose_cursor, clock_offset_ms, clock_offset_at_us, glucose_anchor_seq, glucose_anchor "
      "FROM device_state WHERE device = ?1");
  if (!s.valid()) return sqlStatus(sqlite3_errcode(m.db), "prepare device state");
  int rc = s.bind(1, device.canonical()).step();
  DeviceState d;
  if (rc == SQLITE_DONE) return d;
  if (rc != SQLITE_ROW) return sqlStatus(rc, "read device state");
  d.resetEpoch = static_cast<std::uint32_t>(s.i64(0));
  d.glucoseCursor = static_cast<std::uint32_t>(s.i64(1));
  if (!s.isNull(2)) {
    d.clockOffsetMs = s.i64(2);
    d.clockOffsetMeasuredAt = instantOf(s.i64(3));
  }
  if (!s.isNull(4)) {
    d.glucoseAnchorSequence = static_cast<std::uint32_t>(s.i64(4));
    d.glucoseAnchorFingerprint = s.text(5);
  }
  return d;
}

Status writeState(const DeviceKey& device, const DeviceState& d) {
    Impl& m = *this;
  Stmt s = m.stmt(
      "INSERT OR REPLACE INTO device_state(device, reset_epoch, glucose_cursor, clock_offset_ms, "
      "clock_offset_at_us, glucose_anchor_seq, glucose_anchor) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  s.bind(1, device.canonical()).bind(2, std::int64_t{d.resetEpoch}).bind(3, std::int64_t{d.glucoseCursor});
  if (d.clockOffsetMs) {
    s.bind(4, *d.clockOffsetMs).bind(5, micros(d.clockOffsetMeasuredAt.value_or(UtcInstant())));
  } else {
    s.bindNull(4).bindNull(5);
  }
  if (d.glucoseAnchorSequence) {
    s.bind(6, std::int64_t{*d.glucoseAnchorSequence}).bind(7, d.glucoseAnchorFingerprint);
  } else {
    s.bindNull(6).bindNull(7);
  }
  return m.run(s, "write device state");
}

  // Moves a queued reading into the dead letters.
  Status deadLetterInTransaction(const std::string& id, const Rejection& rej, std::int64_t extraAttempts) {
    Stmt s = stmt("SELECT stored_us, attempts, body FROM readings WHERE id = ?1 AND state = 0");
    int rc = s.bind(1, id).step();
    if (rc == SQLITE_DONE) return Status(ErrorKind::kNotFound, "no queued reading with this id");
    if (rc != SQLITE_ROW) return sqlStatus(rc, "read reading");
    std::int64_t storedUs = s.i64(0);
    std::int64_t attempts = s.i64(1) + extraAttempts;
    auto decoded = decodeReading(s.blob(2), s.blobSize(2));
    if (!decoded) {
      // The body itself is damaged: keep its raw bytes under the id alone.
      Reading placeholder;
      placeholder.id = id;
      Rejection corrupt{0, "stored body failed its checksum"};
      Stmt del = stmt("DELETE FROM readings WHERE id = ?1");
      Status st = insertDeadLetter(placeholder, storedUs, attempts, corrupt, micros(clock.now()));
      if (!st.isOk()) return st;
      Stmt raw = stmt("UPDATE dead_letters SET body = (SELECT body FROM readings WHERE id = ?1) WHERE id = ?1");
      if (Status st2 = run(raw.bind(1, id), "keep raw body"); !st2.isOk()) return st2;
      return run(del.bind(1, id), "dequeue reading");
    }
    if (Status st = insertDeadLetter(*decoded, storedUs, attempts, rej, micros(clock.now())); !st.isOk()) return st;
    Stmt del = stmt("DELETE FROM readings WHERE id = ?1");
    return run(del.bind(1, id), "dequeue reading");
  }
};

// ------------------------------------------------------------------ public

SqliteBuffer::SqliteBuffer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SqliteBuffer::~SqliteBuffer() = default;

const OpenReport& SqliteBuffer::openReport() const { return impl_->report; }

Result<std::unique_ptr<SqliteBuffer>> SqliteBuffer::open(const BufferOptions& options, const Clock& clock) {
  if (options.path.empty()) return Status(ErrorKind::kInvalidArgument, "buffer.path is empty");
  auto impl = std::make_unique<Impl>(options, clock);
  if (Status st = impl->createFile(); !st.isOk()) return st;
  Status st = impl->openConnection();
  if (st.isOk()) st = impl->prepareDatabase();
  if (st.kind() == ErrorKind::kCorrupt) {
    st = impl->quarantineAndSalvage();
  }
  if (!st.isOk()) {
    log::error("buffer", "buffer database unusable", {log::Field("error", st)});
    return st;
  }
  return std::unique_ptr<SqliteBuffer>(new SqliteBuffer(std::move(impl)));
}

Result<AppendReport> SqliteBuffer::append(const std::vector<Reading>& readings) {
  AppendReport report;
  std::uint64_t dups = 0;
  Impl& m = *impl_;
  Status st = m.submit([&] { return m.appendInTransaction(readings, report, dups); },
                       [&] { m.duplicates += dups; });
  if (!st.isOk()) {
    if (st.kind() == ErrorKind::kStorageFull) {
      std::lock_guard<std::mutex> g(m.dbMutex);
      m.refusals += 1;
    }
    return st;
  }
  return report;
}

Result<std::vector<LeasedReading>> SqliteBuffer::lease(std::size_t maxReadings) {
  Impl& m = *impl_;
  std::vector<LeasedReading> out;
  std::vector<std::string> damaged;
  {
    std::lock_guard<std::mutex> g(m.dbMutex);
    m.expireLeases();
    auto nowUs = micros(m.clock.now());
    Stmt s = m.stmt(
        "SELECT id, attempts, body FROM readings WHERE state = 0 AND not_before_us <= ?1 "
        "ORDER BY priority, effective_us, seq LIMIT ?2");
    if (!s.valid()) return sqlStatus(sqlite3_errcode(m.db), "prepare lease");
    s.bind(1, nowUs).bind(2, static_cast<std::int64_t>(maxReadings + m.leases.size()));
    auto expires = m.clock.monotonicNow() + m.options.leaseDuration;
    auto expiresAt = m.clock.now() + std::chrono::duration_cast<std::chrono::microseconds>(m.options.leaseDuration);
    int rc = SQLITE_DONE;
    while (out.size() < maxReadings && (rc = s.step()) == SQLITE_ROW) {
      std::string id = s.text(0);
      if (m.leases.count(id)) continue;
      auto reading = decodeReading(s.blob(2), s.blobSize(2));
      if (!reading) {
        damaged.push_back(id);
        continue;
      }
      LeasedReading lr;
      lr.reading = std::move(reading).value();
      lr.leaseId = m.nextLeaseId++;
      lr.attempts = static_cast<std::uint32_t>(s.i64(1));
      lr.leaseExpiresAt = expiresAt;
      m.leases[id] = Lease{lr.leaseId, expires};
      out.push_back(std::move(lr));
    }
    if (out.size() < maxReadings && rc != SQLITE_DONE && rc != SQLITE_ROW) return sqlStatus(rc, "lease readings");
  }
  // A body that fails its checksum is never uploaded: it goes to the dead
  // letters with its raw bytes for an operator.
  for (const auto& id : damaged) {
    m.submit([&m, &id] { return m.deadLetterInTransaction(id, Rejection{0, "stored body failed its checksum"}, 0); },
             [&m] { m.corruptBodies += 1; });
  }
  return out;
}

Status SqliteBuffer::ack(const std::vector<Acknowledgement>& acks) {
  Impl& m = *impl_;
  std::uint64_t notFound = 0;
  std::uint64_t conflicts = 0;
  Status st = m.submit(
      [&]() -> Status {
        notFound = conflicts = 0;
        std::int64_t now = micros(m.clock.now());
        for (const auto& a : acks) {
          Stmt s = m.stmt(
              "UPDATE readings SET state = 3, delivered_us = ?2, resource_ids = ?3, receipt = ?4 "
              "WHERE id = ?1 AND state = 0");
          if (!s.valid()) return sqlStatus(sqlite3_errcode(m.db), "prepare ack");
          int rc = s.bind(1, a.readingId).bind(2, now).bind(3, joinLines(a.receipt.resourceIds))
                       .bind(4, a.receipt.receipt).step();
          if ((rc & 0xff) == SQLITE_FULL) {
            // At the cap even the receipt does not fit: record delivery as a
            // tombstone straight away (frees the body; the receipt is not kept).
            Stmt d = m.stmt("DELETE FROM readings WHERE id = ?1 AND state = 0");
            if (Status st = m.run(d.bind(1, a.readingId), "record delivery at the cap"); !st.isOk()) return st;
            if (sqlite3_changes(m.db) == 1) {
              Stmt t = m.stmt("INSERT OR IGNORE INTO tombstones(id, delivered_us) VALUES(?1, ?2)");
              if (Status st = m.run(t.bind(1, a.readingId).bind(2, now), "record delivery at the cap"); !st.isOk())
                return st;
              continue;
            }
            rc = SQLITE_DONE;
          }
          if (rc != SQLITE_DONE) return sqlStatus(rc, "record delivery");
          if (sqlite3_changes(m.db) == 1) continue;
          auto state = m.stateOf(a.readingId);
          if (!state) return state.status();
          if (*state == kDelivered) continue;  // already acknowledged: idempotent
          if (*state == -1) {
            notFound += 1;
          } else {
            conflicts += 1;
          }
        }
        return Status::ok();
      },
      [&] {
        for (const auto& a : acks) m.leases.erase(a.readingId);
      });
  if (!st.isOk()) return st;
  if (notFound) return Status(ErrorKind::kNotFound, std::to_string(notFound) + " acknowledged readings are unknown");
  if (conflicts) {
    return Status(ErrorKind::kConflict,
                  std::to_string(conflicts) + " acknowledged readings are held or dead letters");
  }
  return Status::ok();
}

Status SqliteBuffer::retryLater(const std::string& readingId, std::int64_t leaseId, const Status& reason,
                                UtcInstant notBefore) {
  Impl& m = *impl_;
  return m.submit(
      [&]() -> Status {
        if (m.staleLease(readingId, leaseId)) return Status(ErrorKind::kConflict, "lease is no longer current");
        Stmt s = m.stmt(
            "UPDATE readings SET attempts = attempts + 1, not_before_us = ?2, last_error = ?3 "
            "WHERE id = ?1 AND state = 0");
        if (!s.valid()) return sqlStatus(sqlite3_errcode(m.db), "prepare retry");
        int rc = s.bind(1, readingId).bind(2, micros(notBefore)).bind(3, reason.toString()).step();
        if (rc != SQLITE_DONE) return sqlStatus(rc, "record retry");
        if (sqlite3_changes(m.db) != 1) return Status(ErrorKind::kNotFound, "no queued reading with this id");
        return Status::ok();
      },
      [&] { m.leases.erase(readingId); });
}

Status SqliteBuffer::reject(const std::string& readingId, std::int64_t leaseId, const Rejection& rejection) {
  Impl& m = *impl_;
  return m.submit(
      [&]() -> Status {
        if (m.staleLease(readingId, leaseId)) return Status(ErrorKind::kConflict, "lease is no longer current");
        return m.deadLetterInTransaction(readingId, rejection, 1);
      },
      [&] { m.leases.erase(readingId); });
}

Result<StoreCounters> SqliteBuffer::counters() {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> g(m.dbMutex);
  m.expireLeases();
  StoreCounters c;
  struct Q {
    const char* sql;
    std::uint64_t* out;
  };
  for (const Q& q : {Q{"SELECT count(*) FROM readings WHERE state = 0", &c.backlog},
                     Q{"SELECT count(*) FROM readings WHERE state = 1", &c.held},
                     Q{"SELECT count(*) FROM dead_letters", &c.deadLetters},
                     Q{"SELECT count(*) FROM tombstones", &c.tombstones},
                     Q{"SELECT value FROM meta WHERE key = 'quarantines'", &c.quarantines},
                     Q{"SELECT value FROM meta WHERE key = 'salvaged'", &c.salvaged}}) {
    auto v = m.scalar(q.sql, "read counters");
    if (!v) return v.status();
    *q.out = static_cast<std::uint64_t>(*v);
  }
  {
    Stmt s = m.stmt("SELECT stored_us FROM readings WHERE state = 0 ORDER BY seq LIMIT 1");
    int rc = s.step();
    if (rc == SQLITE_ROW) c.oldestUndeliveredAgeSeconds = (micros(m.clock.now()) - s.i64(0)) / 1000000;
    else if (rc != SQLITE_DONE) return sqlStatus(rc, "read oldest reading");
  }
  c.leased = m.leases.size();
  c.duplicates = m.duplicates;
  c.refusals = m.refusals;
  c.evictions = m.evictions;
  c.corruptBodies = m.corruptBodies;
  c.diskBytes = fileSize(m.options.path) + fileSize(m.options.path + "-wal");
  c.capBytes = static_cast<std::uint64_t>(m.capPages * kPageSize);
  return c;
}

// ------------------------------------------------------------ dead letters

Result<std::vector<DeadLetter>> SqliteBuffer::listDeadLetters(std::size_t limit) {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> g(m.dbMutex);
  Stmt s = m.stmt(
      "SELECT id, http_status, reason, attempts, rejected_us, body FROM dead_letters ORDER BY rejected_us, id "
      "LIMIT ?1");
  if (!s.valid()) return sqlStatus(sqlite3_errcode(m.db), "prepare dead letters");
  s.bind(1, static_cast<std::int64_t>(limit));
  std::vector<DeadLetter> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    DeadLetter d;
    auto reading = decodeReading(s.blob(5), s.blobSize(5));
    if (reading) {
      d.reading = std::move(reading).value();
    } else {
      d.reading.id = s.text(0);  // a damaged body: listed by id only
    }
    d.httpStatus = static_cast<int>(s.i64(1));
    d.reason = s.text(2);
    d.attempts = static_cast<std::uint32_t>(s.i64(3));
    d.rejectedAt = instantOf(s.i64(4));
    out.push_back(std::move(d));
  }
  if (rc != SQLITE_DONE) return sqlStatus(rc, "list dead letters");
  return out;
}

Result<std::optional<Reading>> SqliteBuffer::find(const std::string& readingId) {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> g(m.dbMutex);
  for (const char* sql : {"SELECT body FROM readings WHERE id = ?1 AND body IS NOT NULL",
                          "SELECT body FROM dead_letters WHERE id = ?1"}) {
    Stmt s = m.stmt(sql);
    if (!s.valid()) return sqlStatus(sqlite3_errcode(m.db), "prepare find");
    int rc = s.bind(1, readingId).step();
    if (rc == SQLITE_ROW) {
      auto reading = decodeReading(s.blob(0), s.blobSize(0));
      if (!reading) return Status(ErrorKind::kCorrupt, "stored body failed its checksum");
      return std::optional<Reading>(std::move(reading).value());
    }
    if (rc != SQLITE_DONE) return sqlStatus(rc, "find reading");
  }
  return std::optional<Reading>();
}

Status SqliteBuffer::requeueDeadLetter(const std::string& readingId) {
  Impl& m = *impl_;
  return m.submit([&]() -> Status {
    Stmt s = m.stmt("SELECT body, stored_us FROM dead_letters WHERE id = ?1");
    int rc = s.bind(1, readingId).step();
    if (rc == SQLITE_DONE) return Status(ErrorKind::kNotFound, "no dead letter with this id");
    if (rc != SQLITE_ROW) return sqlStatus(rc, "read dead letter");
    auto reading = decodeReading(s.blob(0), s.blobSize(0));
    if (!reading) return Status(ErrorKind::kCorrupt, "dead letter body failed its checksum; purge it");
    std::int64_t storedUs = s.i64(1);
    Stmt d = m.stmt("DELETE FROM dead_letters WHERE id = ?1");
    if (Status st = m.run(d.bind(1, readingId), "remove dead letter"); !st.isOk()) return st;
    return m.insertReading(*reading, reading->subject.empty() ? kHeld : kQueued, storedUs, 0);
  });
}

Status SqliteBuffer::purgeDeadLetter(const std::string& readingId) {
  Impl& m = *impl_;
  return m.submit([&]() -> Status {
    Stmt d = m.stmt("DELETE FROM dead_letters WHERE id = ?1");
    if (Status st = m.run(d.bind(1, readingId), "purge dead letter"); !st.isOk()) return st;
    if (sqlite3_changes(m.db) != 1) return Status(ErrorKind::kNotFound, "no dead letter with this id");
    // A purged reading that a device sends again is recognised, not re-queued.
    Stmt t = m.stmt("INSERT OR IGNORE INTO tombstones(id, delivered_us) VALUES(?1, ?2)");
    return m.run(t.bind(1, readingId).bind(2, micros(m.clock.now())), "remember purged id");
  });
}

// -------------------------------------------------------------- enrolments

Status SqliteBuffer::putEnrolment(const Enrolment& e) {
  if (e.device.empty() || e.patient.empty()) {
    return Status(ErrorKind::kInvalidArgument, "enrolment needs a device key and a patient");
  }
  Impl& m = *impl_;
  return m.submit([&]() -> Status {
    Stmt s = m.stmt(
        "INSERT OR REPLACE INTO enrolments(device, user_slot, patient, transport, metadata, enrolled_us) "
        "VALUES(?1, ?2, ?3, ?4, ?5, ?6)");
    return m.run(s.bind(1, e.device.canonical())
                     .bind(2, slotValue(e.userSlot))
                     .bind(3, e.patient)
                     .bind(4, static_cast<std::int64_t>(e.transport))
                     .bind(5, e.metadata)
                     .bind(6, micros(e.enrolledAt)),
                 "store enrolment");
  });
}

Status SqliteBuffer::removeEnrolment(const DeviceKey& device, std::optional<std::uint8_t> userSlot) {
  Impl& m = *impl_;
  return m.submit([&]() -> Status {
    Stmt s = m.stmt("DELETE FROM enrolments WHERE device = ?1 AND user_slot = ?2");
    if (Status st = m.run(s.bind(1, device.canonical()).bind(2, slotValue(userSlot)), "remove enrolment");
        !st.isOk())
      return st;
    return sqlite3_changes(m.db) == 1 ? Status::ok() : Status(ErrorKind::kNotFound, "no such enrolment");
  });
}

namespace {
Result<Enrolment> enrolmentFromRow(Stmt& s) {
  Enrolment e;
  auto key = DeviceKey::parse(s.text(0));
  if (!key) return Status(ErrorKind::kCorrupt, "stored enrolment has an invalid device key");
  e.device = *key;
  std::int64_t slot = s.i64(1);
  if (slot >= 0) e.userSlot = static_cast<std::uint8_t>(slot);
  e.patient = s.text(2);
  e.transport = static_cast<Transport>(s.i64(3));
  e.metadata = s.text(4);
  e.enrolledAt = instantOf(s.i64(5));
  return e;
}
}  // namespace

Result<Enrolment> SqliteBuffer::findEnrolment(const DeviceKey& device, std::optional<std::uint8_t> userSlot) {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> g(m.dbMutex);
  Stmt s = m.stmt(
      "SELECT device, user_slot, patient, transport, metadata, enrolled_us FROM enrolments "
      "WHERE device = ?1 AND user_slot IN (?2, -1) ORDER BY user_slot DESC LIMIT 1");
  if (!s.valid()) return sqlStatus(sqlite3_errcode(m.db), "prepare enrolment lookup");
  int rc = s.bind(1, device.canonical()).bind(2, slotValue(userSlot)).step();
  if (rc == SQLITE_DONE) return Status(ErrorKind::kNotFound, "device is not enrolled");
  if (rc != SQLITE_ROW) return sqlStatus(rc, "look up enrolment");
  return enrolmentFromRow(s);
}

Result<std::vector<Enrolment>> SqliteBuffer::listEnrolments() {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> g(m.dbMutex);
  Stmt s = m.stmt(
      "SELECT device, user_slot, patient, transport, metadata, enrolled_us FROM enrolments ORDER BY device, "
      "user_slot");
  if (!s.valid()) return sqlStatus(sqlite3_errcode(m.db), "prepare enrolment list");
  std::vector<Enrolment> out;
  int rc;
  while ((rc = s.step()) == SQLITE_ROW) {
    auto e = enrolmentFromRow(s);
    if (!e) return e.status();
    out.push_back(std::move(e).value());
  }
  if (rc != SQLITE_DONE) return sqlStatus(rc, "list enrolments");
  return out;
}

Result<std::uint64_t> SqliteBuffer::releaseHeldReadings(const DeviceKey& device,
                                                        std::optional<std::uint8_t> userSlot) {
  Impl& m = *impl_;
  std::uint64_t released = 0;
  Status st = m.submit([&]() -> Status {
    released = 0;
    auto binding = m.bindingFor(device, userSlot);
    if (!binding) return binding.status();
    if (!*binding) return Status(ErrorKind::kNotBound, "device has no enrolment to bind held readings to");
    Stmt s = m.stmt("SELECT seq, body FROM readings WHERE state = 1 AND device = ?1 AND user_slot IS ?2");
    s.bind(1, device.canonical());
    if (userSlot) {
      s.bind(2, std::int64_t{*userSlot});
    } else {
      s.bindNull(2);
    }
    std::vector<std::pair<std::int64_t, Reading>> rows;
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) {
      auto r = decodeReading(s.blob(1), s.blobSize(1));
      if (!r) continue;  // leased never; left held for an operator
      rows.emplace_back(s.i64(0), std::move(r).value());
    }
    if (rc != SQLITE_DONE) return sqlStatus(rc, "read held readings");
    for (auto& [seq, r] : rows) {
      r.subject = **binding;
      Stmt u = m.stmt("UPDATE readings SET state = 0, body = ?2 WHERE seq = ?1");
      if (Status st2 = m.run(u.bind(1, seq).bindBlob(2, encodeReading(r)), "release held reading"); !st2.isOk())
        return st2;
      released += 1;
    }
    return Status::ok();
  });
  if (!st.isOk()) return st;
  return released;
}

// ------------------------------------------------------------ device state

Result<DeviceState> SqliteBuffer::deviceState(const DeviceKey& device) {
  std::lock_guard<std::mutex> g(impl_->dbMutex);
  return impl_->readState(device);
}


// The cursor rule (schema.md): the cursor is the next sequence to request;
// every record below it is stored.
namespace {
std::uint32_t advanceCursor(std::uint32_t cursor, const GlucoseDownload& dl) {
  std::set<std::uint32_t> stored(dl.storedSequences.begin(), dl.storedSequences.end());
  if (dl.complete && dl.requestedFrom <= cursor) {
    // The meter sent every record from requestedFrom on: anything missing
    // below the highest one is a gap in the meter itself.
    if (!stored.empty() && *stored.rbegin() != UINT32_MAX) cursor = std::max(cursor, *stored.rbegin() + 1);
    return cursor;
  }
  // Interrupted or out-of-order: only a run without a gap from the cursor counts.
  while (cursor != UINT32_MAX && stored.count(cursor)) ++cursor;
  return cursor;
}
}  // namespace

Result<DeviceState> SqliteBuffer::recordGlucoseDownload(const DeviceKey& device, const GlucoseDownload& download) {
  Impl& m = *impl_;
  DeviceState out;
  Status st = m.submit([&]() -> Status {
    auto state = m.readState(device);
    if (!state) return state.status();
    DeviceState d = *state;
    if (download.resetEpoch < d.resetEpoch) {
      return Status(ErrorKind::kConflict, "glucose download belongs to an older record-counter epoch");
    }
    if (download.resetEpoch > d.resetEpoch) {
      d.resetEpoch = download.resetEpoch;
      d.glucoseCursor = 0;
      d.glucoseAnchorSequence.reset();
      d.glucoseAnchorFingerprint.clear();
    }
    d.glucoseCursor = advanceCursor(d.glucoseCursor, download);
    // The reset anchor moves to the highest stored record below the cursor
    // whose fingerprint this download knows, in the same transaction.
    std::set<std::uint32_t> stored(download.storedSequences.begin(), download.storedSequences.end());
    for (auto it = download.fingerprints.rbegin(); it != download.fingerprints.rend(); ++it) {
      if (it->first >= d.glucoseCursor || !stored.count(it->first)) continue;
      if (!d.glucoseAnchorSequence || it->first >= *d.glucoseAnchorSequence) {
        d.glucoseAnchorSequence = it->first;
        d.glucoseAnchorFingerprint = it->second;
      }
      break;
    }
    out = d;
    return m.writeState(device, d);
  });
  if (!st.isOk()) return st;
  return out;
}

Result<std::uint32_t> SqliteBuffer::startNewResetEpoch(const DeviceKey& device) {
  Impl& m = *impl_;
  std::uint32_t epoch = 0;
  Status st = m.submit([&]() -> Status {
    auto state = m.readState(device);
    if (!state) return state.status();
    DeviceState d = *state;
    d.resetEpoch += 1;
    d.glucoseCursor = 0;
    d.glucoseAnchorSequence.reset();
    d.glucoseAnchorFingerprint.clear();
    epoch = d.resetEpoch;
    return m.writeState(device, d);
  });
  if (!st.isOk()) return st;
  return epoch;
}

Status SqliteBuffer::recordClockOffset(const DeviceKey& device, std::int64_t offsetMs, UtcInstant measuredAt) {
  Impl& m = *impl_;
  return m.submit([&]() -> Status {
    auto state = m.readState(device);
    if (!state) return state.status();
    DeviceState d = *state;
    d.clockOffsetMs = offsetMs;
    d.clockOffsetMeasuredAt = measuredAt;
    return m.writeState(device, d);
  });
}

// ------------------------------------------------------------- logical ids

Result<std::optional<std::string>> SqliteBuffer::deviceLogicalId(const std::string& serverBaseUrl,
                                                                 const DeviceKey& device) {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> g(m.dbMutex);
  Stmt s = m.stmt("SELECT logical_id FROM device_logical_ids WHERE server = ?1 AND device = ?2");
  if (!s.valid()) return sqlStatus(sqlite3_errcode(m.db), "prepare logical id");
  int rc = s.bind(1, serverBaseUrl).bind(2, device.canonical()).step();
  if (rc == SQLITE_ROW) return std::optional<std::string>(s.text(0));
  if (rc == SQLITE_DONE) return std::optional<std::string>();
  return sqlStatus(rc, "read logical id");
}

Status SqliteBuffer::putDeviceLogicalId(const std::string& serverBaseUrl, const DeviceKey& device,
                                        const std::string& logicalId) {
  Impl& m = *impl_;
  return m.submit([&]() -> Status {
    Stmt s = m.stmt("INSERT OR REPLACE INTO device_logical_ids(server, device, logical_id) VALUES(?1, ?2, ?3)");
    return m.run(s.bind(1, serverBaseUrl).bind(2, device.canonical()).bind(3, logicalId), "store logical id");
  });
}

Status SqliteBuffer::forgetDeviceLogicalId(const std::string& serverBaseUrl, const DeviceKey& device) {
  Impl& m = *impl_;
  return m.submit([&]() -> Status {
    Stmt s = m.stmt("DELETE FROM device_logical_ids WHERE server = ?1 AND device = ?2");
    return m.run(s.bind(1, serverBaseUrl).bind(2, device.canonical()), "forget logical id");
  });
}

// ------------------------------------------------------------- maintenance

Result<std::uint64_t> SqliteBuffer::prune() {
  Impl& m = *impl_;
  std::uint64_t removed = 0;
  Status st = m.submit([&]() -> Status {
    Status s = m.pruneInTransaction();
    removed = m.lastPruned;
    return s;
  });
  if (!st.isOk()) return st;
  return removed;
}

Result<std::string> SqliteBuffer::integrityCheck() {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> g(m.dbMutex);
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(m.db, "PRAGMA integrity_check", -1, &raw, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(raw);
    return sqlStatus(rc, "integrity_check");
  }
  std::string out;
  while ((rc = sqlite3_step(raw)) == SQLITE_ROW) {
    if (!out.empty()) out += '\n';
    out += reinterpret_cast<const char*>(sqlite3_column_text(raw, 0));
  }
  sqlite3_finalize(raw);
  if (rc != SQLITE_DONE) return sqlStatus(rc, "integrity_check");
  return out;
}

// ------------------------------------------------------------ decommission

Status SqliteBuffer::forEachUndelivered(const std::function<Status(const UndeliveredReading&)>& sink) {
  Impl& m = *impl_;
  std::lock_guard<std::mutex> g(m.dbMutex);
  struct Pass {
    const char* sql;
    UndeliveredState state;
  };
  // Columns: id, body, http_status, reason, rejected_us (NULL for readings).
  for (const Pass& p :
       {Pass{"SELECT id, body, NULL, NULL, NULL FROM readings WHERE state = 0 ORDER BY seq", UndeliveredState::kQueued},
        Pass{"SELECT id, body, NULL, NULL, NULL FROM readings WHERE state = 1 ORDER BY seq", UndeliveredState::kHeld},
        Pass{"SELECT id, body, http_status, reason, rejected_us FROM dead_letters ORDER BY rejected_us, id",
             UndeliveredState::kDeadLetter}}) {
    Stmt s = m.stmt(p.sql);
    if (!s.valid()) return sqlStatus(sqlite3_errcode(m.db), "prepare export");
    int rc;
    while ((rc = s.step()) == SQLITE_ROW) {
      UndeliveredReading u;
      u.state = p.state;
      u.storedBody.assign(s.blob(1), s.blob(1) + s.blobSize(1));
      auto reading = decodeReading(u.storedBody.data(), u.storedBody.size());
      if (reading) {
        u.reading = std::move(reading).value();
      } else {
        u.bodyIntact = false;
        u.reading.id = s.text(0);
      }
      if (!s.isNull(2)) {
        u.httpStatus = static_cast<int>(s.i64(2));
        u.reason = s.text(3);
        u.rejectedAt = instantOf(s.i64(4));
      }
      if (Status st = sink(u); !st.isOk()) return st;
    }
    if (rc != SQLITE_DONE) return sqlStatus(rc, "read undelivered readings");
  }
  return Status::ok();
}

Result<EraseReport> SqliteBuffer::erasePatientData(const EraseRequest& request) {
  Impl& m = *impl_;
  EraseReport report;
  auto count = [&m](const char* sql, std::uint64_t& out) -> Status {
    auto v = m.scalar(sql, "count patient data");
    if (!v) return v.status();
    out = static_cast<std::uint64_t>(*v);
    return Status::ok();
  };
  auto check = [&]() -> Status {
    report = EraseReport{};
    for (auto [sql, out] : {std::pair{"SELECT count(*) FROM enrolments", &report.enrolments},
                            std::pair{"SELECT count(*) FROM readings WHERE state = 0", &report.queued},
                            std::pair{"SELECT count(*) FROM readings WHERE state = 1", &report.held},
                            std::pair{"SELECT count(*) FROM readings WHERE state = 3", &report.delivered},
                            std::pair{"SELECT count(*) FROM dead_letters", &report.deadLetters},
                            std::pair{"SELECT count(*) FROM device_state", &report.deviceStates},
                            std::pair{"SELECT count(*) FROM device_logical_ids", &report.logicalIds}}) {
      if (Status st = count(sql, *out); !st.isOk()) return st;
    }
    std::uint64_t undelivered = report.queued + report.held + report.deadLetters;
    bool exportedAll = request.exportedUndelivered && *request.exportedUndelivered == undelivered;
    if (undelivered > 0 && !request.discardUndelivered && !exportedAll) {
      return Status(ErrorKind::kConflict, std::to_string(undelivered) +
                                              " undelivered readings are stored that were neither exported nor "
                                              "discarded; nothing was erased");
    }
    return Status::ok();
  };
  auto tombstone = [&]() -> Status {
    std::int64_t now = micros(m.clock.now());
    Stmt t = m.stmt("INSERT OR IGNORE INTO tombstones(id, delivered_us) SELECT id, ?1 FROM readings");
    if (Status st = m.run(t.bind(1, now), "remember erased reading ids"); !st.isOk()) return st;
    report.tombstonesAdded = static_cast<std::uint64_t>(sqlite3_changes(m.db));
    Stmt d = m.stmt("INSERT OR IGNORE INTO tombstones(id, delivered_us) SELECT id, ?1 FROM dead_letters");
    if (Status st = m.run(d.bind(1, now), "remember erased dead-letter ids"); !st.isOk()) return st;
    report.tombstonesAdded += static_cast<std::uint64_t>(sqlite3_changes(m.db));
    return Status::ok();
  };
  // Enrolments first: in the planted one-commit-per-table bug, a fault after
  // this leaves held readings without their enrolment, ready to be released
  // to whoever is enrolled next.
  static const char* const kErase[] = {"DELETE FROM enrolments", "DELETE FROM readings", "DELETE FROM dead_letters",
                                       "DELETE FROM device_state", "DELETE FROM device_logical_ids"};
  {
    // Deleted cells and freed pages are overwritten with zeros, not just unlinked.
    std::lock_guard<std::mutex> g(m.dbMutex);
    if (!m.options.skipScrubForTest) {
      if (Status st = m.exec("PRAGMA secure_delete=ON", "enable secure delete"); !st.isOk()) return st;
    }
  }
  Status erased;
  if (!m.options.eraseInSeparateCommitsForTest) {
    erased = m.submit(
        [&]() -> Status {
          if (Status st = check(); !st.isOk()) return st;
          if (Status st = tombstone(); !st.isOk()) return st;
          for (const char* sql : kErase) {
            if (Status st = m.exec(sql, "erase patient data"); !st.isOk()) return st;
          }
          return Status::ok();
        },
        [&m] { m.leases.clear(); });
  } else {
    erased = m.submit([&] { return check(); });
    if (erased.isOk()) erased = m.submit([&] { return tombstone(); });
    for (const char* sql : kErase) {
      if (erased.isOk()) erased = m.submit([&m, sql] { return m.exec(sql, "erase patient data"); });
    }
  }
  std::lock_guard<std::mutex> g(m.dbMutex);
  (void)m.exec("PRAGMA secure_delete=FAST", "restore secure delete");
  if (!erased.isOk()) return erased;
  // Scrub: VACUUM rebuilds the file without free pages (its temporary copy
  // stays in memory, never in a temp file), and a truncating checkpoint
  // empties the WAL, which still holds earlier frames with patient data.
  if (m.options.skipScrubForTest) return report;
  bool scrubbed = m.exec("PRAGMA temp_store=MEMORY", "keep VACUUM in memory").isOk() &&
                  m.exec("VACUUM", "vacuum").isOk();
  if (scrubbed) {
    int logFrames = 0;
    int checkpointed = 0;
    int rc = sqlite3_wal_checkpoint_v2(m.db, nullptr, SQLITE_CHECKPOINT_TRUNCATE, &logFrames, &checkpointed);
    scrubbed = rc == SQLITE_OK && logFrames == 0;
  }
  (void)m.exec("PRAGMA temp_store=DEFAULT", "restore temp store");
  // Copies of a once-corrupt database moved aside at start-up hold readings too.
  std::string dir = m.options.path;
  auto slash = dir.find_last_of('/');
  std::string base = slash == std::string::npos ? dir : dir.substr(slash + 1);
  dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : dir.substr(0, slash));
  if (DIR* d = ::opendir(dir.c_str())) {
    std::string prefix = base + ".quarantine-";
    while (dirent* e = ::readdir(d)) {
      if (std::strncmp(e->d_name, prefix.c_str(), prefix.size()) != 0) continue;
      if (::unlink((dir + "/" + e->d_name).c_str()) != 0) scrubbed = false;
    }
    ::closedir(d);
  }
  report.scrubbed = scrubbed;
  if (!scrubbed) log::error("buffer", "patient data erased, but scrubbing the database file failed");
  return report;
}

}  // namespace rpm::buffer

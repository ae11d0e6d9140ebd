// SqliteBuffer: the SQLite implementation of the store ports. Tables, states
// and invariants: buffer/schema.md. Operating notes and figures: docs/buffer.md.
//
// One connection, serialized by a mutex. Writers (append, ack, retry,
// reject, enrolment and device-state changes) go through a group commit: the
// first waiting caller becomes the leader and commits every pending write in
// one transaction with one fsync; each caller returns when its own write is
// durable. Leases live in memory: a restart voids them all, as it voids the
// uplink that held them.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "gateway/model/Status.h"
#include "gateway/ports/Clock.h"
#include "gateway/ports/DeadLetterStore.h"
#include "gateway/ports/DeviceLogicalIdStore.h"
#include "gateway/ports/DeviceStateStore.h"
#include "gateway/ports/EnrolmentStore.h"
#include "gateway/ports/PatientDataStore.h"
#include "gateway/ports/ReadingStore.h"

namespace rpm::buffer {

// buffer.durability
enum class Durability : std::uint8_t {
  kPowerLoss = 1,     // WAL + synchronous=FULL: a returned append survives a power cut
  kProcessCrash = 2,  // WAL + synchronous=NORMAL: survives a gateway crash, not a power cut
};

// buffer.continuous_when_full: what happens to continuous streams (RR
// intervals, ECG chunks) at the size cap. Clinical spot readings are never
// evicted whatever this says.
enum class ContinuousWhenFull : std::uint8_t {
  kRefuse = 1,               // like every reading: refuse new ones (default)
  kEvictOldestContinuous = 2,  // make room by evicting the oldest undelivered continuous-stream readings
};

struct BufferOptions {
  std::string path;  // database file; its directory is created 0700 if missing
  Durability durability = Durability::kPowerLoss;
  std::uint64_t maxSizeBytes = 256ULL * 1024 * 1024;
  std::chrono::hours deliveredRetention{24};
  std::chrono::hours tombstoneRetention{24 * 365};
  std::chrono::seconds leaseDuration{120};
  ContinuousWhenFull continuousWhenFull = ContinuousWhenFull::kRefuse;
  // Name of a registered sqlite3_vfs (fault-injection shims); empty: the default.
  std::string vfsNameForTest;
  // synchronous=OFF: the planted bug the power-loss harness must catch.
  bool synchronousOffForTest = false;
  // Reports a failed COMMIT as success: the planted bug the I/O-fault harness must catch.
  bool ignoreCommitErrorsForTest = false;
  // erasePatientData in one commit per table: the planted bug the decommission fault harness must catch.
  bool eraseInSeparateCommitsForTest = false;
  // erasePatientData without secure_delete, VACUUM or WAL truncation: the planted bug the byte scan must catch.
  bool skipScrubForTest = false;
};

// What the startup check found.
struct OpenReport {
  bool quarantined = false;
  std::string quarantinePath;      // where the corrupt database was moved
  std::uint64_t salvaged = 0;      // undelivered readings copied into the fresh database
  std::uint64_t unsalvageable = 0;  // rows that could not be read or failed their checksum
};

class SqliteBuffer final : public ReadingStore,
                           public DeadLetterStore,
                           public EnrolmentStore,
                           public DeviceStateStore,
                           public DeviceLogicalIdStore,
                           public PatientDataStore {
 public:
  // Opens (creating or migrating) the database, runs PRAGMA quick_check and
  // quarantines and salvages a corrupt one. Fails only when no usable
  // database can be made (kIo), or the file has a newer schema (kUnsupported).
  static Result<std::unique_ptr<SqliteBuffer>> open(const BufferOptions& options, const Clock& clock);
  ~SqliteBuffer() override;
  SqliteBuffer(const SqliteBuffer&) = delete;
  SqliteBuffer& operator=(const SqliteBuffer&) = delete;

  const OpenReport& openReport() const;

  // ReadingStore
  Result<AppendReport> append(const std::vector<Reading>& readings) override;
  Result<std::vector<LeasedReading>> lease(std::size_t maxReadings) override;
  Status ack(const std::vector<Acknowledgement>& acknowledgements) override;
  Status retryLater(const std::string& readingId, std::int64_t leaseId, const Status& reason,
                    UtcInstant notBefore) override;
  Status reject(const std::string& readingId, std::int64_t leaseId, const Rejection& rejection) override;
  Result<StoreCounters> counters() override;
  Result<std::optional<Reading>> find(const std::string& readingId) override;

  // DeadLetterStore
  Result<std::vector<DeadLetter>> listDeadLetters(std::size_t limit) override;
  Status requeueDeadLetter(const std::string& readingId) override;
  Status purgeDeadLetter(const std::string& readingId) override;

  // EnrolmentStore
  Status putEnrolment(const Enrolment& enrolment) override;
  Status removeEnrolment(const DeviceKey& device, std::optional<std::uint8_t> userSlot) override;
  Result<Enrolment> findEnrolment(const DeviceKey& device, std::optional<std::uint8_t> userSlot) override;
  Result<std::vector<Enrolment>> listEnrolments() override;
  Result<std::uint64_t> releaseHeldReadings(const DeviceKey& device, std::optional<std::uint8_t> userSlot) override;

  // DeviceStateStore
  Result<DeviceState> deviceState(const DeviceKey& device) override;
  Result<DeviceState> recordGlucoseDownload(const DeviceKey& device, const GlucoseDownload& download) override;
  Result<std::uint32_t> startNewResetEpoch(const DeviceKey& device) override;
  Status recordClockOffset(const DeviceKey& device, std::int64_t offsetMs, UtcInstant measuredAt) override;

  // DeviceLogicalIdStore
  Result<std::optional<std::string>> deviceLogicalId(const std::string& serverBaseUrl,
                                                     const DeviceKey& device) override;
  Status putDeviceLogicalId(const std::string& serverBaseUrl, const DeviceKey& device,
                            const std::string& logicalId) override;
  Status forgetDeviceLogicalId(const std::string& serverBaseUrl, const DeviceKey& device) override;

  // PatientDataStore (decommission)
  Status forEachUndelivered(const std::function<Status(const UndeliveredReading&)>& sink) override;
  Result<EraseReport> erasePatientData(const EraseRequest& request) override;

  // Turns delivered readings older than the retention into tombstones and
  // drops tombstones older than theirs. Also runs by itself at most once a
  // minute with the writes. Returns the number of rows removed.
  Result<std::uint64_t> prune();

  // PRAGMA integrity_check ("ok" when sound). For tests and the status command.
  Result<std::string> integrityCheck();

 private:
  struct Impl;
  explicit SqliteBuffer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Whether readings of this kind are a continuous stream (ContinuousWhenFull).
bool isContinuousStream(ReadingKind kind);

}  // namespace rpm::buffer

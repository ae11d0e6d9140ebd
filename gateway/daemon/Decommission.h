// `rpm-gateway decommission`: hand the hub to the next patient
// (docs/installer-guide.md; export format and rules:
// docs/decisions/0033-decommission-export-and-erase.md).
//
// Order: stop intake -> store partial aggregation windows -> let delivery
// drain the queue for at most the delivery timeout -> pause delivery ->
// export what is still undelivered (or refuse, or discard when told) ->
// erase everything in one transaction and scrub the file -> resume intake
// (the daemon keeps running, ready for new enrolments).
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <shared_mutex>
#include <string>

#include "gateway/model/Status.h"
#include "gateway/ports/Clock.h"
#include "gateway/ports/PatientDataStore.h"
#include "gateway/ports/ReadingSink.h"
#include "gateway/ports/ReadingStore.h"

namespace rpm::daemon {

// A ReadingSink in front of the ingest pipeline that can be closed: while
// closed, submits fail with kUnavailable (producers keep and resend their
// readings: MQTT gets no application ack, BLE downloads do not advance).
// close() returns only after the submits in flight have finished.
class IntakeGate final : public ReadingSink {
 public:
  explicit IntakeGate(ReadingSink& inner) : inner_(inner) {}
  Result<AppendReport> submit(std::vector<Reading> readings) override;
  void close();
  void open();
  bool isOpen() const;

 private:
  ReadingSink& inner_;
  mutable std::shared_mutex mutex_;
  bool open_ = true;
};

struct DecommissionOptions {
  bool confirmed = false;                 // --yes
  std::chrono::milliseconds deliverTimeout{60000};
  int exportFd = -1;                      // --export: a file the admin's CLI created 0600; -1 for none
  bool discardUndelivered = false;        // --discard-undelivered
  std::string hubId;                      // written into the export header
};

struct DecommissionHooks {
  IntakeGate* gate = nullptr;
  std::function<Status()> flushWindows;   // store partial aggregation windows
  std::function<void()> wakeDelivery;
  std::mutex* deliveryMutex = nullptr;    // held by the delivery worker around each round
};

// The result object of the control command: counts only, never values.
// Failures are returned as Status with a message for the admin.
Result<nlohmann::json> runDecommission(ReadingStore& readings, PatientDataStore& data, const Clock& clock,
                                       const DecommissionHooks& hooks, const DecommissionOptions& options);

// One export line (without the newline) for an undelivered reading; public for tests.
nlohmann::json exportRecord(const UndeliveredReading& u);

inline constexpr const char* kExportFormat = "rpm-gateway-undelivered-export";
inline constexpr int kExportFormatVersion = 1;

}  // namespace rpm::daemon

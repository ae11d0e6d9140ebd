#include "gateway/daemon/Decommission.h"

#include <openssl/evp.h>
#include <unistd.h>

#include <cerrno>
#include <thread>

#include "gateway/log/Log.h"

namespace rpm::daemon {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

std::string base64(const std::vector<std::uint8_t>& bytes) {
  if (bytes.empty()) return "";
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), bytes.data(), static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

json quantityJson(const Quantity& q) {
  json j{{"value", q.value.toString()}, {"unit", q.unit}};
  if (q.special != SpecialValue::kNone) j["special"] = std::string(specialValueName(q.special));
  return j;
}

const char* stateName(UndeliveredState s) {
  switch (s) {
    case UndeliveredState::kQueued: return "queued";
    case UndeliveredState::kHeld: return "held";
    case UndeliveredState::kDeadLetter: return "dead_letter";
  }
  return "queued";
}

Status writeLine(int fd, const std::string& text) {
  std::string line = text + "\n";
  std::size_t off = 0;
  while (off < line.size()) {
    ssize_t n = ::write(fd, line.data() + off, line.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status(ErrorKind::kIo, "cannot write the export file");
    off += static_cast<std::size_t>(n);
  }
  return Status::ok();
}

}  // namespace

Result<AppendReport> IntakeGate::submit(std::vector<Reading> readings) {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  if (!open_) return Status(ErrorKind::kUnavailable, "intake paused: the hub is being decommissioned");
  return inner_.submit(std::move(readings));
}

void IntakeGate::close() {
  std::unique_lock<std::shared_mutex> lock(mutex_);  // waits for the submits in flight
  open_ = false;
}

void IntakeGate::open() {
  std::unique_lock<std::shared_mutex> lock(mutex_);
  open_ = true;
}

bool IntakeGate::isOpen() const {
  std::shared_lock<std::shared_mutex> lock(mutex_);
  return open_;
}

json exportRecord(const UndeliveredReading& u) {
  const Reading& r = u.reading;
  json j{{"type", "reading"}, {"state", stateName(u.state)}, {"id", r.id}, {"body_intact", u.bodyIntact}};
  if (u.bodyIntact) {
    j["kind"] = std::string(readingKindName(r.kind));
    j["device"] = r.device.canonical();
    j["user_slot"] = r.userSlot ? json(*r.userSlot) : json();
    j["subject"] = r.subject.empty() ? json() : json(r.subject);
    j["effective_start"] = formatUtc(r.effectiveStart);
    if (r.effectiveEnd) j["effective_end"] = formatUtc(*r.effectiveEnd);
    j["received_at"] = formatUtc(r.receivedAt);
    if (!r.producerReadingId.empty()) j["producer_reading_id"] = r.producerReadingId;
    if (r.sequence) j["sequence"] = *r.sequence;
    if (const auto* components = std::get_if<std::vector<Component>>(&r.value)) {
      json list = json::array();
      for (const auto& c : *components) {
        json cj{{"measure", std::string(measureName(c.measure))}, {"quantity", quantityJson(c.quantity)}};
        if (c.original) cj["original"] = quantityJson(*c.original);
        if (c.comparator != Comparator::kNone) cj["comparator"] = c.comparator == Comparator::kLess ? "<" : ">";
        if (!c.code.empty()) cj["code"] = c.code;
        list.push_back(std::move(cj));
      }
      j["components"] = std::move(list);
    } else if (const auto* series = std::get_if<SampledSeries>(&r.value)) {
      j["series"] = {{"measure", std::string(measureName(series->measure))}, {"mdc_lead", series->mdcLead},
                     {"origin", quantityJson(series->origin)}, {"period_ms", series->periodMs.toString()},
                     {"factor", series->factor.toString()}, {"samples", series->samples}};
    }
  }
  if (u.state == UndeliveredState::kDeadLetter) {
    j["dead_letter"] = {{"http_status", u.httpStatus}, {"reason", u.reason},
                        {"rejected_at", u.rejectedAt ? json(formatUtc(*u.rejectedAt)) : json()}};
  }
  j["codec"] = "rpm-buffer-reading/1";
  j["body_base64"] = base64(u.storedBody);
  return j;
}

Result<json> runDecommission(ReadingStore& readings, PatientDataStore& data, const Clock& clock,
                             const DecommissionHooks& hooks, const DecommissionOptions& options) {
  if (!options.confirmed) {
    return Status(ErrorKind::kInvalidArgument,
                  "decommission erases every enrolment, reading, dead letter and device state: confirm with --yes");
  }
  log::notice("decommission", "started: intake stopped");
  hooks.gate->close();
  // Whatever happens next, intake resumes: the daemon stays ready for enrolments.
  struct Resume {
    IntakeGate* gate;
    ~Resume() { gate->open(); }
  } resume{hooks.gate};
  if (Status s = hooks.flushWindows(); !s.isOk()) return s;

  // Deliver what is left, bounded.
  auto deadline = clock.monotonicNow() + options.deliverTimeout;
  std::uint64_t backlog = 0;
  for (;;) {
    auto c = readings.counters();
    if (!c.isOk()) return c.status();
    backlog = c->backlog;
    if (backlog == 0 || clock.monotonicNow() >= deadline) break;
    hooks.wakeDelivery();
    std::this_thread::sleep_for(100ms);  // polls the store; the wait is bounded by deliverTimeout
  }

  std::lock_guard<std::mutex> paused(*hooks.deliveryMutex);
  auto c = readings.counters();
  if (!c.isOk()) return c.status();
  std::uint64_t undelivered = c->backlog + c->held + c->deadLetters;
  json result{{"delivery_drained", c->backlog == 0}};
  EraseRequest request;
  request.discardUndelivered = options.discardUndelivered && options.exportFd < 0;
  if (options.exportFd >= 0) {
    std::uint64_t exported = 0;
    json header{{"type", "header"}, {"format", kExportFormat}, {"version", kExportFormatVersion},
                {"hub", options.hubId}, {"exported_at", formatUtc(clock.now())},
                {"queued", c->backlog}, {"held", c->held}, {"dead_letters", c->deadLetters}};
    Status s = writeLine(options.exportFd, header.dump());
    if (s.isOk()) {
      s = data.forEachUndelivered([&](const UndeliveredReading& u) {
        ++exported;
        return writeLine(options.exportFd, exportRecord(u).dump());
      });
    }
    if (s.isOk()) s = writeLine(options.exportFd, json{{"type", "end"}, {"readings", exported}}.dump());
    if (s.isOk() && ::fsync(options.exportFd) != 0) s = Status(ErrorKind::kIo, "cannot sync the export file");
    if (!s.isOk()) return Status(s.kind(), s.message() + "; nothing was erased");
    request.exportedUndelivered = exported;
    result["exported"] = exported;
  } else if (undelivered > 0 && !options.discardUndelivered) {
    return Status(ErrorKind::kConflict,
                  std::to_string(undelivered) + " readings are not delivered (queued " + std::to_string(c->backlog) +
                      ", held " + std::to_string(c->held) + ", dead letters " + std::to_string(c->deadLetters) +
                      "); nothing was erased and intake resumed. Run again with --export PATH to save them, or "
                      "--discard-undelivered to erase them");
  }
  auto erased = data.erasePatientData(request);
  if (!erased.isOk()) return Status(erased.status().kind(), erased.status().message());
  const EraseReport& e = *erased;
  result["erased"] = {{"enrolments", e.enrolments}, {"queued", e.queued}, {"held", e.held},
                      {"delivered", e.delivered}, {"dead_letters", e.deadLetters},
                      {"device_states", e.deviceStates}, {"logical_ids", e.logicalIds}};
  result["tombstones_added"] = e.tombstonesAdded;
  result["discarded"] = options.exportFd < 0 ? undelivered : 0;
  result["scrubbed"] = e.scrubbed;
  log::notice("decommission", "patient data erased",
              {{"enrolments", e.enrolments}, {"readings", e.queued + e.held + e.delivered + e.deadLetters},
               {"scrubbed", e.scrubbed}});
  if (!e.scrubbed) {
    return Status(ErrorKind::kIo,
                  "patient data erased, but the database file could not be scrubbed; run decommission again");
  }
  return result;
}

}  // namespace rpm::daemon

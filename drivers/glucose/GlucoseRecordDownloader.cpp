#include "drivers/glucose/GlucoseRecordDownloader.h"

#include <algorithm>
#include <map>
#include <string>
#include <optional>
#include <utility>
#include <vector>

#include "drivers/glucose/GlucoseParser.h"
#include "drivers/glucose/RecordAccessControlPoint.h"

namespace rpm::drivers::glucose {
namespace {

constexpr std::uint16_t kGlucoseService = 0x1808;

bool isCharacteristic(const ble::CharacteristicValue& v, std::uint16_t ch) {
  return v.characteristicUuid == ble::sigUuid(ch);
}

// How one RACP request ended.
enum class Ending { kSuccess, kNoRecords, kOperatorUnsupported, kOtherResponse };

struct RequestResult {
  Ending ending = Ending::kOtherResponse;
  std::vector<std::uint32_t> storedSequences;  // unwrapped, durable
  std::optional<std::uint32_t> highestSeen;    // unwrapped, decoded measurements
  std::map<std::uint32_t, std::string> fingerprints;  // unwrapped sequence -> recordFingerprint
};

// What identifies a stored record beyond its sequence: its Base Time and Time
// Offset. A record taken after a counter reset under an old sequence number
// differs here (the reset anchor, decision 0040).
std::string recordFingerprint(const Reading& r) {
  std::string f = r.deviceTime ? r.deviceTime->toString() : std::string("none");
  f += r.deviceTimeOffsetMinutes ? "@" + std::to_string(*r.deviceTimeOffsetMinutes) : std::string("@none");
  return f;
}

class Download {
 public:
  Download(const DeviceKey& device, BleProcedureIo& io, ReadingSink& sink, const ReadingIdFunction& readingIdOf,
           const GlucoseDownloadOptions& options, GlucoseDownloadReport& report)
      : device_(device), io_(io), sink_(sink), readingIdOf_(readingIdOf), options_(options), report_(report) {}

  // Writes `request` and handles values until the meter's response code.
  // submit=false collects sequences only (the reset probe). A failed Status
  // means the link dropped, the meter went silent, a stop was requested or
  // the sink failed; `result` then holds what was durable before.
  Status run(const RacpRequest& request, std::uint32_t epoch, std::uint32_t reference, bool submit,
             RequestResult& result) {
    epoch_ = epoch;
    reference_ = reference;
    submit_ = submit;
    result_ = &result;
    pending_.clear();
    auto bytes = buildRacpRequest(request);
    if (!bytes) return bytes.status();
    ++report_.requests;
    Status s = io_.write(kGlucoseService, kRecordAccessControlPoint, *bytes);
    if (!s.isOk()) return s;
    for (;;) {
      if (io_.stopRequested && io_.stopRequested()) {
        Status f = flush();
        return f.isOk() ? Status(ErrorKind::kUnavailable, "glucose download stopped by the gateway") : f;
      }
      auto value = io_.nextValue(options_.valueTimeout);
      if (!value) {
        Status f = flush();
        return f.isOk() ? value.status() : f;
      }
      if (isCharacteristic(*value, kGlucoseMeasurement)) {
        s = flush();  // a new measurement: the previous record is complete
        if (!s.isOk()) return s;
        onMeasurement(*value);
      } else if (isCharacteristic(*value, kGlucoseMeasurementContext)) {
        onContext(*value);
      } else if (isCharacteristic(*value, kRecordAccessControlPoint)) {
        s = flush();
        if (!s.isOk()) return s;
        auto message = parseRacp(value->bytes);
        if (!message) {
          ++report_.malformed;
          continue;
        }
        if (message->opCode != RacpOpCode::kResponseCode || message->requestOpCode != request.opCode ||
            !message->responseValue) {
          continue;
        }
        switch (*message->responseValue) {
          case RacpResponseValue::kSuccess: result.ending = Ending::kSuccess; break;
          case RacpResponseValue::kNoRecordsFound: result.ending = Ending::kNoRecords; break;
          case RacpResponseValue::kInvalidOperator:
          case RacpResponseValue::kOperatorNotSupported:
          case RacpResponseValue::kInvalidOperand:
          case RacpResponseValue::kOperandNotSupported: result.ending = Ending::kOperatorUnsupported; break;
          default: result.ending = Ending::kOtherResponse; break;
        }
        return Status::ok();
      }
      // Other characteristics (battery, a stray cuff value) are not ours.
    }
  }

 private:
  DecodeContext context(const ble::CharacteristicValue& v) const {
    DecodeContext c;
    c.device = device_;
    c.receivedAt = v.receivedAt;
    c.utcOffsetMinutes = io_.utcOffsetAt ? io_.utcOffsetAt(v.receivedAt) : 0;
    return c;
  }

  void onMeasurement(const ble::CharacteristicValue& v) {
    auto decoded = decode(kGlucoseMeasurement, v.bytes, context(v));
    if (!decoded || decoded->readings.size() != 1 || !decoded->readings[0].sequence) {
      ++report_.malformed;  // never acknowledged: the cursor rule re-requests it
      return;
    }
    Reading r = std::move(decoded->readings[0]);
    r.resetEpoch = epoch_;
    ++report_.records;
    std::uint32_t unwrapped = unwrapSequence(static_cast<std::uint16_t>(*r.sequence), reference_);
    if (!result_->highestSeen || unwrapped > *result_->highestSeen) result_->highestSeen = unwrapped;
    pendingSequence_ = unwrapped;
    result_->fingerprints[unwrapped] = recordFingerprint(r);
    pending_.push_back(std::move(r));
  }

  void onContext(const ble::CharacteristicValue& v) {
    auto decoded = decode(kGlucoseMeasurementContext, v.bytes, context(v));
    if (!decoded || decoded->readings.size() != 1) {
      ++report_.malformed;
      return;
    }
    Reading c = std::move(decoded->readings[0]);
    c.resetEpoch = epoch_;
    // The context follows its measurement (GLS §3.1.4): join by sequence.
    if (!pending_.empty() && pending_.front().sequence == c.sequence) {
      const Reading& measurement = pending_.front();
      // The context carries no Base Time; its measurement's makes the
      // context's id unique across resets and wraps like the measurement's.
      if (!c.deviceTime) c.deviceTime = measurement.deviceTime;
      c.relatedReadingId = readingIdOf_ ? readingIdOf_(measurement) : std::string();
      ++report_.contexts;
      pending_.push_back(std::move(c));
      return;
    }
    ++report_.orphanContexts;
    if (!submit_) return;
    // Never drop a clinical value: store it unlinked (its own id still dedups).
    auto out = sink_.submit({std::move(c)});
    if (out) count(*out);
  }

  void count(const AppendReport& report) {
    for (auto o : report.outcomes) {
      switch (o) {
        case AppendOutcome::kStored: ++report_.stored; break;
        case AppendOutcome::kHeld: ++report_.held; break;
        case AppendOutcome::kDuplicate: ++report_.duplicates; break;
        case AppendOutcome::kInvalid: ++report_.invalid; break;
      }
    }
  }

  // Submits the pending record (measurement + its context) and notes its
  // sequence as durable only after submit returned ok.
  Status flush() {
    if (pending_.empty()) return Status::ok();
    std::vector<Reading> readings;
    readings.swap(pending_);
    if (!submit_) return Status::ok();
    auto out = sink_.submit(std::move(readings));
    if (!out) return out.status();
    count(*out);
    // kInvalid is acknowledged too: re-requesting a record the buffer refuses
    // for good would stall the cursor on it forever.
    result_->storedSequences.push_back(pendingSequence_);
    return Status::ok();
  }

  const DeviceKey& device_;
  BleProcedureIo& io_;
  ReadingSink& sink_;
  const ReadingIdFunction& readingIdOf_;
  const GlucoseDownloadOptions& options_;
  GlucoseDownloadReport& report_;
  std::uint32_t epoch_ = 0, reference_ = 0;
  bool submit_ = true;
  RequestResult* result_ = nullptr;
  std::vector<Reading> pending_;
  std::uint32_t pendingSequence_ = 0;
};

RacpRequest allRecords() {
  RacpRequest r;
  r.op = RacpOperator::kAllRecords;
  return r;
}

RacpRequest fromSequence(std::uint32_t cursor) {
  RacpRequest r;
  r.op = RacpOperator::kGreaterOrEqual;
  r.filterType = RacpFilterType::kSequenceNumber;
  r.minValue = static_cast<std::uint16_t>(cursor & 0xFFFFu);
  return r;
}

RacpRequest exactly(std::uint32_t sequence) {
  RacpRequest r;
  r.op = RacpOperator::kWithinRange;
  r.filterType = RacpFilterType::kSequenceNumber;
  r.minValue = r.maxValue = static_cast<std::uint16_t>(sequence & 0xFFFFu);
  return r;
}

RacpRequest lastRecord() {
  RacpRequest r;
  r.op = RacpOperator::kLastRecord;
  return r;
}

}  // namespace

std::uint32_t unwrapSequence(std::uint16_t sequence, std::uint32_t reference) {
  std::int64_t block = static_cast<std::int64_t>(reference) & ~std::int64_t{0xFFFF};
  std::int64_t candidate = block | sequence;
  std::int64_t ref = reference;
  if (candidate + 0x8000 < ref) candidate += 0x10000;
  else if (candidate > ref + 0x8000 && candidate >= 0x10000) candidate -= 0x10000;
  return static_cast<std::uint32_t>(candidate);
}

Result<GlucoseDownloadReport> downloadGlucoseRecords(const DeviceKey& device, BleProcedureIo& io, ReadingSink& sink,
                                                     DeviceStateStore& states, const ReadingIdFunction& readingIdOf,
                                                     const GlucoseDownloadOptions& options) {
  GlucoseDownloadReport report;
  auto state = states.deviceState(device);
  if (!state) return state.status();
  std::uint32_t epoch = state->resetEpoch;
  std::uint32_t cursor = state->glucoseCursor;
  Download download(device, io, sink, readingIdOf, options, report);

  // Records one request with the store; returns the new state.
  auto record = [&](std::uint32_t requestedFrom, const RequestResult& result, bool complete) -> Status {
    GlucoseDownload d;
    d.resetEpoch = epoch;
    d.requestedFrom = requestedFrom;
    d.storedSequences = result.storedSequences;
    d.fingerprints = result.fingerprints;
    d.complete = complete;
    auto after = states.recordGlucoseDownload(device, d);
    if (!after) return after.status();
    cursor = after->glucoseCursor;
    return Status::ok();
  };

  // The reset anchor (decision 0040): before asking ">= cursor", read back
  // the stored record the anchor names. Another fingerprint under that
  // sequence means the counter was reset, whatever the meter holds now; the
  // same one means this epoch goes on. Absent: decided below as before (no
  // records at all above the cursor and a lower highest sequence = reset).
  if (cursor > 0 && state->glucoseAnchorSequence && *state->glucoseAnchorSequence < cursor &&
      !options.skipResetAnchorForTest) {
    const std::uint32_t anchor = *state->glucoseAnchorSequence;
    RequestResult probe;
    Status s = download.run(exactly(anchor), epoch, anchor, false, probe);
    if (!s.isOk()) return s;
    if (probe.ending == Ending::kOperatorUnsupported) {
      probe = RequestResult{};  // "within range" not offered: look for it among all records
      s = download.run(allRecords(), epoch, anchor, false, probe);
      if (!s.isOk()) return s;
    }
    ++report.anchorChecks;
    auto seen = probe.fingerprints.find(anchor);
    if (seen != probe.fingerprints.end() && seen->second != state->glucoseAnchorFingerprint) {
      auto newEpoch = states.startNewResetEpoch(device);
      if (!newEpoch) return newEpoch.status();
      epoch = *newEpoch;
      cursor = 0;
      report.counterReset = true;
    }
  }

  // At most: ">=" (or all), a fallback, a reset probe, the download after a
  // reset, and one more request after a wrap.
  for (int round = 0; round < 6; ++round) {
    bool fromStart = cursor == 0 || report.operatorFallback;
    RacpRequest request = fromStart ? allRecords() : fromSequence(cursor);
    std::uint32_t requestedFrom = fromStart ? 0 : cursor;
    std::uint32_t before = cursor;
    RequestResult result;
    Status s = download.run(request, epoch, cursor, true, result);
    bool complete = (s.isOk() && result.ending == Ending::kSuccess) || options.treatInterruptedAsCompleteForTest;
    if (!result.storedSequences.empty() || complete) {
      Status r = record(requestedFrom, result, complete);
      if (!r.isOk()) return r;
    }
    if (!s.isOk()) return s;

    if (result.ending == Ending::kOperatorUnsupported && !fromStart) {
      report.operatorFallback = true;
      continue;
    }
    if (result.ending == Ending::kOtherResponse) {
      return Status(ErrorKind::kRejected, "Record Access Control Point (0x2A52): meter refused the report request");
    }
    if (result.ending == Ending::kNoRecords && !fromStart && !report.counterReset) {
      // Nothing at or above the cursor: new nothing, or a counter that went
      // backwards. Ask for the last record without storing it.
      RequestResult probe;
      s = download.run(lastRecord(), epoch, cursor, false, probe);
      if (!s.isOk()) return s;
      if (probe.ending == Ending::kOperatorUnsupported) {
        probe = RequestResult{};
        s = download.run(allRecords(), epoch, cursor, false, probe);
        if (!s.isOk()) return s;
      }
      if (probe.highestSeen && *probe.highestSeen + 1 < cursor) {
        auto newEpoch = states.startNewResetEpoch(device);
        if (!newEpoch) return newEpoch.status();
        epoch = *newEpoch;
        cursor = 0;
        report.counterReset = true;
        continue;
      }
      report.noRecords = true;
      break;
    }
    if (result.ending == Ending::kNoRecords) {
      report.noRecords = true;
      break;
    }
    // Success. A download that crossed the wrap asked ">= N" in plain u16
    // terms and missed the new low numbers: ask again from there at once.
    if ((cursor >> 16) > (before >> 16) && !fromStart) {
      report.wrapped = true;
      continue;
    }
    break;
  }
  report.resetEpoch = epoch;
  report.cursor = cursor;
  return report;
}

}  // namespace rpm::drivers::glucose

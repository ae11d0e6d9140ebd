// The glucose download and cuff collection procedures against a scripted
// meter (values and RACP answers as bytes on air), a real SQLite buffer as
// the DeviceStateStore (the cursor rule is the buffer's), and a sink that can
// fail on demand. The end-to-end versions run in tests/integration/bluez.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <algorithm>
#include <deque>
#include <set>
#include <string>
#include <unistd.h>

#include "buffer/SqliteBuffer.h"
#include "drivers/blood_pressure/BloodPressureCollector.h"
#include "drivers/glucose/GlucoseRecordDownloader.h"
#include "gateway/identity/Identifiers.h"
#include "tests/support/FakeClock.h"

using namespace rpm;
using namespace rpm::drivers;
using namespace std::chrono_literals;
using Bytes = std::vector<std::uint8_t>;

namespace {

const DeviceKey kMeter = *DeviceKey::bluetooth("C0:11:22:33:44:01");

// Glucose Measurement: flags 0x12 (concentration kg/L + context follows) or
// 0x02, sequence, Base Time 2024-03-01 HH:00:00, 95 mg/dL (SFLOAT 95e-5), capillary/finger.
Bytes measurement(std::uint16_t seq, std::uint8_t hour, bool context = false) {
  return {static_cast<std::uint8_t>(context ? 0x12 : 0x02), static_cast<std::uint8_t>(seq & 0xFF),
          static_cast<std::uint8_t>(seq >> 8), 0xE8, 0x07, 0x03, 0x01, hour, 0x00, 0x00, 0x5F, 0xB0, 0x11};
}
// Glucose Measurement Context: flags 0x02 (meal present), sequence, preprandial.
Bytes contextOf(std::uint16_t seq) {
  return {0x02, static_cast<std::uint8_t>(seq & 0xFF), static_cast<std::uint8_t>(seq >> 8), 0x01};
}
Bytes racpResponse(std::uint8_t value) { return {0x06, 0x00, 0x01, value}; }

// A meter as a script: each RACP write is answered by the next batch of
// (characteristic, bytes); a batch ending without a RACP answer then "drops the link".
struct ScriptedMeter {
  std::deque<std::vector<std::pair<std::uint16_t, Bytes>>> answers;
  std::deque<ble::CharacteristicValue> queue;
  std::vector<Bytes> writes;
  bool linkDropped = false;
  int stopAfterValues = -1;
  int delivered = 0;

  BleProcedureIo io() {
    BleProcedureIo io;
    io.write = [this](std::uint16_t, std::uint16_t, const Bytes& value) {
      writes.push_back(value);
      if (answers.empty()) return Status::ok();
      for (auto& [ch, bytes] : answers.front()) {
        ble::CharacteristicValue v;
        v.serviceUuid = ble::sigUuid(0x1808);
        v.characteristicUuid = ble::sigUuid(ch);
        v.bytes = bytes;
        queue.push_back(v);
      }
      answers.pop_front();
      return Status::ok();
    };
    io.nextValue = [this](std::chrono::milliseconds) -> Result<ble::CharacteristicValue> {
      if (queue.empty()) return Status(ErrorKind::kUnavailable, "link dropped");
      auto v = queue.front();
      queue.pop_front();
      ++delivered;
      return v;
    };
    io.stopRequested = [this] { return stopAfterValues >= 0 && delivered >= stopAfterValues; };
    return io;
  }
};

class ScriptedSink final : public ReadingSink {
 public:
  int failOnSubmit = -1;  // 0-based index of the submit that fails
  std::vector<Reading> accepted;
  Result<AppendReport> submit(std::vector<Reading> readings) override {
    if (submits_++ == failOnSubmit) return Status(ErrorKind::kStorageFull, "buffer full (test)");
    AppendReport report;
    for (auto& r : readings) {
      report.outcomes.push_back(AppendOutcome::kStored);
      accepted.push_back(std::move(r));
    }
    return report;
  }
  std::vector<std::uint32_t> glucoseSequences() const {
    std::vector<std::uint32_t> out;
    for (const auto& r : accepted) {
      if (r.kind == ReadingKind::kGlucose) out.push_back(*r.sequence);
    }
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  int submits_ = 0;
};

struct StateStore {
  std::string dir;
  test::FakeClock clock;
  std::unique_ptr<buffer::SqliteBuffer> buffer;
  StateStore() {
    char tmpl[] = "/tmp/rpm-bleproc-XXXXXX";
    dir = ::mkdtemp(tmpl);
    buffer::BufferOptions o;
    o.path = dir + "/buffer.db";
    buffer = std::move(buffer::SqliteBuffer::open(o, clock)).value();
  }
  ~StateStore() {
    buffer.reset();
    std::string cmd = "rm -rf '" + dir + "'";
    (void)std::system(cmd.c_str());
  }
  DeviceState state() { return buffer->deviceState(kMeter).value(); }
};

Result<glucose::GlucoseDownloadReport> download(ScriptedMeter& meter, ReadingSink& sink, StateStore& store,
                                                glucose::GlucoseDownloadOptions options = {}) {
  auto io = meter.io();
  return glucose::downloadGlucoseRecords(kMeter, io, sink, *store.buffer,
                                         [](const Reading& r) { return computeReadingId(r); }, options);
}

// A first complete download of record 1: the cursor is 2 afterwards. (An
// interrupted first download keeps the cursor at 0: with "all records" the
// meter's first sequence is unknown, so the buffer's rule counts no gap-free run.)
void seedCursor(ReadingSink& sink, StateStore& store) {
  ScriptedMeter meter;
  meter.answers.push_back({{0x2A18, measurement(1, 8)}, {0x2A52, racpResponse(0x01)}});
  REQUIRE(download(meter, sink, store).isOk());
  REQUIRE(store.state().glucoseCursor == 2);
}

}  // namespace

TEST_CASE("Sequence numbers unwrap across 0xFFFF nearest to the cursor", "[unit]") {
  CHECK(glucose::unwrapSequence(5, 0) == 5);
  CHECK(glucose::unwrapSequence(65535, 65530) == 65535);
  CHECK(glucose::unwrapSequence(0, 65535) == 65536);
  CHECK(glucose::unwrapSequence(65534, 65536) == 65534);
  CHECK(glucose::unwrapSequence(3, 65540) == 65539);
  CHECK(glucose::unwrapSequence(40000, 0) == 40000);
}

TEST_CASE("The first download asks for all records, later ones for records >= the cursor", "[unit]") {
  StateStore store;
  ScriptedSink sink;
  ScriptedMeter meter;
  meter.answers.push_back({{0x2A18, measurement(1, 8, true)}, {0x2A34, contextOf(1)}, {0x2A18, measurement(2, 9)},
                           {0x2A52, racpResponse(0x01)}});
  auto report = download(meter, sink, store);
  REQUIRE(report.isOk());
  CHECK(meter.writes.at(0) == Bytes{0x01, 0x01});
  CHECK(report->contexts == 1);
  CHECK(store.state().glucoseCursor == 3);
  // The context names its measurement by the id the pipeline will compute.
  REQUIRE(sink.accepted.size() == 3);
  CHECK(sink.accepted[1].kind == ReadingKind::kGlucoseContext);
  CHECK(sink.accepted[1].relatedReadingId == computeReadingId(sink.accepted[0]));
  CHECK(sink.accepted[1].deviceTime == sink.accepted[0].deviceTime);

  ScriptedMeter again;
  again.answers.push_back({{0x2A18, measurement(2, 9)}, {0x2A52, racpResponse(0x01)}});  // the anchor, unchanged
  again.answers.push_back({{0x2A52, racpResponse(0x06)}});   // >= 3: no records
  again.answers.push_back({{0x2A18, measurement(2, 9)}, {0x2A52, racpResponse(0x01)}});  // last record: 2
  report = download(again, sink, store);
  REQUIRE(report.isOk());
  CHECK(again.writes.at(0) == Bytes{0x01, 0x04, 0x01, 0x02, 0x00, 0x02, 0x00});  // record 2, read back
  CHECK(report->anchorChecks == 1);
  CHECK(again.writes.at(1) == Bytes{0x01, 0x03, 0x01, 0x03, 0x00});
  CHECK(again.writes.at(2) == Bytes{0x01, 0x06});
  CHECK(report->noRecords);
  CHECK_FALSE(report->counterReset);
  CHECK(sink.accepted.size() == 3);  // the probe's record is not submitted
}

TEST_CASE("A sink failure stops the download and the cursor covers only what was durable", "[unit]") {
  StateStore store;
  ScriptedSink sink;
  seedCursor(sink, store);
  sink.failOnSubmit = 2;  // the seed used submit 0; record 2 is submit 1, record 3 submit 2
  ScriptedMeter meter;
  meter.answers.push_back({{0x2A18, measurement(1, 8)}, {0x2A52, racpResponse(0x01)}});  // the anchor, unchanged
  meter.answers.push_back({{0x2A18, measurement(2, 9)}, {0x2A18, measurement(3, 10)}, {0x2A18, measurement(4, 11)},
                           {0x2A52, racpResponse(0x01)}});
  auto report = download(meter, sink, store);
  CHECK(report.status().kind() == ErrorKind::kStorageFull);
  CHECK(store.state().glucoseCursor == 3);
}

TEST_CASE("A stop request ends the download after the submit in flight, recorded as interrupted", "[unit]") {
  StateStore store;
  ScriptedSink sink;
  seedCursor(sink, store);
  ScriptedMeter meter;
  meter.stopAfterValues = 4;  // the anchor record and its answer, then records 2 and 3
  meter.answers.push_back({{0x2A18, measurement(1, 8)}, {0x2A52, racpResponse(0x01)}});  // the anchor, unchanged
  meter.answers.push_back({{0x2A18, measurement(2, 9)}, {0x2A18, measurement(3, 10)}, {0x2A18, measurement(4, 11)},
                           {0x2A52, racpResponse(0x01)}});
  auto report = download(meter, sink, store);
  CHECK(report.status().kind() == ErrorKind::kUnavailable);
  CHECK(sink.glucoseSequences() == std::vector<std::uint32_t>{1, 2, 3});
  CHECK(store.state().glucoseCursor == 4);
}

TEST_CASE("Malformed values and contexts without a measurement are counted and nothing else is lost", "[unit]") {
  StateStore store;
  ScriptedSink sink;
  ScriptedMeter meter;
  meter.answers.push_back({{0x2A18, measurement(1, 8)},
                           {0x2A18, Bytes{0x02, 0x02}},  // truncated
                           {0x2A34, contextOf(7)},       // no measurement 7 before it
                           {0x2A18, measurement(3, 10)},
                           {0x2A52, Bytes{0x06}},        // malformed RACP frame
                           {0x2A52, racpResponse(0x01)}});
  auto report = download(meter, sink, store);
  REQUIRE(report.isOk());
  CHECK(report->malformed == 2);
  CHECK(report->orphanContexts == 1);
  CHECK(sink.glucoseSequences() == std::vector<std::uint32_t>{1, 3});
  CHECK(sink.accepted.size() == 3);  // the orphan context is stored unlinked
}

TEST_CASE("An interrupted out-of-order download never skips a record, and the check catches a planted skip",
          "[unit]") {
  bool planted = GENERATE(false, true);
  CAPTURE(planted);
  glucose::GlucoseDownloadOptions options;
  options.treatInterruptedAsCompleteForTest = planted;
  StateStore store;
  ScriptedSink sink;
  // First visit: the meter sends 1 and 4 (out of order), then the link drops.
  ScriptedMeter first;
  first.answers.push_back({{0x2A18, measurement(1, 8)}, {0x2A18, measurement(4, 11)}});
  CHECK_FALSE(download(first, sink, store, options).isOk());
  // Second visit: records >= cursor, complete.
  ScriptedMeter second;
  std::uint32_t cursor = store.state().glucoseCursor;
  std::vector<std::pair<std::uint16_t, Bytes>> batch;
  for (std::uint16_t seq = static_cast<std::uint16_t>(std::max<std::uint32_t>(cursor, 1)); seq <= 4; ++seq) {
    batch.push_back({0x2A18, measurement(seq, static_cast<std::uint8_t>(7 + seq))});
  }
  batch.push_back({0x2A52, racpResponse(cursor > 4 ? 0x06 : 0x01)});
  second.answers.push_back(batch);
  second.answers.push_back({{0x2A18, measurement(4, 11)}, {0x2A52, racpResponse(0x01)}});  // last-record probe
  CHECK(download(second, sink, store, options).isOk());
  std::set<std::uint32_t> distinct;
  for (auto s : sink.glucoseSequences()) distinct.insert(s);
  bool everyRecord = distinct == std::set<std::uint32_t>{1, 2, 3, 4};
  CHECK(everyRecord == !planted);  // the planted skip loses 2 and 3, and the check sees it
}

TEST_CASE("The >= operator unsupported falls back to all records", "[unit]") {
  StateStore store;
  ScriptedSink sink;
  ScriptedMeter meter;
  meter.answers.push_back({{0x2A18, measurement(1, 8)}, {0x2A52, racpResponse(0x01)}});
  REQUIRE(download(meter, sink, store).isOk());
  ScriptedMeter again;
  again.answers.push_back({{0x2A18, measurement(1, 8)}, {0x2A52, racpResponse(0x01)}});  // the anchor, unchanged
  again.answers.push_back({{0x2A52, racpResponse(0x04)}});
  again.answers.push_back({{0x2A18, measurement(1, 8)}, {0x2A18, measurement(2, 9)}, {0x2A52, racpResponse(0x01)}});
  auto report = download(again, sink, store);
  REQUIRE(report.isOk());
  CHECK(report->operatorFallback);
  CHECK(again.writes.at(2) == Bytes{0x01, 0x01});
  CHECK(store.state().glucoseCursor == 3);
}

TEST_CASE("A meter reset that already holds more records than the old cursor is detected by its anchor record, "
          "and the check catches a planted skip of it",
          "[unit]") {
  bool planted = GENERATE(false, true);
  CAPTURE(planted);
  glucose::GlucoseDownloadOptions options;
  options.skipResetAnchorForTest = planted;
  StateStore store;
  ScriptedSink sink;
  ScriptedMeter first;  // records 1 and 2 (08:00, 09:00): cursor 3, anchor = record 2
  first.answers.push_back({{0x2A18, measurement(1, 8)}, {0x2A18, measurement(2, 9)}, {0x2A52, racpResponse(0x01)}});
  REQUIRE(download(first, sink, store, options).isOk());
  REQUIRE(store.state().glucoseAnchorSequence == 2u);
  sink.accepted.clear();
  // Reset, then four new measurements (12:00-15:00) numbered 1-4: more than the old cursor.
  std::vector<std::pair<std::uint16_t, Bytes>> all;
  for (std::uint16_t seq = 1; seq <= 4; ++seq) all.push_back({0x2A18, measurement(seq, static_cast<std::uint8_t>(11 + seq))});
  all.push_back({0x2A52, racpResponse(0x01)});
  ScriptedMeter reset;
  if (!planted) {
    reset.answers.push_back({{0x2A18, measurement(2, 13)}, {0x2A52, racpResponse(0x01)}});  // record 2 is another one now
    reset.answers.push_back(all);                                                            // all records, new epoch
  } else {
    reset.answers.push_back({{0x2A18, measurement(3, 14)}, {0x2A18, measurement(4, 15)}, {0x2A52, racpResponse(0x01)}});
  }
  auto report = download(reset, sink, store, options);
  REQUIRE(report.isOk());
  bool everyNewRecord = sink.glucoseSequences() == std::vector<std::uint32_t>{1, 2, 3, 4};
  CHECK(everyNewRecord == !planted);  // without the anchor, new records 1 and 2 are never asked for
  CHECK(report->counterReset == !planted);
  if (!planted) {
    CHECK(reset.writes.at(0) == Bytes{0x01, 0x04, 0x01, 0x02, 0x00, 0x02, 0x00});
    CHECK(reset.writes.at(1) == Bytes{0x01, 0x01});
    CHECK(store.state().resetEpoch == 1);
    CHECK(store.state().glucoseCursor == 5);
    CHECK(store.state().glucoseAnchorSequence == 4u);
    for (const auto& r : sink.accepted) CHECK(r.resetEpoch == 1);
  }
}

TEST_CASE("An anchor record the meter deleted, or one it still holds unchanged, is no reset", "[unit]") {
  bool deleted = GENERATE(false, true);
  CAPTURE(deleted);
  StateStore store;
  ScriptedSink sink;
  seedCursor(sink, store);  // record 1 at 08:00: cursor 2, anchor 1
  sink.accepted.clear();
  ScriptedMeter meter;
  if (deleted) {
    meter.answers.push_back({{0x2A52, racpResponse(0x06)}});  // memory cleared, the counter went on
  } else {
    meter.answers.push_back({{0x2A18, measurement(1, 8)}, {0x2A52, racpResponse(0x01)}});
  }
  meter.answers.push_back({{0x2A18, measurement(2, 9)}, {0x2A52, racpResponse(0x01)}});
  auto report = download(meter, sink, store);
  REQUIRE(report.isOk());
  CHECK_FALSE(report->counterReset);
  CHECK(store.state().resetEpoch == 0);
  CHECK(sink.glucoseSequences() == std::vector<std::uint32_t>{2});
  CHECK(meter.writes.at(1) == Bytes{0x01, 0x03, 0x01, 0x02, 0x00});
  CHECK(store.state().glucoseAnchorSequence == 2u);
}

TEST_CASE("A cuff's measurements carry their user slot; intermediate cuff pressure and malformed values are dropped",
          "[unit]") {
  ScriptedSink sink;
  std::deque<ble::CharacteristicValue> values;
  auto push = [&](std::uint16_t ch, Bytes bytes) {
    ble::CharacteristicValue v;
    v.serviceUuid = ble::sigUuid(0x1810);
    v.characteristicUuid = ble::sigUuid(ch);
    v.bytes = std::move(bytes);
    values.push_back(v);
  };
  // flags 0x08 (user id present), mmHg: 120/80/93 as SFLOAT exponent 0, user 2.
  push(0x2A36, {0x00, 0x64, 0x00, 0xFF, 0x07, 0xFF, 0x07});
  push(0x2A35, {0x08, 0x78, 0x00, 0x50, 0x00, 0x5D, 0x00, 0x02});
  push(0x2A35, {0x08, 0x78});
  BleProcedureIo io;
  io.nextValue = [&](std::chrono::milliseconds) -> Result<ble::CharacteristicValue> {
    if (values.empty()) return Status(ErrorKind::kUnavailable, "cuff disconnected");
    auto v = values.front();
    values.pop_front();
    return v;
  };
  auto report = blood_pressure::collectCuffMeasurements(kMeter, io, sink);
  REQUIRE(report.isOk());
  CHECK(report->intermediateIgnored == 1);
  CHECK(report->malformed == 1);
  CHECK(report->measurements == 1);
  REQUIRE(sink.accepted.size() == 1);
  CHECK(sink.accepted[0].userSlot == std::optional<std::uint8_t>(2));
}

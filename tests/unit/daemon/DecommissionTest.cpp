// runDecommission over a real SqliteBuffer: confirmation, the intake gate,
// the bounded delivery drain, refusal, the export lines and the erase.
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "buffer/ReadingCodec.h"
#include "buffer/SqliteBuffer.h"
#include "gateway/daemon/Decommission.h"
#include "tests/support/FakeClock.h"
#include "tests/unit/buffer/BufferFixtures.h"

using namespace rpm;
using namespace rpm::daemon;
using nlohmann::json;

namespace {

// Counts what passes the gate.
class CountingSink final : public ReadingSink {
 public:
  Result<AppendReport> submit(std::vector<Reading> readings) override {
    submitted += readings.size();
    AppendReport r;
    r.outcomes.assign(readings.size(), AppendOutcome::kStored);
    return r;
  }
  std::size_t submitted = 0;
};

struct Fixture {
  test::TempDir dir;
  test::FakeClock clock;
  std::unique_ptr<buffer::SqliteBuffer> store;
  CountingSink sink;
  IntakeGate gate{sink};
  std::mutex deliveryMutex;
  DecommissionHooks hooks;
  bool gateOpenDuringDrain = true;
  int flushes = 0;

  Fixture() {
    buffer::BufferOptions o;
    o.path = dir.file("buffer.db");
    auto opened = buffer::SqliteBuffer::open(o, clock);
    REQUIRE(opened.isOk());
    store = std::move(opened).value();
    hooks.gate = &gate;
    hooks.flushWindows = [this] {
      ++flushes;
      return Status::ok();
    };
    hooks.wakeDelivery = [this] { gateOpenDuringDrain = gate.isOpen(); };
    hooks.deliveryMutex = &deliveryMutex;
  }
  void enrolAndAppend(int queued) {
    Enrolment e;
    e.device = *DeviceKey::parse("bt:B0495F001071");
    e.patient = "Patient/p1";
    REQUIRE(store->putEnrolment(e).isOk());
    std::vector<Reading> rs;
    for (int i = 0; i < queued; ++i) rs.push_back(test::sampleReading("r" + std::to_string(i), 1700000000 + i, Priority::kLive, ""));
    REQUIRE(store->append(rs).isOk());
  }
  DecommissionOptions options() {
    DecommissionOptions o;
    o.confirmed = true;
    o.deliverTimeout = std::chrono::milliseconds(0);
    o.hubId = "hub-t";
    return o;
  }
};

std::vector<json> lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<json> out;
  for (std::string line; std::getline(in, line);) out.push_back(json::parse(line));
  return out;
}

}  // namespace

TEST_CASE("A closed intake gate refuses submits until it is opened again", "[unit][daemon][decommission]") {
  CountingSink sink;
  IntakeGate gate(sink);
  gate.close();
  auto refused = gate.submit({test::sampleReading("a")});
  REQUIRE_FALSE(refused.isOk());
  CHECK(refused.status().kind() == ErrorKind::kUnavailable);
  CHECK(sink.submitted == 0);
  gate.open();
  CHECK(gate.submit({test::sampleReading("a")}).isOk());
  CHECK(sink.submitted == 1);
}

TEST_CASE("Decommission without confirmation changes nothing and never closes intake", "[unit][daemon][decommission]") {
  Fixture f;
  f.enrolAndAppend(2);
  DecommissionOptions o = f.options();
  o.confirmed = false;
  auto r = runDecommission(*f.store, *f.store, f.clock, f.hooks, o);
  REQUIRE_FALSE(r.isOk());
  CHECK(r.status().message().find("--yes") != std::string::npos);
  CHECK(f.flushes == 0);
  CHECK(f.store->listEnrolments()->size() == 1);
}

TEST_CASE("Undelivered readings without export or discard are refused, nothing is erased and intake resumes",
          "[unit][daemon][decommission]") {
  Fixture f;
  f.enrolAndAppend(2);
  auto r = runDecommission(*f.store, *f.store, f.clock, f.hooks, f.options());
  REQUIRE_FALSE(r.isOk());
  CHECK(r.status().kind() == ErrorKind::kConflict);
  CHECK(r.status().message().find("2 readings are not delivered (queued 2, held 0, dead letters 0); nothing was erased") !=
        std::string::npos);
  CHECK(f.flushes == 1);
  CHECK(f.gate.isOpen());
  CHECK(f.store->counters()->backlog == 2);
  CHECK(f.store->listEnrolments()->size() == 1);
}

TEST_CASE("Delivery that drains the queue in time leaves nothing to export, and intake is closed meanwhile",
          "[unit][daemon][decommission]") {
  Fixture f;
  f.enrolAndAppend(3);
  f.hooks.wakeDelivery = [&f] {
    f.gateOpenDuringDrain = f.gate.isOpen();
    std::lock_guard<std::mutex> round(f.deliveryMutex);  // as the delivery worker does
    auto leased = f.store->lease(10);
    std::vector<Acknowledgement> acks;
    for (const auto& l : *leased) acks.push_back({l.reading.id, l.leaseId, {{"Observation/x"}, "201"}});
    (void)f.store->ack(acks);
  };
  DecommissionOptions o = f.options();
  o.deliverTimeout = std::chrono::milliseconds(1);
  auto r = runDecommission(*f.store, *f.store, f.clock, f.hooks, o);
  REQUIRE(r.isOk());
  CHECK_FALSE(f.gateOpenDuringDrain);
  CHECK((*r)["delivery_drained"] == true);
  CHECK((*r)["erased"]["delivered"] == 3);
  CHECK((*r)["erased"]["enrolments"] == 1);
  CHECK((*r)["discarded"] == 0);
  CHECK((*r)["scrubbed"] == true);
  CHECK(f.gate.isOpen());
}

TEST_CASE("The export holds a header, every undelivered reading and an end line, then everything is erased",
          "[unit][daemon][decommission]") {
  Fixture f;
  f.enrolAndAppend(2);
  Reading held = test::sampleReading("held-1", 1700000100, Priority::kLive, "");
  held.device = *DeviceKey::parse("mqtt:stranger");
  REQUIRE(f.store->append({held}).isOk());
  std::string path = f.dir.file("export.jsonl");
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  REQUIRE(fd >= 0);
  DecommissionOptions o = f.options();
  o.exportFd = fd;
  auto r = runDecommission(*f.store, *f.store, f.clock, f.hooks, o);
  ::close(fd);
  REQUIRE(r.isOk());
  CHECK((*r)["exported"] == 3);
  CHECK((*r)["erased"]["queued"] == 2);
  CHECK((*r)["erased"]["held"] == 1);
  auto all = lines(path);
  REQUIRE(all.size() == 5);
  CHECK(all[0] == json::parse(R"({"type":"header","format":"rpm-gateway-undelivered-export","version":1,"hub":"hub-t",
                                  "exported_at":"2023-11-14T22:13:20Z","queued":2,"held":1,"dead_letters":0})"));
  CHECK(all[1]["state"] == "queued");
  CHECK(all[3]["state"] == "held");
  CHECK(all[3]["subject"].is_null());
  CHECK(all[4] == json::parse(R"({"type":"end","readings":3})"));
  CHECK(f.store->counters()->backlog == 0);
  CHECK(f.store->listEnrolments()->empty());
}

TEST_CASE("An export line carries the reading's fields as text and its exact stored bytes", "[unit][daemon][decommission]") {
  UndeliveredReading u;
  u.state = UndeliveredState::kDeadLetter;
  u.reading = test::sampleReading("0123456789abcdef0123456789abcdef");
  u.reading.producerReadingId = "r-17";
  u.storedBody = buffer::encodeReading(u.reading);
  u.httpStatus = 422;
  u.reason = "profile violation";
  u.rejectedAt = UtcInstant(std::chrono::seconds(1700000100));
  json line = exportRecord(u);
  std::string body = line["body_base64"];
  line.erase("body_base64");
  CHECK(line.dump() ==
        R"({"body_intact":true,"codec":"rpm-buffer-reading/1","components":[{"measure":"systolic","quantity":{"unit":"mm[Hg]","value":"121.5"}},)"
        R"({"measure":"diastolic","quantity":{"unit":"mm[Hg]","value":"80"}}],"dead_letter":{"http_status":422,"reason":"profile violation",)"
        R"("rejected_at":"2023-11-14T22:15:00Z"},"device":"bt:B0495F001071","effective_start":"2023-11-14T22:13:20Z",)"
        R"("id":"0123456789abcdef0123456789abcdef","kind":"blood-pressure","producer_reading_id":"r-17",)"
        R"("received_at":"2023-11-14T22:13:22Z","state":"dead_letter","subject":"Patient/p1","type":"reading","user_slot":null})");
  // The base64 body decodes to the very bytes the buffer stored.
  std::string expected;
  {
    static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const auto& b = u.storedBody;
    for (std::size_t i = 0; i < b.size(); i += 3) {
      std::uint32_t n = static_cast<std::uint32_t>(b[i]) << 16;
      if (i + 1 < b.size()) n |= static_cast<std::uint32_t>(b[i + 1]) << 8;
      if (i + 2 < b.size()) n |= b[i + 2];
      expected += kAlphabet[(n >> 18) & 63];
      expected += kAlphabet[(n >> 12) & 63];
      expected += i + 1 < b.size() ? kAlphabet[(n >> 6) & 63] : '=';
      expected += i + 2 < b.size() ? kAlphabet[n & 63] : '=';
    }
  }
  CHECK(body == expected);
}

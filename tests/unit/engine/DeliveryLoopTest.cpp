// The delivery loop over a real SQLite buffer and a scripted uplink.
#include <catch2/catch.hpp>

#include <deque>
#include <functional>

#include "buffer/SqliteBuffer.h"
#include "gateway/engine/DeliveryLoop.h"
#include "tests/support/FakeClock.h"
#include "tests/unit/buffer/BufferFixtures.h"

using namespace rpm;
using namespace rpm::engine;
using namespace std::chrono_literals;

namespace {

// Answers each deliver() call with a function of the readings it got.
class ScriptedUplink final : public Uplink {
 public:
  using Script = std::function<DeliveryOutcome(const Reading&)>;
  std::deque<Script> passes;
  std::vector<std::vector<std::string>> sent;  // reading ids per call

  std::vector<DeliveryOutcome> deliver(const std::vector<Reading>& readings) override {
    std::vector<std::string> ids;
    for (const auto& r : readings) ids.push_back(r.id);
    sent.push_back(ids);
    Script script = passes.empty() ? Script(delivered) : passes.front();
    if (!passes.empty()) passes.pop_front();
    std::vector<DeliveryOutcome> out;
    for (const auto& r : readings) out.push_back(script(r));
    return out;
  }
  static DeliveryOutcome delivered(const Reading& r) {
    DeliveryOutcome o;
    o.verdict = DeliveryVerdict::kDelivered;
    o.receipt.resourceIds = {"Observation/" + r.id};
    return o;
  }
  static DeliveryOutcome down(const Reading&) {
    DeliveryOutcome o;
    o.verdict = DeliveryVerdict::kRetry;
    o.reason = Status(ErrorKind::kUnavailable, "FHIR server: Couldn't connect to server");
    return o;
  }
};

struct Fixture {
  test::TempDir dir;
  test::FakeClock clock;
  std::unique_ptr<buffer::SqliteBuffer> store;
  ScriptedUplink uplink;
  DeliveryLoopOptions options;
  std::unique_ptr<DeliveryLoop> loop;

  Fixture() {
    buffer::BufferOptions o;
    o.path = dir.file("buffer.db");
    store = std::move(buffer::SqliteBuffer::open(o, clock)).value();
    options.batchSize = 10;
    options.backoffBase = 1000ms;
    options.backoffCap = 60000ms;
    options.haltPause = 300000ms;
    options.idlePoll = 30000ms;
    // Jitter draws its ceiling: exact, reproducible delays.
    loop = std::make_unique<DeliveryLoop>(*store, uplink, clock, options, [](std::uint64_t n) { return n; });
  }
  void add(int n) {
    std::vector<Reading> rs;
    for (int i = 0; i < n; ++i) rs.push_back(test::sampleReading("r" + std::to_string(i), 1700000000 + i));
    REQUIRE(store->append(rs).isOk());
  }
  std::uint64_t backlog() { return store->counters()->backlog; }
};

}  // namespace

TEST_CASE("A reachable server gets every reading once and the queue drains", "[unit][delivery]") {
  Fixture f;
  f.add(3);
  CHECK(f.loop->runOnce() == 0ms);
  CHECK(f.backlog() == 0);
  CHECK(f.loop->runOnce() == f.options.idlePoll);  // nothing left
  REQUIRE(f.uplink.sent.size() == 1);
  CHECK(f.uplink.sent[0].size() == 3);
  CHECK(f.loop->health().delivered == 3);
  CHECK(f.loop->health().lastDeliveryAt == f.clock.now());
}

TEST_CASE("A server that is down is retried with growing backoff, never earlier", "[unit][delivery]") {
  Fixture f;
  f.add(2);
  f.uplink.passes = {ScriptedUplink::down, ScriptedUplink::down};
  CHECK(f.loop->runOnce() == 1000ms);
  CHECK(f.loop->runOnce() == f.options.idlePoll);  // not due yet: nothing leased, nothing sent
  CHECK(f.uplink.sent.size() == 1);
  f.clock.advance(1000ms);
  CHECK(f.loop->runOnce() == 2000ms);  // second consecutive failure
  CHECK(f.loop->health().consecutiveFailures == 2);
  CHECK(f.loop->health().lastErrorKind == ErrorKind::kUnavailable);
  f.clock.advance(2000ms);
  CHECK(f.loop->runOnce() == 0ms);  // back: delivered, backoff reset
  CHECK(f.backlog() == 0);
  CHECK(f.loop->health().consecutiveFailures == 0);
  CHECK(f.uplink.sent.size() == 3);
}

TEST_CASE("Retry-After is honoured: no request before it", "[unit][delivery]") {
  Fixture f;
  f.add(1);
  f.uplink.passes = {[](const Reading& r) {
    DeliveryOutcome o = ScriptedUplink::down(r);
    o.serverDelay = 30s;
    return o;
  }};
  CHECK(f.loop->runOnce() == 30000ms);
  f.clock.advance(29s);
  f.loop->runOnce();
  CHECK(f.uplink.sent.size() == 1);
  f.clock.advance(1s);
  f.loop->runOnce();
  CHECK(f.uplink.sent.size() == 2);
  CHECK(f.backlog() == 0);
}

TEST_CASE("A poison reading is dead-lettered and the rest are delivered", "[unit][delivery]") {
  Fixture f;
  f.add(3);
  f.uplink.passes = {[](const Reading& r) {
    if (r.id != "r1") return ScriptedUplink::delivered(r);
    DeliveryOutcome o;
    o.verdict = DeliveryVerdict::kReject;
    o.rejection = Rejection{422, "HTTP 422: vs-2"};
    return o;
  }};
  f.loop->runOnce();
  auto counters = *f.store->counters();
  CHECK(counters.backlog == 0);
  CHECK(counters.deadLetters == 1);
  auto dead = f.store->listDeadLetters(10);
  REQUIRE(dead.isOk());
  REQUIRE(dead->size() == 1);
  CHECK(f.loop->health().rejected == 1);
  CHECK(f.loop->health().delivered == 2);
}

TEST_CASE("A misconfigured destination pauses delivery instead of looping", "[unit][delivery]") {
  Fixture f;
  f.add(2);
  f.uplink.passes = {[](const Reading&) {
    DeliveryOutcome o;
    o.verdict = DeliveryVerdict::kHalt;
    o.reason = Status(ErrorKind::kForbidden, "FHIR server answered 403: check scopes");
    return o;
  }};
  CHECK(f.loop->runOnce() == f.options.haltPause);
  CHECK(f.loop->health().halted);
  CHECK(f.loop->health().lastErrorKind == ErrorKind::kForbidden);
  f.clock.advance(299s);
  f.loop->runOnce();
  CHECK(f.uplink.sent.size() == 1);  // no busy loop
  f.clock.advance(1s);
  f.loop->runOnce();
  CHECK(f.uplink.sent.size() == 2);
  CHECK_FALSE(f.loop->health().halted);
  CHECK(f.backlog() == 0);
}

TEST_CASE("When only some entries fail, each waits by its own attempts", "[unit][delivery]") {
  Fixture f;
  f.add(2);
  f.uplink.passes = {[](const Reading& r) {
    return r.id == "r0" ? ScriptedUplink::delivered(r) : ScriptedUplink::down(r);
  }};
  CHECK(f.loop->runOnce() == 0ms);  // the destination works
  CHECK(f.backlog() == 1);
  f.clock.advance(999ms);
  f.loop->runOnce();
  CHECK(f.uplink.sent.size() == 1);
  f.clock.advance(1ms);
  f.loop->runOnce();
  CHECK(f.uplink.sent.size() == 2);
  CHECK(f.backlog() == 0);
}

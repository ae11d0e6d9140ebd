#include "drivers/glucose/GlucoseParser.h"
#include "drivers/glucose/RecordAccessControlPoint.h"
#include "tests/unit/drivers/DecoderTestSupport.h"

using namespace rpm;
using namespace rpm::test;
using namespace rpm::drivers::glucose;

namespace {
std::vector<std::uint8_t> build(const RacpRequest& request) {
  auto r = buildRacpRequest(request);
  REQUIRE(r.isOk());
  return *r;
}
}  // namespace

TEST_CASE("RACP requests are built byte for byte", "[unit][racp]") {
  CHECK(build({RacpOpCode::kReportStoredRecords, RacpOperator::kAllRecords, {}, 0, 0, {}, {}}) == hex("01 01"));
  CHECK(build({RacpOpCode::kReportNumberOfStoredRecords, RacpOperator::kAllRecords, {}, 0, 0, {}, {}}) ==
        hex("04 01"));
  CHECK(build({RacpOpCode::kAbortOperation, RacpOperator::kNull, {}, 0, 0, {}, {}}) == hex("03 00"));
  CHECK(build({RacpOpCode::kReportStoredRecords, RacpOperator::kLastRecord, {}, 0, 0, {}, {}}) == hex("01 06"));
  // "≥ lastSeq + 1" with lastSeq = 0x0101.
  CHECK(build({RacpOpCode::kReportStoredRecords, RacpOperator::kGreaterOrEqual, RacpFilterType::kSequenceNumber,
               0x0102, 0, {}, {}}) == hex("01 03 01 02 01"));
  CHECK(build({RacpOpCode::kReportNumberOfStoredRecords, RacpOperator::kLessOrEqual,
               RacpFilterType::kSequenceNumber, 0, 7, {}, {}}) == hex("04 02 01 07 00"));
  CHECK(build({RacpOpCode::kDeleteStoredRecords, RacpOperator::kWithinRange, RacpFilterType::kSequenceNumber, 5,
               10, {}, {}}) == hex("02 04 01 05 00 0A 00"));
  CHECK(build({RacpOpCode::kReportStoredRecords, RacpOperator::kWithinRange, RacpFilterType::kUserFacingTime, 0, 0,
               LocalDateTime{2024, 5, 6, 8, 9, 10, 0}, LocalDateTime{2024, 5, 7, 0, 0, 0, 0}}) ==
        hex("01 04 02 E8 07 05 06 08 09 0A E8 07 05 07 00 00 00"));
}

TEST_CASE("Impossible RACP requests are refused", "[unit][racp]") {
  auto refused = [](const RacpRequest& q) {
    auto r = buildRacpRequest(q);
    REQUIRE_FALSE(r.isOk());
    CHECK(r.status().kind() == ErrorKind::kInvalidArgument);
  };
  refused({RacpOpCode::kAbortOperation, RacpOperator::kAllRecords, {}, 0, 0, {}, {}});
  refused({RacpOpCode::kResponseCode, RacpOperator::kNull, {}, 0, 0, {}, {}});
  refused({RacpOpCode::kReportStoredRecords, RacpOperator::kNull, {}, 0, 0, {}, {}});
  refused({RacpOpCode::kReportStoredRecords, RacpOperator::kWithinRange, RacpFilterType::kSequenceNumber, 10, 5, {},
           {}});
  refused({RacpOpCode::kReportStoredRecords, RacpOperator::kGreaterOrEqual, RacpFilterType::kUserFacingTime, 0, 0,
           LocalDateTime{2024, 2, 30, 0, 0, 0, 0}, {}});
}

TEST_CASE("RACP responses are parsed", "[unit][racp]") {
  auto count = parseRacp(hex("05 00 0A 01"));
  REQUIRE(count.isOk());
  CHECK(count->opCode == RacpOpCode::kNumberOfStoredRecordsResponse);
  CHECK(count->numberOfRecords == std::optional<std::uint32_t>(0x010A));
  struct Case { const char* bytes; RacpOpCode request; RacpResponseValue value; };
  for (const Case& k : {Case{"06 00 01 01", RacpOpCode::kReportStoredRecords, RacpResponseValue::kSuccess},
                        Case{"06 00 01 06", RacpOpCode::kReportStoredRecords, RacpResponseValue::kNoRecordsFound},
                        Case{"06 00 01 04", RacpOpCode::kReportStoredRecords, RacpResponseValue::kOperatorNotSupported},
                        Case{"06 00 01 09", RacpOpCode::kReportStoredRecords, RacpResponseValue::kOperandNotSupported},
                        Case{"06 00 03 01", RacpOpCode::kAbortOperation, RacpResponseValue::kSuccess},
                        Case{"06 00 04 02", RacpOpCode::kReportNumberOfStoredRecords,
                             RacpResponseValue::kOpCodeNotSupported}}) {
    INFO(k.bytes);
    auto r = parseRacp(hex(k.bytes));
    REQUIRE(r.isOk());
    CHECK(r->opCode == RacpOpCode::kResponseCode);
    CHECK(r->requestOpCode == std::optional<RacpOpCode>(k.request));
    CHECK(r->responseValue == std::optional<RacpResponseValue>(k.value));
  }
}

TEST_CASE("Built RACP requests parse back to the same request", "[unit][racp]") {
  RacpRequest q{RacpOpCode::kReportStoredRecords, RacpOperator::kWithinRange, RacpFilterType::kUserFacingTime, 0, 0,
                LocalDateTime{2024, 5, 6, 8, 9, 10, 0}, LocalDateTime{2024, 5, 7, 0, 0, 0, 0}};
  auto parsed = parseRacp(build(q));
  REQUIRE(parsed.isOk());
  REQUIRE(parsed->request);
  CHECK(parsed->request->minTime == q.minTime);
  CHECK(parsed->request->maxTime == q.maxTime);
  auto seq = parseRacp(hex("01 03 01 02 01"));
  REQUIRE(seq.isOk());
  CHECK(seq->request->minValue == 0x0102);
}

TEST_CASE("RACP frames decode to fields through the glucose driver", "[unit][racp]") {
  auto r = decode(kRecordAccessControlPoint, hex("06 00 01 06"), decoderContext());
  REQUIRE(r.isOk());
  CHECK(r->readings.empty());
  CHECK(fieldValue(*r, "op-code") == "response-code");
  CHECK(fieldValue(*r, "request-op-code") == "report-stored-records");
  CHECK(fieldValue(*r, "response-value") == "no-records-found");
  auto request = decode(kRecordAccessControlPoint, hex("01 04 01 05 00 0A 00"), decoderContext());
  REQUIRE(request.isOk());
  CHECK(fieldValue(*request, "operator") == "within-range");
  CHECK(fieldValue(*request, "minimum") == "5");
  CHECK(fieldValue(*request, "maximum") == "10");
  auto number = decode(kRecordAccessControlPoint, hex("05 00 0A 00"), decoderContext());
  REQUIRE(number.isOk());
  CHECK(fieldValue(*number, "number-of-records") == "10");
}

TEST_CASE("Malformed RACP frames are typed errors naming the problem", "[unit][racp]") {
  const std::string m = "Record Access Control Point (0x2A52): ";
  for (auto [bytes, problem] : std::vector<std::pair<const char*, const char*>>{
           {"", "empty value"},
           {"01", "too short for the operator"},
           {"07 00", "reserved op code"},
           {"00 00", "reserved op code"},
           {"01 07", "reserved operator"},
           {"05 01 0A 00", "response with an operator other than null"},
           {"05 00 0A", "too short for the number of records"},
           {"06 00 01", "too short for the response code"},
           {"06 00 00 01", "response to a reserved request op code"},
           {"05 00 03 02 01", "unexpected trailing bytes"},
           {"06 00 01 0A", "reserved response value"},
           {"06 00 01 00", "reserved response value"},
           {"01 00", "request with the null operator"},
           {"03 01", "abort with an operator other than null"},
           {"01 03", "too short for the filter type"},
           {"01 03 03 00 00", "reserved filter type"},
           {"01 03 01 05", "too short for the filter operand"},
           {"01 04 02 E8 07 05 06 08 09 0A E8 07", "too short for the filter operand"},
           {"01 03 02 E8 07 0D 06 08 09 0A", "impossible date or time in the filter operand"},
           {"01 04 01 0A 00 05 00", "range minimum above its maximum"},
           {"01 03 02 00 00 00 00 00 00 00", "unknown date in the filter operand"},
           {"06 00 01 01 00", "unexpected trailing bytes"},
           {"01 01 00", "unexpected trailing bytes"}}) {
    requireMalformed(decode, kRecordAccessControlPoint, bytes, m + problem);
  }
}

// Cross-check: the literal frames of NordicSemiconductor/Android-BLE-Common-Library
// RecordAccessControlPointDataCallbackTest. Nordic also accepts a one-byte
// record count and response value 10; both are outside the GLS/CGMS/PLXS
// frames and refused here.
TEST_CASE("Nordic's RACP response frames parse the same way", "[unit][racp]") {
  auto completed = parseRacp({6, 0, 1, 1});
  REQUIRE(completed.isOk());
  CHECK(completed->responseValue == std::optional<RacpResponseValue>(RacpResponseValue::kSuccess));
  auto unsupported = parseRacp({6, 0, 12, 2});
  REQUIRE(unsupported.isOk());
  CHECK(static_cast<int>(*unsupported->requestOpCode) == 12);
  CHECK(unsupported->responseValue == std::optional<RacpResponseValue>(RacpResponseValue::kOpCodeNotSupported));
  auto r = decode(kRecordAccessControlPoint, {6, 0, 12, 2}, decoderContext());
  REQUIRE(r.isOk());
  CHECK(fieldValue(*r, "request-op-code") == "unknown (0x0C)");
  for (int value = 3; value <= 9; ++value) {
    auto e = parseRacp({6, 0, 2, std::uint8_t(value)});
    REQUIRE(e.isOk());
    CHECK(static_cast<int>(*e->responseValue) == value);
  }
  CHECK(parseRacp({5, 0, 2, 1})->numberOfRecords == std::optional<std::uint32_t>(258));
  CHECK(parseRacp({5, 0, 4, 3, 2, 1})->numberOfRecords == std::optional<std::uint32_t>(16909060));
  CHECK_FALSE(parseRacp({5, 0, 3, 2, 1}).isOk());
  CHECK_FALSE(parseRacp({6, 1, 1}).isOk());
  CHECK_FALSE(parseRacp({5, 0, 1}).isOk());
  CHECK_FALSE(parseRacp({6, 0, 1, 10}).isOk());
}

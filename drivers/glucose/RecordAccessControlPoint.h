// Record Access Control Point (0x2A52): requests the gateway writes and the
// responses devices indicate. GLS, CGMS and PLXS share the frame
// (shared health-devices-to-fhir.md §3.1.4).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "gateway/model/Status.h"
#include "gateway/model/Time.h"

namespace rpm::drivers::glucose {

enum class RacpOpCode : std::uint8_t {
  kReportStoredRecords = 0x01,
  kDeleteStoredRecords = 0x02,
  kAbortOperation = 0x03,
  kReportNumberOfStoredRecords = 0x04,
  kNumberOfStoredRecordsResponse = 0x05,
  kResponseCode = 0x06,
};

enum class RacpOperator : std::uint8_t {
  kNull = 0x00,
  kAllRecords = 0x01,
  kLessOrEqual = 0x02,
  kGreaterOrEqual = 0x03,
  kWithinRange = 0x04,
  kFirstRecord = 0x05,
  kLastRecord = 0x06,
};

// 0x01: sequence number (GLS) or time offset (CGMS), u16; 0x02: user-facing
// time (GLS), Date Time.
enum class RacpFilterType : std::uint8_t { kSequenceNumber = 0x01, kUserFacingTime = 0x02 };

enum class RacpResponseValue : std::uint8_t {
  kSuccess = 0x01,
  kOpCodeNotSupported = 0x02,
  kInvalidOperator = 0x03,
  kOperatorNotSupported = 0x04,
  kInvalidOperand = 0x05,
  kNoRecordsFound = 0x06,
  kAbortUnsuccessful = 0x07,
  kProcedureNotCompleted = 0x08,
  kOperandNotSupported = 0x09,
};

// A request. ≤ uses the max* bound, ≥ the min* bound, within-range both.
struct RacpRequest {
  RacpOpCode opCode = RacpOpCode::kReportStoredRecords;
  RacpOperator op = RacpOperator::kAllRecords;
  RacpFilterType filterType = RacpFilterType::kSequenceNumber;
  std::uint16_t minValue = 0;
  std::uint16_t maxValue = 0;
  LocalDateTime minTime;
  LocalDateTime maxTime;
};

// Bytes of a request; kInvalidArgument for combinations the frame does not
// allow (abort with an operator, a response op code, min > max, bad time).
Result<std::vector<std::uint8_t>> buildRacpRequest(const RacpRequest& request);

// Any RACP frame, parsed (requests too, for "rpm-gateway decode").
struct RacpMessage {
  RacpOpCode opCode = RacpOpCode::kResponseCode;
  RacpOperator op = RacpOperator::kNull;
  std::optional<RacpRequest> request;                 // op codes 0x01-0x04
  std::optional<std::uint32_t> numberOfRecords;       // op code 0x05 (u16, or u32 from newer services)
  std::optional<RacpOpCode> requestOpCode;            // op code 0x06
  std::optional<RacpResponseValue> responseValue;     // op code 0x06
};

// kMalformedPayload "Record Access Control Point (0x2A52): ..." for unknown
// op codes, operators, filter types, response values, short or long frames.
Result<RacpMessage> parseRacp(const std::vector<std::uint8_t>& bytes);

const char* racpOpCodeName(RacpOpCode code);
const char* racpOperatorName(RacpOperator op);
const char* racpResponseValueName(RacpResponseValue value);

}  // namespace rpm::drivers::glucose

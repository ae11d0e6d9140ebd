#include "drivers/glucose/RecordAccessControlPoint.h"

#include "drivers/common/ByteReader.h"
#include "drivers/common/DecodeSupport.h"

namespace rpm::drivers::glucose {
namespace {

constexpr const char* kLabel = "Record Access Control Point (0x2A52)";

bool needsOneBound(RacpOperator op) { return op == RacpOperator::kLessOrEqual || op == RacpOperator::kGreaterOrEqual; }
bool needsFilter(RacpOperator op) { return needsOneBound(op) || op == RacpOperator::kWithinRange; }

void putTime(std::vector<std::uint8_t>& out, const LocalDateTime& t) {
  out.push_back(static_cast<std::uint8_t>(t.year & 0xFF));
  out.push_back(static_cast<std::uint8_t>(t.year >> 8));
  for (int v : {t.month, t.day, t.hour, t.minute, t.second}) out.push_back(static_cast<std::uint8_t>(v));
}

void putU16(std::vector<std::uint8_t>& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v & 0xFF));
  out.push_back(static_cast<std::uint8_t>(v >> 8));
}

}  // namespace

const char* racpOpCodeName(RacpOpCode code) {
  switch (code) {
    case RacpOpCode::kReportStoredRecords: return "report-stored-records";
    case RacpOpCode::kDeleteStoredRecords: return "delete-stored-records";
    case RacpOpCode::kAbortOperation: return "abort-operation";
    case RacpOpCode::kReportNumberOfStoredRecords: return "report-number-of-stored-records";
    case RacpOpCode::kNumberOfStoredRecordsResponse: return "number-of-stored-records-response";
    case RacpOpCode::kResponseCode: return "response-code";
  }
  return "unknown";
}

const char* racpOperatorName(RacpOperator op) {
  switch (op) {
    case RacpOperator::kNull: return "null";
    case RacpOperator::kAllRecords: return "all-records";
    case RacpOperator::kLessOrEqual: return "less-or-equal";
    case RacpOperator::kGreaterOrEqual: return "greater-or-equal";
    case RacpOperator::kWithinRange: return "within-range";
    case RacpOperator::kFirstRecord: return "first-record";
    case RacpOperator::kLastRecord: return "last-record";
  }
  return "unknown";
}

const char* racpResponseValueName(RacpResponseValue value) {
  switch (value) {
    case RacpResponseValue::kSuccess: return "success";
    case RacpResponseValue::kOpCodeNotSupported: return "op-code-not-supported";
    case RacpResponseValue::kInvalidOperator: return "invalid-operator";
    case RacpResponseValue::kOperatorNotSupported: return "operator-not-supported";
    case RacpResponseValue::kInvalidOperand: return "invalid-operand";
    case RacpResponseValue::kNoRecordsFound: return "no-records-found";
    case RacpResponseValue::kAbortUnsuccessful: return "abort-unsuccessful";
    case RacpResponseValue::kProcedureNotCompleted: return "procedure-not-completed";
    case RacpResponseValue::kOperandNotSupported: return "operand-not-supported";
  }
  return "unknown";
}

Result<std::vector<std::uint8_t>> buildRacpRequest(const RacpRequest& request) {
  auto invalid = [](const char* why) { return Status(ErrorKind::kInvalidArgument, std::string("RACP request: ") + why); };
  const auto code = static_cast<std::uint8_t>(request.opCode);
  if (code < 0x01 || code > 0x04) return invalid("op code is not a request");
  const auto op = static_cast<std::uint8_t>(request.op);
  if (request.opCode == RacpOpCode::kAbortOperation) {
    if (request.op != RacpOperator::kNull) return invalid("abort takes the null operator");
    return std::vector<std::uint8_t>{code, op};
  }
  if (op < 0x01 || op > 0x06) return invalid("operator is not valid for this op code");
  std::vector<std::uint8_t> out{code, op};
  if (!needsFilter(request.op)) return out;
  out.push_back(static_cast<std::uint8_t>(request.filterType));
  if (request.filterType == RacpFilterType::kSequenceNumber) {
    if (request.op == RacpOperator::kWithinRange && request.minValue > request.maxValue) {
      return invalid("range minimum above its maximum");
    }
    if (request.op != RacpOperator::kLessOrEqual) putU16(out, request.minValue);
    if (request.op != RacpOperator::kGreaterOrEqual) putU16(out, request.maxValue);
    return out;
  }
  if (request.filterType != RacpFilterType::kUserFacingTime) return invalid("unknown filter type");
  const bool useMin = request.op != RacpOperator::kLessOrEqual;
  const bool useMax = request.op != RacpOperator::kGreaterOrEqual;
  if ((useMin && !request.minTime.isValid()) || (useMax && !request.maxTime.isValid())) {
    return invalid("filter time is not a valid date and time");
  }
  if (useMin) putTime(out, request.minTime);
  if (useMax) putTime(out, request.maxTime);
  return out;
}

Result<RacpMessage> parseRacp(const std::vector<std::uint8_t>& bytes) {
  ByteReader r(bytes);
  std::uint8_t code = 0, op = 0;
  if (!r.u8(code)) return malformed(kLabel, "empty value");
  if (!r.u8(op)) return malformed(kLabel, "too short for the operator");
  if (code < 0x01 || code > 0x06) return malformed(kLabel, "reserved op code");
  if (op > 0x06) return malformed(kLabel, "reserved operator");
  RacpMessage m;
  m.opCode = static_cast<RacpOpCode>(code);
  m.op = static_cast<RacpOperator>(op);
  switch (m.opCode) {
    case RacpOpCode::kNumberOfStoredRecordsResponse: {
      if (m.op != RacpOperator::kNull) return malformed(kLabel, "response with an operator other than null");
      // u16 in GLS, CGMS and PLXS; newer record-access services send u32.
      if (r.remaining() == 4) {
        std::uint32_t count = 0;
        r.u32(count);
        m.numberOfRecords = count;
      } else {
        std::uint16_t count = 0;
        if (!r.u16(count)) return malformed(kLabel, "too short for the number of records");
        m.numberOfRecords = count;
      }
      break;
    }
    case RacpOpCode::kResponseCode: {
      if (m.op != RacpOperator::kNull) return malformed(kLabel, "response with an operator other than null");
      std::uint8_t request = 0, value = 0;
      if (!r.u8(request) || !r.u8(value)) return malformed(kLabel, "too short for the response code");
      // Any op code may be echoed: "op code not supported" answers requests
      // the device does not know.
      if (request == 0x00) return malformed(kLabel, "response to a reserved request op code");
      if (value < 0x01 || value > 0x09) return malformed(kLabel, "reserved response value");
      m.requestOpCode = static_cast<RacpOpCode>(request);
      m.responseValue = static_cast<RacpResponseValue>(value);
      break;
    }
    case RacpOpCode::kAbortOperation:
      if (m.op != RacpOperator::kNull) return malformed(kLabel, "abort with an operator other than null");
      m.request = RacpRequest{m.opCode, m.op, RacpFilterType::kSequenceNumber, 0, 0, {}, {}};
      break;
    default: {
      if (m.op == RacpOperator::kNull) return malformed(kLabel, "request with the null operator");
      RacpRequest req;
      req.opCode = m.opCode;
      req.op = m.op;
      if (needsFilter(m.op)) {
        std::uint8_t type = 0;
        if (!r.u8(type)) return malformed(kLabel, "too short for the filter type");
        const bool useMin = m.op != RacpOperator::kLessOrEqual;
        const bool useMax = m.op != RacpOperator::kGreaterOrEqual;
        if (type == 0x01) {
          req.filterType = RacpFilterType::kSequenceNumber;
          if ((useMin && !r.u16(req.minValue)) || (useMax && !r.u16(req.maxValue))) {
            return malformed(kLabel, "too short for the filter operand");
          }
          if (m.op == RacpOperator::kWithinRange && req.minValue > req.maxValue) {
            return malformed(kLabel, "range minimum above its maximum");
          }
        } else if (type == 0x02) {
          req.filterType = RacpFilterType::kUserFacingTime;
          if (useMin) {
            if (auto bad = readDateTimeField(r, kLabel, "filter operand", req.minTime)) return *bad;
            if (!req.minTime.isKnown()) return malformed(kLabel, "unknown date in the filter operand");
          }
          if (useMax) {
            if (auto bad = readDateTimeField(r, kLabel, "filter operand", req.maxTime)) return *bad;
            if (!req.maxTime.isKnown()) return malformed(kLabel, "unknown date in the filter operand");
          }
        } else {
          return malformed(kLabel, "reserved filter type");
        }
      }
      m.request = req;
      break;
    }
  }
  if (!r.atEnd()) return malformed(kLabel, "unexpected trailing bytes");
  return m;
}

}  // namespace rpm::drivers::glucose

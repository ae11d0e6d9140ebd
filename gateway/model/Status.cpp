#include "gateway/model/Status.h"

namespace rpm {

std::string_view errorKindName(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kOk: return "ok";
    case ErrorKind::kInvalidArgument: return "invalid-argument";
    case ErrorKind::kMalformedPayload: return "malformed-payload";
    case ErrorKind::kUnsupported: return "unsupported";
    case ErrorKind::kConfigInvalid: return "config-invalid";
    case ErrorKind::kIo: return "io";
    case ErrorKind::kNotFound: return "not-found";
    case ErrorKind::kDuplicate: return "duplicate";
    case ErrorKind::kStorageFull: return "storage-full";
    case ErrorKind::kCorrupt: return "corrupt";
    case ErrorKind::kTimeout: return "timeout";
    case ErrorKind::kUnavailable: return "unavailable";
    case ErrorKind::kUnauthorized: return "unauthorized";
    case ErrorKind::kForbidden: return "forbidden";
    case ErrorKind::kRejected: return "rejected";
    case ErrorKind::kConflict: return "conflict";
    case ErrorKind::kInternal: return "internal";
    case ErrorKind::kNotBound: return "not-bound";
  }
  return "unknown";
}

std::string Status::toString() const {
  std::string out(errorKindName(kind_));
  if (!message_.empty()) {
    out += ": ";
    out += message_;
  }
  return out;
}

}  // namespace rpm

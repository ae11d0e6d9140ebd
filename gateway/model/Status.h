// Status and Result: how every port reports failure. No exception crosses a port.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace rpm {

// Closed, append-only error kinds. Never renumber: values are stored and counted.
enum class ErrorKind : std::uint16_t {
  kOk = 0,
  kInvalidArgument = 1,    // a caller passed something impossible
  kMalformedPayload = 2,   // bytes or JSON from a device that do not decode
  kUnsupported = 3,        // valid but not handled (reserved unit, unknown opcode)
  kConfigInvalid = 4,      // configuration file or key problem
  kIo = 5,                 // file system or socket failure
  kNotFound = 6,
  kDuplicate = 7,          // already stored (idempotent ingest)
  kStorageFull = 8,        // buffer at its cap or disk full
  kCorrupt = 9,            // a database or file failed its integrity check
  kTimeout = 10,
  kUnavailable = 11,       // peer down, connection refused, service not running
  kUnauthorized = 12,
  kForbidden = 13,
  kRejected = 14,          // the peer refused this item for good (4xx)
  kConflict = 15,
  kInternal = 16,          // a broken invariant caught at a boundary
  kNotBound = 17,          // reading from a device with no patient binding
};

// Stable lower-case name of an error kind, used in logs, metrics and status.
std::string_view errorKindName(ErrorKind kind);

// A failure with a kind and a message. Messages name the problem and where it
// came from (a characteristic, a config key, a file) and never contain
// measured values, identifiers of people or devices, or secrets.
class Status {
 public:
  Status() = default;
  Status(ErrorKind kind, std::string message) : kind_(kind), message_(std::move(message)) {}

  static Status ok() { return Status(); }
  bool isOk() const { return kind_ == ErrorKind::kOk; }
  ErrorKind kind() const { return kind_; }
  const std::string& message() const { return message_; }
  // "<kind>: <message>"
  std::string toString() const;

 private:
  ErrorKind kind_ = ErrorKind::kOk;
  std::string message_;
};

// Either a value or a failed Status.
template <typename T>
class Result {
 public:
  Result(T value) : data_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : data_(std::move(status)) {}  // NOLINT(google-explicit-constructor)

  bool isOk() const { return std::holds_alternative<T>(data_); }
  explicit operator bool() const { return isOk(); }
  const T& value() const& { return std::get<T>(data_); }
  T& value() & { return std::get<T>(data_); }
  T&& value() && { return std::get<T>(std::move(data_)); }
  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }
  // The failure; an ok Status when a value is held.
  Status status() const { return isOk() ? Status::ok() : std::get<Status>(data_); }

 private:
  std::variant<T, Status> data_;
};

}  // namespace rpm

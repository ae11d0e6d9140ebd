// Log: the gateway's one logging choke point.
//
// Lines go to stderr with systemd priority prefixes ("<6>buffer: stored
// count=3"). Messages and field names must be string literals, and field
// values are limited to numbers, literals, device aliases and error kinds, so
// a measured value, patient id, address, serial or token cannot be passed by
// accident. Status messages are PHI-free by contract (model/Status.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>

#include "gateway/model/DeviceAlias.h"
#include "gateway/model/Status.h"

namespace rpm::log {

enum class Level : int { kError = 3, kWarning = 4, kNotice = 5, kInfo = 6, kDebug = 7 };

// Parses "error", "warning", "notice", "info", "debug".
bool parseLevel(std::string_view text, Level& out);

// A compile-time string literal. There is deliberately no constructor from
// std::string: dynamic text cannot reach a log line through this type.
class Text {
 public:
  template <std::size_t N>
  constexpr Text(const char (&literal)[N]) : text_(literal, N - 1) {}  // NOLINT(google-explicit-constructor)
  constexpr std::string_view view() const { return text_; }

 private:
  std::string_view text_;
};

class Field {
 public:
  Field(Text name, std::int64_t value);
  Field(Text name, std::uint64_t value);
  Field(Text name, int value) : Field(name, static_cast<std::int64_t>(value)) {}
  Field(Text name, unsigned value) : Field(name, static_cast<std::uint64_t>(value)) {}
  Field(Text name, long long value) : Field(name, static_cast<std::int64_t>(value)) {}
  Field(Text name, unsigned long long value) : Field(name, static_cast<std::uint64_t>(value)) {}
  Field(Text name, bool value);
  Field(Text name, Text literal);
  // A literal value ("ready"); without this, a literal would convert to bool.
  template <std::size_t N>
  Field(Text name, const char (&literal)[N]) : Field(name, Text(literal)) {}
  Field(Text name, const DeviceAlias& alias);
  Field(Text name, ErrorKind kind);
  Field(Text name, const Status& status);

  // Text from a source reviewed to carry no PHI or secret (a library's error
  // string, a config key name, a file name). The call site is the review.
  static Field reviewed(Text name, std::string text);

  std::string_view name() const { return name_.view(); }
  const std::string& value() const { return value_; }

 private:
  Field(Text name, std::string value, int /*tag*/) : name_(name), value_(std::move(value)) {}
  Text name_;
  std::string value_;
};

// Writes one line if level passes the threshold.
void write(Level level, Text component, Text event, std::initializer_list<Field> fields = {});

inline void error(Text c, Text e, std::initializer_list<Field> f = {}) { write(Level::kError, c, e, f); }
inline void warning(Text c, Text e, std::initializer_list<Field> f = {}) { write(Level::kWarning, c, e, f); }
inline void notice(Text c, Text e, std::initializer_list<Field> f = {}) { write(Level::kNotice, c, e, f); }
inline void info(Text c, Text e, std::initializer_list<Field> f = {}) { write(Level::kInfo, c, e, f); }
inline void debug(Text c, Text e, std::initializer_list<Field> f = {}) { write(Level::kDebug, c, e, f); }

void setLevel(Level level);
Level level();

// Replaces the sink (default: stderr). Tests capture lines with it. Pass an
// empty function to restore stderr.
using Sink = std::function<void(std::string_view line)>;
void setSinkForTest(Sink sink);

// Formats a line without writing it (exposed for tests).
std::string formatLine(Level level, Text component, Text event, std::initializer_list<Field> fields);

}  // namespace rpm::log

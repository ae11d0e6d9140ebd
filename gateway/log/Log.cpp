#include "gateway/log/Log.h"

#include <atomic>
#include <cstdio>
#include <mutex>

namespace rpm::log {
namespace {

std::atomic<int> gLevel{static_cast<int>(Level::kInfo)};
std::mutex gSinkMutex;
Sink gSink;  // guarded by gSinkMutex; empty means stderr

// Values with spaces, quotes or '=' are quoted so lines stay machine-readable.
std::string quoteIfNeeded(const std::string& v) {
  bool needs = v.empty();
  for (char c : v) {
    if (c == ' ' || c == '"' || c == '=' || c == '\n' || c == '\t') needs = true;
  }
  if (!needs) return v;
  std::string out = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c == '\n' || c == '\t' ? ' ' : c);
  }
  out.push_back('"');
  return out;
}

}  // namespace

bool parseLevel(std::string_view text, Level& out) {
  if (text == "error") out = Level::kError;
  else if (text == "warning") out = Level::kWarning;
  else if (text == "notice") out = Level::kNotice;
  else if (text == "info") out = Level::kInfo;
  else if (text == "debug") out = Level::kDebug;
  else return false;
  return true;
}

Field::Field(Text name, std::int64_t value) : name_(name), value_(std::to_string(value)) {}
Field::Field(Text name, std::uint64_t value) : name_(name), value_(std::to_string(value)) {}
Field::Field(Text name, bool value) : name_(name), value_(value ? "true" : "false") {}
Field::Field(Text name, Text literal) : name_(name), value_(literal.view()) {}
Field::Field(Text name, const DeviceAlias& alias) : name_(name), value_(alias.text()) {}
Field::Field(Text name, ErrorKind kind) : name_(name), value_(errorKindName(kind)) {}
Field::Field(Text name, const Status& status) : name_(name), value_(status.toString()) {}

Field Field::reviewed(Text name, std::string text) { return Field(name, std::move(text), 0); }

std::string formatLine(Level level, Text component, Text event, std::initializer_list<Field> fields) {
  std::string line = "<" + std::to_string(static_cast<int>(level)) + ">";
  line += component.view();
  line += ": ";
  line += event.view();
  for (const auto& f : fields) {
    line += ' ';
    line += f.name();
    line += '=';
    line += quoteIfNeeded(f.value());
  }
  return line;
}

void write(Level level, Text component, Text event, std::initializer_list<Field> fields) {
  if (static_cast<int>(level) > gLevel.load(std::memory_order_relaxed)) return;
  std::string line = formatLine(level, component, event, fields);
  std::lock_guard<std::mutex> lock(gSinkMutex);
  if (gSink) {
    gSink(line);
  } else {
    line.push_back('\n');
    std::fwrite(line.data(), 1, line.size(), stderr);
    std::fflush(stderr);
  }
}

void setLevel(Level level) { gLevel.store(static_cast<int>(level)); }
Level level() { return static_cast<Level>(gLevel.load()); }

void setSinkForTest(Sink sink) {
  std::lock_guard<std::mutex> lock(gSinkMutex);
  gSink = std::move(sink);
}

}  // namespace rpm::log

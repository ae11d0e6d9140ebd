#include "tests/integration/metrics/ExpositionCheck.h"

#include <cmath>
#include <cstdlib>
#include <set>

namespace rpm::metrics::test {
namespace {

// Name rules of the format; hand-written because GCC 12's <regex> trips
// -Wmaybe-uninitialized under the sanitizer build.
bool isName(const std::string& s, bool colons) {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colons && c == ':') ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}
bool isMetricName(const std::string& s) { return isName(s, true); }
bool isLabelName(const std::string& s) { return isName(s, false); }

bool parseValue(const std::string& s, double& v) {
  if (s == "NaN") return v = std::nan(""), true;
  if (s == "+Inf" || s == "Inf") return v = HUGE_VAL, true;
  if (s == "-Inf") return v = -HUGE_VAL, true;
  if (s.empty()) return false;
  char* end = nullptr;
  v = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size();
}

// Parses name{labels} value [timestamp]. Returns an error or "".
std::string parseSample(const std::string& line, Sample& s) {
  std::size_t i = 0;
  while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
  s.name = line.substr(0, i);
  if (!isMetricName(s.name)) return "bad metric name";
  if (i < line.size() && line[i] == '{') {
    ++i;
    for (;;) {
      if (i < line.size() && line[i] == '}') { ++i; break; }
      std::size_t eq = line.find('=', i);
      if (eq == std::string::npos) return "label without '='";
      std::string lname = line.substr(i, eq - i);
      if (!isLabelName(lname)) return "bad label name '" + lname + "'";
      i = eq + 1;
      if (i >= line.size() || line[i] != '"') return "label value not quoted";
      ++i;
      std::string value;
      for (;;) {
        if (i >= line.size()) return "unterminated label value";
        char c = line[i++];
        if (c == '"') break;
        if (c == '\\') {
          if (i >= line.size()) return "dangling escape";
          char e = line[i++];
          if (e == '\\') value += '\\';
          else if (e == '"') value += '"';
          else if (e == 'n') value += '\n';
          else return "invalid escape in label value";
        } else {
          value += c;
        }
      }
      if (s.labels.count(lname)) return "label '" + lname + "' repeated";
      s.labels[lname] = value;
      if (i < line.size() && line[i] == ',') ++i;
      else if (i < line.size() && line[i] == '}') { ++i; break; }
      else return "expected ',' or '}' after a label";
    }
  }
  if (i >= line.size() || line[i] != ' ') return "no value";
  std::string rest = line.substr(i + 1);
  std::size_t sp = rest.find(' ');
  std::string value = rest.substr(0, sp);
  if (!parseValue(value, s.value)) return "bad value '" + value + "'";
  if (sp != std::string::npos) {
    std::string ts = rest.substr(sp + 1);
    if (ts.empty() || ts.find_first_not_of("-0123456789") != std::string::npos) return "bad timestamp";
  }
  return "";
}

}  // namespace

std::vector<std::string> checkExposition(const std::string& text, Exposition* out) {
  std::vector<std::string> problems;
  Exposition ex;
  if (!text.empty() && text.back() != '\n') problems.push_back("text does not end with a newline");
  std::set<std::string> finished;  // families whose samples are over
  std::set<std::string> helped;
  std::string current;
  std::size_t pos = 0;
  int lineno = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    ++lineno;
    auto bad = [&](const std::string& what) { problems.push_back("line " + std::to_string(lineno) + ": " + what); };
    if (line.empty()) continue;
    if (line[0] == '#') {
      if (line.rfind("# TYPE ", 0) == 0) {
        std::string rest = line.substr(7);
        std::size_t sp = rest.find(' ');
        std::string name = rest.substr(0, sp);
        std::string type = sp == std::string::npos ? "" : rest.substr(sp + 1);
        static const std::set<std::string> kTypes{"counter", "gauge", "histogram", "summary", "untyped"};
        if (!kTypes.count(type)) { bad("malformed TYPE line"); continue; }
        if (!isMetricName(name)) bad("bad family name in TYPE");
        if (ex.types.count(name)) bad("second TYPE for " + name);
        for (const auto& s : ex.samples) {
          if (s.name == name || s.name == name + "_bucket" || s.name == name + "_sum" || s.name == name + "_count") {
            bad("TYPE for " + name + " after its samples");
            break;
          }
        }
        ex.types[name] = type;
      } else if (line.rfind("# HELP ", 0) == 0) {
        std::string rest = line.substr(7);
        std::size_t sp = rest.find(' ');
        if (sp == std::string::npos) { bad("malformed HELP line"); continue; }
        std::string name = rest.substr(0, sp);
        std::string h = rest.substr(sp + 1);
        if (!isMetricName(name)) bad("bad family name in HELP");
        for (std::size_t i = 0; i < h.size(); ++i) {
          if (h[i] == '\\' && (i + 1 >= h.size() || (h[i + 1] != '\\' && h[i + 1] != 'n'))) bad("invalid escape in HELP");
          if (h[i] == '\\') ++i;
        }
        if (!helped.insert(name).second) bad("second HELP for " + name);
      }
      continue;
    }
    Sample s;
    std::string err = parseSample(line, s);
    if (!err.empty()) { bad(err); continue; }
    // The declared family this sample belongs to.
    std::string family;
    if (ex.types.count(s.name) && ex.types[s.name] != "histogram") {
      family = s.name;
    } else {
      for (const char* suffix : {"_bucket", "_sum", "_count"}) {
        std::string sfx = suffix;
        if (s.name.size() > sfx.size() && s.name.compare(s.name.size() - sfx.size(), sfx.size(), sfx) == 0) {
          std::string base = s.name.substr(0, s.name.size() - sfx.size());
          if (ex.types.count(base) && ex.types[base] == "histogram") family = base;
        }
      }
    }
    if (family.empty()) { bad("sample " + s.name + " belongs to no declared family"); continue; }
    if (family != current) {
      if (!current.empty()) finished.insert(current);
      if (finished.count(family)) bad("samples of " + family + " are not contiguous");
      current = family;
    }
    if (s.name == family + "_bucket" && !s.labels.count("le")) bad("bucket without le");
    ex.samples.push_back(std::move(s));
  }
  // Histograms: per label set without le, buckets ascending by le, counts
  // non-decreasing, +Inf present and equal to _count.
  for (const auto& [family, type] : ex.types) {
    if (type != "histogram") continue;
    std::map<std::map<std::string, std::string>, std::vector<std::pair<double, double>>> buckets;
    std::map<std::map<std::string, std::string>, double> counts;
    for (const auto& s : ex.samples) {
      auto labels = s.labels;
      if (s.name == family + "_bucket") {
        double le = 0;
        if (!parseValue(labels["le"], le)) { problems.push_back(family + ": bad le value"); continue; }
        labels.erase("le");
        buckets[labels].emplace_back(le, s.value);
      } else if (s.name == family + "_count") {
        counts[labels] = s.value;
      }
    }
    for (const auto& [labels, list] : buckets) {
      for (std::size_t i = 1; i < list.size(); ++i) {
        if (!(list[i].first > list[i - 1].first)) problems.push_back(family + ": bucket bounds not increasing");
        if (list[i].second < list[i - 1].second) problems.push_back(family + ": buckets are not cumulative");
      }
      if (list.empty() || !std::isinf(list.back().first)) {
        problems.push_back(family + ": no le=\"+Inf\" bucket");
      } else if (!counts.count(labels)) {
        problems.push_back(family + ": no _count");
      } else if (counts[labels] != list.back().second) {
        problems.push_back(family + ": le=\"+Inf\" differs from _count");
      }
    }
  }
  if (out) *out = std::move(ex);
  return problems;
}

}  // namespace rpm::metrics::test

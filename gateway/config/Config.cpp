#include "gateway/config/Config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "gateway/model/DeviceKey.h"
#include "gateway/time/IanaTimeZone.h"

namespace rpm {
namespace {

std::string typeName(ConfigValueType t) {
  switch (t) {
    case ConfigValueType::kString: return "string";
    case ConfigValueType::kInteger: return "integer";
    case ConfigValueType::kBoolean: return "boolean";
    case ConfigValueType::kStringArray: return "array of strings";
  }
  return "value";
}

int lineOf(const toml::node& node) { return static_cast<int>(node.source().begin.line); }

bool startsWith(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

// Checks a string against its format. Returns what is wrong, or empty. Never
// echoes the value: config files hold patient ids and secret paths.
std::string checkFormat(const ConfigKeySpec& spec, const std::string& v) {
  if (!spec.choices.empty() && std::find(spec.choices.begin(), spec.choices.end(), v) == spec.choices.end()) {
    std::string list;
    for (const auto& c : spec.choices) list += (list.empty() ? "" : ", ") + c;
    return "must be one of: " + list;
  }
  if (v.empty()) return spec.required ? "must not be empty" : "";
  switch (spec.format) {
    case ConfigFormat::kAny: return "";
    case ConfigFormat::kTimeZone:
      return IanaTimeZone::load(v).isOk() ? "" : "not a time zone known to the system tz database (IANA name expected)";
    case ConfigFormat::kHttpUrl:
      return (startsWith(v, "http://") || startsWith(v, "https://")) && v.size() > 8 ? ""
                                                                                       : "must be an http:// or https:// URL";
    case ConfigFormat::kMqttUri:
      return (startsWith(v, "tcp://") || startsWith(v, "ssl://") || startsWith(v, "mqtt://") ||
              startsWith(v, "mqtts://"))
                 ? ""
                 : "must be a tcp://, ssl://, mqtt:// or mqtts:// URI";
    case ConfigFormat::kPatientReference: {
      if (!startsWith(v, "Patient/") || v.size() == 8 || v.size() > 72) return "must be Patient/<id>";
      for (char c : v.substr(8)) {
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') return "must be Patient/<id>";
      }
      return "";
    }
    case ConfigFormat::kDeviceKey:
      return DeviceKey::parse(v) ? "" : "must be bt:<address>, sysid:<16 hex digits> or mqtt:<identity>";
    case ConfigFormat::kAbsolutePath: return v[0] == '/' ? "" : "must be an absolute path";
  }
  return "";
}

}  // namespace

std::string ConfigProblem::toString() const {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line);
  out += ": ";
  if (!key.empty()) out += key + ": ";
  out += what;
  return out;
}

const std::string& Config::string(const std::string& key) const { return std::get<std::string>(values_.at(key)); }
std::int64_t Config::integer(const std::string& key) const { return std::get<std::int64_t>(values_.at(key)); }
bool Config::boolean(const std::string& key) const { return std::get<bool>(values_.at(key)); }
const std::vector<std::string>& Config::strings(const std::string& key) const {
  return std::get<std::vector<std::string>>(values_.at(key));
}
const std::vector<Config>& Config::tables(const std::string& name) const {
  static const std::vector<Config> kNone;
  auto it = tables_.find(name);
  return it == tables_.end() ? kNone : it->second;
}

// Walks the parsed TOML tree against the key table, collecting problems.
struct ConfigWalker {
  const std::vector<ConfigKeySpec>& keys;
  std::string file;
  std::vector<ConfigProblem> problems;
  std::set<std::string> present;  // keys set in the file, valid or not (no "missing" report for them)
  std::string scopeTag;           // distinguishes array entries in `present`

  const ConfigKeySpec* find(const std::string& key) const {
    for (const auto& k : keys) {
      if (k.key == key) return &k;
    }
    return nullptr;
  }

  bool isTablePrefix(const std::string& prefix) const {
    for (const auto& k : keys) {
      if (startsWith(k.key, (prefix + ".").c_str())) return true;
    }
    return false;
  }

  void problem(int line, const std::string& key, const std::string& what) {
    problems.push_back({file, line, key, what});
  }

  // Converts one leaf node; records a problem and returns false on mismatch.
  bool convert(const ConfigKeySpec& spec, const std::string& shownKey, const toml::node& node, ConfigValue& out) {
    int line = lineOf(node);
    switch (spec.type) {
      case ConfigValueType::kString: {
        if (!node.is_string()) return problem(line, shownKey, "wrong type: expected " + typeName(spec.type)), false;
        std::string v = node.value<std::string>().value_or("");
        std::string bad = checkFormat(spec, v);
        if (!bad.empty()) return problem(line, shownKey, bad), false;
        out = v;
        return true;
      }
      case ConfigValueType::kInteger: {
        if (!node.is_integer()) return problem(line, shownKey, "wrong type: expected " + typeName(spec.type)), false;
        std::int64_t v = node.value<std::int64_t>().value_or(0);
        if (v < spec.min || v > spec.max) {
          return problem(line, shownKey,
                         "out of range: must be between " + std::to_string(spec.min) + " and " +
                             std::to_string(spec.max)),
                 false;
        }
        out = v;
        return true;
      }
      case ConfigValueType::kBoolean: {
        if (!node.is_boolean()) return problem(line, shownKey, "wrong type: expected " + typeName(spec.type)), false;
        out = node.value<bool>().value_or(false);
        return true;
      }
      case ConfigValueType::kStringArray: {
        const toml::array* arr = node.as_array();
        if (!arr) return problem(line, shownKey, "wrong type: expected " + typeName(spec.type)), false;
        std::vector<std::string> v;
        for (const auto& el : *arr) {
          if (!el.is_string()) return problem(lineOf(el), shownKey, "wrong type: every element must be a string"), false;
          v.push_back(el.value<std::string>().value_or(""));
        }
        out = v;
        return true;
      }
    }
    return false;
  }

  // Walks a table whose keys are relative to prefix ("" or "fhir" or "devices[]").
  void walk(const toml::table& table, const std::string& prefix, std::map<std::string, ConfigValue>& values,
            std::map<std::string, std::vector<Config>>& tables, const std::string& shownPrefix) {
    for (const auto& [k, node] : table) {
      std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
      std::string shown = shownPrefix.empty() ? std::string(k.str()) : shownPrefix + "." + std::string(k.str());
      int line = lineOf(node);
      if (const toml::table* sub = node.as_table()) {
        if (!isTablePrefix(key)) {
          problem(line, shown, "unknown table");
          continue;
        }
        walk(*sub, key, values, tables, shown);
        continue;
      }
      if (const toml::array* arr = node.as_array(); arr && arr->is_array_of_tables() && !arr->empty() &&
                                                    isTablePrefix(key + "[]")) {
        auto& entries = tables[std::string(k.str())];
        size_t index = 0;
        for (const auto& el : *arr) {
          Config entry;
          entry.file_ = file;
          std::map<std::string, std::vector<Config>> nested;
          std::string entryShown = shown + "[" + std::to_string(index++) + "]";
          scopeTag = entryShown + "/";
          walk(*el.as_table(), key + "[]", entry.values_, nested, entryShown);
          fillDefaults(key + "[]", entry.values_, lineOf(el), entryShown);
          scopeTag.clear();
          // Entry keys are stored relative to the array ("patient").
          std::map<std::string, ConfigValue> relative;
          for (auto& [fullKey, v] : entry.values_) relative[fullKey.substr(key.size() + 3)] = std::move(v);
          entry.values_ = std::move(relative);
          entries.push_back(std::move(entry));
        }
        continue;
      }
      const ConfigKeySpec* spec = find(key);
      if (!spec) {
        problem(line, shown, "unknown key");
        continue;
      }
      present.insert(scopeTag + key);
      ConfigValue v;
      if (convert(*spec, shown, node, v)) values[key] = std::move(v);
    }
  }

  // Adds defaults for keys under prefix that the file left out; reports
  // missing required keys.
  void fillDefaults(const std::string& prefix, std::map<std::string, ConfigValue>& values, int line,
                    const std::string& shownPrefix) {
    for (const auto& spec : keys) {
      bool inScope = prefix.empty() ? spec.key.find("[]") == std::string::npos
                                    : startsWith(spec.key, (prefix + ".").c_str()) &&
                                          spec.key.find("[]", prefix.size()) == std::string::npos;
      if (!inScope || values.count(spec.key) || present.count(scopeTag + spec.key)) continue;
      std::string shown = prefix.empty() ? spec.key : shownPrefix + spec.key.substr(prefix.size());
      if (spec.required) {
        problem(line, shown, "required key is missing");
        continue;
      }
      switch (spec.type) {
        case ConfigValueType::kString: values[spec.key] = spec.defaultValue; break;
        case ConfigValueType::kInteger: values[spec.key] = std::int64_t(std::stoll(spec.defaultValue)); break;
        case ConfigValueType::kBoolean: values[spec.key] = spec.defaultValue == "true"; break;
        case ConfigValueType::kStringArray: values[spec.key] = std::vector<std::string>{}; break;
      }
    }
  }
};

std::variant<Config, std::vector<ConfigProblem>> ConfigLoader::loadFile(const std::string& path) const {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::vector<ConfigProblem>{{path, 0, "", "cannot read the file (missing or not readable)"}};
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return std::vector<ConfigProblem>{{path, 0, "", "cannot read the file (I/O error)"}};
  return loadString(text.str(), path);
}

std::variant<Config, std::vector<ConfigProblem>> ConfigLoader::loadString(const std::string& text,
                                                                          const std::string& sourceName) const {
  toml::table root;
  try {
    root = toml::parse(text, sourceName);
  } catch (const toml::parse_error& e) {
    // toml++'s description names the syntax problem, not the value.
    return std::vector<ConfigProblem>{
        {sourceName, static_cast<int>(e.source().begin.line), "", "TOML syntax error: " + std::string(e.description())}};
  }
  ConfigWalker w{keys_, sourceName, {}, {}, {}};
  Config config;
  config.file_ = sourceName;
  w.walk(root, "", config.values_, config.tables_, "");
  w.fillDefaults("", config.values_, 0, "");
  if (!w.problems.empty()) {
    std::stable_sort(w.problems.begin(), w.problems.end(), [](const ConfigProblem& a, const ConfigProblem& b) {
      int la = a.line == 0 ? INT32_MAX : a.line, lb = b.line == 0 ? INT32_MAX : b.line;
      return la < lb;
    });
    return w.problems;
  }
  return config;
}

std::string formatConfigHelp(const std::vector<ConfigKeySpec>& keys) {
  std::string out = "Configuration keys (TOML; dotted keys are tables, devices[] is an array of tables):\n";
  for (const auto& k : keys) {
    out += "  " + k.key + " (" + typeName(k.type);
    if (k.required) out += ", required";
    else if (!k.defaultValue.empty()) out += ", default " + (k.type == ConfigValueType::kString ? "\"" + k.defaultValue + "\"" : k.defaultValue);
    if (k.type == ConfigValueType::kInteger && (k.min != INT64_MIN || k.max != INT64_MAX)) {
      out += ", " + std::to_string(k.min) + ".." + std::to_string(k.max);
    }
    out += ")\n      " + k.help + "\n";
    if (!k.choices.empty()) {
      out += "      one of:";
      for (const auto& c : k.choices) out += " " + c;
      out += "\n";
    }
  }
  return out;
}

}  // namespace rpm

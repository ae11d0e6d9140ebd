// Config: one TOML file described by one table of keys (ConfigKeySpec) that
// drives parsing, validation and the --help text.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "gateway/model/Status.h"
#include "gateway/ports/ConfigKeySpec.h"

namespace rpm {

struct ConfigWalker;

using ConfigValue = std::variant<std::string, std::int64_t, bool, std::vector<std::string>>;

// One problem in a config file: "<file>:<line>: <key>: <what>". line 0 when
// the problem has no line (a missing key).
struct ConfigProblem {
  std::string file;
  int line = 0;
  std::string key;
  std::string what;
  std::string toString() const;
};

// A validated configuration: every key of the table has a value (its default
// when the file does not set it). Keys of arrays of tables ("devices[].key")
// are read through tables().
class Config {
 public:
  const std::string& string(const std::string& key) const;
  std::int64_t integer(const std::string& key) const;
  bool boolean(const std::string& key) const;
  const std::vector<std::string>& strings(const std::string& key) const;
  // True when the file set the key (or it has a default).
  bool has(const std::string& key) const { return values_.count(key) != 0; }
  // Entries of an array of tables, e.g. tables("devices"); each entry's keys
  // are relative ("key", "patient").
  const std::vector<Config>& tables(const std::string& name) const;
  const std::string& sourceFile() const { return file_; }

 private:
  friend class ConfigLoader;
  friend struct ConfigWalker;
  std::string file_;
  std::map<std::string, ConfigValue> values_;
  std::map<std::string, std::vector<Config>> tables_;
};

// The gateway's table: every key with type, default and help.
const std::vector<ConfigKeySpec>& gatewayConfigKeys();

// Loads and validates a file against keys. Problems are returned all at
// once, in file order, so check-config can list them.
class ConfigLoader {
 public:
  explicit ConfigLoader(std::vector<ConfigKeySpec> keys) : keys_(std::move(keys)) {}
  std::variant<Config, std::vector<ConfigProblem>> loadFile(const std::string& path) const;
  std::variant<Config, std::vector<ConfigProblem>> loadString(const std::string& text,
                                                              const std::string& sourceName) const;

 private:
  std::vector<ConfigKeySpec> keys_;
};

// The key table as help text: one block per key with type, default and help.
std::string formatConfigHelp(const std::vector<ConfigKeySpec>& keys);

}  // namespace rpm

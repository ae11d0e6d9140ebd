// JsonDocument: JSON parsed through nlohmann's SAX interface so that every
// non-integer number keeps its source text ("2.00" stays 2.00 as a Decimal).
// Internal to mqtt_formats.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "gateway/model/Decimal.h"

namespace rpm::mqtt_formats {

class JsonDocument {
 public:
  // nullopt for malformed JSON or nesting deeper than maxDepth.
  static std::optional<JsonDocument> parse(std::string_view text, std::size_t maxDepth = 32);

  const nlohmann::json& root() const { return root_; }
  // The value at a JSON pointer, or nullptr (also for a malformed pointer).
  const nlohmann::json* at(const std::string& pointer) const;
  // The number at pointer as an exact Decimal: the float's source text, an
  // integer, or a string holding JSON number text. nullopt otherwise.
  std::optional<Decimal> decimalAt(const std::string& pointer) const;
  // A string value, or the source text of a number; nullopt otherwise.
  std::optional<std::string> textAt(const std::string& pointer) const;

 private:
  friend class KeepNumberTextSax;
  nlohmann::json root_;
  std::map<std::string, std::string> numberText_;  // JSON pointer -> source text of floats
};

}  // namespace rpm::mqtt_formats

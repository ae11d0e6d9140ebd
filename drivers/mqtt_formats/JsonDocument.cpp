#include "drivers/mqtt_formats/JsonDocument.h"

#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

namespace rpm::mqtt_formats {

using json = nlohmann::json;

namespace {
std::string escapePointerToken(const std::string& key) {
  std::string out;
  for (char c : key) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}
}  // namespace

// Builds the DOM itself (like nlohmann's own DOM parser) and records the
// pointer and source text of every floating-point number on the way.
class KeepNumberTextSax final : public nlohmann::json_sax<json> {
 public:
  KeepNumberTextSax(JsonDocument& doc, std::size_t maxDepth) : doc_(doc), maxDepth_(maxDepth) {}

  bool null() override { return put(json(nullptr)); }
  bool boolean(bool v) override { return put(json(v)); }
  bool number_integer(number_integer_t v) override { return put(json(v)); }
  bool number_unsigned(number_unsigned_t v) override { return put(json(v)); }
  bool number_float(number_float_t v, const string_t& text) override {
    if (!put(json(v))) return false;
    doc_.numberText_[lastPointer_] = text;
    return true;
  }
  bool string(string_t& v) override { return put(json(std::move(v))); }
  bool binary(binary_t&) override { return false; }
  bool start_object(std::size_t) override { return open(json::object()); }
  bool key(string_t& k) override {
    key_ = k;
    return true;
  }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(json::array()); }
  bool end_array() override { return close(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }

 private:
  struct Open {
    json* node;
    std::string pointer;
  };

  bool put(json value) {
    if (stack_.empty()) {
      doc_.root_ = std::move(value);
      lastNode_ = &doc_.root_;
      lastPointer_.clear();
      return true;
    }
    Open& parent = stack_.back();
    if (parent.node->is_object()) {
      json& slot = (*parent.node)[key_];
      slot = std::move(value);
      lastNode_ = &slot;
      lastPointer_ = parent.pointer + "/" + escapePointerToken(key_);
    } else {
      parent.node->push_back(std::move(value));
      lastNode_ = &parent.node->back();
      lastPointer_ = parent.pointer + "/" + std::to_string(parent.node->size() - 1);
    }
    return true;
  }
  bool open(json container) {
    if (stack_.size() >= maxDepth_) return false;
    put(std::move(container));
    // The container is the last element of its parent and nothing is added
    // to the parent until it closes, so this pointer stays valid.
    stack_.push_back(Open{lastNode_, lastPointer_});
    return true;
  }
  bool close() {
    if (stack_.empty()) return false;
    stack_.pop_back();
    return true;
  }

  JsonDocument& doc_;
  std::size_t maxDepth_;
  std::vector<Open> stack_;
  std::string key_;
  json* lastNode_ = nullptr;
  std::string lastPointer_;
};

std::optional<JsonDocument> JsonDocument::parse(std::string_view text, std::size_t maxDepth) {
  JsonDocument doc;
  KeepNumberTextSax sax(doc, maxDepth);
  try {
    if (!json::sax_parse(text.begin(), text.end(), &sax, json::input_format_t::json, true, false)) {
      return std::nullopt;
    }
  } catch (const std::exception&) {
    return std::nullopt;
  }
  return doc;
}

const json* JsonDocument::at(const std::string& pointer) const {
  try {
    const json::json_pointer p(pointer);
    if (!root_.contains(p)) return nullptr;
    return &root_.at(p);
  } catch (const std::exception&) {
    return nullptr;
  }
}

std::optional<Decimal> JsonDocument::decimalAt(const std::string& pointer) const {
  auto text = numberText_.find(pointer);
  if (text != numberText_.end()) return Decimal::parse(text->second);
  const json* v = at(pointer);
  if (v == nullptr) return std::nullopt;
  if (v->is_number_integer() && !v->is_number_unsigned()) return Decimal(v->get<std::int64_t>(), 0);
  if (v->is_number_unsigned()) {
    auto u = v->get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
    return Decimal(static_cast<std::int64_t>(u), 0);
  }
  if (v->is_string()) return Decimal::parse(v->get_ref<const std::string&>());
  return std::nullopt;
}

std::optional<std::string> JsonDocument::textAt(const std::string& pointer) const {
  auto text = numberText_.find(pointer);
  if (text != numberText_.end()) return text->second;
  const json* v = at(pointer);
  if (v == nullptr) return std::nullopt;
  if (v->is_string()) return v->get<std::string>();
  if (v->is_number_integer()) return v->dump();
  return std::nullopt;
}

}  // namespace rpm::mqtt_formats

#include "fhir/FhirJson.h"

namespace rpm::fhir {
namespace {

constexpr char kMarker = '\x01';
// How nlohmann writes the marker character inside a string.
constexpr std::string_view kEscapedMarker = "\"\\u0001";

}  // namespace

Json decimalNumber(const Decimal& value) { return Json(std::string(1, kMarker) + value.toString()); }

Json fhirString(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 && c != '\t' && c != '\r' && c != '\n') continue;
    if (u == 0x7F) continue;
    out.push_back(c);
  }
  return Json(std::move(out));
}

std::string dumpFhir(const Json& document, int indent) {
  // Invalid UTF-8 from a device is replaced rather than thrown: no exception
  // crosses the module boundary.
  std::string text = document.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (true) {
    size_t hit = text.find(kEscapedMarker, pos);
    if (hit == std::string::npos) break;
    size_t start = hit + kEscapedMarker.size();
    size_t end = text.find('"', start);
    if (end == std::string::npos) break;  // cannot happen: dump closes every string
    out.append(text, pos, hit - pos);
    out.append(text, start, end - start);  // the decimal's digits, unquoted
    pos = end + 1;
  }
  out.append(text, pos, std::string::npos);
  return out;
}

}  // namespace rpm::fhir

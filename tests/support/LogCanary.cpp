#include "tests/support/LogCanary.h"

#include <algorithm>
#include <cctype>

namespace rpm::test {
namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

std::string without(std::string s, char c) {
  s.erase(std::remove(s.begin(), s.end(), c), s.end());
  return s;
}

}  // namespace

std::vector<std::string> LogCanary::forbiddenForms() {
  std::string mac = kMac;
  std::string dashed = mac;
  std::replace(dashed.begin(), dashed.end(), ':', '-');
  return {kValue,
          kPatientId,
          mac,
          dashed,
          without(mac, ':'),
          kSystemId,
          kSerial,
          kToken,
          kJwt,
          // the JWT's signature alone is as secret as the whole token
          std::string(kJwt).substr(std::string(kJwt).rfind('.') + 1)};
}

std::vector<std::string> LogCanary::findLeaks(std::string_view text) {
  std::string haystack = lower(std::string(text));
  std::vector<std::string> found;
  for (const auto& form : forbiddenForms()) {
    if (haystack.find(lower(form)) != std::string::npos) found.push_back(form);
  }
  return found;
}

}  // namespace rpm::test

// ScriptedTransport: an HttpTransport that answers from a queue and records requests.
#pragma once

#include <deque>
#include <vector>

#include "fhir/uplink/HttpTransport.h"

namespace rpm::test {

class ScriptedTransport final : public fhir::HttpTransport {
 public:
  std::deque<fhir::HttpOutcome> answers;
  std::vector<fhir::HttpRequest> requests;

  fhir::HttpOutcome send(const fhir::HttpRequest& request) override {
    requests.push_back(request);
    if (answers.empty()) return fhir::TransportError{fhir::DeliveryCertainty::kNotSent, ErrorKind::kUnavailable, "no answer scripted"};
    auto a = answers.front();
    answers.pop_front();
    return a;
  }
  static fhir::HttpResponse json(long status, std::string body) {
    fhir::HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    r.contentType = "application/json";
    return r;
  }
};

}  // namespace rpm::test

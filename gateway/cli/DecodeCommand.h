// rpm-gateway decode: one device payload to the FHIR collection Bundle the
// gateway would upload for it (or, with --format reading, the decoded fields).
#pragma once

#include <iosfwd>
#include <string>

namespace rpm::cli {

struct DecodeOptions {
  std::string characteristic;                     // "2A35" or "0x2A35"
  std::string hex;                                // "1E 79 00", "1e:79:00" or "1e7900"
  std::string patient = "Patient/example";
  std::string deviceAddress = "B0:49:5F:00:10:71";
  std::string receivedAt = "2026-01-01T00:00:00Z";
  std::string utcOffset = "+00:00";
  std::string contextHex;                         // Glucose Measurement Context (0x2A34) that follows
  std::string sessionStart;                       // CGM session start, device local "YYYY-MM-DDThh:mm:ss"
  std::string format = "fhir";                    // fhir | reading
};

// Exit 0 with the document on out (and a one-line note on err when there is
// nothing to upload); exit 2 with one line on err for malformed input.
int runDecode(const DecodeOptions& options, std::ostream& out, std::ostream& err);

}  // namespace rpm::cli

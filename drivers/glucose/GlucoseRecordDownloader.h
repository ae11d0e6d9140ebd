// GlucoseRecordDownloader: the Glucose Service profile procedure
// (health-devices-to-fhir.md §3.1.4 steps 4-6): download only the records the
// buffer does not hold yet through the Record Access Control Point, join each
// Glucose Measurement Context to its measurement, hand the readings to the
// sink and advance the record cursor only for what the sink made durable.
//
// Rules (docs/decisions/0032-glucose-cursor-rule.md, 0040-glucose-download.md):
// - cursor 0 (nothing stored yet): "report all records"; otherwise
//   "records >= cursor" (the cursor is already "last stored + 1");
// - operator or operand not supported: fall back to "all records"; the
//   reading ids turn re-sent records into reported duplicates;
// - with a reset anchor (a stored record's sequence and Base Time), read that
//   record back first: another Base Time under its sequence means the counter
//   was reset (new epoch, everything), even when the meter holds more records
//   than the old cursor;
// - "no records found" with a cursor: probe the meter's last record; a highest
//   sequence below cursor - 1 means the counter went backwards (reset):
//   start a new reset epoch and download everything;
// - sequence numbers are u16 on air and unwrapped into the u32 cursor, so a
//   counter that wraps at 0xFFFF keeps its epoch; a download that crosses the
//   wrap asks again from the new low numbers at once;
// - the download is recorded with recordGlucoseDownload after each request,
//   complete only when the meter answered success, so an interruption or an
//   out-of-order meter never skips a record.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "drivers/common/BleProcedureIo.h"
#include "gateway/model/DeviceKey.h"
#include "gateway/model/Reading.h"
#include "gateway/model/Status.h"
#include "gateway/ports/DeviceStateStore.h"
#include "gateway/ports/ReadingSink.h"

namespace rpm::drivers::glucose {

struct GlucoseDownloadOptions {
  // Longest silence between two values of one RACP request.
  std::chrono::milliseconds valueTimeout{10000};
  // Planted bug, tests only: reports an interrupted download as complete, so
  // the tests can show their "every record exactly once" check catches a
  // skipped record. Never set outside tests.
  bool treatInterruptedAsCompleteForTest = false;
  // Planted bug, tests only: skips the reset-anchor check (decision 0040), so
  // the tests can show a reset meter holding more records than the old
  // cursor loses its low records without it. Never set outside tests.
  bool skipResetAnchorForTest = false;
};

// What one download did (for counters and logs; never values).
struct GlucoseDownloadReport {
  std::uint32_t requests = 0;        // RACP report requests written
  std::uint32_t records = 0;         // measurements received and decoded
  std::uint32_t contexts = 0;        // contexts joined to their measurement
  std::uint32_t orphanContexts = 0;  // contexts without a preceding measurement (stored unlinked)
  std::uint32_t malformed = 0;       // values that did not decode (the record is re-requested later)
  std::uint32_t stored = 0, held = 0, duplicates = 0, invalid = 0;  // sink outcomes
  bool operatorFallback = false;     // ">=" unsupported: all records were requested
  bool counterReset = false;         // a new reset epoch was started
  std::uint32_t anchorChecks = 0;    // reset-anchor records read back (decision 0040)
  bool wrapped = false;              // the download crossed the 0xFFFF wrap
  bool noRecords = false;            // the meter had nothing new
  std::uint32_t resetEpoch = 0;      // after the download
  std::uint32_t cursor = 0;          // after the download
};

// The id the ingest pipeline will give a reading (computeReadingId). Injected
// because driver folders may not include gateway/identity; the context's
// relatedReadingId is set with it before submit.
using ReadingIdFunction = std::function<std::string(const Reading&)>;

// u16 sequence from the meter -> u32 cursor space, nearest to `reference`
// (serial-number arithmetic, RFC 1982 style, over 16 bits).
std::uint32_t unwrapSequence(std::uint16_t sequence, std::uint32_t reference);

// Runs the procedure on a session whose measurement, context and RACP
// characteristics are subscribed. Returns the report when the meter finished
// (success or no records); kUnavailable/kTimeout when the link dropped or the
// meter went silent (what was durable is recorded first); a sink failure as is.
Result<GlucoseDownloadReport> downloadGlucoseRecords(const DeviceKey& device, BleProcedureIo& io, ReadingSink& sink,
                                                     DeviceStateStore& states, const ReadingIdFunction& readingIdOf,
                                                     const GlucoseDownloadOptions& options = {});

}  // namespace rpm::drivers::glucose

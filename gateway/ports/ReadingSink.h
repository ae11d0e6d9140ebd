// ReadingSink: where drivers hand the readings they decoded.
//
// submit() assigns reading ids, binds each reading to its enrolled patient
// (or holds it), routes continuous streams to the aggregator and appends the
// rest to the buffer. It returns only when the appended readings are durable:
// a driver acknowledges its producer (MQTT app-level ack, glucose cursor)
// after an ok result and never before.
#pragma once

#include <vector>

#include "gateway/model/Reading.h"
#include "gateway/model/Status.h"
#include "gateway/ports/ReadingStore.h"

namespace rpm {

class ReadingSink {
 public:
  virtual ~ReadingSink() = default;
  // One outcome per reading, in order (kStored, kHeld, kDuplicate: all
  // acknowledgeable; kInvalid: refused). A failed Status means nothing was
  // stored and nothing may be acknowledged (kStorageFull at the cap, kIo).
  virtual Result<AppendReport> submit(std::vector<Reading> readings) = 0;
};

}  // namespace rpm

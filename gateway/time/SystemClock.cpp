#include "gateway/time/SystemClock.h"

#include <sys/timex.h>

namespace rpm {

UtcInstant SystemClock::now() const {
  return std::chrono::time_point_cast<std::chrono::microseconds>(std::chrono::system_clock::now());
}

std::chrono::steady_clock::time_point SystemClock::monotonicNow() const { return std::chrono::steady_clock::now(); }

bool SystemClock::isSynchronized() const {
  struct timex tx {};
  int state = adjtimex(&tx);
  return state != TIME_ERROR && (tx.status & STA_UNSYNC) == 0;
}

}  // namespace rpm

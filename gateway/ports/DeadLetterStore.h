// DeadLetterStore: operator access to readings the server refused for good
// (reliability-and-security.md §2.6). Dead letters stay until an operator
// re-queues or purges them; they never expire.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "gateway/model/Reading.h"
#include "gateway/model/Status.h"
#include "gateway/model/Time.h"

namespace rpm {

struct DeadLetter {
  Reading reading;
  int httpStatus = 0;
  std::string reason;  // the server's text; may name the patient: never log it
  std::uint32_t attempts = 0;
  UtcInstant rejectedAt;
};

class DeadLetterStore {
 public:
  virtual ~DeadLetterStore() = default;

  // Oldest rejections first, at most limit.
  virtual Result<std::vector<DeadLetter>> listDeadLetters(std::size_t limit) = 0;

  // Puts a dead letter back in the delivery queue with zero attempts. kNotFound if absent.
  virtual Status requeueDeadLetter(const std::string& readingId) = 0;

  // Deletes a dead letter for good (an operator decision). kNotFound if absent.
  virtual Status purgeDeadLetter(const std::string& readingId) = 0;
};

}  // namespace rpm

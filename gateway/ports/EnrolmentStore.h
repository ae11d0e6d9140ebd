// EnrolmentStore: which patient a device (and user slot) belongs to.
// Written only by the daemon (enrolment commands and config seeds); drivers
// and the uplink only read. Readings are bound at append time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gateway/model/DeviceKey.h"
#include "gateway/model/Status.h"
#include "gateway/model/Time.h"
#include "gateway/ports/Driver.h"

namespace rpm {

struct Enrolment {
  DeviceKey device;
  std::optional<std::uint8_t> userSlot;  // nullopt: the whole device (single-user devices)
  std::string patient;                   // "Patient/<id>"
  Transport transport = Transport::kBle;
  std::string metadata;                  // daemon-owned JSON text (model, alias hints); opaque here
  UtcInstant enrolledAt;
};

class EnrolmentStore {
 public:
  virtual ~EnrolmentStore() = default;

  // Creates or replaces the enrolment of (device, userSlot).
  virtual Status putEnrolment(const Enrolment& enrolment) = 0;

  // Removes it; readings already stored keep the subject they were bound to.
  virtual Status removeEnrolment(const DeviceKey& device, std::optional<std::uint8_t> userSlot) = 0;

  // The binding used for a reading of (device, userSlot): an exact slot match,
  // else the whole-device enrolment. kNotFound when unbound.
  virtual Result<Enrolment> findEnrolment(const DeviceKey& device, std::optional<std::uint8_t> userSlot) = 0;

  virtual Result<std::vector<Enrolment>> listEnrolments() = 0;

  // Binds the held readings of (device, userSlot) to its current enrolment
  // and queues them; an explicit operator decision, never automatic.
  // Returns how many were released.
  virtual Result<std::uint64_t> releaseHeldReadings(const DeviceKey& device,
                                                    std::optional<std::uint8_t> userSlot) = 0;
};

}  // namespace rpm

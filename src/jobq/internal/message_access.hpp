// How a worker makes the Message it hands to a handler, over a job's payload in its envelope.
#pragma once

#include "jobq/internal/envelope.hpp"
#include "jobq/internal/payload_json.hpp"
#include "jobq/message.hpp"

namespace jobq::internal {

struct MessageAccess {
  static Message over(std::string_view type, JobId id, const PayloadBuffer& payload, PayloadScratch& scratch) noexcept {
    Message message;
    message.type_ = type;
    message.id_ = id;
    message.scratch_ = &scratch;
    message.object_type_ = payload.object_type();
    if (message.object_type_ != nullptr) {
      message.object_ = payload.object();
    } else {
      message.json_ = payload.view();
      message.json_capacity_ = payload.capacity();
    }
    return message;
  }
};

}  // namespace jobq::internal

// Payload structs to and from JSON text outside the engine: for tests, logs and tools.
#pragma once

#include <string>
#include <string_view>

#include "jobq/error.hpp"
#include "jobq/message.hpp"
#include "jobq/payload.hpp"

namespace jobq {

namespace internal {
Result<std::string> to_json(const ObjectType& type, const void* object);
}

/// Serializes a payload struct. Fails (Errc::invalid_payload, naming the field) on a string that
/// is not UTF-8 or a number that is not finite.
template <Payload T>
Result<std::string> to_json(const T& payload) {
  return internal::to_json(*internal::payload_type_of<T>, &payload);
}

/// Binds JSON text into a payload struct, as Message::bind does.
template <Payload T>
Status from_json(std::string_view json, T& out) {
  return Message({}, 0, json).bind(out);
}

}  // namespace jobq

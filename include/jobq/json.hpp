// Payload structs to and from JSON text outside the engine: for tests, logs and tools.
#pragma once

#include <string>
#include <string_view>

#include "jobq/error.hpp"
#include "jobq/internal/json_write.hpp"
#include "jobq/message.hpp"
#include "jobq/payload.hpp"

namespace jobq {

/// Serializes a payload struct. Fails (Errc::invalid_payload, naming the field) on a string that
/// is not UTF-8 or a number that is not finite.
template <Payload T>
Result<std::string> to_json(const T& payload) {
  internal::JsonBuffer text;
  internal::WriteFailure failure;
  if (internal::write_object(text, payload, failure)) return std::string(text.view());
  return Error(Errc::invalid_payload, "field '" + failure.path + "': " + std::string(failure.reason));
}

/// Binds JSON text into a payload struct, as Message::bind does (the text is copied once to add
/// simdjson's padding).
template <Payload T>
Status from_json(std::string_view json, T& out) {
  const simdjson::padded_string padded(json);
  return Message({}, 0, {padded.data(), padded.size()}, padded.size() + simdjson::SIMDJSON_PADDING).bind(out);
}

}  // namespace jobq

// Message's cold paths: JSON made on demand from a typed payload, and binding from JSON.
#include "jobq/message.hpp"

#include "jobq/error.hpp"
#include "jobq/internal/message_access.hpp"
#include "jobq/internal/payload_json.hpp"

namespace jobq {

std::string_view Message::payload() const {
  if (object_type_ == nullptr || !json_.empty()) return json_;
  internal::PayloadScratch& scratch = scratch_ != nullptr ? *scratch_ : internal::PayloadScratch::for_this_thread();
  scratch.json.clear();
  internal::WriteFailure failure;
  if (!internal::write_json(scratch.json, *object_type_, object_, failure)) return {};
  const std::size_t size = scratch.json.size();
  scratch.json.extend(simdjson::SIMDJSON_PADDING);  // so that binding parses it in place
  scratch.json.truncate(size);
  json_ = scratch.json.view();
  return json_;
}

Status Message::bind_json(const internal::ObjectType& type, void* out) const {
  internal::PayloadScratch& scratch = scratch_ != nullptr ? *scratch_ : internal::PayloadScratch::for_this_thread();
  std::size_t capacity = json_capacity_;
  if (object_type_ != nullptr) {  // an object of another type: through its JSON
    const std::string_view text = payload();
    if (text.empty()) return Status::skip_retry("payload: the dispatched object cannot be serialized");
    capacity = text.size() + simdjson::SIMDJSON_PADDING;
  }
  return scratch.bind(type, out, json_.data(), json_.size(), capacity);
}

namespace internal {

Result<std::string> to_json(const ObjectType& type, const void* object) {
  JsonBuffer text;
  WriteFailure failure;
  if (write_json(text, type, object, failure)) return std::string(text.view());
  return Error(Errc::invalid_payload, describe_write_failure(failure));
}

}  // namespace internal
}  // namespace jobq

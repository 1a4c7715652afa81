// Binding entry points: per-thread scratch, padding, and error descriptions.
#include <cstring>
#include <string>

#include "jobq/internal/payload_json.hpp"

namespace jobq::internal {

PayloadScratch& PayloadScratch::for_this_thread() {
  thread_local PayloadScratch scratch;
  return scratch;
}

Status PayloadScratch::bind(const ObjectType& type, void* out, const char* data, std::size_t size,
                            std::size_t capacity) {
  if (capacity < size + simdjson::SIMDJSON_PADDING) {
    padded_.clear();
    char* copy = padded_.extend(size + simdjson::SIMDJSON_PADDING);
    if (size != 0) std::memcpy(copy, data, size);
    std::memset(copy + size, 0, simdjson::SIMDJSON_PADDING);
    data = copy;
    capacity = size + simdjson::SIMDJSON_PADDING;
  }
  BindFailure failure;
  failure.code = bind_json(parser_, type, out, data, size, capacity, failure);
  if (failure.code == simdjson::SUCCESS) [[likely]] return Status::success();
  return Status::skip_retry(describe_bind_failure(failure));
}

/// Paths are built by concatenation: GCC 12 at -O3 misreports std::string::insert(0, …) under
/// -Wrestrict. These run only on the failure path.
void prepend_field(std::string& path, std::string_view name) {
  std::string outer(name);
  if (!path.empty() && path.front() != '[') outer += '.';
  outer += path;
  path.swap(outer);
}

void prepend_index(std::string& path, std::size_t index) {
  std::string outer = "[";
  outer += std::to_string(index);
  outer += ']';
  if (!path.empty() && path.front() != '[') outer += '.';
  outer += path;
  path.swap(outer);
}

std::string_view simdjson_error_name(simdjson::error_code code) noexcept {
  switch (code) {
    case simdjson::SUCCESS: return "SUCCESS";
    case simdjson::CAPACITY: return "CAPACITY";
    case simdjson::MEMALLOC: return "MEMALLOC";
    case simdjson::TAPE_ERROR: return "TAPE_ERROR";
    case simdjson::DEPTH_ERROR: return "DEPTH_ERROR";
    case simdjson::STRING_ERROR: return "STRING_ERROR";
    case simdjson::T_ATOM_ERROR: return "T_ATOM_ERROR";
    case simdjson::F_ATOM_ERROR: return "F_ATOM_ERROR";
    case simdjson::N_ATOM_ERROR: return "N_ATOM_ERROR";
    case simdjson::NUMBER_ERROR: return "NUMBER_ERROR";
    case simdjson::UTF8_ERROR: return "UTF8_ERROR";
    case simdjson::UNINITIALIZED: return "UNINITIALIZED";
    case simdjson::EMPTY: return "EMPTY";
    case simdjson::UNESCAPED_CHARS: return "UNESCAPED_CHARS";
    case simdjson::UNCLOSED_STRING: return "UNCLOSED_STRING";
    case simdjson::UNSUPPORTED_ARCHITECTURE: return "UNSUPPORTED_ARCHITECTURE";
    case simdjson::INCORRECT_TYPE: return "INCORRECT_TYPE";
    case simdjson::NUMBER_OUT_OF_RANGE: return "NUMBER_OUT_OF_RANGE";
    case simdjson::INDEX_OUT_OF_BOUNDS: return "INDEX_OUT_OF_BOUNDS";
    case simdjson::NO_SUCH_FIELD: return "NO_SUCH_FIELD";
    case simdjson::IO_ERROR: return "IO_ERROR";
    case simdjson::INVALID_JSON_POINTER: return "INVALID_JSON_POINTER";
    case simdjson::INVALID_URI_FRAGMENT: return "INVALID_URI_FRAGMENT";
    case simdjson::UNEXPECTED_ERROR: return "UNEXPECTED_ERROR";
    case simdjson::PARSER_IN_USE: return "PARSER_IN_USE";
    case simdjson::OUT_OF_ORDER_ITERATION: return "OUT_OF_ORDER_ITERATION";
    case simdjson::INSUFFICIENT_PADDING: return "INSUFFICIENT_PADDING";
    case simdjson::INCOMPLETE_ARRAY_OR_OBJECT: return "INCOMPLETE_ARRAY_OR_OBJECT";
    case simdjson::SCALAR_DOCUMENT_AS_VALUE: return "SCALAR_DOCUMENT_AS_VALUE";
    case simdjson::OUT_OF_BOUNDS: return "OUT_OF_BOUNDS";
    case simdjson::TRAILING_CONTENT: return "TRAILING_CONTENT";
    default: return "UNKNOWN_ERROR";
  }
}

std::string describe_simdjson_error(simdjson::error_code code) {
  std::string text(simdjson_error_name(code));
  text += " (";
  text += simdjson::error_message(code);
  text += ")";
  return text;
}

std::string describe_bind_failure(const BindFailure& failure) {
  std::string text = failure.path.empty() ? "payload: " : "field '" + failure.path + "': ";
  if (failure.code == simdjson::NO_SUCH_FIELD && !failure.path.empty()) {
    return text + "NO_SUCH_FIELD (required field is missing)";
  }
  return text + describe_simdjson_error(failure.code);
}

std::string describe_write_failure(const WriteFailure& failure) {
  return "field '" + failure.path + "': " + std::string(failure.reason);
}

}  // namespace jobq::internal

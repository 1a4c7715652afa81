// JSON for payload structs, from their descriptions (payload_type.hpp): binding with simdjson
// On-Demand, serialization, and the checks a typed dispatch makes. Everything here is compiled in
// the library, never in a user's translation unit.
#pragma once

#include <simdjson.h>

#include <cstddef>
#include <limits>
#include <string>
#include <string_view>

#include "jobq/internal/json_buffer.hpp"
#include "jobq/internal/payload_type.hpp"
#include "jobq/status.hpp"

namespace jobq::internal {

class PayloadBuffer;

/// Where and why binding stopped. Paths are built while unwinding: "address.city", "tags[2]".
struct BindFailure {
  simdjson::error_code code = simdjson::SUCCESS;
  std::string path;
};

/// Where and why serialization (or the dispatch check) stopped: a string that is not UTF-8, or a
/// number that is not finite.
struct WriteFailure {
  std::string path;
  std::string_view reason;
};

void prepend_field(std::string& path, std::string_view name);
void prepend_index(std::string& path, std::size_t index);

/// An On-Demand parser, opaque so that this header's users need no simdjson type.
void* make_parser();
void destroy_parser(void* parser) noexcept;
/// Binds `size` bytes at `data`, which must be followed by SIMDJSON_PADDING readable bytes
/// (capacity >= size + padding), into `out`.
simdjson::error_code bind_json(void* parser, const ObjectType& type, void* out, const char* data, std::size_t size,
                               std::size_t capacity, BindFailure& failure);

/// A thread's parser and a buffer for JSON made on demand.
class PayloadScratch {
 public:
  PayloadScratch() : parser_(make_parser()) {}
  ~PayloadScratch() { destroy_parser(parser_); }
  PayloadScratch(const PayloadScratch&) = delete;
  PayloadScratch& operator=(const PayloadScratch&) = delete;

  /// Binds `size` bytes at `data` (`capacity` readable) into `out`; copies them to pad them when
  /// `capacity` is short of size + SIMDJSON_PADDING.
  Status bind(const ObjectType& type, void* out, const char* data, std::size_t size, std::size_t capacity);

  /// The calling thread's own scratch, for messages that no worker made.
  static PayloadScratch& for_this_thread();

  JsonBuffer json;  ///< serialized payloads, with SIMDJSON_PADDING bytes of slack past the end

 private:
  void* parser_;
  JsonBuffer padded_;  ///< a copy of short-padded input
};

/// Appends `object` (of `type`) as JSON. False, with the path and reason, on a string that is not
/// UTF-8 or a number that is not finite.
bool write_json(JsonBuffer& out, const ObjectType& type, const void* object, WriteFailure& failure);
/// What a typed dispatch checks without serializing: strings are UTF-8, numbers finite. Adds a
/// bound of the size of the object's JSON to `size`: each boolean and number counted at its widest,
/// each string unescaped (an escaped character makes the text longer than counted).
bool check_object(const ObjectType& type, const void* object, std::size_t& size, WriteFailure& failure);
/// The size of a checked object's JSON as check_object() counts it, with each boolean and number
/// counted exactly: for the message that refuses a payload past max_payload_bytes.
std::size_t json_size(const ObjectType& type, const void* object);
/// A job's payload as JSON text: its bytes, or its object serialized. An object that cannot be
/// serialized (a trusted() dispatch with a string that is not UTF-8) reads as "{}"; the caller is
/// a cold path (a dead letter, a job returned at shutdown) that must not fail.
std::string payload_json(const PayloadBuffer& payload);
/// Appends `text` as a JSON string literal. Returns false if `text` is not valid UTF-8.
bool write_json_string(JsonBuffer& out, std::string_view text);

/// The identifier of a simdjson error code ("INCORRECT_TYPE").
std::string_view simdjson_error_name(simdjson::error_code code) noexcept;
/// "INCORRECT_TYPE (The JSON element does not have the requested type.)"
std::string describe_simdjson_error(simdjson::error_code code);
/// "field 'user_id': INCORRECT_TYPE (The JSON element does not have the requested type.)"
std::string describe_bind_failure(const BindFailure& failure);
/// "field 'name': string is not valid UTF-8"
std::string describe_write_failure(const WriteFailure& failure);

/// The least double that rounds to infinity as a float: halfway between FLT_MAX and 2^128 (a tie
/// rounds to even, away from FLT_MAX's odd significand). Doubles below it round to a finite float.
/// It is not FLT_MAX: FLT_MAX's shortest text, 3.4028235e+38, reads back as a double above it.
inline constexpr double float_overflow = 0x1.ffffffp+127;
static_assert(float_overflow > double{std::numeric_limits<float>::max()} &&
                  std::numeric_limits<float>::is_iec559 && std::numeric_limits<float>::max_exponent == 128,
              "float_overflow assumes IEEE-754 binary32 floats");

}  // namespace jobq::internal

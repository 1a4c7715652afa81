// JSON → payload struct with simdjson On-Demand, walking the struct's description. Walks every
// value it binds, in one pass over each object (keys in any order, unknown keys skipped), and
// records where binding failed. Compiled for simdjson's built-in On-Demand kernel: the best one
// the library's own compile flags allow (the portable kernel for baseline x86-64; build jobq with
// -march=haswell or newer for the AVX2 one). The user's build never compiles it.
#include <simdjson.h>

#include <bit>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string_view>
#include <utility>

#include "jobq/internal/payload_json.hpp"

namespace jobq::internal {
namespace {

namespace ondemand = simdjson::ondemand;
using simdjson::error_code;

error_code bind_object(ondemand::object& object, const ObjectType& type, void* out, BindFailure& failure);
error_code bind_nested(ondemand::value& value, const ValueType& type, void* out, BindFailure& failure);
inline error_code bind_value(ondemand::value& value, const ValueType& type, void* out, BindFailure& failure);

template <class Signed>
[[gnu::always_inline]] inline error_code bind_signed(ondemand::value& value, void* out) {
  std::int64_t number = 0;
  if (error_code error = value.get_int64().get(number)) return error;
  if (number < std::numeric_limits<Signed>::min() || number > std::numeric_limits<Signed>::max()) {
    return simdjson::NUMBER_OUT_OF_RANGE;
  }
  *static_cast<Signed*>(out) = static_cast<Signed>(number);
  return simdjson::SUCCESS;
}

template <class Unsigned>
[[gnu::always_inline]] inline error_code bind_unsigned(ondemand::value& value, void* out) {
  std::uint64_t number = 0;
  if (error_code error = value.get_uint64().get(number)) return error;
  if (number > std::numeric_limits<Unsigned>::max()) return simdjson::NUMBER_OUT_OF_RANGE;
  *static_cast<Unsigned*>(out) = static_cast<Unsigned>(number);
  return simdjson::SUCCESS;
}

/// True when a key, given as the bytes after its opening quote, is exactly the field's name as
/// written, without escapes. A declared name is a C++ identifier (no quote, no backslash), so a
/// key that is shorter differs at its closing quote, and one that is longer has no quote after
/// the name. The first 8 bytes are compared as one word: they may run past the key's end, but not
/// past the document's padding (SIMDJSON_PADDING bytes, which every caller of bind_json has).
bool raw_key_is(const char* raw, const FieldType& field) noexcept {
  const std::string_view name = field.name;
  std::size_t index = 0;  // the bytes before it are compared
  if constexpr (std::endian::native == std::endian::little) {
    std::uint64_t head;
    std::memcpy(&head, raw, sizeof head);
    const std::uint64_t mask = name.size() >= 8 ? ~std::uint64_t{0} : (std::uint64_t{1} << (8 * name.size())) - 1;
    if (((head ^ field.name_head) & mask) != 0) return false;
    index = name.size() >= 8 ? 8 : name.size();
  }
  for (; index < name.size(); ++index) {
    if (raw[index] != name[index]) return false;
  }
  return raw[name.size()] == '"';
}

/// Whether a raw key has a backslash before its closing quote (it may then spell a declared name
/// with escapes, and it must be unescaped to be checked).
bool raw_key_escaped(const char* raw) noexcept {
  for (;; ++raw) {
    if (*raw == '"') return false;
    if (*raw == '\\') return true;
  }
}

/// The declared field a key names, or field_count. The search starts after the field matched
/// last: JSON written from a struct (by jobq or by most producers) has its keys in declaration
/// order, so a key is usually found by its first compare.
std::size_t find_field(const ObjectType& type, ondemand::field& field, std::size_t next, error_code& error) {
  const char* raw = field.key().raw();
  for (std::size_t tried = 0, index = next; tried < type.field_count; ++tried) {
    if (raw_key_is(raw, type.fields[index])) return index;
    if (++index == type.field_count) index = 0;
  }
  if (!raw_key_escaped(raw)) return type.field_count;  // an unknown key, skipped
  std::string_view key;
  if ((error = field.unescaped_key().get(key))) return type.field_count;
  for (std::size_t index = 0; index < type.field_count; ++index) {
    if (type.fields[index].name == key) return index;
  }
  return type.field_count;
}

error_code bind_object(ondemand::object& object, const ObjectType& type, void* out, BindFailure& failure) {
  std::uint64_t seen = 0;
  std::size_t next = 0;
  for (auto entry : object) {
    // The field is used where the iterator made it: moved into a variable of its own, its parts
    // were written and then read back as one wider load, which stalls store forwarding.
    error_code error = entry.error();
    if (error) return error;
    ondemand::field& field = entry.value_unsafe();
    const std::size_t index = find_field(type, field, next, error);
    if (error) return error;
    if (index == type.field_count) continue;
    const FieldType& member = type.fields[index];
    seen |= std::uint64_t{1} << index;
    next = index + 1 == type.field_count ? 0 : index + 1;
    if (error_code bound = bind_value(field.value(), *member.value, member.member(out), failure)) {
      prepend_field(failure.path, member.name);
      return bound;
    }
  }
  const std::uint64_t declared = type.field_count == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << type.field_count) - 1;
  if (seen == declared) [[likely]] return simdjson::SUCCESS;
  // Optional members that were not present must read as empty, even when `out` is reused; the
  // first required member missing is the error.
  for (std::size_t index = 0; index < type.field_count; ++index) {
    if (seen & (std::uint64_t{1} << index)) continue;
    const FieldType& member = type.fields[index];
    if (member.required) {
      prepend_field(failure.path, member.name);
      return simdjson::NO_SUCH_FIELD;
    }
    member.value->optional->reset(member.member(out));
  }
  return simdjson::SUCCESS;
}

/// Scalars and strings, most of what a payload holds: inlined where a value is bound, so that
/// they cost no call of their own.
[[gnu::always_inline]] inline error_code bind_leaf(ondemand::value& value, const ValueType& type, void* out) {
  switch (type.kind) {
    case ValueKind::boolean: return value.get_bool().get(*static_cast<bool*>(out));
    case ValueKind::int8: return bind_signed<std::int8_t>(value, out);
    case ValueKind::int16: return bind_signed<std::int16_t>(value, out);
    case ValueKind::int32: return bind_signed<std::int32_t>(value, out);
    case ValueKind::int64: return bind_signed<std::int64_t>(value, out);
    case ValueKind::uint8: return bind_unsigned<std::uint8_t>(value, out);
    case ValueKind::uint16: return bind_unsigned<std::uint16_t>(value, out);
    case ValueKind::uint32: return bind_unsigned<std::uint32_t>(value, out);
    case ValueKind::uint64: return bind_unsigned<std::uint64_t>(value, out);
    case ValueKind::float32: {
      double number = 0;
      if (error_code error = value.get_double().get(number)) return error;
      if (!(number > -float_overflow && number < float_overflow)) return simdjson::NUMBER_OUT_OF_RANGE;
      *static_cast<float*>(out) = static_cast<float>(number);
      return simdjson::SUCCESS;
    }
    case ValueKind::float64: return value.get_double().get(*static_cast<double*>(out));
    case ValueKind::string: {
      std::string_view text;
      error_code error = value.get_string().get(text);
      if (!error) type.string->assign(out, text.data(), text.size());
      return error;
    }
    default: return simdjson::UNEXPECTED_ERROR;
  }
}

/// Optionals, vectors and nested payloads.
error_code bind_nested(ondemand::value& value, const ValueType& type, void* out, BindFailure& failure) {
  switch (type.kind) {
    case ValueKind::optional: {
      bool is_null = false;
      if (error_code error = value.is_null().get(is_null)) return error;
      if (is_null) {
        type.optional->reset(out);
        return simdjson::SUCCESS;
      }
      return bind_value(value, *type.element, type.optional->emplace(out), failure);
    }
    case ValueKind::vector: {
      auto array = value.get_array();
      if (error_code error = array.error()) return error;
      type.vector->clear(out);
      std::size_t index = 0;
      for (auto element : array.value_unsafe()) {
        error_code error = element.error();
        if (!error) error = bind_value(element.value_unsafe(), *type.element, type.vector->emplace_back(out), failure);
        if (error) {
          prepend_index(failure.path, index);
          return error;
        }
        ++index;
      }
      return simdjson::SUCCESS;
    }
    case ValueKind::object: {
      auto object = value.get_object();
      if (error_code error = object.error()) return error;
      return bind_object(object.value_unsafe(), *type.object, out, failure);
    }
    default: return simdjson::UNEXPECTED_ERROR;
  }
}

[[gnu::always_inline]] inline error_code bind_value(ondemand::value& value, const ValueType& type, void* out, BindFailure& failure) {
  if (type.kind <= ValueKind::string) [[likely]] return bind_leaf(value, type, out);
  return bind_nested(value, type, out, failure);
}

}  // namespace

void* make_parser() { return new ondemand::parser(); }
void destroy_parser(void* parser) noexcept { delete static_cast<ondemand::parser*>(parser); }

simdjson::error_code bind_json(void* parser, const ObjectType& type, void* out, const char* data, std::size_t size,
                               std::size_t capacity, BindFailure& failure) {
  ondemand::document document;
  error_code error = static_cast<ondemand::parser*>(parser)->iterate(data, size, capacity).get(document);
  ondemand::object object;
  if (!error) error = document.get_object().get(object);
  if (!error) error = bind_object(object, type, out, failure);
  if (error) return error;
  // On-Demand stops at the end of the root object; anything after it is an error, not ignored.
  if (document.current_location().error() != simdjson::OUT_OF_BOUNDS) return simdjson::TRAILING_CONTENT;
  return simdjson::SUCCESS;
}

}  // namespace jobq::internal

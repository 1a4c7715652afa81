// JSON → payload struct with simdjson On-Demand, walking the struct's description. Walks every
// value it binds, in one pass over each object (keys in any order, unknown keys skipped), and
// records where binding failed. Compiled for simdjson's built-in On-Demand kernel: the best one
// the library's own compile flags allow (the portable kernel for baseline x86-64; build jobq with
// -march=haswell or newer for the AVX2 one). The user's build never compiles it.
#include <simdjson.h>

#include <cstdint>
#include <limits>
#include <string_view>
#include <utility>

#include "jobq/internal/payload_json.hpp"

namespace jobq::internal {
namespace {

namespace ondemand = simdjson::ondemand;
using simdjson::error_code;

error_code bind_value(ondemand::value value, const ValueType& type, void* out, BindFailure& failure);

template <class Signed>
error_code bind_signed(ondemand::value value, void* out) {
  std::int64_t number = 0;
  if (error_code error = value.get_int64().get(number)) return error;
  if (number < std::numeric_limits<Signed>::min() || number > std::numeric_limits<Signed>::max()) {
    return simdjson::NUMBER_OUT_OF_RANGE;
  }
  *static_cast<Signed*>(out) = static_cast<Signed>(number);
  return simdjson::SUCCESS;
}

template <class Unsigned>
error_code bind_unsigned(ondemand::value value, void* out) {
  std::uint64_t number = 0;
  if (error_code error = value.get_uint64().get(number)) return error;
  if (number > std::numeric_limits<Unsigned>::max()) return simdjson::NUMBER_OUT_OF_RANGE;
  *static_cast<Unsigned*>(out) = static_cast<Unsigned>(number);
  return simdjson::SUCCESS;
}

error_code bind_object(ondemand::object object, const ObjectType& type, void* out, BindFailure& failure) {
  std::uint64_t seen = 0;
  for (auto entry : object) {
    ondemand::field field;
    error_code error = std::move(entry).get(field);
    std::string_view key;
    if (!error) error = field.unescaped_key().get(key);
    if (error) return error;
    for (std::size_t index = 0; index < type.field_count; ++index) {
      const FieldType& member = type.fields[index];
      if (member.name != key) continue;
      seen |= std::uint64_t{1} << index;
      if (error_code bound = bind_value(field.value(), *member.value, member.member(out), failure)) {
        prepend_field(failure.path, member.name);
        return bound;
      }
      break;
    }
  }
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

error_code bind_value(ondemand::value value, const ValueType& type, void* out, BindFailure& failure) {
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
      ondemand::array array;
      if (error_code error = value.get_array().get(array)) return error;
      type.vector->clear(out);
      std::size_t index = 0;
      for (auto element : array) {
        ondemand::value item;
        error_code error = std::move(element).get(item);
        if (!error) error = bind_value(item, *type.element, type.vector->emplace_back(out), failure);
        if (error) {
          prepend_index(failure.path, index);
          return error;
        }
        ++index;
      }
      return simdjson::SUCCESS;
    }
    case ValueKind::object: {
      ondemand::object object;
      if (error_code error = value.get_object().get(object)) return error;
      return bind_object(object, *type.object, out, failure);
    }
  }
  return simdjson::UNEXPECTED_ERROR;
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

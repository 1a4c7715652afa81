// JSON → payload struct with simdjson On-Demand. Walks every value it binds, in one pass over each
// object (keys in any order, unknown keys skipped), and records where binding failed.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "jobq/payload.hpp"

namespace jobq::internal {

/// Paths to a failing value are built while unwinding, innermost first: "address.city", "tags[2]".
/// (Built by concatenation: GCC 12 at -O3 misreports std::string::insert(0, …) under -Wrestrict.)
inline void prepend_field(std::string& path, std::string_view name) {
  std::string outer(name);
  if (!path.empty() && path.front() != '[') outer += '.';
  path = outer + path;
}
inline void prepend_index(std::string& path, std::size_t index) {
  std::string outer = "[" + std::to_string(index) + "]";
  if (!path.empty() && path.front() != '[') outer += '.';
  path = outer + path;
}

/// The least double that rounds to infinity as a float: halfway between FLT_MAX and 2^128 (a tie
/// rounds to even, away from FLT_MAX's odd significand). Doubles below it round to a finite float.
/// It is not FLT_MAX: FLT_MAX's shortest text, 3.4028235e+38, reads back as a double above it.
inline constexpr double float_overflow = 0x1.ffffffp+127;
static_assert(float_overflow > double{std::numeric_limits<float>::max()} &&
                  std::numeric_limits<float>::is_iec559 && std::numeric_limits<float>::max_exponent == 128,
              "float_overflow assumes IEEE-754 binary32 floats");

/// Where and why binding stopped.
struct BindFailure {
  simdjson::error_code code = simdjson::SUCCESS;
  std::string path;
};

/// The identifier of a simdjson error code ("INCORRECT_TYPE").
std::string_view simdjson_error_name(simdjson::error_code code) noexcept;
/// "INCORRECT_TYPE (The JSON element does not have the requested type.)"
std::string describe_simdjson_error(simdjson::error_code code);
/// "field 'user_id': INCORRECT_TYPE (The JSON element does not have the requested type.)"
std::string describe_bind_failure(const BindFailure& failure);

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};
template <class T>
struct is_vector : std::false_type {};
template <class T, class A>
struct is_vector<std::vector<T, A>> : std::true_type {};

template <class T>
simdjson::error_code bind_value(simdjson::ondemand::value value, T& out, BindFailure& failure);

template <Payload T>
simdjson::error_code bind_object(simdjson::ondemand::object object, T& out, BindFailure& failure);

template <class T>
simdjson::error_code bind_value(simdjson::ondemand::value value, T& out, BindFailure& failure) {
  using simdjson::error_code;
  if constexpr (std::is_same_v<T, std::string>) {
    std::string_view text;
    error_code error = value.get_string().get(text);
    if (!error) out.assign(text.data(), text.size());
    return error;
  } else if constexpr (std::is_same_v<T, bool>) {
    return value.get_bool().get(out);
  } else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
    std::int64_t number = 0;
    if (error_code error = value.get_int64().get(number)) return error;
    if (number < std::numeric_limits<T>::min() || number > std::numeric_limits<T>::max()) {
      return simdjson::NUMBER_OUT_OF_RANGE;
    }
    out = static_cast<T>(number);
    return simdjson::SUCCESS;
  } else if constexpr (std::is_integral_v<T>) {
    std::uint64_t number = 0;
    if (error_code error = value.get_uint64().get(number)) return error;
    if (number > std::numeric_limits<T>::max()) return simdjson::NUMBER_OUT_OF_RANGE;
    out = static_cast<T>(number);
    return simdjson::SUCCESS;
  } else if constexpr (std::is_floating_point_v<T>) {
    double number = 0;
    if (error_code error = value.get_double().get(number)) return error;
    if constexpr (std::is_same_v<T, float>) {
      if (!(number > -float_overflow && number < float_overflow)) return simdjson::NUMBER_OUT_OF_RANGE;
    }
    out = static_cast<T>(number);
    return simdjson::SUCCESS;
  } else if constexpr (is_optional<T>::value) {
    bool is_null = false;
    if (error_code error = value.is_null().get(is_null)) return error;
    if (is_null) {
      out.reset();
      return simdjson::SUCCESS;
    }
    return bind_value(value, out.emplace(), failure);
  } else if constexpr (is_vector<T>::value) {
    simdjson::ondemand::array array;
    if (error_code error = value.get_array().get(array)) return error;
    out.clear();
    std::size_t index = 0;
    for (auto element : array) {
      simdjson::ondemand::value item;
      error_code error = std::move(element).get(item);
      if (!error) error = bind_value(item, out.emplace_back(), failure);
      if (error) {
        prepend_index(failure.path, index);
        return error;
      }
      ++index;
    }
    return simdjson::SUCCESS;
  } else if constexpr (Payload<T>) {
    simdjson::ondemand::object object;
    if (error_code error = value.get_object().get(object)) return error;
    return bind_object(object, out, failure);
  } else {
    static_assert(sizeof(T) == 0, "jobq: unsupported payload field type");
  }
}

/// Binds the member whose declared name equals `key`; returns false when no member has that name.
template <Payload T, std::size_t... I>
bool bind_named_field(std::string_view key, simdjson::ondemand::value value, T& out, std::uint64_t& seen,
                      simdjson::error_code& error, BindFailure& failure, std::index_sequence<I...>) {
  constexpr auto& fields = payload_fields<T>;
  return ((key == std::get<I>(fields).name
               ? (seen |= std::uint64_t{1} << I,
                  error = bind_value(value, out.*(std::get<I>(fields).member), failure),
                  error ? prepend_field(failure.path, std::get<I>(fields).name) : void(), true)
               : false) ||
          ...);
}

/// Names the first declared, non-optional member that the object did not provide.
template <Payload T, std::size_t... I>
bool find_missing_field(std::uint64_t seen, BindFailure& failure, std::index_sequence<I...>) {
  constexpr auto& fields = payload_fields<T>;
  return ((!(seen & (std::uint64_t{1} << I)) &&
                   !is_optional<typename std::tuple_element_t<I, std::remove_cvref_t<decltype(fields)>>::member_type>::value
               ? (prepend_field(failure.path, std::get<I>(fields).name), true)
               : false) ||
          ...);
}

template <Payload T>
simdjson::error_code bind_object(simdjson::ondemand::object object, T& out, BindFailure& failure) {
  constexpr std::size_t field_count = std::tuple_size_v<std::remove_cvref_t<decltype(payload_fields<T>)>>;
  static_assert(field_count <= 64, "jobq: a payload struct may declare at most 64 fields");
  constexpr auto indices = std::make_index_sequence<field_count>{};
  std::uint64_t seen = 0;
  for (auto entry : object) {
    simdjson::ondemand::field field;
    simdjson::error_code error = std::move(entry).get(field);
    std::string_view key;
    if (!error) error = field.unescaped_key().get(key);
    if (error) return error;
    bind_named_field(key, field.value(), out, seen, error, failure, indices);
    if (error) return error;
  }
  // Optional members that were not present must read as empty, even when `out` is reused.
  [&]<std::size_t... I>(std::index_sequence<I...>) {
    constexpr auto& fields = payload_fields<T>;
    (([&] {
       auto& member = out.*(std::get<I>(fields).member);
       if constexpr (is_optional<std::remove_cvref_t<decltype(member)>>::value) {
         if (!(seen & (std::uint64_t{1} << I))) member.reset();
       }
     }()),
     ...);
  }(indices);
  if (find_missing_field<T>(seen, failure, indices)) return simdjson::NO_SUCH_FIELD;
  return simdjson::SUCCESS;
}

/// Binds a whole document. `data` must be followed by SIMDJSON_PADDING readable bytes
/// (`capacity >= size + SIMDJSON_PADDING`): parsing reads it in place, with no copy.
template <Payload T>
simdjson::error_code bind_document(simdjson::ondemand::parser& parser, const char* data, std::size_t size,
                                   std::size_t capacity, T& out, BindFailure& failure) {
  simdjson::ondemand::document document;
  simdjson::error_code error = parser.iterate(data, size, capacity).get(document);
  simdjson::ondemand::object object;
  if (!error) error = document.get_object().get(object);
  if (!error) error = bind_object(object, out, failure);
  if (error) return error;
  // On-Demand stops at the end of the root object; anything after it is an error, not ignored.
  if (document.current_location().error() != simdjson::OUT_OF_BOUNDS) return simdjson::TRAILING_CONTENT;
  return simdjson::SUCCESS;
}

}  // namespace jobq::internal

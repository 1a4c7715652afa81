// Payload struct → JSON text. Strings are checked to be UTF-8 and escaped per RFC 8259; numbers
// use the shortest form that reads back to the same value.
#pragma once

#include <charconv>
#include <cmath>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "jobq/internal/json_bind.hpp"
#include "jobq/internal/json_buffer.hpp"
#include "jobq/payload.hpp"

namespace jobq::internal {

/// Where and why serialization stopped: a string that is not UTF-8, or a non-finite number.
struct WriteFailure {
  std::string path;
  std::string_view reason;
};

/// Appends `text` as a JSON string literal. Returns false if `text` is not valid UTF-8.
bool write_json_string(JsonBuffer& out, std::string_view text);

template <class T>
bool write_value(JsonBuffer& out, const T& value, WriteFailure& failure);

template <Payload T>
bool write_object(JsonBuffer& out, const T& value, WriteFailure& failure) {
  out.push_back('{');
  bool first = true;
  bool ok = std::apply(
      [&](const auto&... field) {
        return ([&] {
          const auto& member = value.*(field.member);
          if constexpr (is_optional<std::remove_cvref_t<decltype(member)>>::value) {
            if (!member) return true;  // an empty optional is omitted, and binds back as empty
          }
          out.append(first ? field.json_key.substr(1) : field.json_key);
          first = false;
          if (write_value(out, member, failure)) return true;
          prepend_field(failure.path, field.name);
          return false;
        }() && ...);
      },
      payload_fields<T>);
  out.push_back('}');
  return ok;
}

template <class T>
bool write_value(JsonBuffer& out, const T& value, WriteFailure& failure) {
  if constexpr (std::is_same_v<T, std::string>) {
    if (write_json_string(out, value)) return true;
    failure.reason = "string is not valid UTF-8";
    return false;
  } else if constexpr (std::is_same_v<T, bool>) {
    out.append(value ? "true" : "false");
    return true;
  } else if constexpr (std::is_arithmetic_v<T>) {
    if constexpr (std::is_floating_point_v<T>) {
      if (!std::isfinite(value)) {
        failure.reason = "number is not finite (JSON has no NaN or infinity)";
        return false;
      }
    }
    char digits[32];
    auto [end, error] = std::to_chars(digits, digits + sizeof digits, value);
    out.append({digits, static_cast<std::size_t>(end - digits)});
    return error == std::errc{};
  } else if constexpr (is_optional<T>::value) {
    if (!value) {
      out.append("null");
      return true;
    }
    return write_value(out, *value, failure);
  } else if constexpr (is_vector<T>::value) {
    out.push_back('[');
    for (std::size_t index = 0; index < value.size(); ++index) {
      if (index != 0) out.push_back(',');
      if (!write_value(out, value[index], failure)) {
        prepend_index(failure.path, index);
        return false;
      }
    }
    out.push_back(']');
    return true;
  } else if constexpr (Payload<T>) {
    return write_object(out, value, failure);
  } else {
    static_assert(sizeof(T) == 0, "jobq: unsupported payload field type");
  }
}

}  // namespace jobq::internal

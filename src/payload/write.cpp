// Payload struct → JSON text, walking its description. Strings are checked to be UTF-8 and
// escaped per RFC 8259; numbers use the shortest form that reads back to the same value.
#include <charconv>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

#include "jobq/internal/decimal_digits.hpp"
#include "jobq/internal/envelope.hpp"
#include "jobq/internal/payload_json.hpp"
#include "jobq/internal/utf8.hpp"

namespace jobq::internal {

namespace {

constexpr bool needs_escape(unsigned char c) noexcept { return c < 0x20 || c == '"' || c == '\\'; }

/// Length of the prefix of `bytes` that needs no escaping; ORs every byte it passes into `seen`.
/// Eight bytes per step: a word is clean when none of its bytes is below 0x20, a quote or a
/// backslash (the classic "has a byte less than n / equal to n" bit tricks).
std::size_t clean_prefix(const unsigned char* bytes, std::size_t size, std::uint64_t& seen) noexcept {
  constexpr std::uint64_t ones = 0x0101010101010101ull;
  constexpr std::uint64_t highs = 0x8080808080808080ull;
  auto has_zero_byte = [](std::uint64_t word) { return (word - ones) & ~word & highs; };
  std::size_t index = 0;
  for (; index + 8 <= size; index += 8) {
    std::uint64_t word;
    std::memcpy(&word, bytes + index, 8);
    // Bytes of 0x80 and up (non-ASCII) are clean but make (word - 0x20..) unreliable for the
    // "below 0x20" test on their lane, so that test runs on the word with high bits cleared.
    const std::uint64_t low7 = word & ~highs;
    const std::uint64_t special = ((low7 - 0x20 * ones) & ~low7 & highs & ~word) |
                                  has_zero_byte(word ^ (ones * '"')) | has_zero_byte(word ^ (ones * '\\'));
    if (special != 0) break;
    seen |= word;
  }
  while (index < size && !needs_escape(bytes[index])) seen |= bytes[index++];
  return index;
}

void append_escaped(JsonBuffer& out, unsigned char c) {
  static constexpr char hex[] = "0123456789abcdef";
  switch (c) {
    case '"': out.append("\\\""); break;
    case '\\': out.append("\\\\"); break;
    case '\b': out.append("\\b"); break;
    case '\f': out.append("\\f"); break;
    case '\n': out.append("\\n"); break;
    case '\r': out.append("\\r"); break;
    case '\t': out.append("\\t"); break;
    default: {
      const char escaped[] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xF]};
      out.append({escaped, sizeof escaped});
    }
  }
}

}  // namespace

bool write_json_string(JsonBuffer& out, std::string_view text) {
  const std::size_t start = out.size();
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t size = text.size();
  std::uint64_t seen = 0;  // OR of every byte: a high bit set means non-ASCII text
  std::size_t index = clean_prefix(bytes, size, seen);
  char* quoted = out.extend(index + 1);
  quoted[0] = '"';
  std::memcpy(quoted + 1, text.data(), index);
  // Rare: characters to escape. Copy the runs between them.
  while (index < size) {
    append_escaped(out, bytes[index]);
    const std::size_t run_start = ++index;
    index += clean_prefix(bytes + index, size - index, seen);
    out.append(text.substr(run_start, index - run_start));
  }
  out.push_back('"');
  // ASCII text, the common case, skips the UTF-8 validator's dispatch and setup.
  if ((seen & 0x8080808080808080ull) != 0 && !simdjson::validate_utf8(text.data(), text.size())) {
    out.truncate(start);
    return false;
  }
  return true;
}

namespace {

constexpr std::string_view not_utf8 = "string is not valid UTF-8";
constexpr std::string_view not_finite = "number is not finite (JSON has no NaN or infinity)";

template <class Number>
bool write_number(JsonBuffer& out, Number value, WriteFailure& failure) {
  if constexpr (std::is_floating_point_v<Number>) {
    if (!std::isfinite(value)) {
      failure.reason = not_finite;
      return false;
    }
  }
  char digits[32];
  auto [end, error] = std::to_chars(digits, digits + sizeof digits, value);
  out.append({digits, static_cast<std::size_t>(end - digits)});
  return error == std::errc{};
}

bool write_value(JsonBuffer& out, const ValueType& type, const void* value, WriteFailure& failure) {
  switch (type.kind) {
    case ValueKind::boolean: out.append(*static_cast<const bool*>(value) ? "true" : "false"); return true;
    case ValueKind::int8: return write_number(out, *static_cast<const std::int8_t*>(value), failure);
    case ValueKind::int16: return write_number(out, *static_cast<const std::int16_t*>(value), failure);
    case ValueKind::int32: return write_number(out, *static_cast<const std::int32_t*>(value), failure);
    case ValueKind::int64: return write_number(out, *static_cast<const std::int64_t*>(value), failure);
    case ValueKind::uint8: return write_number(out, *static_cast<const std::uint8_t*>(value), failure);
    case ValueKind::uint16: return write_number(out, *static_cast<const std::uint16_t*>(value), failure);
    case ValueKind::uint32: return write_number(out, *static_cast<const std::uint32_t*>(value), failure);
    case ValueKind::uint64: return write_number(out, *static_cast<const std::uint64_t*>(value), failure);
    case ValueKind::float32: return write_number(out, *static_cast<const float*>(value), failure);
    case ValueKind::float64: return write_number(out, *static_cast<const double*>(value), failure);
    case ValueKind::string:
      if (write_json_string(out, type.string->view(value))) return true;
      failure.reason = not_utf8;
      return false;
    case ValueKind::optional: {
      const void* inner = type.optional->get(value);
      if (inner == nullptr) {
        out.append("null");
        return true;
      }
      return write_value(out, *type.element, inner, failure);
    }
    case ValueKind::vector: {
      out.push_back('[');
      const std::size_t size = type.vector->size(value);
      for (std::size_t index = 0; index < size; ++index) {
        if (index != 0) out.push_back(',');
        if (!write_value(out, *type.element, type.vector->at(value, index), failure)) {
          prepend_index(failure.path, index);
          return false;
        }
      }
      out.push_back(']');
      return true;
    }
    case ValueKind::object: return write_json(out, *type.object, value, failure);
  }
  return false;
}

/// The characters std::to_chars writes for a floating-point number (shortest round trip).
template <std::floating_point Float>
std::size_t digits_of(Float value) noexcept {
  char digits[32];
  return static_cast<std::size_t>(std::to_chars(digits, digits + sizeof digits, value).ptr - digits);
}

/// How a check counts the JSON it would write. `bounded`: each boolean and number at its widest,
/// which costs nothing (a typed dispatch only compares the count with max_payload_bytes);
/// `exact`: each number's own digits, asked for when the bound passes the limit.
enum class Sizing { bounded, exact };

template <Sizing sizing, class Float>
bool check_float(Float value, std::size_t& size, WriteFailure& failure) {
  if (!std::isfinite(value)) {
    failure.reason = not_finite;
    return false;
  }
  if constexpr (sizing == Sizing::exact) {
    size += digits_of(value);
  } else {
    // The shortest round trip: 9 (float) or 17 (double) digits, a sign, a point, "e-38"/"e-308".
    size += std::is_same_v<Float, float> ? 15 : 24;
  }
  return true;
}

/// A boolean's or an integer's JSON: at its widest (scalar_json_width(), which the type's
/// scalar_json_bound also sums), or as written.
template <Sizing sizing, class Scalar>
void count_scalar(const void* value, ValueKind kind, std::size_t& size) noexcept {
  if constexpr (sizing == Sizing::bounded) {
    size += scalar_json_width(kind);
  } else if constexpr (std::is_same_v<Scalar, bool>) {
    size += *static_cast<const bool*>(value) ? 4 : 5;
  } else {
    size += decimal_digits(*static_cast<const Scalar*>(value));
  }
}

enum class Leaf { passed, failed, compound };

/// A value that is not a container, checked where it is met: a call per field cost more than
/// checking most fields. `compound` for an optional, a vector or an object, which
/// check_compound() walks.
template <Sizing sizing>
[[gnu::always_inline]] inline Leaf check_leaf(const ValueType& type, const void* value, std::size_t& size,
                                              WriteFailure& failure) {
  switch (type.kind) {
    case ValueKind::boolean: count_scalar<sizing, bool>(value, type.kind, size); return Leaf::passed;
    case ValueKind::int8: count_scalar<sizing, std::int8_t>(value, type.kind, size); return Leaf::passed;
    case ValueKind::int16: count_scalar<sizing, std::int16_t>(value, type.kind, size); return Leaf::passed;
    case ValueKind::int32: count_scalar<sizing, std::int32_t>(value, type.kind, size); return Leaf::passed;
    case ValueKind::int64: count_scalar<sizing, std::int64_t>(value, type.kind, size); return Leaf::passed;
    case ValueKind::uint8: count_scalar<sizing, std::uint8_t>(value, type.kind, size); return Leaf::passed;
    case ValueKind::uint16: count_scalar<sizing, std::uint16_t>(value, type.kind, size); return Leaf::passed;
    case ValueKind::uint32: count_scalar<sizing, std::uint32_t>(value, type.kind, size); return Leaf::passed;
    case ValueKind::uint64: count_scalar<sizing, std::uint64_t>(value, type.kind, size); return Leaf::passed;
    case ValueKind::float32:
      return check_float<sizing>(*static_cast<const float*>(value), size, failure) ? Leaf::passed : Leaf::failed;
    case ValueKind::float64:
      return check_float<sizing>(*static_cast<const double*>(value), size, failure) ? Leaf::passed : Leaf::failed;
    case ValueKind::string: {
      const std::string_view text = type.string->view(value);
      size += text.size() + 2;
      if (valid_utf8(text)) [[likely]] return Leaf::passed;
      failure.reason = not_utf8;
      return Leaf::failed;
    }
    case ValueKind::optional:
    case ValueKind::vector:
    case ValueKind::object: return Leaf::compound;
  }
  return Leaf::passed;
}

template <Sizing sizing>
bool check_fields(const ObjectType& type, const void* object, std::size_t& size, WriteFailure& failure);

template <Sizing sizing>
[[gnu::always_inline]] inline bool check_value(const ValueType& type, const void* value, std::size_t& size,
                                               WriteFailure& failure);

/// An optional, a vector or a nested object, which check_leaf() answered `compound` for.
template <Sizing sizing>
bool check_compound(const ValueType& type, const void* value, std::size_t& size, WriteFailure& failure) {
  switch (type.kind) {
    case ValueKind::optional: {
      const void* inner = type.optional->get(value);
      return inner == nullptr || check_value<sizing>(*type.element, inner, size, failure);
    }
    case ValueKind::vector: {
      const std::size_t count = type.vector->size(value);
      size += count == 0 ? 2 : count + 1;  // brackets and commas
      for (std::size_t index = 0; index < count; ++index) {
        if (!check_value<sizing>(*type.element, type.vector->at(value, index), size, failure)) {
          prepend_index(failure.path, index);
          return false;
        }
      }
      return true;
    }
    case ValueKind::object: return check_fields<sizing>(*type.object, value, size, failure);
    default: return true;  // the leaves: check_leaf()
  }
}

/// Any value: a leaf where it is met, a container through check_compound() (not inlined, which
/// breaks the recursion).
template <Sizing sizing>
[[gnu::always_inline]] inline bool check_value(const ValueType& type, const void* value, std::size_t& size,
                                               WriteFailure& failure) {
  const Leaf leaf = check_leaf<sizing>(type, value, size, failure);
  if (leaf == Leaf::compound) return check_compound<sizing>(type, value, size, failure);
  return leaf == Leaf::passed;
}

/// Checks and counts an object's fields. A bounded count takes its boolean and integer fields at
/// their widest from the type (ObjectType::scalar_json_bound) and visits only the others.
template <Sizing sizing>
bool check_fields(const ObjectType& type, const void* object, std::size_t& size, WriteFailure& failure) {
  std::size_t total = size + type.frame_json_bytes;
  auto check = [&](const FieldType& field) {
    if (!check_value<sizing>(*field.value, field.member(const_cast<void*>(object)), total, failure)) [[unlikely]] {
      prepend_field(failure.path, field.name);
      return false;
    }
    return true;
  };
  if constexpr (sizing == Sizing::bounded) {
    total += type.scalar_json_bound;
    for (std::size_t index = 0; index < type.checked_count; ++index) {
      if (!check(type.fields[type.checked_fields[index]])) return false;
    }
  } else {
    for (std::size_t index = 0; index < type.field_count; ++index) {
      if (!check(type.fields[index])) return false;
    }
  }
  size = total;
  return true;
}

}  // namespace

bool write_json(JsonBuffer& out, const ObjectType& type, const void* object, WriteFailure& failure) {
  out.push_back('{');
  bool first = true;
  for (std::size_t index = 0; index < type.field_count; ++index) {
    const FieldType& field = type.fields[index];
    const void* member = field.member(const_cast<void*>(object));
    // An empty optional is omitted, and binds back as empty.
    if (field.value->kind == ValueKind::optional && field.value->optional->get(member) == nullptr) continue;
    if (!first) out.push_back(',');
    first = false;
    write_json_string(out, field.name);  // declared names are C++ identifiers: plain ASCII
    out.push_back(':');
    if (!write_value(out, *field.value, member, failure)) {
      prepend_field(failure.path, field.name);
      return false;
    }
  }
  out.push_back('}');
  return true;
}

bool check_object(const ObjectType& type, const void* object, std::size_t& size, WriteFailure& failure) {
  return check_fields<Sizing::bounded>(type, object, size, failure);
}

std::size_t json_size(const ObjectType& type, const void* object) {
  std::size_t size = 0;
  WriteFailure failure;
  check_fields<Sizing::exact>(type, object, size, failure);
  return size;
}

std::string payload_json(const PayloadBuffer& payload) {
  if (payload.object_type() == nullptr) return std::string(payload.view());
  JsonBuffer text;
  WriteFailure failure;
  if (!write_json(text, *payload.object_type(), payload.object(), failure)) return "{}";
  return std::string(text.view());
}

}  // namespace jobq::internal

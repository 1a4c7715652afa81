// A payload struct described as data: its fields' names, kinds and accessors, and the operations
// on its members, each compiled in the translation unit that declares the struct.
//
// This is the whole boundary between a user's code and the library's JSON code. The library walks
// a description to bind JSON into a struct, to serialize it and to check it; the user's build
// compiles only operations on the user's own types (construct, copy, std::string::assign,
// std::vector::emplace_back, ...). Nothing whose layout depends on build flags (a parser, a
// document iterator) is ever compiled on the user's side, so a Debug build, -O0, -O3 or another
// compiler cannot disagree with the library about a layout.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace jobq::internal {

enum class ValueKind : std::uint8_t {
  boolean,
  int8,
  int16,
  int32,
  int64,
  uint8,
  uint16,
  uint32,
  uint64,
  float32,
  float64,
  string,
  optional,
  vector,
  object,
};

struct ObjectType;
struct ValueType;

/// std::string, as the user's build compiles it.
struct StringOps {
  void (*assign)(void* string, const char* data, std::size_t size);
  std::string_view (*view)(const void* string) noexcept;
};

/// std::optional<T>.
struct OptionalOps {
  const void* (*get)(const void* optional) noexcept;  ///< the value, or null when empty
  void (*reset)(void* optional) noexcept;
  void* (*emplace)(void* optional);  ///< a value-initialized T, returned for binding
};

/// std::vector<T>.
struct VectorOps {
  std::size_t (*size)(const void* vector) noexcept;
  const void* (*at)(const void* vector, std::size_t index) noexcept;
  void (*clear)(void* vector) noexcept;
  void* (*emplace_back)(void* vector);  ///< a value-initialized T, returned for binding
};

/// One kind of value: a scalar, or a string, optional, vector or nested payload with its ops.
struct ValueType {
  ValueKind kind;
  const StringOps* string = nullptr;
  const OptionalOps* optional = nullptr;
  const VectorOps* vector = nullptr;
  const ValueType* element = nullptr;  ///< optional and vector: the element's type
  const ObjectType* object = nullptr;  ///< object: the nested payload
};

/// One declared member.
struct FieldType {
  std::string_view name;
  void* (*member)(void* object) noexcept;  ///< the member inside an object of the struct
  const ValueType* value;
  bool required;  ///< everything but std::optional must be present when binding
  /// The name's first 8 bytes as one little-endian word, zero-padded: binding compares a JSON key
  /// with it in one load.
  std::uint64_t name_head = 0;
};

/// The first 8 bytes of `name` as a little-endian word, zero-padded.
constexpr std::uint64_t name_head_of(std::string_view name) noexcept {
  std::uint64_t word = 0;
  for (std::size_t index = 0; index < name.size() && index < 8; ++index) {
    word |= std::uint64_t{static_cast<unsigned char>(name[index])} << (8 * index);
  }
  return word;
}

/// A payload struct: its fields, and what the engine needs to carry one by value.
struct ObjectType {
  std::string_view name;  ///< the C++ type name as written in JOBQ_PAYLOAD
  const FieldType* fields;
  std::size_t field_count;
  std::size_t size;
  std::size_t align;
  void (*copy_construct)(void* to, const void* from);
  void (*move_construct)(void* to, void* from) noexcept;
  void (*copy_assign)(void* to, const void* from);
  void (*destroy)(void* object) noexcept;
  /// The JSON bytes that do not depend on the values: braces, commas, quoted names and colons.
  std::size_t frame_json_bytes;
  /// The widest JSON of the boolean and integer fields together ("false", "-9223372036854775808").
  std::size_t scalar_json_bound;
  /// The indices of the other fields (strings, floats, optionals, vectors, nested payloads): a
  /// typed dispatch checks these on every job; the scalars above can be neither invalid nor longer
  /// than their bound.
  const std::uint8_t* checked_fields;
  std::size_t checked_count;
  /// The struct is trivially copyable: the engine moves it by copying its bytes and never
  /// destroys it, without calling the operations above.
  bool trivial;
};

/// The widest JSON text of a boolean or integer kind; 0 for the other kinds.
constexpr std::size_t scalar_json_width(ValueKind kind) noexcept {
  switch (kind) {
    case ValueKind::boolean: return 5;   // false
    case ValueKind::int8: return 4;      // -128
    case ValueKind::int16: return 6;     // -32768
    case ValueKind::int32: return 11;    // -2147483648
    case ValueKind::int64: return 20;    // -9223372036854775808
    case ValueKind::uint8: return 3;     // 255
    case ValueKind::uint16: return 5;    // 65535
    case ValueKind::uint32: return 10;   // 4294967295
    case ValueKind::uint64: return 20;   // 18446744073709551615
    default: return 0;
  }
}

template <class T>
struct is_optional : std::false_type {};
template <class T>
struct is_optional<std::optional<T>> : std::true_type {};
template <class T>
struct is_vector : std::false_type {};
template <class T, class A>
struct is_vector<std::vector<T, A>> : std::true_type {};

template <class T>
struct StringOpsFor {
  static void assign(void* string, const char* data, std::size_t size) {
    static_cast<T*>(string)->assign(data, size);
  }
  static std::string_view view(const void* string) noexcept { return *static_cast<const T*>(string); }
  static constexpr StringOps ops{&assign, &view};
};

template <class T>
struct OptionalOpsFor {
  static const void* get(const void* optional) noexcept {
    const auto& self = *static_cast<const T*>(optional);
    return self ? &*self : nullptr;
  }
  static void reset(void* optional) noexcept { static_cast<T*>(optional)->reset(); }
  static void* emplace(void* optional) { return &static_cast<T*>(optional)->emplace(); }
  static constexpr OptionalOps ops{&get, &reset, &emplace};
};

template <class T>
struct VectorOpsFor {
  static std::size_t size(const void* vector) noexcept { return static_cast<const T*>(vector)->size(); }
  static const void* at(const void* vector, std::size_t index) noexcept {
    return &(*static_cast<const T*>(vector))[index];
  }
  static void clear(void* vector) noexcept { static_cast<T*>(vector)->clear(); }
  static void* emplace_back(void* vector) { return &static_cast<T*>(vector)->emplace_back(); }
  static constexpr VectorOps ops{&size, &at, &clear, &emplace_back};
};

template <class T>
constexpr ValueKind scalar_kind() {
  if constexpr (std::is_same_v<T, bool>) return ValueKind::boolean;
  else if constexpr (std::is_same_v<T, float>) return ValueKind::float32;
  else if constexpr (std::is_same_v<T, double>) return ValueKind::float64;
  else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
    if constexpr (sizeof(T) == 1) return ValueKind::int8;
    else if constexpr (sizeof(T) == 2) return ValueKind::int16;
    else if constexpr (sizeof(T) == 4) return ValueKind::int32;
    else return ValueKind::int64;
  } else {
    if constexpr (sizeof(T) == 1) return ValueKind::uint8;
    else if constexpr (sizeof(T) == 2) return ValueKind::uint16;
    else if constexpr (sizeof(T) == 4) return ValueKind::uint32;
    else return ValueKind::uint64;
  }
}

template <class T>
constexpr bool is_payload_struct = requires(const T* tag) { jobq_payload_fields(tag); };

template <class T>
struct ValueTypeFor;
template <class T>
struct PayloadTypeFor;

template <class T>
inline constexpr const ValueType* value_type_of = &ValueTypeFor<T>::value;

template <class T>
struct ValueTypeFor {
  static constexpr ValueType make() {
    if constexpr (std::is_same_v<T, std::string>) {
      return ValueType{.kind = ValueKind::string, .string = &StringOpsFor<T>::ops};
    } else if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, char> && sizeof(T) <= 8 &&
                         !std::is_same_v<T, long double>) {
      return ValueType{.kind = scalar_kind<T>()};
    } else if constexpr (is_optional<T>::value) {
      return ValueType{.kind = ValueKind::optional, .optional = &OptionalOpsFor<T>::ops,
                       .element = value_type_of<typename T::value_type>};
    } else if constexpr (is_vector<T>::value) {
      static_assert(!std::is_same_v<typename T::value_type, bool>,
                    "jobq: std::vector<bool> is not supported in a payload (use std::vector<std::uint8_t>)");
      return ValueType{.kind = ValueKind::vector, .vector = &VectorOpsFor<T>::ops,
                       .element = value_type_of<typename T::value_type>};
    } else if constexpr (is_payload_struct<T>) {
      return ValueType{.kind = ValueKind::object, .object = &PayloadTypeFor<T>::value};
    } else {
      static_assert(sizeof(T) == 0, "jobq: unsupported payload field type");
      return ValueType{};
    }
  }
  static constexpr ValueType value = make();
};

/// Returns the member that `Member` points to, as a type-erased pointer.
template <auto Member>
struct MemberAccess;
template <class Struct, class M, M Struct::*Member>
struct MemberAccess<Member> {
  using member_type = M;
  static void* get(void* object) noexcept { return &(static_cast<Struct*>(object)->*Member); }
};

/// One field of a JOBQ_PAYLOAD: what the macro writes for each member. Only the declaration is
/// needed where the macro stands; the description is made where the struct is first carried.
template <auto Member>
constexpr FieldType field_of(std::string_view name) noexcept {
  using M = typename MemberAccess<Member>::member_type;
  return FieldType{name, &MemberAccess<Member>::get, value_type_of<M>, !is_optional<M>::value, name_head_of(name)};
}

/// The fields of a JOBQ_PAYLOAD, as an array (empty for a struct that declares none).
template <class... Fields>
constexpr std::array<FieldType, sizeof...(Fields)> fields_of(Fields... fields) noexcept {
  return {fields...};
}

template <class T>
struct PayloadTypeFor {
  static constexpr auto fields = jobq_payload_fields(static_cast<const T*>(nullptr));
  static constexpr std::size_t field_count = fields.size();

  static void copy_construct(void* to, const void* from) { ::new (to) T(*static_cast<const T*>(from)); }
  static void move_construct(void* to, void* from) noexcept { ::new (to) T(std::move(*static_cast<T*>(from))); }
  static void copy_assign(void* to, const void* from) { *static_cast<T*>(to) = *static_cast<const T*>(from); }
  static void destroy(void* object) noexcept { static_cast<T*>(object)->~T(); }

  static constexpr std::size_t frame_json_bytes = [] {
    std::size_t bytes = field_count == 0 ? 2 : field_count + 1;  // braces and commas
    for (const FieldType& field : fields) bytes += field.name.size() + 3;  // quotes and colon
    return bytes;
  }();
  static constexpr std::size_t scalar_json_bound = [] {
    std::size_t bytes = 0;
    for (const FieldType& field : fields) bytes += scalar_json_width(field.value->kind);
    return bytes;
  }();
  static constexpr std::size_t checked_count = [] {
    std::size_t count = 0;
    for (const FieldType& field : fields) count += scalar_json_width(field.value->kind) == 0 ? 1 : 0;
    return count;
  }();
  static constexpr std::array<std::uint8_t, checked_count> checked = [] {
    std::array<std::uint8_t, checked_count> indices{};
    std::size_t next = 0;
    for (std::size_t index = 0; index < field_count; ++index) {
      if (scalar_json_width(fields[index].value->kind) == 0) indices[next++] = static_cast<std::uint8_t>(index);
    }
    return indices;
  }();

  static_assert(field_count <= 64, "jobq: a payload struct may declare at most 64 fields");
  static_assert(std::is_nothrow_move_constructible_v<T>,
                "jobq: a payload struct must be nothrow move constructible (it travels by value)");
  static_assert(std::is_default_constructible_v<T>, "jobq: a payload struct must be default constructible");

  static constexpr ObjectType value{jobq_payload_name(static_cast<const T*>(nullptr)),
                                    fields.data(),
                                    field_count,
                                    sizeof(T),
                                    alignof(T),
                                    &copy_construct,
                                    &move_construct,
                                    &copy_assign,
                                    &destroy,
                                    frame_json_bytes,
                                    scalar_json_bound,
                                    checked.data(),
                                    checked_count,
                                    std::is_trivially_copyable_v<T>};
};

/// The description of payload struct T.
template <class T>
inline constexpr const ObjectType* payload_type_of = &PayloadTypeFor<T>::value;

}  // namespace jobq::internal

// Typed payloads: JOBQ_PAYLOAD declares a struct's fields once, by name, for both binding
// (JSON → struct, simdjson On-Demand) and serialization (struct → JSON).
#pragma once

#include <concepts>
#include <string_view>
#include <tuple>

#include "jobq/internal/for_each.hpp"

namespace jobq {

/// One declared field of a payload struct: its JSON name and the member it binds to.
template <class Struct, class Member>
struct Field {
  using member_type = Member;
  std::string_view name;
  Member Struct::*member;
  /// `,"name":` as written in JSON, so that serialization appends each key in one step
  /// (the first member of an object skips the comma).
  std::string_view json_key;
};

/// A struct declared with JOBQ_PAYLOAD.
template <class T>
concept Payload = requires(const T* tag) {
  { jobq_payload_fields(tag) };
};

/// The declared fields of payload type T, as a tuple of Field.
template <Payload T>
inline constexpr auto payload_fields = jobq_payload_fields(static_cast<const T*>(nullptr));

}  // namespace jobq

#define JOBQ_INTERNAL_FIELD(Type, member) \
  ::jobq::Field<Type, decltype(Type::member)>{#member, &Type::member, ",\"" #member "\":"}

/// Declares the payload fields of `Type`, in the namespace where `Type` is declared:
///
///     struct WelcomePayload { std::string user_id; std::optional<int> campaign; };
///     JOBQ_PAYLOAD(WelcomePayload, user_id, campaign);
///
/// Field names in JSON are the member names. Supported member types: std::string, bool, signed and
/// unsigned integers (range-checked), float and double, std::optional<T> (absent or null leaves it
/// empty), std::vector<T>, and other JOBQ_PAYLOAD structs (nested objects).
#define JOBQ_PAYLOAD(Type, ...)                                                      \
  [[maybe_unused]] constexpr auto jobq_payload_fields(const Type*) noexcept {         \
    return std::make_tuple(JOBQ_INTERNAL_FOR_EACH(JOBQ_INTERNAL_FIELD, Type, __VA_ARGS__)); \
  }                                                                                  \
  static_assert(true, "JOBQ_PAYLOAD needs a semicolon")

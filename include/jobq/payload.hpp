// Typed payloads: JOBQ_PAYLOAD declares a struct's fields once, by name. The library binds JSON
// into the struct and serializes it from a description of the struct as data
// (internal/payload_type.hpp); in-process, a typed job travels as the object itself.
#pragma once

#include <concepts>
#include <string_view>

// JOBQ_PAYLOAD expands its list of members with this macro helper.
#include "jobq/internal/for_each.hpp"
// The description is instantiated here, in the translation unit that declares the struct: it is
// made only of the struct's own member operations, whose layout is the user's.
#include "jobq/internal/payload_type.hpp"

namespace jobq {

/// A struct declared with JOBQ_PAYLOAD.
template <class T>
concept Payload = requires(const T* tag) {
  { jobq_payload_fields(tag) };
  { jobq_payload_name(tag) } -> std::convertible_to<std::string_view>;
};

}  // namespace jobq

#define JOBQ_INTERNAL_FIELD(Type, member) ::jobq::internal::field_of<&Type::member>(#member)

/// Declares the payload fields of `Type`, in the namespace where `Type` is declared:
///
///     struct WelcomePayload { std::string user_id; std::optional<int> campaign; };
///     JOBQ_PAYLOAD(WelcomePayload, user_id, campaign);
///
/// Field names in JSON are the member names. Supported member types: std::string, bool, signed and
/// unsigned integers (range-checked), float and double, std::optional<T> (absent or null leaves it
/// empty), std::vector<T>, and other JOBQ_PAYLOAD structs (nested objects). The struct must be
/// default constructible and nothrow move constructible.
#define JOBQ_PAYLOAD(Type, ...)                                                             \
  [[maybe_unused]] constexpr auto jobq_payload_fields(const Type*) noexcept {                \
    return ::jobq::internal::fields_of(JOBQ_INTERNAL_FOR_EACH(JOBQ_INTERNAL_FIELD, Type, __VA_ARGS__)); \
  }                                                                                         \
  [[maybe_unused]] constexpr ::std::string_view jobq_payload_name(const Type*) noexcept { return #Type; } \
  static_assert(true, "JOBQ_PAYLOAD needs a semicolon")

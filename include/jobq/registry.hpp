// Job types: name rules, interning to dense ids, and the flat handler table the workers index.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "jobq/context.hpp"
#include "jobq/ids.hpp"
// The registry holds its name index by value, and find() is inline: it runs on every dispatch.
#include "jobq/internal/flat_name_map.hpp"
#include "jobq/message.hpp"
#include "jobq/status.hpp"

namespace jobq {

/// Empty when `name` is a valid job type name ("category:action": two non-empty parts of
/// lower-case letters, digits, '_' and '-', joined by one ':'), else what is wrong with it.
std::string type_name_problem(std::string_view name);

/// Empty when `name` is a valid queue name (lower-case letters, digits, '_' and '-'), else why not.
std::string queue_name_problem(std::string_view name);

/// One registered handler: a plain function pointer and its target, so that running a job is one
/// indirect call with no virtual dispatch and no std::function.
struct HandlerEntry {
  using Invoke = Status (*)(void* target, Context& context, const Message& message);
  Invoke invoke = nullptr;
  void* target = nullptr;
  std::string_view name;
  QueueId default_queue = no_id;
  std::chrono::nanoseconds timeout{0};  ///< 0: none
};

/// Interns job type names to TypeIds and owns the handler table. Filled before start(), read-only
/// after: the Manager enforces that.
class Registry {
 public:
  /// Adds a type; throws ConfigError for an invalid or duplicate name or a null handler.
  /// `owned` keeps a callable handler alive for the registry's lifetime (may be null).
  TypeId add(std::string_view name, HandlerEntry::Invoke invoke, void* target,
             std::shared_ptr<void> owned, QueueId default_queue, std::chrono::nanoseconds timeout = {});

  /// The id interned for `name`, or no_id.
  TypeId find(std::string_view name) const noexcept { return names_.find(name); }
  const HandlerEntry& operator[](TypeId id) const noexcept { return entries_[id]; }
  std::size_t size() const noexcept { return entries_.size(); }

 private:
  std::vector<std::unique_ptr<const std::string>> name_storage_;  // stable addresses for the views below
  std::vector<HandlerEntry> entries_;
  std::vector<std::shared_ptr<void>> owned_;
  internal::FlatNameMap names_;
};

}  // namespace jobq

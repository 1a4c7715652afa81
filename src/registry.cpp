#include "jobq/registry.hpp"

#include "jobq/error.hpp"

namespace jobq {
namespace {

bool is_name_char(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/// Empty if `part` is non-empty and made of name characters, else why not.
std::string part_problem(std::string_view part, std::string_view label) {
  if (part.empty()) return std::string(label) + " is empty";
  for (char c : part) {
    if (!is_name_char(c)) {
      return std::string(label) + " contains '" + c + "'; allowed are lower-case letters, digits, '_' and '-'";
    }
  }
  return {};
}

}  // namespace

std::string type_name_problem(std::string_view name) {
  const std::size_t colon = name.find(':');
  if (colon == std::string_view::npos) return "a job type name has the form category:action";
  if (name.find(':', colon + 1) != std::string_view::npos) return "a job type name has exactly one ':'";
  std::string problem = part_problem(name.substr(0, colon), "the category");
  if (problem.empty()) problem = part_problem(name.substr(colon + 1), "the action");
  return problem;
}

std::string queue_name_problem(std::string_view name) { return part_problem(name, "a queue name"); }

TypeId Registry::add(std::string_view name, HandlerEntry::Invoke invoke, void* target, std::shared_ptr<void> owned,
                     QueueId default_queue, std::chrono::nanoseconds timeout) {
  const std::string quoted = "job type '" + std::string(name) + "'";
  if (std::string problem = type_name_problem(name); !problem.empty()) {
    throw ConfigError("invalid " + quoted + ": " + problem);
  }
  if (invoke == nullptr || target == nullptr) throw ConfigError("cannot register " + quoted + ": the handler is empty");
  if (find(name) != no_id) throw ConfigError("cannot register " + quoted + ": it is already registered");
  const std::string& stored = *name_storage_.emplace_back(std::make_unique<const std::string>(name));
  const auto id = static_cast<TypeId>(entries_.size());
  entries_.push_back(HandlerEntry{invoke, target, stored, default_queue, timeout});
  owned_.push_back(std::move(owned));
  names_.insert(stored, id);
  return id;
}

}  // namespace jobq

// What each registered job type brings to the rules of its queue: its retry policy (its own, or
// the Manager's, resolved at registration) and its rate and concurrency limits, if any. Indexed
// by TypeId; filled before start() and only read after.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "jobq/ids.hpp"
#include "jobq/internal/limiter.hpp"
#include "jobq/retry.hpp"

namespace jobq::internal {

class TypeRules {
 public:
  /// The rules of the type registered next (its id is the count so far).
  void add(std::string_view name, RetryPolicy retry, const Limits& limits) {
    retry_.push_back(std::move(retry));
    limits_.push_back(limits.any() ? std::make_unique<LimitScope>(std::string(name), limits) : nullptr);
    any_limited_ = any_limited_ || limits.any();
  }
  const RetryPolicy& retry(TypeId type) const noexcept { return retry_[type]; }
  /// The type's limits; null for a type without.
  LimitScope* limits(TypeId type) const noexcept { return limits_[type].get(); }
  /// Some type has limits: workers look up their job's.
  bool any_limited() const noexcept { return any_limited_; }

 private:
  std::vector<RetryPolicy> retry_;
  std::vector<std::unique_ptr<LimitScope>> limits_;
  bool any_limited_ = false;
};

}  // namespace jobq::internal

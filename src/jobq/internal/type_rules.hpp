// What each registered job type brings to the rules of its queue: its retry policy (its own, or
// the Manager's, resolved at registration) and its rate and concurrency limits, if any. Indexed
// by TypeId; filled before start() and only read after.
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "jobq/ids.hpp"
#include "jobq/internal/limiter.hpp"
#include "jobq/retry.hpp"

namespace jobq::internal {

class TypeRules {
 public:
  /// Makes room for one more type's rules, so that add() cannot fail.
  void reserve_next() {
    if (retry_.size() == retry_.capacity()) retry_.reserve(2 * retry_.size() + 1);
    if (limits_.size() == limits_.capacity()) limits_.reserve(2 * limits_.size() + 1);
  }
  /// The rules of the type registered next (its id is the count so far); `limits` null for none.
  /// After reserve_next() it allocates nothing.
  void add(RetryPolicy retry, std::unique_ptr<LimitScope> limits) noexcept {
    any_limited_ = any_limited_ || limits != nullptr;
    retry_.push_back(std::move(retry));
    limits_.push_back(std::move(limits));
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

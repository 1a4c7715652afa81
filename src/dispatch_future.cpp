// DispatchFuture: one result handed from a dispatch callback to a waiting caller.
#include "jobq/dispatch_future.hpp"

#include <cassert>
#include <condition_variable>
#include <mutex>
#include <optional>

#include "jobq/internal/deadline.hpp"
#include "jobq/internal/dispatch_future_state.hpp"

namespace jobq {

DispatchFuture::DispatchFuture() noexcept = default;
DispatchFuture::DispatchFuture(std::shared_ptr<internal::DispatchFutureState> state) noexcept
    : state_(std::move(state)) {}
DispatchFuture::DispatchFuture(DispatchFuture&&) noexcept = default;
DispatchFuture& DispatchFuture::operator=(DispatchFuture&&) noexcept = default;
DispatchFuture::~DispatchFuture() = default;

bool DispatchFuture::ready() const {
  assert(valid() && "jobq::DispatchFuture: ready() of a future without a state");
  std::lock_guard lock(state_->mutex);
  return state_->result.has_value();
}

void DispatchFuture::wait() const {
  assert(valid() && "jobq::DispatchFuture: wait() of a future without a state");
  std::unique_lock lock(state_->mutex);
  state_->arrived.wait(lock, [&] { return state_->result.has_value(); });
}

bool DispatchFuture::wait_for(std::chrono::nanoseconds timeout) const {
  assert(valid() && "jobq::DispatchFuture: wait_for() of a future without a state");
  if (timeout == std::chrono::nanoseconds::max()) {
    wait();
    return true;
  }
  std::unique_lock lock(state_->mutex);
  const auto until = internal::later(std::chrono::steady_clock::now(), timeout);
  return state_->arrived.wait_until(lock, until, [&] { return state_->result.has_value(); });
}

Result<JobId> DispatchFuture::get() {
  assert(valid() && "jobq::DispatchFuture: get() of a future without a state (called twice?)");
  wait();
  auto state = std::move(state_);
  std::lock_guard lock(state->mutex);
  return std::move(*state->result);
}

}  // namespace jobq

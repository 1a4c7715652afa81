// The result of an asynchronous dispatch, to wait for.
#pragma once

#include <chrono>
#include <memory>

#include "jobq/error.hpp"
#include "jobq/ids.hpp"

namespace jobq {

namespace internal {
struct DispatchFutureState;
}

/// What Manager::dispatch_async(job) returns: the job's id once the queue has taken it, or why it
/// did not. A std::future in all but name and include: <future> is kept out of the public headers
/// so that a user's translation unit does not compile it (bench/compile_time). Move-only; get()
/// may be called once.
class DispatchFuture {
 public:
  DispatchFuture() noexcept;
  explicit DispatchFuture(std::shared_ptr<internal::DispatchFutureState> state) noexcept;
  DispatchFuture(DispatchFuture&&) noexcept;
  DispatchFuture& operator=(DispatchFuture&&) noexcept;
  DispatchFuture(const DispatchFuture&) = delete;
  DispatchFuture& operator=(const DispatchFuture&) = delete;
  ~DispatchFuture();

  /// False for a default-constructed future and after get().
  bool valid() const noexcept { return state_ != nullptr; }
  /// True once the result is there; get() then returns at once.
  bool ready() const;
  /// Waits for the result.
  void wait() const;
  /// Waits at most `timeout` (max() is forever); true when the result is there.
  bool wait_for(std::chrono::nanoseconds timeout) const;
  /// Waits for the result and takes it; the future is then no longer valid().
  Result<JobId> get();

 private:
  std::shared_ptr<internal::DispatchFutureState> state_;
};

}  // namespace jobq

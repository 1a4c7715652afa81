// What a DispatchFuture waits on, and the dispatch callback that fills it.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include "jobq/dispatch_future.hpp"
#include "jobq/manager.hpp"

namespace jobq::internal {

struct DispatchFutureState {
  std::mutex mutex;
  std::condition_variable arrived;
  std::optional<Result<JobId>> result;
};

/// A future, and the callback that hands it its result (once).
inline std::pair<DispatchFuture, Manager::DispatchCallback> dispatch_future() {
  auto state = std::make_shared<DispatchFutureState>();
  Manager::DispatchCallback fill = [state](Result<JobId> outcome) {
    {
      std::lock_guard lock(state->mutex);
      state->result.emplace(std::move(outcome));
    }
    state->arrived.notify_all();
  };
  return {DispatchFuture(std::move(state)), std::move(fill)};
}

}  // namespace jobq::internal

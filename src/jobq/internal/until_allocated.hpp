// Steps that must not be abandoned when memory runs out: settling a job, returning one at
// shutdown. Each such step changes nothing when it throws std::bad_alloc, so it is simply run
// again after a pause.
#pragma once

#include <algorithm>
#include <chrono>
#include <new>
#include <thread>

namespace jobq::internal {

/// Runs `step` until it returns without std::bad_alloc, pausing between tries (1 ms, doubling up to
/// 100 ms). `on_retry` runs before each pause and must not throw.
template <class Step, class OnRetry>
void until_allocated(Step step, OnRetry on_retry) {
  for (std::chrono::milliseconds pause{1};; pause = std::min(pause * 2, std::chrono::milliseconds(100))) {
    try {
      step();
      return;
    } catch (const std::bad_alloc&) {
      on_retry();
      std::this_thread::sleep_for(pause);
    }
  }
}

}  // namespace jobq::internal

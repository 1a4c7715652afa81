// Starting a Manager inside a benchmark: a start that fails (a CPU that cannot be pinned, no
// memory) skips that benchmark with the reason instead of ending the whole run.
#pragma once

#include <benchmark/benchmark.h>

#include <exception>

#include <jobq/jobq.hpp>

namespace jobq_bench {

/// Starts `manager`; false, after SkipWithError with the reason, if start() threw.
inline bool start_or_skip(benchmark::State& state, jobq::Manager& manager) {
  try {
    manager.start();
    return true;
  } catch (const std::exception& error) {
    state.SkipWithError(error.what());
    return false;
  }
}

}  // namespace jobq_bench

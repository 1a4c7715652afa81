// Making and starting a Manager inside a benchmark: a config that is refused or a start that
// fails (a CPU that cannot be pinned, no memory) skips that benchmark with the reason instead of
// ending the whole run.
#pragma once

#include <benchmark/benchmark.h>

#include <exception>
#include <memory>
#include <utility>

#include <jobq/jobq.hpp>

namespace jobq_bench {

/// A Manager for `config`; null, after SkipWithError with the reason, if the config is refused.
inline std::unique_ptr<jobq::Manager> make_manager_or_skip(benchmark::State& state, jobq::Config config) {
  try {
    return std::make_unique<jobq::Manager>(std::move(config));
  } catch (const std::exception& error) {
    state.SkipWithError(error.what());
    return nullptr;
  }
}

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

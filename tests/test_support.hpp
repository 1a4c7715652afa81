// Helpers shared by the test files.
#pragma once

#include <chrono>
#include <thread>

namespace jobq::testing {

/// Polls `done` until it returns true or `limit` passes; returns its last answer. Used to wait
/// for asynchronous effects without fixed sleeps.
template <class Predicate>
bool eventually(Predicate done, std::chrono::milliseconds limit = std::chrono::seconds(30)) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return done();
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  return true;
}

}  // namespace jobq::testing

// What each step of a chain saw, for the chain tests in memory and on Redis.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "jobq/context.hpp"

namespace jobq::testing {

/// One line per run: "type#attempt on queue after <previous result, or ->".
struct ChainTrace {
  std::mutex mutex;
  std::vector<std::string> lines;
  void add(const jobq::Context& context) {
    const std::lock_guard lock(mutex);
    lines.push_back(std::string(context.type()) + "#" + std::to_string(context.attempt()) + " on " +
                    std::string(context.queue()) + " after " + context.previous_result().value_or("-"));
  }
  std::vector<std::string> snapshot() {
    const std::lock_guard lock(mutex);
    return lines;
  }
};

}  // namespace jobq::testing

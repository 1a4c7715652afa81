// What each step of a chain saw, for the chain tests in memory and on Redis.
#pragma once

#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "jobq/context.hpp"
#include "jobq/message.hpp"
#include "jobq/status.hpp"

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
  /// A handler for a step that only traces its run, keeps `result` (JSON) if one is given, and
  /// succeeds.
  auto step(std::string result = {}) {
    return [this, result = std::move(result)](jobq::Context& context, const jobq::Message&) {
      add(context);
      if (!result.empty() && !context.set_result(result)) return jobq::Status::error("result refused: " + result);
      return jobq::Status::success();
    };
  }
  std::vector<std::string> snapshot() {
    const std::lock_guard lock(mutex);
    return lines;
  }
};

}  // namespace jobq::testing

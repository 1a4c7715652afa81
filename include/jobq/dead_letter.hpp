// A job that will not run again unless someone requeues it.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "jobq/headers.hpp"
#include "jobq/ids.hpp"

namespace jobq {

enum class DeadReason : std::uint8_t {
  attempts_exhausted,  ///< failed on its last allowed attempt
  skipped,             ///< the handler returned skip_retry (a payload that did not bind included)
  /// a retry or snooze found its queue's QueueConfig::max_scheduled jobs already waiting in the
  /// timer (a downstream outage, typically): requeue it once the backlog has cleared
  no_room,
  /// a durable job whose runs were lost (the process running it died, its lease lapsed) until its
  /// attempts ran out
  lease_lost,
  /// a stored job that could not be read: a missing or bad field, or a type nobody registered
  malformed,
  /// a step of a chain that succeeded, but whose next step could not be dispatched (its queue
  /// full, its store away): requeue it to run it again and go on
  chain_stalled,
};

constexpr std::string_view describe(DeadReason reason) noexcept {
  switch (reason) {
    case DeadReason::attempts_exhausted:
      return "attempts exhausted";
    case DeadReason::skipped:
      return "skip retry";
    case DeadReason::no_room:
      return "no room to wait for a retry";
    case DeadReason::lease_lost:
      return "lease lost";
    case DeadReason::malformed:
      return "malformed";
    case DeadReason::chain_stalled:
      return "chain stalled";
  }
  return "unknown";
}

/// One dead letter, as kept by the Manager and passed to the on_dead hook.
struct DeadLetter {
  JobId id = 0;
  std::string type;
  std::string queue;
  std::string payload;
  std::uint32_t attempts = 0;  ///< runs made, the last one included
  std::string last_error;
  DeadReason reason = DeadReason::attempts_exhausted;
  std::chrono::system_clock::time_point when{};
  Headers headers;  ///< the job's headers; a requeue runs it with them again
  /// A step of a chain: the rest of its chain waits on this letter (requeued, it goes on), as
  /// Job::flow_state() takes it; `chain_waiting` names the types of the steps waiting, in order.
  std::string flow;
  std::vector<std::string> chain_waiting;
};

/// A page of dead letters, oldest first.
struct DeadLetterPage {
  std::vector<DeadLetter> letters;
  std::size_t total = 0;    ///< dead letters kept now
  std::uint64_t dropped = 0;  ///< dropped so far because the store was full (oldest first)
};

}  // namespace jobq

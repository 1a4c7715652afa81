// Periodic jobs: a cron expression, a time zone and a job, registered before start().
//
//   queues.schedule("nightly-report", "30 2 * * *", jobq::Job("reports:nightly").payload("{}"),
//                   {.time_zone = "Europe/Berlin", .missed = jobq::MissedRuns::run_once});
//
// The expression: `[second] minute hour day-of-month month day-of-week` (ranges, steps, lists,
// JAN-DEC, SUN-SAT), or @yearly @monthly @weekly @daily @hourly, or @every 30s (slots counted from
// the Unix epoch, so that every process agrees on them). See the README, "Periodic jobs".
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace jobq {

/// What a schedule does about slots that passed without a run: the queue was paused, or the
/// process was stalled or down (down: durable queues only, whose store remembers the last slot).
enum class MissedRuns : std::uint8_t {
  skip,      ///< nothing: the next run is the next slot
  run_once,  ///< one run, as soon as it can, for however many slots were missed
};

struct ScheduleOptions {
  /// An IANA name ("America/New_York", from the system's tzdata), "UTC", or a fixed offset
  /// ("+05:30"). Daylight saving: a time that a spring-forward transition skips runs once, at the
  /// transition; a time that a fall-back transition repeats runs once, the first time.
  std::string time_zone = "UTC";
  MissedRuns missed = MissedRuns::skip;
};

/// A schedule as it stands (Manager::schedules()).
struct ScheduleInfo {
  std::string name;
  std::string cron;
  std::string time_zone;
  std::string type;
  std::string queue;
  std::chrono::system_clock::time_point next_run{};  ///< the next slot
  std::chrono::system_clock::time_point last_run{};  ///< the last slot dispatched (epoch: none)
  std::uint64_t dispatched = 0;  ///< slots this process dispatched
  /// Slots another process dispatched first (a durable queue, shared): this one was refused as a
  /// duplicate of that slot's key.
  std::uint64_t taken_elsewhere = 0;
  std::uint64_t missed = 0;   ///< slots that passed without a run (paused, stalled, down)
  std::uint64_t refused = 0;  ///< dispatches refused (queue full, store unreachable…): logged at warn
};

}  // namespace jobq

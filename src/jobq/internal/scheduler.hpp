// Periodic jobs: the registered schedules and the thread ("jq:scheduler") that dispatches each
// slot's job. Each dispatch carries the idempotency key "schedule:<name>:<slot>", so a slot is
// dispatched once in a process and, on a durable queue (whose keys live in the store), once in
// the fleet: a second process's dispatch of the same slot is refused as a duplicate.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "jobq/error.hpp"
#include "jobq/ids.hpp"
#include "jobq/job.hpp"
#include "jobq/log.hpp"
#include "jobq/schedule.hpp"
#include "schedule/cron.hpp"
#include "schedule/zone.hpp"

namespace jobq::internal {

class Scheduler {
 public:
  enum class Claim : std::uint8_t {
    unshared,  ///< an in-memory queue: this process is the only one
    claimed,   ///< this process has the slot
    taken,     ///< another process has it (or a later one)
    failed,    ///< the store did not answer: try again
  };

  /// What the scheduler needs of the engine.
  struct Engine {
    std::function<Result<JobId>(const Job&)> dispatch;
    std::function<bool(std::string_view queue)> paused;
    std::function<std::chrono::system_clock::time_point()> wall_now;
    std::function<void(LogLevel, const std::string&)> log;
    /// A durable queue's memory of a schedule's last slot (Unix seconds), shared by the fleet;
    /// nullopt for an in-memory queue, or when the store does not answer.
    std::function<std::optional<std::int64_t>(std::string_view queue, std::string_view schedule)> last_slot;
    /// Claims a slot in a durable queue's store before dispatching it: a slot the store already
    /// holds (or a later one) is another process's.
    std::function<Claim(std::string_view queue, std::string_view schedule, std::int64_t slot)> claim_slot;
    std::function<void()> thread_started;  ///< on the scheduler's thread, first (name, pin, hooks)
    std::function<void()> thread_stopping;
    bool poll = false;  ///< an injected clock: look every millisecond, it may move at any time
  };

  /// A slot this late is missed rather than run (unless the schedule runs missed slots once).
  static constexpr std::chrono::seconds late_after{60};

  /// Registers a schedule; throws ConfigError for a bad expression (with its column), an unknown
  /// zone, a name given twice, or a job with an idempotency key of its own.
  void add(std::string_view name, std::string_view cron, const Job& job, std::string queue, const ScheduleOptions& options);
  bool empty() const noexcept { return entries_.empty(); }

  Scheduler() = default;
  ~Scheduler() { stop(); }
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  void start(Engine engine);
  /// Asks the thread to stop (it finishes the slot in hand); stop() also waits for it.
  void request_stop();
  void stop();
  std::vector<ScheduleInfo> info() const;

  /// One pass at wall time `now`: dispatches what is due. The thread calls it; so may tests.
  void run_due(std::chrono::sys_seconds now);

 private:
  struct Entry {
    std::string name;
    std::string cron;
    std::string type;
    std::string payload;
    std::string queue;
    CronSpec spec;
    TimeZone zone;
    MissedRuns missed_policy = MissedRuns::skip;
    std::chrono::sys_seconds next{};
    std::optional<std::chrono::sys_seconds> last_run{};
    std::optional<std::chrono::sys_seconds> owed{};   ///< a missed slot to run once when it can
    std::optional<std::chrono::sys_seconds> retry{};  ///< a slot whose dispatch was refused
    std::optional<std::chrono::sys_seconds> claimed{};  ///< the slot this process holds in the store
    std::uint64_t dispatched = 0;
    std::uint64_t taken_elsewhere = 0;
    std::uint64_t missed = 0;
    std::uint64_t refused = 0;
  };

  /// Which slot, if any, to dispatch now; counts the missed ones.
  std::optional<std::chrono::sys_seconds> choose(Entry& entry, std::chrono::sys_seconds now);
  void fire(Entry& entry, std::chrono::sys_seconds slot);
  void loop();

  std::vector<Entry> entries_;  // fixed once started; their state guarded by mutex_
  Engine engine_;
  mutable std::mutex mutex_;
  std::condition_variable stop_signal_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace jobq::internal

// The scheduler's thread and its passes over the schedules.
#include "jobq/internal/scheduler.hpp"

#include <algorithm>
#include <variant>

namespace jobq::internal {

using namespace std::chrono;

void Scheduler::add(std::string_view name, std::string_view cron, const Job& job, std::string queue,
                    const ScheduleOptions& options) {
  const std::string what = "schedule '" + std::string(name) + "'";
  if (name.empty()) throw ConfigError("a schedule needs a name");
  for (const Entry& entry : entries_) {
    if (entry.name == name) throw ConfigError(what + " is registered already");
  }
  if (!job.key().empty()) {
    throw ConfigError(what + ": a scheduled job carries its slot's idempotency key (schedule:<name>:<slot>); "
                             "it cannot carry one of its own");
  }
  if (job.is_delayed()) throw ConfigError(what + ": a scheduled job runs at its slot; it cannot be delayed too");
  std::variant<CronSpec, CronError> spec = parse_cron(cron);
  if (const CronError* error = std::get_if<CronError>(&spec)) {
    throw ConfigError(what + ": bad cron expression '" + std::string(cron) + "' at " + error->message());
  }
  std::variant<TimeZone, std::string> zone = TimeZone::find(options.time_zone);
  if (const std::string* error = std::get_if<std::string>(&zone)) throw ConfigError(what + ": " + *error);
  entries_.push_back(Entry{.name = std::string(name),
                           .cron = std::string(cron),
                           .type = std::string(job.type()),
                           .payload = std::string(job.payload()),
                           .queue = std::move(queue),
                           .spec = std::get<CronSpec>(spec),
                           .zone = std::get<TimeZone>(zone),
                           .missed_policy = options.missed});
}

void Scheduler::start(Engine engine) {
  engine_ = std::move(engine);
  const sys_seconds now = floor<seconds>(engine_.wall_now());
  for (Entry& entry : entries_) {
    const sys_seconds next = next_fire(entry.spec, entry.zone, now);
    // Slots that passed while no process ran: a durable queue's store knows the last one run.
    std::optional<sys_seconds> owed;
    std::uint64_t passed = 0;
    if (entry.missed_policy == MissedRuns::run_once) {
      if (const std::optional<std::int64_t> last = engine_.last_slot(entry.queue, entry.name)) {
        // At most a year and a month back: older slots are long missed, and the scan stays short.
        const sys_seconds from = std::max(sys_seconds(seconds(*last)), now - days(400));
        for (sys_seconds slot = next_fire(entry.spec, entry.zone, from); slot <= now;
             slot = next_fire(entry.spec, entry.zone, slot)) {
          owed = slot;  // the latest of them runs once, as soon as the thread starts
          ++passed;
        }
      }
    }
    const std::lock_guard lock(mutex_);
    entry.next = next;
    entry.owed = owed;
    entry.missed += passed;
  }
  thread_ = std::thread([this] {
    engine_.thread_started();
    loop();
    engine_.thread_stopping();
  });
}

void Scheduler::request_stop() {
  {
    const std::lock_guard lock(mutex_);
    stopping_.store(true);
  }
  stop_signal_.notify_all();
}

void Scheduler::stop() {
  request_stop();
  if (thread_.joinable()) thread_.join();
}

void Scheduler::loop() {
  std::unique_lock lock(mutex_);
  while (!stopping_.load()) {
    lock.unlock();
    const auto wall = engine_.wall_now();
    run_due(floor<seconds>(wall));
    lock.lock();
    // Sleep until the next slot, but look at least every second: a paused queue may resume, and
    // the wall clock may be set. An injected clock is looked at every millisecond.
    auto wait = duration_cast<nanoseconds>(seconds(1));
    if (engine_.poll) {
      wait = milliseconds(1);
    } else {
      for (const Entry& entry : entries_) {
        if (entry.next != sys_seconds::max()) {
          wait = std::min(wait, duration_cast<nanoseconds>(entry.next - wall) + milliseconds(1));
        }
      }
      wait = std::max(wait, duration_cast<nanoseconds>(milliseconds(1)));
    }
    stop_signal_.wait_for(lock, wait, [this] { return stopping_.load(); });
  }
}

void Scheduler::run_due(sys_seconds now) {
  for (Entry& entry : entries_) {
    if (stopping_.load()) return;  // shutdown is waiting: the slots in hand are left
    const std::optional<sys_seconds> run = choose(entry, now);
    if (run) fire(entry, *run);
  }
}

std::optional<sys_seconds> Scheduler::choose(Entry& entry, sys_seconds now) {
  std::vector<sys_seconds> due;
  std::uint64_t skipped = 0;  // slots past the thousand gathered: the clock jumped far
  {
    const std::lock_guard lock(mutex_);
    // The wall clock set back: the next slot is the next from now, not the one once planned.
    const sys_seconds fresh = next_fire(entry.spec, entry.zone, now);
    if (fresh < entry.next) entry.next = fresh;
    while (entry.next <= now) {
      if (due.size() == 1'000) {
        due.erase(due.begin());
        ++skipped;
      }
      due.push_back(entry.next);
      entry.next = next_fire(entry.spec, entry.zone, entry.next);
    }
  }
  if (due.empty() && !entry.owed && !entry.retry) return std::nullopt;
  const bool paused = engine_.paused(entry.queue);
  const std::lock_guard lock(mutex_);
  entry.missed += skipped;
  // A refused dispatch is tried again while its slot is on time; then it counts as missed.
  if (entry.retry && (now - *entry.retry > late_after || !due.empty())) {
    ++entry.missed;
    if (entry.missed_policy == MissedRuns::run_once) entry.owed = entry.retry;
    entry.retry.reset();
  }
  if (paused) {
    entry.missed += due.size();
    if (entry.missed_policy == MissedRuns::run_once && !due.empty()) entry.owed = due.back();
    if (entry.retry) {
      ++entry.missed;
      if (entry.missed_policy == MissedRuns::run_once) entry.owed = entry.retry;
      entry.retry.reset();
    }
    return std::nullopt;
  }
  std::optional<sys_seconds> run;
  if (!due.empty()) {
    const bool late = now - due.back() > late_after;
    entry.missed += due.size() - (late ? 0 : 1);
    const bool missed_any = due.size() > 1 || late || skipped > 0 || entry.owed;
    if (!late || (missed_any && entry.missed_policy == MissedRuns::run_once)) run = due.back();
  } else if (entry.retry) {
    run = entry.retry;
  } else {
    run = entry.owed;  // the queue resumed, or the process started after slots passed: once now
  }
  entry.owed.reset();
  entry.retry.reset();
  return run;
}

void Scheduler::fire(Entry& entry, sys_seconds slot) {
  const std::int64_t unix_slot = slot.time_since_epoch().count();
  // A durable queue's slot is claimed in its store first (its idempotency key alone would not
  // do: a dead letter frees the key, and a process arriving late could run the slot again).
  Claim claim = Claim::claimed;
  if (entry.claimed != slot) claim = engine_.claim_slot(entry.queue, entry.name, unix_slot);
  if (claim == Claim::taken) {
    const std::lock_guard lock(mutex_);
    ++entry.taken_elsewhere;
    entry.last_run = slot;
    return;
  }
  Result<JobId> dispatched = Error(Errc::unavailable, "its store did not answer the claim");
  if (claim != Claim::failed) {
    if (claim == Claim::claimed) entry.claimed = slot;
    const std::string key = "schedule:" + entry.name + ":" + std::to_string(unix_slot);
    Job job(entry.type);
    job.payload(entry.payload).idempotency_key(key);
    if (!entry.queue.empty()) job.on_queue(entry.queue);
    dispatched = engine_.dispatch(job);
  }
  const bool placed = dispatched || dispatched.error().code() == Errc::duplicate;
  {
    const std::lock_guard lock(mutex_);
    if (placed) {
      // A duplicate: an earlier pass of this process, or another process, has the slot's key.
      ++(dispatched ? entry.dispatched : entry.taken_elsewhere);
      entry.last_run = slot;
    } else {
      ++entry.refused;
      entry.retry = slot;  // tried again on the next pass while it is on time
    }
  }
  if (!placed) {
    engine_.log(LogLevel::warn, "schedule '" + entry.name + "': the slot at " + std::to_string(unix_slot) +
                                    " (Unix seconds) was not dispatched, and is tried again while on time: " +
                                    dispatched.error().message());
  }
}

std::vector<ScheduleInfo> Scheduler::info() const {
  std::vector<ScheduleInfo> out;
  const std::lock_guard lock(mutex_);
  for (const Entry& entry : entries_) {
    out.push_back({.name = entry.name,
                   .cron = entry.cron,
                   .time_zone = entry.zone.name(),
                   .type = entry.type,
                   .queue = entry.queue,
                   .next_run = entry.next == sys_seconds{} || entry.next == sys_seconds::max()
                                   ? system_clock::time_point{}
                                   : system_clock::time_point(entry.next.time_since_epoch()),
                   .last_run = entry.last_run ? system_clock::time_point(entry.last_run->time_since_epoch())
                                              : system_clock::time_point{},
                   .dispatched = entry.dispatched,
                   .taken_elsewhere = entry.taken_elsewhere,
                   .missed = entry.missed,
                   .refused = entry.refused});
  }
  return out;
}

}  // namespace jobq::internal

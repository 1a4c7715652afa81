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

sys_seconds Scheduler::next_after(const Entry& entry, sys_seconds after) const {
  return next_fire(entry.spec, entry.zone, after);
}

void Scheduler::start(Engine engine) {
  engine_ = std::move(engine);
  const sys_seconds now = floor<seconds>(engine_.wall_now());
  for (Entry& entry : entries_) {
    const std::lock_guard lock(mutex_);
    entry.next = next_after(entry, now);
    if (entry.missed_policy != MissedRuns::run_once) continue;
    // Slots that passed while no process ran: a durable queue's store knows the last one run.
    const std::optional<std::int64_t> last = engine_.last_slot(entry.queue, entry.name);
    if (!last) continue;
    std::uint64_t passed = 0;
    for (sys_seconds slot = next_after(entry, sys_seconds(seconds(*last))); slot <= now && passed < 10'000'000;
         slot = next_after(entry, slot)) {
      entry.owed = slot;  // the latest of them runs once, as soon as the thread starts
      ++passed;
    }
    entry.missed += passed;
  }
  thread_ = std::thread([this] {
    engine_.thread_started();
    loop();
    engine_.thread_stopping();
  });
}

void Scheduler::stop() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  stop_signal_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Scheduler::loop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
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
    stop_signal_.wait_for(lock, wait, [this] { return stopping_; });
  }
}

void Scheduler::run_due(sys_seconds now) {
  for (Entry& entry : entries_) {
    std::vector<sys_seconds> due;
    {
      const std::lock_guard lock(mutex_);
      while (entry.next <= now && due.size() < 1'000) {
        due.push_back(entry.next);
        entry.next = next_after(entry, entry.next);
      }
      if (entry.next <= now) {  // far behind (the clock jumped): the rest are missed too
        entry.missed += 1;
        entry.next = next_after(entry, now);
      }
    }
    if (due.empty() && !entry.owed) continue;
    const bool paused = engine_.paused(entry.queue);
    std::optional<sys_seconds> run;
    {
      const std::lock_guard lock(mutex_);
      if (paused) {
        entry.missed += due.size();
        if (entry.missed_policy == MissedRuns::run_once && !due.empty()) entry.owed = due.back();
        continue;
      }
      if (!due.empty()) {
        const bool late = now - due.back() > late_after;
        entry.missed += due.size() - (late ? 0 : 1);
        const bool missed_any = due.size() > 1 || late || entry.owed;
        if (!late || (missed_any && entry.missed_policy == MissedRuns::run_once)) run = due.back();
      } else {
        run = entry.owed;  // the queue resumed: the slot it missed runs once now
      }
      entry.owed.reset();
    }
    if (run) fire(entry, *run);
  }
}

void Scheduler::fire(Entry& entry, sys_seconds slot) {
  const std::string key = "schedule:" + entry.name + ":" + std::to_string(slot.time_since_epoch().count());
  Job job(entry.type);
  job.payload(entry.payload).idempotency_key(key);
  if (!entry.queue.empty()) job.on_queue(entry.queue);
  const Result<JobId> dispatched = engine_.dispatch(job);
  const bool placed = dispatched || dispatched.error().code() == Errc::duplicate;
  {
    const std::lock_guard lock(mutex_);
    if (placed) {
      // A duplicate: another process (or an earlier pass) has this slot.
      ++(dispatched ? entry.dispatched : entry.taken_elsewhere);
      entry.last_run = slot;
    } else {
      ++entry.refused;
    }
  }
  if (placed) {
    engine_.record_slot(entry.queue, entry.name, slot.time_since_epoch().count());  // a store round trip: unlocked
  } else {
    engine_.log(LogLevel::warn, "schedule '" + entry.name + "': the slot at " +
                                    std::to_string(slot.time_since_epoch().count()) +
                                    " (Unix seconds) was not dispatched: " + dispatched.error().message());
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

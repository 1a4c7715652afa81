// Periodic jobs in the engine: registration checks and the scheduler's thread.
#include <atomic>
#include <memory>

#include "jobq/internal/engine.hpp"
#include "jobq/internal/threads.hpp"

namespace jobq {

void internal::Engine::add_schedule(std::string_view name, std::string_view cron, const Job& job,
                                    const ScheduleOptions& options) {
  require_configuring("add schedule '" + std::string(name) + "'");
  const Result<Route> route = this->route(job);
  if (!route) {
    throw ConfigError("schedule '" + std::string(name) + "': " + route.error().message() +
                      (route.error().code() == Errc::unknown_type ? " (register its handler before the schedule)" : ""));
  }
  scheduler_.add(name, cron, job, queues_[route->queue]->config.name, options);
}

void internal::Engine::start_scheduler() {
  if (scheduler_.empty()) return;  // no thread unless a schedule needs one
  constexpr std::string_view thread_name = "jq:scheduler";
  const WorkerInfo info{{}, 0, -1, thread_name};
  const auto announced = std::make_shared<std::atomic<bool>>(false);
  scheduler_.start(Scheduler::Engine{
      .dispatch = [this](const Job& job) { return dispatch(job); },
      .paused = [this](std::string_view queue) { return paused(queue); },
      .wall_now = [this] { return clock_ ? clock_->wall_now() : std::chrono::system_clock::now(); },
      .log = [this](LogLevel level, const std::string& message) { hooks_.log(level, message); },
      .last_slot = [this](std::string_view queue, std::string_view schedule) -> std::optional<std::int64_t> {
        Lane* lane = queues_[queue_id(queue)]->lane;
        if (lane == nullptr) return std::nullopt;
        Result<std::optional<std::int64_t>> last = lane->last_slot(schedule);
        if (last) return *last;
        hooks_.log(LogLevel::warn, "schedule '" + std::string(schedule) + "': its last slot could not be read, so slots missed "
                            "while no process ran are not caught up: " + last.error().message());
        return std::nullopt;
      },
      .claim_slot = [this](std::string_view queue, std::string_view schedule, std::int64_t slot) {
        Lane* lane = queues_[queue_id(queue)]->lane;
        if (lane == nullptr) return Scheduler::Claim::unshared;
        const Result<bool> claimed = lane->claim_slot(schedule, slot);
        if (claimed) return *claimed ? Scheduler::Claim::claimed : Scheduler::Claim::taken;
        hooks_.log(LogLevel::warn, "schedule '" + std::string(schedule) + "': slot " + std::to_string(slot) +
                                " could not be claimed: " + claimed.error().message());
        return Scheduler::Claim::failed;
      },
      // Pinning was checked when the timer started on the same CPUs, so it fails here only if
      // the process's CPUs changed since; the thread then runs unpinned, says so, and the hooks
      // (which expect a pinned thread) are not called for it.
      .thread_started =
          [this, info, announced] {
            internal::name_this_thread(info.thread);
            const std::string pin_error = internal::pin_this_thread(config_.timer_cpus);
            if (!pin_error.empty()) {
              hooks_.log(LogLevel::warn, "jq:scheduler: timer_cpus: " + pin_error);
              return;
            }
            announced->store(true);
            hooks_.call(hooks_.on_worker_start, "scheduler start", info);
          },
      .thread_stopping =
          [this, info, announced] {
            if (announced->load()) hooks_.call(hooks_.on_worker_stop, "scheduler stop", info);
          },
      .poll = clock_ != nullptr,
  });
}

}  // namespace jobq

// Manager, the public facade: each call goes to the one Engine it owns.
#include "jobq/manager.hpp"

#include "jobq/internal/dispatch_future_state.hpp"
#include "jobq/internal/engine.hpp"

namespace jobq {

Manager::Manager(Config config) : engine_(std::make_unique<internal::Engine>(std::move(config))) {}
Manager::~Manager() = default;

TypeId Manager::add_type(std::string_view name, HandlerEntry::Invoke invoke, void* target, std::shared_ptr<void> owned,
                         RegisterOptions options) {
  return engine_->add_type(name, invoke, target, std::move(owned), options);
}

void Manager::on_failure(FailureHook hook) { engine_->on_failure(std::move(hook)); }
void Manager::on_dead(DeadHook hook) { engine_->on_dead(std::move(hook)); }
void Manager::on_timeout(TimeoutHook hook) { engine_->on_timeout(std::move(hook)); }
void Manager::on_worker_start(WorkerHook hook) { engine_->on_worker_start(std::move(hook)); }
void Manager::on_worker_stop(WorkerHook hook) { engine_->on_worker_stop(std::move(hook)); }
void Manager::use(Middleware middleware) { engine_->use(std::move(middleware)); }
void Manager::use_dispatch(DispatchMiddleware middleware) { engine_->use_dispatch(std::move(middleware)); }
void Manager::start() {
  engine_->start();
  try {
    engine_->start_lanes();  // durable queues start fetching once the workers run
    engine_->start_scheduler();  // periodic jobs last: every queue can take them
  } catch (...) {
    engine_->shutdown(std::chrono::nanoseconds::zero(), ShutdownMode::return_pending);
    throw;
  }
}

Result<JobId> Manager::dispatch(const Job& job) { return engine_->dispatch(job); }
void Manager::schedule(std::string_view name, std::string_view cron, const Job& job, ScheduleOptions options) {
  engine_->add_schedule(name, cron, job, options);
}
std::vector<ScheduleInfo> Manager::schedules() const { return engine_->schedules(); }
Result<JobId> Manager::dispatch_object(const Job& job, const internal::ObjectType& type, void* object, bool move) {
  return engine_->dispatch_object(job, type, object, move);
}
Result<JobId> Manager::dispatch_bulk(std::span<const Job> jobs) { return engine_->dispatch_bulk(jobs); }
Result<JobId> Manager::chain(std::span<const Job> steps) { return engine_->chain(steps); }
Result<std::string> Manager::batch(std::span<const Job> jobs, const BatchOptions& options) {
  return engine_->batch(jobs, options);
}
Result<BatchOutcome> Manager::batch_status(std::string_view batch) const { return engine_->batch_status(batch); }
Result<bool> Manager::cancel_batch(std::string_view batch) { return engine_->cancel_batch(batch); }
void Manager::restore_batch(const PendingBatch& batch) { engine_->restore_batch(batch); }
std::optional<std::string> Manager::result(JobId id) const { return engine_->result(id); }
Result<std::optional<std::string>> Manager::result(std::string_view queue, JobId id) const {
  return engine_->result(queue, id);
}
Result<DeadLetterPage> Manager::dead_letters(std::string_view queue, std::size_t offset, std::size_t limit) const {
  return engine_->dead_letters(queue, offset, limit);
}
Result<std::optional<DeadLetter>> Manager::dead_letter(std::string_view queue, JobId id) const {
  return engine_->dead_letter(queue, id);
}
Result<JobId> Manager::requeue_dead(std::string_view queue, JobId id) { return engine_->requeue_dead(queue, id); }
Result<bool> Manager::purge_dead(std::string_view queue, JobId id) { return engine_->purge_dead(queue, id); }
void Manager::dispatch_async(const Job& job, DispatchCallback done) { engine_->dispatch_async(job, std::move(done)); }
void Manager::dispatch_object_async(const Job& job, const internal::ObjectType& type, void* object, bool move,
                                    DispatchCallback done) {
  engine_->dispatch_object_async(job, type, object, move, std::move(done));
}
DispatchFuture Manager::dispatch_async(const Job& job) {
  auto [future, fill] = internal::dispatch_future();
  engine_->dispatch_async(job, std::move(fill));
  return std::move(future);
}
DispatchFuture Manager::dispatch_object_future(const Job& job, const internal::ObjectType& type, void* object,
                                               bool move) {
  auto [future, fill] = internal::dispatch_future();
  engine_->dispatch_object_async(job, type, object, move, std::move(fill));
  return std::move(future);
}

ShutdownReport Manager::shutdown(std::chrono::nanoseconds deadline, ShutdownMode mode) {
  return engine_->shutdown(deadline, mode);
}
bool Manager::wait_idle(std::chrono::nanoseconds timeout) { return engine_->wait_idle(timeout); }

void Manager::pause(std::string_view queue) { engine_->pause(queue); }
void Manager::resume(std::string_view queue) { engine_->resume(queue); }
bool Manager::paused(std::string_view queue) const { return engine_->paused(queue); }

DeadLetterPage Manager::dead_letters(std::size_t offset, std::size_t limit) const {
  return engine_->dead_letters(offset, limit);
}
std::optional<DeadLetter> Manager::dead_letter(JobId id) const { return engine_->dead_letter(id); }
Result<JobId> Manager::requeue_dead(JobId id) { return engine_->requeue_dead(id); }
Result<std::size_t> Manager::requeue_all_dead() { return engine_->requeue_all_dead(); }
bool Manager::purge_dead(JobId id) { return engine_->purge_dead(id); }
std::size_t Manager::purge_all_dead() { return engine_->purge_all_dead(); }

Clock::time_point Manager::now() const noexcept { return engine_->now(); }
MetricsSnapshot Manager::metrics() const { return engine_->metrics(); }
std::vector<InFlightJob> Manager::in_flight() const { return engine_->in_flight(); }
std::vector<QueueStats> Manager::stats() const { return engine_->stats(); }
std::uint64_t Manager::unrouted() const { return engine_->unrouted(); }
QueueStats Manager::stats(std::string_view queue) const { return engine_->stats(queue); }
const Config& Manager::config() const noexcept { return engine_->config(); }
const Registry& Manager::registry() const noexcept { return engine_->registry(); }
QueueId Manager::queue_id(std::string_view name) const noexcept { return engine_->queue_id(name); }

}  // namespace jobq

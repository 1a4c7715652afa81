// Durable queues in the engine: dispatches go to the queue's lane, fetched jobs come back onto
// its ring, and every outcome of such a job is stored by the lane. Nothing here is on the
// in-memory path, which tests one flag per dispatch (ProducerState::QueueCounters::durable).
#include "jobq/internal/lane_bridge.hpp"

#include "jobq/internal/deadline.hpp"
#include "jobq/internal/engine.hpp"

namespace jobq {
namespace {

/// Headers as a lane stores them: their JSON, or nothing for none.
std::string stored_headers(const Headers* headers) {
  return headers == nullptr || headers->empty() ? std::string() : headers->to_json();
}

}  // namespace

internal::LaneBridge::LaneBridge(Engine& engine, QueueRuntime& queue)
    : engine_(engine), queue_(queue), token_(queue.ring) {}

bool internal::LaneBridge::deliver(LaneDelivery&& job) {
  Envelope envelope;
  envelope.id = job.id;
  envelope.attempt = job.attempt;
  auto extras = std::make_unique<JobExtras>();
  extras->key = std::move(job.key);
  extras->hold = job.key_hold;
  extras->flow = std::move(job.flow);
  extras->timeout = job.timeout;
  extras->max_attempts = job.max_attempts;
  extras->lane_ref = std::move(job.ref);
  envelope.extras = std::move(extras);
  // Headers that do not read back (a store written by hand) are dead-lettered with the job below.
  std::string header_problem;
  if (!job.headers.empty()) {
    Result<Headers> headers = Headers::from_json(job.headers);
    if (headers) {
      envelope.extras->headers = std::move(*headers);
    } else {
      header_problem = "its headers do not read: " + headers.error().message();
    }
  }
  const TypeId type = engine_.registry_.find(job.type);
  auto refuse = [&](std::string why, DeadReason reason) {
    DeadLetter letter;
    letter.id = job.id;
    letter.type = job.type;
    letter.queue = queue_.config.name;
    letter.payload = job.payload;
    letter.attempts = job.attempt;
    letter.last_error = std::move(why);
    letter.reason = reason;
    letter.when = std::chrono::system_clock::now();
    letter.headers = envelope.extras->headers;
    letter.flow = envelope.extras->flow;
    engine_.hooks_.call(engine_.hooks_.on_dead, "dead-letter", letter);
    LaneSettlement outcome;
    outcome.kind = LaneSettlement::Kind::dead;
    outcome.id = job.id;
    outcome.ref = envelope.extras->lane_ref;
    outcome.key = envelope.extras->key;
    outcome.letter = &letter;
    queue_.lane->settle(outcome);
    return true;
  };
  if (type == no_id) return refuse("no handler is registered for type '" + job.type + "'", DeadReason::malformed);
  if (!header_problem.empty()) return refuse(std::move(header_problem), DeadReason::malformed);
  envelope.type = type;
  // Runs lost with a dead process count as attempts: past the policy the job is not run again.
  const RetryPolicy& policy = engine_.type_rules_.retry(type);
  const std::uint32_t max_attempts = job.max_attempts != 0 ? job.max_attempts : policy.max_attempts;
  if (job.attempt > max_attempts) {
    return refuse("its last allowed attempt was lost with the process running it (attempt " +
                      std::to_string(job.attempt) + " of " + std::to_string(max_attempts) + ")",
                  DeadReason::lease_lost);
  }
  if (!envelope.payload.assign(job.payload)) return false;
  if (engine_.config_.metrics) envelope.stamped = ticks();
  const Engine::Readmitted admitted = engine_.readmit(
      queue_, token_, envelope, [&] { queue_.delivered.fetch_add(1, std::memory_order_release); },
      [&] { queue_.delivered.fetch_sub(1, std::memory_order_relaxed); });
  if (admitted == Engine::Readmitted::yes) return true;
  // Intake closed, or no ring memory: the job goes back on the stream for any process, rather
  // than waiting out its lease and losing an attempt. It was never counted here.
  engine_.settle_in_lane(queue_, envelope, LaneSettlement::Kind::give_back, {}, nullptr, false);
  return true;
}

void internal::LaneBridge::hold(bool paused) {
  queue_.paused.store(paused, std::memory_order_seq_cst);
  queue_.wake_everyone();
}

std::optional<Error> internal::Engine::lane_refusal(ProducerState& state, Route target, const Job& job) {
  if (std::optional<Error> refused = debounce_refusal(state, target, job)) return refused;
  if (std::optional<Error> refused = header_refusal(state, target, job)) return refused;
  if (job.retry_policy() == nullptr) return std::nullopt;
  count_rejected(state, target);
  return Error(Errc::unsupported, "a durable job cannot carry a retry policy object (its backoff is code): set "
                                  "max_attempts on the job, or a policy on its type");
}

Result<JobId> internal::Engine::dispatch_to_lane(ProducerState& state, Route target, const Job& job,
                                                 std::string_view payload) {
  if (std::optional<Error> refused = lane_refusal(state, target, job)) return std::move(*refused);
  std::string headers;
  Result<JobId> appended = queues_[target.queue]->lane->append(lane_job(target, job, payload, headers));
  if (!appended) count_rejected(state, target);
  return appended;
}

void internal::Engine::dispatch_async(const Job& job, Manager::DispatchCallback done) {
  if (hooks_.dispatch_middleware.empty()) return dispatch_async_inner(job, std::move(done));
  Outbound outbound{job, {}};
  if (std::optional<Error> refused = run_dispatch_middleware(outbound)) {
    return hooks_.call(done, "dispatch callback", Result<JobId>(std::move(*refused)));
  }
  dispatch_async_inner(outbound.job, std::move(done));
}

void internal::Engine::dispatch_object_async(const Job& job, const ObjectType& type, void* object, bool move,
                                             Manager::DispatchCallback done) {
  if (hooks_.dispatch_middleware.empty()) return dispatch_object_async_inner(job, type, object, move, std::move(done));
  Outbound outbound{job, {}};
  if (std::optional<Error> refused = run_dispatch_middleware(outbound)) {
    return hooks_.call(done, "dispatch callback", Result<JobId>(std::move(*refused)));
  }
  dispatch_object_async_inner(outbound.job, type, object, move, std::move(done));
}

void internal::Engine::dispatch_async_inner(const Job& job, Manager::DispatchCallback done) {
  auto report = [&](Result<JobId> result) { hooks_.call(done, "dispatch callback", std::move(result)); };
  std::optional<Error> refused_early;
  const Admitted admitted = admit(job, refused_early);
  if (refused_early) return report(std::move(*refused_early));
  const Route routed = admitted.route;
  QueueRuntime& queue = *queues_[routed.queue];
  if (queue.lane == nullptr) return report(dispatch_inner(job));
  ProducerState& state = *admitted.producer;
  if (std::optional<Error> refused = lane_refusal(state, routed, job)) return report(std::move(*refused));
  const bool validate = config_.validate_payloads && !job.is_trusted();
  Envelope envelope;
  if (std::optional<Error> refused = fill(state, routed, job.payload(), validate, envelope)) {
    return report(std::move(*refused));
  }
  send_async(queue, routed, job, job.payload(), std::move(done));
}

void internal::Engine::dispatch_object_async_inner(const Job& job, const ObjectType& type, void* object, bool move,
                                                   Manager::DispatchCallback done) {
  auto report = [&](Result<JobId> result) { hooks_.call(done, "dispatch callback", std::move(result)); };
  std::optional<Error> refused_early;
  const Admitted admitted = admit(job, refused_early);
  if (refused_early) return report(std::move(*refused_early));
  const Route routed = admitted.route;
  QueueRuntime& queue = *queues_[routed.queue];
  if (queue.lane == nullptr) return report(dispatch_object_inner(job, type, object, move));
  ProducerState& state = *admitted.producer;
  if (std::optional<Error> refused = lane_refusal(state, routed, job)) return report(std::move(*refused));
  if (config_.validate_payloads && !job.is_trusted()) {
    WriteFailure failure;
    std::size_t size = 0;
    if (!check_object(type, object, size, failure)) {
      count_rejected(state, routed);
      return report(Error(Errc::invalid_payload, describe_write_failure(failure)));
    }
  }
  Envelope envelope;
  if (!envelope.payload.emplace_object(type, object, false)) {
    count_rejected(state, routed);
    return report(Error(Errc::payload_too_large, "could not allocate the payload buffer"));
  }
  Result<std::string> json = lane_json(state, routed, envelope.payload);
  if (!json) return report(json.error());
  send_async(queue, routed, job, *json, std::move(done));
}

void internal::Engine::send_async(QueueRuntime& queue, Route routed, const Job& job, std::string_view payload,
                                  Manager::DispatchCallback done) {
  std::string headers;
  const LaneJob stored = lane_job(routed, job, payload, headers);
  // Counted on the queue (not the thread's counters, which only this thread may write): the
  // answer comes on the lane's thread.
  queue.lane->append_async(stored, [this, &queue, done = std::move(done)](Result<JobId> result) {
    if (!result) queue.async_rejected.fetch_add(1, std::memory_order_relaxed);
    hooks_.call(done, "dispatch callback", std::move(result));
  });
}

LaneJob internal::Engine::lane_job(Route route, const Job& job, std::string_view payload,
                                   std::string& headers) const {
  LaneJob stored;
  headers = stored_headers(job.headers_value());
  stored.headers = headers;
  stored.type = registry_[route.type].name;
  stored.payload = payload;
  stored.key = job.key();
  stored.key_hold = job.key_hold();
  stored.flow = job.flow_value();
  stored.debounce = job.debounce_window();
  stored.max_attempts = job.max_attempts_value();
  stored.timeout = std::max(job.timeout_value(), std::chrono::nanoseconds::zero());
  stored.delay = lane_delay(job);
  return stored;
}

Result<std::string> internal::Engine::lane_json(ProducerState& state, Route route, const PayloadBuffer& payload) {
  std::string json = payload_json(payload);
  if (json.size() > config_.max_payload_bytes) {
    count_rejected(state, route);
    return Error(Errc::payload_too_large, std::to_string(json.size()) + " bytes as JSON, the limit is " +
                                              std::to_string(config_.max_payload_bytes));
  }
  return json;
}

std::chrono::nanoseconds internal::Engine::lane_delay(const Job& job) const {
  if (job.at_value() != Job::steady_time{}) {
    if (job.at_value() == Clock::time_point::max()) return std::chrono::nanoseconds::max();
    const Clock::time_point now_ = now();
    return job.at_value() > now_ ? std::chrono::duration_cast<std::chrono::nanoseconds>(job.at_value() - now_)
                                 : std::chrono::nanoseconds::zero();
  }
  return std::max(job.delay_value(), std::chrono::nanoseconds::zero());
}

Result<JobId> internal::Engine::dispatch_envelope_to_lane(ProducerState& state, Route target, const Job& job,
                                                          const PayloadBuffer& payload) {
  if (payload.object_type() == nullptr) return dispatch_to_lane(state, target, job, payload.view());
  Result<std::string> json = lane_json(state, target, payload);
  if (!json) return json.error();
  return dispatch_to_lane(state, target, job, *json);
}

Result<JobId> internal::Engine::dispatch_bulk_to_lane(ProducerState& state, std::span<const Job> jobs) {
  const QueueId queue = state.routes.front().queue;
  auto refuse = [&](Error error) -> Result<JobId> {
    for (const Route& routed : state.routes) count_rejected(state, routed);
    return error;
  };
  std::vector<LaneJob> stored(jobs.size());
  std::vector<std::string> headers(jobs.size());
  for (std::size_t index = 0; index < jobs.size(); ++index) {
    if (state.routes[index].queue != queue) {
      return refuse(Error(Errc::unsupported, "a batch with jobs for a durable queue must have all its jobs on that queue"));
    }
    const Job& job = jobs[index];
    if (job.payload().size() > config_.max_payload_bytes) {
      return refuse(Error(Errc::payload_too_large, "job " + std::to_string(index) + ": " +
                                                       std::to_string(job.payload().size()) + " bytes"));
    }
    if (config_.validate_payloads && !job.is_trusted()) {
      Envelope envelope;
      if (!envelope.payload.assign(job.payload())) return refuse(Error(Errc::payload_too_large));
      if (std::string problem = validation_problem(state, envelope.payload); !problem.empty()) {
        return refuse(Error(Errc::invalid_payload, "job " + std::to_string(index) + ": " + problem));
      }
    }
    stored[index].type = registry_[state.routes[index].type].name;
    stored[index].payload = job.payload();
    headers[index] = stored_headers(job.headers_value());
    stored[index].headers = headers[index];
  }
  if (state_.load(std::memory_order_acquire) != running) return refuse(Error(Errc::shutting_down));
  Result<JobId> appended = queues_[queue]->lane->append_bulk(stored);
  if (!appended) return refuse(appended.error());
  return appended;
}

void internal::Engine::settle_in_lane(QueueRuntime& queue, const Envelope& envelope, LaneSettlement::Kind kind,
                                      std::chrono::nanoseconds delay, const DeadLetter* letter, bool counted) {
  const JobExtras& extras = *envelope.extras;
  std::string json;
  LaneSettlement outcome;
  outcome.kind = kind;
  outcome.id = envelope.id;
  outcome.ref = extras.lane_ref;
  outcome.type = registry_[envelope.type].name;
  if (kind == LaneSettlement::Kind::later || kind == LaneSettlement::Kind::give_back) {
    json = payload_json(envelope.payload);
    outcome.payload = json;
  }
  outcome.key = extras.key;
  outcome.key_hold = extras.hold;
  if (kind == LaneSettlement::Kind::later || kind == LaneSettlement::Kind::give_back) outcome.flow = extras.flow;
  outcome.attempt = envelope.attempt;
  outcome.max_attempts = extras.max_attempts;
  outcome.timeout = extras.timeout;
  outcome.delay = delay;
  outcome.letter = letter;
  std::string headers;
  if (kind == LaneSettlement::Kind::later || kind == LaneSettlement::Kind::give_back) {
    headers = stored_headers(&extras.headers);
    outcome.headers = headers;
  }
  queue.lane->settle(outcome);
  if (counted && (kind == LaneSettlement::Kind::later || kind == LaneSettlement::Kind::give_back)) {
    queue.handed_back.fetch_add(1, std::memory_order_release);
  }
}

void internal::Engine::start_lanes() {
  const std::lock_guard call(lifecycle_.calls());  // not while a shutdown runs
  if (state_.load() != running) return;
  for (auto& queue : queues_) {
    if (queue->lane == nullptr || queue->workers.empty()) continue;  // dispatch-only: nothing to fetch for
    bridges_[queue->index] = std::make_unique<LaneBridge>(*this, *queue);
    queue->lane->start(*bridges_[queue->index]);
  }
}

void internal::Engine::stop_lane_fetching() noexcept {
  for (auto& queue : queues_) {
    if (!bridges_[queue->index]) continue;
    try {
      queue->lane->stop_fetching();
    } catch (const std::exception& error) {
      hooks_.log(LogLevel::error, "queue '" + queue->config.name + "': its lane failed to stop fetching: " + error.what());
    }
  }
}

void internal::Engine::stop_lanes() noexcept {
  for (auto& queue : queues_) {
    // Every lane, fetching or not: asynchronous dispatches still in flight are sent first.
    if (queue->lane == nullptr) continue;
    try {
      queue->lane->stop();
    } catch (const std::exception& error) {
      hooks_.log(LogLevel::error, "queue '" + queue->config.name + "': its lane failed to stop: " + error.what());
    }
  }
}

}  // namespace jobq

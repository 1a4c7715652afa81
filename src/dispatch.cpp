// Cold paths of dispatch: a thread's first dispatch, validation, options, backpressure, bulk.
#include <algorithm>
#include <iterator>
#include <thread>

#include "jobq/internal/cpu.hpp"
#include "jobq/internal/deadline.hpp"
#include "jobq/internal/engine.hpp"

namespace jobq {
namespace {

/// Runs `f` when the scope ends, however it ends.
template <class F>
struct OnExit {
  F f;
  ~OnExit() { f(); }
};
template <class F>
OnExit(F) -> OnExit<F>;

}  // namespace

std::string internal::Engine::validation_problem(internal::ProducerState& state, const internal::PayloadBuffer& payload) {
  simdjson::dom::element root;
  // The envelope already carries simdjson's padding, so the validator parses it in place.
  const simdjson::error_code error = state.validator.parse(payload.data(), payload.size(), false).get(root);
  std::string text;
  if (error != simdjson::SUCCESS) {
    text = internal::describe_simdjson_error(error);
    if (error == simdjson::DEPTH_ERROR) text += ": nesting deeper than " + std::to_string(config_.max_payload_depth);
  }
  // A parser grows to the largest document it has seen (about 14 bytes per payload byte); one
  // large payload must not pin that much memory to this thread for good.
  if (state.validator.capacity() > internal::ProducerTable::validator_keep_bytes) [[unlikely]] {
    producers_.fresh_validator(state);
  }
  return text;
}

Error internal::Engine::refuse_closed(const Job& job) {
  if (state_.load(std::memory_order_acquire) == configuring) return Error(Errc::not_started);
  // Types are frozen once start() has run: the refusal is counted on the job's queue.
  if (Result<Route> routed = route(job)) {
    count_rejected(producer(), *routed);
  } else {
    producer().unrouted.add();
  }
  return Error(Errc::shutting_down);
}

std::optional<Error> internal::Engine::run_dispatch_middleware(Outbound& outbound, bool count) {
  if (state_.load(std::memory_order_acquire) != running) return std::nullopt;
  Result<Route> routed = route(outbound.job);
  if (!routed) return std::nullopt;
  if (const Headers* given = outbound.job.headers_value()) outbound.headers = *given;
  Outgoing outgoing(outbound.job, queues_[routed->queue]->config.name, outbound.headers);
  std::optional<Error> refused;
  for (const DispatchMiddleware& middleware : hooks_.dispatch_middleware) {
    try {
      refused = middleware(outgoing);
    } catch (const std::exception& error) {
      refused = Error(Errc::refused, std::string("a dispatch middleware threw: ") + error.what());
    } catch (...) {
      refused = Error(Errc::refused, "a dispatch middleware threw a non-std exception");
    }
    if (refused) {
      if (count) count_rejected(producer(), *routed);
      return refused;
    }
  }
  // The job views the headers only if it has any now, or had (and they were all taken off): a
  // job without them keeps the plain path.
  if (!outbound.headers.empty() || outbound.job.headers_value() != nullptr) outbound.job.headers(outbound.headers);
  return std::nullopt;
}

Result<JobId> internal::Engine::dispatch_through_middleware(const Job& job) {
  Outbound outbound{job, {}};
  if (std::optional<Error> refused = run_dispatch_middleware(outbound)) return std::move(*refused);
  return dispatch_inner(outbound.job);
}

Result<JobId> internal::Engine::dispatch_object_through_middleware(const Job& job, const internal::ObjectType& type,
                                                                   void* object, bool move) {
  Outbound outbound{job, {}};
  if (std::optional<Error> refused = run_dispatch_middleware(outbound)) return std::move(*refused);
  return dispatch_object_inner(outbound.job, type, object, move);
}

Result<JobId> internal::Engine::dispatch_bulk(std::span<const Job> jobs) {
  if (hooks_.dispatch_middleware.empty()) return dispatch_bulk_inner(jobs);
  std::vector<Outbound> outbound;
  outbound.reserve(jobs.size());
  for (const Job& job : jobs) outbound.push_back(Outbound{job, {}});
  for (Outbound& each : outbound) {
    if (std::optional<Error> refused = run_dispatch_middleware(each, false)) {
      // The whole batch is refused, and counted, as for any other refusal of a batch.
      if (state_.load(std::memory_order_acquire) != configuring) {
        for (const Job& job : jobs) {
          if (Result<Route> routed = route(job)) count_rejected(producer(), *routed);
        }
      }
      return std::move(*refused);
    }
  }
  std::vector<Job> filtered;
  filtered.reserve(outbound.size());
  for (const Outbound& each : outbound) filtered.push_back(each.job);
  return dispatch_bulk_inner(filtered);
}

Result<JobId> internal::Engine::dispatch_bulk_inner(std::span<const Job> jobs) {
  if (state_.load(std::memory_order_acquire) == configuring) return Error(Errc::not_started);
  internal::ProducerState& state = producer();
  auto clear_staging = [&state] {
    for (auto& staged : state.staging) staged.clear();
  };
  auto reject_staged = [&](Error error) -> Result<JobId> {
    clear_staging();
    for (const Job& job : jobs) {
      if (Result<Route> routed = route(job)) count_rejected(state, *routed);
    }
    return error;
  };
  for (std::size_t index = 0; index < jobs.size(); ++index) {
    if (jobs[index].has_single_options()) {
      return reject_staged(Error(Errc::unsupported, "job " + std::to_string(index) +
                                                        " has options (delay, key, timeout or retry): dispatch it alone"));
    }
    if (const Headers* headers = jobs[index].headers_value(); headers != nullptr && !headers->empty()) {
      if (std::string problem = headers->problem(); !problem.empty()) {
        return reject_staged(Error(Errc::invalid_header, "job " + std::to_string(index) + ": " + problem));
      }
    }
  }
  if (jobs.empty()) {
    if (state_.load(std::memory_order_acquire) == running) return JobId{0};
    return Error(Errc::shutting_down);
  }
  // Route every job and admit each queue the batch touches before any payload is copied, so
  // that a producer retrying against a full queue pays for a few reads, not for the whole batch.
  state.routes.clear();
  for (const Job& job : jobs) {
    Result<Route> routed = route(job);
    if (!routed) return reject_staged(refuse_unrouted(routed.error()));
    state.routes.push_back(*routed);
  }
  if (std::any_of(state.routes.begin(), state.routes.end(),
                  [this](const Route& routed) { return queues_[routed.queue]->lane != nullptr; })) {
    return dispatch_bulk_to_lane(state, jobs);
  }
  // A batch with more jobs for a queue than it can ever hold is refused before anything waits.
  std::fill(state.bulk_counts.begin(), state.bulk_counts.end(), 0);
  for (const Route& routed : state.routes) {
    if (++state.bulk_counts[routed.queue] > queues_[routed.queue]->config.capacity) {
      return reject_staged(Error(Errc::queue_full, "queue '" + queues_[routed.queue]->config.name +
                                                       "' holds at most " +
                                                       std::to_string(queues_[routed.queue]->config.capacity) + " jobs"));
    }
  }
  if (state_.load(std::memory_order_acquire) != running) return reject_staged(Error(Errc::shutting_down));
  QueueId admitted = no_id;
  for (const Route* routed = state.routes.data(); routed != state.routes.data() + state.routes.size(); ++routed) {
    if (routed->queue != admitted) {
      if (const Errc refused = admission(state, *routed); refused != Errc{}) {
        // reject_staged counts the whole batch: take back the one admission() counted.
        state.counters[routed->queue].rejected.subtract(1);
        if (state_.load(std::memory_order_acquire) != configuring && routed->type < state.type_count) {
          state.type_counters[routed->type].rejected.subtract(1);
        }
        return reject_staged(Error(refused));
      }
      admitted = routed->queue;
    }
  }
  const JobId first = producers_.take_ids(state, jobs.size());
  // Staged envelopes must not outlive a throw (a failed allocation, here or while building an
  // error): the thread's next batch would otherwise enqueue them as jobs nobody dispatched.
  const OnExit unstage{clear_staging};
  for (std::size_t index = 0; index < jobs.size(); ++index) {
    const Job& job = jobs[index];
    const Route routed = state.routes[index];
    std::vector<internal::Envelope>& staged = state.staging[routed.queue];
    internal::Envelope& envelope = staged.emplace_back();
    envelope.id = first + index;
    envelope.type = routed.type;
    envelope.attempt = 1;
    if (const Headers* headers = job.headers_value(); headers != nullptr && !headers->empty()) {
      envelope.extras = std::make_unique<internal::JobExtras>();
      envelope.extras->headers = *headers;
    }
    if (job.payload().size() > config_.max_payload_bytes) {
      return reject_staged(Error(Errc::payload_too_large, "job " + std::to_string(index) + ": " +
                                                              std::to_string(job.payload().size()) + " bytes"));
    }
    if (!envelope.payload.assign(job.payload())) return reject_staged(Error(Errc::payload_too_large));
    if (config_.validate_payloads && !job.is_trusted()) {
      if (std::string problem = validation_problem(state, envelope.payload); !problem.empty()) {
        return reject_staged(Error(Errc::invalid_payload, "job " + std::to_string(index) + ": " + problem));
      }
    }
  }
  return commit_staged(state, first);
}

namespace {

/// Retries `try_now` until it succeeds (Errc{}), `closed` says intake has closed
/// (shutting_down), or `timeout` passes (queue_full). Spins briefly (a worker frees a slot
/// within a job's time), then yields, then sleeps in short steps: a blocked producer must not
/// take the core its queue's worker needs.
template <class TryNow, class Closed>
Errc block_for_room(std::chrono::nanoseconds timeout, TryNow try_now, Closed closed) {
  const auto until = internal::later(std::chrono::steady_clock::now(), timeout);
  for (unsigned round = 0;; ++round) {
    if (closed()) return Errc::shutting_down;
    if (try_now()) return Errc{};
    if (std::chrono::steady_clock::now() >= until) return Errc::queue_full;
    if (round < 64) {
      internal::cpu_relax();
    } else if (round < 128) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }
}

}  // namespace

std::optional<Error> internal::Engine::header_refusal(internal::ProducerState& state, Route target, const Job& job) {
  const Headers* headers = job.headers_value();
  if (headers == nullptr || headers->empty()) return std::nullopt;
  std::string problem = headers->problem();
  if (problem.empty()) return std::nullopt;
  count_rejected(state, target);
  return Error(Errc::invalid_header, std::move(problem));
}

Errc internal::Engine::wait_for_room(internal::ProducerState& state, QueueId queue) {
  internal::QueueRuntime& runtime = *queues_[queue];
  return block_for_room(
      runtime.config.block_timeout, [&] { return !runtime.looks_full(state.counters[queue].credit); },
      [&] { return state_.load(std::memory_order_acquire) != running; });
}

Errc internal::Engine::reserve_slow(internal::ProducerState& state, QueueId queue, std::int64_t count) {
  internal::QueueRuntime& runtime = *queues_[queue];
  if (runtime.config.when_full != WhenFull::block || count > runtime.capacity) return Errc::queue_full;
  return block_for_room(
      runtime.config.block_timeout, [&] { return runtime.reserve(count, state.counters[queue].credit); },
      [&] { return state_.load(std::memory_order_acquire) != running; });
}

Error internal::Engine::ring_refused(internal::ProducerState& state, Route target) {
  state.counters[target.queue].accepted.subtract(1);
  state.type_counters[target.type].accepted.subtract(1);
  give_back(*queues_[target.queue], Held{state.shard, 1, &state.counters[target.queue].credit});
  count_rejected(state, target);
  return Error(Errc::queue_full, "could not allocate a ring block");
}

Result<JobId> internal::Engine::enqueue_with_options(internal::ProducerState& state, Route target, internal::Envelope&& envelope,
                                            const Job& job) {
  if (std::optional<Error> refused = debounce_refusal(state, target, job)) return std::move(*refused);
  if (queues_[target.queue]->lane != nullptr) return dispatch_envelope_to_lane(state, target, job, envelope.payload);
  if (std::optional<Error> refused = header_refusal(state, target, job)) return std::move(*refused);
  const JobId id = producers_.take_ids(state, 1);
  envelope.id = id;
  const bool headers = job.headers_value() != nullptr && !job.headers_value()->empty();
  if (!job.key().empty() || job.timeout_value().count() > 0 || job.retry_policy() != nullptr ||
      job.max_attempts_value() != 0 || headers || !job.flow_value().empty()) {
    auto extras = std::make_unique<internal::JobExtras>();
    if (headers) extras->headers = *job.headers_value();
    extras->flow = job.flow_value();
    extras->key = job.key();
    extras->hold = job.key_hold();
    extras->timeout = std::max(job.timeout_value(), std::chrono::nanoseconds::zero());
    if (const RetryPolicy* policy = job.retry_policy()) {
      if (policy->max_attempts == 0) {
        count_rejected(state, target);
        return Error(Errc::unsupported, "retry.max_attempts must be at least 1");
      }
      auto copy = std::make_shared<RetryPolicy>(*policy);
      if (!copy->backoff) copy->backoff = ExponentialBackoff{};
      extras->retry = std::move(copy);
    }
    extras->max_attempts = job.max_attempts_value();
    envelope.extras = std::move(extras);
  }
  if (job.is_debounced()) return debounce(state, target, std::move(envelope), job);
  const Clock::time_point now_ = now();
  Clock::time_point due{};
  if (job.at_value() != Job::steady_time{}) {
    due = job.at_value();
  } else if (job.delay_value().count() > 0) {
    due = internal::later(now_, job.delay_value());
  }
  const bool delayed = due > now_;
  const std::string key(job.key());
  if (!key.empty()) {
    const internal::KeyTable::Claim claim = keys_.claim(key, id, now_);
    if (claim.outcome != internal::KeyTable::Outcome::claimed) {
      count_rejected(state, target);
      if (claim.outcome == internal::KeyTable::Outcome::full) {
        return Error(Errc::too_many_keys, std::to_string(config_.max_idempotency_keys) + " keys are held");
      }
      return Error(Errc::duplicate, "key '" + key + "' is held by job " + std::to_string(claim.holder), claim.holder);
    }
  }
  if (!delayed) {
    Result<JobId> committed = commit(state, target, std::move(envelope));
    if (!committed && !key.empty()) keys_.release(key, id);
    return committed;
  }
  // The lifecycle is checked under the timer's lock, which shutdown takes only after closing
  // intake: a job added here is either seen by shutdown's final sweep of the timer, or refused.
  // It is stored first (a failed allocation throws with nothing counted) and counted before the
  // lock is released and the timer thread can see it.
  Errc refused{};
  try {
    internal::Timer::Node node = internal::Timer::make(due, target.queue, std::move(envelope));
    std::unique_lock lock = timer_.pending().lock();
    if (state_.load(std::memory_order_seq_cst) != running) {
      refused = Errc::shutting_down;
    } else if (!timer_.pending().add_locked(node)) {
      refused = Errc::queue_full;
    } else {
      state.counters[target.queue].accepted.add();
      state.type_counters[target.type].accepted.add();
    }
  } catch (...) {
    if (!key.empty()) keys_.release(key, id);
    count_rejected(state, target);
    throw;
  }
  if (refused == Errc{}) return id;
  if (!key.empty()) keys_.release(key, id);
  count_rejected(state, target);
  if (refused == Errc::queue_full) {
    return Error(refused, "queue '" + queues_[target.queue]->config.name + "' has " +
                              std::to_string(timer_.pending().limit(target.queue)) +
                              " jobs waiting in the timer already (QueueConfig::max_scheduled)");
  }
  return Error(refused);
}

}  // namespace jobq

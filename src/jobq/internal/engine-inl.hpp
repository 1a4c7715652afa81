// Inline definitions for Engine (engine.hpp): the dispatch hot path (route, admission, fill; the
// ring's intake is intake-inl.hpp), which runs once per job and belongs where the caller can
// inline it.
#pragma once

#include "jobq/internal/engine.hpp"
#include "jobq/internal/intake-inl.hpp"

namespace jobq::internal {

inline Route Engine::find_route(const Job& job) const noexcept {
  const TypeId type = registry_.find(job.type());
  if (type == no_id) [[unlikely]] return Route{no_id, no_id};
  if (!job.queue().empty()) return Route{type, queue_index_.find(job.queue())};
  return Route{type, registry_[type].default_queue};
}

[[gnu::always_inline]] inline Route Engine::find_route(ProducerState& state, const Job& job) const noexcept {
  if (!job.queue().empty()) return find_route(job);  // its queue is its own: not remembered
  if (state.last_type != no_id) {
    const HandlerEntry& last = registry_[state.last_type];
    if (same_name(last.name, job.type())) [[likely]] return Route{state.last_type, last.default_queue};
  }
  const Route found = find_route(job);
  if (found.queue != no_id) state.last_type = found.type;
  return found;
}

inline Result<Route> Engine::route(const Job& job) const {
  const Route found = find_route(job);
  if (found.queue != no_id) [[likely]] return found;
  if (found.type == no_id) return Error(Errc::unknown_type, std::string(job.type()));
  if (!job.queue().empty()) return Error(Errc::unknown_queue, std::string(job.queue()));
  return Error(Errc::unknown_queue, "job type '" + std::string(job.type()) +
                                        "' names no queue and there is no queue named 'default'");
}

[[gnu::always_inline]] inline Engine::Admitted Engine::admit(const Job& job, std::optional<Error>& refused) {
  if (state_.load(std::memory_order_acquire) != running) [[unlikely]] {
    refused.emplace(refuse_closed(job));
    return Admitted{};
  }
  ProducerState& state = producer();
  const Route routed = find_route(state, job);
  if (routed.queue == no_id) [[unlikely]] {
    refused.emplace(refuse_unrouted(route(job).error()));
    return Admitted{};
  }
  if (const Errc refusal = admission(state, routed, job.is_delayed()); refusal != Errc{}) [[unlikely]] {
    refused.emplace(refusal);
    return Admitted{};
  }
  prefetch_ring_producer(state.tokens[routed.queue]);
  return Admitted{routed, &state};
}

// With dispatch middleware the job goes out of line (dispatch.cpp), so that the plain path holds
// no Outbound (and no cleanup for one) in its frame.
inline Result<JobId> Engine::dispatch(const Job& job) {
  if (!hooks_.dispatch_middleware.empty()) [[unlikely]] return dispatch_through_middleware(job);
  return dispatch_inner(job);
}

inline Result<JobId> Engine::dispatch_object(const Job& job, const ObjectType& type, void* object, bool move) {
  if (!hooks_.dispatch_middleware.empty()) [[unlikely]] return dispatch_object_through_middleware(job, type, object, move);
  return dispatch_object_inner(job, type, object, move);
}

inline Result<JobId> Engine::dispatch_inner(const Job& job) {
  std::optional<Error> refused;
  const Admitted admitted = admit(job, refused);
  if (refused) [[unlikely]] return std::move(*refused);
  ProducerState& state = *admitted.producer;
  const Route routed = admitted.route;
  const bool validate = config_.validate_payloads && !job.is_trusted();
  // Options and durable queues share one unlikely branch, out of line, so that the plain path
  // keeps its shape: a durable job leaves for its lane in enqueue_with_options().
  if (job.has_options() || state.counters[routed.queue].durable) [[unlikely]] {
    Envelope envelope;
    if (std::optional<Error> refused = fill(state, routed, job.payload(), validate, envelope)) return std::move(*refused);
    return enqueue_with_options(state, routed, std::move(envelope), job);
  }
  return enqueue(state, routed, job.payload(), validate);
}

inline Result<JobId> Engine::dispatch_object_inner(const Job& job, const ObjectType& type, void* object, bool move) {
  std::optional<Error> refused;
  const Admitted admitted = admit(job, refused);
  if (refused) [[unlikely]] return std::move(*refused);
  ProducerState& state = *admitted.producer;
  const Route routed = admitted.route;
  // A struct of scalars only (bool, integers) can be neither invalid nor longer than its bound:
  // it is checked only if that bound passes the limit.
  const bool checked = type.checked_count != 0 || type.frame_json_bytes + type.scalar_json_bound > config_.max_payload_bytes;
  if (checked && config_.validate_payloads && !job.is_trusted()) {
    WriteFailure failure;
    std::size_t size = 0;
    if (!check_object(type, object, size, failure)) [[unlikely]] {
      count_rejected(state, routed);
      return Error(Errc::invalid_payload, describe_write_failure(failure));
    }
    // The bound counted every number at its widest: past the limit, count them exactly.
    if (size > config_.max_payload_bytes && (size = json_size(type, object)) > config_.max_payload_bytes) [[unlikely]] {
      count_rejected(state, routed);
      return Error(Errc::payload_too_large, "about " + std::to_string(size) + " bytes as JSON, the limit is " +
                                                std::to_string(config_.max_payload_bytes));
    }
  }
  Envelope envelope;
  envelope.type = routed.type;
  envelope.attempt = 1;
  if (!envelope.payload.emplace_object(type, object, move)) [[unlikely]] {
    count_rejected(state, routed);
    return Error(Errc::payload_too_large, "could not allocate the payload buffer");
  }
  if (job.has_options() || state.counters[routed.queue].durable) [[unlikely]] {
    return enqueue_with_options(state, routed, std::move(envelope), job);
  }
  envelope.id = producers_.take_ids(state, 1);
  return commit(state, routed, std::move(envelope));
}

inline Error Engine::refuse_unrouted(Error error) {
  producer().unrouted.add();
  return error;
}

inline void Engine::count_rejected(ProducerState& state, Route route, std::size_t count) {
  state.counters[route.queue].rejected.add(count);
  // Per-type counters exist once start() has sized them (before it published `running`).
  if (route.type != no_id && state_.load(std::memory_order_acquire) != configuring && route.type < state.type_count) {
    state.type_counters[route.type].rejected.add(count);
  }
}

inline Errc Engine::admission(ProducerState& state, Route route, bool delayed) {
  const QueueId queue = route.queue;
  // A producer retrying against a full queue should neither build nor validate its payload
  // again, nor write the cache line the workers decrement: a plain read settles it.
  if (delayed || !queues_[queue]->looks_full(state.counters[queue].credit)) [[likely]] return Errc{};
  const Errc refused =
      queues_[queue]->config.when_full == WhenFull::block ? wait_for_room(state, queue) : Errc::queue_full;
  if (refused != Errc{}) count_rejected(state, route);
  return refused;
}

inline std::optional<Error> Engine::fill(ProducerState& state, Route target, std::string_view payload,
                                          bool validate, Envelope& envelope) {
  if (payload.size() > config_.max_payload_bytes) [[unlikely]] {
    count_rejected(state, target);
    return Error(Errc::payload_too_large, std::to_string(payload.size()) + " bytes, the limit is " +
                                              std::to_string(config_.max_payload_bytes));
  }
  envelope.type = target.type;
  envelope.attempt = 1;
  if (!envelope.payload.assign(payload)) [[unlikely]] {
    count_rejected(state, target);
    return Error(Errc::payload_too_large, "could not allocate the payload buffer");
  }
  if (validate) {
    if (std::string problem = validation_problem(state, envelope.payload); !problem.empty()) [[unlikely]] {
      count_rejected(state, target);
      return Error(Errc::invalid_payload, std::move(problem));
    }
  }
  return std::nullopt;
}

inline Result<JobId> Engine::enqueue(ProducerState& state, Route target, std::string_view payload,
                                      bool validate) {
  Envelope envelope;
  if (std::optional<Error> refused = fill(state, target, payload, validate, envelope)) [[unlikely]] {
    return std::move(*refused);
  }
  envelope.id = producers_.take_ids(state, 1);
  return commit(state, target, std::move(envelope));
}

}  // namespace jobq::internal

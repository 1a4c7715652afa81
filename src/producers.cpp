// Producer states: one per producing thread and Manager, made on the thread's first dispatch and
// retired when the thread exits. A retired state keeps its counters (the books need them) and its
// ring producers, and gives back its buffers; the next new thread adopts it instead of making
// another, so the states (and the ring producers that workers poll) follow the most threads that
// dispatched at once, and their memory follows the threads alive.
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "jobq/internal/engine.hpp"

namespace jobq {
namespace {

/// The Managers alive, by uid: a thread that exits finds the Manager its state belongs to here,
/// or learns that it is gone. An engine leaves before its destructor does anything else, and a
/// retirement holds the lock through its work, so neither can outlive the other.
std::mutex live_mutex;
std::unordered_map<std::uint64_t, internal::Engine*>& live_engines() {
  static auto* engines = new std::unordered_map<std::uint64_t, internal::Engine*>();  // outlives thread exits
  return *engines;
}

/// This thread's states, retired when it exits.
struct ThreadStates {
  std::vector<std::pair<std::uint64_t, internal::ProducerState*>> states;
  ~ThreadStates() {
    const std::lock_guard lock(live_mutex);
    for (const auto& [uid, state] : states) {
      if (const auto found = live_engines().find(uid); found != live_engines().end()) found->second->retire(*state);
    }
  }
};
thread_local ThreadStates thread_states;

}  // namespace

void internal::Engine::enter_live() {
  const std::lock_guard lock(live_mutex);
  live_engines().emplace(uid_, this);
}

void internal::Engine::leave_live() noexcept {
  const std::lock_guard lock(live_mutex);
  live_engines().erase(uid_);
}

internal::ProducerState& internal::Engine::producer_slow() {
  // The Managers this thread used recently, most recent last. A miss here falls back to this
  // Manager's own list, keyed by thread, so that a thread never gets a second state (and a second
  // set of ring producers, which every worker would then poll) from the same Manager.
  constexpr std::size_t remembered = 16;
  thread_local std::vector<internal::ProducerCacheEntry> recent;
  auto remember = [&](internal::ProducerState* state) -> internal::ProducerState& {
    std::erase_if(recent, [&](const internal::ProducerCacheEntry& entry) { return entry.manager_uid == uid_; });
    if (recent.size() == remembered) recent.erase(recent.begin());
    recent.push_back({uid_, state});
    internal::last_producer = recent.back();
    return *state;
  };
  for (const internal::ProducerCacheEntry& entry : recent) {
    if (entry.manager_uid == uid_) return remember(entry.state);
  }
  const std::thread::id self = std::this_thread::get_id();
  thread_states.states.reserve(thread_states.states.size() + 1);  // so that registering cannot throw below
  {
    const std::lock_guard lock(producers_mutex_);
    for (const auto& state : producers_) {
      if (state->owner == self && !state->retired) return remember(state.get());
    }
    // A state a thread left behind: adopted with its ring producers, its counters and its ids.
    for (const auto& state : producers_) {
      if (!state->retired) continue;
      ready_for_dispatch(*state);
      state->owner = self;
      state->retired = false;
      thread_states.states.emplace_back(uid_, state.get());
      return remember(state.get());
    }
  }
  auto state = std::make_unique<internal::ProducerState>();
  state->owner = self;
  state->tokens.reserve(queues_.size());
  for (auto& queue : queues_) {
    state->tokens.emplace_back(queue->ring);
    if (!state->tokens.back().valid()) throw std::bad_alloc();  // the ring could not add a producer
  }
  state->counters = internal::make_kept_array<internal::ProducerState::QueueCounters>(queues_.size());
  for (const auto& queue : queues_) state->counters[queue->index].durable = queue->lane != nullptr;
  ready_for_dispatch(*state);
  internal::ProducerState* raw = state.get();
  {
    // start() sizes the per-type counters of the states that exist when types freeze, under
    // this lock; a state made after that sizes its own.
    const std::lock_guard lock(producers_mutex_);
    if (state_.load(std::memory_order_seq_cst) != configuring) size_type_counters(*state);
    producers_.push_back(std::move(state));
  }
  thread_states.states.emplace_back(uid_, raw);
  return remember(raw);
}

void internal::Engine::ready_for_dispatch(internal::ProducerState& state) {
  state.staging.resize(queues_.size());
  state.bulk_counts.resize(queues_.size());
  if (state.validator.capacity() == 0) fresh_validator(state);
}

void internal::Engine::fresh_validator(internal::ProducerState& state) {
  state.validator = simdjson::dom::parser();
  if (state.validator.allocate(validator_bytes, config_.max_payload_depth) != simdjson::SUCCESS) throw std::bad_alloc();
}

void internal::Engine::retire(internal::ProducerState& state) noexcept {
  const std::lock_guard lock(producers_mutex_);
  state.owner = std::thread::id();
  state.retired = true;
  // Everything that grew with what this thread dispatched goes back; the counters, the id block
  // and the ring producers stay for the thread that adopts the state.
  std::vector<std::vector<internal::Envelope>>().swap(state.staging);
  std::vector<internal::Route>().swap(state.routes);
  std::vector<std::size_t>().swap(state.bulk_counts);
  state.validator = simdjson::dom::parser();
}

void internal::Engine::size_type_counters(internal::ProducerState& state) const {
  state.type_counters = internal::make_kept_array<internal::ProducerState::TypeCounters>(registry_.size());
  state.type_count = registry_.size();
}

}  // namespace jobq

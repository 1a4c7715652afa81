// Producer states: made, adopted and retired (producer_table.hpp). A thread finds the table its
// state belongs to through a process-wide list of live tables, so that its exit can retire it.
#include "jobq/internal/producer_table.hpp"

#include <thread>
#include <unordered_map>
#include <utility>

namespace jobq {
namespace {

std::atomic<std::uint64_t> next_table_uid{1};

/// The tables alive, by uid: a thread that exits finds the table its state belongs to here, or
/// learns that it is gone. A table leaves before its destructor does anything else, and a
/// retirement holds the lock through its work, so neither can outlive the other.
std::mutex live_mutex;
std::unordered_map<std::uint64_t, internal::ProducerTable*>& live_tables() {
  static auto* tables = new std::unordered_map<std::uint64_t, internal::ProducerTable*>();  // outlives thread exits
  return *tables;
}

/// This thread's states, retired when it exits.
struct ThreadStates {
  std::vector<std::pair<std::uint64_t, internal::ProducerState*>> states;
  ~ThreadStates() {
    const std::lock_guard lock(live_mutex);
    for (const auto& [uid, state] : states) {
      if (const auto found = live_tables().find(uid); found != live_tables().end()) found->second->retire(*state);
    }
  }
};
thread_local ThreadStates thread_states;

}  // namespace

internal::ProducerTable::ProducerTable(const std::vector<std::unique_ptr<QueueRuntime>>& queues,
                                       std::size_t max_depth)
    : uid_(next_table_uid.fetch_add(1)), queues_(queues), max_depth_(max_depth) {
  const std::lock_guard lock(live_mutex);
  live_tables().emplace(uid_, this);
}

internal::ProducerTable::~ProducerTable() {
  const std::lock_guard lock(live_mutex);
  live_tables().erase(uid_);
}

internal::ProducerState& internal::ProducerTable::mine_slow() {
  // The tables this thread used recently, most recent last. A miss here falls back to this
  // table's own list, keyed by thread, so that a thread never gets a second state (and a second
  // set of ring producers, which every worker would then poll) from the same table.
  constexpr std::size_t remembered = 16;
  thread_local std::vector<ProducerCacheEntry> recent;
  auto remember = [&](ProducerState* state) -> ProducerState& {
    std::erase_if(recent, [&](const ProducerCacheEntry& entry) { return entry.table_uid == uid_; });
    if (recent.size() == remembered) recent.erase(recent.begin());
    recent.push_back({uid_, state});
    last_producer = recent.back();
    return *state;
  };
  for (const ProducerCacheEntry& entry : recent) {
    if (entry.table_uid == uid_) return remember(entry.state);
  }
  const std::thread::id self = std::this_thread::get_id();
  thread_states.states.reserve(thread_states.states.size() + 1);  // so that registering cannot throw below
  {
    const std::lock_guard lock(mutex_);
    for (const auto& state : states_) {
      if (state->owner == self && !state->retired) return remember(state.get());
    }
    // A state a thread left behind: adopted with its ring producers, its counters and its ids.
    for (const auto& state : states_) {
      if (!state->retired) continue;
      ready_for_dispatch(*state);
      state->owner = self;
      state->retired = false;
      thread_states.states.emplace_back(uid_, state.get());
      return remember(state.get());
    }
  }
  auto state = std::make_unique<ProducerState>();
  state->owner = self;
  state->tokens.reserve(queues_.size());
  for (auto& queue : queues_) {
    state->tokens.emplace_back(queue->ring);
    if (!state->tokens.back().valid()) throw std::bad_alloc();  // the ring could not add a producer
  }
  state->counters = make_kept_array<ProducerState::QueueCounters>(queues_.size());
  for (const auto& queue : queues_) state->counters[queue->index].durable = queue->lane != nullptr;
  ready_for_dispatch(*state);
  ProducerState* raw = state.get();
  {
    const std::lock_guard lock(mutex_);
    if (frozen_) size_type_counters(*state);
    // Spread over the shards the readmissions do not use.
    state->shard = static_cast<std::uint16_t>(states_.size() % QueueRuntime::readmit_shard);
    states_.push_back(std::move(state));
  }
  thread_states.states.emplace_back(uid_, raw);
  return remember(raw);
}

void internal::ProducerTable::ready_for_dispatch(ProducerState& state) const {
  state.staging.resize(queues_.size());
  state.bulk_counts.resize(queues_.size());
  if (state.validator.capacity() == 0) fresh_validator(state);
}

void internal::ProducerTable::fresh_validator(ProducerState& state) const {
  state.validator = simdjson::dom::parser();
  if (state.validator.allocate(validator_bytes, max_depth_) != simdjson::SUCCESS) throw std::bad_alloc();
}

void internal::ProducerTable::retire(ProducerState& state) noexcept {
  const std::lock_guard lock(mutex_);
  state.owner = std::thread::id();
  state.retired = true;
  // Everything that grew with what this thread dispatched goes back; the counters, the id block
  // and the ring producers stay for the thread that adopts the state.
  std::vector<std::vector<Envelope>>().swap(state.staging);
  std::vector<Route>().swap(state.routes);
  std::vector<std::size_t>().swap(state.bulk_counts);
  state.validator = simdjson::dom::parser();
  // Its unused slots of each queue's capacity are the other producers' while no thread has it.
  for (const auto& queue : queues_) queue->return_credit(state.counters[queue->index].credit);
}

void internal::ProducerTable::size_type_counters(ProducerState& state) const {
  state.type_counters = make_kept_array<ProducerState::TypeCounters>(frozen_types_);
  state.type_count = frozen_types_;
}

}  // namespace jobq

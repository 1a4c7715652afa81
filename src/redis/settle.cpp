// jobq::redis::Lane: the outcome of a fetched job, stored in one script (acknowledged, retried
// later, dead-lettered or handed back).
#include <algorithm>
#include <string>

#include "redis/lane_state.hpp"

namespace jobq::redis {

void Lane::settle(const LaneSettlement& outcome) noexcept { state_->settle(outcome); }

void Lane::State::settle(const LaneSettlement& outcome) noexcept {
  State& state = *this;
  try {
    const std::string entry(outcome.ref);
    if (outcome.kind == LaneSettlement::Kind::succeeded || outcome.kind == LaneSettlement::Kind::revoked) {
      bool first = false;
      {
        const std::lock_guard lock(state.ack_mutex);
        first = state.acks.empty();
        state.acks.push_back({entry, state.key_name(outcome.key), outcome.id,
                              outcome.kind == LaneSettlement::Kind::succeeded ? 'k' : 'r'});
      }
      // Only the first of a batch wakes the keeper (a system call); the rest ride along.
      if (first) state.ack_ready.notify_one();
      return;
    }
    if (outcome.kind == LaneSettlement::Kind::started) {  // a key held until now; sent with the acks
      bool first = false;
      {
        const std::lock_guard lock(state.ack_mutex);
        first = state.acks.empty() && state.unlocks.empty();
        state.unlocks.push_back({state.key_name(outcome.key), outcome.id});
      }
      if (first) state.ack_ready.notify_one();
      return;
    }
    const std::string id = std::to_string(outcome.id);
    const std::string attempt = std::to_string(outcome.attempt);
    const std::string max = std::to_string(outcome.max_attempts);
    const std::string timeout = std::to_string(outcome.timeout.count());
    const std::string key = state.key_name(outcome.key);
    auto run = [&](detail::Connection& connection) -> Result<detail::Reply> {
      detail::Args args;
      args.add(State::group).add(entry);
      switch (outcome.kind) {
        case LaneSettlement::Kind::later:
          args.add(script_ms(outcome.delay)).add(id).add(outcome.type).add(outcome.payload).add(attempt).add(max);
          args.add(timeout).add(outcome.key).add(state.consumer).add(outcome.headers).add(outcome.flow);
          return connection.eval(detail::Script::later, {state.stream, state.scheduled}, args);
        case LaneSettlement::Kind::give_back:
          args.add(id).add(outcome.type).add(outcome.payload).add(attempt).add(max).add(timeout).add(outcome.key);
          args.add(state.consumer).add(outcome.headers).add(outcome.key_hold == KeyHold::until_started ? "started" : "");
          args.add(outcome.flow);
          return connection.eval(detail::Script::give_back, {state.stream}, args);
        default: {
          const DeadLetter& letter = *outcome.letter;
          const auto when = std::chrono::duration_cast<std::chrono::milliseconds>(letter.when.time_since_epoch()).count();
          args.add(id).add(letter.type).add(letter.queue).add(letter.payload).add(std::int64_t{letter.attempts});
          args.add(letter.last_error).add(std::int64_t{static_cast<int>(letter.reason)}).add(std::int64_t{when});
          args.add(max).add(timeout).add(static_cast<std::int64_t>(state.options.dead_letter_capacity)).add(state.dead_prefix);
          args.add(state.consumer).add(letter.headers.empty() ? std::string() : letter.headers.to_json()).add(letter.flow);
          return connection.eval(detail::Script::dead, {state.stream, state.dead, state.dead_prefix + id, key}, args);
        }
      }
    };
    // One more try on a fresh connection: a lost connection is remade on the next use.
    Result<detail::Reply> reply = state.with_connection(run);
    if (!reply && reply.error().code() == Errc::unavailable) reply = state.with_connection(run);
    if (!reply || reply_integer(reply->get()) == 0) {
      // Not stored, or the entry had been claimed by another process after this one's lease
      // lapsed: it stays in Redis and runs again there (at least once).
      state.settle_lost.fetch_add(1, std::memory_order_relaxed);
    } else {
      state.acknowledged.fetch_add(1, std::memory_order_relaxed);
    }
    state.release(entry);
  } catch (...) {  // a failed allocation: released, so that its lease lapses and it runs again
    state.settle_lost.fetch_add(1, std::memory_order_relaxed);
    try {
      state.release(std::string(outcome.ref));
    } catch (...) {  // NOLINT(bugprone-empty-catch): no memory for the key either; renewal keeps it
    }
  }
}

}  // namespace jobq::redis

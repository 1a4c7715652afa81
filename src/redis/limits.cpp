// Limits for the fleet: a queue's (or a job type's) rate and running slots live in Redis, so that
// every process sharing the queue draws from one budget. Rates book start times in a GCRA script
// on the server's clock; running slots are leased like fetched jobs, so that a dead process's
// slots free themselves.
#include "redis/lane_state.hpp"

namespace jobq::redis {

Result<std::chrono::nanoseconds> Lane::book_start(std::string_view scope, const RateLimit& rate) {
  State& state = *state_;
  const auto interval = std::max<std::int64_t>(
      1, std::chrono::duration_cast<std::chrono::microseconds>(rate.per).count() / std::max<std::uint32_t>(1, rate.count));
  detail::Args args;
  args.add(interval).add(interval * (static_cast<std::int64_t>(rate.burst) - 1));
  const std::string key = state.limit_key(scope, "rate");
  Result<detail::Reply> reply = state.with_connection(
      [&](detail::Connection& connection) { return connection.eval(detail::Script::book_start, {key}, args); });
  if (!reply) return reply.error();
  if (reply->get()->type != REDIS_REPLY_INTEGER) return Error(Errc::store_refused, "unexpected reply to a rate booking");
  return std::chrono::nanoseconds(std::chrono::microseconds(reply->get()->integer));
}

Result<bool> Lane::acquire_slot(std::string_view scope, std::uint32_t limit, JobId job) {
  State& state = *state_;
  const std::string key = state.limit_key(scope, "running");
  detail::Args args;
  args.add(std::int64_t{limit}).add(static_cast<std::int64_t>(job)).add(static_cast<std::int64_t>(state.options.lease.count()));
  Result<detail::Reply> reply = state.with_connection(
      [&](detail::Connection& connection) { return connection.eval(detail::Script::acquire_slot, {key}, args); });
  if (!reply) return reply.error();
  if (reply->get()->type != REDIS_REPLY_INTEGER) return Error(Errc::store_refused, "unexpected reply to a slot request");
  if (reply->get()->integer == 0) return false;
  const std::lock_guard lock(state.slots_mutex);
  state.slots.emplace(key, job);
  return true;
}

void Lane::release_slot(std::string_view scope, JobId job) noexcept {
  State& state = *state_;
  try {
    const std::string key = state.limit_key(scope, "running");
    {
      const std::lock_guard lock(state.slots_mutex);
      state.slots.erase({key, job});
    }
    detail::Args args;
    args.add("ZREM").add(key).add(static_cast<std::int64_t>(job));
    // Not stored (Redis away): the slot's lease lapses on its own, as a dead process's would.
    (void)state.with_connection([&](detail::Connection& connection) { return connection.run(args); });
  } catch (...) {  // NOLINT(bugprone-empty-catch): no memory: the lease lapses
  }
}

bool Lane::State::renew_slots(detail::Connection& connection) {
  std::vector<std::pair<std::string, JobId>> held_slots;
  {
    const std::lock_guard lock(slots_mutex);
    held_slots.assign(slots.begin(), slots.end());
  }
  for (std::size_t first = 0; first < held_slots.size(); first += 256) {
    detail::Args args;
    args.add(static_cast<std::int64_t>(options.lease.count()));
    for (std::size_t index = first; index < std::min(held_slots.size(), first + 256); ++index) {
      args.add(held_slots[index].first).add(static_cast<std::int64_t>(held_slots[index].second));
    }
    if (!connection.eval(detail::Script::renew_slots, {}, args)) return false;
  }
  return true;
}

}  // namespace jobq::redis

// The keeper of a durable lane: acknowledges outcomes in batches, promotes due jobs, renews this
// process's leases, claims the jobs of dead processes and delivers them (through the fetcher's
// deliver(), on this thread), and follows the fleet-wide pause flag.
#include <algorithm>
#include <thread>

#include "redis/lane_state.hpp"

namespace jobq::redis {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

bool Lane::State::flush_acks(detail::Connection& connection) {
  std::vector<Ack> batch;
  std::vector<std::pair<std::string, JobId>> released;
  {
    const std::lock_guard lock(ack_mutex);
    batch.swap(acks);
    released.swap(unlocks);
    acks_in_flight = batch.size();
  }
  for (std::size_t first = 0; first < released.size(); first += 512) {
    detail::Args args;
    for (std::size_t index = first; index < std::min(released.size(), first + 512); ++index) {
      args.add(released[index].first).add(static_cast<std::int64_t>(released[index].second));
    }
    if (!connection.eval(detail::Script::unlock, {}, args)) {
      // Kept for the next flush: a key held a little longer refuses a duplicate a little longer.
      const std::lock_guard lock(ack_mutex);
      unlocks.insert(unlocks.begin(), std::make_move_iterator(released.begin() + static_cast<std::ptrdiff_t>(first)),
                     std::make_move_iterator(released.end()));
      break;
    }
  }
  // Counted as settled only once the counters below have moved: idle() waits for both.
  struct Landed {
    State& state;
    ~Landed() {
      const std::lock_guard lock(state.ack_mutex);
      state.acks_in_flight = 0;
    }
  } landed{*this};
  if (batch.empty()) return true;
  const std::int64_t ttl = options.idempotency_ttl == std::chrono::milliseconds::max()
                               ? -1
                               : std::max<std::int64_t>(1, options.idempotency_ttl.count());
  constexpr std::size_t chunk = 512;
  for (std::size_t first = 0; first < batch.size(); first += chunk) {
    const std::size_t last = std::min(batch.size(), first + chunk);
    detail::Args args;
    args.add(group).add(ttl).add(consumer);
    for (std::size_t index = first; index < last; ++index) {
      args.add(batch[index].entry).add(batch[index].key).add(static_cast<std::int64_t>(batch[index].id));
      args.add(std::string_view(&batch[index].mode, 1));
    }
    Result<detail::Reply> reply = connection.eval(detail::Script::ack, {stream}, args);
    if (!reply) {
      // Kept for the next flush; their leases are still renewed meanwhile.
      const std::lock_guard lock(ack_mutex);
      acks.insert(acks.begin(), std::make_move_iterator(batch.begin() + static_cast<std::ptrdiff_t>(first)),
                  std::make_move_iterator(batch.end()));
      return false;
    }
    const std::int64_t acked = reply->get()->integer;
    acknowledged.fetch_add(static_cast<std::uint64_t>(acked), std::memory_order_relaxed);
    settle_lost.fetch_add(static_cast<std::uint64_t>(static_cast<std::int64_t>(last - first) - acked),
                          std::memory_order_relaxed);
    bool was_full = false;
    {
      const std::lock_guard lock(held_mutex);
      was_full = held.size() >= options.prefetch;
      for (std::size_t index = first; index < last; ++index) held.erase(batch[index].entry);
    }
    if (was_full) room.notify_one();
  }
  return true;
}

bool Lane::State::renew_leases(detail::Connection& connection) {
  std::vector<std::string> entries;
  {
    const std::lock_guard lock(held_mutex);
    entries.assign(held.begin(), held.end());
  }
  for (std::size_t first = 0; first < entries.size(); first += 512) {
    detail::Args args;
    args.add(group).add(consumer);
    for (std::size_t index = first; index < std::min(entries.size(), first + 512); ++index) args.add(entries[index]);
    Result<detail::Reply> lost = connection.eval(detail::Script::renew, {stream}, args);
    if (!lost) return false;
    // Entries claimed by another process: this one's run of them no longer counts.
    if (lost->get()->type == REDIS_REPLY_ARRAY) {
      for (std::size_t index = 0; index < lost->get()->elements; ++index) {
        release(std::string(detail::text(lost->get()->element[index])));
      }
    }
  }
  return renew_slots(connection);
}

bool Lane::State::promote_trim_and_follow_pause(detail::Connection& connection) {
  // Due jobs, 256 at a time, at most 1,024 a round: a large backlog must not hold up the
  // renewals for long.
  for (int round = 0; round < 4; ++round) {
    detail::Args args;
    args.add(std::int64_t{256});
    Result<detail::Reply> moved = connection.eval(detail::Script::promote, {stream, scheduled}, args);
    if (!moved) return false;
    promoted.fetch_add(static_cast<std::uint64_t>(moved->get()->integer), std::memory_order_relaxed);
    if (moved->get()->integer < 256) break;
  }
  detail::Args trim;  // settled entries below the oldest one still pending or undelivered
  trim.add(group);
  if (!connection.eval(detail::Script::trim, {stream}, trim)) return false;
  detail::Args get;
  get.add("GET").add(paused_key);
  Result<detail::Reply> flag = connection.run(get);
  if (!flag) return false;
  const bool paused = detail::text(flag->get()) == "1";
  if (paused != paused_seen.load()) {
    paused_seen.store(paused);
    intake->hold(paused);
  }
  return true;
}

bool Lane::State::reclaim_lapsed(detail::Connection& connection, std::string& from) {
  const std::size_t held_now = held_count();
  if (held_now >= options.prefetch || paused_seen.load()) return true;
  detail::Args args;
  args.add(group).add(consumer).add(static_cast<std::int64_t>(options.lease.count())).add(from);
  args.add(static_cast<std::int64_t>(options.prefetch - held_now));
  Result<detail::Reply> claimed = connection.eval(detail::Script::reclaim, {stream}, args);
  if (!claimed) return false;
  if (claimed->get()->type == REDIS_REPLY_ARRAY && claimed->get()->elements == 2) {
    from = std::string(detail::text(claimed->get()->element[0]));
    deliver(claimed->get()->element[1], true);
  }
  return true;
}

void Lane::State::run_keeper() {
  detail::Connection connection(options, reconnects);
  detail::Backoff backoff;
  const auto renew_every = std::max(options.lease / 3, std::chrono::milliseconds(10));
  const auto reclaim_every = std::max(options.poll_every, options.lease / 4);
  auto next_poll = Clock::now();
  auto next_renew = Clock::now() + renew_every;
  auto next_reclaim = Clock::now();
  std::string reclaim_from = "0-0";
  for (;;) {
    {
      std::unique_lock lock(ack_mutex);
      ack_ready.wait_until(lock, std::min(next_poll, next_renew),
                           [&] { return !acks.empty() || !unlocks.empty() || !keeping.load(); });
    }
    if (!keeping.load()) break;
    bool reached = flush_acks(connection);
    const auto now = Clock::now();
    if (reached && now >= next_renew) {
      reached = renew_leases(connection);
      if (reached) next_renew = now + renew_every;
    }
    if (reached && now >= next_poll) {
      next_poll = now + options.poll_every;
      reached = promote_trim_and_follow_pause(connection);
    }
    if (reached && fetching.load() && now >= next_reclaim) {
      next_reclaim = now + reclaim_every;
      reached = reclaim_lapsed(connection, reclaim_from);
    }
    if (reached) {
      backoff.succeeded();
    } else {
      backoff.failed(keeping);
    }
  }
  flush_acks(connection);
}

}  // namespace jobq::redis

// jobq::redis::Lane: made, attached, started and stopped; its counts and the slots of periodic
// jobs. Dispatch into the stream is append.cpp, the outcomes of jobs settle.cpp.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <random>
#include <thread>

#include "jobq/registry.hpp"
#include "redis/lane_state.hpp"

namespace jobq::redis {
namespace {

std::string default_consumer() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  std::random_device entropy;
  return std::string(host) + ":" + std::to_string(getpid()) + ":" + std::to_string(entropy() % 1000000);
}

}  // namespace

Error explain_refusal(Error error) {
  if (error.code() != Errc::store_refused) return error;
  const std::string& detail = error.detail();
  if (detail.starts_with("OOM")) return Error(Errc::store_refused, "Redis is out of memory (maxmemory): " + detail);
  if (detail.starts_with("NOAUTH") || detail.starts_with("WRONGPASS")) {
    return Error(Errc::store_refused, "Redis refused the credentials: " + detail);
  }
  return error;
}

std::int64_t reply_integer(const redisReply* reply) {
  if (reply == nullptr) return 0;
  if (reply->type == REDIS_REPLY_INTEGER) return reply->integer;
  if (reply->type == REDIS_REPLY_STRING) return std::strtoll(reply->str, nullptr, 10);
  return 0;
}

std::int64_t script_ms(std::chrono::nanoseconds duration) {
  if (duration == std::chrono::nanoseconds::max()) return -1;
  if (duration <= std::chrono::nanoseconds::zero()) return 0;
  return (duration.count() + 999999) / 1000000;
}

/// hiredis writes to its socket with write(): a server that went away raises SIGPIPE, whose
/// default action ends the process. A lost connection must be an error the lane handles, so the
/// default disposition becomes "ignore"; a handler the program installed is left alone.
void ignore_sigpipe_by_default() {
  struct sigaction current {};
  if (sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) {
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    sigaction(SIGPIPE, &ignore, nullptr);
  }
}

Lane::State::State(Options lane_options) : options(std::move(lane_options)) {
  ignore_sigpipe_by_default();
  consumer = options.consumer.empty() ? default_consumer() : options.consumer;
  const std::size_t connections = std::max<std::size_t>(1, options.connections);
  for (std::size_t index = 0; index < connections; ++index) pool.push_back(std::make_unique<Pooled>(options, reconnects));
}

void Lane::State::release(const std::string& entry) {
  bool was_full = false;
  {
    const std::lock_guard lock(held_mutex);
    was_full = held.size() >= options.prefetch;
    held.erase(entry);
  }
  if (was_full) room.notify_one();  // the fetcher waits only when the prefetch is used up
}

std::size_t Lane::State::held_count() {
  const std::lock_guard lock(held_mutex);
  return held.size();
}

Lane::Lane(Options options) {
  if (options.prefetch == 0) throw ConfigError("jobq::redis::Options::prefetch must be at least 1");
  if (options.lease < std::chrono::milliseconds(30)) throw ConfigError("jobq::redis::Options::lease must be at least 30 ms");
  if (options.poll_every <= std::chrono::milliseconds::zero()) {
    throw ConfigError("jobq::redis::Options::poll_every must be positive");
  }
  if (options.poll_every >= options.command_timeout) {
    throw ConfigError("jobq::redis::Options::poll_every must be shorter than command_timeout (a fetch blocks that long)");
  }
  if (options.prefix.empty() || options.prefix.find_first_of("{}") != std::string::npos) {
    throw ConfigError("jobq::redis::Options::prefix must be non-empty, without braces");
  }
  state_ = std::make_unique<State>(std::move(options));
}

Lane::~Lane() {
  try {
    stop_fetching();
    stop();
  } catch (...) {  // NOLINT(bugprone-empty-catch): a destructor must not throw
  }
}

void Lane::attach(std::string_view queue) {
  State& state = *state_;
  if (!state.queue.empty()) {
    throw ConfigError("a jobq::redis::Lane serves one queue of one Manager: it serves '" + state.queue +
                      "' already (make one lane per queue and per Manager)");
  }
  if (std::string problem = queue_name_problem(queue); !problem.empty()) throw ConfigError(problem);
  state.queue = queue;
  state.base = state.options.prefix + ":{" + state.queue + "}";
  state.stream = state.base + ":stream";
  state.scheduled = state.base + ":scheduled";
  state.ids = state.base + ":ids";
  state.dead = state.base + ":dead";
  state.dead_prefix = state.dead + ":";
  state.key_prefix = state.base + ":key:";
  state.debounce_prefix = state.base + ":debounce:";
  state.paused_key = state.base + ":paused";
}

void Lane::start(LaneIntake& intake) {
  State& state = *state_;
  if (state.queue.empty()) throw ConfigError("a jobq::redis::Lane must be attached to a queue before start");
  if (state.keeping.load()) throw ConfigError("a jobq::redis::Lane starts once");
  state.intake = &intake;
  // A queue paused before this process started stays paused: read the flag before fetching.
  detail::Args get;
  get.add("GET").add(state.paused_key);
  Result<detail::Reply> flag = state.with_connection([&](detail::Connection& connection) { return connection.run(get); });
  if (flag && detail::text(flag->get()) == "1") {
    state.paused_seen.store(true);
    intake.hold(true);
  }
  state.fetching.store(true);
  state.keeping.store(true);
  state.keeper = std::thread([&state] { state.run_keeper(); });
  try {
    state.fetcher = std::thread([&state] { state.run_fetcher(); });
  } catch (...) {
    state.keeping.store(false);
    state.ack_ready.notify_all();
    state.keeper.join();
    throw;
  }
}

void Lane::set_paused(bool paused) {
  State& state = *state_;
  detail::Args args;
  if (paused) {
    args.add("SET").add(state.paused_key).add("1");
  } else {
    args.add("DEL").add(state.paused_key);
  }
  Result<detail::Reply> reply = state.with_connection([&](detail::Connection& connection) { return connection.run(args); });
  if (!reply) {
    throw std::runtime_error("cannot " + std::string(paused ? "pause" : "resume") + " durable queue '" + state.queue +
                             "': " + std::string(describe(reply.error().code())) + ": " + reply.error().detail());
  }
}

Result<std::optional<std::int64_t>> Lane::last_slot(std::string_view schedule) {
  State& state = *state_;
  detail::Args get;
  get.add("GET").add(state.base + ":schedule:" + std::string(schedule));
  Result<detail::Reply> reply = state.with_connection([&](detail::Connection& connection) { return connection.run(get); });
  if (!reply) return reply.error();
  const std::string_view value = detail::text(reply->get());
  if (value.empty()) return std::optional<std::int64_t>{};
  std::int64_t slot = 0;
  const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), slot);
  // A slot is a Unix second after 1970 and not in the future (a day's leeway for skewed clocks).
  const auto latest = std::chrono::duration_cast<std::chrono::seconds>(
                          (std::chrono::system_clock::now() + std::chrono::hours(24)).time_since_epoch())
                          .count();
  if (error != std::errc{} || end != value.data() + value.size() || slot <= 0 || slot > latest) {
    return Error(Errc::store_refused, state.base + ":schedule:" + std::string(schedule) + " holds '" + std::string(value) +
                                          "', not a slot");
  }
  return std::optional<std::int64_t>{slot};
}

Result<bool> Lane::claim_slot(std::string_view schedule, std::int64_t slot) {
  // The store keeps each schedule's latest claimed slot; one process's claim of a slot wins.
  State& state = *state_;
  detail::Args claim;
  claim.add("EVAL")
      .add("local old = tonumber(redis.call('GET', KEYS[1])) "
           "if not old or old < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) return 1 end return 0")
      .add("1")
      .add(state.base + ":schedule:" + std::string(schedule))
      .add(std::to_string(slot));
  Result<detail::Reply> reply = state.with_connection([&](detail::Connection& connection) { return connection.run(claim); });
  if (!reply) return reply.error();
  return reply->get()->type == REDIS_REPLY_INTEGER && reply->get()->integer == 1;
}

void Lane::stop_fetching() {
  State& state = *state_;
  state.fetching.store(false);
  state.room.notify_all();
  if (state.fetcher.joinable()) state.fetcher.join();
  // A claim the keeper is delivering finishes first; later ones see `fetching` and give back.
  const std::lock_guard wait_for_delivery(state.deliver_mutex);
}

void Lane::stop() {
  State& state = *state_;
  state.stop_sender();
  state.keeping.store(false);
  state.ack_ready.notify_all();
  if (state.keeper.joinable()) state.keeper.join();
  // What the keeper could not send goes now, once; what still fails runs again elsewhere later.
  state.with_connection([&](detail::Connection& connection) { return state.flush_acks(connection); });
}

Result<Lane::State::Counts> Lane::State::counts() {
  std::vector<detail::Args> commands(4);
  commands[0].add("XLEN").add(stream);
  commands[1].add("XINFO").add("GROUPS").add(stream);
  commands[2].add("ZCARD").add(scheduled);
  commands[3].add("ZCARD").add(dead);
  Result<std::vector<detail::Reply>> replies =
      with_connection([&](detail::Connection& connection) { return connection.pipeline(commands); });
  if (!replies) return replies.error();
  Counts counts;
  // Ready: the group's lag (entries not yet delivered); the whole stream when there is no group
  // yet, or when Redis cannot tell the lag.
  counts.ready = reply_integer((*replies)[0].get());
  const redisReply* groups = (*replies)[1].get();
  if (groups->type == REDIS_REPLY_ARRAY) {
    for (std::size_t index = 0; index < groups->elements; ++index) {
      const redisReply* fields = groups->element[index];
      std::optional<std::int64_t> lag, pending;
      bool ours = false;
      for (std::size_t field = 0; field + 1 < fields->elements; field += 2) {
        const std::string_view name = detail::text(fields->element[field]);
        const redisReply* value = fields->element[field + 1];
        if (name == "name") ours = detail::text(value) == group;
        if (name == "pending") pending = reply_integer(value);
        if (name == "lag" && value->type == REDIS_REPLY_INTEGER) lag = value->integer;
      }
      if (!ours) continue;
      counts.pending = pending.value_or(0);
      if (lag) counts.ready = *lag;
    }
  }
  counts.scheduled = reply_integer((*replies)[2].get());
  counts.dead = reply_integer((*replies)[3].get());
  return counts;
}

bool Lane::idle() {
  State& state = *state_;
  {
    const std::lock_guard lock(state.ack_mutex);
    if (!state.acks.empty() || state.acks_in_flight != 0) return false;
  }
  {
    const std::lock_guard lock(state.outgoing_mutex);  // asynchronous dispatches not yet stored
    if (!state.outgoing.empty() || state.outgoing_in_flight != 0) return false;
  }
  Result<State::Counts> counts = state.counts();
  return counts && counts->ready == 0 && counts->pending == 0 && counts->scheduled == 0;
}

LaneStats Lane::stats() {
  State& state = *state_;
  LaneStats stats;
  stats.appended = state.appended.load(std::memory_order_relaxed);
  stats.append_failed = state.append_failed.load(std::memory_order_relaxed);
  stats.delivered = state.delivered.load(std::memory_order_relaxed);
  stats.acknowledged = state.acknowledged.load(std::memory_order_relaxed);
  stats.recovered = state.recovered.load(std::memory_order_relaxed);
  stats.promoted = state.promoted.load(std::memory_order_relaxed);
  stats.settle_lost = state.settle_lost.load(std::memory_order_relaxed);
  stats.reconnects = state.reconnects.load(std::memory_order_relaxed);
  stats.debounced = state.debounced.load(std::memory_order_relaxed);
  if (Result<State::Counts> counts = state.counts()) {
    stats.stream_length = counts->ready;
    stats.pending = counts->pending;
    stats.scheduled = counts->scheduled;
    stats.dead = counts->dead;
  }
  return stats;
}

}  // namespace jobq::redis

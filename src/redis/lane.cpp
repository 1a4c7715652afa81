// jobq::redis::Lane: dispatch into a queue's stream and the outcomes of its jobs.
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

/// A refusal from Redis, said as what it means for the job.
Error explain(Error error) {
  if (error.code() != Errc::store_refused) return error;
  const std::string& detail = error.detail();
  if (detail.starts_with("OOM")) return Error(Errc::store_refused, "Redis is out of memory (maxmemory): " + detail);
  if (detail.starts_with("NOAUTH") || detail.starts_with("WRONGPASS")) {
    return Error(Errc::store_refused, "Redis refused the credentials: " + detail);
  }
  return error;
}

std::int64_t integer(const redisReply* reply) {
  if (reply == nullptr) return 0;
  if (reply->type == REDIS_REPLY_INTEGER) return reply->integer;
  if (reply->type == REDIS_REPLY_STRING) return std::strtoll(reply->str, nullptr, 10);
  return 0;
}

}  // namespace

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

detail::Args Lane::State::append_args(const LaneJob& job) {
  detail::Args args;
  if (job.debounce.count() > 0) {
    args.add(job.type).add(job.payload).add(std::int64_t{job.max_attempts});
    args.add(static_cast<std::int64_t>(job.timeout.count())).add(script_ms(job.debounce)).add(job.headers);
    return args;
  }
  args.add(job.type).add(job.payload).add(job.key).add(std::int64_t{job.max_attempts});
  args.add(static_cast<std::int64_t>(job.timeout.count())).add(script_ms(job.delay)).add(job.headers);
  args.add(job.key_hold == KeyHold::until_started ? "started" : "").add(job.flow);
  return args;
}

std::string Lane::State::append_key(const LaneJob& job) const {
  if (job.debounce.count() > 0) return debounce_prefix + std::string(job.type) + ":" + std::string(job.key);
  return key_name(job.key);
}

Result<detail::Reply> Lane::State::eval_append(detail::Connection& connection, const LaneJob& job,
                                               const std::string& key, detail::Args& args) {
  if (job.debounce.count() > 0) return connection.eval(detail::Script::debounce, {scheduled, ids, key}, args);
  return connection.eval(detail::Script::append, {stream, scheduled, ids, key}, args);
}

detail::Args Lane::State::append_command(detail::Connection& connection, const LaneJob& job, const std::string& key,
                                         detail::Args& args) {
  if (job.debounce.count() > 0) return connection.eval_args(detail::Script::debounce, {scheduled, ids, key}, args);
  return connection.eval_args(detail::Script::append, {stream, scheduled, ids, key}, args);
}

Result<JobId> Lane::State::append_result(const redisReply* result, std::string_view key) {
  if (result->type != REDIS_REPLY_ARRAY || result->elements != 2) {
    append_failed.fetch_add(1, std::memory_order_relaxed);
    return Error(Errc::store_refused, "unexpected reply to a dispatch");
  }
  const auto id = static_cast<JobId>(integer(result->element[1]));
  if (integer(result->element[0]) == 0) {
    return Error(Errc::duplicate, "key '" + std::string(key) + "' is held by job " + std::to_string(id), id);
  }
  if (integer(result->element[0]) == 2) {  // a debounced job took a waiting one's place
    debounced.fetch_add(1, std::memory_order_relaxed);
    return id;
  }
  appended.fetch_add(1, std::memory_order_relaxed);
  return id;
}

Result<JobId> Lane::append(const LaneJob& job) {
  State& state = *state_;
  const std::string key = state.append_key(job);
  detail::Args args = State::append_args(job);
  const auto until = std::chrono::steady_clock::now() + state.options.dispatch_wait;
  for (std::chrono::milliseconds pause(5);; pause = std::min(pause * 2, std::chrono::milliseconds(200))) {
    bool sent = false;
    Result<detail::Reply> reply = state.with_connection([&](detail::Connection& connection) {
      Result<detail::Reply> answer = state.eval_append(connection, job, key, args);
      sent = connection.last_sent();
      return answer;
    });
    if (!reply) {
      // Tried again only when the script certainly did not run (no connection to send it on):
      // one that was sent and lost its answer may be stored, and would be stored twice.
      if (reply.error().code() == Errc::unavailable && !sent && std::chrono::steady_clock::now() + pause < until) {
        std::this_thread::sleep_for(pause);
        continue;
      }
      state.append_failed.fetch_add(1, std::memory_order_relaxed);
      return explain(reply.error());
    }
    return state.append_result(reply->get(), job.key);
  }
}

void Lane::append_async(const LaneJob& job, std::function<void(Result<JobId>)> done) {
  State& state = *state_;
  State::Outgoing item{std::string(job.type), std::string(job.payload), std::string(job.key), std::string(job.headers),
                       std::string(job.flow), job, std::move(done)};
  std::unique_lock lock(state.outgoing_mutex);
  if (state.sender_stopping) {
    lock.unlock();
    item.done(Error(Errc::shutting_down));
    return;
  }
  if (!state.sender_started) {
    state.sender = std::thread([&state] { state.run_sender(); });
    state.sender_started = true;
  }
  const bool first = state.outgoing.empty();
  state.outgoing.push_back(std::move(item));
  lock.unlock();
  if (first) state.outgoing_ready.notify_one();  // the rest ride along with it
}

Result<JobId> Lane::append_bulk(std::span<const LaneJob> jobs) {
  State& state = *state_;
  if (jobs.empty()) return JobId{0};
  detail::Args args;
  for (const LaneJob& job : jobs) {
    if (!job.key.empty() || job.max_attempts != 0 || job.timeout.count() != 0 || job.delay.count() != 0 ||
        job.debounce.count() != 0 || !job.flow.empty()) {
      return Error(Errc::unsupported,
                   "a bulk append takes jobs without options (key, attempts, timeout, delay, debounce, a chain)");
    }
    args.add(job.type).add(job.payload).add(job.headers);
  }
  Result<detail::Reply> reply = state.with_connection([&](detail::Connection& connection) {
    return connection.eval(detail::Script::append_bulk, {state.stream, state.ids}, args);
  });
  if (!reply) {
    state.append_failed.fetch_add(jobs.size(), std::memory_order_relaxed);
    return explain(reply.error());
  }
  state.appended.fetch_add(jobs.size(), std::memory_order_relaxed);
  return static_cast<JobId>(integer(reply->get()));
}

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
    if (!reply || integer(reply->get()) == 0) {
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
  counts.ready = integer((*replies)[0].get());
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
        if (name == "pending") pending = integer(value);
        if (name == "lag" && value->type == REDIS_REPLY_INTEGER) lag = value->integer;
      }
      if (!ours) continue;
      counts.pending = pending.value_or(0);
      if (lag) counts.ready = *lag;
    }
  }
  counts.scheduled = integer((*replies)[2].get());
  counts.dead = integer((*replies)[3].get());
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

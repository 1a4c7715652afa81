// jobq::redis::Lane: dispatch into a queue's stream, one job, one sent without waiting, or a bulk.
#include <algorithm>
#include <string>

#include "redis/lane_state.hpp"

namespace jobq::redis {

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
  const auto id = static_cast<JobId>(reply_integer(result->element[1]));
  if (reply_integer(result->element[0]) == 0) {
    return Error(Errc::duplicate, "key '" + std::string(key) + "' is held by job " + std::to_string(id), id);
  }
  if (reply_integer(result->element[0]) == 2) {  // a debounced job took a waiting one's place
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
      return explain_refusal(reply.error());
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
    return explain_refusal(reply.error());
  }
  state.appended.fetch_add(jobs.size(), std::memory_order_relaxed);
  return static_cast<JobId>(reply_integer(reply->get()));
}

}  // namespace jobq::redis

// Batches on a durable queue: their counts and callbacks in Redis, so that whichever process ends
// a batch's last job dispatches its callbacks, once.
#include <charconv>

#include "redis/lane_state.hpp"

namespace jobq::redis {
namespace {

std::uint64_t count_of(const redisReply* reply) {
  const std::string_view text = detail::text(reply);
  std::uint64_t value = 0;
  (void)std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

/// The finish and shrink scripts' answer: {0} or {1} (not ended), or {2, counts, callbacks}.
Result<Lane::BatchEnding> ending_of(const redisReply* reply, std::string_view batch) {
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1) return Error(Errc::store_refused, "unexpected reply about a batch");
  Lane::BatchEnding ending;
  ending.outcome.batch = batch;
  if (reply->element[0]->integer != 2 || reply->elements < 8) return ending;
  ending.outcome.total = count_of(reply->element[1]);
  ending.outcome.succeeded = count_of(reply->element[2]);
  ending.outcome.dead = count_of(reply->element[3]);
  ending.outcome.revoked = count_of(reply->element[4]);
  ending.outcome.cancelled = detail::text(reply->element[5]) == "1";
  ending.outcome.complete = true;
  ending.on_complete = detail::text(reply->element[6]);
  ending.on_success = detail::text(reply->element[7]);
  return ending;
}

}  // namespace

Result<bool> Lane::open_batch(std::string_view batch, std::uint64_t total, std::string_view on_complete,
                              std::string_view on_success) {
  State& state = *state_;
  const std::string key = state.batch_key(batch);
  detail::Args args;
  args.add(static_cast<std::int64_t>(total)).add(on_complete).add(on_success);
  Result<detail::Reply> reply = state.with_connection(
      [&](detail::Connection& connection) { return connection.eval(detail::Script::open_batch, {key}, args); });
  if (!reply) return reply.error();
  return true;
}

Result<Lane::BatchEnding> Lane::finish_in_batch(std::string_view batch, JobId job, std::string_view end) {
  State& state = *state_;
  const std::string key = state.batch_key(batch);
  const std::string finished = key + ":finished";
  detail::Args args;
  args.add(static_cast<std::int64_t>(job)).add(end);
  Result<detail::Reply> reply = state.with_connection([&](detail::Connection& connection) {
    return connection.eval(detail::Script::finish_in_batch, {key, finished}, args);
  });
  if (!reply) return reply.error();
  return ending_of(reply->get(), batch);
}

Result<Lane::BatchEnding> Lane::shrink_batch(std::string_view batch, std::uint64_t total) {
  State& state = *state_;
  const std::string key = state.batch_key(batch);
  const std::string finished = key + ":finished";
  detail::Args args;
  args.add(static_cast<std::int64_t>(total));
  Result<detail::Reply> reply = state.with_connection([&](detail::Connection& connection) {
    return connection.eval(detail::Script::shrink_batch, {key, finished}, args);
  });
  if (!reply) return reply.error();
  return ending_of(reply->get(), batch);
}

Result<bool> Lane::cancel_batch(std::string_view batch) {
  State& state = *state_;
  const std::string key = state.batch_key(batch);
  detail::Args args;
  Result<detail::Reply> reply = state.with_connection(
      [&](detail::Connection& connection) { return connection.eval(detail::Script::cancel_batch, {key}, args); });
  if (!reply) return reply.error();
  return reply->get()->integer == 1;
}

Result<std::optional<BatchOutcome>> Lane::batch_status(std::string_view batch) {
  State& state = *state_;
  detail::Args args;
  args.add("HGETALL").add(state.batch_key(batch));
  Result<detail::Reply> reply = state.with_connection([&](detail::Connection& connection) { return connection.run(args); });
  if (!reply) return reply.error();
  const redisReply* fields = reply->get();
  if (fields->type != REDIS_REPLY_ARRAY || fields->elements == 0) return std::optional<BatchOutcome>{};
  BatchOutcome outcome;
  outcome.batch = batch;
  for (std::size_t index = 0; index + 1 < fields->elements; index += 2) {
    const std::string_view name = detail::text(fields->element[index]);
    const redisReply* value = fields->element[index + 1];
    if (name == "total") outcome.total = count_of(value);
    else if (name == "succeeded") outcome.succeeded = count_of(value);
    else if (name == "dead") outcome.dead = count_of(value);
    else if (name == "revoked") outcome.revoked = count_of(value);
    else if (name == "cancelled") outcome.cancelled = detail::text(value) == "1";
    else if (name == "done") outcome.complete = true;
  }
  return std::optional<BatchOutcome>(outcome);
}

}  // namespace jobq::redis

// Dead letters of a durable queue, kept in Redis: any process may list, requeue or purge them.
#include <charconv>

#include "jobq/internal/flow.hpp"
#include "redis/lane_state.hpp"

namespace jobq::redis {
namespace {

std::uint64_t number(std::string_view text) {
  std::uint64_t value = 0;
  (void)std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

/// A letter from its hash (HGETALL's flat array of names and values); nullopt when it is gone.
std::optional<DeadLetter> read_letter(const redisReply* fields) {
  if (fields == nullptr || fields->type != REDIS_REPLY_ARRAY || fields->elements < 2) return std::nullopt;
  DeadLetter letter;
  for (std::size_t index = 0; index + 1 < fields->elements; index += 2) {
    const std::string_view name = detail::text(fields->element[index]);
    const std::string_view value = detail::text(fields->element[index + 1]);
    if (name == "id") letter.id = number(value);
    else if (name == "type") letter.type = value;
    else if (name == "queue") letter.queue = value;
    else if (name == "payload") letter.payload = value;
    else if (name == "attempts") letter.attempts = static_cast<std::uint32_t>(number(value));
    else if (name == "error") letter.last_error = value;
    else if (name == "reason") letter.reason = static_cast<DeadReason>(number(value));
    else if (name == "when") letter.when = std::chrono::system_clock::time_point(std::chrono::milliseconds(number(value)));
    else if (name == "flow") {
      letter.flow = value;
      letter.chain_waiting = internal::waiting_types(value);
    } else if (name == "headers") {
      // Headers that do not read (a letter written by hand) are left out rather than the letter.
      if (Result<Headers> headers = Headers::from_json(value)) letter.headers = std::move(*headers);
    }
  }
  return letter;
}

void require_attached(const Lane::State& state) {
  if (state.queue.empty()) throw ConfigError("a jobq::redis::Lane must be attached to a queue first");
}

}  // namespace

Result<DeadLetterPage> Lane::dead_letters(std::size_t offset, std::size_t limit) {
  State& state = *state_;
  require_attached(state);
  DeadLetterPage page;
  if (limit == 0) limit = 1;
  return state.with_connection([&](detail::Connection& connection) -> Result<DeadLetterPage> {
    std::vector<detail::Args> first(2);
    first[0].add("ZCARD").add(state.dead);
    first[1].add("ZRANGE").add(state.dead).add(static_cast<std::int64_t>(offset));
    first[1].add(static_cast<std::int64_t>(offset + limit - 1));
    Result<std::vector<detail::Reply>> listed = connection.pipeline(first);
    if (!listed) return listed.error();
    page.total = static_cast<std::size_t>((*listed)[0]->integer);
    const redisReply* ids = (*listed)[1].get();
    if (ids->type != REDIS_REPLY_ARRAY || ids->elements == 0) return page;
    std::vector<detail::Args> reads(ids->elements);
    std::vector<std::string> names(ids->elements);
    for (std::size_t index = 0; index < ids->elements; ++index) {
      names[index] = state.dead_prefix + std::string(detail::text(ids->element[index]));
      reads[index].add("HGETALL").add(names[index]);
    }
    Result<std::vector<detail::Reply>> letters = connection.pipeline(reads);
    if (!letters) return letters.error();
    for (const detail::Reply& fields : *letters) {
      if (std::optional<DeadLetter> letter = read_letter(fields.get())) page.letters.push_back(std::move(*letter));
    }
    return page;
  });
}

Result<std::optional<DeadLetter>> Lane::dead_letter(JobId id) {
  State& state = *state_;
  require_attached(state);
  detail::Args args;
  args.add("HGETALL").add(state.dead_prefix + std::to_string(id));
  Result<detail::Reply> reply = state.with_connection([&](detail::Connection& connection) { return connection.run(args); });
  if (!reply) return reply.error();
  return read_letter(reply->get());
}

Result<bool> Lane::requeue_dead(JobId id) {
  State& state = *state_;
  require_attached(state);
  const std::string name = std::to_string(id);
  detail::Args args;
  args.add(name);
  Result<detail::Reply> reply = state.with_connection([&](detail::Connection& connection) {
    return connection.eval(detail::Script::requeue, {state.stream, state.dead, state.dead_prefix + name}, args);
  });
  if (!reply) return reply.error();
  return reply->get()->integer == 1;
}

Result<bool> Lane::purge_dead(JobId id) {
  State& state = *state_;
  require_attached(state);
  const std::string name = std::to_string(id);
  std::vector<detail::Args> commands(2);
  commands[0].add("ZREM").add(state.dead).add(name);
  commands[1].add("DEL").add(state.dead_prefix + name);
  Result<std::vector<detail::Reply>> replies =
      state.with_connection([&](detail::Connection& connection) { return connection.pipeline(commands); });
  if (!replies) return replies.error();
  return (*replies)[0]->integer == 1;
}

}  // namespace jobq::redis

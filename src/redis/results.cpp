// Job results on a durable queue: kept in Redis for the Manager's result_ttl, so that any process
// can read the result of a job another one ran.
#include "redis/lane_state.hpp"

namespace jobq::redis {

void Lane::store_result(JobId job, std::string_view json, std::chrono::nanoseconds ttl) noexcept {
  State& state = *state_;
  try {
    const auto ms = std::max<std::int64_t>(1, std::chrono::duration_cast<std::chrono::milliseconds>(ttl).count());
    detail::Args args;
    args.add("SET").add(state.result_key(job)).add(json).add("PX").add(ms);
    // Not stored (Redis away): the job still succeeded; only its result is missing.
    (void)state.with_connection([&](detail::Connection& connection) { return connection.run(args); });
  } catch (...) {  // NOLINT(bugprone-empty-catch): no memory: the result is not kept
  }
}

Result<std::optional<std::string>> Lane::result(JobId job) {
  State& state = *state_;
  detail::Args args;
  args.add("GET").add(state.result_key(job));
  Result<detail::Reply> reply = state.with_connection([&](detail::Connection& connection) { return connection.run(args); });
  if (!reply) return reply.error();
  if (reply->get()->type == REDIS_REPLY_NIL) return std::optional<std::string>{};
  return std::optional<std::string>(std::string(detail::text(reply->get())));
}

}  // namespace jobq::redis

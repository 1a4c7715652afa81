#include "redis/connection.hpp"

#include <hiredis/sds.h>
#include <sys/time.h>

#include <algorithm>
#include <chrono>

#include "redis/scripts.hpp"

namespace jobq::redis::detail {
namespace {

timeval to_timeval(std::chrono::milliseconds duration) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(duration.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((duration.count() % 1000) * 1000);
  return tv;
}

constexpr const char* script_text(Script script) {
  switch (script) {
    case Script::append: return append_script;
    case Script::append_bulk: return append_bulk_script;
    case Script::debounce: return debounce_script;
    case Script::ack: return ack_script;
    case Script::unlock: return unlock_script;
    case Script::later: return later_script;
    case Script::dead: return dead_script;
    case Script::give_back: return give_back_script;
    case Script::promote: return promote_script;
    case Script::reclaim: return reclaim_script;
    case Script::renew: return renew_script;
    case Script::requeue: return requeue_script;
    case Script::trim: return trim_script;
    case Script::book_start: return book_start_script;
    case Script::acquire_slot: return acquire_slot_script;
    case Script::renew_slots: return renew_slots_script;
    case Script::open_batch: return open_batch_script;
    case Script::finish_in_batch: return finish_in_batch_script;
    case Script::shrink_batch: return shrink_batch_script;
    case Script::cancel_batch: return cancel_batch_script;
    case Script::count: break;
  }
  return "";
}

bool is_error(const redisReply* reply) { return reply->type == REDIS_REPLY_ERROR; }

/// An error that says "not now" rather than "no": a server replaying its AOF after a restart
/// (LOADING), a replica without its master (MASTERDOWN), a script running too long (BUSY).
bool transient(const redisReply* reply) {
  const std::string_view said = text(reply);
  return said.starts_with("LOADING") || said.starts_with("MASTERDOWN") || said.starts_with("BUSY ");
}

}  // namespace

Connection::~Connection() { drop(); }

void Connection::drop() noexcept {
  if (context_ != nullptr) redisFree(context_);
  context_ = nullptr;
}

std::optional<Error> Connection::ensure() {
  if (context_ != nullptr) return std::nullopt;
  const auto now = std::chrono::steady_clock::now();
  if (now < retry_at_) return Error(Errc::unavailable, last_error_ + " (trying again shortly)");
  std::optional<Error> failed = connect();
  if (failed) {
    retry_pause_ = std::clamp(retry_pause_ * 2, std::chrono::milliseconds(50), std::chrono::milliseconds(1000));
    retry_at_ = now + retry_pause_;
    last_error_ = failed->detail();
  } else {
    retry_pause_ = std::chrono::milliseconds(0);
  }
  return failed;
}

std::optional<Error> Connection::connect() {
  const timeval timeout = to_timeval(options_.connect_timeout);
  context_ = options_.unix_socket.empty() ? redisConnectWithTimeout(options_.host.c_str(), options_.port, timeout)
                                          : redisConnectUnixWithTimeout(options_.unix_socket.c_str(), timeout);
  const std::string where = options_.unix_socket.empty() ? options_.host + ":" + std::to_string(options_.port)
                                                         : options_.unix_socket;
  if (context_ == nullptr) return Error(Errc::unavailable, "cannot connect to Redis at " + where);
  if (context_->err != 0) {
    Error error(Errc::unavailable, "cannot connect to Redis at " + where + ": " + context_->errstr);
    drop();
    return error;
  }
  redisSetTimeout(context_, to_timeval(options_.command_timeout));
  if (options_.unix_socket.empty()) redisEnableKeepAlive(context_);  // TCP only: a unix socket refuses it
  auto setup = [&](Args& args) -> std::optional<Error> {
    Reply reply(static_cast<redisReply*>(redisCommandArgv(context_, args.count(), args.data(), args.sizes())));
    if (!reply) {
      Error error(Errc::unavailable, "lost Redis at " + where + " while setting up: " + context_->errstr);
      drop();
      return error;
    }
    if (is_error(reply.get())) {
      Error error(transient(reply.get()) ? Errc::unavailable : Errc::store_refused,
                  "Redis at " + where + ": " + std::string(text(reply.get())));
      drop();
      return error;
    }
    return std::nullopt;
  };
  if (!options_.password.empty()) {
    Args auth;
    auth.add("AUTH");
    if (!options_.user.empty()) auth.add(options_.user);
    auth.add(options_.password);
    if (auto error = setup(auth)) return error;
  }
  if (options_.database != 0) {
    Args select;
    select.add("SELECT").add(std::int64_t{options_.database});
    if (auto error = setup(select)) return error;
  }
  for (std::size_t index = 0; index < shas_.size(); ++index) {
    Args load;
    load.add("SCRIPT").add("LOAD").add(script_text(static_cast<Script>(index)));
    Reply reply(static_cast<redisReply*>(redisCommandArgv(context_, load.count(), load.data(), load.sizes())));
    if (!reply || is_error(reply.get())) {
      Error error(reply && !transient(reply.get()) ? Errc::store_refused : Errc::unavailable,
                  "cannot load the lane's scripts into Redis at " + where + ": " +
                      (reply ? std::string(text(reply.get())) : std::string(context_->errstr)));
      drop();
      return error;
    }
    shas_[index] = std::string(text(reply.get()));
  }
  if (ever_connected_) reconnects_.fetch_add(1, std::memory_order_relaxed);
  ever_connected_ = true;
  return std::nullopt;
}

Result<Reply> Connection::run(Args& args) {
  last_sent_ = false;
  if (auto error = ensure()) return std::move(*error);
  last_sent_ = true;
  Reply reply(static_cast<redisReply*>(redisCommandArgv(context_, args.count(), args.data(), args.sizes())));
  if (!reply) {
    // Bytes still in the output buffer were never written: a command not fully written was not
    // run (the server drops a partial command with the connection).
    last_sent_ = context_->obuf == nullptr || sdslen(context_->obuf) == 0;
    Error error(Errc::unavailable, std::string("lost the connection to Redis: ") + context_->errstr);
    drop();
    return error;
  }
  if (is_error(reply.get())) {
    if (transient(reply.get())) {
      last_sent_ = false;  // refused before it ran: a restarting server answers this to everything
      return Error(Errc::unavailable, std::string(text(reply.get())));
    }
    return Error(Errc::store_refused, std::string(text(reply.get())));
  }
  return reply;
}

Result<Reply> Connection::eval(Script script, std::initializer_list<std::string_view> keys, Args& argv) {
  if (auto error = ensure()) return std::move(*error);
  for (int round = 0; round < 2; ++round) {
    Args args = eval_args(script, keys, argv);
    Result<Reply> reply = run(args);
    if (!reply && reply.error().code() == Errc::store_refused && reply.error().detail().starts_with("NOSCRIPT")) {
      drop();  // the server forgot its scripts (a restart): reconnect, which loads them again
      if (auto error = ensure()) return std::move(*error);
      continue;
    }
    return reply;
  }
  return Error(Errc::store_refused, "Redis keeps forgetting the lane's scripts");
}

Args Connection::eval_args(Script script, std::initializer_list<std::string_view> keys, Args& argv) {
  Args args;
  args.add("EVALSHA").add_copy(shas_[static_cast<std::size_t>(script)]).add(static_cast<std::int64_t>(keys.size()));
  for (std::string_view key : keys) args.add(key);
  for (int index = 0; index < argv.count(); ++index) args.add(std::string_view(argv.data()[index], argv.sizes()[index]));
  return args;
}

Result<std::vector<Reply>> Connection::pipeline(std::vector<Args>& commands) {
  if (auto error = ensure()) return std::move(*error);
  for (Args& args : commands) {
    if (redisAppendCommandArgv(context_, args.count(), args.data(), args.sizes()) != REDIS_OK) {
      Error error(Errc::unavailable, std::string("cannot queue a command for Redis: ") + context_->errstr);
      drop();
      return error;
    }
  }
  std::vector<Reply> replies;
  replies.reserve(commands.size());
  for (std::size_t index = 0; index < commands.size(); ++index) {
    void* raw = nullptr;
    if (redisGetReply(context_, &raw) != REDIS_OK || raw == nullptr) {
      Error error(Errc::unavailable, std::string("lost the connection to Redis: ") + context_->errstr);
      drop();
      return error;
    }
    replies.emplace_back(static_cast<redisReply*>(raw));
  }
  return replies;
}

}  // namespace jobq::redis::detail

// One hiredis connection that knows how to come back: it reconnects on the next use after an
// I/O error, authenticates, selects the database and loads the lane's scripts each time (a
// restarted server has forgotten them).
#pragma once

#include <hiredis/hiredis.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "jobq/error.hpp"
#include "jobq/redis.hpp"

namespace jobq::redis::detail {

struct FreeReply {
  void operator()(redisReply* reply) const noexcept { freeReplyObject(reply); }
};
using Reply = std::unique_ptr<redisReply, FreeReply>;

/// A command's arguments as hiredis takes them, without copying.
class Args {
 public:
  Args& add(std::string_view arg) {
    data_.push_back(arg.data());
    sizes_.push_back(arg.size());
    return *this;
  }
  /// A copy the Args own, for text whose owner may change before the command is sent.
  Args& add_copy(std::string_view arg) {
    owned_.push_back(std::make_unique<std::string>(arg));
    return add(std::string_view(*owned_.back()));
  }
  /// A temporary string is kept by the Args: `add(prefix + id)` must not view a dead buffer.
  Args& add(std::string&& arg) {
    owned_.push_back(std::make_unique<std::string>(std::move(arg)));
    return add(std::string_view(*owned_.back()));
  }
  Args& add(const char* literal) { return add(std::string_view(literal)); }
  /// Numbers are formatted into storage the Args own.
  Args& add(std::int64_t number) {
    owned_.push_back(std::make_unique<std::string>(std::to_string(number)));
    return add(std::string_view(*owned_.back()));
  }
  int count() const noexcept { return static_cast<int>(data_.size()); }
  const char** data() noexcept { return data_.data(); }
  const std::size_t* sizes() const noexcept { return sizes_.data(); }

 private:
  std::vector<const char*> data_;
  std::vector<std::size_t> sizes_;
  std::vector<std::unique_ptr<std::string>> owned_;
};

/// The lane's Lua scripts, loaded on every connection.
enum class Script : std::uint8_t {
  append, append_bulk, debounce, ack, unlock, later, dead, give_back, promote, reclaim, renew, requeue, trim,
  book_start, acquire_slot, renew_slots, open_batch, finish_in_batch, shrink_batch, cancel_batch, count
};

class Connection {
 public:
  /// `reconnects` counts every connection re-established after a loss, for the lane's stats.
  Connection(const Options& options, std::atomic<std::uint64_t>& reconnects)
      : options_(options), reconnects_(reconnects) {}
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Runs one command, reconnecting first if the connection was lost. The reply, or why there is
  /// none: Errc::unavailable (no connection, or it broke: the command may or may not have run),
  /// Errc::store_refused (an error reply; its text is the detail).
  Result<Reply> run(Args& args);
  /// Runs a loaded script (EVALSHA, loading it again if the server forgot it).
  Result<Reply> eval(Script script, std::initializer_list<std::string_view> keys, Args& argv);
  /// The EVALSHA command of a loaded script, to send in a pipeline; ensure() first, so that the
  /// script's sha is known (a sha from an older connection is refused with NOSCRIPT).
  Args eval_args(Script script, std::initializer_list<std::string_view> keys, Args& argv);
  /// Several commands in one round trip; the replies in order (an error reply is a reply).
  Result<std::vector<Reply>> pipeline(std::vector<Args>& commands);

  /// Connects if not connected (and not waiting out a failed attempt); the error otherwise.
  std::optional<Error> ensure();
  /// Whether the last run() or eval() reached the point of sending its command: when it then
  /// failed with Errc::unavailable, the command may have run. False: it certainly did not.
  bool last_sent() const noexcept { return last_sent_; }

  bool connected() const noexcept { return context_ != nullptr; }
  void drop() noexcept;

 private:
  std::optional<Error> connect();

  const Options& options_;
  redisContext* context_ = nullptr;
  bool ever_connected_ = false;
  bool last_sent_ = false;
  /// After a failed connection attempt, calls fail at once until `retry_at_` (50 ms, doubling to
  /// 1 s): an unreachable host costs one connect timeout, not one per call.
  std::chrono::steady_clock::time_point retry_at_{};
  std::chrono::milliseconds retry_pause_{0};
  std::string last_error_;
  std::atomic<std::uint64_t>& reconnects_;
  std::array<std::string, static_cast<std::size_t>(Script::count)> shas_;
};

/// The text of a reply that is a string, status or error; empty otherwise.
inline std::string_view text(const redisReply* reply) noexcept {
  if (reply == nullptr || reply->str == nullptr) return {};
  return {reply->str, reply->len};
}

}  // namespace jobq::redis::detail

// One hiredis connection that knows how to come back: it reconnects on the next use after an
// I/O error, authenticates, selects the database and loads the lane's scripts each time (a
// restarted server has forgotten them).
#pragma once

#include <hiredis/hiredis.h>

#include <array>
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
  append, append_bulk, ack, later, dead, give_back, promote, reclaim, renew, requeue, trim, count
};

class Connection {
 public:
  explicit Connection(const Options& options) : options_(options) {}
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  /// Runs one command, reconnecting first if the connection was lost. The reply, or why there is
  /// none: Errc::unavailable (no connection, or it broke: the command may or may not have run),
  /// Errc::store_refused (an error reply; its text is the detail).
  Result<Reply> run(Args& args);
  /// Runs a loaded script (EVALSHA, loading it again if the server forgot it).
  Result<Reply> eval(Script script, std::initializer_list<std::string_view> keys, Args& argv);
  /// The EVALSHA command of a loaded script, to send in a pipeline. The script's sha is known once
  /// the connection is made: ensure() first (pipeline() does).
  Args eval_args(Script script, std::initializer_list<std::string_view> keys, Args& argv);
  /// Several commands in one round trip; the replies in order (an error reply is a reply).
  Result<std::vector<Reply>> pipeline(std::vector<Args>& commands);

  /// Connections re-established after the first.
  std::uint64_t reconnects() const noexcept { return reconnects_; }
  bool connected() const noexcept { return context_ != nullptr; }
  void drop() noexcept;

 private:
  std::optional<Error> ensure();
  std::optional<Error> connect();

  const Options& options_;
  redisContext* context_ = nullptr;
  bool ever_connected_ = false;
  std::uint64_t reconnects_ = 0;
  std::array<std::string, static_cast<std::size_t>(Script::count)> shas_;
};

/// The text of a reply that is a string, status or error; empty otherwise.
inline std::string_view text(const redisReply* reply) noexcept {
  if (reply == nullptr || reply->str == nullptr) return {};
  return {reply->str, reply->len};
}

}  // namespace jobq::redis::detail

// A redis-server of the test's own: started from the Debian package in a temporary directory,
// listening on a unix socket there (no TCP port), stopped by its pid. Restartable from its AOF.
#pragma once

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "jobq/redis.hpp"

extern char** environ;

namespace jobq::testing {

class RedisServer {
 public:
  /// `extra`: more redis-server arguments ("--appendfsync", "always", ...).
  explicit RedisServer(std::vector<std::string> extra = {}) : extra_(std::move(extra)) {
    char pattern[] = "/tmp/jobq-redis-XXXXXX";
    if (mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
    start();
  }
  ~RedisServer() {
    stop(SIGTERM);
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  std::string socket() const { return dir_ + "/redis.sock"; }
  pid_t pid() const { return pid_; }

  /// Options for a lane on this server.
  jobq::redis::Options options() const {
    jobq::redis::Options options;
    options.unix_socket = socket();
    return options;
  }

  void start() {
    std::vector<std::string> args = {"redis-server",  "--port",         "0",          "--unixsocket", socket(),
                                     "--dir",         dir_,             "--appendonly", "yes",        "--appendfsync",
                                     "everysec",      "--save",         "",           "--daemonize",  "no",
                                     "--logfile",     dir_ + "/redis.log"};
    args.insert(args.end(), extra_.begin(), extra_.end());
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    // Its output goes to its log file, never into the test's pipes (which it would hold open).
    posix_spawn_file_actions_t files;
    posix_spawn_file_actions_init(&files);
    posix_spawn_file_actions_addopen(&files, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&files, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&files, 2, "/dev/null", O_WRONLY, 0);
    const int spawned = posix_spawnp(&pid_, "redis-server", &files, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&files);
    if (spawned != 0) {
      throw std::runtime_error("cannot start redis-server: is the redis-server package installed?");
    }
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!ping()) {
      if (std::chrono::steady_clock::now() > until) throw std::runtime_error("redis-server did not come up");
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }

  /// Stops the server by its pid: SIGTERM (a clean shutdown) or SIGKILL (a crash).
  void stop(int signal) {
    if (pid_ <= 0) return;
    ::kill(pid_, signal);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    std::error_code ignored;
    std::filesystem::remove(socket(), ignored);
  }

  /// Runs one command on a fresh connection; the reply (caller frees), or null.
  redisReply* command(std::vector<std::string> args, const std::string& password = "") const {
    redisContext* context = redisConnectUnix(socket().c_str());
    if (context == nullptr || context->err != 0) {
      if (context != nullptr) redisFree(context);
      return nullptr;
    }
    if (!password.empty()) {
      freeReplyObject(redisCommand(context, "AUTH %s", password.c_str()));
    }
    std::vector<const char*> data;
    std::vector<std::size_t> sizes;
    for (const std::string& arg : args) {
      data.push_back(arg.data());
      sizes.push_back(arg.size());
    }
    auto* reply = static_cast<redisReply*>(redisCommandArgv(context, static_cast<int>(data.size()), data.data(), sizes.data()));
    redisFree(context);
    return reply;
  }
  /// An integer reply, or -1.
  long long integer(std::vector<std::string> args) const {
    redisReply* reply = command(std::move(args));
    long long value = reply != nullptr && reply->type == REDIS_REPLY_INTEGER ? reply->integer : -1;
    if (reply != nullptr) freeReplyObject(reply);
    return value;
  }

 private:
  bool ping() const {
    redisReply* reply = command({"PING"});
    if (reply == nullptr) return false;
    // A server with a password answers NOAUTH: it is up.
    const bool up = reply->type != REDIS_REPLY_ERROR || std::string(reply->str).starts_with("NOAUTH");
    freeReplyObject(reply);
    return up;
  }

  std::vector<std::string> extra_;
  std::string dir_;
  pid_t pid_ = -1;
};

}  // namespace jobq::testing

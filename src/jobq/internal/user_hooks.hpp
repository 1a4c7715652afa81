// What the user plugs into an engine before start(): the event hooks, both middleware chains and
// the log. Every call into user code from here keeps the user's exception out of the engine.
#pragma once

#include <exception>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "jobq/manager.hpp"

namespace jobq::internal {

class UserHooks {
 public:
  UserHooks(LogLevel level, LogSink sink) : log_level_(level), log_sink_(std::move(sink)) {}

  FailureHook on_failure;
  DeadHook on_dead;
  TimeoutHook on_timeout;
  WorkerHook on_worker_start;
  WorkerHook on_worker_stop;
  std::vector<Middleware> middleware;           // around every handler, in the order added
  std::vector<DispatchMiddleware> dispatch_middleware;  // on the producer, before every dispatch

  bool logs(LogLevel level) const noexcept { return level >= log_level_ && level != LogLevel::off; }
  /// Writes a log line if `level` is enabled; never throws (a failing sink is ignored).
  void log(LogLevel level, const std::string& message) const noexcept;

  /// Calls a hook if one is set; an exception from it is logged and swallowed.
  template <class Hook, class... Args>
  void call(const Hook& hook, std::string_view name, Args&&... args) const noexcept {
    if (!hook) return;
    try {
      hook(std::forward<Args>(args)...);
    } catch (const std::exception& error) {
      if (logs(LogLevel::error)) log(LogLevel::error, std::string(name) + " hook threw: " + error.what());
    } catch (...) {
      if (logs(LogLevel::error)) log(LogLevel::error, std::string(name) + " hook threw a non-std exception");
    }
  }

 private:
  LogLevel log_level_;
  LogSink log_sink_;
};

}  // namespace jobq::internal

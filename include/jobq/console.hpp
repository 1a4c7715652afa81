// The operator's console: a web page of queues, job types, running jobs and dead letters, with
// pause, resume, requeue and purge, and charts of the last minutes, served by the library itself.
//
//   jobq::console::Console console(manager, {.port = 9090});
//   console.listen();                    // its own server, on 127.0.0.1:9090
//   // or, on a cpp-httplib server of the application's:  console.mount(server);
//
// Link jobq::console (CMake: find_package(jobq COMPONENTS console); pkg-config: jobq-console).
// It is built on Debian's cpp-httplib, whose classes change layout with the macros its pkg-config
// file sets (OpenSSL, zlib, Brotli): a program that passes its own httplib::Server to mount()
// must compile with those flags, which linking jobq::console adds.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "jobq/log.hpp"

namespace httplib {
class Server;
}

namespace jobq {
class Manager;
}

namespace jobq::console {

struct Options {
  /// Where listen() binds. Loopback by default: the console shows payloads. Another address is
  /// a decision to make with the token and a proxy that adds TLS in front.
  std::string host = "127.0.0.1";
  /// listen()'s port; 0 picks a free one (port() tells which).
  std::uint16_t port = 0;
  /// The names a request's Host header may carry besides loopback's (127.0.0.1, localhost,
  /// [::1]) and `host`: the names users or a proxy reach the console by ("ops.example.com", or
  /// with a port). A request naming any other host is refused (403), which keeps a hostile page
  /// whose domain is rebound to 127.0.0.1 from reading the console. "*" allows any name.
  std::vector<std::string> allowed_hosts{};
  /// The token that every action (pause, resume, requeue, purge) must carry in the
  /// X-Jobq-Token header (a header a cross-site form cannot send). Empty: a random one is made,
  /// logged in the console's start line and readable from token(). Reading needs no token.
  std::string token{};
  /// The path the console lives under: "" (the root) or "/jobq", say, when mounted on an
  /// application's server beside its own routes.
  std::string prefix{};
  /// How often the console samples the Manager's metrics for its charts and rates.
  std::chrono::milliseconds sample_every{1000};
  /// How much of that history it keeps (and charts).
  std::chrono::seconds history{600};
  /// Threads of listen()'s own server.
  unsigned threads = 4;
  /// Where the start line and every action (who asked, what, the answer) are logged, at info
  /// whatever Config::log_level says; empty: the Manager's Config::log_sink, else stderr.
  LogSink log{};
};

/// Serves one Manager's console. Construct it after the Manager and destroy it before: it reads
/// the Manager on every request and from its sampling thread ("jq:console").
class Console {
 public:
  /// Throws ConfigError for a bad option (a prefix without a leading '/', a zero interval).
  explicit Console(Manager& manager, Options options = {});
  ~Console();
  Console(const Console&) = delete;
  Console& operator=(const Console&) = delete;

  /// Adds the console's routes, under Options::prefix, to an application's server. The server
  /// must stop before the Console is destroyed.
  void mount(httplib::Server& server);
  /// Starts a server of the console's own on Options::host and port, on a thread of its own
  /// ("jq:console-http"); returns the port. Throws ConfigError when it cannot bind.
  std::uint16_t listen();
  /// Stops listen()'s server and the sampler; the destructor does it too.
  void stop();

  /// listen()'s port, 0 before.
  std::uint16_t port() const noexcept;
  /// The actions' token.
  const std::string& token() const noexcept;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace jobq::console

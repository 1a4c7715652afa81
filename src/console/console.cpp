#include "jobq/console.hpp"

#include <httplib.h>
#include <pthread.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>
#include <thread>

#include "console/routes.hpp"
#include "console/sampler.hpp"
#include "jobq/config.hpp"
#include "jobq/error.hpp"
#include "jobq/internal/stderr_log.hpp"
#include "jobq/manager.hpp"

namespace jobq::console {
namespace {

std::string random_token() {
  std::random_device source;
  std::string token;
  for (int i = 0; i < 4; ++i) {
    char part[9];
    std::snprintf(part, sizeof part, "%08x", static_cast<unsigned>(source()));
    token += part;
  }
  return token;
}

void check(const Options& options) {
  const std::string& prefix = options.prefix;
  if (!prefix.empty()) {
    bool ok = prefix.front() == '/' && prefix.back() != '/';
    for (char c : prefix) ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '/');
    if (!ok) {
      throw ConfigError("console prefix '" + prefix + "' must start with '/', not end with one, and hold only a-z, 0-9, '_', '-' and '/'");
    }
  }
  if (options.sample_every.count() <= 0) throw ConfigError("console sample_every must be positive");
  if (options.history < options.sample_every) throw ConfigError("console history must hold at least one sample_every");
  if (options.threads == 0) throw ConfigError("console threads must be at least 1");
}

LogSink sink_for(const Options& options, const Manager& manager) {
  if (options.log) return options.log;
  if (manager.config().log_sink) return manager.config().log_sink;
  return internal::log_to_stderr;
}

}  // namespace

struct Console::State {
  State(Manager& manager, Options given)
      : options(std::move(given)),
        sampler(manager, options.sample_every,
                static_cast<std::size_t>(std::chrono::duration_cast<std::chrono::milliseconds>(options.history) /
                                         options.sample_every)),
        routes(manager, sampler,
               {.token = options.token.empty() ? random_token() : options.token,
                .prefix = options.prefix,
                .bind_host = options.host,
                .allowed_hosts = options.allowed_hosts},
               sink_for(options, manager)) {}

  Options options;
  Sampler sampler;
  Routes routes;
  std::unique_ptr<httplib::Server> server;
  std::thread listener;
  std::atomic<bool> listener_done{false};
  std::uint16_t port = 0;
};

Console::Console(Manager& manager, Options options) {
  check(options);
  state_ = std::make_unique<State>(manager, std::move(options));
  state_->sampler.start();
}

Console::~Console() { stop(); }

void Console::mount(httplib::Server& server) { state_->routes.mount(server); }

std::uint16_t Console::listen() {
  if (state_->server) throw ConfigError("Console::listen() was called already");
  auto server = std::make_unique<httplib::Server>();
  const unsigned threads = state_->options.threads;
  server->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server->set_payload_max_length(16 * 1024);  // actions carry no body
  server->set_keep_alive_timeout(2);
  // SO_REUSEADDR without httplib's SO_REUSEPORT: a second console on the same port is an error,
  // not a silent split of the requests.
  server->set_socket_options([](int socket) {
    const int yes = 1;
    setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  state_->routes.mount(*server);
  const Options& options = state_->options;
  const int bound = options.port == 0 ? server->bind_to_any_port(options.host)
                                      : (server->bind_to_port(options.host, options.port) ? options.port : -1);
  if (bound <= 0) {
    throw ConfigError("the console cannot listen on " + options.host + ":" + std::to_string(options.port));
  }
  state_->port = static_cast<std::uint16_t>(bound);
  httplib::Server* raw = server.get();
  state_->server = std::move(server);
  std::atomic<bool>& done = state_->listener_done;
  state_->listener = std::thread([raw, &done] {
    pthread_setname_np(pthread_self(), "jq:console-http");
    raw->listen_after_bind();
    done.store(true);
  });
  // httplib's stop() does nothing until the server runs: wait for it, so that a stop() right
  // after listen() is not lost (and the destructor's join never hangs).
  while (!raw->is_running() && !done.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const std::string host = options.host.find(':') != std::string::npos ? "[" + options.host + "]" : options.host;
  state_->routes.log("console: http://" + host + ":" + std::to_string(bound) + options.prefix + "/ (actions need token " +
                     state_->routes.token() + ")");
  return state_->port;
}

void Console::stop() {
  if (!state_) return;
  if (state_->server) state_->server->stop();
  if (state_->listener.joinable()) state_->listener.join();
  state_->sampler.stop();
}

std::uint16_t Console::port() const noexcept { return state_->port; }

const std::string& Console::token() const noexcept { return state_->routes.token(); }

}  // namespace jobq::console

// The console's HTTP surface: the page and its assets, the read-only /api, and the actions,
// which need the token. Knows httplib; everything it answers comes from views.hpp.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "jobq/log.hpp"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace jobq {
class Manager;
}

namespace jobq::console {

class Sampler;

/// Who may ask what: the actions' token, where the routes live, and the Host names answered.
struct Access {
  std::string token;
  std::string prefix;
  std::string bind_host;
  std::vector<std::string> allowed_hosts;
};

class Routes {
 public:
  Routes(Manager& manager, const Sampler& sampler, Access access, LogSink log)
      : manager_(manager), sampler_(sampler), access_(std::move(access)), log_(std::move(log)) {}

  void mount(httplib::Server& server) const;
  const std::string& token() const noexcept { return access_.token; }
  void log(std::string_view line) const;
  /// The request's Host header names loopback, the bound host, or an allowed name; empty when it
  /// does, else why not.
  std::string host_refusal(const httplib::Request& request) const;

 private:
  // Actions: each checks the token, acts, answers api::ActionResult and logs one line.
  bool authorized(const httplib::Request& request, httplib::Response& response) const;
  void pause_or_resume(const httplib::Request& request, httplib::Response& response) const;
  void requeue_or_purge(const httplib::Request& request, httplib::Response& response) const;
  void finish_action(const httplib::Request& request, httplib::Response& response, int status,
                     std::string message, std::uint64_t job_id = 0) const;

  // Reads.
  void dead_letters(const httplib::Request& request, httplib::Response& response) const;
  void dead_letter(const httplib::Request& request, httplib::Response& response) const;

  Manager& manager_;
  const Sampler& sampler_;
  const Access access_;
  const LogSink log_;
};

}  // namespace jobq::console

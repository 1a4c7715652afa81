#include "console/routes.hpp"

#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <exception>
#include <optional>

#include "console/page.hpp"
#include "console/sampler.hpp"
#include "console/views.hpp"
#include "jobq/internal/authority.hpp"
#include "jobq/internal/printable.hpp"
#include "jobq/json.hpp"
#include "jobq/manager.hpp"

namespace jobq::console {
namespace {

constexpr std::size_t max_page = 500;

template <class Body>
void reply(httplib::Response& response, int status, const Body& body) {
  Result<std::string> json = to_json(body);
  response.status = json ? status : 500;
  response.set_header("Cache-Control", "no-store");
  response.set_content(json ? *json : R"({"ok":false,"message":"the answer could not be written as JSON"})",
                       "application/json");
}

void refuse(httplib::Response& response, int status, std::string message) {
  reply(response, status, api::ActionResult{.ok = false, .message = std::move(message), .job_id = 0});
}

std::optional<std::uint64_t> parse_number(std::string_view text) {
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

/// A number from the query string, `fallback` when absent; nullopt (after a 400) when malformed.
std::optional<std::uint64_t> query_number(const httplib::Request& request, httplib::Response& response,
                                          const char* name, std::uint64_t fallback) {
  if (!request.has_param(name)) return fallback;
  std::optional<std::uint64_t> value = parse_number(request.get_param_value(name));
  if (!value) refuse(response, 400, std::string(name) + " is not a number");
  return value;
}

/// Equal in time that does not depend on where the strings first differ.
bool same_secret(std::string_view given, std::string_view expected) {
  unsigned char difference = given.size() == expected.size() ? 0 : 1;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    difference |= static_cast<unsigned char>(expected[i] ^ (i < given.size() ? given[i] : 0));
  }
  return difference == 0;
}

int status_of(Errc code) {
  switch (code) {
    case Errc::not_found:
    case Errc::unknown_queue:
      return 404;
    case Errc::unavailable:
      return 503;
    default:
      return 409;  // the queue is full, shutting down, or refused it: the request was fine
  }
}

using internal::printable;

/// The host name of a Host header or an Origin's authority, lower-cased, without its port:
/// "127.0.0.1:9090" → "127.0.0.1", "[::1]:9090" → "::1".
std::string host_name(std::string_view authority) {
  const std::string_view name = internal::split_authority(authority).host;
  std::string out(name);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;

/// A handler that answers only requests naming an allowed host, and 500 instead of letting an
/// exception reach the server's thread.
Handler guarded(const Routes& routes, Handler handler) {
  return [&routes, handler = std::move(handler)](const httplib::Request& request, httplib::Response& response) {
    try {
      if (std::string refusal = routes.host_refusal(request); !refusal.empty()) return refuse(response, 403, refusal);
      handler(request, response);
    } catch (const std::exception& error) {
      routes.log("console: " + request.method + " " + printable(request.path) + " failed: " + error.what());
      refuse(response, 500, std::string("internal error: ") + error.what());
    }
  };
}

void asset(httplib::Response& response, std::string_view body, const char* type) {
  response.set_header("Cache-Control", "no-cache");
  response.set_header("X-Content-Type-Options", "nosniff");
  response.set_content(std::string(body), type);
}

}  // namespace

void Routes::log(std::string_view line) const {
  if (log_) log_(LogLevel::info, line);
}

std::string Routes::host_refusal(const httplib::Request& request) const {
  if (!request.has_header("Host")) return {};  // HTTP/1.0: not a browser's request
  const std::string host = request.get_header_value("Host");
  const std::string name = host_name(host);
  if (name == "127.0.0.1" || name == "localhost" || name == "::1" || name == host_name(access_.bind_host)) return {};
  for (const std::string& allowed : access_.allowed_hosts) {
    if (allowed == "*" || allowed == host || host_name(allowed) == name) return {};
  }
  return "this console does not answer to host '" + printable(host) + "' (console::Options::allowed_hosts)";
}

void Routes::mount(httplib::Server& server) const {
  const std::string& p = access_.prefix;
  // Under a prefix the page lives at PREFIX/, so that its relative links reach PREFIX/api.
  if (!p.empty()) server.Get(p, [p](const httplib::Request&, httplib::Response& response) { response.set_redirect(p + "/"); });
  server.Get(p + "/", guarded(*this, [](const httplib::Request&, httplib::Response& response) {
    response.set_header("Content-Security-Policy",
                        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'none'");
    response.set_header("X-Frame-Options", "DENY");
    asset(response, page_html(), "text/html; charset=utf-8");
  }));
  server.Get(p + "/console.js", guarded(*this, [](const httplib::Request&, httplib::Response& response) {
    asset(response, page_script(), "text/javascript; charset=utf-8");
  }));
  server.Get(p + "/console.css", guarded(*this, [](const httplib::Request&, httplib::Response& response) {
    asset(response, page_style(), "text/css; charset=utf-8");
  }));

  // The Prometheus exposition too, so that a console is all a scraper or jobq_tune needs.
  server.Get(p + "/metrics", guarded(*this, [this](const httplib::Request&, httplib::Response& response) {
    response.set_header("Cache-Control", "no-store");
    response.set_content(prometheus_text(manager_.metrics()), "text/plain; version=0.0.4");
  }));
  server.Get(p + "/api/queues", guarded(*this, [this](const httplib::Request&, httplib::Response& response) {
    reply(response, 200, overview(manager_, sampler_));
  }));
  server.Get(p + "/api/types", guarded(*this, [this](const httplib::Request&, httplib::Response& response) {
    reply(response, 200, types(manager_));
  }));
  server.Get(p + "/api/running", guarded(*this, [this](const httplib::Request&, httplib::Response& response) {
    reply(response, 200, running(manager_));
  }));
  server.Get(p + "/api/schedules", guarded(*this, [this](const httplib::Request&, httplib::Response& response) {
    reply(response, 200, schedules(manager_));
  }));
  server.Get(p + "/api/history", guarded(*this, [this](const httplib::Request&, httplib::Response& response) {
    reply(response, 200, sampler_.history());
  }));
  server.Get(p + "/api/dead", guarded(*this, [this](const httplib::Request& request, httplib::Response& response) {
    dead_letters(request, response);
  }));
  server.Get(p + R"(/api/dead/([a-z0-9_-]+)/([^/]+))",
             guarded(*this, [this](const httplib::Request& request, httplib::Response& response) {
               dead_letter(request, response);
             }));
  server.Post(p + R"(/api/queues/([a-z0-9_-]+)/(pause|resume))",
              guarded(*this, [this](const httplib::Request& request, httplib::Response& response) {
                pause_or_resume(request, response);
              }));
  server.Post(p + R"(/api/dead/([a-z0-9_-]+)/([^/]+)/(requeue|purge))",
              guarded(*this, [this](const httplib::Request& request, httplib::Response& response) {
                requeue_or_purge(request, response);
              }));
  // Anything else under /api: a JSON 404, not the server's empty one. (Registered last: httplib
  // tries routes in order.)
  const Handler unknown = [](const httplib::Request& request, httplib::Response& response) {
    refuse(response, 404, "no console endpoint is " + request.method + " " + request.path);
  };
  server.Get(p + "/api/.*", unknown);
  server.Post(p + "/api/.*", unknown);
  server.Delete(p + "/api/.*", unknown);
  server.Put(p + "/api/.*", unknown);
}

void Routes::dead_letters(const httplib::Request& request, httplib::Response& response) const {
  const std::optional<std::uint64_t> offset = query_number(request, response, "offset", 0);
  if (!offset) return;
  // A store pages by signed offsets (Redis's ZRANGE): past 2^62 there is nothing to page anyway.
  if (*offset > (std::uint64_t{1} << 62)) return refuse(response, 400, "offset is too large");
  const std::optional<std::uint64_t> limit = query_number(request, response, "limit", 50);
  if (!limit) return;
  if (!request.has_param("queue")) return refuse(response, 400, "name a queue: /api/dead?queue=NAME");
  const std::string queue = request.get_param_value("queue");
  if (manager_.queue_id(queue) == no_id) return refuse(response, 404, "no queue is named '" + queue + "'");
  Result<api::DeadLetters> page =
      console::dead_letters(manager_, queue, *offset, std::min<std::uint64_t>(*limit, max_page));
  if (!page) return refuse(response, status_of(page.error().code()), page.error().message());
  reply(response, 200, *page);
}

void Routes::dead_letter(const httplib::Request& request, httplib::Response& response) const {
  const std::string queue = request.matches[1];
  if (manager_.queue_id(queue) == no_id) return refuse(response, 404, "no queue is named '" + queue + "'");
  const std::optional<std::uint64_t> id = parse_number(request.matches[2].str());
  if (!id) return refuse(response, 400, "'" + request.matches[2].str() + "' is not a job id");
  Result<std::optional<DeadLetter>> letter = manager_.dead_letter(queue, *id);
  if (!letter) return refuse(response, status_of(letter.error().code()), letter.error().message());
  if (!*letter) return refuse(response, 404, "queue '" + queue + "' has no dead letter " + std::to_string(*id));
  reply(response, 200, row_of(**letter));
}

bool Routes::authorized(const httplib::Request& request, httplib::Response& response) const {
  // A cross-site page cannot set a custom header without a CORS preflight, which this server
  // never grants; the Origin check refuses the rest (a page of another origin that got the token).
  // The Origin's authority must be the Host asked for: http or https (behind a TLS proxy).
  const std::string origin = request.get_header_value("Origin");
  if (!origin.empty()) {
    const std::size_t scheme = origin.find("://");
    const std::string authority = scheme == std::string::npos ? "" : origin.substr(scheme + 3);
    const std::string scheme_name = scheme == std::string::npos ? "" : origin.substr(0, scheme);
    if ((scheme_name != "http" && scheme_name != "https") || authority != request.get_header_value("Host")) {
      finish_action(request, response, 403, "cross-origin request refused (Origin: " + printable(origin) + ")");
      return false;
    }
  }
  if (!request.has_header("X-Jobq-Token")) {
    finish_action(request, response, 401, "actions need the console's token in the X-Jobq-Token header");
    return false;
  }
  if (!same_secret(request.get_header_value("X-Jobq-Token"), access_.token)) {
    finish_action(request, response, 403, "wrong token");
    return false;
  }
  return true;
}

void Routes::pause_or_resume(const httplib::Request& request, httplib::Response& response) const {
  if (!authorized(request, response)) return;
  const std::string queue = request.matches[1];
  const bool pause = request.matches[2] == "pause";
  // Manager::pause throws ConfigError for an unknown name: a URL is not configuration.
  if (manager_.queue_id(queue) == no_id) return finish_action(request, response, 404, "no queue is named '" + queue + "'");
  if (pause) {
    manager_.pause(queue);
  } else {
    manager_.resume(queue);
  }
  finish_action(request, response, 200, (pause ? "paused " : "resumed ") + queue);
}

void Routes::requeue_or_purge(const httplib::Request& request, httplib::Response& response) const {
  if (!authorized(request, response)) return;
  const std::string queue = request.matches[1];
  if (manager_.queue_id(queue) == no_id) return finish_action(request, response, 404, "no queue is named '" + queue + "'");
  const std::optional<std::uint64_t> id = parse_number(request.matches[2].str());
  if (!id) return finish_action(request, response, 400, "'" + request.matches[2].str() + "' is not a job id");
  const std::string letter = "dead letter " + std::to_string(*id) + " of " + queue;
  if (request.matches[3] == "requeue") {
    Result<JobId> requeued = manager_.requeue_dead(queue, *id);
    if (!requeued) return finish_action(request, response, status_of(requeued.error().code()), requeued.error().message());
    return finish_action(request, response, 200, "requeued " + letter, *requeued);
  }
  Result<bool> purged = manager_.purge_dead(queue, *id);
  if (!purged) return finish_action(request, response, status_of(purged.error().code()), purged.error().message());
  if (!*purged) return finish_action(request, response, 404, "no " + letter);
  finish_action(request, response, 200, "purged " + letter);
}

void Routes::finish_action(const httplib::Request& request, httplib::Response& response, int status,
                           std::string message, std::uint64_t job_id) const {
  log("console: " + request.remote_addr + " " + request.method + " " + printable(request.path) + " -> " +
      std::to_string(status) + " " + printable(message));
  reply(response, status, api::ActionResult{.ok = status < 300, .message = std::move(message), .job_id = job_id});
}

}  // namespace jobq::console

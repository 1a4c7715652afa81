// The routes: each turns a request into one jobq call, and its result into a status and a body.
#include "http_api.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "api_schema.hpp"

namespace webapp {
namespace {

template <jobq::Payload Body>
void reply(httplib::Response& response, int status, const Body& body) {
  jobq::Result<std::string> json = jobq::to_json(body);
  if (!json) {
    // Only a string that is not UTF-8 fails, and every string here was validated on its way in.
    response.status = 500;
    response.set_content(json.error().message(), "text/plain");
    return;
  }
  response.status = status;
  response.set_content(*json, "application/json");
}

void refuse(httplib::Response& response, int status, std::string message) {
  reply(response, status, api::Refusal{std::move(message)});
}

/// The client's mistake (400, 404), or "come back later" (503): a full queue and a service on its
/// way down are both temporary.
int status_for(jobq::Errc code) {
  switch (code) {
    case jobq::Errc::invalid_payload:
    case jobq::Errc::payload_too_large: return 400;
    case jobq::Errc::not_found: return 404;
    case jobq::Errc::queue_full:
    case jobq::Errc::shutting_down:
    case jobq::Errc::not_started: return 503;
    default: return 500;  // unknown type or queue: a wiring mistake in this service, not the client's
  }
}

/// 202 with the job's id, or the jobq error message under its status.
void answer(httplib::Response& response, const jobq::Result<jobq::JobId>& dispatched) {
  if (dispatched) {
    reply(response, 202, api::Accepted{*dispatched});
    return;
  }
  const int status = status_for(dispatched.code());
  // Dispatch never blocks a request thread on a full queue: it refuses, and the client backs off.
  if (status == 503) response.set_header("Retry-After", "1");
  refuse(response, status, dispatched.error().message());
}

/// Binds a JSON request body with jobq's binder; answers 400 with its message when that fails.
template <jobq::Payload Request>
bool bind_body(const httplib::Request& request, httplib::Response& response, Request& out) {
  if (jobq::Status bound = jobq::from_json(request.body, out); !bound) {
    refuse(response, 400, "request body: " + bound.message());
    return false;
  }
  return true;
}

std::optional<std::uint64_t> parse_number(std::string_view text) {
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size() || text.empty()) return std::nullopt;
  return value;
}

}  // namespace

HttpApi::HttpApi(jobq::Manager& queues, SendWelcomeEmail& welcome_email, GenerateReport& generate_report,
                 std::function<void()> request_stop)
    : queues_(queues),
      welcome_email_(welcome_email),
      generate_report_(generate_report),
      request_stop_(std::move(request_stop)) {}

void HttpApi::mount(httplib::Server& server) {
  using Route = void (HttpApi::*)(const httplib::Request&, httplib::Response&);
  auto to = [this](Route route) {
    return [this, route](const httplib::Request& request, httplib::Response& response) {
      (this->*route)(request, response);
    };
  };
  server.Post("/signup", to(&HttpApi::signup));
  server.Post("/signups", to(&HttpApi::group_signup));
  server.Get(R"(/batches/([a-z0-9_:-]+))", to(&HttpApi::batch_status));
  server.Post("/reports", to(&HttpApi::report));
  server.Get("/metrics", to(&HttpApi::metrics));
  server.Get("/inspect", to(&HttpApi::inspect));
  server.Post(R"(/queues/([a-z0-9_-]+)/(pause|resume))", to(&HttpApi::pause_or_resume));
  server.Post(R"(/dead/(\d+)/requeue)", to(&HttpApi::requeue_dead));
  server.Delete(R"(/dead/(\d+))", to(&HttpApi::purge_dead));
  server.Post("/shutdown", to(&HttpApi::shutdown));
}

void HttpApi::signup(const httplib::Request& request, httplib::Response& response) {
  api::SignupRequest signup;
  if (!bind_body(request, response, signup)) return;
  if (signup.user_id.empty()) return refuse(response, 400, "user_id is empty");
  answer(response, welcome_email_.queue(signup.user_id));
}

void HttpApi::group_signup(const httplib::Request& request, httplib::Response& response) {
  api::GroupSignupRequest group;
  if (!bind_body(request, response, group)) return;
  if (group.user_ids.empty()) return refuse(response, 400, "user_ids is empty");
  for (const std::string& user_id : group.user_ids) {
    if (user_id.empty()) return refuse(response, 400, "a user_id is empty");
  }
  const jobq::Result<std::string> batch = welcome_email_.queue_group(group.user_ids, "signups:welcomed");
  if (!batch) return refuse(response, batch.code() == jobq::Errc::queue_full ? 503 : 400, batch.error().message());
  reply(response, 202, api::BatchAccepted{*batch});
}

void HttpApi::batch_status(const httplib::Request& request, httplib::Response& response) {
  const jobq::Result<jobq::BatchOutcome> status = queues_.batch_status(request.matches[1].str());
  if (!status) return refuse(response, 404, status.error().message());
  reply(response, 200, *status);
}

void HttpApi::report(const httplib::Request& request, httplib::Response& response) {
  api::ReportRequest report;
  if (!bind_body(request, response, report)) return;
  if (report.name.empty()) return refuse(response, 400, "name is empty");
  answer(response, generate_report_.queue(report.name, report.day));
}

void HttpApi::metrics(const httplib::Request& /*request*/, httplib::Response& response) {
  response.set_content(jobq::prometheus_text(queues_.metrics()), "text/plain; version=0.0.4");
}

void HttpApi::inspect(const httplib::Request& request, httplib::Response& response) {
  std::uint64_t offset = 0;
  std::uint64_t limit = 100;
  for (auto [name, value] : {std::pair{"offset", &offset}, std::pair{"limit", &limit}}) {
    if (!request.has_param(name)) continue;
    const std::optional<std::uint64_t> number = parse_number(request.get_param_value(name));
    if (!number) return refuse(response, 400, std::string(name) + " is not a number");
    *value = *number;
  }

  api::Inspection view;
  // One snapshot for every queue, so that the rows are read together. Each counter is still
  // summed on its own while jobs move, so a row is close to, not exactly, one instant.
  for (const jobq::QueueMetrics& queue : queues_.metrics().queues) {
    view.queues.push_back({.name = queue.name,
                           .workers = queue.workers,
                           .paused = queue.paused,
                           .depth = queue.depth,
                           .scheduled = queue.scheduled,
                           .in_flight = queue.in_flight,
                           .busy_workers = queue.busy_workers,
                           .counters = jobq::console::api::counters_of(queue.jobs)});
  }
  for (const jobq::InFlightJob& job : queues_.in_flight()) {
    view.in_flight.push_back({.id = job.id,
                              .type = job.type,
                              .queue = job.queue,
                              .worker = job.worker,
                              .attempt = job.attempt,
                              .running_seconds = job.running_seconds});
  }
  // A page, not the whole store, which may hold Config::dead_letter_capacity (10 000) letters.
  const jobq::DeadLetterPage page = queues_.dead_letters(offset, std::min<std::uint64_t>(limit, 1000));
  view.dead_letters = {.total = page.total, .dropped = page.dropped, .offset = offset, .letters = {}};
  for (const jobq::DeadLetter& letter : page.letters) {
    view.dead_letters.letters.push_back({.id = letter.id,
                                         .type = letter.type,
                                         .queue = letter.queue,
                                         .attempts = letter.attempts,
                                         .last_error = letter.last_error,
                                         .reason = std::string(jobq::describe(letter.reason)),
                                         .payload = letter.payload});
  }
  reply(response, 200, view);
}

void HttpApi::pause_or_resume(const httplib::Request& request, httplib::Response& response) {
  const std::string name = request.matches[1];
  // Manager::pause throws ConfigError for an unknown name; a URL is not configuration.
  if (queues_.queue_id(name) == jobq::no_id) return refuse(response, 404, "no queue is named '" + name + "'");
  if (request.matches[2] == "pause") {
    queues_.pause(name);
  } else {
    queues_.resume(name);
  }
  reply(response, 200, api::QueueState{name, queues_.paused(name)});
}

void HttpApi::requeue_dead(const httplib::Request& request, httplib::Response& response) {
  const std::optional<std::uint64_t> id = parse_number(request.matches[1].str());
  if (!id) return refuse(response, 404, "no dead letter has id " + request.matches[1].str());
  // Back onto its queue under the same id, with its attempts reset.
  answer(response, queues_.requeue_dead(*id));
}

void HttpApi::purge_dead(const httplib::Request& request, httplib::Response& response) {
  const std::optional<std::uint64_t> id = parse_number(request.matches[1].str());
  if (!id || !queues_.purge_dead(*id)) {
    return refuse(response, 404, "no dead letter has id " + request.matches[1].str());
  }
  response.status = 204;
}

void HttpApi::shutdown(const httplib::Request& /*request*/, httplib::Response& response) {
  reply(response, 202, api::Stopping{"shutting down"});
  // The server finishes the requests it has, this answer included, before it stops listening.
  request_stop_();
}

}  // namespace webapp

// Drives the HTTP service example as its clients and its monitoring would: starts it on a free
// port, sends a burst of sign-ups and report requests from several threads, and checks that the
// answers (202, 503, 400) and what /metrics and /inspect say agree with a plan known in advance.
// Then it pauses a queue until it refuses work, requeues and deletes a dead letter, and stops
// the service with POST /shutdown, which must exit 0 with balanced books.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <future>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "expected_books.hpp"
#include "service_client.hpp"
#include "service_process.hpp"
#include "services.hpp"

namespace {

using http_service_test::Checks;
using http_service_test::Clock;
using http_service_test::Plan;
using http_service_test::Reply;
using http_service_test::ServiceClient;
using webapp::api::Inspection;

constexpr int signup_threads = 4;
constexpr int signups_per_thread = 125;
constexpr int reports_in_burst = 50;
// The service's settings that the plan depends on (main.cpp).
constexpr std::uint64_t email_attempts = 3;
constexpr std::uint64_t reports_capacity = 64;
constexpr int reports_while_paused = 70;  // more than fit
// Bounds on every wait. Generous, because sanitizer builds run several times slower and ctest
// runs tests side by side; a healthy run takes a fraction of them.
constexpr auto startup_timeout = std::chrono::seconds(30);
constexpr auto exit_timeout = std::chrono::seconds(30);

/// What one client thread was answered.
struct Tally {
  std::uint64_t greylisted = 0;
  std::uint64_t unreachable = 0;
  std::uint64_t refused = 0;  // 503
  std::uint64_t unexpected = 0;
  std::vector<std::uint64_t> job_ids;  // from the 202s
};

void count(Tally& tally, const Reply& reply, std::string_view request) {
  if (reply.status == 202) {
    tally.job_ids.push_back(reply.as<webapp::api::Accepted>().value_or(webapp::api::Accepted{}).job_id);
  } else if (reply.status == 503) {
    ++tally.refused;  // a full queue: legal, and the plan counts only what was accepted
  } else {
    ++tally.unexpected;
    std::cout << request << ": " << reply.status << " " << reply.body << '\n';
  }
}

/// One client thread signing users up. Each user's id prefix decides how the mail relay treats
/// them (services.hpp), so the failures to expect follow from the 202s.
Tally sign_up(int port, int thread) {
  ServiceClient client(port);
  Tally tally;
  for (int user = 0; user < signups_per_thread; ++user) {
    const bool greylisted = user % 10 == 1;
    const bool unreachable = user % 25 == 7;
    const std::string user_id = std::string(greylisted    ? webapp::Mailer::greylisted_prefix
                                            : unreachable ? webapp::Mailer::unreachable_prefix
                                                          : "user-") +
                                std::to_string(thread) + "-" + std::to_string(user);
    const Reply reply = client.post("/signup", R"({"user_id":")" + user_id + R"("})");
    count(tally, reply, "signup " + user_id);
    if (reply.status == 202) {
      tally.greylisted += greylisted;
      tally.unreachable += unreachable;
    }
  }
  return tally;
}

Tally request_reports(int port, int reports, const std::string& prefix) {
  ServiceClient client(port);
  Tally tally;
  for (int report = 0; report < reports; ++report) {
    const std::string name = prefix + std::to_string(report);
    const Reply reply = client.post("/reports", R"({"name":")" + name + R"(","day":"2024-05-01"})");
    count(tally, reply, "report " + std::to_string(report));
    if (reply.status == 503) {
      tally.unexpected += reply.error() != "queue full" || reply.retry_after != "1";
    }
  }
  return tally;
}

/// Bodies that never reach a queue (400 from binding), and one that jobq itself refuses.
void refuses_bad_requests(Checks& checks, ServiceClient& client, Plan& plan) {
  const Reply not_json = client.post("/signup", "not json");
  checks.status("signup with a body that is not JSON", not_json, 400);
  const Reply no_user = client.post("/signup", R"({"name":"ada"})");
  checks.status("signup without user_id", no_user, 400);
  checks.that(no_user.error().find("user_id") != std::string::npos, "the 400 names the missing field");
  checks.status("signup with an empty user_id", client.post("/signup", R"({"user_id":""})"), 400);
  // Binds, but is larger than the service's Config::max_payload_bytes: jobq refuses the dispatch
  // (payload_too_large, counted as rejected on the queue) and the answer carries its message.
  const Reply too_large = client.post("/signup", R"({"user_id":")" + std::string(5000, 'x') + R"("})");
  checks.status("signup with an oversized user_id", too_large, 400);
  checks.that(too_large.error().starts_with("payload too large"), "the 400 carries jobq's message: " + too_large.body);
  ++plan.emails.rejected;
  checks.status("inspect with a bad limit", client.get("/inspect?limit=ten"), 400);
  // The console is mounted on the same server, under /console; its actions need its token.
  checks.status("the console's page", client.get("/console/"), 200);
  checks.status("the console's queues", client.get("/console/api/queues"), 200);
  checks.status("a console action without the token", client.post("/console/api/queues/emails/pause"), 401);
}

void take_burst(Checks& checks, ServiceClient& client, int port, Plan& plan) {
  std::vector<std::future<Tally>> clients;
  for (int thread = 0; thread < signup_threads; ++thread) {
    clients.push_back(std::async(std::launch::async, sign_up, port, thread));
  }
  std::future<Tally> reports = std::async(std::launch::async, request_reports, port, reports_in_burst, "sales-");
  Tally signups;
  for (std::future<Tally>& answered : clients) {
    const Tally tally = answered.get();
    signups.greylisted += tally.greylisted;
    signups.unreachable += tally.unreachable;
    signups.refused += tally.refused;
    signups.unexpected += tally.unexpected;
    signups.job_ids.insert(signups.job_ids.end(), tally.job_ids.begin(), tally.job_ids.end());
  }
  const Tally report_tally = reports.get();
  checks.equal("burst: answers other than 202 or 503", signups.unexpected + report_tally.unexpected, 0u);
  std::vector<std::uint64_t> ids = signups.job_ids;
  ids.insert(ids.end(), report_tally.job_ids.begin(), report_tally.job_ids.end());
  std::sort(ids.begin(), ids.end());
  checks.that(std::adjacent_find(ids.begin(), ids.end()) == ids.end() && (ids.empty() || ids.front() != 0),
              "burst: every 202 carries its own job id");

  const std::uint64_t accepted = signups.job_ids.size();
  plan.emails = {.accepted = accepted,
                 .rejected = plan.emails.rejected + signups.refused,
                 .succeeded = accepted - signups.unreachable,
                 .failed = signups.greylisted + email_attempts * signups.unreachable,
                 .retried = signups.greylisted + (email_attempts - 1) * signups.unreachable,
                 .dead_lettered = signups.unreachable};
  plan.reports = {.accepted = report_tally.job_ids.size(),
                  .rejected = report_tally.refused,
                  .succeeded = report_tally.job_ids.size()};
  plan.dead_letters = signups.unreachable;
  std::cout << "burst: " << accepted << " sign-ups accepted (" << signups.greylisted << " greylisted, "
            << signups.unreachable << " unreachable), " << report_tally.job_ids.size() << " reports\n";

  const Inspection view = http_service_test::wait_until_settled(checks, client, "burst");
  http_service_test::check_metrics(checks, client, plan, "burst");
  checks.equal("burst: dead letters in /inspect", view.dead_letters.total, plan.dead_letters);
  for (const webapp::api::DeadLetterView& letter : view.dead_letters.letters) {
    checks.that(letter.type == "emails:welcome" && letter.queue == "emails" && letter.attempts == email_attempts &&
                    letter.reason == "attempts exhausted" && letter.last_error.starts_with("mail relay: no route") &&
                    letter.payload.find(webapp::Mailer::unreachable_prefix) != std::string::npos,
                "burst: dead letter " + std::to_string(letter.id) + " is an unreachable mailbox after " +
                    std::to_string(email_attempts) + " attempts");
  }
}

/// A paused queue keeps accepting until it is full, then refuses with 503; resumed, it runs all.
void pause_until_full(Checks& checks, ServiceClient& client, int port, Plan& plan) {
  checks.status("pause an unknown queue", client.post("/queues/nope/pause"), 404);
  const Reply paused = client.post("/queues/reports/pause");
  checks.status("pause reports", paused, 200);
  checks.that(paused.as<webapp::api::QueueState>().value_or(webapp::api::QueueState{}).paused, "reports reads paused");

  const Tally tally = request_reports(port, reports_while_paused, "paused-");
  const std::uint64_t accepted = tally.job_ids.size();
  checks.equal("paused: answers other than 202 or 503 (queue full, Retry-After: 1)", tally.unexpected, 0u);
  checks.equal("paused: 202s + 503s", accepted + tally.refused, std::uint64_t{reports_while_paused});
  // A worker that had checked the flag just before pause() may still take one job (and run it),
  // which frees one slot: the queue's capacity, or one more, are accepted.
  checks.that(accepted == reports_capacity || accepted == reports_capacity + 1,
              "paused: a full queue's capacity accepted, got " + std::to_string(accepted));
  const std::optional<Inspection> view = client.inspect();
  checks.that(view.has_value(), "paused: GET /inspect");
  for (const webapp::api::QueueView& queue : view.value_or(Inspection{}).queues) {
    if (queue.name != "reports") continue;
    checks.that(queue.paused, "paused: /inspect shows reports paused");
    checks.that(queue.depth + 1 >= static_cast<std::int64_t>(accepted),
                "paused: the accepted reports wait, depth " + std::to_string(queue.depth));
  }

  checks.status("resume reports", client.post("/queues/reports/resume"), 200);
  plan.reports.accepted += accepted;
  plan.reports.succeeded += accepted;
  plan.reports.rejected += tally.refused;
  http_service_test::wait_until_settled(checks, client, "resumed");
  http_service_test::check_metrics(checks, client, plan, "resumed");
}

/// A requeued dead letter runs again from attempt 1: it fails all its attempts again and comes
/// back under the same id. Deleting it then removes it for good.
void requeue_and_delete_a_dead_letter(Checks& checks, ServiceClient& client, Plan& plan) {
  const std::optional<Inspection> before = client.inspect();
  if (!checks.that(before && !before->dead_letters.letters.empty(), "a dead letter to requeue")) return;
  const std::string id = std::to_string(before->dead_letters.letters.front().id);

  const Reply requeued = client.post("/dead/" + id + "/requeue");
  checks.status("requeue dead letter " + id, requeued, 202);
  checks.equal("the requeued job keeps its id",
               std::to_string(requeued.as<webapp::api::Accepted>().value_or(webapp::api::Accepted{}).job_id), id);
  plan.emails.accepted += 1;  // a requeue counts as accepted again, on its queue and its type
  plan.emails.failed += email_attempts;
  plan.emails.retried += email_attempts - 1;
  plan.emails.dead_lettered += 1;
  const Inspection after = http_service_test::wait_until_settled(checks, client, "requeued");
  http_service_test::check_metrics(checks, client, plan, "requeued");
  const auto letters = after.dead_letters.letters;
  const auto back =
      std::find_if(letters.begin(), letters.end(), [&](const auto& letter) { return std::to_string(letter.id) == id; });
  checks.that(back != letters.end(), "requeued: dead letter " + id + " is back");
  // Its attempts start from 1 again when requeued: 3, not 6.
  if (back != letters.end()) checks.equal("requeued: attempts of dead letter " + id, back->attempts, email_attempts);

  checks.status("delete dead letter " + id, client.del("/dead/" + id), 204);
  checks.status("delete it again", client.del("/dead/" + id), 404);
  checks.status("requeue a deleted dead letter", client.post("/dead/" + id + "/requeue"), 404);
  plan.dead_letters -= 1;
  http_service_test::check_metrics(checks, client, plan, "deleted");
}

/// SIGTERM stops the service the way POST /shutdown does. A paused queue's jobs are not run:
/// shutdown returns them, and the books still balance.
void stops_on_sigterm(Checks& checks, const std::string& program) {
  http_service_test::ServiceProcess service(program, {"--port", "0", "--daily-report", "off"});
  const std::optional<std::string> port =
      service.wait_for_line("listening on 127.0.0.1:", Clock::now() + startup_timeout);
  if (!checks.that(port.has_value(), "sigterm: the second service prints its port")) return;
  ServiceClient client(std::stoi(*port));
  checks.status("sigterm: pause reports", client.post("/queues/reports/pause"), 200);
  // Two, because one may still run (see pause_until_full): at least one is left on the queue.
  for (const std::string name : {"left-1", "left-2"}) {
    const Reply queued = client.post("/reports", R"({"name":")" + name + R"(","day":"2024-05-02"})");
    checks.status("sigterm: report " + name, queued, 202);
  }
  checks.status("sigterm: a sign-up", client.post("/signup", R"({"user_id":"ada"})"), 202);
  service.send(SIGTERM);
  checks.that(service.wait_for_exit(Clock::now() + exit_timeout) == 0, "sigterm: the service exits 0");
  const std::string& output = service.output();
  checks.that(output.find("stopping: SIGTERM") != std::string::npos, "sigterm: it says why it stopped");
  checks.that(output.find("returned unrun: ") != std::string::npos, "sigterm: the paused reports are returned");
  checks.that(output.find("books balanced: yes") != std::string::npos, "sigterm: its shutdown report balances");
}

/// POST /signups welcomes a group as a batch: GET /batches/<id> follows it to its end, and the
/// batch's callback prints the counts once.
std::string welcome_a_group(Checks& checks, ServiceClient& client, Plan& plan) {
  const Reply accepted = client.post("/signups", R"({"user_ids":["group-1","group-2","unreachable-group-3"]})");
  checks.status("a group's sign-up", accepted, 202);
  const std::string batch = accepted.as<webapp::api::BatchAccepted>().value_or(webapp::api::BatchAccepted{}).batch;
  if (!checks.that(!batch.empty(), "the group's batch has an id")) return {};
  std::optional<jobq::BatchOutcome> outcome;
  for (const auto deadline = Clock::now() + http_service_test::settle_timeout; Clock::now() < deadline;) {
    outcome = client.get("/batches/" + batch).as<jobq::BatchOutcome>();
    if (outcome && outcome->complete) break;
    std::this_thread::sleep_for(http_service_test::poll_interval);
  }
  if (!checks.that(outcome && outcome->complete, "the group's batch completes")) return {};
  checks.equal("the group: emails sent", outcome->succeeded, std::uint64_t{2});
  checks.equal("the group: emails failed for good", outcome->dead, std::uint64_t{1});
  checks.status("an unknown batch", client.get("/batches/emails:0000000000000000"), 404);
  checks.status("a group with no one", client.post("/signups", R"({"user_ids":[]})"), 400);
  plan.emails.succeeded += 2;
  return "group welcomed: batch " + batch + ": 2 sent, 1 failed";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: jobq_example_http_service_test PATH_TO_jobq_example_http_service\n";
    return 2;
  }
  const auto started = Clock::now();
  Checks checks;
  http_service_test::ServiceProcess service(argv[1], {"--port", "0", "--daily-report", "off"});
  const std::optional<std::string> port_text =
      service.wait_for_line("listening on 127.0.0.1:", Clock::now() + startup_timeout);
  if (!checks.that(port_text.has_value(), "the service prints the port it listens on")) return checks.finish();
  const int port = std::stoi(*port_text);
  ServiceClient client(port);

  Plan plan;
  refuses_bad_requests(checks, client, plan);
  take_burst(checks, client, port, plan);
  pause_until_full(checks, client, port, plan);
  requeue_and_delete_a_dead_letter(checks, client, plan);
  const std::string group_line = welcome_a_group(checks, client, plan);

  checks.status("POST /shutdown", client.post("/shutdown"), 202);
  const std::optional<int> exit_code = service.wait_for_exit(Clock::now() + exit_timeout);
  checks.that(exit_code == 0, "the service exits 0 after POST /shutdown");
  const std::string& output = service.output();
  checks.that(output.find("stopping: POST /shutdown") != std::string::npos, "it says why it stopped");
  checks.that(output.find("books balanced: yes") != std::string::npos, "its shutdown report balances");
  // Every accepted email or report reached its service exactly once: a job run twice, or lost,
  // would show here.
  const std::string services = "services: " + std::to_string(plan.emails.succeeded) + " welcome emails sent, " +
                               std::to_string(plan.reports.succeeded) + " reports generated";
  checks.that(output.find(services) != std::string::npos, "the services saw every job once: " + services);
  checks.that(!group_line.empty() && output.find(group_line) != std::string::npos,
              "the group's callback ran once: " + group_line);
  checks.that(output.find("group welcomed:") == output.rfind("group welcomed:"), "and only once");
  stops_on_sigterm(checks, argv[1]);
  std::cout << "ran in " << std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count()
            << " ms\n";
  return checks.finish();
}

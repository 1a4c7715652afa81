// The console's /api against a live Manager, over HTTP: the numbers it serves, its actions and
// their token, and its refusals.
#include <gtest/gtest.h>

#include <httplib.h>

#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "console/live_manager.hpp"
#include "jobq/console.hpp"
#include "jobq/console_api.hpp"
#include "jobq/json.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using console_test::LiveManager;

/// Every line the console logged.
struct Lines {
  std::mutex mutex;
  std::vector<std::string> lines;
  jobq::LogSink sink() {
    return [this](jobq::LogLevel, std::string_view line) {
      const std::lock_guard lock(mutex);
      lines.emplace_back(line);
    };
  }
  bool any_contains(std::string_view text) {
    const std::lock_guard lock(mutex);
    for (const std::string& line : lines) {
      if (line.find(text) != std::string::npos) return true;
    }
    return false;
  }
};

/// An application's own server on a loopback port, listening on a thread of its own from
/// listen() until it is destroyed.
struct AppServer {
  httplib::Server server;
  int port = 0;
  std::thread listener;
  bool listen() {
    port = server.bind_to_any_port("127.0.0.1");
    if (port <= 0) return false;
    listener = std::thread([this] { server.listen_after_bind(); });
    while (!server.is_running()) std::this_thread::sleep_for(1ms);
    return true;
  }
  ~AppServer() {
    server.stop();
    if (listener.joinable()) listener.join();
  }
};

template <class T>
T bound(const httplib::Result& result) {
  T out;
  EXPECT_TRUE(result) << "no answer";
  if (!result) return out;
  const jobq::Status status = jobq::from_json(result->body, out);
  EXPECT_TRUE(status.ok()) << status.message() << "\n" << result->body;
  return out;
}

class ConsoleApi : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(live.run_history());
    console.emplace(live.queues, jobq::console::Options{.token = "s3cret", .sample_every = 50ms, .history = 60s,
                                                         .log = lines.sink()});
    port = console->listen();
    client.emplace("127.0.0.1", port);
  }

  httplib::Result post(const std::string& path, const std::string& token) {
    httplib::Headers headers;
    if (!token.empty()) headers.emplace("X-Jobq-Token", token);
    return client->Post(path, headers, "", "application/json");
  }

  LiveManager live;
  Lines lines;
  std::optional<jobq::console::Console> console;
  std::uint16_t port = 0;
  std::optional<httplib::Client> client;
};

const jobq::console::api::QueueRow* row(const jobq::console::api::Overview& overview, std::string_view name) {
  for (const auto& queue : overview.queues) {
    if (queue.name == name) return &queue;
  }
  return nullptr;
}

TEST_F(ConsoleApi, QueuesMatchTheManagersMetrics) {
  const auto overview = bound<jobq::console::api::Overview>(client->Get("/api/queues"));
  const jobq::MetricsSnapshot metrics = live.queues.metrics();
  ASSERT_EQ(overview.queues.size(), metrics.queues.size());
  for (const jobq::QueueMetrics& queue : metrics.queues) {
    const auto* served = row(overview, queue.name);
    ASSERT_NE(served, nullptr) << queue.name;
    EXPECT_EQ(served->workers, queue.workers);
    EXPECT_EQ(served->counters.accepted, queue.jobs.accepted);
    EXPECT_EQ(served->counters.succeeded, queue.jobs.succeeded);
    EXPECT_EQ(served->counters.dead_lettered, queue.jobs.dead_lettered);
    EXPECT_EQ(served->depth, 0);
    // The tick rate is refined between two snapshots: the same bucket, a hair apart in seconds.
    EXPECT_NEAR(served->run.p99, queue.run.p99(), queue.run.p99() * 0.01);
  }
  EXPECT_EQ(row(overview, "reports")->counters.succeeded, std::uint64_t{console_test::reports_succeeded});
  EXPECT_EQ(row(overview, "emails")->counters.dead_lettered, std::uint64_t{console_test::emails_dead});
  EXPECT_EQ(overview.dead_letters, std::uint64_t{console_test::emails_dead});
  EXPECT_GT(overview.uptime_seconds, 0);

  const auto types = bound<jobq::console::api::Types>(client->Get("/api/types"));
  ASSERT_EQ(types.types.size(), 2u);
  for (const auto& type : types.types) {
    if (type.type == "reports:daily") {
      EXPECT_EQ(type.counters.succeeded, std::uint64_t{console_test::reports_succeeded});
    } else {
      EXPECT_EQ(type.counters.dead_lettered, std::uint64_t{console_test::emails_dead});
    }
  }
}

TEST_F(ConsoleApi, RatesAndHistoryFollowTheLoad) {
  // Jobs go through while the sampler ticks every 50 ms; the history then holds intervals with
  // a non-zero success rate whose sum over time is the number of jobs that ran.
  for (int i = 0; i < 200; ++i) {
    ASSERT_TRUE(live.queues.dispatch(jobq::Job("reports:daily").payload("{}")).ok());
    if (i % 20 == 0) std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(live.queues.wait_idle(30s));
  // The successes the "reports" history holds, summed over its intervals.
  auto succeeded_in = [](const jobq::console::api::History& history) {
    double succeeded = 0;
    for (const auto& queue : history.queues) {
      if (queue.queue != "reports") continue;
      for (const auto& point : queue.points) succeeded += point.rates.succeeded * point.seconds;
    }
    return succeeded;
  };
  // Every job ran after the first sample (taken when the console was made): once the sampler
  // has taken the interval with the last jobs, the intervals hold them all, each once.
  jobq::console::api::History history;
  const bool all_in = jobq::testing::eventually([&] {
    history = bound<jobq::console::api::History>(client->Get("/api/history"));
    return succeeded_in(history) > 200.0 - 1e-6;
  }, 10s);
  EXPECT_TRUE(all_in) << "the history holds " << succeeded_in(history) << " of the 200 jobs";
  EXPECT_DOUBLE_EQ(history.interval_seconds, 0.05);
  bool reports_seen = false;
  for (const auto& queue : history.queues) {
    if (queue.queue != "reports") continue;
    reports_seen = true;
    ASSERT_FALSE(queue.points.empty());
    for (std::size_t i = 0; i < queue.points.size(); ++i) {
      EXPECT_GT(queue.points[i].seconds, 0);
      if (i > 0) {
        EXPECT_NEAR(queue.points[i].at - queue.points[i - 1].at, queue.points[i].seconds, 1e-9);
      }
    }
  }
  EXPECT_TRUE(reports_seen);
  EXPECT_NEAR(succeeded_in(history), 200.0, 1e-6);  // and none twice
}

TEST_F(ConsoleApi, SchedulesShowTheirNextRunInUtc) {
  const auto served = bound<jobq::console::api::Schedules>(client->Get("/api/schedules"));
  ASSERT_EQ(served.schedules.size(), 1u);
  const auto& row = served.schedules[0];
  EXPECT_EQ(row.name, "new-year-report");
  EXPECT_EQ(row.cron, "0 0 1 1 *");
  EXPECT_EQ(row.time_zone, "Pacific/Auckland");
  EXPECT_EQ(row.queue, "reports");
  EXPECT_EQ(row.last_run, "");
  // Midnight on New Year's Day in Auckland (UTC+13 in summer) is 11:00 UTC on December 31.
  EXPECT_EQ(row.next_run.substr(4), "-12-31T11:00:00Z") << row.next_run;
}

TEST_F(ConsoleApi, RunningShowsAHeldJob) {
  ASSERT_TRUE(live.hold_one());
  const auto running = bound<jobq::console::api::Running>(client->Get("/api/running"));
  ASSERT_EQ(running.jobs.size(), 1u);
  EXPECT_EQ(running.jobs[0].type, "emails:welcome");
  EXPECT_EQ(running.jobs[0].queue, "emails");
  live.release();
}

TEST_F(ConsoleApi, DeadLettersPageAndShowOne) {
  const auto page = bound<jobq::console::api::DeadLetters>(client->Get("/api/dead?queue=emails&offset=2&limit=3"));
  EXPECT_EQ(page.total, std::uint64_t{console_test::emails_dead});
  ASSERT_EQ(page.letters.size(), 3u);
  const jobq::DeadLetterPage expected = live.queues.dead_letters(2, 3);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(page.letters[i].id, expected.letters[i].id);
    EXPECT_EQ(page.letters[i].reason, "skip retry");
    EXPECT_EQ(page.letters[i].payload, expected.letters[i].payload);
    EXPECT_EQ(page.letters[i].last_error, expected.letters[i].last_error);
  }
  const auto one = bound<jobq::console::api::DeadLetterRow>(
      client->Get("/api/dead/emails/" + std::to_string(expected.letters[0].id)));
  EXPECT_EQ(one.id, expected.letters[0].id);
  EXPECT_EQ(one.type, "emails:welcome");
  EXPECT_EQ(one.failed_at.size(), 20u);  // 2026-11-30T12:00:00Z
  ASSERT_EQ(one.headers.size(), 1u);
  EXPECT_EQ(one.headers[0].name, "tenant");
  EXPECT_EQ(one.headers[0].value, expected.letters[0].headers.get("tenant").value_or("?"));
}

TEST_F(ConsoleApi, ActionsNeedTheTokenAndAreLogged) {
  auto refused = post("/api/queues/emails/pause", "");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 401);
  refused = post("/api/queues/emails/pause", "wrong");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 403);
  // A page of another origin that somehow has the token is refused too.
  httplib::Headers cross{{"X-Jobq-Token", "s3cret"}, {"Origin", "http://evil.example"}};
  refused = client->Post("/api/queues/emails/pause", cross, "", "application/json");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 403);
  EXPECT_FALSE(live.queues.paused("emails"));

  auto done = post("/api/queues/emails/pause", "s3cret");
  ASSERT_TRUE(done);
  EXPECT_EQ(done->status, 200);
  EXPECT_TRUE(live.queues.paused("emails"));
  EXPECT_TRUE(bound<jobq::console::api::ActionResult>(done).ok);
  done = post("/api/queues/emails/resume", "s3cret");
  ASSERT_TRUE(done);
  EXPECT_EQ(done->status, 200);
  EXPECT_FALSE(live.queues.paused("emails"));

  EXPECT_TRUE(lines.any_contains("POST /api/queues/emails/pause -> 401"));
  EXPECT_TRUE(lines.any_contains("POST /api/queues/emails/pause -> 403 wrong token"));
  EXPECT_TRUE(lines.any_contains("POST /api/queues/emails/pause -> 200 paused emails"));
  EXPECT_TRUE(lines.any_contains("POST /api/queues/emails/resume -> 200 resumed emails"));
  // A GET cannot act: it is not a route.
  const auto get = client->Get("/api/queues/emails/pause");
  ASSERT_TRUE(get);
  EXPECT_EQ(get->status, 404);
  EXPECT_FALSE(live.queues.paused("emails"));
}

TEST_F(ConsoleApi, OnlyItsOwnHostsAndOriginsAreAnswered) {
  // A hostile page whose domain is rebound to 127.0.0.1 sends its own name as Host: refused,
  // reads included.
  const auto rebound = client->Get("/api/dead?queue=emails", {{"Host", "evil.example:" + std::to_string(port)}});
  ASSERT_TRUE(rebound);
  EXPECT_EQ(rebound->status, 403);
  EXPECT_NE(rebound->body.find("does not answer to host 'evil.example:"), std::string::npos) << rebound->body;
  EXPECT_EQ(client->Get("/api/queues", {{"Host", "localhost:" + std::to_string(port)}})->status, 200);
  // Behind a TLS proxy the page's Origin is https: accepted when it names the same host.
  const std::string self = "127.0.0.1:" + std::to_string(port);
  auto done = client->Post("/api/queues/emails/pause", {{"X-Jobq-Token", "s3cret"}, {"Origin", "https://" + self}}, "",
                           "application/json");
  ASSERT_TRUE(done);
  EXPECT_EQ(done->status, 200) << done->body;
  done = client->Post("/api/queues/emails/resume", {{"X-Jobq-Token", "s3cret"}, {"Origin", "ftp://" + self}}, "",
                      "application/json");
  ASSERT_TRUE(done);
  EXPECT_EQ(done->status, 403);
  // A decoded newline in the path cannot forge a line in the action log.
  const auto forged = post("/api/dead/emails/1%0Aconsole:%20forged/purge", "");
  ASSERT_TRUE(forged);
  EXPECT_EQ(forged->status, 401);
  EXPECT_TRUE(lines.any_contains("/api/dead/emails/1\\x0Aconsole: forged/purge -> 401"));
  EXPECT_FALSE(lines.any_contains("\n"));
}

TEST(ConsoleHosts, AllowedHostsAddNamesAndAStarAllowsAny) {
  LiveManager live;
  jobq::console::Console named(live.queues, {.allowed_hosts = {"ops.example.com"}, .log = [](jobq::LogLevel, std::string_view) {}});
  httplib::Client to_named("127.0.0.1", named.listen());
  EXPECT_EQ(to_named.Get("/api/queues", {{"Host", "ops.example.com"}})->status, 200);
  EXPECT_EQ(to_named.Get("/api/queues", {{"Host", "OPS.example.com:443"}})->status, 200);
  EXPECT_EQ(to_named.Get("/api/queues", {{"Host", "other.example.com"}})->status, 403);
  jobq::console::Console any(live.queues, {.allowed_hosts = {"*"}, .log = [](jobq::LogLevel, std::string_view) {}});
  httplib::Client to_any("127.0.0.1", any.listen());
  EXPECT_EQ(to_any.Get("/api/queues", {{"Host", "other.example.com"}})->status, 200);
}

TEST(ConsoleLifetime, ADestructorRightAfterListenReturns) {
  // httplib ignores a stop() that comes before its server runs; the console waits for it.
  LiveManager live;
  for (int round = 0; round < 20; ++round) {
    jobq::console::Console console(live.queues, {.log = [](jobq::LogLevel, std::string_view) {}});
    EXPECT_GT(console.listen(), 0);
  }
}

TEST_F(ConsoleApi, RequeueRunsTheLetterAgainAndPurgeForgetsOne) {
  const jobq::DeadLetterPage letters = live.queues.dead_letters(0, 2);
  ASSERT_EQ(letters.letters.size(), 2u);
  const jobq::JobId requeued = letters.letters[0].id;
  const jobq::JobId purged = letters.letters[1].id;
  auto done = post("/api/dead/emails/" + std::to_string(requeued) + "/requeue", "s3cret");
  ASSERT_TRUE(done);
  EXPECT_EQ(done->status, 200) << done->body;
  EXPECT_EQ(bound<jobq::console::api::ActionResult>(done).job_id, requeued);
  done = post("/api/dead/emails/" + std::to_string(purged) + "/purge", "s3cret");
  ASSERT_TRUE(done);
  EXPECT_EQ(done->status, 200) << done->body;
  ASSERT_TRUE(live.queues.wait_idle(30s));
  // The requeued letter failed again (its payload still says so) and came back; the purged one
  // is gone.
  EXPECT_TRUE(live.queues.dead_letter(requeued).has_value());
  EXPECT_FALSE(live.queues.dead_letter(purged).has_value());
  EXPECT_EQ(live.queues.dead_letters().total, std::size_t{console_test::emails_dead - 1});
  done = post("/api/dead/emails/" + std::to_string(purged) + "/purge", "s3cret");
  ASSERT_TRUE(done);
  EXPECT_EQ(done->status, 404);
}

TEST_F(ConsoleApi, BadRequestsGetA4xxAndTheConsoleGoesOn) {
  struct Case {
    std::string method, path;
    int status;
  };
  const std::vector<Case> cases = {
      {"GET", "/api/dead", 400},                              // no queue named
      {"GET", "/api/dead?queue=nope", 404},                   // no such queue
      {"GET", "/api/dead?queue=emails&offset=x", 400},        // not a number
      {"GET", "/api/dead?queue=emails&limit=-1", 400},        // not a number
      {"GET", "/api/dead?queue=emails&offset=18446744073709551615", 400},  // past any store
      {"GET", "/api/dead/emails/99999999", 404},              // no such letter
      {"GET", "/api/dead/emails/abc", 400},                   // not an id
      {"GET", "/api/dead/emails/99999999999999999999999", 400},  // past 2^64
      {"GET", "/api/nothing", 404},
      {"POST", "/api/queues/nope/pause", 404},
      {"POST", "/api/dead/emails/abc/requeue", 400},
      {"POST", "/api/dead/emails/12345678/requeue", 404},
      {"POST", "/api/dead/nope/1/purge", 404},
      {"DELETE", "/api/queues", 404},
  };
  for (const Case& c : cases) {
    httplib::Headers headers{{"X-Jobq-Token", "s3cret"}};
    const httplib::Result answer = c.method == "GET"    ? client->Get(c.path)
                                   : c.method == "POST" ? client->Post(c.path, headers, "", "application/json")
                                                        : client->Delete(c.path, headers);
    ASSERT_TRUE(answer) << c.method << " " << c.path;
    EXPECT_EQ(answer->status, c.status) << c.method << " " << c.path << ": " << answer->body;
    jobq::console::api::ActionResult body;
    EXPECT_TRUE(jobq::from_json(answer->body, body).ok()) << c.path << ": " << answer->body;
    EXPECT_FALSE(body.ok);
  }
  const auto still = client->Get("/api/queues");
  ASSERT_TRUE(still);
  EXPECT_EQ(still->status, 200);
}

TEST_F(ConsoleApi, ThePageComesFromTheLibraryWithAStrictPolicy) {
  const auto page = client->Get("/");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->body.find("<title>jobq console</title>"), std::string::npos);
  EXPECT_NE(page->get_header_value("Content-Security-Policy").find("default-src 'self'"), std::string::npos);
  EXPECT_EQ(page->get_header_value("X-Frame-Options"), "DENY");
  for (const char* asset : {"/console.js", "/console.css"}) {
    const auto served = client->Get(asset);
    ASSERT_TRUE(served);
    EXPECT_EQ(served->status, 200);
    EXPECT_GT(served->body.size(), 1000u) << asset;
  }
}

TEST(ConsoleMount, RoutesGoUnderThePrefixOfTheApplicationsServer) {
  LiveManager live;
  ASSERT_TRUE(live.run_history());
  jobq::console::Console console(live.queues, {.prefix = "/ops/jobq", .log = [](jobq::LogLevel, std::string_view) {}});
  AppServer app;
  app.server.Get("/health", [](const httplib::Request&, httplib::Response& response) { response.set_content("ok", "text/plain"); });
  console.mount(app.server);
  ASSERT_TRUE(app.listen());
  httplib::Client client("127.0.0.1", app.port);
  EXPECT_EQ(client.Get("/health")->body, "ok");
  const auto redirect = client.Get("/ops/jobq");
  ASSERT_TRUE(redirect);
  EXPECT_EQ(redirect->status, 302);
  EXPECT_EQ(redirect->get_header_value("Location"), "/ops/jobq/");
  EXPECT_EQ(client.Get("/ops/jobq/")->status, 200);
  const auto overview = bound<jobq::console::api::Overview>(client.Get("/ops/jobq/api/queues"));
  EXPECT_EQ(overview.queues.size(), 2u);
  EXPECT_EQ(client.Get("/api/queues")->status, 404);  // nothing at the root
  // The token was made at random and actions still need it.
  httplib::Headers headers{{"X-Jobq-Token", console.token()}};
  EXPECT_EQ(console.token().size(), 32u);
  EXPECT_EQ(client.Post("/ops/jobq/api/queues/reports/pause", headers, "", "application/json")->status, 200);
  EXPECT_TRUE(live.queues.paused("reports"));
}

TEST(ConsoleOptions, BadOptionsAreRefusedWithTheReason) {
  LiveManager live;
  const auto refused = [&](jobq::console::Options options) {
    try {
      const bool listen = options.port != 0;
      jobq::console::Console console(live.queues, std::move(options));
      if (listen) console.listen();
    } catch (const jobq::ConfigError& error) {
      return std::string(error.what());
    }
    return std::string();
  };
  EXPECT_NE(refused({.prefix = "jobq"}).find("must start with '/'"), std::string::npos);
  EXPECT_NE(refused({.prefix = "/jobq/"}).find("not end with one"), std::string::npos);
  EXPECT_NE(refused({.prefix = "/jo bq"}).find("hold only"), std::string::npos);
  EXPECT_NE(refused({.sample_every = 0ms}).find("sample_every"), std::string::npos);
  jobq::console::Console first(live.queues, {.log = [](jobq::LogLevel, std::string_view) {}});
  const std::uint16_t port = first.listen();
  EXPECT_NE(refused({.port = port, .log = [](jobq::LogLevel, std::string_view) {}}).find("cannot listen on 127.0.0.1:"),
            std::string::npos);
}

}  // namespace

namespace {

TEST(ConsoleChains, ADeadLetterShowsTheStepsOfItsChainWaitingOnIt) {
  jobq::Manager queues(jobq::Config{.log_level = jobq::LogLevel::off});
  queues.register_handler("order:reserve", [](jobq::Context&, const jobq::Message&) { return jobq::Status::success(); });
  queues.register_handler("order:charge", [](jobq::Context&, const jobq::Message&) {
    return jobq::Status::skip_retry("card declined");
  });
  queues.register_handler("order:ship", [](jobq::Context&, const jobq::Message&) { return jobq::Status::success(); });
  queues.start();
  const std::vector<jobq::Job> steps{jobq::Job("order:reserve"), jobq::Job("order:charge"), jobq::Job("order:ship"),
                                     jobq::Job("order:ship")};
  ASSERT_TRUE(queues.chain(steps).ok());
  ASSERT_TRUE(queues.wait_idle(30s));
  ASSERT_EQ(queues.dead_letters().total, 1u);
  const jobq::JobId id = queues.dead_letters().letters.at(0).id;
  jobq::console::Console console(queues, {.log = [](jobq::LogLevel, std::string_view) {}});
  AppServer app;
  console.mount(app.server);
  ASSERT_TRUE(app.listen());
  httplib::Client client("127.0.0.1", app.port);
  const auto letter =
      bound<jobq::console::api::DeadLetterRow>(client.Get("/api/dead/default/" + std::to_string(id)));
  EXPECT_EQ(letter.type, "order:charge");
  EXPECT_EQ(letter.chain_waiting, (std::vector<std::string>{"order:ship", "order:ship"}));
}

}  // namespace

// The console in a real browser: headless Chromium, driven over WebDriver, loads each page
// against a live Manager, checks the numbers it shows against the Manager's own metrics, pauses
// and resumes a queue and requeues a dead letter by clicking, and saves screenshots.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>

#include "console/live_manager.hpp"
#include "console/webdriver.hpp"
#include "jobq/console.hpp"

namespace {

using namespace std::chrono_literals;
using console_test::Browser;
using console_test::LiveManager;

const std::filesystem::path screenshots = JOBQ_SCREENSHOT_DIR;

/// Waits until `predicate` holds, for up to 20 s.
template <class Predicate>
bool eventually(Predicate predicate) {
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (!predicate()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

std::string cell(const std::string& queue, const std::string& field) {
  return "tr[data-queue=\"" + queue + "\"] td[data-field=\"" + field + "\"]";
}

TEST(ConsoleInBrowser, PagesShowTheManagersNumbersAndClicksAct) {
  LiveManager live;
  ASSERT_TRUE(live.run_history());
  // Traffic for the charts: a few intervals with jobs in them.
  for (int round = 0; round < 8; ++round) {
    for (int i = 0; i < 25; ++i) ASSERT_TRUE(live.queues.dispatch(jobq::Job("reports:daily").payload("{}")).ok());
    std::this_thread::sleep_for(120ms);
  }
  jobq::console::Console console(live.queues, {.token = "browser-token", .sample_every = 100ms, .history = 60s,
                                               .log = [](jobq::LogLevel, std::string_view) {}});
  // Three seconds of a rising and falling load on both queues, for the charts.
  for (int round = 0; round < 30; ++round) {
    const int reports = 5 + 3 * (round < 15 ? round : 30 - round);
    for (int i = 0; i < reports; ++i) ASSERT_TRUE(live.queues.dispatch(jobq::Job("reports:daily").payload("{}")).ok());
    for (int i = 0; i < round % 7; ++i) ASSERT_TRUE(live.queues.dispatch(jobq::Job("emails:welcome").payload("{}")).ok());
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(live.queues.wait_idle(30s));
  const std::string url = "http://127.0.0.1:" + std::to_string(console.listen()) + "/";
  const std::filesystem::path profile = std::filesystem::temp_directory_path() / ("jobq-chromium-" + std::to_string(getpid()));
  Browser browser(profile);

  // Queues: every counter the table shows is the Manager's.
  browser.go(url);
  ASSERT_TRUE(browser.wait_for("document.body.dataset.loaded === 'queues'"));
  ASSERT_TRUE(live.queues.wait_idle(30s));
  const jobq::MetricsSnapshot metrics = live.queues.metrics();
  for (const jobq::QueueMetrics& queue : metrics.queues) {
    const std::string expected = std::to_string(queue.jobs.succeeded);
    // The page redraws every 2 s; wait for a redraw after the last job.
    EXPECT_TRUE(browser.wait_for("document.querySelector('" + cell(queue.name, "succeeded") + "').textContent === '" +
                                 expected + "'"))
        << queue.name << " shows " << browser.text(cell(queue.name, "succeeded")) << ", the Manager says " << expected;
    EXPECT_EQ(browser.text(cell(queue.name, "accepted")), std::to_string(queue.jobs.accepted));
    EXPECT_EQ(browser.text(cell(queue.name, "dead_lettered")), std::to_string(queue.jobs.dead_lettered));
    EXPECT_EQ(browser.text(cell(queue.name, "depth")), std::to_string(queue.depth));
    EXPECT_EQ(browser.text(cell(queue.name, "busy_workers")), "0 / " + std::to_string(queue.workers));
  }
  // The charts are drawn: a curve per series, per queue.
  EXPECT_EQ(Browser::value_of(browser.run(
                "return document.querySelectorAll('figure[data-chart=\"reports: jobs per second\"] polyline').length;")),
            "4");
  browser.screenshot(screenshots / "queues.png");

  // Running: a held job shows with its id.
  ASSERT_TRUE(live.hold_one());
  browser.go(url + "#running");
  ASSERT_TRUE(browser.wait_for("document.querySelector('tr[data-job]') !== null"));
  const std::vector<jobq::InFlightJob> running = live.queues.in_flight();
  ASSERT_EQ(running.size(), 1u);
  EXPECT_EQ(browser.attribute("tr[data-job]", "data-job"), std::to_string(running[0].id));
  browser.screenshot(screenshots / "running.png");
  live.release();
  ASSERT_TRUE(live.queues.wait_idle(30s));

  // Job types.
  browser.go(url + "#types");
  ASSERT_TRUE(browser.wait_for("document.body.dataset.loaded === 'types'"));
  for (const jobq::TypeMetrics& type : live.queues.metrics().types) {
    const std::string row = "tr[data-type=\"" + type.type + "\"] td";
    EXPECT_EQ(browser.text(row + "[data-field=\"succeeded\"]"), std::to_string(type.jobs.succeeded)) << type.type;
    EXPECT_EQ(browser.text(row + "[data-field=\"dead_lettered\"]"), std::to_string(type.jobs.dead_lettered)) << type.type;
  }
  browser.screenshot(screenshots / "types.png");

  // Schedules.
  browser.go(url + "#schedules");
  ASSERT_TRUE(browser.wait_for("document.querySelector('tr[data-schedule=\"new-year-report\"]') !== null"));
  const jobq::ScheduleInfo schedule = live.queues.schedules().at(0);
  EXPECT_EQ(browser.text("tr[data-schedule=\"new-year-report\"] td[data-field=\"dispatched\"]"),
            std::to_string(schedule.dispatched));
  EXPECT_NE(browser.text("tr[data-schedule=\"new-year-report\"]").find("Pacific/Auckland"), std::string::npos);
  browser.screenshot(screenshots / "schedules.png");

  // The token, then pause "emails" by clicking.
  browser.go(url);
  ASSERT_TRUE(browser.wait_for("document.body.dataset.loaded === 'queues'"));
  browser.type("#token", "browser-token");
  browser.click("#token-save");
  browser.click("button[data-action=\"pause\"][data-queue=\"emails\"]");
  EXPECT_TRUE(eventually([&] { return live.queues.paused("emails"); }));
  EXPECT_TRUE(browser.wait_for("document.querySelector('tr[data-queue=\"emails\"] [data-field=\"paused\"]') !== null"));
  EXPECT_TRUE(browser.wait_for("document.getElementById('status').textContent === 'paused emails'"));

  // Dead letters: the list, one letter's payload, and a requeue by clicking.
  const jobq::DeadLetterPage letters = live.queues.dead_letters();
  ASSERT_EQ(letters.total, std::size_t{console_test::emails_dead});
  browser.go(url + "#dead/emails");
  ASSERT_TRUE(browser.wait_for("document.querySelectorAll('tr[data-letter]').length === " + std::to_string(letters.total)));
  EXPECT_EQ(browser.attribute("[data-field=\"dead_total\"]", "data-value"), std::to_string(letters.total));
  // The handler's error holds markup: it shows as text, never as HTML.
  EXPECT_NE(browser.text("tr[data-letter] td.wrap").find("mailbox <b>full</b>"), std::string::npos);
  browser.screenshot(screenshots / "dead_letters.png");
  const jobq::DeadLetter& first = letters.letters.front();
  browser.click("tr[data-letter=\"" + std::to_string(first.id) + "\"] a");
  ASSERT_TRUE(browser.wait_for("document.getElementById('payload') !== null"));
  // The emails queue has more than one worker, so the oldest letter may be any of the jobs: job i
  // carries user "u<i>" and tenant "t<i>".
  const std::string tenant{first.headers.get("tenant").value_or("?")};
  ASSERT_EQ(tenant.front(), 't') << tenant;
  const std::string user = "u" + tenant.substr(1);
  EXPECT_NE(browser.text("#payload").find("\"user\": \"" + user + "\""), std::string::npos) << browser.text("#payload");
  EXPECT_NE(browser.text("#letter").find("Header tenant"), std::string::npos) << browser.text("#letter");
  EXPECT_NE(browser.text("#letter").find(tenant), std::string::npos) << browser.text("#letter");
  browser.screenshot(screenshots / "dead_letter.png");
  browser.click("button[data-action=\"requeue\"]");
  // Back on its queue, which is paused: it waits there.
  EXPECT_TRUE(eventually([&] { return !live.queues.dead_letter(first.id).has_value(); }));
  EXPECT_TRUE(eventually([&] { return live.queues.stats("emails").depth == 1; }));

  // Resume by clicking: the requeued job runs, fails as before, and is a dead letter again.
  browser.go(url);
  ASSERT_TRUE(browser.wait_for("document.querySelector('button[data-action=\"resume\"][data-queue=\"emails\"]') !== null"));
  browser.click("button[data-action=\"resume\"][data-queue=\"emails\"]");
  EXPECT_TRUE(eventually([&] { return !live.queues.paused("emails"); }));
  ASSERT_TRUE(live.queues.wait_idle(30s));
  EXPECT_TRUE(live.queues.dead_letter(first.id).has_value());
  EXPECT_EQ(live.queues.stats("emails").dead_lettered, std::uint64_t{console_test::emails_dead + 1});
  std::filesystem::remove_all(profile);
}

}  // namespace

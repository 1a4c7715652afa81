// `jobq inspect --url` against a live console: the table and the JSON carry the Manager's numbers.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <cstdio>
#include <string>

#include "console/live_manager.hpp"
#include "jobq/console.hpp"
#include "jobq/console_api.hpp"
#include "jobq/json.hpp"

namespace {

struct Outcome {
  int exit_code = -1;
  std::string output;
};

Outcome run_jobq(const std::string& arguments) {
  Outcome run;
  const std::string command = std::string(JOBQ_CLI) + " " + arguments + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return run;
  char buffer[4096];
  for (std::size_t read; (read = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) run.output.append(buffer, read);
  const int status = pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

/// `text` with each run of spaces made one: the table's columns pad to their widest cell.
std::string squeezed(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == ' ' && !out.empty() && out.back() == ' ') continue;
    out += c;
  }
  return out;
}

class CliInspect : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(live.run_history());
    live.queues.pause("emails");
    console.emplace(live.queues, jobq::console::Options{.prefix = "/ops", .log = [](jobq::LogLevel, std::string_view) {}});
    url = "http://127.0.0.1:" + std::to_string(console->listen()) + "/ops";
  }
  console_test::LiveManager live;
  std::optional<jobq::console::Console> console;
  std::string url;
};

TEST_F(CliInspect, PrintsTheQueueTableAndDeadLetters) {
  const Outcome run = run_jobq("inspect --url " + url + " --dead 3");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const jobq::QueueStats emails = live.queues.stats("emails");
  const jobq::QueueStats reports = live.queues.stats("reports");
  // QUEUE STATE BUSY DEPTH SCHEDULED IN-FLIGHT ACCEPTED SUCCEEDED FAILED DEAD …
  const std::string table = squeezed(run.output);
  EXPECT_NE(table.find("emails paused 0/2 0 0 0 " + std::to_string(emails.accepted) + " " + std::to_string(emails.succeeded) +
                       " " + std::to_string(emails.failed) + " " + std::to_string(emails.dead_lettered) + " "),
            std::string::npos)
      << run.output;
  EXPECT_NE(table.find("reports running 0/1 0 0 0 " + std::to_string(reports.accepted) + " " +
                       std::to_string(reports.succeeded) + " 0 0 "),
            std::string::npos)
      << run.output;
  EXPECT_NE(run.output.find("dead letters of emails: " + std::to_string(console_test::emails_dead) + " kept (the oldest 3 shown)"),
            std::string::npos)
      << run.output;
  const jobq::DeadLetterPage oldest = live.queues.dead_letters(0, 3);
  for (const jobq::DeadLetter& letter : oldest.letters) {
    EXPECT_NE(table.find("\n " + std::to_string(letter.id) + " emails:welcome 1 skip retry "), std::string::npos)
        << letter.id << "\n" << run.output;
  }
}

TEST_F(CliInspect, JsonIsTheConsolesOwnAnswers) {
  const Outcome run = run_jobq("inspect --json --url " + url + "/ --queue emails");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  // Bound with the console's own structs, so nothing is lost on the way.
  jobq::console::api::Overview overview;
  const std::size_t start = run.output.find("{\"version\"");
  ASSERT_NE(start, std::string::npos) << run.output;
  const std::size_t end = run.output.find(",\"dead_letters\":[");
  ASSERT_NE(end, std::string::npos);
  ASSERT_TRUE(jobq::from_json(run.output.substr(start, end - start), overview).ok()) << run.output;
  EXPECT_EQ(overview.queues.size(), 2u);  // the overview is the console's whole answer
  jobq::console::api::DeadLetters page;
  const std::string pages = run.output.substr(end + 17, run.output.rfind("]}") - end - 17);
  ASSERT_TRUE(jobq::from_json(pages, page).ok()) << pages;
  EXPECT_EQ(page.queue, "emails");
  EXPECT_EQ(page.total, std::uint64_t{console_test::emails_dead});
}

TEST_F(CliInspect, ProblemsExitNonZeroWithTheReason) {
  Outcome run = run_jobq("inspect --url " + url + " --queue nope");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.output.find("no queue named 'nope'"), std::string::npos) << run.output;
  run = run_jobq("inspect --url http://127.0.0.1:" + std::to_string(console->port()) + "/elsewhere");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.output.find("answered 404"), std::string::npos) << run.output;
  run = run_jobq("inspect --url http://127.0.0.1:99999999999");
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_NE(run.output.find("a port from 1 to 65535"), std::string::npos) << run.output;
  run = run_jobq("inspect --url " + url + " --dead many");
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_NE(run.output.find("--dead takes a count"), std::string::npos) << run.output;
}

}  // namespace

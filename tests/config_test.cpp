#include "jobq/config.hpp"

#include <gtest/gtest.h>
#include <sched.h>

#include <string>

#include "jobq/jobq.hpp"

namespace {

std::string config_error(jobq::Config config) {
  try {
    jobq::Manager queues(std::move(config));
  } catch (const jobq::ConfigError& error) {
    return error.what();
  }
  ADD_FAILURE() << "the configuration was accepted";
  return {};
}

TEST(Config, DefaultsToOneQueueNamedDefault) {
  jobq::Manager queues(jobq::Config{});
  ASSERT_EQ(queues.stats().size(), 1u);
  EXPECT_EQ(queues.stats()[0].name, "default");
  EXPECT_EQ(queues.stats()[0].workers, 1u);
  EXPECT_EQ(queues.queue_id("default"), 0u);
}

TEST(Config, RefusesBadQueues) {
  EXPECT_NE(config_error(jobq::Config{.queues = {}}).find("no queues"), std::string::npos);
  EXPECT_NE(config_error(jobq::Config{.queues = {{.name = "Emails"}}}).find("queue name contains 'E'"), std::string::npos);
  EXPECT_NE(config_error(jobq::Config{.queues = {{.name = ""}}}).find("queue name is empty"), std::string::npos);
  EXPECT_NE(config_error(jobq::Config{.queues = {{.name = "a"}, {.name = "a"}}}).find("configured twice"), std::string::npos);
  EXPECT_NE(config_error(jobq::Config{.queues = {{.name = "a", .workers = 0}}}).find("workers"), std::string::npos);
  EXPECT_NE(config_error(jobq::Config{.queues = {{.name = "a", .capacity = 0}}}).find("capacity"), std::string::npos);
  EXPECT_NE(config_error(jobq::Config{.queues = {{.name = "a", .dequeue_batch = 65}}}).find("dequeue_batch"), std::string::npos);
  EXPECT_NE(config_error(jobq::Config{.max_payload_bytes = 0}).find("max_payload_bytes"), std::string::npos);
}

TEST(Config, RefusesCpusThisProcessMayNotUse) {
  cpu_set_t allowed;
  ASSERT_EQ(sched_getaffinity(0, sizeof allowed, &allowed), 0);
  unsigned outside = 0;
  while (CPU_ISSET(outside, &allowed)) ++outside;
  const std::string message = config_error(jobq::Config{.queues = {{.name = "emails", .cpus = {outside}}}});
  EXPECT_NE(message.find("queue 'emails': CPU " + std::to_string(outside)), std::string::npos) << message;
  EXPECT_NE(message.find("allowed: "), std::string::npos) << message;
  EXPECT_NE(config_error(jobq::Config{.queues = {{.name = "emails", .cpus = {100000}}}}).find("CPU 100000"),
            std::string::npos);
}

TEST(Config, StartTwiceIsRefused) {
  jobq::Manager queues(jobq::Config{});
  queues.start();
  EXPECT_THROW(queues.start(), jobq::ConfigError);
}

TEST(Config, UnknownQueueStatsAreRefused) {
  jobq::Manager queues(jobq::Config{});
  EXPECT_THROW((void)queues.stats("nope"), jobq::ConfigError);
}

}  // namespace

// The console on a durable queue: its row shows what Redis holds, its dead letters are the ones
// in Redis, and a requeue from the console puts one back there.
#include <gtest/gtest.h>

#include <httplib.h>

#include <atomic>
#include <chrono>

#include "durable_support.hpp"
#include "jobq/console.hpp"
#include "jobq/console_api.hpp"
#include "jobq/jobq.hpp"
#include "jobq/json.hpp"
#include "jobq/redis.hpp"
#include "redis_server.hpp"
#include "test_support.hpp"

namespace {

using jobq::testing::durable_config;
using jobq::testing::fast;
using jobq::testing::RedisServer;
using namespace std::chrono_literals;

TEST(DurableConsole, ShowsRedisFiguresAndActsOnDeadLettersInRedis) {
  RedisServer redis;
  auto lane = jobq::redis::make_lane(fast(redis.options()));
  jobq::Config config = durable_config(lane, "payments");
  config.retry.max_attempts = 1;
  config.log_level = jobq::LogLevel::error;
  jobq::Manager queues(std::move(config));
  std::atomic<bool> healthy{false};
  std::atomic<int> charged{0};
  queues.register_handler("payments:charge", jobq::testing::offline_until(healthy, charged), {.queue = "payments"});
  queues.start();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(queues.dispatch(jobq::Job("payments:charge").payload(std::to_string(i))).ok());
  ASSERT_TRUE(jobq::testing::eventually([&] { return queues.dead_letters("payments")->total == 3; }));

  jobq::console::Console console(queues, {.token = "t", .log = [](jobq::LogLevel, std::string_view) {}});
  httplib::Client client("127.0.0.1", console.listen());
  jobq::console::api::Overview overview;
  ASSERT_TRUE(jobq::from_json(client.Get("/api/queues")->body, overview).ok());
  const jobq::console::api::QueueRow* payments = nullptr;
  for (const auto& row : overview.queues) {
    if (row.name == "payments") payments = &row;
    if (row.name == "default") {
      EXPECT_FALSE(row.durable.has_value());
    }
  }
  ASSERT_NE(payments, nullptr);
  ASSERT_TRUE(payments->durable.has_value());
  EXPECT_EQ(payments->durable->dead, 3);
  EXPECT_EQ(payments->durable->ready, 0);
  EXPECT_EQ(payments->durable->appended, 3u);

  jobq::console::api::DeadLetters page;
  ASSERT_TRUE(jobq::from_json(client.Get("/api/dead?queue=payments")->body, page).ok());
  ASSERT_EQ(page.total, 3u);
  EXPECT_EQ(page.letters.at(0).last_error, "bank offline");
  healthy.store(true);
  const httplib::Headers token{{"X-Jobq-Token", "t"}};
  const auto requeued = client.Post("/api/dead/payments/" + std::to_string(page.letters[0].id) + "/requeue", token, "",
                                    "application/json");
  ASSERT_TRUE(requeued);
  EXPECT_EQ(requeued->status, 200) << requeued->body;
  ASSERT_TRUE(jobq::testing::eventually([&] { return charged.load() == 1; }));
  const auto purged = client.Post("/api/dead/payments/" + std::to_string(page.letters[1].id) + "/purge", token, "",
                                  "application/json");
  ASSERT_TRUE(purged);
  EXPECT_EQ(purged->status, 200) << purged->body;
  EXPECT_EQ(queues.dead_letters("payments")->total, 1u);
}

}  // namespace

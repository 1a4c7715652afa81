#include "jobq/registry.hpp"

#include <gtest/gtest.h>

#include <functional>

#include "jobq/jobq.hpp"

namespace {

using jobq::ConfigError;
using jobq::Context;
using jobq::Message;
using jobq::Status;

Status succeed(Context&, const Message&) { return Status::success(); }

TEST(TypeNameRules, AcceptsCategoryColonAction) {
  for (const char* name : {"emails:welcome", "reports:generate", "a:b", "billing_v2:charge-card", "x1:y2"}) {
    EXPECT_EQ(jobq::type_name_problem(name), "") << name;
  }
}

TEST(TypeNameRules, RejectsNamesOutsideTheRuleAndSaysWhy) {
  EXPECT_NE(jobq::type_name_problem("emails").find("category:action"), std::string::npos);
  EXPECT_NE(jobq::type_name_problem("a:b:c").find("exactly one ':'"), std::string::npos);
  EXPECT_NE(jobq::type_name_problem(":welcome").find("category is empty"), std::string::npos);
  EXPECT_NE(jobq::type_name_problem("emails:").find("action is empty"), std::string::npos);
  EXPECT_NE(jobq::type_name_problem("Emails:welcome").find("contains 'E'"), std::string::npos);
  EXPECT_NE(jobq::type_name_problem("emails:wel come").find("lower-case letters, digits"), std::string::npos);
  EXPECT_NE(jobq::type_name_problem(""), "");
}

TEST(Registry, InternsNamesToDenseIdsInRegistrationOrder) {
  jobq::Manager queues(jobq::Config{});
  EXPECT_EQ(queues.register_handler("emails:welcome", succeed), 0u);
  EXPECT_EQ(queues.register_handler("emails:goodbye", succeed), 1u);
  EXPECT_EQ(queues.register_handler("reports:generate", succeed), 2u);
  EXPECT_EQ(queues.registry().size(), 3u);
  EXPECT_EQ(queues.registry().find("emails:goodbye"), 1u);
  EXPECT_EQ(queues.registry()[2].name, "reports:generate");
  EXPECT_EQ(queues.registry().find("emails:unknown"), jobq::no_id);
}

TEST(Registry, ManyNamesStayFindable) {
  jobq::Manager queues(jobq::Config{});
  for (int index = 0; index < 500; ++index) {
    queues.register_handler("type" + std::to_string(index) + ":run", succeed);
  }
  for (int index = 0; index < 500; ++index) {
    EXPECT_EQ(queues.registry().find("type" + std::to_string(index) + ":run"), static_cast<jobq::TypeId>(index));
  }
}

TEST(Registry, RefusesInvalidNamesWithTheRule) {
  jobq::Manager queues(jobq::Config{});
  try {
    queues.register_handler("SendWelcomeEmail", succeed);
    FAIL() << "an invalid name was accepted";
  } catch (const ConfigError& error) {
    EXPECT_NE(std::string(error.what()).find("category:action"), std::string::npos) << error.what();
  }
}

TEST(Registry, RefusesDuplicates) {
  jobq::Manager queues(jobq::Config{});
  queues.register_handler("emails:welcome", succeed);
  try {
    queues.register_handler("emails:welcome", succeed);
    FAIL() << "a duplicate was accepted";
  } catch (const ConfigError& error) {
    EXPECT_NE(std::string(error.what()).find("already registered"), std::string::npos) << error.what();
  }
}

TEST(Registry, RefusesEmptyHandlers) {
  jobq::Manager queues(jobq::Config{});
  std::function<Status(Context&, const Message&)> empty;
  EXPECT_THROW(queues.register_handler("emails:welcome", empty), ConfigError);
  Status (*null_function)(Context&, const Message&) = nullptr;
  EXPECT_THROW(queues.register_handler("emails:welcome", null_function), ConfigError);
  EXPECT_EQ(queues.registry().size(), 0u);
}

TEST(Registry, RefusesRegistrationAfterStart) {
  jobq::Manager queues(jobq::Config{});
  queues.register_handler("emails:welcome", succeed);
  queues.start();
  try {
    queues.register_handler("emails:goodbye", succeed);
    FAIL() << "registration after start() was accepted";
  } catch (const ConfigError& error) {
    EXPECT_NE(std::string(error.what()).find("before start()"), std::string::npos) << error.what();
  }
  EXPECT_THROW(queues.on_failure([](const jobq::Failure&) {}), ConfigError);
  EXPECT_EQ(queues.registry().size(), 1u);
}

TEST(Registry, RefusesAnUnknownDefaultQueue) {
  jobq::Manager queues(jobq::Config{});
  EXPECT_THROW(queues.register_handler("emails:welcome", succeed, {.queue = "emails"}), ConfigError);
}

struct Reminder {
  static constexpr std::string_view type_name = "reminders:send";
  static constexpr std::string_view queue_name = "slow";
  Status handle_task(Context&, const Message&) { return Status::success(); }
};

TEST(Registry, JobClassesRegisterByTypeNameWithTheirQueue) {
  jobq::Manager queues(jobq::Config{.queues = {{.name = "default"}, {.name = "slow"}}});
  Reminder reminder;
  const jobq::TypeId id = queues.register_job(reminder);
  EXPECT_EQ(queues.registry()[id].name, "reminders:send");
  EXPECT_EQ(queues.registry()[id].default_queue, queues.queue_id("slow"));
  EXPECT_EQ(queues.registry()[id].target, &reminder);
}

TEST(Registry, TypesWithoutAQueueUseTheDefaultQueue) {
  jobq::Manager queues(jobq::Config{.queues = {{.name = "fast"}, {.name = "default"}}});
  const jobq::TypeId id = queues.register_handler("emails:welcome", succeed);
  EXPECT_EQ(queues.registry()[id].default_queue, 1u);
}

}  // namespace

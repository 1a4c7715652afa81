#include "cli/names.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "jobq/registry.hpp"

namespace {

using jobq::cli::class_name_for_type;
using jobq::cli::class_name_problem;
using jobq::cli::identifier_words;
using jobq::cli::NameRequest;
using jobq::cli::resolve_names;
using jobq::cli::snake_case;
using jobq::cli::type_name_for_class;
using Words = std::vector<std::string>;

TEST(IdentifierWords, SplitsAtCapitalsAcronymEndsAndUnderscores) {
  EXPECT_EQ(identifier_words("SendWelcomeEmail"), (Words{"send", "welcome", "email"}));
  EXPECT_EQ(identifier_words("HTTPRequestRetry"), (Words{"http", "request", "retry"}));
  EXPECT_EQ(identifier_words("Q4SummaryReports"), (Words{"q4", "summary", "reports"}));
  EXPECT_EQ(identifier_words("SyncV2"), (Words{"sync", "v2"}));
  EXPECT_EQ(identifier_words("send_Email__now"), (Words{"send", "email", "now"}));
  EXPECT_EQ(identifier_words("_"), Words{});
}

TEST(TypeNameForClass, LastWordIsTheCategoryTheRestTheAction) {
  EXPECT_EQ(type_name_for_class("SendWelcomeEmail"), "email:send_welcome");
  EXPECT_EQ(type_name_for_class("GenerateReports"), "reports:generate");
  EXPECT_EQ(type_name_for_class("ChargeCard"), "card:charge");
  EXPECT_EQ(type_name_for_class("Q4SummaryReports"), "reports:q4_summary");
  EXPECT_EQ(type_name_for_class("Cleanup"), std::nullopt);
}

TEST(ClassNameForType, ActionWordsThenCategoryWordsCapitalized) {
  EXPECT_EQ(class_name_for_type("reports:generate"), "GenerateReports");
  EXPECT_EQ(class_name_for_type("email:send_welcome"), "SendWelcomeEmail");
  EXPECT_EQ(class_name_for_type("emails:send-welcome"), "SendWelcomeEmails");
  EXPECT_EQ(class_name_for_type("billing_v2:charge--card"), "ChargeCardBillingV2");
  EXPECT_EQ(class_name_for_type("reports:2fa"), "2faReports");  // rejected later: not an identifier
}

TEST(NameDerivation, RoundTripsWhereTheHelpSaysItDoes) {
  for (const char* class_name : {"SendWelcomeEmail", "GenerateReports", "Q4SummaryReports", "SyncV2"}) {
    const std::optional<std::string> type_name = type_name_for_class(class_name);
    ASSERT_TRUE(type_name) << class_name;
    EXPECT_EQ(jobq::type_name_problem(*type_name), "") << *type_name;
    EXPECT_EQ(class_name_for_type(*type_name), class_name);
  }
  for (const char* type_name : {"reports:generate", "emails:send_welcome", "v2:sync", "reports:q4_summary"}) {
    EXPECT_EQ(type_name_for_class(class_name_for_type(type_name)), type_name);
  }
}

TEST(SnakeCase, NamesTheHeaderAfterTheClass) {
  EXPECT_EQ(snake_case("SendWelcomeEmail"), "send_welcome_email");
  EXPECT_EQ(snake_case("HTTPRequestRetry"), "http_request_retry");
}

TEST(ClassNameProblem, AcceptsIdentifiersAndSaysWhyOthersFail) {
  for (const char* name : {"SendWelcomeEmail", "Job2", "_job", "send_email"}) {
    EXPECT_EQ(class_name_problem(name), "") << name;
  }
  EXPECT_NE(class_name_problem("").find("empty"), std::string::npos);
  EXPECT_NE(class_name_problem("2Fa").find("starts with a digit"), std::string::npos);
  EXPECT_NE(class_name_problem("Send-Email").find("contains '-'"), std::string::npos);
  EXPECT_NE(class_name_problem("Send\xc3\xa9").find("other than ASCII"), std::string::npos);
  EXPECT_NE(class_name_problem("Send__Email").find("reserves"), std::string::npos);
  EXPECT_NE(class_name_problem("_Send").find("reserves"), std::string::npos);
  EXPECT_NE(class_name_problem("delete").find("keyword"), std::string::npos);
  EXPECT_NE(class_name_problem("jobq").find("namespace"), std::string::npos);
}

TEST(ResolveNames, FromAClassName) {
  const auto resolved = resolve_names(NameRequest{.name = "SendWelcomeEmail"});
  ASSERT_TRUE(resolved.ok()) << resolved.problem;
  EXPECT_EQ(resolved.names.class_name, "SendWelcomeEmail");
  EXPECT_EQ(resolved.names.type_name, "email:send_welcome");
  EXPECT_EQ(resolved.names.file_stem, "send_welcome_email");
  EXPECT_EQ(resolved.names.variable, "send_welcome_email");
}

TEST(ResolveNames, FromATypeName) {
  const auto resolved = resolve_names(NameRequest{.name = "reports:generate"});
  ASSERT_TRUE(resolved.ok()) << resolved.problem;
  EXPECT_EQ(resolved.names.class_name, "GenerateReports");
  EXPECT_EQ(resolved.names.type_name, "reports:generate");
  EXPECT_EQ(resolved.names.file_stem, "generate_reports");
}

TEST(ResolveNames, OverridesSupplyTheOtherName) {
  auto resolved = resolve_names(NameRequest{.name = "SendWelcomeEmail", .type_name = "emails:welcome"});
  ASSERT_TRUE(resolved.ok()) << resolved.problem;
  EXPECT_EQ(resolved.names.type_name, "emails:welcome");

  resolved = resolve_names(NameRequest{.name = "reports:generate", .class_name = "GenerateReport"});
  ASSERT_TRUE(resolved.ok()) << resolved.problem;
  EXPECT_EQ(resolved.names.class_name, "GenerateReport");
  EXPECT_EQ(resolved.names.file_stem, "generate_report");

  resolved = resolve_names(NameRequest{.name = "Cleanup", .type_name = "sessions:cleanup"});
  EXPECT_TRUE(resolved.ok()) << resolved.problem;
}

TEST(ResolveNames, AKeywordVariableGetsASuffix) {
  const auto resolved = resolve_names(NameRequest{.name = "x:y", .class_name = "New"});
  ASSERT_TRUE(resolved.ok()) << resolved.problem;
  EXPECT_EQ(resolved.names.file_stem, "new");
  EXPECT_EQ(resolved.names.variable, "new_job");
}

TEST(ResolveNames, RefusesBadNamesWithTheRegistrysWords) {
  auto problem = [](NameRequest request) { return resolve_names(request).problem; };
  EXPECT_NE(problem({.name = "Reports:generate"}).find("the category contains 'R'"), std::string::npos);
  EXPECT_NE(problem({.name = "a:b:c"}).find("exactly one ':'"), std::string::npos);
  EXPECT_NE(problem({.name = "reports:"}).find("the action is empty"), std::string::npos);
  EXPECT_NE(problem({.name = "SendEmail", .type_name = "email"}).find("category:action"), std::string::npos);
  EXPECT_NE(problem({.name = "Send-Email"}).find("invalid class name"), std::string::npos);
  EXPECT_NE(problem({.name = "reports:2fa"}).find("pass --class"), std::string::npos);
  EXPECT_NE(problem({.name = "a:b", .class_name = "2x"}).find("invalid class name '2x'"), std::string::npos);
  EXPECT_NE(problem({.name = "Cleanup"}).find("one word"), std::string::npos);
  EXPECT_NE(problem({.name = ""}).find("empty"), std::string::npos);
}

TEST(ResolveNames, RefusesAnOverrideOfTheNameGiven) {
  EXPECT_NE(resolve_names({.name = "a:b", .type_name = "c:d"}).problem.find("--type goes with a class name"),
            std::string::npos);
  EXPECT_NE(resolve_names({.name = "SendEmail", .class_name = "X"}).problem.find("--class goes with a type name"),
            std::string::npos);
}

}  // namespace

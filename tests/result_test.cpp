// Result's accessors check which side they read, in the user's debug builds (assert). This file
// is compiled with assertions on whatever the build type, as a user's Debug build would be.
#undef NDEBUG
#include <gtest/gtest.h>

#include "jobq/error.hpp"

namespace {

TEST(ResultDeathTest, ReadingTheValueOfAnErrorAsserts) {
  const jobq::Result<int> refused = jobq::Error(jobq::Errc::queue_full);
  EXPECT_DEATH((void)*refused, "value\\(\\) of an error");
  EXPECT_DEATH((void)refused.value(), "value\\(\\) of an error");
}

TEST(ResultDeathTest, ReadingTheErrorOfAValueAsserts) {
  const jobq::Result<int> accepted = 7;
  EXPECT_DEATH((void)accepted.error(), "error\\(\\) of a value");
}

TEST(Result, TheRightSideReadsBack) {
  const jobq::Result<int> accepted = 7;
  const jobq::Result<int> refused = jobq::Error(jobq::Errc::queue_full, "detail");
  EXPECT_EQ(*accepted, 7);
  EXPECT_EQ(accepted.code(), jobq::Errc{});
  EXPECT_EQ(refused.error().code(), jobq::Errc::queue_full);
  EXPECT_EQ(refused.error().message(), "queue full: detail");
}

}  // namespace

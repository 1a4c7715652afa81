// The "payments" durable queue the durable-queue tests run on, beside the in-memory "default".
#pragma once

#include <memory>
#include <utility>

#include "durable_support.hpp"
#include "jobq/jobq.hpp"
#include "jobq/redis.hpp"

namespace jobq::testing::payments {

/// "default" in memory and "payments" on `lane`, with `workers` threads.
inline jobq::Config durable_config(std::shared_ptr<jobq::redis::Lane> lane, unsigned workers = 2) {
  return jobq::testing::durable_config(std::move(lane), "payments", workers);
}

}  // namespace jobq::testing::payments

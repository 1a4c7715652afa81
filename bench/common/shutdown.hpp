// Checking a Manager's shutdown report at the end of a benchmark: every job the benchmark sent
// must be accounted for as succeeded, or its figures are not worth reporting.
#pragma once

#include <cstdint>
#include <string>

#include <jobq/jobq.hpp>

namespace jobq_bench {

/// Empty when `report` balances and shows `expected` jobs succeeded and none failed; otherwise
/// what it shows instead, for SkipWithError.
inline std::string unaccounted_jobs(const jobq::ShutdownReport& report, std::uint64_t expected) {
  if (report.balanced() && report.succeeded == expected && report.failed == 0) return {};
  return "the shutdown report does not account for every job: succeeded " + std::to_string(report.succeeded) +
         ", failed " + std::to_string(report.failed) + ", expected " + std::to_string(expected);
}

}  // namespace jobq_bench

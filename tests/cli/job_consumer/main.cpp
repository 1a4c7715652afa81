// Registers the two jobs that `jobq make:job` wrote, dispatches one of each through its typed
// helper, and checks that each ran on its own queue and that the books balance.
#include <jobq/jobq.hpp>

#include <chrono>
#include <cstdio>
#include <string_view>

#include "generate_reports.hpp"
#include "send_welcome_email.hpp"

namespace {

bool ran_one_job(const jobq::ShutdownReport& report, std::string_view queue) {
  for (const jobq::QueueStats& stats : report.queues) {
    if (stats.name == queue) return stats.accepted == 1 && stats.succeeded == 1;
  }
  return false;
}

}  // namespace

int main() {
  jobq::Manager queues(jobq::Config{.queues = {{.name = "emails"}, {.name = "reports"}}});
  // As `jobq make:job` prints them.
  auto& send_welcome_email = queues.emplace_job<SendWelcomeEmail>();
  auto& generate_reports = queues.emplace_job<GenerateReports>();
  queues.start();

  const bool dispatched = send_welcome_email.queue("42").ok() && generate_reports.queue("2026-11-27").ok();
  const jobq::ShutdownReport report = queues.shutdown(std::chrono::seconds(10));
  std::printf("generated jobs: accepted %llu, succeeded %llu, failed %llu, not run %zu\n",
              static_cast<unsigned long long>(report.accepted), static_cast<unsigned long long>(report.succeeded),
              static_cast<unsigned long long>(report.failed), report.not_run.size());
  const bool books = report.balanced() && report.succeeded == 2 && ran_one_job(report, "emails") &&
                     ran_one_job(report, "reports");
  return dispatched && books ? 0 : 1;
}

// The books the test expects, and the checks that compare them with what the service reports:
// /inspect to learn when every job has finished, /metrics (as a scraper reads it) for the counts.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "prometheus_samples.hpp"
#include "service_client.hpp"
#include "service_process.hpp"

namespace http_service_test {

using webapp::api::Inspection;

// Generous, because sanitizer builds run several times slower and ctest runs tests side by side;
// a healthy run settles in a fraction of it.
constexpr auto settle_timeout = std::chrono::seconds(60);
constexpr auto poll_interval = std::chrono::milliseconds(10);

/// What /metrics must say for a queue, and for the one job type that runs on it.
struct Books {
  std::uint64_t accepted = 0;
  std::uint64_t rejected = 0;
  std::uint64_t succeeded = 0;
  std::uint64_t failed = 0;
  std::uint64_t retried = 0;
  std::uint64_t dead_lettered = 0;
};

struct Plan {
  Books emails;  // the queue's books; emails:welcome is the only type on it
  Books reports;
  std::uint64_t dead_letters = 0;
};

/// True when every accepted job has reached its end: none waits, none is scheduled (a retry
/// pending), none runs.
inline bool settled(const Inspection& view) {
  bool idle = view.in_flight.empty();
  for (const webapp::api::QueueView& queue : view.queues) {
    const webapp::api::Counters& jobs = queue.counters;
    idle &= queue.depth == 0 && queue.scheduled == 0 && queue.in_flight == 0 &&
            jobs.succeeded + jobs.dead_lettered + jobs.revoked == jobs.accepted;
  }
  return idle;
}

/// Polls /inspect until every accepted job has reached its end (retries included).
inline Inspection wait_until_settled(Checks& checks, ServiceClient& client, const std::string& phase) {
  const auto deadline = Clock::now() + settle_timeout;
  for (;;) {
    std::optional<Inspection> view = client.inspect();
    if (view && settled(*view)) return *view;
    if (Clock::now() >= deadline) {
      checks.that(false, phase + ": every job finished within the time allowed");
      return view.value_or(Inspection{});
    }
    std::this_thread::sleep_for(poll_interval);
  }
}

/// Scrapes /metrics and checks every counter of the plan, per queue and per job type.
inline void check_metrics(Checks& checks, ServiceClient& client, const Plan& plan, const std::string& phase) {
  const Reply scraped = client.get("/metrics");
  checks.status(phase + ": GET /metrics", scraped, 200);
  checks.equal(phase + ": /metrics content type", scraped.content_type, "text/plain; version=0.0.4");
  const PrometheusSamples samples(scraped.body);
  checks.equal(phase + ": malformed sample lines", samples.malformed_lines(), 0u);
  struct Row {
    std::string label;
    const Books* books;
  };
  const Row rows[] = {{R"(queue="emails")", &plan.emails},
                      {R"(type="emails:welcome")", &plan.emails},
                      {R"(queue="reports")", &plan.reports},
                      {R"(type="reports:generate")", &plan.reports}};
  for (const auto& [label, books] : rows) {
    const std::string family = label.starts_with("queue") ? "jobq_queue_" : "jobq_type_";
    auto sample = [&](const std::string& name) { return samples.find(family + name + "_total", label).value_or(-1); };
    const std::pair<const char*, std::uint64_t> counters[] = {
        {"accepted", books->accepted}, {"rejected", books->rejected},     {"succeeded", books->succeeded},
        {"failed", books->failed},     {"retried", books->retried},       {"dead_lettered", books->dead_lettered}};
    for (const auto& [name, expected] : counters) {
      checks.equal(phase + ": " + family + name + "_total{" + label + "}", sample(name), static_cast<double>(expected));
    }
    checks.that(sample("succeeded") + sample("dead_lettered") == sample("accepted"),
                phase + ": every accepted job succeeded or was dead-lettered, for " + label);
    if (family == "jobq_queue_") {
      checks.equal(phase + ": depth{" + label + "}", samples.find("jobq_queue_depth", label).value_or(-1), 0.0);
      checks.equal(phase + ": in_flight{" + label + "}", samples.find("jobq_queue_in_flight", label).value_or(-1), 0.0);
    }
  }
  checks.equal(phase + ": jobq_dead_letters", samples.find("jobq_dead_letters").value_or(-1),
               static_cast<double>(plan.dead_letters));
}

}  // namespace http_service_test

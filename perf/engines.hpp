// The implementations under test, behind one small interface the producer loop is templated on:
// submit(payload) → false when the queue is full (the producer retries), finish() → a problem
// description, empty when every job was accounted for.
//
//   jobq-spin / jobq-park  one jobq queue with `workers` workers, IdleStrategy busy_spin or
//                          spin_then_park; typed dispatch of LoadPayload, bound in the handler.
//   pool                   CondvarPool with the same workers and CPUs. The producer serializes the
//                          same LoadPayload to the same JSON (jobq::to_json) into a string with
//                          simdjson's padding and submits a std::function that binds it with the
//                          same Message::bind. Its per-job allocations (the string, the function's
//                          closure) are part of what such a pool costs.
#pragma once

#include <simdjson.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <jobq/jobq.hpp>

#include "affinity.hpp"
#include "baselines/condvar_pool.hpp"
#include "load_job.hpp"
#include "service_time.hpp"

namespace jobq_perf {

enum class Engine { jobq_spin, jobq_park, pool };

inline std::string_view engine_name(Engine engine) {
  switch (engine) {
    case Engine::jobq_spin: return "jobq-spin";
    case Engine::jobq_park: return "jobq-park";
    case Engine::pool: return "pool";
  }
  return "?";
}

inline std::optional<Engine> parse_engine(std::string_view name) {
  for (Engine engine : {Engine::jobq_spin, Engine::jobq_park, Engine::pool}) {
    if (engine_name(engine) == name) return engine;
  }
  return std::nullopt;
}

/// What every implementation is given.
struct Setup {
  unsigned workers = 1;
  ServiceTime service = ServiceTime::fixed(10'000);
  std::size_t payload_bytes = 64;
  bool pin = true;
  std::size_t capacity = std::size_t{1} << 18;  // jobq's bound; the pool's deque is unbounded
  unsigned dequeue_batch = 8;
  unsigned spin_iterations = 4096;
};

class JobqEngine {
 public:
  JobqEngine(const Setup& setup, jobq::IdleStrategy idle, const std::vector<unsigned>& cpus, Recorders& recorders)
      : manager_(jobq::Config{.queues = {jobq::QueueConfig{.name = "load",
                                                           .workers = setup.workers,
                                                           .cpus = cpus,
                                                           .capacity = setup.capacity,
                                                           .idle = idle,
                                                           .spin_iterations = setup.spin_iterations,
                                                           .dequeue_batch = setup.dequeue_batch}}}) {
    const ServiceTime* service = &setup.service;
    Recorders* sink = &recorders;
    manager_.register_handler(
        load_job_type,
        [service, sink](jobq::Context&, const jobq::Message& message) {
          run_load_job(message, *service, *sink);
          return jobq::Status::success();
        },
        jobq::RegisterOptions{.queue = "load"});
    manager_.start();
  }

  bool submit(const LoadPayload& payload) {
    const jobq::Result<jobq::JobId> id = manager_.dispatch(jobq::Job(load_job_type), payload);
    if (id) [[likely]] return true;
    if (id.code() == jobq::Errc::queue_full) return false;
    std::fprintf(stderr, "jobq perf: dispatch failed: %s\n", id.error().message().c_str());
    std::abort();
  }

  /// Shuts down and checks the books: every one of `expected` jobs accepted and succeeded.
  std::string finish(std::uint64_t expected) {
    const jobq::ShutdownReport report = manager_.shutdown(std::chrono::seconds(10));
    std::string problem;
    if (!report.balanced()) problem += "jobq report does not balance; ";
    if (report.accepted != expected || report.succeeded != expected || report.failed != 0 || !report.not_run.empty()) {
      problem += "jobq accepted " + std::to_string(report.accepted) + ", succeeded " +
                 std::to_string(report.succeeded) + ", failed " + std::to_string(report.failed) + ", not run " +
                 std::to_string(report.not_run.size()) + ", expected " + std::to_string(expected) + "; ";
    }
    return problem;
  }

 private:
  jobq::Manager manager_;
};

class PoolEngine {
 public:
  PoolEngine(const Setup& setup, const std::vector<unsigned>& cpus, Recorders& recorders)
      : service_(&setup.service),
        recorders_(&recorders),
        pool_(setup.workers, [&cpus](unsigned index) {
          pin_this_thread(cpus.empty() ? -1 : static_cast<int>(cpus[index % cpus.size()]));
        }) {}

  bool submit(const LoadPayload& payload) {
    const jobq::Result<std::string> json = jobq::to_json(payload);
    std::string text;
    text.reserve(json->size() + simdjson::SIMDJSON_PADDING);
    text.append(*json);
    pool_.post([text = std::move(text), service = service_, recorders = recorders_]() mutable {
      // A moved std::string keeps its buffer; reserve again only if a copy lost the padding.
      if (text.capacity() < text.size() + simdjson::SIMDJSON_PADDING) text.reserve(text.size() + simdjson::SIMDJSON_PADDING);
      const jobq::Message message(load_job_type, 0, text, text.capacity());
      run_load_job(message, *service, *recorders);
    });
    return true;
  }

  std::string finish(std::uint64_t) {
    pool_.join();
    return {};
  }

 private:
  const ServiceTime* service_;
  Recorders* recorders_;
  jobq_bench::CondvarPool pool_;
};

}  // namespace jobq_perf

// A fixed, small workload for callgrind (perf/callgrind.sh): N typed jobs (default 100 000)
// dispatched by the main thread to one queue with one busy_spin worker, the capacity larger than
// N so that no dispatch is refused. The handler binds the payload and does nothing else, so the
// worker's cost per job is the engine's plus the bind.
//
// The dispatch goes through a volatile member-function pointer, so that Manager::dispatch<Order>
// stays one out-of-line function that callgrind can report inclusively (inlined into main, its
// cost would be spread over main's own lines).
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include <jobq/jobq.hpp>

namespace {

struct Order {
  std::uint64_t id = 0;
  std::string sku;
};
JOBQ_PAYLOAD(Order, id, sku);

std::uint64_t checksum = 0;  // written by the worker only, read after shutdown

}  // namespace

int main(int argc, char** argv) {
  const std::uint64_t jobs = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 100'000;
  if (jobs == 0) {
    std::fprintf(stderr, "usage: jobq_callgrind_driver [jobs]\n");
    return 2;
  }
  jobq::Manager manager(jobq::Config{.queues = {jobq::QueueConfig{.name = "cg",
                                                                  .workers = 1,
                                                                  .capacity = jobs + 1024,
                                                                  .idle = jobq::IdleStrategy::busy_spin}}});
  manager.register_handler(
      "perf:order",
      [](jobq::Context&, const jobq::Message& message) {
        Order order;
        if (jobq::Status bound = message.bind(order); !bound) return bound;
        checksum += order.id + order.sku.size();
        return jobq::Status::success();
      },
      jobq::RegisterOptions{.queue = "cg"});
  manager.start();

  using Dispatch = jobq::Result<jobq::JobId> (jobq::Manager::*)(const jobq::Job&, const Order&);
  Dispatch volatile dispatch = &jobq::Manager::dispatch<const Order&>;
  Order order{.id = 0, .sku = "SKU-12345-BLUE"};
  const jobq::Job job("perf:order");
  for (std::uint64_t i = 0; i < jobs; ++i) {
    order.id = i;
    if (!(manager.*dispatch)(job, order)) {
      std::fprintf(stderr, "dispatch %llu refused\n", static_cast<unsigned long long>(i));
      return 1;
    }
  }
  while (manager.stats("cg").succeeded < jobs) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const jobq::ShutdownReport report = manager.shutdown(std::chrono::seconds(10));
  const std::uint64_t expected_ids = jobs * (jobs - 1) / 2;
  const bool ok = report.balanced() && report.succeeded == jobs && checksum == expected_ids + jobs * 14;
  std::printf("jobs %llu, succeeded %llu, %s\n", static_cast<unsigned long long>(jobs),
              static_cast<unsigned long long>(report.succeeded), ok ? "all accounted for" : "MISMATCH");
  return ok ? 0 : 1;
}

#include <jobq/jobq.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>

struct Greeting {
  std::string name;
};
JOBQ_PAYLOAD(Greeting, name);

int main() {
  jobq::Manager queues(jobq::Config{});
  std::atomic<int> ran{0};
  queues.register_handler("greetings:send", [&ran](jobq::Context&, const jobq::Message& message) {
    Greeting greeting;
    if (jobq::Status status = message.bind(greeting); !status) return status;
    ran.fetch_add(1);
    return jobq::Status::success();
  });
  queues.start();
  for (const char* name : {"ada", "grace", "barbara"}) {
    if (!queues.dispatch(jobq::Job("greetings:send"), Greeting{name})) return 1;
  }
  const jobq::ShutdownReport report = queues.shutdown(std::chrono::seconds(10));
  std::printf("consumer ran %d jobs\n", ran.load());
  return report.balanced() && ran.load() == 3 ? 0 : 1;
}

// An outside program with the console: mounted on a cpp-httplib server of its own (the layout of
// httplib's classes must agree between this program and libjobq-console) and read back over
// HTTP with the console's JSON structs. Prints "consumer ran 3 jobs" when the console shows them.
#include <httplib.h>
#include <jobq/console.hpp>
#include <jobq/console_api.hpp>
#include <jobq/jobq.hpp>

#include <chrono>
#include <iostream>
#include <thread>

int main() {
  jobq::Manager queues(jobq::Config{.log_level = jobq::LogLevel::error});
  queues.register_handler("consumer:ping", [](jobq::Context&, const jobq::Message&) { return jobq::Status::success(); });
  queues.start();
  for (int i = 0; i < 3; ++i) {
    if (!queues.dispatch(jobq::Job("consumer:ping").payload("{}")).ok()) return 1;
  }
  if (!queues.wait_idle(std::chrono::seconds(30))) return 1;

  jobq::console::Console console(queues, {.prefix = "/jobq", .log = [](jobq::LogLevel, std::string_view) {}});
  httplib::Server server;
  console.mount(server);
  const int port = server.bind_to_any_port("127.0.0.1");
  std::thread listener([&] { server.listen_after_bind(); });
  while (!server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  httplib::Client client("127.0.0.1", port);
  const httplib::Result answer = client.Get("/jobq/api/queues");
  jobq::console::api::Overview overview;
  const bool read = answer && answer->status == 200 && jobq::from_json(answer->body, overview).ok();
  server.stop();
  listener.join();
  if (!read || overview.queues.size() != 1 || overview.queues[0].counters.succeeded != 3) {
    std::cerr << "the console did not show 3 jobs: " << (answer ? answer->body : "no answer") << '\n';
    return 1;
  }
  std::cout << "consumer ran " << overview.queues[0].counters.succeeded << " jobs (the console says so)\n";
  return 0;
}

// An outside program on a durable queue, built against the installed jobq::redis (CMake
// component and pkg-config file): `consumer SOCKET` runs a typed, a raw and a retried job through
// the redis-server listening on SOCKET, and says so.
#include <jobq/jobq.hpp>
#include <jobq/redis.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>

struct Parcel {
  std::string city;
  int weight = 0;
};
JOBQ_PAYLOAD(Parcel, city, weight);

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: consumer SOCKET\n");
    return 2;
  }
  jobq::redis::Options options;
  options.unix_socket = argv[1];
  options.poll_every = std::chrono::milliseconds(10);
  auto lane = jobq::redis::make_lane(options);
  jobq::Config config;
  config.retry.backoff = [](std::uint32_t, const jobq::Status&, const jobq::Message&) {
    return std::chrono::milliseconds(5);
  };
  config.queues = {jobq::QueueConfig{.name = "default"}, jobq::QueueConfig{.name = "parcels", .lane = lane}};
  jobq::Manager queues(config);
  std::atomic<int> good{0};
  queues.register_handler("parcels:ship", [&](jobq::Context& context, const jobq::Message& message) {
    Parcel parcel;
    if (const jobq::Status bound = message.bind(parcel); !bound) return bound;
    if (parcel.city != "Kraków" || parcel.weight != 7) return jobq::Status::skip_retry("wrong parcel");
    if (message.payload().find("retry") != std::string_view::npos && context.attempt() == 1) {
      return jobq::Status::error("first attempt fails");
    }
    good.fetch_add(1);
    return jobq::Status::success();
  }, {.queue = "parcels"});
  queues.start();
  const bool typed = queues.dispatch(jobq::Job("parcels:ship"), Parcel{"Kraków", 7}).ok();
  const bool raw = queues.dispatch(jobq::Job("parcels:ship").payload(R"({"city":"Kraków","weight":7})")).ok();
  const bool retried =
      queues.dispatch(jobq::Job("parcels:ship").payload(R"({"city":"Kraków","weight":7,"retry":true})")).ok();
  const bool idle = queues.wait_idle(std::chrono::seconds(30));
  const jobq::ShutdownReport report = queues.shutdown(std::chrono::seconds(5));
  if (!typed || !raw || !retried || !idle || good.load() != 3 || !report.balanced()) {
    std::printf("consumer failed: dispatched %d %d %d, idle %d, %d good runs\n", typed, raw, retried, idle, good.load());
    return 1;
  }
  std::printf("consumer ran 3 durable jobs\n");
  return 0;
}

// The shop's payments on a durable queue, run as a fleet of processes: web processes dispatch
// card charges to Redis and run none; worker processes, as many as the load needs, run them. A
// worker process that dies loses nothing: its leased charges run again elsewhere, and the
// idempotency key (the order id) keeps a retried dispatch from charging twice.
//
//   jobq_example_shop_payments storefront SOCKET ORDERS   dispatch ORDERS charges, wait until the
//                                                         fleet has settled them, print the dead letters
//   jobq_example_shop_payments worker SOCKET              run charges until SIGTERM or SIGINT, then
//                                                         print what this process charged
//
// examples/shop/payments_fleet.sh starts a redis-server, three workers and a storefront, and checks
// the fleet's books.
#include <jobq/jobq.hpp>
#include <jobq/redis.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>
#include <thread>

#include <unistd.h>

#include "charge_card.hpp"
#include "services.hpp"

namespace {

std::atomic<bool> stop_requested{false};
extern "C" void request_stop(int) { stop_requested.store(true); }

jobq::Config fleet_config(std::shared_ptr<jobq::redis::Lane> lane, unsigned workers) {
  jobq::Config config;
  config.queues = {jobq::QueueConfig{.name = "default"},
                   jobq::QueueConfig{.name = "payments", .workers = workers, .lane = std::move(lane)}};
  // A declined card: three attempts in all, 20 ms apart here (minutes in a real shop).
  config.retry = jobq::RetryPolicy{.max_attempts = 3, .backoff = [](std::uint32_t, const jobq::Status&, const jobq::Message&) {
                                     return std::chrono::nanoseconds(std::chrono::milliseconds(20));
                                   }};
  config.log_level = jobq::LogLevel::error;  // a dead letter per declined card is expected here
  return config;
}

jobq::redis::Options redis_at(std::string_view socket) {
  jobq::redis::Options options;
  options.unix_socket = socket;
  options.lease = std::chrono::seconds(2);  // a dead worker's charges run again within seconds
  options.poll_every = std::chrono::milliseconds(10);
  return options;
}

int storefront(std::string_view socket, int orders) {
  shop::PaymentGateway unused;  // a web process runs no charge: the job class is here to dispatch
  auto lane = jobq::redis::make_lane(redis_at(socket));
  jobq::Manager queues(fleet_config(lane, 0));  // 0 workers: dispatch only
  queues.emplace_job<shop::ChargeCard>(unused);
  queues.start();
  int accepted = 0;
  for (int order = 0; order < orders; ++order) {
    const std::string order_id = "order-" + std::to_string(order);
    const bool declines = order % 10 == 9;
    const auto id = queues.dispatch(jobq::Job(shop::ChargeCard::type_name).idempotency_key(order_id),
                                    shop::ChargeCardPayload{order_id,
                                                            std::string(declines ? shop::PaymentGateway::declined_test_card
                                                                                 : "4242424242424242"),
                                                            1999});
    if (id) ++accepted;
    else std::cerr << "could not queue " << order_id << ": " << id.error().message() << '\n';
  }
  // Waits for the fleet: nothing ready, leased or scheduled is left in Redis.
  const bool settled = queues.wait_idle(std::chrono::seconds(120));
  const auto dead = lane->dead_letters(0, 1);
  std::cout << "storefront: " << accepted << " charges dispatched; fleet settled: " << (settled ? "yes" : "NO")
            << "; dead letters in Redis: " << (dead ? std::to_string(dead->total) : dead.error().message()) << '\n';
  queues.shutdown(std::chrono::seconds(5));
  return settled && accepted == orders ? 0 : 1;
}

int worker(std::string_view socket) {
  shop::PaymentGateway gateway;
  auto lane = jobq::redis::make_lane(redis_at(socket));
  jobq::Manager queues(fleet_config(lane, 2));
  queues.emplace_job<shop::ChargeCard>(gateway);
  std::signal(SIGTERM, request_stop);
  std::signal(SIGINT, request_stop);
  queues.start();
  while (!stop_requested.load()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  // Finishes what it holds, hands the rest back to Redis for the others.
  const jobq::ShutdownReport report = queues.shutdown(std::chrono::seconds(5), jobq::ShutdownMode::return_pending);
  std::cout << "worker " << ::getpid() << ": charged " << gateway.charged() << ", declined attempts "
            << gateway.declined() << ", handed back " << report.handed_back << ", books "
            << (report.balanced() ? "balanced" : "NOT balanced") << '\n';
  return report.balanced() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string_view role = argc > 1 ? argv[1] : "";
  if (role == "storefront" && argc == 4) return storefront(argv[2], std::atoi(argv[3]));
  if (role == "worker" && argc == 3) return worker(argv[2]);
  std::cerr << "usage: " << argv[0] << " storefront SOCKET ORDERS | worker SOCKET\n";
  return 2;
}

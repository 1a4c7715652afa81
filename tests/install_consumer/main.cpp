// An outside program built against the installed jobq, once per variant of the
// consumer_build_matrix test (CMake Debug, no build type, RelWithDebInfo, -O3, clang++-14,
// pkg-config at -O0). Payload structs are bound and serialized inside the compiled library, from a
// description made in this file, so every build of this file must agree with the library about
// every field: each job checks each field it receives, and any mismatch is printed and fails.
#include <jobq/jobq.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace shop {  // JOBQ_PAYLOAD in a namespace, as users write it

struct Address {
  std::string city;
  std::optional<int> floor;
};
JOBQ_PAYLOAD(Address, city, floor);

struct Order {
  std::string customer;
  std::vector<std::string> items;
  std::vector<int> quantities;
  std::optional<int> coupon;
  std::optional<int> note;  // stays empty: absent from the raw JSON
  Address ship_to;
};
JOBQ_PAYLOAD(Order, customer, items, quantities, coupon, note, ship_to);

// Longer than any small-string buffer, and not ASCII, so that a wrong string layout or a lost
// byte shows.
Order sample() {
  return Order{.customer = "Zoë Ünlü, who orders more than a short string holds",
               .items = {"tea", "a kettle with a name too long for the small-string buffer", ""},
               .quantities = {3, -1, 2147483647},
               .coupon = 15,
               .note = std::nullopt,
               .ship_to = Address{.city = "Kraków", .floor = 4}};
}

// The same order as raw JSON, with an unknown key, which binding ignores.
constexpr const char* sample_json =
    R"({"customer":"Zoë Ünlü, who orders more than a short string holds",)"
    R"("items":["tea","a kettle with a name too long for the small-string buffer",""],)"
    R"("quantities":[3,-1,2147483647],"coupon":15,"unknown":true,)"
    R"("ship_to":{"city":"Kraków","floor":4}})";

// The first field that differs from sample(), or empty.
std::string mismatch(const Order& got) {
  const Order want = sample();
  if (got.customer != want.customer) return "customer is '" + got.customer + "'";
  if (got.items != want.items) return "items differ (" + std::to_string(got.items.size()) + " items)";
  if (got.quantities != want.quantities) return "quantities differ";
  if (got.coupon != want.coupon) return "coupon is " + (got.coupon ? std::to_string(*got.coupon) : "empty");
  if (got.note) return "note is " + std::to_string(*got.note) + ", expected empty";
  if (got.ship_to.city != want.ship_to.city) return "ship_to.city is '" + got.ship_to.city + "'";
  if (got.ship_to.floor != want.ship_to.floor) return "ship_to.floor differs";
  return {};
}

}  // namespace shop

// What the handlers saw, filled on worker threads, read after shutdown.
struct Checks {
  std::mutex mutex;
  std::vector<std::string> problems;
  void fail(std::string what) {
    const std::lock_guard lock(mutex);
    problems.push_back(std::move(what));
  }
  // Binds the message and checks every field; true when it matches sample().
  bool check(const char* job, const jobq::Message& message) {
    shop::Order order;
    if (const jobq::Status status = message.bind(order); !status) {
      fail(std::string(job) + ": bind failed: " + status.message());
      return false;
    }
    if (const std::string what = shop::mismatch(order); !what.empty()) {
      fail(std::string(job) + ": " + what);
      return false;
    }
    return true;
  }
};

int main() {
  // Handler state first: it must outlive the Manager, whose destructor may still run jobs.
  Checks checks;
  std::atomic<int> runs{0};
  std::atomic<int> flaky_runs{0};

  jobq::Manager queues(jobq::Config{});
  queues.register_handler("orders:typed", [&](jobq::Context&, const jobq::Message& message) {
    runs.fetch_add(1);
    checks.check("typed", message);
    if (message.get<shop::Order>() == nullptr) checks.fail("typed: the job did not carry its object");
    // The library serializes the object from this build's description of it; bind that back.
    shop::Order again;
    if (!jobq::from_json(message.payload(), again) || !shop::mismatch(again).empty()) {
      checks.fail("typed: payload() does not bind back: " + std::string(message.payload()));
    }
    return jobq::Status::success();
  });
  queues.register_handler("orders:raw", [&](jobq::Context&, const jobq::Message& message) {
    runs.fetch_add(1);
    checks.check("raw", message);
    return jobq::Status::success();
  });
  // Fails its first attempt; the retry must carry the payload intact. A constant 1 ms backoff
  // keeps the test fast.
  const jobq::RetryPolicy retry{
      .max_attempts = 3,
      .backoff = [](std::uint32_t, const jobq::Status&, const jobq::Message&) -> std::chrono::nanoseconds {
        return std::chrono::milliseconds(1);
      }};
  queues.register_handler(
      "orders:flaky",
      [&](jobq::Context& context, const jobq::Message& message) {
        runs.fetch_add(1);
        flaky_runs.fetch_add(1);
        checks.check(context.attempt() == 1 ? "flaky, attempt 1" : "flaky, retry", message);
        if (context.attempt() == 1) return jobq::Status::error("the first attempt fails on purpose");
        return jobq::Status::success();
      },
      jobq::RegisterOptions{.retry = retry});
  queues.start();

  int status = 0;
  auto expect = [&status](bool ok, const std::string& what) {
    if (!ok) {
      std::fprintf(stderr, "mismatch: %s\n", what.c_str());
      status = 1;
    }
  };

  // Typed (by copy and by move), then raw JSON bound into the same struct.
  const shop::Order order = shop::sample();
  auto dispatched = [&expect](const char* job, const jobq::Result<jobq::JobId>& result) {
    expect(result.ok(), std::string("dispatch ") + job + ": " + (result.ok() ? "" : result.error().message()));
  };
  dispatched("typed", queues.dispatch(jobq::Job("orders:typed"), order));
  dispatched("raw", queues.dispatch(jobq::Job("orders:raw").payload(shop::sample_json)));
  dispatched("flaky", queues.dispatch(jobq::Job("orders:flaky"), shop::sample()));

  // to_json / from_json outside the engine: the struct survives a round trip, and the raw text
  // binds to the same struct.
  const jobq::Result<std::string> json = jobq::to_json(order);
  expect(json.ok(), "to_json: " + (json.ok() ? std::string() : json.error().message()));
  if (json.ok()) {
    shop::Order back;
    const jobq::Status bound = jobq::from_json(*json, back);
    expect(bound.ok(), "from_json(to_json(order)): " + bound.message());
    expect(!bound.ok() || shop::mismatch(back).empty(), "round trip: " + shop::mismatch(back) + " in " + *json);
  }
  shop::Order parsed;
  const jobq::Status bound = jobq::from_json(shop::sample_json, parsed);
  expect(bound.ok(), "from_json(sample_json): " + bound.message());
  expect(!bound.ok() || shop::mismatch(parsed).empty(), "from_json(sample_json): " + shop::mismatch(parsed));

  // The retry waits in the timer, which shutdown freezes: let it run first.
  expect(queues.wait_idle(std::chrono::seconds(5)), "the jobs did not finish within 5 s");
  const jobq::ShutdownReport report = queues.shutdown(std::chrono::seconds(5));

  for (const std::string& problem : checks.problems) expect(false, problem);
  expect(report.balanced(), "the shutdown report does not balance");
  expect(report.drained && report.not_run.empty(), "shutdown returned jobs");
  expect(report.accepted == 3, "accepted " + std::to_string(report.accepted) + ", expected 3");
  expect(report.succeeded == 3, "succeeded " + std::to_string(report.succeeded) + ", expected 3");
  expect(report.dead_lettered == 0, "dead-lettered " + std::to_string(report.dead_lettered) + ", expected 0");
  expect(report.failed == 1 && report.retried == 1,
         "failed " + std::to_string(report.failed) + " and retried " + std::to_string(report.retried) +
             ", expected 1 and 1");
  expect(flaky_runs.load() == 2, "the flaky job ran " + std::to_string(flaky_runs.load()) + " times, expected 2");
  std::printf("consumer ran %llu jobs (%d runs, %llu retried)\n", static_cast<unsigned long long>(report.succeeded),
              runs.load(), static_cast<unsigned long long>(report.retried));
  return status;
}

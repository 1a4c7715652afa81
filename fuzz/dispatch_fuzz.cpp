// libFuzzer target for the path a payload takes from a producer to a handler: each input is
// dispatched raw (validated) and trusted to one running Manager, whose handler binds it into a
// payload struct with every supported kind of field.
//
// Besides "no crash, no sanitizer report", it checks what jobq promises about payloads:
// - a raw dispatch is accepted, or refused as invalid_payload / payload_too_large with a detail;
// - a trusted dispatch is accepted (nothing but the size limit can refuse it);
// - every accepted job runs, exactly once;
// - bytes that passed validation bind the same way raw and trusted;
// - a payload that binds serializes, and the serialized text binds back to an equal struct.
// Each input waits for its jobs to run before it returns, so a failure belongs to that input.
#include <jobq/jobq.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace fuzzed {

// A superset of the corpus test's orders::Order (tests/malformed_payload_test.cpp), so that the
// corpus's valid documents bind here too; the extra members are optional.
struct Address {
  std::string city;
  std::optional<std::string> zip;
  std::optional<std::vector<double>> location;
  bool operator==(const Address&) const = default;
};
JOBQ_PAYLOAD(Address, city, zip, location);

struct Line {
  std::string sku;
  std::uint32_t quantity;
  std::optional<double> price;
  std::optional<std::vector<std::int16_t>> bins;
  bool operator==(const Line&) const = default;
};
JOBQ_PAYLOAD(Line, sku, quantity, price, bins);

struct Order {
  std::string id;
  std::int64_t customer;
  double total;
  bool gift;
  std::optional<std::string> note;
  std::vector<std::string> tags;
  std::vector<Line> lines;
  Address ship_to;
  std::optional<Address> bill_to;
  std::optional<std::uint64_t> total_cents;
  std::optional<float> discount;
  std::optional<std::int8_t> priority;
  std::optional<std::vector<std::uint8_t>> codes;
  bool operator==(const Order&) const = default;
};
JOBQ_PAYLOAD(Order, id, customer, total, gift, note, tags, lines, ship_to, bill_to, total_cents, discount, priority,
             codes);

}  // namespace fuzzed

namespace {

[[noreturn]] void violated(const char* promise, std::string_view detail = {}) {
  std::fprintf(stderr, "dispatch_fuzz: %s: %.*s\n", promise, static_cast<int>(detail.size()), detail.data());
  std::abort();
}

/// What a handler saw for the last job it ran. Each door has its own job type, so its own handler,
/// and each writes its outcome before it bumps its counter.
struct Door {
  std::atomic<std::uint64_t> runs{0};
  std::uint64_t accepted = 0;  // dispatches accepted through this door, counted by the fuzzing thread
  bool bound = false;
  std::string message;
};
Door raw_door;
Door trusted_door;

jobq::Status bind_and_round_trip(const jobq::Message& message) {
  fuzzed::Order order;
  jobq::Status status = message.bind(order);
  if (status.ok()) {
    const jobq::Result<std::string> text = jobq::to_json(order);
    if (!text.ok()) violated("a bound payload does not serialize", text.error().message());
    fuzzed::Order again;
    const jobq::Status rebound = jobq::from_json(*text, again);
    if (!rebound.ok()) violated("serialized text does not bind back", rebound.message() + " in " + *text);
    if (!(again == order)) violated("serialized text binds back to a different struct", *text);
  } else if (status.kind() != jobq::Status::Kind::skip_retry || status.message().empty()) {
    violated("a failed bind is not skip_retry with a message", status.message());
  }
  return status;
}

jobq::Manager& manager() {
  // Quiet: most inputs end as dead letters, and a warning per input would bury libFuzzer's output.
  static jobq::Manager queues(jobq::Config{.queues = {{.name = "default", .workers = 1, .dequeue_batch = 1}},
                                           .log_level = jobq::LogLevel::off});
  return queues;
}

jobq::Status run_door(Door& door, const jobq::Message& message) {
  jobq::Status status = bind_and_round_trip(message);
  door.bound = status.ok();
  door.message = status.message();
  door.runs.fetch_add(1, std::memory_order_release);
  return status;
}

/// Waits until the door's handler has run every job accepted through it.
void await(const Door& door) {
  for (;;) {
    const std::uint64_t runs = door.runs.load(std::memory_order_acquire);
    if (runs == door.accepted) return;
    if (runs > door.accepted) violated("a job ran twice");
    std::this_thread::yield();
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  jobq::Manager& queues = manager();
  queues.register_handler("fuzz:raw", [](jobq::Context&, const jobq::Message& message) {
    return run_door(raw_door, message);
  });
  queues.register_handler("fuzz:trusted", [](jobq::Context&, const jobq::Message& message) {
    return run_door(trusted_door, message);
  });
  queues.start();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  jobq::Manager& queues = manager();
  const std::string_view payload(reinterpret_cast<const char*>(data), size);

  const jobq::Result<jobq::JobId> raw = queues.dispatch(jobq::Job("fuzz:raw").payload(payload));
  if (raw.ok()) {
    ++raw_door.accepted;
  } else {
    if (raw.code() != jobq::Errc::invalid_payload && raw.code() != jobq::Errc::payload_too_large) {
      violated("a raw dispatch was refused for a reason other than its payload", raw.error().message());
    }
    if (raw.error().detail().empty()) violated("a refused payload has no detail");
  }
  const jobq::Result<jobq::JobId> trusted = queues.dispatch(jobq::Job("fuzz:trusted").payload(payload).trusted());
  if (trusted.ok()) {
    ++trusted_door.accepted;
  } else if (trusted.code() != jobq::Errc::payload_too_large) {
    violated("a trusted dispatch was refused", trusted.error().message());
  }
  await(raw_door);
  await(trusted_door);
  if (raw.ok() && trusted.ok() &&
      (raw_door.bound != trusted_door.bound || raw_door.message != trusted_door.message)) {
    violated("validated bytes bind differently raw and trusted", raw_door.message + " | " + trusted_door.message);
  }
  return 0;
}

// Every file of tests/corpus/payloads goes through both doors: a raw dispatch that validates it,
// and a trusted dispatch whose handler binds it. Each file has one expected outcome per door, in
// the table below, and every job that was accepted must be accounted for at shutdown.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "jobq/jobq.hpp"
#include "test_support.hpp"

#ifndef JOBQ_CORPUS_DIR
#error "JOBQ_CORPUS_DIR must name tests/corpus/payloads"
#endif

namespace orders {

struct Address {
  std::string city;
  std::optional<std::string> zip;
};
JOBQ_PAYLOAD(Address, city, zip);

struct Line {
  std::string sku;
  std::uint32_t quantity;
};
JOBQ_PAYLOAD(Line, sku, quantity);

/// The shape that the corpus's well-formed documents almost fit (tests/corpus/payloads/valid-order.json).
struct Order {
  std::string id;
  std::int64_t customer;
  double total;
  bool gift;
  std::optional<std::string> note;
  std::vector<std::string> tags;
  std::vector<Line> lines;
  Address ship_to;
  std::optional<float> discount;
};
JOBQ_PAYLOAD(Order, id, customer, total, gift, note, tags, lines, ship_to, discount);

}  // namespace orders

namespace {

using jobq::Errc;

/// What one corpus file does at each door.
struct Expected {
  std::string_view file;
  /// The raw, validated dispatch: accepted (Errc{}) or refused with this code...
  Errc raw;
  /// ...and a detail that starts with this (the validator's error name).
  std::string_view rejection;
  /// The handler's bind of the same bytes: empty when it binds, else the start of its message
  /// ("field '<path>': <simdjson error name>", or "payload: <name>" when no field was reached).
  std::string_view bind;
};

constexpr Errc accepted{};

// The error names are simdjson 3.0's: the validator is its DOM parser (which checks the whole
// document), the bind is On-Demand (which reports the first error on the path it walks).
constexpr Expected corpus[] = {
    {"valid-order.json", accepted, "", ""},
    {"valid-order-every-field.json", accepted, "", ""},  // extremes of each type; fits fuzz/'s struct too
    {"duplicate-keys.json", accepted, "", ""},  // the last value wins
    {"float-max-shortest-form.json", accepted, "", ""},  // FLT_MAX as it prints: above FLT_MAX as a double
    // Valid JSON that does not fit orders::Order: accepted, then refused by the bind.
    {"wrong-type-number-for-string.json", accepted, "", "field 'id': INCORRECT_TYPE"},
    {"wrong-type-string-for-bool.json", accepted, "", "field 'gift': INCORRECT_TYPE"},
    {"wrong-type-float-for-integer.json", accepted, "", "field 'customer': INCORRECT_TYPE"},
    {"null-for-required-string.json", accepted, "", "field 'id': INCORRECT_TYPE"},
    {"missing-required-field.json", accepted, "", "field 'customer': NO_SUCH_FIELD"},
    {"negative-for-unsigned.json", accepted, "", "field 'lines[0].quantity': INCORRECT_TYPE"},
    {"integer-past-uint32.json", accepted, "", "field 'lines[0].quantity': NUMBER_OUT_OF_RANGE"},
    {"float-past-max.json", accepted, "", "field 'discount': NUMBER_OUT_OF_RANGE"},
    {"top-level-array.json", accepted, "", "payload: INCORRECT_TYPE"},
    {"top-level-scalar.json", accepted, "", "payload: INCORRECT_TYPE"},
    // Not JSON.
    {"empty.json", Errc::invalid_payload, "EMPTY", "payload: EMPTY"},
    {"whitespace-only.json", Errc::invalid_payload, "EMPTY", "payload: EMPTY"},
    {"truncated-object.json", Errc::invalid_payload, "UNCLOSED_STRING", "payload: UNCLOSED_STRING"},
    {"truncated-after-comma.json", Errc::invalid_payload, "TAPE_ERROR", "payload: INCOMPLETE_ARRAY_OR_OBJECT"},
    {"truncated-utf8-sequence.json", Errc::invalid_payload, "UNCLOSED_STRING", "payload: UNCLOSED_STRING"},
    {"unterminated-string.json", Errc::invalid_payload, "UNCLOSED_STRING", "payload: UNCLOSED_STRING"},
    // The tags array is never closed; the bind meets the key that follows its third element.
    {"unclosed-array.json", Errc::invalid_payload, "TAPE_ERROR", "field 'tags[3]': TAPE_ERROR"},
    {"trailing-garbage.json", Errc::invalid_payload, "TAPE_ERROR", "payload: INCOMPLETE_ARRAY_OR_OBJECT"},
    {"second-document.json", Errc::invalid_payload, "TAPE_ERROR", "payload: TRAILING_CONTENT"},
    {"extra-closing-brace.json", Errc::invalid_payload, "TAPE_ERROR", "payload: TRAILING_CONTENT"},
    {"trailing-comma.json", Errc::invalid_payload, "TAPE_ERROR", "payload: TAPE_ERROR"},
    {"single-quoted-keys.json", Errc::invalid_payload, "TAPE_ERROR", "payload: TAPE_ERROR"},
    {"comment-before-document.json", Errc::invalid_payload, "TAPE_ERROR", "payload: INCORRECT_TYPE"},
    {"byte-order-mark.json", Errc::invalid_payload, "TAPE_ERROR", "payload: INCORRECT_TYPE"},
    {"huge-number.json", Errc::invalid_payload, "NUMBER_ERROR", "field 'total': NUMBER_ERROR"},  // 1e400
    {"huge-integer.json", Errc::invalid_payload, "NUMBER_ERROR", "field 'customer': INCORRECT_TYPE"},
    {"leading-zero-number.json", Errc::invalid_payload, "NUMBER_ERROR", "field 'customer': NUMBER_ERROR"},
    {"nan-literal.json", Errc::invalid_payload, "TAPE_ERROR", "field 'total': INCORRECT_TYPE"},
    {"misspelled-literal.json", Errc::invalid_payload, "F_ATOM_ERROR", "field 'gift': INCORRECT_TYPE"},
    {"invalid-utf8.json", Errc::invalid_payload, "UTF8_ERROR", "payload: UTF8_ERROR"},
    {"invalid-utf8-in-key.json", Errc::invalid_payload, "UTF8_ERROR", "payload: UTF8_ERROR"},
    {"overlong-utf8.json", Errc::invalid_payload, "UTF8_ERROR", "payload: UTF8_ERROR"},
    {"utf8-encoded-surrogate.json", Errc::invalid_payload, "UTF8_ERROR", "payload: UTF8_ERROR"},
    {"lone-surrogate-escape.json", Errc::invalid_payload, "STRING_ERROR", "field 'id': STRING_ERROR"},
    {"reversed-surrogate-pair.json", Errc::invalid_payload, "STRING_ERROR", "field 'id': STRING_ERROR"},
    {"invalid-escape.json", Errc::invalid_payload, "STRING_ERROR", "field 'id': STRING_ERROR"},
    {"control-chars-in-string.json", Errc::invalid_payload, "UNESCAPED_CHARS", "payload: UNESCAPED_CHARS"},
    {"raw-newline-in-string.json", Errc::invalid_payload, "UNESCAPED_CHARS", "payload: UNESCAPED_CHARS"},
    {"nul-byte-inside-string.json", Errc::invalid_payload, "UNESCAPED_CHARS", "payload: UNESCAPED_CHARS"},
    {"nul-byte-outside-string.json", Errc::invalid_payload, "TAPE_ERROR", "payload: TAPE_ERROR"},
    {"nul-byte-after-document.json", Errc::invalid_payload, "TAPE_ERROR", "payload: INCOMPLETE_ARRAY_OR_OBJECT"},
    // Deeper than Config::max_payload_depth (64). The bind skips unknown fields without a depth
    // limit of its own, so a trusted document whose deep part is unknown still binds.
    {"nesting-past-limit.json", Errc::invalid_payload, "DEPTH_ERROR", ""},
    {"nesting-past-parser-limit.json", Errc::invalid_payload, "DEPTH_ERROR", ""},  // past On-Demand's 1024 too
    {"nesting-past-limit-top-level.json", Errc::invalid_payload, "DEPTH_ERROR", "payload: INCORRECT_TYPE"},
};

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// What the handler saw for one job.
struct Bound {
  bool ok = false;
  jobq::Status::Kind kind = jobq::Status::Kind::ok;
  std::string message;
  std::string id;  // orders::Order::id, when it bound
};

/// One queue, one worker, one handler that binds orders::Order and records the outcome per job.
class CorpusFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    queues.register_handler("orders:bind", [this](jobq::Context& context, const jobq::Message& message) {
      orders::Order order;
      jobq::Status status = message.bind(order);
      const std::lock_guard lock(mutex);
      seen[context.job_id()] = Bound{status.ok(), status.kind(), status.message(), order.id};
      return status;
    });
    queues.start();
  }

  /// Waits for the handler to have run job `id`, and returns what it saw.
  Bound outcome(jobq::JobId id) {
    EXPECT_TRUE(jobq::testing::eventually([&] {
      const std::lock_guard lock(mutex);
      return seen.count(id) == 1;
    })) << "job " << id << " never ran";
    const std::lock_guard lock(mutex);
    return seen[id];
  }

  std::size_t runs() {
    const std::lock_guard lock(mutex);
    return seen.size();
  }

  // Declared before the Manager, so that they outlive it: its destructor drains the queue, and
  // the handler writes here.
  std::mutex mutex;
  std::map<jobq::JobId, Bound> seen;
  jobq::Manager queues{jobq::Config{.queues = {{.name = "default", .workers = 1}}}};
};

void expect_bind(const Bound& bound, std::string_view expected) {
  if (expected.empty()) {
    EXPECT_TRUE(bound.ok) << bound.message;
    return;
  }
  EXPECT_FALSE(bound.ok);
  EXPECT_EQ(bound.kind, jobq::Status::Kind::skip_retry);
  EXPECT_TRUE(bound.message.starts_with(expected)) << "bind said: " << bound.message << "\nexpected: " << expected;
  // The error name is followed by simdjson's sentence, or by jobq's for a missing field.
  EXPECT_NE(bound.message.find(" ("), std::string::npos) << bound.message;
}

TEST(MalformedPayloadCorpus, EveryFileHasAnExpectationAndEveryExpectationAFile) {
  std::set<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(JOBQ_CORPUS_DIR)) {
    files.insert(entry.path().filename().string());
  }
  std::set<std::string> listed;
  for (const Expected& expected : corpus) {
    EXPECT_TRUE(listed.insert(std::string(expected.file)).second) << "listed twice: " << expected.file;
  }
  EXPECT_EQ(files, listed);
  EXPECT_GE(files.size(), 20u);
}

TEST_F(CorpusFixture, EachFileMeetsItsExpectationAtBothDoors) {
  std::size_t raw_accepted = 0;
  std::size_t raw_rejected = 0;
  std::size_t bind_failures = 0;
  for (const Expected& expected : corpus) {
    SCOPED_TRACE(std::string(expected.file));
    const std::string bytes = read_file(std::filesystem::path(JOBQ_CORPUS_DIR) / expected.file);
    ASSERT_LE(bytes.size(), queues.config().max_payload_bytes);

    const jobq::Result<jobq::JobId> raw = queues.dispatch(jobq::Job("orders:bind").payload(bytes));
    if (expected.raw == accepted) {
      ASSERT_TRUE(raw.ok()) << raw.error().message();
      ++raw_accepted;
      // Valid JSON: the handler's bind sees exactly what a trusted dispatch would.
      const Bound bound = outcome(*raw);
      expect_bind(bound, expected.bind);
      bind_failures += bound.ok ? 0 : 1;
    } else {
      ASSERT_FALSE(raw.ok());
      ++raw_rejected;
      EXPECT_EQ(raw.code(), expected.raw) << raw.error().message();
      EXPECT_TRUE(raw.error().detail().starts_with(expected.rejection)) << raw.error().detail();
      if (expected.rejection == "DEPTH_ERROR") {
        EXPECT_NE(raw.error().detail().find("nesting deeper than 64"), std::string::npos) << raw.error().detail();
      }
    }

    const jobq::Result<jobq::JobId> trusted = queues.dispatch(jobq::Job("orders:bind").payload(bytes).trusted());
    ASSERT_TRUE(trusted.ok()) << trusted.error().message();
    const Bound bound = outcome(*trusted);
    expect_bind(bound, expected.bind);
    bind_failures += bound.ok ? 0 : 1;
    if (expected.bind.empty()) {
      EXPECT_EQ(bound.id, expected.file == "duplicate-keys.json" ? "o-2" : "o-1");
    }
  }

  const std::size_t trusted_count = std::size(corpus);
  const jobq::ShutdownReport report = queues.shutdown(std::chrono::seconds(10));
  EXPECT_TRUE(report.balanced());
  EXPECT_TRUE(report.not_run.empty());
  EXPECT_EQ(report.accepted, raw_accepted + trusted_count);
  EXPECT_EQ(runs(), report.accepted);  // every accepted job reached the handler exactly once
  EXPECT_EQ(report.failed, bind_failures);
  EXPECT_EQ(report.succeeded, report.accepted - bind_failures);
  EXPECT_EQ(queues.stats("default").rejected, raw_rejected);
}

/// valid-order.json grown to `size` bytes with an unknown string field in front.
std::string order_of_size(std::size_t size) {
  const std::string order = read_file(std::filesystem::path(JOBQ_CORPUS_DIR) / "valid-order.json");
  const std::string head = R"({"padding":")";
  const std::string tail = "\"," + order.substr(1);
  return head + std::string(size - head.size() - tail.size(), 'p') + tail;
}

// Built here rather than committed: a file past 1 MiB would dwarf the rest of the corpus.
TEST_F(CorpusFixture, OversizedPayloadsAreRefusedAtBothDoors) {
  const std::size_t limit = queues.config().max_payload_bytes;
  const std::string oversized = order_of_size(limit + 1);
  for (const jobq::Job& job : {jobq::Job("orders:bind").payload(oversized),
                               jobq::Job("orders:bind").payload(oversized).trusted()}) {
    const jobq::Result<jobq::JobId> result = queues.dispatch(job);
    ASSERT_FALSE(result.ok());
    EXPECT_EQ(result.code(), Errc::payload_too_large);
    EXPECT_EQ(result.error().detail(), std::to_string(limit + 1) + " bytes, the limit is " + std::to_string(limit));
  }

  const std::string at_limit = order_of_size(limit);
  const jobq::Result<jobq::JobId> raw = queues.dispatch(jobq::Job("orders:bind").payload(at_limit));
  ASSERT_TRUE(raw.ok()) << raw.error().message();
  expect_bind(outcome(*raw), "");

  const jobq::ShutdownReport report = queues.shutdown(std::chrono::seconds(10));
  EXPECT_TRUE(report.balanced());
  EXPECT_EQ(report.accepted, 1u);
  EXPECT_EQ(report.succeeded, 1u);
  EXPECT_EQ(queues.stats("default").rejected, 2u);
}

// The validator's buffers start at 4 KiB and grow; the depth limit must survive the growth.
TEST_F(CorpusFixture, DepthLimitHoldsPastTheValidatorsFirstCapacity) {
  const std::string padding = R"({"padding":")" + std::string(8192, 'p') + R"(","deep":)";
  const std::string order = read_file(std::filesystem::path(JOBQ_CORPUS_DIR) / "valid-order.json");
  // The root object is one level, so 63 arrays inside it reach the limit and 64 pass it.
  const std::string deepest = padding + std::string(63, '[') + std::string(63, ']') + "," + order.substr(1);
  const std::string too_deep = padding + std::string(64, '[') + std::string(64, ']') + "," + order.substr(1);
  EXPECT_TRUE(queues.dispatch(jobq::Job("orders:bind").payload(deepest)).ok());
  const jobq::Result<jobq::JobId> refused = queues.dispatch(jobq::Job("orders:bind").payload(too_deep));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.code(), Errc::invalid_payload);
  EXPECT_TRUE(refused.error().detail().starts_with("DEPTH_ERROR")) << refused.error().detail();
  const jobq::ShutdownReport report = queues.shutdown(std::chrono::seconds(10));
  EXPECT_TRUE(report.balanced());
  EXPECT_EQ(report.succeeded, 1u);
}

}  // namespace

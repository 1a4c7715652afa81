// The payload of the throughput sweep: an Order, handed over as the struct (typed jobq and the
// `_struct` baselines) or as its JSON text (the `_json` baselines), and what a consumer does with
// each.
#pragma once

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <utility>

#include <jobq/jobq.hpp>

#include "rounds.hpp"

namespace jobq_bench::sweep {

struct Order {
  std::uint64_t id;
  std::string sku;
};
JOBQ_PAYLOAD(Order, id, sku);

inline constexpr std::string_view order_sku = "SKU-12345-BLUE";  // fits std::string's inline buffer
inline constexpr const char* job_type = "orders:process";

/// `{"id":<id>,"sku":"SKU-12345-BLUE"}`, byte for byte what jobq serializes for Order (checked in
/// main by same_payload_bytes()), built by the baseline producer for every job.
inline simdjson::padded_string order_json(std::uint64_t id) {
  constexpr std::string_view head = R"({"id":)";
  constexpr std::string_view tail = R"(,"sku":"SKU-12345-BLUE"})";
  std::array<char, 64> text;
  char* out = std::copy(head.begin(), head.end(), text.data());
  out = std::to_chars(out, out + 20, id).ptr;  // 20: the digits of the largest uint64_t
  out = std::copy(tail.begin(), tail.end(), out);
  return simdjson::padded_string(text.data(), static_cast<std::size_t>(out - text.data()));
}

/// What every baseline consumer does per job: parse with this thread's reused On-Demand parser,
/// read both fields into an Order, and account for it.
inline void consume_order(Sinks& sinks, const simdjson::padded_string& json) {
  thread_local simdjson::ondemand::parser parser;
  Order order{};
  bool bound = false;
  simdjson::ondemand::document document;
  if (parser.iterate(json).get(document) == simdjson::SUCCESS) {
    std::uint64_t id = 0;
    std::string_view sku;
    if (document["id"].get_uint64().get(id) == simdjson::SUCCESS &&
        document["sku"].get_string().get(sku) == simdjson::SUCCESS) {
      order.id = id;
      order.sku.assign(sku);
      bound = true;
    }
  }
  sinks.record(bound, bound ? order.id : 0);
}

/// simdjson::padded_string is move-only, and std::function needs a copyable callable. The pool
/// only ever moves its tasks (post, deque, pop); this copy constructor exists to satisfy the type
/// and is never called.
struct CopyablePayload {
  simdjson::padded_string json;

  explicit CopyablePayload(simdjson::padded_string&& text) noexcept : json(std::move(text)) {}
  CopyablePayload(CopyablePayload&&) noexcept = default;
  CopyablePayload(const CopyablePayload& other) : json(other.json.data(), other.json.size()) {}
  CopyablePayload& operator=(const CopyablePayload&) = delete;
  CopyablePayload& operator=(CopyablePayload&&) = delete;
  ~CopyablePayload() = default;
};

/// What every `_struct` baseline's task does: hand the captured Order to the handler.
inline void consume_struct(Sinks& sinks, const Order& order) {
  sinks.record(!order.sku.empty(), order.id);
}

/// The baselines build their payload text by hand; it must be the bytes jobq's typed dispatch
/// serializes, or the comparison would not be like for like.
inline bool same_payload_bytes() {
  for (std::uint64_t id : {std::uint64_t{1}, std::uint64_t{123}, jobs_per_producer}) {
    const jobq::Result<std::string> engine = jobq::to_json(Order{id, std::string(order_sku)});
    const simdjson::padded_string baseline = order_json(id);
    if (!engine || *engine != std::string_view(baseline.data(), baseline.size())) {
      std::fprintf(stderr, "payload mismatch for id %llu: jobq '%s', baseline '%.*s'\n",
                   static_cast<unsigned long long>(id), engine ? engine->c_str() : "(error)",
                   static_cast<int>(baseline.size()), baseline.data());
      return false;
    }
  }
  return true;
}

}  // namespace jobq_bench::sweep

// Binding a JSON payload into a struct, three ways, for three payload sizes. One bind per
// iteration, into the same struct every time (as a handler that keeps its payload object would),
// so the time per iteration is the time per bind; bytes/s counts the payload's bytes.
//
//   BM_bind_jobq/<size>          JOBQ_PAYLOAD + jobq::Message(...).bind(order), with one reused
//                                simdjson::ondemand::parser passed to the Message, and the payload
//                                in a buffer with SIMDJSON_PADDING spare bytes (as in the ring).
//   BM_bind_handwritten/<size>   the same struct bound by hand-written simdjson On-Demand code with
//                                the same reused parser: one pass over each object's fields, the
//                                same checks jobq makes (required fields present, types and
//                                integer ranges checked, unknown keys skipped, nothing after the
//                                root object), without jobq's error paths.
//   BM_bind_nlohmann/<size>      nlohmann::json::parse into a DOM, then from_json into the struct
//                                (json::at, so a missing field is an error too).
//
// <size> is the nominal payload size: 60 B (scalars and empty arrays: the smallest this struct
// serializes to is 68 B), 500 B (a few items and tags) and 4096 B (many items and tags), filled
// with whole items and tags up to that size. The struct shape is the same for all three; the
// `payload_bytes` counter gives the exact size. Before timing, each implementation's result is compared with the
// struct the payload was serialized from.
#include <benchmark/benchmark.h>
#include <simdjson.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include <jobq/jobq.hpp>

namespace bench {

struct Item {
  std::string sku;
  std::uint32_t qty = 0;
  double price = 0;
  bool operator==(const Item&) const = default;
};
JOBQ_PAYLOAD(Item, sku, qty, price);

struct Order {
  std::uint64_t id = 0;
  std::string cust;
  double total = 0;
  bool rush = false;
  std::vector<Item> items;
  std::vector<std::string> tags;
  bool operator==(const Order&) const = default;
};
JOBQ_PAYLOAD(Order, id, cust, total, rush, items, tags);

// nlohmann: from_json found by ADL, same shape and the same required fields.
void from_json(const nlohmann::json& json, Item& item) {
  json.at("sku").get_to(item.sku);
  json.at("qty").get_to(item.qty);
  json.at("price").get_to(item.price);
}
void from_json(const nlohmann::json& json, Order& order) {
  json.at("id").get_to(order.id);
  json.at("cust").get_to(order.cust);
  json.at("total").get_to(order.total);
  json.at("rush").get_to(order.rush);
  json.at("items").get_to(order.items);
  json.at("tags").get_to(order.tags);
}

}  // namespace bench

namespace {

using bench::Item;
using bench::Order;
using simdjson::error_code;

std::size_t serialized_size(const Order& order) {
  jobq::Result<std::string> text = jobq::to_json(order);
  return text ? text->size() : 0;
}

/// An order that serializes to at most `size` bytes, as close to it as whole items and tags
/// allow: scalars and empty arrays for the smallest, then items and tags (four items per tag).
Order make_order(std::size_t size) {
  Order order{.id = 42, .cust = "c-17", .total = 9.5, .rush = true, .items = {}, .tags = {}};
  for (std::size_t index = 0;; ++index) {
    Order bigger = order;
    if (index % 5 == 4) {
      bigger.tags.push_back("tag-" + std::to_string(1000 + index));
    } else {
      const double price = 1.25 + static_cast<double>(index % 40) * 0.5;  // exact in binary
      const auto qty = static_cast<std::uint32_t>(1 + index % 9);
      bigger.items.push_back(Item{"SKU-" + std::to_string(100000 + index), qty, price});
      bigger.total += price * qty;
    }
    const std::size_t bytes = serialized_size(bigger);
    if (bytes == 0 || bytes > size) return order;
    order = std::move(bigger);
  }
}

/// JSON text with SIMDJSON_PADDING readable bytes after it, as an envelope carries it.
struct PaddedPayload {
  explicit PaddedPayload(std::string_view text)
      : bytes(std::make_unique<char[]>(text.size() + simdjson::SIMDJSON_PADDING)), size(text.size()) {
    std::memcpy(bytes.get(), text.data(), text.size());
    std::memset(bytes.get() + text.size(), 0, simdjson::SIMDJSON_PADDING);
  }
  std::string_view view() const noexcept { return {bytes.get(), size}; }
  std::size_t capacity() const noexcept { return size + simdjson::SIMDJSON_PADDING; }

  std::unique_ptr<char[]> bytes;
  std::size_t size;
};

// --- hand-written simdjson On-Demand -----------------------------------------------------------

/// `key == name` for a string literal, compared byte by byte over a length known at compile time
/// so that it is unrolled in place. (With `key == "sku"` or a constant-size memcmp, GCC 12 leaves
/// string_view::compare or memcmp as calls in these large functions: one call per key, which
/// made this baseline 10 to 50 % slower.)
template <std::size_t N>
inline bool key_is(std::string_view key, const char (&name)[N]) noexcept {
  if (key.size() != N - 1) return false;
  for (std::size_t index = 0; index + 1 < N; ++index) {
    if (key[index] != name[index]) return false;
  }
  return true;
}

error_code bind_string(simdjson::ondemand::value value, std::string& out) {
  std::string_view text;
  if (error_code error = value.get_string().get(text)) return error;
  out.assign(text.data(), text.size());
  return simdjson::SUCCESS;
}

/// Calls `bind_field(key, field)` for each field of `object`, in document order, and stops at
/// the first error.
template <class BindField>
inline error_code for_each_field(simdjson::ondemand::object& object, BindField&& bind_field) {
  for (auto entry : object) {
    simdjson::ondemand::field field;
    if (error_code error = std::move(entry).get(field)) return error;
    std::string_view key;
    if (error_code error = field.unescaped_key().get(key)) return error;
    if (error_code error = bind_field(key, field)) return error;
  }
  return simdjson::SUCCESS;
}

/// Replaces `out` with the elements of the array `value`, each bound by `bind_element(element,
/// slot)`; stops at the first error. The binder is a template argument so that it is called
/// directly and can be inlined, as hand-written code would.
template <auto bind_element, class T>
inline error_code bind_array(simdjson::ondemand::value value, std::vector<T>& out) {
  simdjson::ondemand::array array;
  if (error_code error = value.get_array().get(array)) return error;
  out.clear();
  for (auto entry : array) {
    simdjson::ondemand::value element;
    if (error_code error = std::move(entry).get(element)) return error;
    if (error_code error = bind_element(element, out.emplace_back())) return error;
  }
  return simdjson::SUCCESS;
}

error_code bind_item(simdjson::ondemand::value value, Item& item) {
  simdjson::ondemand::object object;
  if (error_code error = value.get_object().get(object)) return error;
  unsigned seen = 0;
  const error_code error = for_each_field(object, [&](std::string_view key, simdjson::ondemand::field& field) {
    if (key_is(key, "sku")) {
      seen |= 1u;
      return bind_string(field.value(), item.sku);
    }
    if (key_is(key, "qty")) {
      seen |= 2u;
      std::uint64_t qty = 0;
      error_code qty_error = field.value().get_uint64().get(qty);
      if (!qty_error && qty > std::numeric_limits<std::uint32_t>::max()) qty_error = simdjson::NUMBER_OUT_OF_RANGE;
      item.qty = static_cast<std::uint32_t>(qty);
      return qty_error;
    }
    if (key_is(key, "price")) {
      seen |= 4u;
      return field.value().get_double().get(item.price);
    }
    return simdjson::SUCCESS;  // unknown keys are skipped
  });
  if (error) return error;
  return seen == 7u ? simdjson::SUCCESS : simdjson::NO_SUCH_FIELD;
}

error_code bind_order(simdjson::ondemand::parser& parser, const PaddedPayload& payload, Order& order) {
  simdjson::ondemand::document document;
  if (error_code error = parser.iterate(payload.bytes.get(), payload.size, payload.capacity()).get(document)) {
    return error;
  }
  simdjson::ondemand::object object;
  if (error_code error = document.get_object().get(object)) return error;
  unsigned seen = 0;
  const error_code error = for_each_field(object, [&](std::string_view key, simdjson::ondemand::field& field) {
    if (key_is(key, "id")) {
      seen |= 1u;
      return field.value().get_uint64().get(order.id);
    }
    if (key_is(key, "cust")) {
      seen |= 2u;
      return bind_string(field.value(), order.cust);
    }
    if (key_is(key, "total")) {
      seen |= 4u;
      return field.value().get_double().get(order.total);
    }
    if (key_is(key, "rush")) {
      seen |= 8u;
      return field.value().get_bool().get(order.rush);
    }
    if (key_is(key, "items")) {
      seen |= 16u;
      return bind_array<bind_item>(field.value(), order.items);
    }
    if (key_is(key, "tags")) {
      seen |= 32u;
      return bind_array<bind_string>(field.value(), order.tags);
    }
    return simdjson::SUCCESS;  // unknown keys are skipped
  });
  if (error) return error;
  if (seen != 63u) return simdjson::NO_SUCH_FIELD;
  if (document.current_location().error() != simdjson::OUT_OF_BOUNDS) return simdjson::TRAILING_CONTENT;
  return simdjson::SUCCESS;
}

// --- the benchmarks ----------------------------------------------------------------------------

/// The payload for `state.range(0)`, with the struct it came from; false (and the benchmark
/// skipped) if it cannot be serialized.
bool prepare(benchmark::State& state, Order& expected, std::string& text) {
  expected = make_order(static_cast<std::size_t>(state.range(0)));
  jobq::Result<std::string> serialized = jobq::to_json(expected);
  if (!serialized) {
    state.SkipWithError(serialized.error().message().c_str());
    return false;
  }
  text = *serialized;
  return true;
}

void finish(benchmark::State& state, std::size_t payload_bytes) {
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(payload_bytes));
  state.counters["payload_bytes"] = benchmark::Counter(static_cast<double>(payload_bytes));
}

void BM_bind_jobq(benchmark::State& state) {
  Order expected;
  std::string text;
  if (!prepare(state, expected, text)) return;
  const PaddedPayload payload(text);
  simdjson::ondemand::parser parser;
  Order order;
  {
    const jobq::Status status =
        jobq::Message("orders:process", 1, payload.view(), payload.capacity()).bind(order);
    if (!status || order != expected) {
      state.SkipWithError(status ? "jobq bound the wrong values" : status.message().c_str());
      return;
    }
  }
  for (auto _ : state) {
    const jobq::Message message("orders:process", 1, payload.view(), payload.capacity());
    jobq::Status status = message.bind(order);
    benchmark::DoNotOptimize(status);
    benchmark::DoNotOptimize(order.id);
  }
  finish(state, payload.size);
}

void BM_bind_handwritten(benchmark::State& state) {
  Order expected;
  std::string text;
  if (!prepare(state, expected, text)) return;
  const PaddedPayload payload(text);
  simdjson::ondemand::parser parser;
  Order order;
  if (const error_code error = bind_order(parser, payload, order); error || order != expected) {
    state.SkipWithError(error ? simdjson::error_message(error) : "the hand-written binder bound the wrong values");
    return;
  }
  for (auto _ : state) {
    error_code error = bind_order(parser, payload, order);
    benchmark::DoNotOptimize(error);
    benchmark::DoNotOptimize(order.id);
  }
  finish(state, payload.size);
}

void BM_bind_nlohmann(benchmark::State& state) {
  Order expected;
  std::string text;
  if (!prepare(state, expected, text)) return;
  Order order;
  try {
    nlohmann::json::parse(text).get_to(order);
  } catch (const std::exception& error) {
    state.SkipWithError(error.what());
    return;
  }
  if (order != expected) {
    state.SkipWithError("nlohmann bound the wrong values");
    return;
  }
  for (auto _ : state) {
    nlohmann::json::parse(text).get_to(order);
    benchmark::DoNotOptimize(order.id);
  }
  finish(state, text.size());
}

}  // namespace

BENCHMARK(BM_bind_jobq)->Arg(60)->Arg(500)->Arg(4096);
BENCHMARK(BM_bind_handwritten)->Arg(60)->Arg(500)->Arg(4096);
BENCHMARK(BM_bind_nlohmann)->Arg(60)->Arg(500)->Arg(4096);

BENCHMARK_MAIN();

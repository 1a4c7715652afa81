// Handler lookup: how a job type finds its handler. 64 job types are registered through a
// jobq::Manager; every benchmark looks them up in the same pseudo-random order (a fixed-seed
// sequence of 4096 indices, so that neither the cache nor the branch predictor sees one hot key).
// One lookup per iteration: the time per iteration is the time per lookup.
//
//   BM_handler_lookup_jobq                       registry[id]: what a worker does per job. The
//                                                type id was interned at registration; the lookup
//                                                is an index into the flat HandlerEntry table.
//                                                The entry's invoke pointer is read and kept.
//   BM_handler_lookup_jobq_by_name               registry.find(name): what dispatch does per job
//                                                (jobq's flat open-addressing map, one hash of
//                                                the name), then the entry's invoke pointer.
//   BM_handler_lookup_unordered_map              std::unordered_map<std::string, int>::find with
//                                                a pre-built std::string key (no conversion
//                                                counted), then the mapped value.
//   BM_handler_lookup_unordered_map_transparent  the same map with a transparent hash and
//                                                std::equal_to<>, looked up by std::string_view:
//                                                C++20's heterogeneous lookup for unordered
//                                                containers (P0919R3/P1690R1, in libstdc++ since
//                                                GCC 11), so no std::string is built.
//   BM_handler_lookup_unordered_map_from_view    what a caller holding a std::string_view pays
//                                                without heterogeneous lookup: std::string(view)
//                                                per lookup, then find. Names longer than 15
//                                                bytes leave the small-string buffer and allocate.
//
// The names are "category:action" type names of 10 to 29 bytes, as an application would have.
#include <benchmark/benchmark.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <jobq/jobq.hpp>

namespace {

constexpr std::size_t type_count = 64;
constexpr std::size_t sequence_length = 4096;  // a power of two: the cursor wraps with a mask

constexpr std::array<std::string_view, 8> categories = {"emails", "payments", "inventory", "reports",
                                                        "search", "notifications", "billing", "media"};
constexpr std::array<std::string_view, 8> actions = {"send",           "charge_card", "reserve",  "generate_daily",
                                                     "reindex_product", "push",        "refund",   "transcode_video"};

std::vector<std::string> make_names() {
  std::vector<std::string> names;
  names.reserve(type_count);
  for (std::string_view category : categories) {
    for (std::string_view action : actions) {
      names.push_back(std::string(category) + ":" + std::string(action));
    }
  }
  return names;
}

/// A fixed-seed pseudo-random sequence of indices in [0, type_count), the same for every benchmark.
std::vector<std::uint32_t> make_sequence() {
  std::vector<std::uint32_t> sequence(sequence_length);
  std::uint64_t x = 0x243F6A8885A308D3ull;  // xorshift64
  for (std::uint32_t& index : sequence) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    index = static_cast<std::uint32_t>(x % type_count);
  }
  return sequence;
}

/// 64 job types registered through a Manager (never started: lookups need no workers).
struct Fixture {
  Fixture() : names(make_names()), sequence(make_sequence()) {
    for (const std::string& name : names) {
      ids.push_back(manager.register_handler(
          name, [](jobq::Context&, const jobq::Message&) { return jobq::Status::success(); }));
    }
  }

  std::vector<std::string> names;
  std::vector<std::uint32_t> sequence;
  jobq::Manager manager{jobq::Config{}};
  std::vector<jobq::TypeId> ids;
};

Fixture& fixture() {
  static Fixture instance;
  return instance;
}

struct TransparentHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view text) const noexcept { return std::hash<std::string_view>{}(text); }
};

/// `values[index]` for every index of the fixture's lookup sequence, as `Key`s: what each
/// benchmark looks up, in order.
template <class Key, class Values>
std::vector<Key> in_lookup_order(const Fixture& f, const Values& values) {
  std::vector<Key> keys;
  for (std::uint32_t index : f.sequence) keys.push_back(Key(values[index]));
  return keys;
}

/// Every registered name mapped to its index, in a map of type `Map`.
template <class Map>
Map index_by_name(const Fixture& f) {
  Map map;
  for (std::size_t index = 0; index < f.names.size(); ++index) map.emplace(f.names[index], static_cast<int>(index));
  return map;
}

void BM_handler_lookup_jobq(benchmark::State& state) {
  const Fixture& f = fixture();
  const jobq::Registry& registry = f.manager.registry();
  if (registry.size() != type_count) {
    state.SkipWithError("the registry does not hold the 64 types");
    return;
  }
  // The ids in lookup order, resolved once, as a worker holds them in its envelopes.
  const std::vector<jobq::TypeId> ids = in_lookup_order<jobq::TypeId>(f, f.ids);
  std::size_t cursor = 0;
  for (auto _ : state) {
    jobq::HandlerEntry::Invoke invoke = registry[ids[cursor]].invoke;
    benchmark::DoNotOptimize(invoke);
    cursor = (cursor + 1) & (sequence_length - 1);
  }
}

void BM_handler_lookup_jobq_by_name(benchmark::State& state) {
  const Fixture& f = fixture();
  const jobq::Registry& registry = f.manager.registry();
  const std::vector<std::string_view> keys = in_lookup_order<std::string_view>(f, f.names);
  for (std::string_view key : keys) {
    if (registry.find(key) == jobq::no_id) {
      state.SkipWithError("a registered name was not found");
      return;
    }
  }
  std::size_t cursor = 0;
  for (auto _ : state) {
    const jobq::TypeId id = registry.find(keys[cursor]);
    jobq::HandlerEntry::Invoke invoke = registry[id].invoke;
    benchmark::DoNotOptimize(invoke);
    cursor = (cursor + 1) & (sequence_length - 1);
  }
}

void BM_handler_lookup_unordered_map(benchmark::State& state) {
  const Fixture& f = fixture();
  const auto map = index_by_name<std::unordered_map<std::string, int>>(f);
  const std::vector<std::string> keys = in_lookup_order<std::string>(f, f.names);
  std::size_t cursor = 0;
  for (auto _ : state) {
    const auto found = map.find(keys[cursor]);
    int value = found->second;
    benchmark::DoNotOptimize(value);
    cursor = (cursor + 1) & (sequence_length - 1);
  }
}

void BM_handler_lookup_unordered_map_transparent(benchmark::State& state) {
  const Fixture& f = fixture();
  const auto map = index_by_name<std::unordered_map<std::string, int, TransparentHash, std::equal_to<>>>(f);
  const std::vector<std::string_view> keys = in_lookup_order<std::string_view>(f, f.names);
  std::size_t cursor = 0;
  for (auto _ : state) {
    const auto found = map.find(keys[cursor]);  // heterogeneous: no std::string is built
    int value = found->second;
    benchmark::DoNotOptimize(value);
    cursor = (cursor + 1) & (sequence_length - 1);
  }
}

void BM_handler_lookup_unordered_map_from_view(benchmark::State& state) {
  const Fixture& f = fixture();
  const auto map = index_by_name<std::unordered_map<std::string, int>>(f);
  const std::vector<std::string_view> keys = in_lookup_order<std::string_view>(f, f.names);
  std::size_t cursor = 0;
  for (auto _ : state) {
    const auto found = map.find(std::string(keys[cursor]));
    int value = found->second;
    benchmark::DoNotOptimize(value);
    cursor = (cursor + 1) & (sequence_length - 1);
  }
}

}  // namespace

BENCHMARK(BM_handler_lookup_jobq);
BENCHMARK(BM_handler_lookup_jobq_by_name);
BENCHMARK(BM_handler_lookup_unordered_map);
BENCHMARK(BM_handler_lookup_unordered_map_transparent);
BENCHMARK(BM_handler_lookup_unordered_map_from_view);

BENCHMARK_MAIN();

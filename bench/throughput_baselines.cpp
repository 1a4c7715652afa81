// The baselines of the throughput sweep (throughput.cpp has the sweep's description): the classic
// condvar pool, asio's thread_pool and a oneTBB arena, each posting a lambda that captures the
// Order (`_struct`) or carries its JSON (`_json`); and the bare moodycamel ring moving 8-byte ids,
// the ceiling.
#include <benchmark/benchmark.h>
#include <concurrentqueue.h>
#include <simdjson.h>

#include <array>
#include <asio/post.hpp>
#include <asio/thread_pool.hpp>
#include <atomic>
#include <cstdint>
#include <latch>
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_scheduler_observer.h>
#include <string>
#include <thread>
#include <vector>

#include <jobq/internal/cpu.hpp>

#include "baselines/condvar_pool.hpp"
#include "common/order.hpp"
#include "common/rounds.hpp"

namespace {

using namespace jobq_bench::sweep;
using jobq::internal::cpu_relax;

/// What a `_struct` or `_json` baseline's producer hands over per job.
enum class Carry { order, json };

/// One producer's round: posts jobs 1..jobs_per_producer with `post(task)`, each task a lambda
/// that captures the Order by value (Carry::order) or carries its JSON text (Carry::json).
template <Carry carry, class Post>
std::string post_round(Sinks& sinks, Post post) {
  Order order{0, std::string(order_sku)};
  for (std::uint64_t id = 1; id <= jobs_per_producer; ++id) {
    if constexpr (carry == Carry::order) {
      order.id = id;
      post([order, &sinks] { consume_struct(sinks, order); });
    } else {
      post([payload = CopyablePayload(order_json(id)), &sinks] { consume_order(sinks, payload.json); });
    }
  }
  return {};
}

/// The rounds of a baseline whose producers post with `post`, then `drain()` (after the producers
/// stop) and the final count.
template <Carry carry, class Post, class Drain>
void run_baseline(benchmark::State& state, const Shape& shape, Sinks& sinks, Post post, Drain drain) {
  ProducerGang gang(shape.producer_cpus, [&](unsigned) { return post_round<carry>(sinks, post); });
  const std::uint64_t rounds = run_rounds(state, gang, sinks, shape.jobs_per_round());
  gang.stop();
  drain();
  verify(state, sinks, rounds * shape.jobs_per_round(), rounds * shape.producers * sequence_sum_per_producer);
}

template <Carry carry>
void condvar_pool(benchmark::State& state) {
  const Shape shape = shape_of(state);
  Sinks sinks;
  std::atomic<bool> pin_failed{false};
  jobq_bench::CondvarPool pool(shape.workers, [&](unsigned index) {
    if (!pin_this_thread(shape.worker_cpus[index])) pin_failed.store(true);
  });
  if (pin_failed.load()) {
    state.SkipWithError("cannot pin a pool worker");
    return;
  }
  run_baseline<carry>(state, shape, sinks, [&](auto task) { pool.post(std::move(task)); }, [&] { pool.join(); });
}
void BM_throughput_condvar_pool_struct(benchmark::State& state) { condvar_pool<Carry::order>(state); }
void BM_throughput_condvar_pool_json(benchmark::State& state) { condvar_pool<Carry::json>(state); }

/// Starts an asio pool of W threads, each pinned; false after SkipWithError.
/// One blocking task per pool thread pins it: each of the W tasks waits for all W, so each runs on
/// its own thread. The tasks share ownership of their latch: a pool thread may still be inside it
/// after this thread has passed it.
bool pin_asio_pool(benchmark::State& state, asio::thread_pool& pool, const Shape& shape) {
  auto pinned = std::make_shared<std::latch>(static_cast<std::ptrdiff_t>(shape.workers) + 1);
  auto next = std::make_shared<std::atomic<unsigned>>(0);
  auto pin_failed = std::make_shared<std::atomic<bool>>(false);
  for (unsigned index = 0; index < shape.workers; ++index) {
    asio::post(pool, [pinned, next, pin_failed, cpus = shape.worker_cpus] {
      if (!pin_this_thread(cpus[next->fetch_add(1)])) pin_failed->store(true);
      pinned->arrive_and_wait();
    });
  }
  pinned->arrive_and_wait();
  if (pin_failed->load()) state.SkipWithError("cannot pin an asio pool thread");
  return !pin_failed->load();
}

template <Carry carry>
void asio_thread_pool(benchmark::State& state) {
  const Shape shape = shape_of(state);
  Sinks sinks;
  asio::thread_pool pool(shape.workers);
  if (!pin_asio_pool(state, pool, shape)) return;
  run_baseline<carry>(state, shape, sinks, [&](auto task) { asio::post(pool, std::move(task)); }, [&] { pool.join(); });
}
void BM_throughput_asio_thread_pool_struct(benchmark::State& state) { asio_thread_pool<Carry::order>(state); }
void BM_throughput_asio_thread_pool_json(benchmark::State& state) { asio_thread_pool<Carry::json>(state); }

/// Pins each thread that enters the arena to the worker CPU of its arena slot. oneTBB threads
/// come and go between arenas; they are pinned again on every entry.
class ArenaPinner : public tbb::task_scheduler_observer {
 public:
  ArenaPinner(tbb::task_arena& arena, std::vector<int> cpus)
      : tbb::task_scheduler_observer(arena), cpus_(std::move(cpus)) {
    observe(true);
  }
  ~ArenaPinner() override { observe(false); }
  ArenaPinner(const ArenaPinner&) = delete;
  ArenaPinner& operator=(const ArenaPinner&) = delete;

  void on_scheduler_entry(bool) override {
    const int slot = tbb::this_task_arena::current_thread_index();
    if (slot < 0 || cpus_.empty()) return;
    if (!pin_this_thread(cpus_[static_cast<std::size_t>(slot) % cpus_.size()])) failed_.store(true);
  }
  bool failed() const noexcept { return failed_.load(); }

 private:
  std::vector<int> cpus_;
  std::atomic<bool> failed_{false};
};

template <Carry carry>
void tbb_arena(benchmark::State& state) {
  const Shape shape = shape_of(state);
  Sinks sinks;
  // oneTBB's global pool holds hardware_concurrency - 1 workers by default; W workers need W + 1
  // (the limit counts a calling thread too).
  const tbb::global_control parallelism(tbb::global_control::max_allowed_parallelism, shape.workers + 1);
  tbb::task_arena arena(static_cast<int>(shape.workers), 0);  // W slots, none reserved for callers
  arena.initialize();
  ArenaPinner pinner(arena, shape.worker_cpus);
  run_baseline<carry>(state, shape, sinks, [&](auto task) { arena.enqueue(std::move(task)); }, [&] {
    if (!state.error_occurred() && pinner.failed()) state.SkipWithError("cannot pin a oneTBB worker");
  });
}
void BM_throughput_tbb_arena_struct(benchmark::State& state) { tbb_arena<Carry::order>(state); }
void BM_throughput_tbb_arena_json(benchmark::State& state) { tbb_arena<Carry::json>(state); }

void BM_throughput_moodycamel_bare_8byte(benchmark::State& state) {
  const Shape shape = shape_of(state);
  Sinks sinks;
  moodycamel::ConcurrentQueue<std::uint64_t> queue;
  std::atomic<bool> stop{false};
  std::atomic<bool> pin_failed{false};
  std::vector<std::thread> consumers;
  std::latch started(static_cast<std::ptrdiff_t>(shape.workers));
  for (unsigned index = 0; index < shape.workers; ++index) {
    consumers.emplace_back([&, cpu = shape.worker_cpus[index]] {
      if (!pin_this_thread(cpu)) pin_failed.store(true);
      moodycamel::ConsumerToken token(queue);
      sinks.mine();  // claimed before the rounds, as the others claim theirs on the warm-up
      started.count_down();
      std::array<std::uint64_t, 8> items;
      for (;;) {
        const std::size_t taken = queue.try_dequeue_bulk(token, items.begin(), items.size());
        if (taken != 0) {
          std::uint64_t sum = 0;
          for (std::size_t item = 0; item < taken; ++item) sum += items[item];
          sinks.record_items(sum, taken);
          continue;
        }
        if (stop.load(std::memory_order_acquire)) break;
        cpu_relax();
      }
    });
  }
  started.wait();
  struct Joiner {
    std::atomic<bool>& stop;
    std::vector<std::thread>& threads;
    ~Joiner() {
      stop.store(true, std::memory_order_release);
      for (std::thread& thread : threads) thread.join();
    }
  } joiner{stop, consumers};
  if (pin_failed.load()) {
    state.SkipWithError("cannot pin a consumer thread");
    return;
  }
  std::vector<moodycamel::ProducerToken> tokens;
  tokens.reserve(shape.producers);
  for (unsigned index = 0; index < shape.producers; ++index) tokens.emplace_back(queue);
  ProducerGang gang(shape.producer_cpus, [&](unsigned index) -> std::string {
    moodycamel::ProducerToken& token = tokens[index];
    for (std::uint64_t id = 1; id <= jobs_per_producer; ++id) {
      if (!queue.enqueue(token, id)) [[unlikely]] return "enqueue could not allocate a block";
    }
    return {};
  });
  const std::uint64_t rounds = run_rounds(state, gang, sinks, shape.jobs_per_round());
  gang.stop();
  if (state.error_occurred()) return;
  // The consumers spin until stopped; every item is counted once the round has been waited for.
  verify(state, sinks, rounds * shape.jobs_per_round(), rounds * shape.producers * sequence_sum_per_producer);
}

}  // namespace

JOBQ_THROUGHPUT_BENCHMARK(BM_throughput_condvar_pool_struct);
JOBQ_THROUGHPUT_BENCHMARK(BM_throughput_asio_thread_pool_struct);
JOBQ_THROUGHPUT_BENCHMARK(BM_throughput_tbb_arena_struct);
JOBQ_THROUGHPUT_BENCHMARK(BM_throughput_condvar_pool_json);
JOBQ_THROUGHPUT_BENCHMARK(BM_throughput_asio_thread_pool_json);
JOBQ_THROUGHPUT_BENCHMARK(BM_throughput_tbb_arena_json);
JOBQ_THROUGHPUT_BENCHMARK(BM_throughput_moodycamel_bare_8byte);

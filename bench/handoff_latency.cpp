// Handoff latency: a token goes back and forth between two threads pinned to two CPUs, and the
// figure is the time of one round trip (two handoffs, one each way).
//
//   BM_handoff_jobq_typed_token      two queues, "ping" (one worker, first CPU) and "pong" (one
//                                    worker, second CPU). The ping handler binds Token{n} and
//                                    dispatches it, typed, onto "pong"; the pong handler binds it
//                                    and dispatches Token{n + 1} back onto "ping". Each leg is the
//                                    engine's whole path: dispatch (route, reserve, serialize,
//                                    enqueue) → worker dequeue → handler call → bind.
//   BM_handoff_jobq_trusted_empty    the same two queues and workers, but each handler dispatches
//                                    a raw, trusted "{}" payload and binds nothing (the ping
//                                    handler counts its own runs): the engine's handoff without
//                                    JSON serialization and binding.
//   BM_handoff_moodycamel_ring       two bare moodycamel::ConcurrentQueue<uint32_t> with
//                                    producer and consumer tokens, two spinning threads.
//   BM_handoff_atomic_queue          two atomic_queue::AtomicQueue<uint32_t, 1024> (the default
//                                    MPMC variant), two spinning threads.
//
// One benchmark iteration is `round_trips` round trips. Its time is taken on the pinned threads
// themselves (UseManualTime): for jobq from the ping handler's run of token 0 to its run of token
// `round_trips`, for the rings around thread A's loop. The benchmark (coordinating) thread is not
// pinned and sleeps while an iteration runs, so the two pinned threads have their CPUs to
// themselves apart from the rest of the machine. ns_per_round_trip = time / round trips.
//
// Idle strategy: jobq's two workers use IdleStrategy::busy_spin, like the bare spinning threads;
// with spin_then_park a worker could fall asleep between legs and the figure would include futex
// wake-ups.
//
// Every token that comes back is checked (jobq: the shutdown report must show 2·round_trips + 1
// jobs per iteration, all succeeded); a mismatch fails the benchmark with SkipWithError.
#include <benchmark/benchmark.h>
#include <concurrentqueue.h>

#include <atomic>
#include <atomic_queue/atomic_queue.h>
#include <chrono>
#include <cstdint>
#include <exception>
#include <latch>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <jobq/internal/cpu.hpp>
#include <jobq/jobq.hpp>

#include "common/affinity.hpp"
#include "common/start.hpp"

namespace {

constexpr std::int64_t round_trips = 10'000;             // per benchmark iteration
constexpr benchmark::IterationCount iterations = 50;     // 500 000 round trips per benchmark
constexpr auto iteration_timeout = std::chrono::seconds(30);

using jobq::internal::cpu_relax;
using jobq_bench::pin_this_thread;

/// The first two CPUs this process may run on (CPUs 0 and 1 on an unrestricted machine), or
/// {-1, -1} when there are fewer than two.
struct CpuPair {
  int a = -1;
  int b = -1;
};

CpuPair plan_cpus() {
  const std::vector<int> cpus = jobq_bench::allowed_cpus();
  if (cpus.size() < 2) return {};
  return {cpus[0], cpus[1]};
}

void report(benchmark::State& state, double seconds) {
  const auto total = static_cast<double>(state.iterations()) * static_cast<double>(state.range(0));
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.counters["ns_per_round_trip"] = benchmark::Counter(seconds * 1e9 / total);
}

// ------------------------------------------------------------------------------------------------
// jobq: two queues, two pinned busy-spinning workers, handlers that dispatch onto each other.

struct Token {
  std::uint64_t n;
};
JOBQ_PAYLOAD(Token, n);

constexpr const char* ping_type = "pingpong:ping";
constexpr const char* pong_type = "pingpong:pong";

/// What the two handlers and the benchmark thread share. Only the engine's own traffic may cross
/// between the two CPUs while the token moves: the ping side's state is written by the ping
/// worker alone (and by the benchmark thread between iterations, published by its dispatch), and
/// `done` is written once per iteration.
struct Rally {
  std::uint64_t last = 0;  // the ping that ends an iteration (read-only while it runs)
  struct alignas(64) PingSide {
    std::uint64_t pings = 0;  // ping handler runs in this iteration
    std::chrono::steady_clock::time_point start;
    std::chrono::steady_clock::time_point stop;
  } ping;
  alignas(64) std::atomic<int> done{0};  // 0: running, 1: finished, 2: failed
  std::string error;                     // written before done = 2

  jobq::Status fail(std::string why) {
    error = std::move(why);
    done.store(2, std::memory_order_release);
    return jobq::Status::error(error);
  }
};

template <bool typed>
void jobq_ping_pong(benchmark::State& state) {
  const CpuPair cpus = plan_cpus();
  if (cpus.a < 0) {
    state.SkipWithError("needs two CPUs");
    return;
  }
  jobq::Config config;
  config.queues = {
      jobq::QueueConfig{.name = "ping", .workers = 1, .cpus = {static_cast<unsigned>(cpus.a)},
                        .idle = jobq::IdleStrategy::busy_spin},
      jobq::QueueConfig{.name = "pong", .workers = 1, .cpus = {static_cast<unsigned>(cpus.b)},
                        .idle = jobq::IdleStrategy::busy_spin},
  };
  Rally rally;
  rally.last = static_cast<std::uint64_t>(state.range(0));
  std::unique_ptr<jobq::Manager> owner;
  try {
    owner = std::make_unique<jobq::Manager>(std::move(config));
  } catch (const std::exception& error) {
    state.SkipWithError(error.what());
    return;
  }
  jobq::Manager& manager = *owner;
  const jobq::Job to_ping = jobq::Job(ping_type).trusted();  // trusted(): used by the raw dispatches only
  const jobq::Job to_pong = jobq::Job(pong_type).trusted();

  // "ping": notes the time of its first and of its last run, and otherwise sends the token to
  // "pong". The typed variant also checks that the token is the one expected.
  manager.register_handler(
      ping_type,
      [&](jobq::Context&, const jobq::Message& message) -> jobq::Status {
        const std::uint64_t n = rally.ping.pings++;
        if constexpr (typed) {
          Token token{};
          if (jobq::Status bound = message.bind(token); !bound) return rally.fail(bound.message());
          if (token.n != n) {
            return rally.fail("ping got token " + std::to_string(token.n) + ", expected " + std::to_string(n));
          }
        }
        if (n == 0) rally.ping.start = std::chrono::steady_clock::now();
        if (n == rally.last) {
          rally.ping.stop = std::chrono::steady_clock::now();
          rally.done.store(1, std::memory_order_release);
          return jobq::Status::success();
        }
        jobq::Result<jobq::JobId> sent = typed ? manager.dispatch(to_pong, Token{n}) : manager.dispatch(to_pong);
        if (!sent) return rally.fail("ping → pong: " + sent.error().message());
        return jobq::Status::success();
      },
      jobq::RegisterOptions{.queue = "ping"});
  // "pong": sends the token back to "ping" (typed: bound, and incremented).
  manager.register_handler(
      pong_type,
      [&](jobq::Context&, const jobq::Message& message) -> jobq::Status {
        auto sent = [&rally](const jobq::Result<jobq::JobId>& result) {
          return result ? jobq::Status::success() : rally.fail("pong → ping: " + result.error().message());
        };
        if constexpr (typed) {
          Token token{};
          if (jobq::Status bound = message.bind(token); !bound) return rally.fail(bound.message());
          return sent(manager.dispatch(to_ping, Token{token.n + 1}));
        } else {
          return sent(manager.dispatch(to_ping));
        }
      },
      jobq::RegisterOptions{.queue = "pong"});
  if (!jobq_bench::start_or_skip(state, manager)) return;

  double seconds = 0;
  for (auto _ : state) {
    rally.done.store(0, std::memory_order_relaxed);
    rally.ping.pings = 0;  // published to the ping worker by the dispatch below
    jobq::Result<jobq::JobId> first = typed ? manager.dispatch(to_ping, Token{0}) : manager.dispatch(to_ping);
    if (!first) {
      state.SkipWithError(first.error().message().c_str());
      break;
    }
    // The time is taken by the handlers; this thread only has to notice the end, so it sleeps.
    const auto deadline = std::chrono::steady_clock::now() + iteration_timeout;
    int done = 0;
    while ((done = rally.done.load(std::memory_order_acquire)) == 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    if (done != 1) {
      state.SkipWithError(done == 2 ? rally.error.c_str() : "timed out: the token stopped moving");
      break;
    }
    const double elapsed = std::chrono::duration<double>(rally.ping.stop - rally.ping.start).count();
    state.SetIterationTime(elapsed);
    seconds += elapsed;
  }

  const jobq::ShutdownReport shut = manager.shutdown(std::chrono::seconds(10));
  if (state.error_occurred()) return;
  report(state, seconds);
  const std::uint64_t expected = static_cast<std::uint64_t>(state.iterations()) * (2 * rally.last + 1);
  if (!shut.balanced() || shut.succeeded != expected || shut.failed != 0) {
    state.SkipWithError(("the shutdown report does not account for every job: succeeded " +
                         std::to_string(shut.succeeded) + ", failed " + std::to_string(shut.failed) +
                         ", expected " + std::to_string(expected))
                            .c_str());
  }
}

void BM_handoff_jobq_typed_token(benchmark::State& state) { jobq_ping_pong<true>(state); }
void BM_handoff_jobq_trusted_empty(benchmark::State& state) { jobq_ping_pong<false>(state); }

// ------------------------------------------------------------------------------------------------
// Bare rings: thread A sends token k and spins until it comes back; thread B spins and echoes.

/// `make_a()` runs on thread A and returns `uint32_t round_trip(uint32_t token)`; `make_b()` runs
/// on thread B and returns `bool echo()` (false when there was nothing to echo).
template <class MakeA, class MakeB>
void spin_ping_pong(benchmark::State& state, MakeA make_a, MakeB make_b) {
  const CpuPair cpus = plan_cpus();
  if (cpus.a < 0) {
    state.SkipWithError("needs two CPUs");
    return;
  }
  const auto last = static_cast<std::uint32_t>(state.range(0));
  std::atomic<unsigned> round{0};      // bumped by the benchmark thread to start an iteration
  std::atomic<unsigned> finished{0};   // the last round thread A completed
  std::atomic<bool> stopping{false};
  std::atomic<bool> pin_failed{false};
  std::uint64_t elapsed_ns = 0;        // written by A before `finished`
  std::uint64_t mismatches = 0;
  std::latch started(2);

  std::thread echo([&] {
    if (!pin_this_thread(cpus.b)) pin_failed.store(true);
    auto echo_once = make_b();
    started.count_down();
    while (!stopping.load(std::memory_order_relaxed)) {
      if (!echo_once()) cpu_relax();
    }
  });
  std::thread sender([&] {
    if (!pin_this_thread(cpus.a)) pin_failed.store(true);
    auto round_trip = make_a();
    started.count_down();
    unsigned seen = 0;
    for (;;) {
      round.wait(seen, std::memory_order_acquire);
      seen = round.load(std::memory_order_acquire);
      if (stopping.load(std::memory_order_acquire)) return;
      std::uint64_t bad = 0;
      const auto start = std::chrono::steady_clock::now();
      for (std::uint32_t token = 1; token <= last; ++token) {
        if (round_trip(token) != token) [[unlikely]] ++bad;
      }
      const auto stop = std::chrono::steady_clock::now();
      elapsed_ns = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(stop - start).count());
      mismatches += bad;
      finished.store(seen, std::memory_order_release);
      finished.notify_one();
    }
  });
  started.wait();

  if (pin_failed.load()) {
    state.SkipWithError("cannot pin the ping-pong threads");
  } else {
    double seconds = 0;
    for (auto _ : state) {
      const unsigned next = round.fetch_add(1, std::memory_order_release) + 1;
      round.notify_one();
      for (unsigned seen = finished.load(std::memory_order_acquire); seen != next;
           seen = finished.load(std::memory_order_acquire)) {
        finished.wait(seen, std::memory_order_acquire);
      }
      const double elapsed = static_cast<double>(elapsed_ns) * 1e-9;
      state.SetIterationTime(elapsed);
      seconds += elapsed;
    }
    report(state, seconds);
    if (mismatches != 0) state.SkipWithError((std::to_string(mismatches) + " tokens came back wrong").c_str());
  }
  stopping.store(true, std::memory_order_release);
  round.fetch_add(1, std::memory_order_release);
  round.notify_one();
  sender.join();
  echo.join();
}

void BM_handoff_moodycamel_ring(benchmark::State& state) {
  moodycamel::ConcurrentQueue<std::uint32_t> there;
  moodycamel::ConcurrentQueue<std::uint32_t> back;
  spin_ping_pong(
      state,
      [&] {
        return [&, producer = moodycamel::ProducerToken(there),
                consumer = moodycamel::ConsumerToken(back)](std::uint32_t token) mutable -> std::uint32_t {
          if (!there.enqueue(producer, token)) return 0;
          std::uint32_t echoed = 0;
          while (!back.try_dequeue(consumer, echoed)) cpu_relax();
          return echoed;
        };
      },
      [&] {
        return [&, consumer = moodycamel::ConsumerToken(there),
                producer = moodycamel::ProducerToken(back)]() mutable {
          std::uint32_t token = 0;
          if (!there.try_dequeue(consumer, token)) return false;
          return back.enqueue(producer, token);
        };
      });
}

void BM_handoff_atomic_queue(benchmark::State& state) {
  // Element 0 is the queue's empty marker (NIL): tokens start at 1.
  using Queue = atomic_queue::AtomicQueue<std::uint32_t, 1024>;
  auto there = std::make_unique<Queue>();
  auto back = std::make_unique<Queue>();
  spin_ping_pong(
      state,
      [&] {
        return [&](std::uint32_t token) -> std::uint32_t {
          while (!there->try_push(token)) cpu_relax();
          std::uint32_t echoed = 0;
          while (!back->try_pop(echoed)) cpu_relax();
          return echoed;
        };
      },
      [&] {
        return [&] {
          std::uint32_t token = 0;
          if (!there->try_pop(token)) return false;
          while (!back->try_push(token)) cpu_relax();
          return true;
        };
      });
}

}  // namespace

#define JOBQ_HANDOFF_BENCHMARK(name)                                                                \
  BENCHMARK(name)->ArgName("round_trips")->Arg(round_trips)->Iterations(iterations)->UseManualTime() \
      ->Unit(benchmark::kMicrosecond)

JOBQ_HANDOFF_BENCHMARK(BM_handoff_jobq_typed_token);
JOBQ_HANDOFF_BENCHMARK(BM_handoff_jobq_trusted_empty);
JOBQ_HANDOFF_BENCHMARK(BM_handoff_moodycamel_ring);
JOBQ_HANDOFF_BENCHMARK(BM_handoff_atomic_queue);

BENCHMARK_MAIN();

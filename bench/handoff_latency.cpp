// Handoff latency, in two shapes, each against bare rings moving the same token.
//
// Job and reply: a producer thread pinned to one CPU sends a job and spins on a reply flag that
// the job's handler (or consumer) sets on a second CPU; the figure is one round trip.
//
//   BM_handoff_reply_jobq_typed      the producer dispatches Token{k}, typed, onto "echo" (one
//                                    busy-spinning worker on the second CPU); the handler binds
//                                    it and stores k into the flag.
//   BM_handoff_reply_moodycamel_ring the producer enqueues Token{k} on a bare moodycamel queue
//                                    (producer token); a thread spinning on try_dequeue
//                                    (consumer token) stores k into the flag.
//   BM_handoff_reply_atomic_queue    the same with atomic_queue::AtomicQueue<uint64_t, 1024>.
//
// Ping-pong: a token goes back and forth between two threads, and the figure is one round trip
// (two handoffs through the queue, one each way).
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
// themselves (UseManualTime): for jobq's ping-pong from the ping handler's run of token 0 to its
// run of token `round_trips`, for the others around the sending thread's loop, which makes one
// untimed round trip first so that each side's first-use setup (producer tokens, engine producer
// state) is outside the timing. The benchmark (coordinating) thread is not pinned and sleeps while
// an iteration runs, so the two pinned threads have their CPUs to themselves apart from the rest
// of the machine. ns_per_round_trip = time / round trips.
//
// Idle strategy: jobq's workers use IdleStrategy::busy_spin, like the bare spinning threads;
// with spin_then_park a worker could fall asleep between legs and the figure would include futex
// wake-ups.
//
// Every token that comes back is checked, and tokens never repeat within a run, so a stale reply
// cannot pass for a fresh one (jobq: the shutdown report must show every job succeeded:
// round_trips per iteration plus the untimed one for the reply, 2·round_trips + 1 per iteration
// for the ping-pong); a mismatch, or a reply that does not come within 30 s, fails the benchmark
// with SkipWithError.
#include <benchmark/benchmark.h>
#include <concurrentqueue.h>

#include <atomic>
#include <atomic_queue/atomic_queue.h>
#include <chrono>
#include <cstdint>
#include <latch>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <jobq/internal/cpu.hpp>
#include <jobq/jobq.hpp>

#include "common/affinity.hpp"
#include "common/shutdown.hpp"
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

/// The CPU pair; {-1, -1}, after SkipWithError, when there are fewer than two CPUs.
CpuPair plan_cpus_or_skip(benchmark::State& state) {
  const std::vector<int> cpus = jobq_bench::allowed_cpus();
  if (cpus.size() < 2) {
    state.SkipWithError("needs two CPUs");
    return {};
  }
  return {cpus[0], cpus[1]};
}

/// Fails the benchmark unless the shutdown report shows `expected` jobs, all of them succeeded.
void check_shutdown(benchmark::State& state, const jobq::ShutdownReport& shut, std::uint64_t expected) {
  if (const std::string why = jobq_bench::unaccounted_jobs(shut, expected); !why.empty()) {
    state.SkipWithError(why.c_str());
  }
}

void report(benchmark::State& state, double seconds) {
  const auto total = static_cast<double>(state.iterations()) * static_cast<double>(state.range(0));
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.counters["ns_per_round_trip"] = benchmark::Counter(seconds * 1e9 / total);
}

/// The payload of jobq's typed jobs, and the element of the reply shape's moodycamel ring.
struct Token {
  std::uint64_t n;
};
JOBQ_PAYLOAD(Token, n);

// ------------------------------------------------------------------------------------------------
// jobq's ping-pong: two queues, two pinned busy-spinning workers, handlers that dispatch onto each
// other.

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
  const CpuPair cpus = plan_cpus_or_skip(state);
  if (cpus.a < 0) return;
  jobq::Config config;
  config.queues = {
      jobq::QueueConfig{.name = "ping", .workers = 1, .cpus = {static_cast<unsigned>(cpus.a)},
                        .idle = jobq::IdleStrategy::busy_spin},
      jobq::QueueConfig{.name = "pong", .workers = 1, .cpus = {static_cast<unsigned>(cpus.b)},
                        .idle = jobq::IdleStrategy::busy_spin},
  };
  Rally rally;
  rally.last = static_cast<std::uint64_t>(state.range(0));
  const std::unique_ptr<jobq::Manager> owner = jobq_bench::make_manager_or_skip(state, std::move(config));
  if (!owner) return;
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
  check_shutdown(state, shut, static_cast<std::uint64_t>(state.iterations()) * (2 * rally.last + 1));
}

void BM_handoff_jobq_typed_token(benchmark::State& state) { jobq_ping_pong<true>(state); }
void BM_handoff_jobq_trusted_empty(benchmark::State& state) { jobq_ping_pong<false>(state); }

// ------------------------------------------------------------------------------------------------
// The timed side of every shape but jobq's ping-pong: thread A sends a token and waits for it to
// come back, `round_trips` times per iteration. Tokens count up from 1 across the whole run (one
// untimed round trip, then the iterations'), so none is ever sent twice.

/// Runs the benchmark's iterations on a thread pinned to `cpu`: `make_a()` runs on that thread and
/// returns `uint32_t round_trip(uint32_t token)`, which sends `token` and returns what came back
/// (0 when it could not be sent or no good reply came). The other side (a spinning thread, or a
/// jobq worker) must be ready before this is called. An iteration stops at its first bad reply.
template <class MakeA>
void time_round_trips(benchmark::State& state, int cpu, MakeA make_a) {
  const auto last = static_cast<std::uint32_t>(state.range(0));
  std::atomic<unsigned> round{0};      // bumped by the benchmark thread to start an iteration
  std::atomic<unsigned> finished{0};   // the last round thread A completed
  std::atomic<bool> stopping{false};
  std::atomic<bool> pin_failed{false};
  std::uint64_t elapsed_ns = 0;        // written by A before `finished`
  std::uint64_t mismatches = 0;
  std::latch started(1);

  std::thread sender([&] {
    if (!pin_this_thread(cpu)) pin_failed.store(true);
    auto round_trip = make_a();
    std::uint32_t next_token = 1;
    if (round_trip(next_token) != next_token) ++mismatches;  // the untimed first use
    ++next_token;
    started.count_down();
    unsigned seen = 0;
    for (;;) {
      round.wait(seen, std::memory_order_acquire);
      seen = round.load(std::memory_order_acquire);
      if (stopping.load(std::memory_order_acquire)) return;
      std::uint64_t bad = 0;
      const std::uint32_t end = next_token + last;
      const auto start = std::chrono::steady_clock::now();
      for (; next_token != end; ++next_token) {
        if (round_trip(next_token) != next_token) [[unlikely]] {
          ++bad;
          next_token = end;
          break;
        }
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
    state.SkipWithError("cannot pin the sending thread");
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
}

/// Bare rings: thread A (first CPU) runs `make_a()`'s round_trip as above; thread B (second CPU)
/// runs `make_b()`, which returns `bool serve_once()` (echo the token back, or set the reply flag;
/// false when there was nothing to take), until the benchmark ends.
template <class MakeA, class MakeB>
void spin_pair(benchmark::State& state, MakeA make_a, MakeB make_b) {
  const CpuPair cpus = plan_cpus_or_skip(state);
  if (cpus.a < 0) return;
  std::atomic<bool> stopping{false};
  std::atomic<bool> pin_failed{false};
  std::latch started(1);
  std::thread server([&] {
    if (!pin_this_thread(cpus.b)) pin_failed.store(true);
    auto serve_once = make_b();
    started.count_down();
    while (!stopping.load(std::memory_order_relaxed)) {
      if (!serve_once()) cpu_relax();
    }
  });
  started.wait();
  if (pin_failed.load()) {
    state.SkipWithError("cannot pin the serving thread");
  } else {
    time_round_trips(state, cpus.a, make_a);
  }
  stopping.store(true, std::memory_order_release);
  server.join();
}

void BM_handoff_moodycamel_ring(benchmark::State& state) {
  moodycamel::ConcurrentQueue<std::uint32_t> there;
  moodycamel::ConcurrentQueue<std::uint32_t> back;
  spin_pair(
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
  spin_pair(
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

// ------------------------------------------------------------------------------------------------
// Job and reply: one handoff through the queue, the reply through a flag.

/// The flag a reply is written to, on a line of its own.
struct alignas(64) ReplyFlag {
  static constexpr std::uint64_t failed = ~std::uint64_t{0};
  std::atomic<std::uint64_t> value{0};
};

/// Spins until the reply to `token` is in; 0 if the other side reported a failure instead, or if
/// no reply came within the iteration timeout (the clock is read once every 64Ki spins).
std::uint32_t await_reply(const ReplyFlag& reply, std::uint32_t token) {
  std::uint64_t seen = 0;
  std::uint32_t spins = 0;
  std::chrono::steady_clock::time_point deadline{};
  while ((seen = reply.value.load(std::memory_order_acquire)) != token) {
    if (seen == ReplyFlag::failed) return 0;
    if (++spins % 65'536 == 0) [[unlikely]] {
      const auto now = std::chrono::steady_clock::now();
      if (deadline == std::chrono::steady_clock::time_point{}) deadline = now + iteration_timeout;
      if (now > deadline) return 0;
    }
    cpu_relax();
  }
  return token;
}

constexpr const char* echo_type = "reply:echo";

void BM_handoff_reply_jobq_typed(benchmark::State& state) {
  const CpuPair cpus = plan_cpus_or_skip(state);
  if (cpus.a < 0) return;
  jobq::Config config;
  config.queues = {jobq::QueueConfig{.name = "echo", .workers = 1, .cpus = {static_cast<unsigned>(cpus.b)},
                                     .idle = jobq::IdleStrategy::busy_spin}};
  ReplyFlag reply;
  const std::unique_ptr<jobq::Manager> owner = jobq_bench::make_manager_or_skip(state, std::move(config));
  if (!owner) return;
  jobq::Manager& manager = *owner;
  manager.register_handler(
      echo_type,
      [&](jobq::Context&, const jobq::Message& message) -> jobq::Status {
        Token token{};
        if (jobq::Status bound = message.bind(token); !bound) {
          reply.value.store(ReplyFlag::failed, std::memory_order_release);
          return bound;
        }
        reply.value.store(token.n, std::memory_order_release);
        return jobq::Status::success();
      },
      jobq::RegisterOptions{.queue = "echo"});
  if (!jobq_bench::start_or_skip(state, manager)) return;
  const jobq::Job to_echo(echo_type);
  time_round_trips(state, cpus.a, [&] {
    return [&](std::uint32_t token) -> std::uint32_t {
      if (!manager.dispatch(to_echo, Token{token})) return 0;
      return await_reply(reply, token);
    };
  });
  const jobq::ShutdownReport shut = manager.shutdown(std::chrono::seconds(10));
  if (state.error_occurred()) return;
  check_shutdown(state, shut, static_cast<std::uint64_t>(state.iterations() * state.range(0)) + 1);  // + the untimed one
}

void BM_handoff_reply_moodycamel_ring(benchmark::State& state) {
  moodycamel::ConcurrentQueue<Token> there;
  ReplyFlag reply;
  spin_pair(
      state,
      [&] {
        return [&, producer = moodycamel::ProducerToken(there)](std::uint32_t token) mutable -> std::uint32_t {
          if (!there.enqueue(producer, Token{token})) return 0;
          return await_reply(reply, token);
        };
      },
      [&] {
        return [&, consumer = moodycamel::ConsumerToken(there)]() mutable {
          Token token{};
          if (!there.try_dequeue(consumer, token)) return false;
          reply.value.store(token.n, std::memory_order_release);
          return true;
        };
      });
}

void BM_handoff_reply_atomic_queue(benchmark::State& state) {
  // Element 0 is the queue's empty marker (NIL): tokens start at 1.
  using Queue = atomic_queue::AtomicQueue<std::uint64_t, 1024>;
  auto there = std::make_unique<Queue>();
  ReplyFlag reply;
  spin_pair(
      state,
      [&] {
        return [&](std::uint32_t token) -> std::uint32_t {
          while (!there->try_push(token)) cpu_relax();
          return await_reply(reply, token);
        };
      },
      [&] {
        return [&] {
          std::uint64_t token = 0;
          if (!there->try_pop(token)) return false;
          reply.value.store(token, std::memory_order_release);
          return true;
        };
      });
}

}  // namespace

#define JOBQ_HANDOFF_BENCHMARK(name)                                                                \
  BENCHMARK(name)->ArgName("round_trips")->Arg(round_trips)->Iterations(iterations)->UseManualTime() \
      ->Unit(benchmark::kMicrosecond)

JOBQ_HANDOFF_BENCHMARK(BM_handoff_reply_jobq_typed);
JOBQ_HANDOFF_BENCHMARK(BM_handoff_reply_moodycamel_ring);
JOBQ_HANDOFF_BENCHMARK(BM_handoff_reply_atomic_queue);
JOBQ_HANDOFF_BENCHMARK(BM_handoff_jobq_typed_token);
JOBQ_HANDOFF_BENCHMARK(BM_handoff_jobq_trusted_empty);
JOBQ_HANDOFF_BENCHMARK(BM_handoff_moodycamel_ring);
JOBQ_HANDOFF_BENCHMARK(BM_handoff_atomic_queue);

BENCHMARK_MAIN();

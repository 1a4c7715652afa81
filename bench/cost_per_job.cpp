// What one job costs, in steady state: heap allocations per job, and the producer's time per
// dispatch.
//
// (a) Allocations per job, one producer → one queue → one worker (default idle strategy), the
//     handler binding the payload into a struct it keeps. After a warm-up of 10 000 jobs, the
//     allocations made by every thread (producer and worker) while 100 000 more jobs run are
//     counted and divided by the job count. The producer keeps at most 256 jobs in flight (a
//     closed loop, the same in warm-up and measurement). Ring memory grows to the peak depth and
//     is then reused, so the warm-up first holds the worker in its first job while 352 jobs queue
//     up: the ring then owns the blocks that any depth up to 256 can need, and a rare stall of
//     the worker during the measurement (a preempted thread on a shared machine) cannot show up
//     as ring growth. Then 10 000 jobs run in the closed loop before counting starts.
//
//       BM_allocs_per_job_jobq/<bytes>      typed dispatch: the struct is copied into the
//                                           envelope (inline: it is 40 bytes) and moved out by
//                                           the handler's bind
//       BM_allocs_per_job_jobq_raw/<bytes>  raw dispatch of pre-serialized JSON, validated
//
//     <bytes> is the payload's exact size as JSON. Raw payloads of 64 and 256 bytes travel inline
//     in the envelope, 1024 spills to one engine allocation. Counters: allocs_per_job (all
//     allocations), mi_allocs_per_job (the engine's jobq::internal::allocate, i.e. mi_malloc),
//     new_per_job (global operator new). A typed dispatch of an lvalue copies the struct, and
//     with it the note string's heap buffer when the note outgrows std::string's inline 15
//     characters: that one operator new per job is the caller's copy, not the engine's. At 42
//     bytes the note (15 characters) fits that inline buffer, and the copy allocates nothing.
//     The time per iteration is the closed loop's time per job, for information only.
//
//     How allocations are counted:
//     - Global operator new and operator delete, every form (plain, array, nothrow, aligned,
//       sized), are replaced (common/allocation_counter.cpp) by versions that count and forward to malloc/free. That
//       covers std::string, std::vector, simdjson's parser, in this program and in libstdc++.
//     - The engine allocates with mi_malloc (src/jobq/internal/allocator.hpp). This program is
//       linked with -Wl,--wrap=mi_malloc (bench/CMakeLists.txt), so every call to mi_malloc from
//       this program's code and from the static jobq library lands in __wrap_mi_malloc there,
//       which counts and calls the real one. Calls inside libmimalloc itself (its malloc, which
//       operator new reaches, since libmimalloc also overrides malloc) are not wrapped, so
//       nothing is counted twice. (A shared libjobq would not be wrapped inside; jobq builds a
//       static library.)
//     - Proof that the counter counts: before measuring, each benchmark checks that one
//       jobq::internal::allocate and one ::operator new are each counted once, and the raw 1 KiB
//       (spilled) case must come out at ≥ 0.99 engine allocations per job, or it reports an error.
//     Counters are global relaxed atomics, shared by all threads.
//
// (b) Dispatch cost alone: the time of `dispatch` on the producer thread, while the queue's
//     worker (busy_spin, pinned to another CPU, a handler that only counts) drains as fast as it
//     can. The timed loop is the dispatches only; the drain is waited for afterwards, untimed.
//     The time per iteration is the time per dispatch. A dispatch refused with queue_full is
//     retried, and the retries are timed and counted (`full_retries`): non-zero means the worker,
//     not the producer, set the pace.
//
//       BM_dispatch_jobq/<bytes>              typed: serialize the struct into the producer's
//                                             buffer, reserve, enqueue
//       BM_dispatch_jobq_raw/<bytes>          raw, validated (Config::validate_payloads)
//       BM_dispatch_jobq_raw_trusted/<bytes>  raw, Job::trusted(): copied, not validated
//       BM_dispatch_moodycamel                baseline: one 8-byte item enqueued with a producer
//                                             token onto a bare moodycamel queue that a consumer
//                                             thread drains with bulk dequeues
//
// CPUs: as in end_to_end_1to1.cpp, the producer runs on the first CPU this process may use and
// the worker on the second.
#include <benchmark/benchmark.h>
#include <concurrentqueue.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <string>
#include <thread>

#include <jobq/internal/allocator.hpp>
#include <jobq/internal/cpu.hpp>
#include <jobq/internal/envelope.hpp>
#include <jobq/jobq.hpp>

#include "baselines/spinning_consumer.hpp"
#include "common/affinity.hpp"
#include "common/allocation_counter.hpp"
#include "common/shutdown.hpp"
#include "common/sink.hpp"
#include "common/start.hpp"

namespace {

constexpr benchmark::IterationCount measured_jobs = 100'000;
constexpr std::uint64_t warmup_jobs = 10'000;
constexpr std::uint64_t in_flight_limit = 256;
constexpr std::uint64_t prefill_jobs = in_flight_limit + 3 * 32;  // 3 ring blocks (of 32) to spare
constexpr benchmark::IterationCount dispatch_iterations = 1'000'000;

struct Note {
  std::uint64_t id;
  std::string note;
};
JOBQ_PAYLOAD(Note, id, note);

// {"id":1000000000,"note":"…"}: 27 bytes around the note while ids have 10 digits.
constexpr std::size_t note_overhead = 27;
constexpr std::uint64_t first_id = 1'000'000'000;

/// A Note that serializes to exactly `bytes` bytes (for ids of 10 digits).
Note make_note(std::size_t bytes, std::uint64_t id) {
  return Note{id, std::string(bytes > note_overhead ? bytes - note_overhead : 0, 'n')};
}

using jobq::internal::cpu_relax;
using jobq_bench::pin_this_thread;
using jobq_bench::ScopedPin;

using jobq_bench::Sink;
using jobq_bench::wait_for;

/// One queue, "notes", with one worker, pinned to the consumer CPU when there is one.
jobq::Config notes_queue_config(const jobq_bench::ProducerConsumerCpus& cpus,
                                jobq::IdleStrategy idle = jobq::QueueConfig{}.idle) {
  jobq::QueueConfig notes{.name = "notes", .workers = 1};
  if (cpus.consumer >= 0) notes.cpus = {static_cast<unsigned>(cpus.consumer)};
  notes.idle = idle;
  jobq::Config config;
  config.queues = {notes};
  return config;
}

/// Starts the manager's workers; false, with the benchmark skipped, if it cannot. Call it before
/// pinning the producer (benchmark) thread: workers that start() does not pin inherit the calling
/// thread's affinity.
bool start_workers(benchmark::State& state, jobq::Manager& manager) {
  if (!jobq_bench::start_or_skip(state, manager)) return false;
  return true;
}

/// False, with the benchmark skipped, if `pin` could not pin the producer thread.
bool producer_pinned(benchmark::State& state, const ScopedPin& pin) {
  if (pin.ok()) return true;
  state.SkipWithError("cannot pin the producer thread");
  return false;
}

// --- (a) allocations per job -------------------------------------------------------------------

template <bool raw>
void allocs_per_job(benchmark::State& state) {
  if (const char* problem = counting::problem()) {
    state.SkipWithError(problem);
    return;
  }
  const auto bytes = static_cast<std::size_t>(state.range(0));
  const jobq_bench::ProducerConsumerCpus cpus = jobq_bench::producer_consumer_cpus();

  Sink sink;
  Note bound;  // touched by the worker only, while jobs run
  std::atomic<bool> gate{false};  // holds the worker in its first job until the prefill is queued
  jobq::Manager manager(notes_queue_config(cpus));
  manager.register_handler(
      "notes:record",
      [&sink, &bound, &gate](jobq::Context&, const jobq::Message& message) {
        while (!gate.load(std::memory_order_acquire)) [[unlikely]] cpu_relax();
        jobq::Status status = message.bind(bound);
        jobq_bench::record_job(sink, status.ok(), bound.id);
        return status;
      },
      jobq::RegisterOptions{.queue = "notes"});
  if (!start_workers(state, manager)) return;
  const ScopedPin pin(cpus.producer);  // after start(): see start_workers
  if (!producer_pinned(state, pin)) return;

  Note note = make_note(bytes, first_id);
  std::string text;
  {
    jobq::Result<std::string> serialized = jobq::to_json(note);
    if (!serialized || serialized->size() != bytes) {
      state.SkipWithError("the payload does not serialize to the requested size");
      return;
    }
    text = *serialized;
  }
  std::uint64_t sent = 0;
  bool closed_loop = false;
  auto dispatch_one = [&]() -> jobq::Result<jobq::JobId> {
    // Closed loop: at most in_flight_limit jobs queued or running.
    while (closed_loop && sent - sink.count.load(std::memory_order_acquire) >= in_flight_limit) cpu_relax();
    if constexpr (raw) {
      return manager.dispatch(jobq::Job("notes:record").payload(text));
    } else {
      note.id = first_id + sent;
      return manager.dispatch(jobq::Job("notes:record"), note);
    }
  };

  // Warm-up, untimed and not counted: first the prefill, queued while the worker is held, then
  // the closed loop.
  auto warm_up = [&](std::uint64_t jobs) {
    for (std::uint64_t index = 0; index < jobs; ++index) {
      if (jobq::Result<jobq::JobId> result = dispatch_one(); !result) {
        state.SkipWithError(result.error().message().c_str());
        return false;
      }
      ++sent;
    }
    return true;
  };
  const bool prefilled = warm_up(prefill_jobs);
  gate.store(true, std::memory_order_release);
  if (!prefilled) return;
  closed_loop = true;
  if (!warm_up(warmup_jobs)) return;
  if (!wait_for(sink, sent)) {
    state.SkipWithError("the warm-up jobs did not run");
    return;
  }
  const std::uint64_t first_measured = sent;

  const auto last = first_measured + static_cast<std::uint64_t>(state.max_iterations);
  std::uint64_t news_before = 0;
  std::uint64_t mallocs_before = 0;
  std::uint64_t news_after = 0;
  std::uint64_t mallocs_after = 0;
  for (auto _ : state) {
    if (sent == first_measured) [[unlikely]] {
      news_before = counting::read(counting::news);
      mallocs_before = counting::read(counting::mallocs);
    }
    jobq::Result<jobq::JobId> result = dispatch_one();
    if (!result) [[unlikely]] {
      state.SkipWithError(result.error().message().c_str());
      break;
    }
    if (++sent == last) [[unlikely]] {
      if (!wait_for(sink, sent)) {
        state.SkipWithError("timed out waiting for the worker to run every job");
        break;
      }
      news_after = counting::read(counting::news);
      mallocs_after = counting::read(counting::mallocs);
    }
  }
  const jobq::ShutdownReport report = manager.shutdown(std::chrono::seconds(10));
  if (state.error_occurred()) return;

  const auto jobs = static_cast<double>(state.iterations());
  const double news = static_cast<double>(news_after - news_before) / jobs;
  const double mallocs = static_cast<double>(mallocs_after - mallocs_before) / jobs;
  state.counters["allocs_per_job"] = benchmark::Counter(news + mallocs);
  state.counters["mi_allocs_per_job"] = benchmark::Counter(mallocs);
  state.counters["new_per_job"] = benchmark::Counter(news);
  state.counters["payload_bytes"] = benchmark::Counter(static_cast<double>(bytes));

  const std::uint64_t expected_sum =
      raw ? first_id * sent : first_id * sent + sent * (sent - 1) / 2;
  if (sink.bad.load() != 0) {
    state.SkipWithError("the handler could not bind some payloads");
  } else if (sink.sum.load() != expected_sum) {
    state.SkipWithError("the handler saw the wrong sum of ids");
  } else if (const std::string why = jobq_bench::unaccounted_jobs(report, sent); !why.empty()) {
    state.SkipWithError(why.c_str());
  } else if (raw && bytes > jobq::internal::inline_payload_bytes && mallocs < 0.99) {
    // A spilled raw payload is one engine allocation per job: a counter that misses it is broken.
    state.SkipWithError("the allocation counter missed the spilled payload blocks");
  }
}

void BM_allocs_per_job_jobq(benchmark::State& state) { allocs_per_job<false>(state); }
void BM_allocs_per_job_jobq_raw(benchmark::State& state) { allocs_per_job<true>(state); }

// --- (b) dispatch cost -------------------------------------------------------------------------

enum class Mode { typed, raw, raw_trusted };

template <Mode mode>
void dispatch_cost(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  const jobq_bench::ProducerConsumerCpus cpus = jobq_bench::producer_consumer_cpus();

  Sink sink;
  jobq::Manager manager(notes_queue_config(cpus, jobq::IdleStrategy::busy_spin));
  manager.register_handler(
      "notes:record",
      [&sink](jobq::Context&, const jobq::Message&) {
        sink.count.fetch_add(1, std::memory_order_release);
        return jobq::Status::success();
      },
      jobq::RegisterOptions{.queue = "notes"});
  if (!start_workers(state, manager)) return;
  const ScopedPin pin(cpus.producer);  // after start(): see start_workers
  if (!producer_pinned(state, pin)) return;

  Note note = make_note(bytes, first_id);
  std::string text;
  if (jobq::Result<std::string> serialized = jobq::to_json(note); serialized) {
    text = *serialized;
  } else {
    state.SkipWithError(serialized.error().message().c_str());
    return;
  }
  std::uint64_t sent = 0;
  auto dispatch_one = [&]() -> jobq::Result<jobq::JobId> {
    if constexpr (mode == Mode::typed) {
      note.id = first_id + sent;
      return manager.dispatch(jobq::Job("notes:record"), note);
    } else if constexpr (mode == Mode::raw) {
      return manager.dispatch(jobq::Job("notes:record").payload(text));
    } else {
      return manager.dispatch(jobq::Job("notes:record").payload(text).trusted());
    }
  };

  // Warm-up, untimed: producer state, serialization buffer, validator.
  for (int index = 0; index < 1000; ++index) {
    if (jobq::Result<jobq::JobId> warm = dispatch_one(); !warm) {
      state.SkipWithError(warm.error().message().c_str());
      return;
    }
    ++sent;
  }
  if (!wait_for(sink, sent)) {
    state.SkipWithError("the warm-up jobs did not run");
    return;
  }

  std::uint64_t full_retries = 0;
  for (auto _ : state) {
    jobq::Result<jobq::JobId> result = dispatch_one();
    while (!result && result.code() == jobq::Errc::queue_full) [[unlikely]] {
      ++full_retries;
      cpu_relax();
      result = dispatch_one();
    }
    if (!result) [[unlikely]] {
      state.SkipWithError(result.error().message().c_str());
      break;
    }
    ++sent;
  }
  // Untimed: the loop above is the dispatches only.
  const bool drained = wait_for(sink, sent);
  state.counters["full_retries"] = benchmark::Counter(static_cast<double>(full_retries));
  state.counters["payload_bytes"] = benchmark::Counter(static_cast<double>(bytes));

  const jobq::ShutdownReport report = manager.shutdown(std::chrono::seconds(10));
  if (state.error_occurred()) return;
  if (!drained) {
    state.SkipWithError("timed out waiting for the worker to run every job");
  } else if (const std::string why = jobq_bench::unaccounted_jobs(report, sent); !why.empty()) {
    state.SkipWithError(why.c_str());
  }
}

void BM_dispatch_jobq(benchmark::State& state) { dispatch_cost<Mode::typed>(state); }
void BM_dispatch_jobq_raw(benchmark::State& state) { dispatch_cost<Mode::raw>(state); }
void BM_dispatch_jobq_raw_trusted(benchmark::State& state) { dispatch_cost<Mode::raw_trusted>(state); }

void BM_dispatch_moodycamel(benchmark::State& state) {
  const jobq_bench::ProducerConsumerCpus cpus = jobq_bench::producer_consumer_cpus();
  moodycamel::ConcurrentQueue<std::uint64_t> queue;
  Sink sink;
  // The consumer token lives on the consumer thread's side: only that thread touches it.
  moodycamel::ConsumerToken consumer_token(queue);
  std::array<std::uint64_t, 8> items{};  // the same batch as jobq's default dequeue_batch
  jobq_bench::SpinningConsumer consumer(cpus.consumer, [&] {
    const std::size_t taken = queue.try_dequeue_bulk(consumer_token, items.begin(), items.size());
    if (taken == 0) return false;
    std::uint64_t sum = 0;
    for (std::size_t index = 0; index < taken; ++index) sum += items[index];
    jobq_bench::record_items(sink, sum, taken);
    return true;
  });
  if (!consumer.pinned()) {
    state.SkipWithError("cannot pin the consumer thread");
    return;
  }
  const ScopedPin pin(cpus.producer);
  if (!producer_pinned(state, pin)) return;
  moodycamel::ProducerToken token(queue);

  std::uint64_t sent = 0;
  for (int index = 0; index < 1000; ++index) {
    if (!queue.enqueue(token, ++sent)) {
      state.SkipWithError("enqueue could not allocate a block");
      return;
    }
  }
  if (!wait_for(sink, sent)) {
    state.SkipWithError("the warm-up items were not consumed");
    return;
  }
  for (auto _ : state) {
    if (!queue.enqueue(token, ++sent)) [[unlikely]] {
      state.SkipWithError("enqueue could not allocate a block");
      break;
    }
  }
  const bool drained = wait_for(sink, sent);
  if (state.error_occurred()) return;
  if (!drained) {
    state.SkipWithError("timed out waiting for the consumer to take every item");
  } else if (sink.sum.load() != sent * (sent + 1) / 2) {
    state.SkipWithError("the consumer saw the wrong sum");
  }
}

}  // namespace

BENCHMARK(BM_allocs_per_job_jobq)->Arg(42)->Arg(64)->Arg(256)->Arg(1024)->Iterations(measured_jobs)->UseRealTime();
BENCHMARK(BM_allocs_per_job_jobq_raw)->Arg(64)->Arg(256)->Arg(1024)->Iterations(measured_jobs)->UseRealTime();
BENCHMARK(BM_dispatch_jobq)->Arg(64)->Arg(1024)->Iterations(dispatch_iterations)->UseRealTime();
BENCHMARK(BM_dispatch_jobq_raw)->Arg(64)->Arg(1024)->Iterations(dispatch_iterations)->UseRealTime();
BENCHMARK(BM_dispatch_jobq_raw_trusted)->Arg(64)->Arg(1024)->Iterations(dispatch_iterations)->UseRealTime();
BENCHMARK(BM_dispatch_moodycamel)->Iterations(dispatch_iterations)->UseRealTime();

BENCHMARK_MAIN();

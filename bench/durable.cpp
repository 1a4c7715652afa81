// Durable queues end to end, one producer → one process, against the same Redis: jobq's durable
// lane against what a user would otherwise write on hiredis, and against BullMQ.
//
//   BM_durable_e2e_jobq_bulk       dispatch_bulk() in batches of 256 (one Lua script each), one
//                                  worker; the lane fetches 256 at a time (prefetch 512) and
//                                  acknowledges in batches. Every job: XADD with its 8 fields, a
//                                  delivery, an XACK and an XDEL.
//   BM_durable_e2e_jobq_async      dispatch_async(), one producer thread: the lane's sender pipelines
//                                  what is in flight; the callback counts the acknowledgements.
//   BM_durable_e2e_jobq_dispatch   dispatch(), one round trip per job, from 1 and from 8 producer
//                                  threads (arg producers).
//   BM_durable_e2e_hiredis_pipeline
//                                  the baseline: a producer thread pipelining XADD (type and
//                                  payload fields) 256 at a time on its own connection; a consumer
//                                  thread on another, XREADGROUP COUNT 256, then XACK and XDEL of
//                                  the batch in one pipelined round trip.
//   BM_durable_e2e_bullmq          BullMQ (Node), addBulk of 256 and a Worker at concurrency 50,
//                                  when bench/bullmq/run.sh finds node and npm (it installs bullmq
//                                  into the build directory); skipped with a message otherwise.
//
// arg aof: 0 runs against a redis-server with the AOF off, 1 with appendfsync everysec. Each
// iteration moves `jobs` jobs; counter cpu_s_per_100k is the CPU time of this process plus
// redis-server's (and node's, for BullMQ) per 100k jobs.
#include <benchmark/benchmark.h>
#include <hiredis/hiredis.h>
#include <sys/resource.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "jobq/jobq.hpp"
#include "jobq/redis.hpp"
#include "redis_server.hpp"

namespace {

using namespace std::chrono_literals;

constexpr int batch = 256;
const std::string payload = R"({"order":12345,"sku":"A-100","quantity":2})";

jobq::testing::RedisServer& server(int aof) {
  static jobq::testing::RedisServer without_aof({"--appendonly", "no"});
  static jobq::testing::RedisServer everysec;
  return aof == 0 ? without_aof : everysec;
}

double seconds_of(const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; }

double own_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return seconds_of(usage.ru_utime) + seconds_of(usage.ru_stime);
}

/// utime + stime of a process, from /proc.
double process_cpu_seconds(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  if (close == std::string::npos) return 0;
  std::vector<std::string> fields;
  std::string field;
  for (std::size_t index = close + 2; index <= text.size(); ++index) {
    if (index == text.size() || text[index] == ' ') {
      fields.push_back(field);
      field.clear();
    } else {
      field += text[index];
    }
  }
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  return (std::stod(fields.at(11)) + std::stod(fields.at(12))) / ticks;  // utime, stime
}

void flush(jobq::testing::RedisServer& redis) { freeReplyObject(redis.command({"FLUSHALL"})); }

struct CpuMeter {
  explicit CpuMeter(pid_t redis_pid) : redis(redis_pid), own(own_cpu_seconds()), server(process_cpu_seconds(redis_pid)) {}
  double per_100k(int jobs) const {
    const double used = own_cpu_seconds() - own + process_cpu_seconds(redis) - server;
    return used * 100000.0 / jobs;
  }
  pid_t redis;
  double own, server;
};

jobq::Config durable_config(std::shared_ptr<jobq::redis::Lane> lane) {
  jobq::Config config;
  config.queues = {jobq::QueueConfig{.name = "default"},
                   jobq::QueueConfig{.name = "orders", .workers = 1, .lane = std::move(lane)}};
  return config;
}

/// One Manager whose durable "orders" queue (one worker) counts the jobs it runs: what each jobq
/// benchmark sets up outside its timed region.
struct DurableRun {
  DurableRun(jobq::testing::RedisServer& redis, std::size_t connections)
      : lane(jobq::redis::make_lane([&] {
          jobq::redis::Options options = redis.options();
          options.prefetch = 512;
          options.connections = connections;
          return options;
        }())),
        queues(durable_config(lane)) {
    queues.register_handler("orders:ship", [this](jobq::Context&, const jobq::Message&) {
      ran.fetch_add(1, std::memory_order_relaxed);
      return jobq::Status::success();
    }, {.queue = "orders"});
    queues.start();
  }
  /// Waits until `jobs` jobs ran and the lane has acknowledged them all.
  void wait_done(int jobs) {
    while (ran.load(std::memory_order_relaxed) < jobs) std::this_thread::sleep_for(100us);
    while (lane->stats().acknowledged < static_cast<std::uint64_t>(jobs)) std::this_thread::sleep_for(200us);
  }

  std::shared_ptr<jobq::redis::Lane> lane;
  jobq::Manager queues;
  std::atomic<int> ran{0};
};

/// Runs `produce(queues)` for `jobs` jobs as the timed region of each iteration, through its
/// acknowledgement, and reports items/s and CPU per 100k jobs.
template <class Produce>
void run_jobq(benchmark::State& state, int jobs, std::size_t connections, Produce produce) {
  auto& redis = server(static_cast<int>(state.range(0)));
  double cpu = 0;
  for (auto _ : state) {
    state.PauseTiming();
    flush(redis);
    {
      DurableRun run(redis, connections);
      const CpuMeter meter(redis.pid());
      state.ResumeTiming();
      if (!produce(run.queues)) state.SkipWithError("a dispatch failed");
      run.wait_done(jobs);
      state.PauseTiming();
      cpu = meter.per_100k(jobs);
      run.queues.shutdown(5s);
    }
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * jobs);
  state.counters["cpu_s_per_100k"] = cpu;
}

void BM_durable_e2e_jobq_bulk(benchmark::State& state) {
  constexpr int jobs = batch * 391;  // about 100k, whole batches
  const std::vector<jobq::Job> group(batch, jobq::Job("orders:ship").payload(payload));
  run_jobq(state, jobs, 4, [&](jobq::Manager& queues) {
    bool ok = true;
    for (int sent = 0; sent < jobs; sent += batch) ok &= queues.dispatch_bulk(group).ok();
    return ok;
  });
}

void BM_durable_e2e_jobq_async(benchmark::State& state) {
  constexpr int jobs = batch * 391;
  const jobq::Job job = jobq::Job("orders:ship").payload(payload);
  std::atomic<int> failed{0};
  run_jobq(state, jobs, 4, [&](jobq::Manager& queues) {
    for (int sent = 0; sent < jobs; ++sent) {
      queues.dispatch_async(job, [&](jobq::Result<jobq::JobId> result) {
        if (!result.ok()) failed.fetch_add(1, std::memory_order_relaxed);
      });
    }
    return true;
  });
  if (failed.load() != 0) state.SkipWithError("an asynchronous dispatch failed");
}

void BM_durable_e2e_jobq_dispatch(benchmark::State& state) {
  const int producers = static_cast<int>(state.range(1));
  const int jobs = 20000;
  const jobq::Job job = jobq::Job("orders:ship").payload(payload);
  run_jobq(state, jobs, static_cast<std::size_t>(producers), [&](jobq::Manager& queues) {
    std::atomic<int> failed{0};
    std::vector<std::thread> threads;
    for (int producer = 0; producer < producers; ++producer) {
      threads.emplace_back([&, producer] {
        for (int index = producer; index < jobs; index += producers) {
          if (!queues.dispatch(job).ok()) failed.fetch_add(1);
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
    return failed.load() == 0;
  });
}

redisContext* connect(jobq::testing::RedisServer& redis) { return redisConnectUnix(redis.socket().c_str()); }

void BM_durable_e2e_hiredis_pipeline(benchmark::State& state) {
  constexpr int jobs = batch * 391;
  auto& redis = server(static_cast<int>(state.range(0)));
  double cpu = 0;
  for (auto _ : state) {
    state.PauseTiming();
    flush(redis);
    freeReplyObject(redis.command({"XGROUP", "CREATE", "orders", "workers", "0", "MKSTREAM"}));
    const CpuMeter meter(redis.pid());
    state.ResumeTiming();
    std::thread consumer([&] {
      redisContext* context = connect(redis);
      int handled = 0;
      while (handled < jobs) {
        auto* reply = static_cast<redisReply*>(
            redisCommand(context, "XREADGROUP GROUP workers c COUNT %d BLOCK 100 STREAMS orders >", batch));
        if (reply == nullptr) break;
        if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 1) {
          const redisReply* entries = reply->element[0]->element[1];
          std::vector<const char*> ack = {"XACK", "orders", "workers"};
          std::vector<const char*> del = {"XDEL", "orders"};
          for (std::size_t index = 0; index < entries->elements; ++index) {
            ack.push_back(entries->element[index]->element[0]->str);
            del.push_back(entries->element[index]->element[0]->str);
            benchmark::DoNotOptimize(entries->element[index]->element[1]);  // "handle" the job
            ++handled;
          }
          redisAppendCommandArgv(context, static_cast<int>(ack.size()), ack.data(), nullptr);
          redisAppendCommandArgv(context, static_cast<int>(del.size()), del.data(), nullptr);
          for (int round = 0; round < 2; ++round) {
            void* answer = nullptr;
            if (redisGetReply(context, &answer) == REDIS_OK) freeReplyObject(answer);
          }
        }
        freeReplyObject(reply);
      }
      redisFree(context);
    });
    redisContext* producer = connect(redis);
    for (int sent = 0; sent < jobs; sent += batch) {
      for (int index = 0; index < batch; ++index) {
        redisAppendCommand(producer, "XADD orders * type orders:ship payload %b", payload.data(), payload.size());
      }
      for (int index = 0; index < batch; ++index) {
        void* answer = nullptr;
        if (redisGetReply(producer, &answer) == REDIS_OK) freeReplyObject(answer);
      }
    }
    redisFree(producer);
    consumer.join();
    state.PauseTiming();
    cpu = meter.per_100k(jobs);
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * jobs);
  state.counters["cpu_s_per_100k"] = cpu;
}

void BM_durable_e2e_bullmq(benchmark::State& state) {
  auto& redis = server(static_cast<int>(state.range(0)));
  const char* script = std::getenv("JOBQ_BULLMQ_RUN");
  if (script == nullptr) {
    state.SkipWithError("BullMQ not installed: set JOBQ_BULLMQ_RUN=$(bench/bullmq/install.sh DIR) (tools/bench does)");
    for (auto _ : state) {
    }
    return;
  }
  const int jobs = 20000;
  double cpu = 0;
  for (auto _ : state) {
    flush(redis);
    const CpuMeter meter(redis.pid());
    const std::string command = std::string(script) + " " + redis.socket() + " " + std::to_string(jobs);
    FILE* pipe = popen(command.c_str(), "r");
    double elapsed = 0;
    double node_cpu = 0;
    if (pipe == nullptr || std::fscanf(pipe, "%lf %lf", &elapsed, &node_cpu) != 2) state.SkipWithError("BullMQ run failed");
    if (pipe != nullptr && pclose(pipe) != 0) state.SkipWithError("BullMQ run failed");
    state.SetIterationTime(elapsed);  // node's own timing: its start-up is not counted against it
    // The whole node process's CPU (start-up included, a slight overcount) plus redis-server's
    // during the run; this process only waits.
    cpu = (process_cpu_seconds(redis.pid()) - meter.server + node_cpu) * 100000.0 / jobs;
  }
  state.SetItemsProcessed(state.iterations() * jobs);
  state.counters["cpu_s_per_100k"] = cpu;
}

BENCHMARK(BM_durable_e2e_hiredis_pipeline)->ArgName("aof")->Arg(0)->Arg(1)->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_durable_e2e_jobq_bulk)->ArgName("aof")->Arg(0)->Arg(1)->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_durable_e2e_jobq_async)->ArgName("aof")->Arg(0)->Arg(1)->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_durable_e2e_jobq_dispatch)->ArgNames({"aof", "producers"})->Args({0, 1})->Args({0, 8})->Args({1, 1})->Args({1, 8})
    ->Iterations(1)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_durable_e2e_bullmq)->ArgName("aof")->Arg(0)->Arg(1)->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();

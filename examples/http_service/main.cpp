// An HTTP service that embeds jobq.
//
// Request threads must answer fast, so POST /signup and POST /reports only dispatch a job and
// answer 202 with its id; jobq's workers do the slow part. A sales report is also scheduled every
// morning (a periodic job, --daily-report). The same process serves what an operator needs:
// Prometheus metrics, an inspection view of queues, running jobs and dead letters, pause and
// resume, and requeueing or deleting dead letters; and jobq's web console, mounted under /console
// on the same server (its actions need the token it prints, or the one in JOBQ_CONSOLE_TOKEN).
// POST /shutdown, SIGINT and SIGTERM all stop it the same way: the server stops taking requests,
// jobq drains for up to 5 s, and the program prints jobq's books and exits 0 only if they balance.
#include <httplib.h>
#include <jobq/console.hpp>
#include <jobq/jobq.hpp>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#include "generate_report.hpp"
#include "http_api.hpp"
#include "send_welcome_email.hpp"
#include "services.hpp"

namespace {

constexpr std::string_view usage =
    "usage: jobq_example_http_service [--port N] [--daily-report CRON|off]\n"
    "  --port N              N = 0: any free port (default 8080)\n"
    "  --daily-report CRON   when the daily sales report is generated, in Europe/Berlin time\n"
    "                        (default \"0 6 * * *\"); off: not scheduled\n";
constexpr int default_port = 8080;
// A welcome email gets three tries, 5 ms apart, then is dead-lettered. A real relay would be
// given minutes; milliseconds keep the demo (and its test) short.
constexpr std::uint32_t email_attempts = 3;
constexpr auto email_retry_delay = std::chrono::milliseconds(5);
constexpr auto drain_deadline = std::chrono::seconds(5);

struct Options {
  int port = default_port;
  std::string daily_report = "0 6 * * *";  ///< "off": none
};

std::optional<Options> parse_options(int argc, char** argv) {
  Options options;
  for (int arg = 1; arg < argc; ++arg) {
    const std::string_view flag = argv[arg];
    if ((flag != "--port" && flag != "--daily-report") || arg + 1 == argc) return std::nullopt;
    const std::string_view value = argv[++arg];
    if (flag == "--daily-report") {
      options.daily_report = value;
      continue;
    }
    const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), options.port);
    if (error != std::errc{} || end != value.data() + value.size() || options.port < 0 || options.port > 65535) {
      return std::nullopt;
    }
  }
  return options;
}

/// Blocks SIGINT and SIGTERM in the calling thread, and so in every thread it starts later.
sigset_t block_stop_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

void print_report(const jobq::ShutdownReport& report, const webapp::Mailer& mailer,
                  const webapp::ReportBuilder& builder) {
  auto row = [](std::string_view queue, auto accepted, auto rejected, auto succeeded, auto failed, auto retried,
                auto dead) {
    std::cout << std::left << std::setw(10) << queue << std::right << std::setw(10) << accepted << std::setw(10)
              << rejected << std::setw(11) << succeeded << std::setw(8) << failed << std::setw(9) << retried
              << std::setw(6) << dead << '\n';
  };
  row("queue", "accepted", "rejected", "succeeded", "failed", "retried", "dead");
  for (const jobq::QueueStats& queue : report.queues) {
    row(queue.name, queue.accepted, queue.rejected, queue.succeeded, queue.failed, queue.retried,
        queue.dead_lettered);
  }
  std::cout << "services: " << mailer.sent() << " welcome emails sent, " << builder.generated()
            << " reports generated\n";
  if (!report.not_run.empty()) {
    // A paused queue's jobs, or what the deadline cut off. A real service would persist these
    // (ReturnedJob::to_job) and dispatch them again on its next start.
    std::cout << "returned unrun: " << report.not_run.size() << " jobs\n";
  }
  std::cout << "books balanced: " << (report.balanced() ? "yes" : "NO")
            << " (accepted = succeeded + dead + revoked + returned; drained: " << (report.drained ? "yes" : "no")
            << ")" << std::endl;
}

}  // namespace

int main(int argc, char** argv) {
  const std::optional<Options> options = parse_options(argc, argv);
  if (!options) {
    std::cerr << usage;
    return 2;
  }
  // Before any thread exists: every thread inherits the mask, so a stop signal stays pending
  // until the main thread takes it with sigwait() below, and nothing runs in signal context.
  const sigset_t stop_signals = block_stop_signals();
  // A client that hangs up mid-answer must cost a failed write, not the process.
  signal(SIGPIPE, SIG_IGN);

  // Everything the handlers and hooks touch is declared before the Manager, so that it outlives
  // the workers.
  webapp::Mailer mailer;
  webapp::ReportBuilder report_builder;
  jobq::Manager queues(jobq::Config{
      .queues = {// Emails are many and independent: two workers.
                 {.name = "emails", .workers = 2},
                 // Reports are slow: one worker, and past 64 waiting a request is refused (503)
                 // rather than queued for hours. One job per dequeue, because a worker runs the
                 // batch it took to its end: pausing the queue should stop it after one report.
                 {.name = "reports", .workers = 1, .capacity = 64, .dequeue_batch = 1}},
      // Payloads here hold a user id or a report name: a larger one is a client's mistake (400).
      .max_payload_bytes = 4096});

  // The job objects belong to the Manager, which keeps them through its own drain.
  const auto fixed_delay = [](std::uint32_t, const jobq::Status&, const jobq::Message&) {
    return std::chrono::nanoseconds(email_retry_delay);
  };
  auto& welcome_email = queues.emplace_job<webapp::SendWelcomeEmail>(
      jobq::RegisterOptions{.retry = jobq::RetryPolicy{.max_attempts = email_attempts, .backoff = fixed_delay}},
      mailer);
  auto& generate_report = queues.emplace_job<webapp::GenerateReport>(report_builder);
  // When a group's welcome emails have all ended (POST /signups, a batch): one line with the counts.
  queues.register_handler("signups:welcomed", [](jobq::Context& ctx, const jobq::Message&) {
    jobq::BatchOutcome group;
    if (jobq::Status bound = jobq::from_json(ctx.previous_result().value_or("{}"), group); !bound) return bound;
    std::cout << ("group welcomed: batch " + group.batch + ": " + std::to_string(group.succeeded) + " sent, " +
                  std::to_string(group.dead) + " failed\n")
              << std::flush;
    return jobq::Status::success();
  }, {.queue = "reports"});
  // A periodic report: the sales of the day before, every morning in the office's time zone. If
  // the service was paused or stalled at that time, it runs once when it can.
  if (options->daily_report != "off") {
    try {
      queues.schedule("daily-sales", options->daily_report,
                      jobq::Job(webapp::GenerateReport::type_name).payload(R"({"name":"daily-sales","day":"yesterday"})"),
                      {.time_zone = "Europe/Berlin", .missed = jobq::MissedRuns::run_once});
    } catch (const jobq::ConfigError& error) {
      std::cerr << error.what() << '\n' << usage;
      return 2;
    }
  }
  // jobq logs each dead letter at warn, on stderr. Manager::on_dead is where a service would
  // persist them: the store in memory is bounded and gone at exit.
  queues.start();

  httplib::Server server;
  // A fixed pool of request threads. Each thread that dispatches gets a producer state that lives
  // as long as the Manager, so dispatch must come from a fixed set of threads.
  server.new_task_queue = [] { return new httplib::ThreadPool(8); };
  server.set_payload_max_length(64 * 1024);
  // An idle keep-alive connection holds a request thread, and so delays stopping, this long.
  server.set_keep_alive_timeout(1);
  // httplib's default sets SO_REUSEPORT, with which a second copy of the service binds the same
  // port and the kernel splits the clients between the two. SO_REUSEADDR alone still allows a
  // quick restart while old connections linger in TIME_WAIT, and makes a port in use an error.
  server.set_socket_options([](int socket) {
    const int yes = 1;
    setsockopt(socket, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  std::atomic<bool> shutdown_requested{false};
  webapp::HttpApi api(queues, welcome_email, generate_report, [&shutdown_requested] {
    // One stop path for the endpoint, Ctrl-C and a service manager: the main thread's sigwait().
    shutdown_requested.store(true);
    kill(getpid(), SIGTERM);
  });
  api.mount(server);
  // The operator's console, on the service's own server. It is declared after the Manager, so
  // it is destroyed before it; the server stops before either.
  const char* console_token = std::getenv("JOBQ_CONSOLE_TOKEN");
  jobq::console::Console console(queues, {.token = console_token != nullptr ? console_token : "", .prefix = "/console"});
  console.mount(server);

  // Loopback only: the endpoints pause queues and delete dead letters, and have no authentication.
  int bound = -1;
  if (options->port == 0) {
    bound = server.bind_to_any_port("127.0.0.1");
  } else if (server.bind_to_port("127.0.0.1", options->port)) {
    bound = options->port;
  }
  if (bound <= 0) {
    std::cerr << "cannot listen on 127.0.0.1:" << options->port << '\n';
    // Explicitly, so that the workers stop before the job objects above go out of scope.
    queues.shutdown(drain_deadline);
    return 1;
  }
  std::atomic<bool> stopping{false};
  std::atomic<bool> listener_done{false};
  std::thread listener([&] {
    server.listen_after_bind();
    listener_done.store(true);
    // The listener failed on its own: wake the main thread, so that jobq still shuts down cleanly.
    if (!stopping.load()) kill(getpid(), SIGTERM);
  });
  while (!server.is_running() && !listener_done.load()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  // std::endl flushes: under a test, stdout is a pipe and fully buffered, and the test waits for
  // this line to learn the port.
  std::cout << "listening on 127.0.0.1:" << bound << " (console: http://127.0.0.1:" << bound << "/console/, token "
            << console.token() << ")" << std::endl;

  int signal_number = 0;
  sigwait(&stop_signals, &signal_number);
  const bool listener_failed = listener_done.load();
  std::cout << "stopping: "
            << (shutdown_requested.load() ? "POST /shutdown"
                : listener_failed         ? "the HTTP listener failed"
                : signal_number == SIGINT ? "SIGINT"
                                          : "SIGTERM")
            << std::endl;
  stopping.store(true);
  server.stop();  // closes the listening socket; the requests already taken are answered first
  listener.join();

  // No request thread can dispatch any more. jobq closes intake, runs what is queued until the
  // deadline, and accounts for every job it accepted.
  const jobq::ShutdownReport report = queues.shutdown(drain_deadline);
  print_report(report, mailer, report_builder);
  return report.balanced() && !listener_failed ? 0 : 1;
}

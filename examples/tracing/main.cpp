// W3C Trace Context across jobq: a request's trace follows the jobs it dispatches, and the jobs
// those jobs dispatch, with no code in the handlers.
//
// Two small middlewares do it. On the producer, a dispatch middleware writes the current span as
// a `traceparent` header (https://www.w3.org/TR/trace-context/). On the worker, a handler
// middleware reads it, opens a child span for the run, and makes it current while the handler
// runs, so that whatever the handler dispatches carries it on. A tracing library (OpenTelemetry)
// plugs in at the same two places; here a span is a thread-local value and a line of output.
//
// The program checks what it prints: every span of a request shares the request's trace id and
// names its caller as parent. It exits non-zero otherwise.
#include <jobq/jobq.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace {

/// A span's identity, as traceparent carries it.
struct SpanContext {
  std::string trace_id;   // 32 lower-case hex digits, not all zero
  std::string span_id;    // 16 lower-case hex digits, not all zero
  std::string flags = "01";  // sampled

  std::string traceparent() const { return "00-" + trace_id + "-" + span_id + "-" + flags; }
};

std::string random_hex(std::size_t digits) {
  thread_local std::mt19937_64 random{std::random_device{}()};
  static constexpr std::string_view hex = "0123456789abcdef";
  std::string out;
  while (out.size() < digits || out.find_first_not_of('0') == std::string::npos) {
    if (out.size() == digits) out.clear();  // all zeros is invalid: draw again
    out += hex[random() % 16];
  }
  return out;
}

bool lower_hex(std::string_view text, std::size_t digits) {
  return text.size() == digits && text.find_first_not_of("0123456789abcdef") == std::string_view::npos &&
         text.find_first_not_of('0') != std::string_view::npos;
}

/// Parses "00-<trace>-<span>-<flags>"; nullopt for anything else (the spec says to start a new
/// trace then, not to fail the job).
std::optional<SpanContext> parse_traceparent(std::string_view header) {
  if (header.size() != 55 || header.substr(0, 3) != "00-" || header[35] != '-' || header[52] != '-') return std::nullopt;
  SpanContext span{std::string(header.substr(3, 32)), std::string(header.substr(36, 16)),
                   std::string(header.substr(53, 2))};
  if (!lower_hex(span.trace_id, 32) || !lower_hex(span.span_id, 16)) return std::nullopt;
  if (span.flags.find_first_not_of("0123456789abcdef") != std::string::npos) return std::nullopt;
  return span;
}

/// The span the current thread works in, if any.
thread_local std::optional<SpanContext> current_span;

/// Makes `span` current for a scope, then puts back what was there.
class ScopedSpan {
 public:
  explicit ScopedSpan(SpanContext span) : previous_(std::move(current_span)) { current_span = std::move(span); }
  ~ScopedSpan() { current_span = std::move(previous_); }
  ScopedSpan(const ScopedSpan&) = delete;
  ScopedSpan& operator=(const ScopedSpan&) = delete;

 private:
  std::optional<SpanContext> previous_;
};

/// The spans the program opened, for the check at the end: span id → (trace id, parent span id).
struct SpanLog {
  struct Entry {
    std::string trace_id, parent_id, name;
  };
  std::mutex mutex;
  std::map<std::string, Entry> spans;

  void opened(const SpanContext& span, std::string parent_id, std::string name) {
    const std::lock_guard lock(mutex);
    std::cout << "span " << span.span_id << " trace " << span.trace_id << " parent "
              << (parent_id.empty() ? std::string("(root)") : parent_id) << "  " << name << '\n';
    spans[span.span_id] = Entry{span.trace_id, std::move(parent_id), std::move(name)};
  }
};

/// Dispatch side: the current span travels as the job's traceparent.
jobq::DispatchMiddleware propagate_trace() {
  return [](jobq::Outgoing& job) -> std::optional<jobq::Error> {
    if (current_span) job.headers().set("traceparent", current_span->traceparent());
    return std::nullopt;
  };
}

/// Worker side: each run is a child span of the traceparent it carries (or a new trace).
jobq::Middleware continue_trace(SpanLog& log) {
  return [&log](jobq::Context& context, const jobq::Message& message, const jobq::Next& next) {
    std::optional<SpanContext> parent;
    if (const auto header = context.header("traceparent")) parent = parse_traceparent(*header);
    SpanContext span{parent ? parent->trace_id : random_hex(32), random_hex(16), parent ? parent->flags : "01"};
    log.opened(span, parent ? parent->span_id : std::string(),
               std::string(context.type()) + " attempt " + std::to_string(context.attempt()));
    const ScopedSpan scope(std::move(span));
    return next(context, message);
  };
}

struct Signup {
  std::string email;
};
JOBQ_PAYLOAD(Signup, email);

}  // namespace

int main() {
  SpanLog log;
  jobq::Config config;
  config.retry.max_attempts = 2;
  config.retry.backoff = [](std::uint32_t, const jobq::Status&, const jobq::Message&) {
    return std::chrono::nanoseconds(std::chrono::milliseconds(1));
  };
  jobq::Manager queues(std::move(config));
  queues.use_dispatch(propagate_trace());
  queues.use(continue_trace(log));

  // A sign-up's welcome email dispatches a follow-up; the CRM sync fails once and is retried.
  queues.register_handler("emails:welcome", [&queues](jobq::Context&, const jobq::Message& message) {
    Signup signup;
    if (jobq::Status bound = message.bind(signup); !bound.ok()) return bound;
    if (auto queued = queues.dispatch(jobq::Job("crm:sync"), signup); !queued) {
      return jobq::Status::error(queued.error().message());
    }
    return jobq::Status::success();
  });
  queues.register_handler("crm:sync", [](jobq::Context& context, const jobq::Message&) {
    return context.attempt() == 1 ? jobq::Status::error("crm busy") : jobq::Status::success();
  });
  queues.start();

  // Two web requests, each its own trace.
  std::vector<SpanContext> requests;
  for (const char* email : {"ada@example.com", "alan@example.com"}) {
    SpanContext request{random_hex(32), random_hex(16)};
    log.opened(request, {}, std::string("POST /signup ") + email);
    const ScopedSpan scope(request);
    if (auto queued = queues.dispatch(jobq::Job("emails:welcome"), Signup{email}); !queued) {
      std::cerr << "could not queue: " << queued.error().message() << '\n';
      return 1;
    }
    requests.push_back(request);
  }
  const bool idle = queues.wait_idle(std::chrono::seconds(10));
  const jobq::ShutdownReport report = queues.shutdown(std::chrono::seconds(5));

  // The check: per request, welcome (child of the request), then two crm:sync attempts (each a
  // child of the welcome run that dispatched it), all in the request's trace.
  bool ok = idle && report.balanced() && report.succeeded == 4 && report.retried == 2;
  const std::lock_guard lock(log.mutex);
  for (const SpanContext& request : requests) {
    std::size_t welcome = 0, sync = 0;
    for (const auto& [id, entry] : log.spans) {
      if (entry.trace_id != request.trace_id || id == request.span_id) continue;
      if (entry.name.starts_with("emails:welcome")) {
        ++welcome;
        ok = ok && entry.parent_id == request.span_id;
      } else if (entry.name.starts_with("crm:sync")) {
        ++sync;
        const auto parent = log.spans.find(entry.parent_id);
        ok = ok && parent != log.spans.end() && parent->second.name.starts_with("emails:welcome");
      }
    }
    ok = ok && welcome == 1 && sync == 2;
  }
  std::cout << (ok ? "every span is in its request's trace, under its caller\n" : "TRACE CHECK FAILED\n");
  return ok ? 0 : 1;
}

// An online-shop backend that embeds jobq.
//
// Web requests (four "storefront" threads here) must answer fast, so everything slow that a
// sign-up or an order triggers is handed to jobq as a background job: welcome emails, stock
// reservations, card charges, reports. At the end the program shuts the engine down and checks
// that jobq's books and the services' own counters agree with what was dispatched.
#include <jobq/jobq.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iomanip>
#include <iostream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "charge_card.hpp"
#include "generate_report.hpp"
#include "reserve_stock.hpp"
#include "send_welcome_email.hpp"
#include "services.hpp"

namespace {

constexpr std::size_t storefront_threads = 4;
constexpr std::uint32_t customers_per_storefront = 250;
// Every tenth customer pays with the card the processor always declines.
constexpr std::uint32_t declined_every = 10;
// A declined charge is tried this many times in all, then dead-lettered for someone to look at.
constexpr std::uint32_t charge_attempts = 3;
constexpr std::string_view good_test_card = "4242424242424242";

/// The jobs that a storefront got accepted, i.e. the work the services must end up seeing.
struct Dispatched {
  std::uint64_t emails = 0;
  std::uint64_t reservations = 0;
  std::uint64_t units = 0;
  std::uint64_t charges = 0;
  std::uint64_t declines = 0;

  Dispatched& operator+=(const Dispatched& other) {
    emails += other.emails;
    reservations += other.reservations;
    units += other.units;
    charges += other.charges;
    declines += other.declines;
    return *this;
  }
};

bool queued(const jobq::Result<jobq::JobId>& result, std::string_view what) {
  if (result) return true;
  // A dispatch fails fast (a full queue, shutdown in progress) instead of blocking the request;
  // a real storefront would retry later or tell the customer.
  std::cerr << "could not queue " << what << ": " << result.error().message() << '\n';
  return false;
}

/// One web-server thread: each customer signs up, then places an order.
Dispatched run_storefront(std::size_t storefront, shop::SendWelcomeEmail& welcome_email, shop::ReserveStock& reserve_stock,
                          shop::ChargeCard& charge_card) {
  static constexpr std::string_view locales[] = {"en", "de", "fr"};
  static constexpr std::string_view skus[] = {"mug-blue", "tshirt-m", "poster-a2"};
  Dispatched sent;
  for (std::uint32_t customer = 0; customer < customers_per_storefront; ++customer) {
    const std::string suffix = std::to_string(storefront) + "-" + std::to_string(customer);
    const std::string user_id = "user-" + suffix;
    const std::string order_id = "order-" + suffix;

    if (queued(welcome_email.queue(user_id, locales[customer % 3]), "welcome email")) ++sent.emails;

    const std::uint32_t quantity = 1 + customer % 3;
    if (queued(reserve_stock.queue(order_id, skus[customer % 3], quantity), "stock reservation")) {
      ++sent.reservations;
      sent.units += quantity;
    }

    const bool declines = customer % declined_every == declined_every - 1;
    const std::string_view card = declines ? shop::PaymentGateway::declined_test_card : good_test_card;
    if (queued(charge_card.queue(order_id, card, 1999 * std::int64_t{quantity}), "card charge")) {
      ++sent.charges;
      if (declines) ++sent.declines;
    }
  }
  return sent;
}

std::string dollars(std::int64_t cents) {
  const std::int64_t remainder = cents % 100;
  std::string text = "$";
  text += std::to_string(cents / 100);
  text += remainder < 10 ? ".0" : ".";
  text += std::to_string(remainder);
  return text;
}

void print_summary(const jobq::ShutdownReport& report) {
  auto row = [](std::string_view queue, auto workers, auto accepted, auto succeeded, auto dead, auto failed,
                auto retried, auto rejected) {
    std::cout << std::left << std::setw(10) << queue << std::right << std::setw(8) << workers << std::setw(10)
              << accepted << std::setw(11) << succeeded << std::setw(6) << dead << std::setw(8) << failed
              << std::setw(9) << retried << std::setw(10) << rejected << '\n';
  };
  std::cout << '\n';
  row("queue", "workers", "accepted", "succeeded", "dead", "failed", "retried", "rejected");
  unsigned workers = 0;
  std::uint64_t rejected = 0;
  for (const jobq::QueueStats& queue : report.queues) {
    row(queue.name, queue.workers, queue.accepted, queue.succeeded, queue.dead_lettered, queue.failed, queue.retried,
        queue.rejected);
    workers += queue.workers;
    rejected += queue.rejected;
  }
  row("total", workers, report.accepted, report.succeeded, report.dead_lettered, report.failed, report.retried,
      rejected);
  std::cout << "refused before routing (unknown type or queue): " << report.unrouted << '\n';
  std::cout << "books balanced: " << (report.balanced() ? "yes" : "NO")
            << " (accepted = succeeded + dead + revoked + " << report.not_run.size()
            << " returned; drained: " << (report.drained ? "yes" : "no") << ")\n";
}

/// Reports a mismatch and returns false when `actual` differs from `expected`.
bool agrees(std::string_view what, std::uint64_t actual, std::uint64_t expected) {
  if (actual == expected) return true;
  std::cout << "MISMATCH " << what << ": " << actual << ", expected " << expected << '\n';
  return false;
}

}  // namespace

int main() {
  // Everything a handler or the failure hook touches is declared before the Manager, so that it
  // outlives the worker threads.
  shop::Mailer mailer;
  shop::Inventory inventory;
  shop::PaymentGateway gateway;
  shop::Reports reports;
  std::atomic<std::uint64_t> failures{0};
  std::atomic<std::uint64_t> retryable_failures{0};

  // One queue per kind of work, so that a burst of one kind cannot starve another: emails are
  // plentiful and independent (two workers), payments are serialized (one), and the rest
  // shares "default", where job types without a queue of their own land.
  jobq::Manager queues(jobq::Config{.queues = {
                                        {.name = "emails", .workers = 2},
                                        {.name = "payments", .workers = 1},
                                        {.name = "default", .workers = 1},
                                    }});

  // The job objects hold the Manager for their typed dispatch helpers; the Manager owns them and
  // keeps them until after the drain its destructor would run, whatever happens below.
  auto& welcome_email = queues.emplace_job<shop::SendWelcomeEmail>(mailer);
  auto& reserve_stock = queues.emplace_job<shop::ReserveStock>(inventory);
  // A declined card is retried twice, 5 ms apart here (a real shop would wait minutes), then
  // dead-lettered: jobq keeps it for inspection and requeueing.
  auto& charge_card = queues.emplace_job<shop::ChargeCard>(
      jobq::RegisterOptions{.retry = jobq::RetryPolicy{.max_attempts = charge_attempts,
                                                       .backoff = [](std::uint32_t, const jobq::Status&, const jobq::Message&) {
                                                         return std::chrono::nanoseconds(std::chrono::milliseconds(5));
                                                       }}},
      gateway);
  auto& generate_report = queues.emplace_job<shop::GenerateReport>(reports);

  // Runs on whichever worker saw the failure, possibly on several at once: atomics only. A real
  // shop would log here, and persist dead letters from an on_dead hook.
  queues.on_failure([&failures, &retryable_failures](const jobq::Failure& failure) {
    failures.fetch_add(1, std::memory_order_relaxed);
    if (failure.retryable) retryable_failures.fetch_add(1, std::memory_order_relaxed);
  });

  queues.start();
  const auto started = std::chrono::steady_clock::now();

  std::vector<Dispatched> per_storefront(storefront_threads);
  {
    std::vector<std::jthread> storefronts;
    for (std::size_t storefront = 0; storefront < storefront_threads; ++storefront) {
      storefronts.emplace_back([&, storefront] {
        per_storefront[storefront] = run_storefront(storefront, welcome_email, reserve_stock, charge_card);
      });
    }
  }  // the jthreads join here
  Dispatched expected;
  for (const Dispatched& sent : per_storefront) expected += sent;

  // The nightly report request arrives as JSON from a cron job: a raw dispatch, whose payload
  // jobq validates before accepting it. The same job dispatched from C++ uses the typed helper.
  std::uint64_t reports_expected = 0;
  if (queued(queues.dispatch(jobq::Job("reports:generate")
                                   .payload(R"({"name":"daily-sales","day":"2024-05-01"})")
                                   .on_queue("default")),
               "daily-sales report")) {
    ++reports_expected;
  }
  if (queued(generate_report.queue("signups", "2024-05-01"), "signups report")) ++reports_expected;

  // Mistakes come back as values rather than exceptions, so a request handler can answer
  // "try again" without unwinding. The malformed payload is counted as rejected on "default";
  // the unknown type has no queue to be counted against: it is counted as unrouted.
  bool rejections_ok = true;
  if (const auto unknown = queues.dispatch(jobq::Job("emails:goodbye")); !unknown) {
    std::cout << "rejected: " << unknown.error().message() << '\n';
  } else {
    std::cout << "MISMATCH: a job of an unregistered type was accepted\n";
    rejections_ok = false;
  }
  if (const auto malformed = queues.dispatch(jobq::Job("reports:generate").payload(R"({"name":"daily-sales",)"));
      !malformed) {
    std::cout << "rejected: " << malformed.error().message() << '\n';
  } else {
    std::cout << "MISMATCH: a malformed payload was accepted\n";
    rejections_ok = false;
  }

  // Let the retries play out, then look at what died.
  if (!queues.wait_idle(std::chrono::seconds(10))) std::cout << "MISMATCH: jobs still pending after 10 s\n";
  const jobq::DeadLetterPage dead = queues.dead_letters(0, 3);
  std::cout << dead.total << " dead letters, for example:\n";
  for (const jobq::DeadLetter& letter : dead.letters) {
    std::cout << "  job " << letter.id << " " << letter.type << " after " << letter.attempts
              << " attempts: " << letter.last_error << " " << letter.payload << '\n';
  }

  // Closes intake, runs what is still queued, and accounts for every accepted job.
  const jobq::ShutdownReport report = queues.shutdown(std::chrono::seconds(5));
  const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);

  std::cout << report.accepted << " jobs accepted (from " << storefront_threads
            << " storefront threads and the report requests), all handled in " << elapsed.count() << " ms\n";
  print_summary(report);

  std::cout << "\nservices: " << mailer.sent() << " emails sent, " << inventory.reservations() << " orders reserved ("
            << inventory.units() << " units), " << gateway.charged() << " cards charged ("
            << dollars(gateway.captured_cents()) << "), " << gateway.declined() << " declined, "
            << reports.generated() << " reports\n";
  std::cout << "failure hook: " << failures.load() << " failures, " << retryable_failures.load()
            << " of them retryable\n";

  // `&=` rather than `&&`, so that every mismatch is reported, not just the first.
  bool ok = rejections_ok;
  ok &= report.balanced();
  ok &= report.drained;
  ok &= agrees("emails sent", mailer.sent(), expected.emails);
  ok &= agrees("orders reserved", inventory.reservations(), expected.reservations);
  ok &= agrees("units reserved", inventory.units(), expected.units);
  ok &= agrees("cards charged", gateway.charged(), expected.charges - expected.declines);
  ok &= agrees("declined charge attempts", gateway.declined(), expected.declines * charge_attempts);
  ok &= agrees("reports generated", reports.generated(), reports_expected);
  ok &= agrees("failed attempts", report.failed, expected.declines * charge_attempts);
  ok &= agrees("retries", report.retried, expected.declines * (charge_attempts - 1));
  ok &= agrees("dead letters", report.dead_lettered, expected.declines);
  ok &= agrees("dead letters kept", dead.total, expected.declines);
  ok &= agrees("unrouted dispatches", report.unrouted, 1);
  ok &= agrees("failure hook calls", failures.load(), report.failed);
  ok &= agrees("jobs accepted",
               report.accepted, expected.emails + expected.reservations + expected.charges + reports_expected);
  std::cout << (ok ? "everything adds up" : "the books do NOT add up") << '\n';
  return ok ? 0 : 1;
}

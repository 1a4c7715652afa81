// Stand-ins for the shop's real collaborators: an SMTP relay, a stock database, a card
// processor and a reporting warehouse. Each one only counts what it was asked to do, so that
// main() can check that every dispatched job reached its service exactly once.
//
// Their methods run on jobq worker threads, several at a time, hence the atomics.
#pragma once

#include <jobq/jobq.hpp>

#include <atomic>
#include <cstdint>
#include <string_view>

namespace shop {

class Mailer {
 public:
  jobq::Status send_welcome(std::string_view /*user_id*/, std::string_view /*locale*/) {
    sent_.fetch_add(1, std::memory_order_relaxed);
    return jobq::Status::success();
  }
  std::uint64_t sent() const { return sent_.load(); }

 private:
  std::atomic<std::uint64_t> sent_{0};
};

class Inventory {
 public:
  jobq::Status reserve(std::string_view /*sku*/, std::uint32_t quantity) {
    reservations_.fetch_add(1, std::memory_order_relaxed);
    units_.fetch_add(quantity, std::memory_order_relaxed);
    return jobq::Status::success();
  }
  std::uint64_t reservations() const { return reservations_.load(); }
  std::uint64_t units() const { return units_.load(); }

 private:
  std::atomic<std::uint64_t> reservations_{0};
  std::atomic<std::uint64_t> units_{0};
};

class PaymentGateway {
 public:
  /// The card number processors hand out for testing the "declined" path.
  static constexpr std::string_view declined_test_card = "4000000000000002";

  jobq::Status charge(std::string_view /*order_id*/, std::string_view card_number, std::int64_t amount_cents) {
    if (card_number == declined_test_card) {
      declined_.fetch_add(1, std::memory_order_relaxed);
      // `error`, not `skip_retry`: the customer may fix their card and the charge could succeed.
      return jobq::Status::error("card declined");
    }
    charged_.fetch_add(1, std::memory_order_relaxed);
    captured_cents_.fetch_add(amount_cents, std::memory_order_relaxed);
    return jobq::Status::success();
  }
  std::uint64_t charged() const { return charged_.load(); }
  std::uint64_t declined() const { return declined_.load(); }
  std::int64_t captured_cents() const { return captured_cents_.load(); }

 private:
  std::atomic<std::uint64_t> charged_{0};
  std::atomic<std::uint64_t> declined_{0};
  std::atomic<std::int64_t> captured_cents_{0};
};

class Reports {
 public:
  /// Reports are built in chunks; a caller that can be interrupted checks between chunks.
  static constexpr int chunks_per_report = 4;

  void build_chunk(std::string_view /*name*/, std::string_view /*day*/, int /*chunk*/) {}
  void publish(std::string_view /*name*/, std::string_view /*day*/) {
    generated_.fetch_add(1, std::memory_order_relaxed);
  }
  std::uint64_t generated() const { return generated_.load(); }

 private:
  std::atomic<std::uint64_t> generated_{0};
};

}  // namespace shop

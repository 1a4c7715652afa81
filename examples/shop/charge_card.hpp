// Charging a card is slow and sometimes fails. It gets its own queue with a single worker, so a
// flood of sign-up emails cannot delay payments and the processor never sees concurrent charges
// from this process.
#pragma once

#include <jobq/jobq.hpp>

#include <cstdint>
#include <string>
#include <string_view>

#include "services.hpp"

namespace shop {

struct ChargeCardPayload {
  std::string order_id;
  std::string card_number;
  std::int64_t amount_cents = 0;  // integer cents: money is never a double
};
JOBQ_PAYLOAD(ChargeCardPayload, order_id, card_number, amount_cents);

class ChargeCard {
 public:
  static constexpr std::string_view type_name = "payments:charge";
  static constexpr std::string_view queue_name = "payments";

  ChargeCard(jobq::Manager& queues, PaymentGateway& gateway) : queues_(queues), gateway_(gateway) {}

  jobq::Result<jobq::JobId> queue(std::string_view order_id, std::string_view card_number, std::int64_t amount_cents) {
    return queues_.dispatch(jobq::Job(type_name),
                            ChargeCardPayload{std::string(order_id), std::string(card_number), amount_cents});
  }

  /// A declined card comes back as an error Status: jobq counts it, calls the failure hook and
  /// retries it under the type's retry policy, then dead-letters it.
  jobq::Status handle_task(jobq::Context& /*ctx*/, const jobq::Message& msg) {
    ChargeCardPayload payload;
    if (jobq::Status bound = msg.bind(payload); !bound) return bound;
    return gateway_.charge(payload.order_id, payload.card_number, payload.amount_cents);
  }

 private:
  jobq::Manager& queues_;
  PaymentGateway& gateway_;
};

}  // namespace shop

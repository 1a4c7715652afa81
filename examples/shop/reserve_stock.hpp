// Holding stock for an order touches the inventory database, which the checkout page should not
// wait on.
#pragma once

#include <jobq/jobq.hpp>

#include <cstdint>
#include <string>
#include <string_view>

#include "services.hpp"

namespace shop {

struct ReserveStockPayload {
  std::string order_id;
  std::string sku;
  std::uint32_t quantity = 0;
};
JOBQ_PAYLOAD(ReserveStockPayload, order_id, sku, quantity);

/// Declares no queue_name, so its jobs run on the queue named "default".
class ReserveStock {
 public:
  static constexpr std::string_view type_name = "inventory:reserve";

  ReserveStock(jobq::Manager& queues, Inventory& inventory) : queues_(queues), inventory_(inventory) {}

  jobq::Result<jobq::JobId> queue(std::string_view order_id, std::string_view sku, std::uint32_t quantity) {
    return queues_.dispatch(jobq::Job(type_name), ReserveStockPayload{std::string(order_id), std::string(sku), quantity});
  }

  jobq::Status handle_task(jobq::Context& /*ctx*/, const jobq::Message& msg) {
    ReserveStockPayload payload;
    if (jobq::Status bound = msg.bind(payload); !bound) return bound;
    return inventory_.reserve(payload.sku, payload.quantity);
  }

 private:
  jobq::Manager& queues_;
  Inventory& inventory_;
};

}  // namespace shop

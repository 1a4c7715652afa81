// Middleware: code that wraps every handler (logging, timing, tracing context).
#pragma once

#include <cstddef>
#include <functional>
#include <vector>

#include "jobq/context.hpp"
#include "jobq/message.hpp"
#include "jobq/registry.hpp"
#include "jobq/status.hpp"

namespace jobq {

class Next;

/// Wraps a handler: do something before, call `next(context, message)` to run the rest of the
/// chain (the next middleware, then the handler), do something after, return a Status (usually
/// next's). Not calling `next` skips the handler; throwing counts as a retryable error.
using Middleware = std::function<Status(Context& context, const Message& message, const Next& next)>;

/// The rest of the chain. Lives on the worker's stack for one call: nothing is allocated per job.
class Next {
 public:
  Next(const std::vector<Middleware>& chain, std::size_t position, const HandlerEntry& handler) noexcept
      : chain_(&chain), position_(position), handler_(&handler) {}

  Status operator()(Context& context, const Message& message) const {
    if (position_ == chain_->size()) return handler_->invoke(handler_->target, context, message);
    return (*chain_)[position_](context, message, Next(*chain_, position_ + 1, *handler_));
  }

 private:
  const std::vector<Middleware>* chain_;
  std::size_t position_;
  const HandlerEntry* handler_;
};

}  // namespace jobq

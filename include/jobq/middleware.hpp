// Middleware: code that wraps every handler (logging, timing, tracing context), and code that
// sees every job as it is dispatched (headers to add, jobs to refuse).
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

#include "jobq/context.hpp"
#include "jobq/error.hpp"
#include "jobq/headers.hpp"
#include "jobq/job.hpp"
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

/// A job on its way to its queue, as a dispatch middleware sees it: what it is, where it goes,
/// and its headers, which the middleware may change.
class Outgoing {
 public:
  Outgoing(const Job& job, std::string_view queue, Headers& headers) noexcept
      : job_(&job), queue_(queue), headers_(&headers) {}

  std::string_view type() const noexcept { return job_->type(); }
  /// The queue it goes to: the one the job names, else its type's.
  std::string_view queue() const noexcept { return queue_; }
  /// The dispatch as the caller made it (its payload() is unused by a typed dispatch).
  const Job& job() const noexcept { return *job_; }
  /// The headers the job will carry: the caller's (Job::headers()) and those added so far.
  Headers& headers() noexcept { return *headers_; }

 private:
  const Job* job_;
  std::string_view queue_;
  Headers* headers_;
};

/// Runs on the dispatching thread for every job dispatched (typed or raw, bulk, asynchronous, or
/// a periodic job's), before the job is checked and stored: it may add, change or remove
/// headers, or refuse the job by returning an Error, which the dispatch returns (usually
/// Errc::refused with a reason) and counts as rejected. std::nullopt lets the job through. An
/// exception it throws refuses the job too (Errc::refused). It must not dispatch.
using DispatchMiddleware = std::function<std::optional<Error>(Outgoing& job)>;

}  // namespace jobq

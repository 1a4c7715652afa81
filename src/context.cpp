// The parts of Context that read or check JSON: a run's result, and the result of the step before.
#include "jobq/context.hpp"

#include <simdjson.h>

#include "jobq/internal/flow.hpp"
#include "jobq/internal/job_extras.hpp"

namespace jobq {

bool Context::set_result(std::string_view json) {
  if (json.size() > max_result_bytes) return false;
  const simdjson::padded_string padded(json);
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(padded).get(root) != simdjson::SUCCESS) return false;
  result_.assign(json);
  return true;
}

const Headers& Context::headers() const noexcept {
  return extras_ != nullptr ? extras_->headers : internal::no_headers();
}

std::optional<std::string> Context::previous_result() const {
  if (extras_ == nullptr || extras_->flow.empty()) return std::nullopt;
  Result<internal::FlowState> state = internal::decode(extras_->flow);
  if (!state) return std::nullopt;
  return state->previous;
}

}  // namespace jobq

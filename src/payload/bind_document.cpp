// The payload binder, compiled for simdjson's built-in On-Demand kernel: the best one the
// library's own compile flags allow (the portable kernel for baseline x86-64; build jobq with
// -march=haswell or newer for the AVX2 one). The user's build never compiles it.
#include <simdjson.h>

#include <cstdint>
#include <limits>
#include <string_view>
#include <utility>

#include "jobq/internal/payload_json.hpp"

namespace jobq::internal {
namespace builtin {
namespace kernel = simdjson::builtin;
#include "bind_kernel.inl"
}  // namespace builtin

extern const BindKernel builtin_bind_kernel{"builtin", &builtin::make_parser, &builtin::destroy_parser,
                                            &builtin::bind_document};
}  // namespace jobq::internal

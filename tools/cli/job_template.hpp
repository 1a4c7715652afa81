// The header `jobq make:job` writes: a payload struct and a job class in the shape of the README's
// API tour and examples/shop.
#pragma once

#include <string>
#include <string_view>

#include "cli/names.hpp"

namespace jobq::cli {

/// The complete text of `<names.file_stem>.hpp` for a job on `queue_name`. The output depends on
/// its arguments only, so that tests can compare it byte for byte.
std::string render_job_header(const JobNames& names, std::string_view queue_name);

}  // namespace jobq::cli

// What the console's /api answers, built from the Manager's inspector calls.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

#include "jobq/console_api.hpp"
#include "jobq/dead_letter.hpp"
#include "jobq/error.hpp"

namespace jobq {
class Manager;
}

namespace jobq::console {

class Sampler;

api::Overview overview(const Manager& manager, const Sampler& sampler);
api::Types types(const Manager& manager);
api::Running running(const Manager& manager);
api::Schedules schedules(const Manager& manager);
/// One queue's dead letters; Errc::unknown_queue for a name the Manager does not have.
Result<api::DeadLetters> dead_letters(const Manager& manager, std::string_view queue, std::size_t offset,
                                      std::size_t limit);
api::DeadLetterRow row_of(const DeadLetter& letter);

}  // namespace jobq::console

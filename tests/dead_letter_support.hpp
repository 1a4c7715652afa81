// What the dead-letter tests share: jobs dispatched with numbered payloads, and the ids on a page of
// dead letters.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "jobq/jobq.hpp"

namespace jobq::testing {

/// The payload of job number `index`: {"n":index}.
inline std::string numbered(int index) { return "{\"n\":" + std::to_string(index) + "}"; }

/// Dispatches `count` jobs of `type` one after another and returns their ids in dispatch order.
inline std::vector<jobq::JobId> dispatch_numbered(jobq::Manager& queues, std::string_view type, int count,
                                                  std::string_view queue = {}) {
  std::vector<jobq::JobId> ids;
  for (int index = 0; index < count; ++index) {
    const std::string payload = numbered(index);
    const jobq::Result<jobq::JobId> id = queues.dispatch(jobq::Job(type).payload(payload).on_queue(queue));
    EXPECT_TRUE(id.ok()) << (id.ok() ? "" : id.error().message());
    if (id.ok()) ids.push_back(*id);
  }
  return ids;
}

/// The ids on `page`, in its order.
inline std::vector<jobq::JobId> ids_of(const jobq::DeadLetterPage& page) {
  std::vector<jobq::JobId> ids;
  for (const jobq::DeadLetter& letter : page.letters) ids.push_back(letter.id);
  return ids;
}

}  // namespace jobq::testing

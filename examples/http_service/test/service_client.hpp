// The test's side of the HTTP API: a client for the service's endpoints that reads the JSON
// answers with the service's own schema (api_schema.hpp), and a tally of checks.
#pragma once

#include <httplib.h>
#include <jobq/jobq.hpp>

#include <cstdint>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

#include "api_schema.hpp"

namespace http_service_test {

/// An answer; status 0 when there was none (the connection failed), with the reason as body.
struct Reply {
  int status = 0;
  std::string body;
  std::string content_type;
  std::string retry_after;

  /// The body bound to an API struct; nullopt when it does not bind.
  template <jobq::Payload Body>
  std::optional<Body> as() const {
    Body out;
    if (!jobq::from_json(body, out)) return std::nullopt;
    return out;
  }
  /// The "error" of a refusal, or "" when the body is not one.
  std::string error() const {
    const std::optional<webapp::api::Refusal> refusal = as<webapp::api::Refusal>();
    return refusal ? refusal->error : "";
  }
};

/// One connection setting per client; a client is used by one thread at a time.
class ServiceClient {
 public:
  explicit ServiceClient(int port) : client_("127.0.0.1", port) {
    client_.set_connection_timeout(5);
    // Generous: under a sanitizer, and beside other tests, an answer can take a while.
    client_.set_read_timeout(30);
    client_.set_write_timeout(10);
  }

  Reply post(const std::string& path, const std::string& json = "{}") {
    return reply(client_.Post(path.c_str(), json, "application/json"));
  }
  Reply get(const std::string& path) { return reply(client_.Get(path.c_str())); }
  Reply del(const std::string& path) { return reply(client_.Delete(path.c_str())); }

  /// GET /inspect, bound; nullopt if it did not answer 200 with an Inspection.
  std::optional<webapp::api::Inspection> inspect() {
    const Reply answer = get("/inspect");
    if (answer.status != 200) return std::nullopt;
    return answer.as<webapp::api::Inspection>();
  }

 private:
  static Reply reply(const httplib::Result& result) {
    if (!result) {
      return {.status = 0, .body = httplib::to_string(result.error()), .content_type = {}, .retry_after = {}};
    }
    return {.status = result->status,
            .body = result->body,
            .content_type = result->get_header_value("Content-Type"),
            .retry_after = result->get_header_value("Retry-After")};
  }

  httplib::Client client_;
};

/// Counts checks. A failed check is reported and the test goes on, so that one run names every
/// mismatch rather than the first.
class Checks {
 public:
  bool that(bool ok, std::string_view what) {
    if (ok) {
      ++passed_;
    } else {
      ++failed_;
      std::cout << "FAILED: " << what << '\n';
    }
    return ok;
  }

  template <class Actual, class Expected>
  bool equal(std::string_view what, const Actual& actual, const Expected& expected) {
    if (actual == expected) return that(true, what);
    std::ostringstream text;
    text << what << ": got " << actual << ", expected " << expected;
    return that(false, text.str());
  }

  bool status(std::string_view what, const Reply& reply, int expected) {
    if (reply.status == expected) return that(true, what);
    return that(false, std::string(what) + ": got " + std::to_string(reply.status) + " " + reply.body + ", expected " +
                           std::to_string(expected));
  }

  /// The closing line; the exit code of the test.
  int finish() const {
    std::cout << passed_ << " passed, " << failed_ << " failed" << std::endl;
    return failed_ == 0 ? 0 : 1;
  }

 private:
  std::uint64_t passed_ = 0;
  std::uint64_t failed_ = 0;
};

}  // namespace http_service_test

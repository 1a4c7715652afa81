// Headers' checks and their JSON form (how a durable queue's store and a console keep them).
#include "jobq/headers.hpp"

#include <simdjson.h>

#include "jobq/internal/json_buffer.hpp"
#include "jobq/internal/payload_json.hpp"
#include "jobq/internal/printable.hpp"
#include "jobq/internal/utf8.hpp"

namespace jobq {

Headers::Headers(std::initializer_list<std::pair<std::string_view, std::string_view>> headers) {
  for (const auto& [name, value] : headers) set(name, value);
}

Headers& Headers::set(std::string_view name, std::string_view value) {
  for (Header& header : items_) {
    if (header.name == name) {
      header.value.assign(value);
      return *this;
    }
  }
  items_.push_back(Header{std::string(name), std::string(value)});
  return *this;
}

std::optional<std::string_view> Headers::get(std::string_view name) const noexcept {
  for (const Header& header : items_) {
    if (header.name == name) return std::string_view(header.value);
  }
  return std::nullopt;
}

bool Headers::erase(std::string_view name) noexcept {
  for (auto header = items_.begin(); header != items_.end(); ++header) {
    if (header->name == name) {
      items_.erase(header);
      return true;
    }
  }
  return false;
}

namespace {

bool name_character(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
}

std::string name_problem(std::string_view name) {
  if (name.empty()) return "a header name is empty";
  if (name.size() > Headers::max_name_bytes) {
    return "header name '" + internal::printable(name.substr(0, 32)) + "…' is longer than " +
           std::to_string(Headers::max_name_bytes) + " bytes";
  }
  for (const char c : name) {
    if (!name_character(c)) {
      return "header name '" + internal::printable(name) +
             "' has a character other than a-z, 0-9, '-', '_' and '.' (names are lower case)";
    }
  }
  return {};
}

std::string value_problem(std::string_view name, std::string_view value) {
  if (value.size() > Headers::max_value_bytes) {
    return "header '" + std::string(name) + "': its value is " + std::to_string(value.size()) + " bytes, the limit is " +
           std::to_string(Headers::max_value_bytes);
  }
  for (const char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7F) return "header '" + std::string(name) + "': its value has a control character";
  }
  if (!internal::valid_utf8(value)) {
    return "header '" + std::string(name) + "': its value is not valid UTF-8";
  }
  return {};
}

}  // namespace

std::string Headers::problem() const {
  if (items_.size() > max_count) {
    return std::to_string(items_.size()) + " headers, the limit is " + std::to_string(max_count);
  }
  for (const Header& header : items_) {
    if (std::string problem = name_problem(header.name); !problem.empty()) return problem;
    if (std::string problem = value_problem(header.name, header.value); !problem.empty()) return problem;
  }
  return {};
}

std::string Headers::to_json() const {
  internal::JsonBuffer out;
  out.push_back('{');
  for (const Header& header : items_) {
    if (out.size() > 1) out.push_back(',');
    // A value that is not UTF-8 (headers not yet checked) is written empty rather than invalid.
    if (!internal::write_json_string(out, header.name)) out.append("\"\"");
    out.push_back(':');
    if (!internal::write_json_string(out, header.value)) out.append("\"\"");
  }
  out.push_back('}');
  return std::string(out.view());
}

Result<Headers> Headers::from_json(std::string_view json) {
  auto refuse = [](std::string why) { return Error(Errc::invalid_header, std::move(why)); };
  // Cold (a durable job's headers, a letter's): the whole document is checked, keys and all.
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(json.data(), json.size()).get(root) != simdjson::SUCCESS) return refuse("not JSON");
  simdjson::dom::object object;
  if (root.get_object().get(object) != simdjson::SUCCESS) return refuse("not a JSON object");
  Headers headers;
  for (const simdjson::dom::key_value_pair field : object) {
    std::string_view value;
    if (field.value.get_string().get(value) != simdjson::SUCCESS) {
      return refuse("header '" + internal::printable(field.key) + "' is not a string");
    }
    headers.set(field.key, value);
  }
  if (std::string problem = headers.problem(); !problem.empty()) return refuse(std::move(problem));
  return headers;
}

const Headers& internal::no_headers() noexcept {
  static const Headers none;
  return none;
}

}  // namespace jobq

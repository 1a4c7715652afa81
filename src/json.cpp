// Cold paths of payload handling: error descriptions and string escaping.
#include <cstdint>
#include <cstring>
#include <string>

#include "jobq/internal/json_bind.hpp"
#include "jobq/internal/json_write.hpp"
#include "jobq/message.hpp"

namespace jobq {

simdjson::ondemand::parser& Message::thread_parser() {
  thread_local simdjson::ondemand::parser parser;
  return parser;
}

namespace internal {

std::string_view simdjson_error_name(simdjson::error_code code) noexcept {
  switch (code) {
    case simdjson::SUCCESS: return "SUCCESS";
    case simdjson::CAPACITY: return "CAPACITY";
    case simdjson::MEMALLOC: return "MEMALLOC";
    case simdjson::TAPE_ERROR: return "TAPE_ERROR";
    case simdjson::DEPTH_ERROR: return "DEPTH_ERROR";
    case simdjson::STRING_ERROR: return "STRING_ERROR";
    case simdjson::T_ATOM_ERROR: return "T_ATOM_ERROR";
    case simdjson::F_ATOM_ERROR: return "F_ATOM_ERROR";
    case simdjson::N_ATOM_ERROR: return "N_ATOM_ERROR";
    case simdjson::NUMBER_ERROR: return "NUMBER_ERROR";
    case simdjson::UTF8_ERROR: return "UTF8_ERROR";
    case simdjson::UNINITIALIZED: return "UNINITIALIZED";
    case simdjson::EMPTY: return "EMPTY";
    case simdjson::UNESCAPED_CHARS: return "UNESCAPED_CHARS";
    case simdjson::UNCLOSED_STRING: return "UNCLOSED_STRING";
    case simdjson::UNSUPPORTED_ARCHITECTURE: return "UNSUPPORTED_ARCHITECTURE";
    case simdjson::INCORRECT_TYPE: return "INCORRECT_TYPE";
    case simdjson::NUMBER_OUT_OF_RANGE: return "NUMBER_OUT_OF_RANGE";
    case simdjson::INDEX_OUT_OF_BOUNDS: return "INDEX_OUT_OF_BOUNDS";
    case simdjson::NO_SUCH_FIELD: return "NO_SUCH_FIELD";
    case simdjson::IO_ERROR: return "IO_ERROR";
    case simdjson::INVALID_JSON_POINTER: return "INVALID_JSON_POINTER";
    case simdjson::INVALID_URI_FRAGMENT: return "INVALID_URI_FRAGMENT";
    case simdjson::UNEXPECTED_ERROR: return "UNEXPECTED_ERROR";
    case simdjson::PARSER_IN_USE: return "PARSER_IN_USE";
    case simdjson::OUT_OF_ORDER_ITERATION: return "OUT_OF_ORDER_ITERATION";
    case simdjson::INSUFFICIENT_PADDING: return "INSUFFICIENT_PADDING";
    case simdjson::INCOMPLETE_ARRAY_OR_OBJECT: return "INCOMPLETE_ARRAY_OR_OBJECT";
    case simdjson::SCALAR_DOCUMENT_AS_VALUE: return "SCALAR_DOCUMENT_AS_VALUE";
    case simdjson::OUT_OF_BOUNDS: return "OUT_OF_BOUNDS";
    case simdjson::TRAILING_CONTENT: return "TRAILING_CONTENT";
    default: return "UNKNOWN_ERROR";
  }
}

std::string describe_bind_failure(const BindFailure& failure) {
  std::string text;
  if (failure.path.empty()) {
    text = "payload: ";
  } else {
    text = "field '" + failure.path + "': ";
  }
  if (failure.code == simdjson::NO_SUCH_FIELD && !failure.path.empty()) {
    text += "NO_SUCH_FIELD (required field is missing)";
    return text;
  }
  return text + describe_simdjson_error(failure.code);
}

std::string describe_simdjson_error(simdjson::error_code code) {
  std::string text(simdjson_error_name(code));
  text += " (";
  text += simdjson::error_message(code);
  text += ")";
  return text;
}

namespace {

constexpr bool needs_escape(unsigned char c) noexcept { return c < 0x20 || c == '"' || c == '\\'; }

/// Length of the prefix of `bytes` that needs no escaping; ORs every byte it passes into `seen`.
/// Eight bytes per step: a word is clean when none of its bytes is below 0x20, a quote or a
/// backslash (the classic "has a byte less than n / equal to n" bit tricks).
std::size_t clean_prefix(const unsigned char* bytes, std::size_t size, std::uint64_t& seen) noexcept {
  constexpr std::uint64_t ones = 0x0101010101010101ull;
  constexpr std::uint64_t highs = 0x8080808080808080ull;
  auto has_zero_byte = [](std::uint64_t word) { return (word - ones) & ~word & highs; };
  std::size_t index = 0;
  for (; index + 8 <= size; index += 8) {
    std::uint64_t word;
    std::memcpy(&word, bytes + index, 8);
    // Bytes of 0x80 and up (non-ASCII) are clean but make (word - 0x20..) unreliable for the
    // "below 0x20" test on their lane, so that test runs on the word with high bits cleared.
    const std::uint64_t low7 = word & ~highs;
    const std::uint64_t special = ((low7 - 0x20 * ones) & ~low7 & highs & ~word) |
                                  has_zero_byte(word ^ (ones * '"')) | has_zero_byte(word ^ (ones * '\\'));
    if (special != 0) break;
    seen |= word;
  }
  while (index < size && !needs_escape(bytes[index])) seen |= bytes[index++];
  return index;
}

void append_escaped(JsonBuffer& out, unsigned char c) {
  static constexpr char hex[] = "0123456789abcdef";
  switch (c) {
    case '"': out.append("\\\""); break;
    case '\\': out.append("\\\\"); break;
    case '\b': out.append("\\b"); break;
    case '\f': out.append("\\f"); break;
    case '\n': out.append("\\n"); break;
    case '\r': out.append("\\r"); break;
    case '\t': out.append("\\t"); break;
    default: {
      const char escaped[] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xF]};
      out.append({escaped, sizeof escaped});
    }
  }
}

}  // namespace

bool write_json_string(JsonBuffer& out, std::string_view text) {
  const std::size_t start = out.size();
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t size = text.size();
  std::uint64_t seen = 0;  // OR of every byte: a high bit set means non-ASCII text
  std::size_t index = clean_prefix(bytes, size, seen);
  char* quoted = out.extend(index + 1);
  quoted[0] = '"';
  std::memcpy(quoted + 1, text.data(), index);
  // Rare: characters to escape. Copy the runs between them.
  while (index < size) {
    append_escaped(out, bytes[index]);
    const std::size_t run_start = ++index;
    index += clean_prefix(bytes + index, size - index, seen);
    out.append(text.substr(run_start, index - run_start));
  }
  out.push_back('"');
  // ASCII text, the common case, skips the UTF-8 validator's dispatch and setup.
  if ((seen & 0x8080808080808080ull) != 0 && !simdjson::validate_utf8(text.data(), text.size())) {
    out.truncate(start);
    return false;
  }
  return true;
}

}  // namespace internal
}  // namespace jobq

#include "cli/names.hpp"

#include <algorithm>
#include <array>

#include <jobq/registry.hpp>

namespace jobq::cli {
namespace {

// ASCII only, independent of the locale: names are checked byte by byte, as the registry does.
bool is_upper(char c) noexcept { return c >= 'A' && c <= 'Z'; }
bool is_lower(char c) noexcept { return c >= 'a' && c <= 'z'; }
bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
char to_lower(char c) noexcept { return is_upper(c) ? static_cast<char>(c - 'A' + 'a') : c; }
char to_upper(char c) noexcept { return is_lower(c) ? static_cast<char>(c - 'a' + 'A') : c; }

/// "send_welcome-email" → {"send", "welcome", "email"}: a type name part's words.
std::vector<std::string> name_part_words(std::string_view part) {
  std::vector<std::string> words(1);
  for (char c : part) {
    if (c == '_' || c == '-') {
      if (!words.back().empty()) words.emplace_back();
    } else {
      words.back() += c;
    }
  }
  if (words.back().empty()) words.pop_back();
  return words;
}

void append_capitalized(std::string& out, const std::vector<std::string>& words) {
  for (const std::string& word : words) {
    out += to_upper(word.front());
    out.append(word, 1);
  }
}

std::string join(const std::vector<std::string>& words, std::size_t count, char separator) {
  std::string joined;
  for (std::size_t i = 0; i < count; ++i) {
    if (i > 0) joined += separator;
    joined += words[i];
  }
  return joined;
}

}  // namespace

std::vector<std::string> identifier_words(std::string_view identifier) {
  std::vector<std::string> words;
  std::string word;
  auto end_word = [&] {
    if (!word.empty()) words.push_back(std::move(word));
    word.clear();
  };
  for (std::size_t i = 0; i < identifier.size(); ++i) {
    const char c = identifier[i];
    if (c == '_') {
      end_word();
      continue;
    }
    if (is_upper(c) && i > 0) {
      const char previous = identifier[i - 1];
      const bool acronym_ends = is_upper(previous) && i + 1 < identifier.size() && is_lower(identifier[i + 1]);
      if (is_lower(previous) || is_digit(previous) || acronym_ends) end_word();
    }
    word += to_lower(c);
  }
  end_word();
  return words;
}

std::optional<std::string> type_name_for_class(std::string_view class_name) {
  const std::vector<std::string> words = identifier_words(class_name);
  if (words.size() < 2) return std::nullopt;
  return words.back() + ':' + join(words, words.size() - 1, '_');
}

std::string class_name_for_type(std::string_view type_name) {
  const std::size_t colon = type_name.find(':');
  std::string name;
  append_capitalized(name, name_part_words(type_name.substr(colon + 1)));
  append_capitalized(name, name_part_words(type_name.substr(0, colon)));
  return name;
}

std::string snake_case(std::string_view class_name) {
  const std::vector<std::string> words = identifier_words(class_name);
  return join(words, words.size(), '_');
}

bool is_cpp_keyword(std::string_view word) {
  static constexpr std::array<std::string_view, 92> keywords = {
      "alignas", "alignof", "and", "and_eq", "asm", "auto", "bitand", "bitor", "bool", "break", "case", "catch",
      "char", "char8_t", "char16_t", "char32_t", "class", "compl", "concept", "const", "consteval", "constexpr",
      "constinit", "const_cast", "continue", "co_await", "co_return", "co_yield", "decltype", "default",
      "delete", "do", "double", "dynamic_cast", "else", "enum", "explicit", "export", "extern", "false",
      "float", "for", "friend", "goto", "if", "inline", "int", "long", "mutable", "namespace", "new",
      "noexcept", "not", "not_eq", "nullptr", "operator", "or", "or_eq", "private", "protected", "public",
      "register", "reinterpret_cast", "requires", "return", "short", "signed", "sizeof", "static",
      "static_assert", "static_cast", "struct", "switch", "template", "this", "thread_local", "throw", "true",
      "try", "typedef", "typeid", "typename", "union", "unsigned", "using", "virtual", "void", "volatile",
      "wchar_t", "while", "xor", "xor_eq"};
  return std::find(keywords.begin(), keywords.end(), word) != keywords.end();
}

std::string class_name_problem(std::string_view name) {
  if (name.empty()) return "it is empty";
  if (is_digit(name.front())) return "it starts with a digit";
  for (char c : name) {
    if (is_upper(c) || is_lower(c) || is_digit(c) || c == '_') continue;
    const bool printable = c > ' ' && c < 0x7f;
    return printable ? std::string("it contains '") + c + "'; a class name has ASCII letters, digits and '_'"
                     : "it contains a character other than ASCII letters, digits and '_'";
  }
  if (name.find("__") != std::string_view::npos) return "it contains '__', which C++ reserves";
  if (name.size() > 1 && name[0] == '_' && is_upper(name[1])) return "it starts with '_' and a capital, which C++ reserves";
  if (is_cpp_keyword(name)) return "it is a C++ keyword";
  if (name == "jobq" || name == "std") return "it is the name of a namespace the header uses";
  return {};
}

NameResolution resolve_names(const NameRequest& request) {
  NameResolution result;
  JobNames& names = result.names;
  const std::string quoted = "'" + request.name + "'";
  auto check_type = [&](const std::string& type_name) {
    if (std::string problem = type_name_problem(type_name); !problem.empty()) {
      result.problem = "invalid job type name '" + type_name + "': " + problem;
    }
  };
  auto check_class = [&](const std::string& class_name, std::string_view derived_from) {
    const std::string problem = class_name_problem(class_name);
    if (problem.empty()) return;
    result.problem = derived_from.empty()
                         ? "invalid class name '" + class_name + "': " + problem
                         : "the class name '" + class_name + "' derived from '" + std::string(derived_from) +
                               "' is not usable: " + problem + "; pass --class NAME";
  };

  if (request.name.empty()) {
    result.problem = "the job name is empty: give a class name (SendWelcomeEmail) or a type name (emails:welcome)";
  } else if (request.name.find(':') != std::string::npos) {
    if (request.type_name) {
      result.problem = quoted + " is a type name already; --type goes with a class name";
      return result;
    }
    names.type_name = request.name;
    check_type(names.type_name);
    if (!result.ok()) return result;
    names.class_name = request.class_name ? *request.class_name : class_name_for_type(names.type_name);
    check_class(names.class_name, request.class_name ? std::string_view() : names.type_name);
  } else {
    if (request.class_name) {
      result.problem = quoted + " is a class name already; --class goes with a type name";
      return result;
    }
    names.class_name = request.name;
    check_class(names.class_name, {});
    if (!result.ok()) return result;
    if (request.type_name) {
      names.type_name = *request.type_name;
    } else if (std::optional<std::string> derived = type_name_for_class(names.class_name)) {
      names.type_name = std::move(*derived);
    } else {
      result.problem = "cannot derive a type name from " + quoted +
                       ": it is one word, and a class name is the action's words then the category's "
                       "(CleanupSessions is sessions:cleanup); rename it or pass --type category:action";
      return result;
    }
    check_type(names.type_name);
  }
  if (!result.ok()) return result;
  names.file_stem = snake_case(names.class_name);
  names.variable = names.file_stem;
  if (is_cpp_keyword(names.variable)) names.variable += "_job";
  return result;
}

}  // namespace jobq::cli

// Name derivation for `jobq make:job`: a job's class name and its "category:action" type name,
// each from the other, with the registry's rules and C++'s rules checked.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace jobq::cli {

/// The lower-cased words of an identifier. A word starts at an upper-case letter that follows a
/// lower-case letter or digit, at the last capital of an acronym ("HTTPRequest" → http, request),
/// and after '_'; digits belong to the word before them ("Q4Summary" → q4, summary).
std::vector<std::string> identifier_words(std::string_view identifier);

/// The type name for a class: its last word is the category and the words before it, joined by
/// '_', are the action. SendWelcomeEmail → "email:send_welcome". Empty for a one-word class,
/// which has no action.
std::optional<std::string> type_name_for_class(std::string_view class_name);

/// The class name for a valid type name: the action's words, then the category's, each
/// capitalized ('_' and '-' separate words). "reports:generate" → GenerateReports.
std::string class_name_for_type(std::string_view type_name);

/// The class name in snake_case, used for the header's file name and the job object's variable:
/// SendWelcomeEmail → send_welcome_email.
std::string snake_case(std::string_view class_name);

/// Empty when `name` can name a class in the global namespace, else why not: it must be an
/// identifier, not a keyword, and not reserved ("__" anywhere, or '_' then a capital first).
std::string class_name_problem(std::string_view name);

/// True for the C++20 keywords and alternative operator names.
bool is_cpp_keyword(std::string_view word);

/// The names of one generated job.
struct JobNames {
  std::string class_name;  ///< SendWelcomeEmail
  std::string type_name;   ///< email:send_welcome
  std::string file_stem;   ///< send_welcome_email (the header is file_stem + ".hpp")
  std::string variable;    ///< send_welcome_email: the job object in the registration line
};

/// What the user asked for: a class name or a "category:action" type name, and overrides.
struct NameRequest {
  std::string name;
  std::optional<std::string> type_name = {};   ///< --type
  std::optional<std::string> class_name = {};  ///< --class
};

/// JobNames or the reason there are none; `problem` is empty on success.
struct NameResolution {
  JobNames names;
  std::string problem;
  bool ok() const noexcept { return problem.empty(); }
};

/// Derives and checks every name. A NAME with a ':' is a type name, any other is a class name;
/// --type or --class supplies the name that NAME does not, and may not repeat the one it does.
NameResolution resolve_names(const NameRequest& request);

}  // namespace jobq::cli

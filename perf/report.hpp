// Writing results: text files in the output folder, JSON string escaping, and gnuplot.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace jobq_perf {

/// Creates `dir` (and its parents). Empty on success, else why not.
inline std::string make_output_dir(const std::filesystem::path& dir) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) return "cannot create " + dir.string() + ": " + error.message();
  return {};
}

inline bool write_text(const std::filesystem::path& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) std::fprintf(stderr, "cannot write %s\n", path.c_str());
  return static_cast<bool>(out);
}

inline std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
      out += escaped;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

/// A number for JSON and CSV: integral values without a fraction, others with 6 significant digits.
inline std::string number(double value) {
  char text[32];
  if (value == static_cast<double>(static_cast<long long>(value)) && value < 1e15 && value > -1e15) {
    std::snprintf(text, sizeof text, "%lld", static_cast<long long>(value));
  } else {
    std::snprintf(text, sizeof text, "%.6g", value);
  }
  return text;
}

/// True if an executable `name` is on PATH.
inline bool on_path(std::string_view name) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return false;
  std::string_view dirs = path;
  while (!dirs.empty()) {
    const std::size_t colon = dirs.find(':');
    const std::string dir(dirs.substr(0, colon));
    const std::string candidate = (dir.empty() ? "." : dir) + "/" + std::string(name);
    if (access(candidate.c_str(), X_OK) == 0) return true;
    if (colon == std::string_view::npos) break;
    dirs.remove_prefix(colon + 1);
  }
  return false;
}

/// Runs `gnuplot script` in the script's folder. Returns a line for the user: what was written,
/// or why no plot was made (the data and the script are there to plot later).
inline std::string run_gnuplot(const std::filesystem::path& script, const std::filesystem::path& image) {
  if (!on_path("gnuplot")) {
    return "gnuplot is not on PATH: no plot; run `gnuplot " + script.filename().string() + "` in " +
           script.parent_path().string() + " to make " + image.filename().string();
  }
  const std::string command = "cd '" + script.parent_path().string() + "' && gnuplot '" +
                              script.filename().string() + "'";
  const int status = std::system(command.c_str());
  if (status != 0 || !std::filesystem::exists(image)) {
    return "gnuplot failed (status " + std::to_string(status) + "): no plot; the script is " + script.string();
  }
  return "plot: " + image.string();
}

}  // namespace jobq_perf

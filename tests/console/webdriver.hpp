// A W3C WebDriver client just big enough for the console's browser test: it starts Debian's
// chromedriver on a free loopback port, opens one headless Chromium session, and speaks the
// protocol's JSON over HTTP. Stops both by pid.
#pragma once

#include <httplib.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <simdjson.h>

extern char** environ;

namespace console_test {

/// A JSON string literal of `text`.
inline std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char escape[8];
      std::snprintf(escape, sizeof escape, "\\u%04x", c);
      out += escape;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

inline std::uint16_t free_port() {
  const int socket_fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(socket_fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t length = sizeof address;
  ::getsockname(socket_fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(socket_fd);
  return ntohs(address.sin_port);
}

inline std::vector<unsigned char> base64_decode(std::string_view text) {
  std::vector<unsigned char> out;
  unsigned buffer = 0;
  int bits = 0;
  for (char c : text) {
    int value = -1;
    if (c >= 'A' && c <= 'Z') value = c - 'A';
    if (c >= 'a' && c <= 'z') value = c - 'a' + 26;
    if (c >= '0' && c <= '9') value = c - '0' + 52;
    if (c == '+') value = 62;
    if (c == '/') value = 63;
    if (value < 0) continue;
    buffer = (buffer << 6) | static_cast<unsigned>(value);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<unsigned char>((buffer >> bits) & 0xFF));
    }
  }
  return out;
}

class Browser {
 public:
  static constexpr const char* chromedriver = "/usr/bin/chromedriver";
  static constexpr const char* chromium = "/usr/bin/chromium";

  explicit Browser(const std::filesystem::path& profile) : port_(free_port()), client_("127.0.0.1", port_) {
    for (const char* program : {chromedriver, chromium}) {
      if (!std::filesystem::exists(program)) {
        throw std::runtime_error(std::string(program) + " is missing: tools/install-deps installs chromium and chromium-driver");
      }
    }
    const std::string port_flag = "--port=" + std::to_string(port_);
    std::vector<char*> argv = {const_cast<char*>(chromedriver), const_cast<char*>(port_flag.c_str()), nullptr};
    if (posix_spawn(&driver_, chromedriver, nullptr, nullptr, argv.data(), environ) != 0) {
      throw std::runtime_error("cannot start chromedriver");
    }
    client_.set_read_timeout(60, 0);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!client_.Get("/status")) {
      if (std::chrono::steady_clock::now() > deadline) throw std::runtime_error("chromedriver did not answer in 30 s");
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    // The flags keep Chromium off the network it cannot reach here, and its state in `profile`.
    const std::string session = call("POST", "/session", R"({"capabilities":{"alwaysMatch":{"browserName":"chrome",
      "goog:chromeOptions":{"binary":")" + std::string(chromium) + R"(","args":["--headless","--no-sandbox",
      "--disable-gpu","--disable-dev-shm-usage","--disable-quic","--no-first-run","--disable-background-networking",
      "--disable-component-update","--disable-sync","--window-size=1500,1000","--user-data-dir=)" +
                                                         profile.string() + R"("]}}}})");
    session_ = field(session, "sessionId");
  }

  ~Browser() {
    if (!session_.empty()) client_.Delete("/session/" + session_);
    if (driver_ > 0) {
      ::kill(driver_, SIGTERM);
      int status = 0;
      ::waitpid(driver_, &status, 0);
    }
  }

  void go(const std::string& url) { session_call("POST", "/url", "{\"url\":" + json_string(url) + "}"); }

  /// Runs `script` (a function body) in the page and returns its result's JSON.
  std::string run(const std::string& script) {
    return session_call("POST", "/execute/sync", "{\"script\":" + json_string(script) + ",\"args\":[]}");
  }

  /// Waits until `condition` (a JavaScript expression) is true in the page.
  bool wait_for(const std::string& condition, std::chrono::seconds limit = std::chrono::seconds(20)) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      if (value_of(run("return !!(" + condition + ");")) == "true") return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  }

  /// The element matching `css`; throws when there is none.
  std::string find(const std::string& css) {
    const std::string answer = session_call("POST", "/element", "{\"using\":\"css selector\",\"value\":" + json_string(css) + "}");
    simdjson::dom::parser parser;
    simdjson::dom::element element;
    if (parser.parse(answer).get(element) || !element["value"].is_object()) throw std::runtime_error("no element " + css);
    for (auto [key, value] : element["value"].get_object()) {
      std::string_view id;
      if (!value.get(id)) return std::string(id);
    }
    throw std::runtime_error("no element " + css);
  }
  std::string text(const std::string& css) {
    return on_element(css, [&](const std::string& element) { return value_of(session_call("GET", element + "/text", "")); });
  }
  std::string attribute(const std::string& css, const std::string& name) {
    return on_element(css, [&](const std::string& element) {
      return value_of(session_call("GET", element + "/attribute/" + name, ""));
    });
  }
  void click(const std::string& css) {
    on_element(css, [&](const std::string& element) { return session_call("POST", element + "/click", "{}"); });
  }
  void type(const std::string& css, const std::string& keys) {
    on_element(css, [&](const std::string& element) {
      return session_call("POST", element + "/value", "{\"text\":" + json_string(keys) + "}");
    });
  }
  void screenshot(const std::filesystem::path& file) {
    const std::string answer = session_call("GET", "/screenshot", "");
    const std::vector<unsigned char> png = base64_decode(value_of(answer));
    std::filesystem::create_directories(file.parent_path());
    std::ofstream(file, std::ios::binary).write(reinterpret_cast<const char*>(png.data()), static_cast<std::streamsize>(png.size()));
  }

  /// "value" of an answer as text: a string's characters, anything else as JSON.
  static std::string value_of(const std::string& answer) {
    simdjson::dom::parser parser;
    simdjson::dom::element element;
    if (parser.parse(answer).get(element)) return {};
    simdjson::dom::element value = element["value"];
    std::string_view text;
    if (!value.get(text)) return std::string(text);
    return simdjson::minify(value);
  }

 private:
  static std::string field(const std::string& answer, const char* name) {
    simdjson::dom::parser parser;
    simdjson::dom::element element;
    std::string_view text;
    if (parser.parse(answer).get(element) || element["value"][name].get(text)) {
      throw std::runtime_error("WebDriver answered without " + std::string(name) + ": " + answer);
    }
    return std::string(text);
  }

  /// Runs `act` on the path of the element matching `css`. The console redraws its tables as the
  /// figures change, so an element found a moment ago may be gone by the time it is read or
  /// clicked: when WebDriver answers "stale element reference" (the act did not happen), the
  /// element is found again, up to five times.
  template <class Act>
  std::string on_element(const std::string& css, Act act) {
    for (int attempt = 1;; ++attempt) {
      try {
        return act("/element/" + find(css));
      } catch (const std::runtime_error& error) {
        const bool stale = std::string_view(error.what()).find("stale element reference") != std::string_view::npos;
        if (!stale || attempt == 5) throw;
      }
    }
  }

  std::string session_call(const std::string& method, const std::string& path, const std::string& body) {
    return call(method, "/session/" + session_ + path, body);
  }

  std::string call(const std::string& method, const std::string& path, const std::string& body) {
    const httplib::Result answer = method == "GET" ? client_.Get(path) : client_.Post(path, body, "application/json");
    if (!answer) throw std::runtime_error("WebDriver " + method + " " + path + ": no answer");
    if (answer->status != 200) {
      throw std::runtime_error("WebDriver " + method + " " + path + ": " + std::to_string(answer->status) + " " + answer->body);
    }
    return answer->body;
  }

  std::uint16_t port_;
  httplib::Client client_;
  pid_t driver_ = -1;
  std::string session_;
};

}  // namespace console_test

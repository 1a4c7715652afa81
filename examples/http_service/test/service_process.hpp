// The service under test as a child process: started with its stdout on a pipe (echoed to the
// test's stdout, so that a failing run shows the service's books), watched with deadlines, and
// killed if the test gives up on it.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

extern char** environ;

namespace http_service_test {

using Clock = std::chrono::steady_clock;

class ServiceProcess {
 public:
  /// Starts `program` with `args`; its stderr stays the test's.
  ServiceProcess(const std::string& program, const std::vector<std::string>& args) {
    int pipe_ends[2];
    if (pipe2(pipe_ends, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, pipe_ends[1], STDOUT_FILENO);
    // The child starts with no signal blocked and SIGINT/SIGTERM at their defaults, whatever the
    // test runner left it, so that the service's own handling is what gets tested.
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    sigset_t none;
    sigset_t stop_signals;
    sigemptyset(&none);
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    posix_spawnattr_setsigmask(&attributes, &none);
    posix_spawnattr_setsigdefault(&attributes, &stop_signals);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    std::vector<char*> argv{const_cast<char*>(program.c_str())};
    for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    const int spawned = posix_spawn(&pid_, program.c_str(), &actions, &attributes, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    close(pipe_ends[1]);  // else the pipe never reports end of file
    if (spawned != 0) {
      close(pipe_ends[0]);
      throw std::runtime_error("cannot start " + program);
    }
    out_ = pipe_ends[0];
  }

  ServiceProcess(const ServiceProcess&) = delete;
  ServiceProcess& operator=(const ServiceProcess&) = delete;

  /// A service the test gave up on must not outlive it.
  ~ServiceProcess() {
    if (!exit_status_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (out_ >= 0) close(out_);
  }

  /// Reads stdout until a line starts with `prefix` and returns the rest of that line; nullopt
  /// at end of file or at the deadline.
  std::optional<std::string> wait_for_line(std::string_view prefix, Clock::time_point deadline) {
    for (;;) {
      for (std::size_t start = 0, end; (end = output_.find('\n', start)) != std::string::npos; start = end + 1) {
        const std::string_view line = std::string_view(output_).substr(start, end - start);
        if (line.starts_with(prefix)) return std::string(line.substr(prefix.size()));
      }
      if (!read_some(deadline)) return std::nullopt;
    }
  }

  /// Reads stdout to its end, then waits for the exit: the exit code, or nullopt if the process
  /// did not exit normally (a signal) or not by the deadline.
  std::optional<int> wait_for_exit(Clock::time_point deadline) {
    while (read_some(deadline)) {
    }
    int status = 0;
    for (;;) {
      const pid_t reaped = waitpid(pid_, &status, WNOHANG);
      if (reaped == pid_) break;
      if (reaped < 0 || Clock::now() >= deadline) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    exit_status_ = status;
    if (!WIFEXITED(status)) return std::nullopt;
    return WEXITSTATUS(status);
  }

  void send(int signal_number) { kill(pid_, signal_number); }

  /// Everything read from the service's stdout so far.
  const std::string& output() const { return output_; }

 private:
  /// Appends what the pipe has to `output_`; false at end of file, on error or at the deadline.
  bool read_some(Clock::time_point deadline) {
    if (out_ < 0) return false;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    pollfd ready{.fd = out_, .events = POLLIN, .revents = 0};
    const int polled = poll(&ready, 1, static_cast<int>(std::max<long long>(0, left.count())));
    if (polled <= 0) return false;
    char buffer[4096];
    const ssize_t got = read(out_, buffer, sizeof buffer);
    if (got <= 0) {
      close(out_);
      out_ = -1;
      return false;
    }
    output_.append(buffer, static_cast<std::size_t>(got));
    std::cout.write(buffer, got).flush();
    return true;
  }

  pid_t pid_ = -1;
  int out_ = -1;
  std::string output_;
  std::optional<int> exit_status_;
};

}  // namespace http_service_test

// Thread names, pinning, and the process's CPU set.
#include "jobq/internal/threads.hpp"

#include <pthread.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>

namespace jobq::internal {
namespace {

/// Adds a list such as "0-3,6" to `set`; false if the text is not one.
bool add_cpu_list(std::string_view text, cpu_set_t& set) {
  bool any = false;
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t end = text.find(',', at);
    if (end == std::string_view::npos) end = text.size();
    const std::string range(text.substr(at, end - at));
    at = end + 1;
    if (range.find_first_not_of(" \n\t") == std::string::npos) continue;
    unsigned first = 0;
    unsigned last = 0;
    char dash = 0;
    std::istringstream in(range);
    if (!(in >> first)) return false;
    last = first;
    if (in >> dash) {
      if (dash != '-' || !(in >> last) || last < first) return false;
    }
    for (unsigned cpu = first; cpu <= last && cpu < CPU_SETSIZE; ++cpu) CPU_SET(cpu, &set);
    any = true;
  }
  return any;
}

bool read_cpu_list(const std::string& path, cpu_set_t& set) {
  std::ifstream file(path);
  std::string line;
  return file && std::getline(file, line) && add_cpu_list(line, set);
}

/// The cpuset of this process's cgroup: v2 (`0::/path`, cpuset.cpus.effective, looked up the
/// tree when a level has no cpuset controller) or v1 (`N:cpuset:/path`).
bool cgroup_cpus(cpu_set_t& set) {
  std::ifstream cgroups("/proc/self/cgroup");
  std::string line;
  while (std::getline(cgroups, line)) {
    const std::size_t first = line.find(':');
    const std::size_t second = first == std::string::npos ? std::string::npos : line.find(':', first + 1);
    if (second == std::string::npos) continue;
    const std::string controllers = line.substr(first + 1, second - first - 1);
    std::string path = line.substr(second + 1);
    if (controllers.empty()) {  // v2
      for (;;) {
        if (read_cpu_list("/sys/fs/cgroup" + path + "/cpuset.cpus.effective", set)) return true;
        if (path.empty() || path == "/") break;
        path.resize(path.rfind('/'));
      }
    } else if (("," + controllers + ",").find(",cpuset,") != std::string::npos) {  // v1
      if (read_cpu_list("/sys/fs/cgroup/cpuset" + path + "/cpuset.effective_cpus", set)) return true;
      if (read_cpu_list("/sys/fs/cgroup/cpuset/cpuset.effective_cpus", set)) return true;
    }
  }
  return false;
}

}  // namespace

cpu_set_t process_cpus() {
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  if (!cgroup_cpus(allowed) && !read_cpu_list("/sys/devices/system/cpu/online", allowed)) CPU_ZERO(&allowed);
  cpu_set_t thread;
  CPU_ZERO(&thread);
  if (sched_getaffinity(getpid(), sizeof thread, &thread) == 0) CPU_OR(&allowed, &allowed, &thread);
  CPU_ZERO(&thread);
  if (sched_getaffinity(0, sizeof thread, &thread) == 0) CPU_OR(&allowed, &allowed, &thread);
  return allowed;
}

std::string describe_cpus(const cpu_set_t& set) {
  std::string text;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &set)) continue;
    int last = cpu;
    while (last + 1 < CPU_SETSIZE && CPU_ISSET(last + 1, &set)) ++last;
    if (!text.empty()) text += ',';
    text += std::to_string(cpu);
    if (last > cpu) text += '-' + std::to_string(last);
    cpu = last;
  }
  return text;
}

void name_this_thread(std::string_view name) {
  std::string cut(name.substr(0, 15));
  pthread_setname_np(pthread_self(), cut.c_str());
}

std::string pin_this_thread(std::span<const unsigned> cpus) {
  if (cpus.empty()) return {};
  cpu_set_t set;
  CPU_ZERO(&set);
  for (unsigned cpu : cpus) CPU_SET(cpu, &set);
  const int error = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
  if (error == 0) return {};
  return "cannot pin to CPU " + describe_cpus(set) + ": " + std::strerror(error);
}

}  // namespace jobq::internal

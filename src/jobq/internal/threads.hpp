// Where the engine's threads run: their names, their CPUs, and which CPUs the process may use.
#pragma once

#include <sched.h>

#include <span>
#include <string>
#include <string_view>

namespace jobq::internal {

/// The CPUs any thread of this process may be pinned to: the process's cpuset (cgroup v2 or v1),
/// else every online CPU, joined with the main thread's and the calling thread's masks. Not the
/// calling thread's mask alone: a dispatcher pinned to one CPU may build a Manager whose
/// workers run on others.
cpu_set_t process_cpus();

/// "0-3,6".
std::string describe_cpus(const cpu_set_t& set);

/// Names the calling thread (cut to the 15 characters Linux keeps).
void name_this_thread(std::string_view name);

/// Pins the calling thread to `cpus` (all of them: the thread may run on any). Empty on success
/// or for an empty list, else why it could not be pinned.
std::string pin_this_thread(std::span<const unsigned> cpus);

}  // namespace jobq::internal

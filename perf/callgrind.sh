#!/usr/bin/env bash
# Instructions per job on jobq's two hot paths, counted by callgrind:
#   dispatch: Manager::dispatch<Order> inclusive, on the producer (main) thread;
#   worker:   internal::Engine::run_job inclusive (handler lookup, Context, the handler: bind + trivial
#             body, counters), on the worker thread.
# The workload is perf/callgrind_driver.cpp: 100 000 typed jobs (JOBS=N to change) from one
# producer to one busy_spin worker, with a capacity above N so that nothing is refused.
#
# Why instruction counts rather than hardware counters or time: callgrind counts the instructions
# executed (Ir) on a simulated CPU, so the figure is the same from run to run to within a few
# instructions, whatever else the machine is doing. Cycles and cache misses from hardware counters
# (perf stat) move with frequency scaling, the other tenants of a shared VM and thread placement,
# and are often not available at all in VMs and containers (no PMU, perf_event_paranoid). Ir is
# a path-length figure: it does not see cache misses or cross-core transfers, so use it to catch
# code-path regressions, and jobq_loadgen for what a job costs in time.
#
# Usage: perf/callgrind.sh            (builds build/callgrind, RelWithDebInfo, then runs)
#        JOBS=20000 perf/callgrind.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
build=build/callgrind
jobs=${JOBS:-100000}

for tool in valgrind callgrind_annotate cmake ninja; do
  command -v "$tool" >/dev/null || { echo "callgrind.sh: $tool is not installed" >&2; exit 2; }
done

cmake -S . -B "$build" -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DJOBQ_BUILD_TESTS=OFF \
  -DJOBQ_BUILD_BENCH=OFF \
  -DJOBQ_BUILD_EXAMPLES=OFF \
  -DJOBQ_BUILD_PERF=ON >/dev/null
ninja -C "$build" -j1 jobq_callgrind_driver

out="$build/callgrind.out"
rm -f "$out" "$out"-*
# --separate-threads=yes: one profile per thread, "$out-01" (main: the producer) and "$out-02"
# (the worker). --toggle-collect: instructions are counted only inside these two functions and
# what they call, so each profile's total is exactly that function's inclusive cost. (The worker
# busy-spins while idle; that polling, outside run_job, is not counted.)
valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$out" \
  --toggle-collect='*jobq::Manager::dispatch<*' \
  --toggle-collect='jobq::internal::Engine::run_job(*' \
  "$build/perf/jobq_callgrind_driver" "$jobs"

producer="$out-01"
worker="$out-02"
for file in "$producer" "$worker"; do
  [[ -f "$file" ]] || { echo "callgrind.sh: no $file; valgrind wrote: $(ls "$out"* 2>/dev/null)" >&2; exit 1; }
done

# The "PROGRAM TOTALS" of a profile: with the toggles above, the inclusive Ir of its function.
total() {
  callgrind_annotate --inclusive=yes --auto=no "$1" | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); total = $1 } END { print total + 0 }'
}
# What the function's cost is made of: the largest inclusive entries below its total (callgrind
# splits a function by the source file of its inlined parts, so one function can appear on several
# lines, and a callee's lines are included in its caller's), names cut to fit a line.
breakdown() {
  callgrind_annotate --inclusive=yes --auto=no --threshold=99 "$1" |
    awk -v n="$jobs" -v total="$2" '/^ *[0-9,]+ +\(/ && !/PROGRAM TOTALS/ {
      ir = $1; gsub(",", "", ir); if (ir + 0 >= total + 0) next;
      line = $0; sub(/^ *[0-9,]+ +\( *[0-9.]+%\) +/, "", line);
      sub(/ \[[^]]*\]$/, "", line); if (length(line) > 110) line = substr(line, 1, 107) "...";
      if (shown++ < 10) printf "    %8.1f  %s\n", ir / n, line }'
}

dispatch=$(total "$producer")
run_job=$(total "$worker")
if [[ "$dispatch" == 0 || "$run_job" == 0 ]]; then
  echo "callgrind.sh: no instructions counted in Manager::dispatch<...> or internal::Engine::run_job (renamed or inlined?)" >&2
  exit 1
fi

echo
echo "inside Manager::dispatch (producer thread), Ir per job, inclusive:"
breakdown "$producer" "$dispatch"
echo "inside internal::Engine::run_job (worker thread), Ir per job, inclusive:"
breakdown "$worker" "$run_job"
echo
echo "instructions per job (Ir, callgrind, $jobs jobs, RelWithDebInfo):"
awk -v d="$dispatch" -v r="$run_job" -v n="$jobs" 'BEGIN {
  printf "  dispatch path  Manager::dispatch<Order> inclusive, producer thread  %8.1f\n", d / n
  printf "  worker path    internal::Engine::run_job inclusive, worker thread            %8.1f\n", r / n
}'
echo "profiles: $producer, $worker (callgrind_annotate --inclusive=yes FILE)"

#!/usr/bin/env python3
"""Summarizes Google Benchmark JSON files as one Markdown table of jobq / baseline ratios.

    tools/bench_summary.py [--build-dir build/bench] [--out build/bench/summary.md] FILE.json...

With no FILE, reads every *.json in the build directory. Prints the machine (CPU model, usable
CPUs, compiler) and the table, and writes both to --out. Exits 1 if a benchmark reported an error
or if there was nothing to summarize.

Naming convention
-----------------
Every benchmark is named

    BM_<scenario>_<impl>[/<arg>...]

- <impl> starts at the first underscore-separated token (or token pair) that names an
  implementation: jobq, condvar, mutex, asio, tbb, moodycamel, atomic_queue, unordered_map,
  handwritten, nlohmann, boost, folly, rigtorp, std (the IMPLEMENTATIONS list below). It runs to
  the end of the name, so it may carry a variant: jobq_raw, jobq_bulk, moodycamel_bare_8byte,
  unordered_map_transparent. A name with none of these tokens takes its last token as <impl>.
  So a scenario name must not contain one of these tokens.
- <impl> starting with "jobq" is the engine; anything else is a baseline.
- <scenario> is what comes before <impl>: end_to_end_1to1, throughput, handoff, pingpong, bind,
  handler_lookup, dispatch, allocs_per_job, ...
- The arguments are the run name's path after the function name (Args, ArgNames, threads:N),
  without the framework's parts (iterations:N, repeats:N, min_time:..., min_warmup_time:...,
  real_time, manual_time, process_time). BM_throughput_jobq/2/1 pairs with
  BM_throughput_condvar_pool/2/1; BM_handoff_jobq/round_trips:1000 with
  BM_handoff_moodycamel_ring/round_trips:1000.
- An engine benchmark is compared with each baseline of the same scenario that has the same
  arguments, or, failing that, with the baseline run without arguments (one baseline for all
  sizes, as BM_dispatch_moodycamel).

Figures and ratios (medians of the repetitions)
-----------------------------------------------
- Latency scenarios (the scenario starts with "handoff" or "pingpong", or contains "latency"):
  a counter named ns_per_* that engine and baseline both report (e.g. ns_per_round_trip), else
  the time per iteration in ns. Ratio = engine ns / baseline ns: below 1, jobq is faster.
- Other scenarios where both report items_per_second: throughput. Ratio = engine items/s /
  baseline items/s: above 1, jobq is faster.
- Otherwise: time per iteration in ns (real time, or manual time where the benchmark sets it).
  Ratio = engine ns / baseline ns: below 1, jobq is faster.

The table has one row per engine benchmark (scenario, engine variant, arguments) and one column
per baseline implementation; a row without a baseline still shows its figure and counters (for
example allocations per job).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field

IMPLEMENTATIONS = [
    "jobq", "condvar", "mutex", "asio", "tbb", "moodycamel", "atomic_queue", "unordered_map",
    "handwritten", "nlohmann", "boost", "folly", "rigtorp", "std", "hiredis", "bullmq",
]
LATENCY_PREFIXES = ("handoff", "pingpong")
FRAMEWORK_ARG = re.compile(r"^(iterations|repeats|min_time|min_warmup_time):|^(real_time|manual_time|process_time)$")
STANDARD_KEYS = {
    "name", "family_index", "per_family_instance_index", "run_name", "run_type", "repetitions",
    "repetition_index", "threads", "iterations", "real_time", "cpu_time", "time_unit",
    "bytes_per_second", "items_per_second", "label", "aggregate_name", "aggregate_unit",
    "error_occurred", "error_message",
}
NS_PER_UNIT = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


@dataclass
class Result:
    """The median of one benchmark instance."""
    name: str                 # run name, e.g. BM_throughput_jobq/2/1/iterations:20/manual_time
    scenario: str
    impl: str
    args: str                 # "2/1", "" when none
    ns_per_iteration: float
    items_per_second: float | None
    bytes_per_second: float | None
    counters: dict[str, float] = field(default_factory=dict)

    @property
    def engine(self) -> bool:
        return self.impl.startswith("jobq")


def split_name(function: str) -> tuple[str, str]:
    """BM_<scenario>_<impl> → (scenario, impl), by the convention above."""
    body = function[3:] if function.startswith("BM_") else function
    tokens = body.split("_")
    for index in range(1, len(tokens)):
        for impl in IMPLEMENTATIONS:
            width = impl.count("_") + 1
            if "_".join(tokens[index:index + width]) == impl:
                return "_".join(tokens[:index]), "_".join(tokens[index:])
    if len(tokens) == 1:
        return body, body
    return "_".join(tokens[:-1]), tokens[-1]


def split_run_name(run_name: str) -> tuple[str, str]:
    """'BM_x_jobq/64/iterations:100/real_time' → ('BM_x_jobq', '64')."""
    function, *parts = run_name.split("/")
    return function, "/".join(part for part in parts if not FRAMEWORK_ARG.search(part))


def is_latency(scenario: str) -> bool:
    return scenario.startswith(LATENCY_PREFIXES) or "latency" in scenario


def load(paths: list[str]) -> tuple[list[Result], list[str], list[dict], set[int]]:
    results: list[Result] = []
    repetitions: set[int] = set()
    errors: list[str] = []
    contexts: list[dict] = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as handle:
                report = json.load(handle)
        except (OSError, ValueError) as problem:
            errors.append(f"{path}: cannot read: {problem}")
            continue
        contexts.append(report.get("context", {}))
        for entry in report.get("benchmarks", []):
            run_name = entry.get("run_name", entry.get("name", ""))
            if entry.get("error_occurred"):
                errors.append(f"{run_name}: {entry.get('error_message', 'error')}")
                continue
            if entry.get("run_type") == "aggregate":
                if entry.get("aggregate_name") != "median":
                    continue
            elif entry.get("repetitions", 1) > 1:
                continue  # one repetition of several: their median is among the aggregates
            repetitions.add(entry.get("repetitions", 1))
            function, args = split_run_name(run_name)
            scenario, impl = split_name(function)
            scale = NS_PER_UNIT.get(entry.get("time_unit", "ns"), 1.0)
            counters = {key: value for key, value in entry.items()
                        if key not in STANDARD_KEYS and isinstance(value, (int, float))}
            results.append(Result(run_name, scenario, impl, args, entry["real_time"] * scale,
                                  entry.get("items_per_second"), entry.get("bytes_per_second"), counters))
    return results, errors, contexts, repetitions


def figure(result: Result, metric: str) -> float | None:
    if metric == "items/s":
        return result.items_per_second
    if metric == "ns":
        return result.ns_per_iteration
    return result.counters.get(metric)


def choose_metric(engine: Result, baselines: list[Result]) -> str:
    """items/s, ns (per iteration) or the name of an ns_per_* counter."""
    if is_latency(engine.scenario):
        for counter in sorted(engine.counters):
            if counter.startswith("ns_per_") and all(counter in base.counters for base in baselines):
                return counter
        return "ns"
    if engine.items_per_second and baselines and all(base.items_per_second for base in baselines):
        return "items/s"
    if engine.items_per_second and not baselines:
        return "items/s"
    return "ns"


def format_number(value: float) -> str:
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1e9:
        return f"{value / 1e9:.3g} G"
    if magnitude >= 1e6:
        return f"{value / 1e6:.3g} M"
    if magnitude >= 1e4:
        return f"{value / 1e3:.3g} k"
    if magnitude >= 100:
        return f"{value:.0f}"
    return f"{value:.3g}"


def machine() -> list[str]:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return [f"- CPU: {cpu}", f"- CPUs: {os.cpu_count()} online, {usable} usable by this process"]


def compiler(build_dir: str) -> list[str]:
    cache = {}
    try:
        with open(os.path.join(build_dir, "CMakeCache.txt"), encoding="utf-8") as handle:
            for line in handle:
                match = re.match(r"^([A-Za-z_]+):[A-Z]+=(.*)$", line.strip())
                if match:
                    cache[match.group(1)] = match.group(2)
    except OSError:
        pass
    path = cache.get("CMAKE_CXX_COMPILER", "c++")
    try:
        version = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
        first = version.stdout.splitlines()[0] if version.stdout else path
    except OSError:
        first = path
    lines = [f"- Compiler: {first}"]
    build_type = cache.get("CMAKE_BUILD_TYPE")
    if build_type:
        flags = cache.get(f"CMAKE_CXX_FLAGS_{build_type.upper()}", "")
        extra = cache.get("CMAKE_CXX_FLAGS", "")
        lines.append(f"- Build: {build_type} ({' '.join(part for part in (extra, flags) if part)})")
    return lines


def table(results: list[Result]) -> tuple[list[str], int]:
    by_scenario: dict[str, list[Result]] = {}
    for result in results:
        by_scenario.setdefault(result.scenario, []).append(result)

    rows = []
    columns: list[str] = []
    for result in results:
        if not result.engine:
            continue
        same = [base for base in by_scenario[result.scenario] if not base.engine]
        baselines = [base for base in same if base.args == result.args]
        matched = {base.impl for base in baselines}
        baselines += [base for base in same if base.args == "" and base.impl not in matched]
        metric = choose_metric(result, baselines)
        engine_value = figure(result, metric)
        ratios = {}
        for base in baselines:
            base_value = figure(base, metric)
            if engine_value is None or not base_value:
                continue
            ratios[base.impl] = engine_value / base_value
            if base.impl not in columns:
                columns.append(base.impl)
        rows.append((result, metric, engine_value, ratios))

    header = ["scenario", "args", "engine", "figure", "ratio"] + [f"÷ {column}" for column in columns] + ["counters"]
    lines = ["| " + " | ".join(header) + " |",
             "| " + " | ".join(["---"] * 3 + ["---:"] * (2 + len(columns)) + ["---"]) + " |"]
    for result, metric, engine_value, ratios in rows:
        if metric == "items/s":
            shown, direction = f"{format_number(engine_value)} items/s", "items/s ÷ items/s (↑ better)"
        else:
            unit = "ns" if metric == "ns" else metric
            shown = f"{format_number(engine_value)} {unit}" if engine_value is not None else "—"
            direction = "ns ÷ ns (↓ better)"
        if not ratios:
            direction = "—"
        cells = [f"{ratios[column]:.3f}" if column in ratios else "—" for column in columns]
        shown_counters = [f"{key}={format_number(value)}" for key, value in sorted(result.counters.items())
                          if key != metric]
        if result.bytes_per_second:
            shown_counters.insert(0, f"bytes/s={format_number(result.bytes_per_second)}")
        if result.items_per_second and metric != "items/s":
            shown_counters.insert(0, f"items/s={format_number(result.items_per_second)}")
        counters = ", ".join(shown_counters)
        lines.append("| " + " | ".join([result.scenario, result.args or "—", result.impl, shown, direction]
                                        + cells + [counters or "—"]) + " |")
    return lines, len(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--build-dir", default="build/bench")
    parser.add_argument("--out", default=None, help="Markdown file to write (default: <build-dir>/summary.md)")
    parser.add_argument("files", nargs="*")
    options = parser.parse_args()

    paths = options.files or sorted(glob.glob(os.path.join(options.build_dir, "*.json")))
    results, errors, contexts, repetitions = load(paths)

    lines = ["## jobq benchmarks", ""]
    lines += machine() + compiler(options.build_dir)
    if contexts:
        build_types = {context.get("library_build_type", "?") for context in contexts}
        lines.append(f"- Google Benchmark library: {', '.join(sorted(build_types))} build; "
                     f"host {contexts[0].get('host_name', '?')}, {contexts[0].get('date', '?')}")
    lines.append(f"- Files: {', '.join(os.path.basename(path) for path in paths) or 'none'}")
    counts = "/".join(str(count) for count in sorted(repetitions)) or "0"
    lines += ["", f"Medians of {counts} repetition(s). Ratios are engine ÷ baseline in the direction the ratio column "
              "gives: items/s above 1 or ns below 1 means jobq is faster.", ""]
    rows, count = table(results)
    lines += rows
    if errors:
        lines += ["", "Errors:", ""] + [f"- {error}" for error in errors]

    text = "\n".join(lines) + "\n"
    print(text, end="")
    out = options.out or os.path.join(options.build_dir, "summary.md")
    try:
        os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
        with open(out, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as problem:
        print(f"cannot write {out}: {problem}", file=sys.stderr)
        return 1
    if errors:
        print(f"{len(errors)} benchmark error(s)", file=sys.stderr)
        return 1
    if count == 0:
        print("no engine benchmarks found", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

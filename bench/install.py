"""Where the install's time goes: one run of an install script, timed phase by phase.

Runs ``SCRIPT`` (default ``scripts/install.sh``) with a fresh venv and an empty wheel cache
under a temporary directory (``PONDER_VENV``, ``PONDER_WHEEL_CACHE``), so llama-cpp-python is
compiled from source, and stamps every line it prints and every line of its build log
(``PONDER_BUILD_LOG``) with the wall time and the CPU time (user + system) of the whole
process tree so far, sampled from ``/proc`` twice a second. The phases are cut at the lines
pip and scikit-build-core print (``--pip-verbose`` makes pip print them when the script runs
pip quietly, as the script before issue 16 did):

* venv and pip: the script's start until pip starts on llama-cpp-python,
* sdist and build env: pip fetches the sdist and installs scikit-build-core, CMake, Ninja,
* CMake configure, compile (Ninja), wheel (install into the wheel, zip it),
* the rest: install the wheel, Ponder and its dependencies, the platform check.

Writes the stamped lines to ``bench/results/install-LABEL.jsonl`` and prints a Markdown table;
``--from-trace FILE`` prints the table again from a saved trace. Linux only (``/proc``).

    python bench/install.py --label after
    git show d589abf:scripts/install.sh > scripts/install_before.sh   # the script before issue 16
    python bench/install.py --label before --script scripts/install_before.sh --pip-verbose
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
TICK = os.sysconf("SC_CLK_TCK")

# (phase name, regex of the line that ends it); the last phase ends when the script exits.
PHASES = [
    ("venv and pip", re.compile(r"llama-cpp-python")),
    ("sdist and build env", re.compile(r"\*\*\* Configuring CMake")),
    ("CMake configure", re.compile(r"\*\*\* Building project")),
    ("compile", re.compile(r"\*\*\* Installing project")),
    ("wheel", re.compile(r"\*\*\* Created |Successfully built llama|Saved .*llama_cpp_python")),
]
STEP = re.compile(r"\[(\d+)/(\d+)\]")


def tree_cpu(root: int) -> float:
    """CPU seconds (user + system) used so far by ``root`` and every process below it.

    A process's own times plus those of its children it has reaped: summed over the live tree,
    every process that ever ran in it is counted once.
    """
    parents: dict[int, int] = {}
    times: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as f:
                rest = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(rest[1])
        times[int(entry)] = sum(int(x) for x in rest[11:15])
    tree = {root}
    grew = True
    while grew:
        below = {pid for pid, ppid in parents.items() if ppid in tree} - tree
        grew = bool(below)
        tree |= below
    return sum(times.get(pid, 0) for pid in tree) / TICK


@dataclass
class Clock:
    """Wall and CPU time since the script started, the CPU part sampled in the background."""

    start: float
    cpu: float = 0.0

    def now(self) -> tuple[float, float]:
        return round(time.monotonic() - self.start, 2), round(self.cpu, 2)


def sample(clock: Clock, pid: int, done: threading.Event) -> None:
    while not done.wait(0.5):
        clock.cpu = max(clock.cpu, tree_cpu(pid))


def follow(path: Path, source: str, clock: Clock, out: list[dict], done: threading.Event) -> None:
    """Stamp each new line of ``path`` (a file the script appends to) until ``done``."""
    offset, partial = 0, ""
    while True:
        finished = done.is_set()
        if path.exists():
            with open(path, encoding="utf-8", errors="replace") as f:
                f.seek(offset)
                chunk = f.read()
                offset = f.tell()
            lines = (partial + chunk).split("\n")
            partial = lines.pop()
            for text in lines:
                wall, cpu = clock.now()
                out.append({"t": wall, "cpu": cpu, "src": source, "line": text.rstrip("\r")})
        if finished:
            return
        time.sleep(0.2)


def run(script: Path, label: str, pip_verbose: bool, keep: Path) -> list[dict]:
    """Run the script once in a fresh venv and wheel cache under ``keep``; the stamped lines."""
    env = dict(os.environ, PONDER_VENV=str(keep / "venv"), PONDER_WHEEL_CACHE=str(keep / "wheels"))
    env["PONDER_BUILD_LOG"] = str(keep / "build.log")
    if pip_verbose:
        env["PIP_VERBOSE"] = "1"
    stdout = keep / "stdout.log"
    lines: list[dict] = []
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(stdout, "w", encoding="utf-8") as sink:
        proc = subprocess.Popen(
            ["bash", str(script)], cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT
        )
        clock, done = Clock(time.monotonic()), threading.Event()
        workers = [
            threading.Thread(target=sample, args=(clock, proc.pid, done)),
            threading.Thread(target=follow, args=(stdout, "out", clock, lines, done)),
            threading.Thread(target=follow, args=(keep / "build.log", "log", clock, lines, done)),
        ]
        for worker in workers:
            worker.start()
        code = proc.wait()
        wall = time.monotonic() - clock.start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        done.set()
        for worker in workers:
            worker.join()
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    lines.append({"t": round(wall, 2), "cpu": round(cpu, 2), "src": "end", "line": f"exit {code}"})
    RESULTS.mkdir(exist_ok=True)
    trace = RESULTS / f"install-{label}.jsonl"
    trace.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    print(f"trace: {trace}; exit {code}", file=sys.stderr)
    return lines


def phases(lines: list[dict]) -> list[tuple[str, float, float]]:
    """(phase, wall seconds, CPU seconds) for each phase, cut at its end marker's first line."""
    rows, start_t, start_cpu, index = [], 0.0, 0.0, 0
    for entry in lines:
        if index < len(PHASES) and PHASES[index][1].search(entry["line"]):
            rows.append((PHASES[index][0], entry["t"] - start_t, entry["cpu"] - start_cpu))
            start_t, start_cpu, index = entry["t"], entry["cpu"], index + 1
    end = lines[-1]
    rows.append(
        ("the rest (wheel, Ponder, dependencies)", end["t"] - start_t, end["cpu"] - start_cpu)
    )
    return rows


def steps(lines: list[dict]) -> int:
    """How many build steps Ninja ran (its ``[N/M]`` counter's M)."""
    totals = [int(m.group(2)) for x in lines for m in [STEP.search(x["line"])] if m]
    return max(totals, default=0)


def minutes(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"


def table(label: str, lines: list[dict]) -> str:
    rows = phases(lines)
    total_t, total_cpu = lines[-1]["t"], lines[-1]["cpu"]
    out = [
        f"**{label}**: {steps(lines)} build steps, {lines[-1]['line']}",
        "",
        "| phase | wall | CPU (user+sys) |",
        "|---|---|---|",
    ]
    out += [f"| {name} | {minutes(t)} | {minutes(c)} |" for name, t, c in rows]
    out.append(f"| **total** | **{minutes(total_t)}** | **{minutes(total_cpu)}** |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default="after")
    parser.add_argument("--script", type=Path, default=ROOT / "scripts" / "install.sh")
    parser.add_argument("--pip-verbose", action="store_true")
    parser.add_argument("--from-trace", type=Path)
    args = parser.parse_args()
    if args.from_trace:
        lines = [json.loads(x) for x in args.from_trace.read_text(encoding="utf-8").splitlines()]
    else:
        keep = Path(tempfile.mkdtemp(prefix=f"ponder-install-{args.label}-"))
        print(f"load average before: {os.getloadavg()[0]:.2f}; files in {keep}", file=sys.stderr)
        lines = run(args.script.resolve(), args.label, args.pip_verbose, keep)
        print(f"load average after: {os.getloadavg()[0]:.2f}", file=sys.stderr)
    print(table(args.label, lines))


if __name__ == "__main__":
    main()

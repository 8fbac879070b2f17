"""Benchmark: plain sequential `nbgrader autograde` vs our `grade` command, same class, same run.

    python bench/run.py [--students 30] [--workers N] [--cell-timeout 30] [--check-limit 10]

Builds a synthetic class of every assignment (a realistic mix of correct, partly wrong,
erroring and timing-out submissions: `autograder.samples.mixed_class`), copies the course twice, grades one copy
with `nbgrader autograde ASSIGNMENT` (one notebook after another, as nbgrader does) and the other
with `python -m autograder grade`, checks that the two gradebooks agree cell by cell, and prints
wall times, their ratio, notebooks per second, per-notebook overhead against time in the
notebooks' own cells and checks, and peak memory (in use on the machine, above its idle level).
Both copies use the same nbgrader_config.py, with the limits given on the command line.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder import samples  # noqa: E402
from autograder.curriculum import CURRICULUM  # noqa: E402
from autograder.release import assignments, nbgrader_env  # noqa: E402

def copy_course(dest, limits):
    for name in ("source", "release"):
        shutil.copytree(ROOT / name, dest / name)
    shutil.copy(ROOT / "nbgrader_config.py", dest / "nbgrader_config.py")
    with open(dest / "nbgrader_config.py", "a") as f:
        f.write(limits)


def submit(course, students):
    for assignment in assignments(ROOT):
        release = nbformat.read(str(course / "release" / assignment / f"{assignment}.ipynb"), 4)
        for student, (_, code) in students.items():
            folder = course / "submitted" / student / assignment
            folder.mkdir(parents=True)
            nbformat.write(samples.notebook(release, code), str(folder / f"{assignment}.ipynb"))


class PeakMemory:
    """Peak memory in use on the machine (MemTotal - MemAvailable) above its level at the start,
    sampled: forked children's shared pages count once, and reading it costs nothing (a
    per-process PSS read walks page tables, and at this rate would slow the run it measures)."""

    def __init__(self):
        self.peak, self._stop = 0, threading.Event()

    def __enter__(self):
        self._idle = in_use()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.1):
            self.peak = max(self.peak, in_use() - self._idle)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def in_use():
    memory = psutil.virtual_memory()
    return memory.total - memory.available


def run(cmd, cwd):
    env = nbgrader_env()
    env.pop("MPLBACKEND", None)  # `make` sets Agg for the tests; grading kernels draw inline figures
    start = time.monotonic()
    with PeakMemory() as memory:
        proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        print(proc.stdout[-3000:], proc.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"{cmd} failed")
    return time.monotonic() - start, memory.peak


def gradebook(course, assignment, students):
    from nbgrader.api import Gradebook
    dump = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student in students:
            nb = gb.find_submission_notebook(assignment, assignment, student)
            dump[student] = sorted((g.name, g.score) for g in nb.grades)
    return dump


def cell_seconds(course, assignment, students):
    """Time spent inside the notebooks' own cells, from nbclient's timing metadata."""
    from datetime import datetime
    total = 0.0
    for student in students:
        path = course / "autograded" / student / assignment / f"{assignment}.ipynb"
        for cell in nbformat.read(str(path), 4).cells:
            timing = cell.get("metadata", {}).get("execution", {})
            if "iopub.execute_input" in timing and "shell.execute_reply" in timing:
                start, end = (datetime.fromisoformat(timing[k].replace("Z", "+00:00"))
                              for k in ("iopub.execute_input", "shell.execute_reply"))
                total += (end - start).total_seconds()
    return total


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--cell-timeout", type=int, default=30)
    parser.add_argument("--check-limit", type=int, default=10)
    parser.add_argument("--keep", help="keep the two graded courses in this folder")
    args = parser.parse_args()

    students = samples.mixed_class(args.students)
    limits = (f"\nc.SafeExecute.timeout = {args.cell_timeout}\n"
              f"c.VerifyExercises.time_limit = {args.check_limit}\n")
    if args.keep and Path(args.keep).exists() and any(Path(args.keep).iterdir()):
        raise SystemExit(f"--keep {args.keep}: give a new or empty folder")
    base = Path(args.keep or tempfile.mkdtemp(prefix="grading-bench-"))
    plain, ours = base / "plain", base / "ours"
    for course in (plain, ours):
        copy_course(course, limits)
        submit(course, students)
    names = assignments(ROOT)
    count = len(students) * len(names)
    kinds = {}
    for kind, _ in students.values():
        kinds[kind] = kinds.get(kind, 0) + 1
    print(f"class: {len(students)} students x {len(names)} assignment(s) = {count} notebooks "
          f"({', '.join(f'{v} {k}' for k, v in sorted(kinds.items()))})")
    print(f"machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB; "
          f"limits: {args.cell_timeout} s per cell, {args.check_limit} s per exercise check")

    nbgrader = [sys.executable, "-m", "nbgrader"]
    results = {}
    for assignment in names:
        for course in (plain, ours):
            run(nbgrader + ["generate_assignment", assignment, "--force"], course)
        plain_s, plain_mem = run(nbgrader + ["autograde", assignment, "--force"], plain)
        grade = [sys.executable, "-m", "autograder", "grade", assignment, "--no-progress"]
        if args.workers:
            grade += ["--workers", str(args.workers)]
        ours_s, ours_mem = run(grade, ours)
        same = gradebook(plain, assignment, students) == gradebook(ours, assignment, students)
        log = json.loads((ours / "reports" / assignment / "grading_log.json").read_text())
        phases = json.loads((ours / "reports" / assignment / "grading_stats.json").read_text())
        results[assignment] = dict(plain_s=plain_s, ours_s=ours_s, same=same, log=log, phases=phases,
                                   plain_mem=plain_mem, ours_mem=ours_mem,
                                   plain_cells=cell_seconds(plain, assignment, students))

    plain_s = sum(r["plain_s"] for r in results.values())
    ours_s = sum(r["ours_s"] for r in results.values())
    inside = sum(o["timings"].get("execute", 0) for r in results.values() for o in r["log"].values())
    plain_cells = sum(r["plain_cells"] for r in results.values())
    print()
    print(f"{'':34}{'plain nbgrader':>16}{'our grade':>12}")
    print(f"{'wall time (s)':34}{plain_s:16.1f}{ours_s:12.1f}")
    print(f"{'notebooks per second':34}{count / plain_s:16.2f}{count / ours_s:12.2f}")
    print(f"{'wall time per notebook (s)':34}{plain_s / count:16.2f}{ours_s / count:12.2f}")
    print(f"{'in the notebook itself (s/nb)':34}{plain_cells / count:16.2f}{inside / count:12.2f}")
    print(f"{'peak memory (GiB)':34}{max(r['plain_mem'] for r in results.values()) / 2**30:16.2f}"
          f"{max(r['ours_mem'] for r in results.values()) / 2**30:12.2f}")
    overhead = ours_overhead(results, count)
    print(f"{'overhead per notebook (s)':34}{(plain_s - plain_cells) / count:16.2f}{sum(overhead.values()):12.2f}")
    print("  ours: " + ", ".join(f"{k} {v:.3f}" for k, v in overhead.items()))
    print(f"\nratio (plain / ours): {plain_s / ours_s:.1f}x")
    print("gradebooks identical:", all(r["same"] for r in results.values()))
    if not all(r["same"] for r in results.values()):
        raise SystemExit(1)


def ours_overhead(results, count):
    """Per notebook, the seconds our command spends on anything but the notebooks' own cells and
    checks, by part: preparing requests and staging results (the command's CPU time), the fork
    server's own CPU time after start-up (scheduling, forking, passing outputs), recording in
    the gradebook (CPU time of the recording thread) and the server's start-up."""
    parts = {"prepare+stage": 0.0, "server": 0.0, "record": 0.0, "server start": 0.0}
    for r in results.values():
        phases = r["phases"]
        parts["prepare+stage"] += sum(o.get("timings", {}).get("client_cpu", 0) for o in r["log"].values())
        parts["server"] += phases.get("server_cpu", 0)
        parts["record"] += phases.get("record", 0)
        parts["server start"] += phases.get("server_start", 0)
    return {k: v / count for k, v in parts.items()}


if __name__ == "__main__":
    main()

"""Benchmark: time to grades, plain nbgrader (typical config, and this course's) vs our grade
command, over the whole course; then the feedback run; then how grade scales with the class.

    python bench/run.py [--students 30] [--assignment A ...] [--scaling 30,100,300]
                        [--workers N] [--cell-timeout 30] [--check-limit 10] [--keep DIR]
                        [--grade-only | --typical-only]

Builds a synthetic class of every assignment (a realistic mix of correct, partly wrong,
erroring and timing-out submissions: `autograder.instructor.samples.mixed_class`), each
notebook handed in with the outputs of a run (demos, plots, the unsolved tests' errors), as a
student submits it; copies the course three times and grades each copy one way:

- `typical`: plain sequential `nbgrader autograde` with a typical course's configuration
  (nbgrader's own preprocessors: an unsandboxed kernel, no verification step);
- `course`: plain sequential `nbgrader autograde` with this course's `nbgrader_config.py`
  (sandboxed kernel, the judge started once for the run);
- `grade`: `python -m autograder grade` (every score from the judge's verdicts, no notebook run).

The clock stops when every grade is in the gradebook. Then the feedback run (`rerun`, what
`feedback --run` adds) is timed on its own. It checks that `course` and `grade` give identical
gradebooks, and prints wall times and ratios, per-notebook overhead, the judge's CPU per
exercise, peak memory (in use on the machine, above its idle level), and a scaling table: the
grade command on one assignment with classes of each size in --scaling. `--grade-only` times
the grade command alone (its time and overhead per notebook, and the scaling table): minutes
where the whole comparison takes hours. `--typical-only` times plain nbgrader with the typical
configuration and the grade command alone (no course-config run, no feedback run, so no
gradebook comparison): the ratio the 10x target is about, in about half the time.
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

from autograder.instructor import samples  # noqa: E402
from autograder.instructor.nbgrader_api import db_url  # noqa: E402
from autograder.instructor.release import assignments, nbgrader_env  # noqa: E402

TYPICAL = """
# A typical course: nbgrader's own autograde preprocessors (no sandbox, no verification step)
c.Autograde.autograde_preprocessors = [
    "nbgrader.preprocessors.Execute", "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor", "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades", "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.Execute.timeout = {cell_timeout}
"""


def copy_course(dest, limits):
    for name in ("source", "release"):
        shutil.copytree(ROOT / name, dest / name)
    shutil.copy(ROOT / "nbgrader_config.py", dest / "nbgrader_config.py")
    with open(dest / "nbgrader_config.py", "a") as f:
        f.write(limits)


def handed_in_outputs(assignment):
    """{cell id: (outputs, execution_count)} of the release notebook run once, top to bottom, as
    a student runs it before handing it in (the unsolved tests' errors included)."""
    from nbclient import NotebookClient
    folder = ROOT / "release" / assignment
    nb = nbformat.read(str(folder / f"{assignment}.ipynb"), 4)
    with tempfile.TemporaryDirectory() as work:
        NotebookClient(nb, timeout=300, allow_errors=True, kernel_name="python3",
                       resources={"metadata": {"path": work}}).execute()
    return {c.id: (c.outputs, c.execution_count) for c in nb.cells if c.cell_type == "code"}


def submit(course, classes, outputs):
    for assignment, students in classes.items():
        release = nbformat.read(str(course / "release" / assignment / f"{assignment}.ipynb"), 4)
        for student, (_, code) in students.items():
            folder = course / "submitted" / student / assignment
            folder.mkdir(parents=True)
            nb = samples.notebook(release, code)
            for cell in nb.cells:
                if cell.cell_type == "code" and cell.id in outputs[assignment]:
                    cell.outputs, cell.execution_count = outputs[assignment][cell.id]
            nbformat.write(nb, str(folder / f"{assignment}.ipynb"))


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
    with Gradebook(db_url(course)) as gb:
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


GRADE = [sys.executable, "-m", "autograder", "grade"]
FEEDBACK_RUN = [sys.executable, "-c", "import sys; from autograder.instructor.rerun import run_feedback; "
                "sys.exit(any(o.status != 'run' for o in run_feedback(sys.argv[1], sys.argv[2], "
                "workers=int(sys.argv[3]) or None, progress=False).values()))"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--assignment", action="append", help="only this assignment (repeatable; default: all)")
    parser.add_argument("--scaling", default="30,100,300",
                        help="class sizes for the scaling table of grade on one assignment ('' for none)")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--cell-timeout", type=int, default=30)
    parser.add_argument("--check-limit", type=int, default=10)
    parser.add_argument("--keep", help="keep the graded courses in this folder")
    parser.add_argument("--grade-only", action="store_true",
                        help="time our grade command alone (its overhead per notebook): no plain nbgrader, no feedback run")
    parser.add_argument("--typical-only", action="store_true",
                        help="plain nbgrader (typical config) against our grade command only: no course-config run, "
                             "no feedback run, no gradebook comparison")
    args = parser.parse_args()

    names = args.assignment or assignments(ROOT)
    classes = {a: samples.mixed_class(args.students, a) for a in names}
    limits = (f"\nc.SafeExecute.timeout = {args.cell_timeout}\n"
              f"c.VerifyExercises.time_limit = {args.check_limit}\n")
    if args.keep and Path(args.keep).exists() and any(Path(args.keep).iterdir()):
        raise SystemExit(f"--keep {args.keep}: give a new or empty folder")
    base = Path(args.keep or tempfile.mkdtemp(prefix="grading-bench-"))
    outputs = {a: handed_in_outputs(a) for a in names}
    courses = {"typical": base / "typical", "course": base / "course", "grade": base / "grade"}
    if args.grade_only:
        courses = {"grade": courses["grade"]}
    elif args.typical_only:
        courses = {"typical": courses["typical"], "grade": courses["grade"]}
    for name, course in courses.items():
        copy_course(course, limits + (TYPICAL.format(cell_timeout=args.cell_timeout) if name == "typical" else ""))
        submit(course, classes, outputs)
    count = sum(len(c) for c in classes.values())
    kinds = {}
    for students in classes.values():
        for kind, _ in students.values():
            kinds[kind] = kinds.get(kind, 0) + 1
    size = sum(p.stat().st_size for p in (courses["grade"] / "submitted").glob("*/*/*.ipynb")) / count
    print(f"class: {args.students} students x {len(names)} assignment(s) = {count} notebooks "
          f"({', '.join(f'{v} {k}' for k, v in sorted(kinds.items()))}), handed in with their outputs "
          f"({size / 1e3:.0f} kB each)")
    print(f"machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.0f} GiB; "
          f"limits: {args.cell_timeout} s per cell, {args.check_limit} s per exercise check")

    nbgrader = [sys.executable, "-m", "nbgrader"]
    workers = ["--workers", str(args.workers)] if args.workers else []
    results = {}
    for assignment in names:
        students = classes[assignment]
        for course in courses.values():
            run(nbgrader + ["generate_assignment", assignment, "--force"], course)
        if args.grade_only:
            ours_s, ours_mem = run(GRADE + [assignment, "--no-progress"] + workers, courses["grade"])
            results[assignment] = grade_results(courses["grade"], assignment, ours_s, ours_mem)
            print(f"  {assignment}: grade {ours_s:.1f} s", flush=True)
            continue
        typical_s, typical_mem = run(nbgrader + ["autograde", assignment, "--force"], courses["typical"])
        if args.typical_only:
            ours_s, ours_mem = run(GRADE + [assignment, "--no-progress"] + workers, courses["grade"])
            results[assignment] = dict(grade_results(courses["grade"], assignment, ours_s, ours_mem),
                                       typical_s=typical_s, typical_mem=typical_mem,
                                       typical_cells=cell_seconds(courses["typical"], assignment, students))
            print(f"  {assignment}: typical {typical_s:.1f} s, grade {ours_s:.1f} s", flush=True)
            continue
        plain_s, plain_mem = run(nbgrader + ["autograde", assignment, "--force"], courses["course"])
        ours_s, ours_mem = run(GRADE + [assignment, "--no-progress"] + workers, courses["grade"])
        graded = gradebook(courses["grade"], assignment, students)
        same = gradebook(courses["course"], assignment, students) == graded
        feedback_s, feedback_mem = run(FEEDBACK_RUN + [str(courses["grade"]), assignment, str(args.workers or 0)],
                                       courses["grade"])
        unchanged = gradebook(courses["grade"], assignment, students) == graded
        results[assignment] = dict(
            grade_results(courses["grade"], assignment, ours_s, ours_mem),
            typical_s=typical_s, plain_s=plain_s, same=same,
            feedback_s=feedback_s, feedback_mem=feedback_mem, unchanged=unchanged,
            typical_mem=typical_mem, plain_mem=plain_mem,
            typical_cells=cell_seconds(courses["typical"], assignment, students),
            plain_cells=cell_seconds(courses["course"], assignment, students))
        print(f"  {assignment}: typical {typical_s:.1f} s, course {plain_s:.1f} s, grade {ours_s:.1f} s, "
              f"feedback run {feedback_s:.1f} s; identical: {same}", flush=True)

    if args.grade_only:
        ours = sum(r["ours_s"] for r in results.values())
        overhead = ours_overhead(results, count)
        print(f"\nour grade: {ours:.1f} s to every grade, {ours / count:.2f} s per notebook; overhead per notebook "
              f"{sum(overhead.values()):.3f} s (target: under 0.3 s): "
              + ", ".join(f"{k} {v:.3f}" for k, v in overhead.items()))
        print(f"peak memory above idle: {max(r['ours_mem'] for r in results.values()) / 2**30:.2f} GiB")
        scaling = [int(n) for n in args.scaling.split(",") if n.strip()]
        if scaling:
            scale(base / "scaling", names[0], scaling, limits, workers, outputs[names[0]])
        return
    if args.typical_only:
        typical_report(results, count)
        return
    total = {k: sum(r[f"{k}_s"] for r in results.values()) for k in ("typical", "plain", "ours", "feedback")}
    cells = {k: sum(r[f"{k}_cells"] for r in results.values()) for k in ("typical", "plain")}
    mem = {k: max(r[f"{k}_mem"] for r in results.values()) / 2**30 for k in ("typical", "plain", "ours", "feedback")}
    print()
    print(f"{'':36}{'nbgrader (typical)':>20}{'nbgrader (course)':>19}{'our grade':>11}")
    print(f"{'time to every grade (s)':36}{total['typical']:20.1f}{total['plain']:19.1f}{total['ours']:11.1f}")
    print(f"{'per notebook (s)':36}{total['typical'] / count:20.2f}{total['plain'] / count:19.2f}"
          f"{total['ours'] / count:11.2f}")
    print(f"{'notebooks per second':36}{count / total['typical']:20.2f}{count / total['plain']:19.2f}"
          f"{count / total['ours']:11.2f}")
    print(f"{'in the notebook cells (s/nb)':36}{cells['typical'] / count:20.2f}{cells['plain'] / count:19.2f}"
          f"{'not run':>11}")
    overhead = ours_overhead(results, count)
    print(f"{'overhead per notebook (s)':36}{(total['typical'] - cells['typical']) / count:20.2f}"
          f"{(total['plain'] - cells['plain']) / count:19.2f}{sum(overhead.values()):11.2f}")
    print(f"{'peak memory above idle (GiB)':36}{mem['typical']:20.2f}{mem['plain']:19.2f}{mem['ours']:11.2f}")
    print("  ours: " + ", ".join(f"{k} {v:.3f}" for k, v in overhead.items()))
    judged = sum(r["phases"].get("exercises_judged", 0) for r in results.values())
    judges = sum(r["phases"].get("judge_children_cpu", 0) for r in results.values())
    candidates = sum(r["phases"].get("candidate_children_cpu", 0) for r in results.values())
    if judged:
        print(f"  the checks: the judge {1000 * judges / judged:.1f} ms of CPU per exercise ({judged} "
              f"exercises), the candidates {candidates / count:.3f} s of CPU per notebook")
    print(f"\nfeedback run (optional, after every grade is in): {total['feedback']:.1f} s, "
          f"{total['feedback'] / count:.2f} s per notebook, peak memory {mem['feedback']:.2f} GiB; "
          f"no score changed: {all(r['unchanged'] for r in results.values())}")
    scaling = [int(n) for n in args.scaling.split(",") if n.strip()]
    if scaling:
        scale(base / "scaling", names[0], scaling, limits, workers, outputs[names[0]])
    print(f"\nspeed-up of our grade over plain nbgrader (typical config): {total['typical'] / total['ours']:.1f}x "
          "(target: at least 10x)")
    print(f"speed-up of our grade over plain nbgrader (course config): {total['plain'] / total['ours']:.1f}x")
    print(f"plain nbgrader, course config / typical config: {total['plain'] / total['typical']:.2f}x "
          "(target: at most 1.3x)")
    print("gradebooks identical (course config and our grade):", all(r["same"] for r in results.values()))
    if not all(r["same"] and r["unchanged"] for r in results.values()):
        raise SystemExit(1)


def typical_report(results, count):
    """What --typical-only prints: plain nbgrader (typical config) against our grade command."""
    typical, ours = (sum(r[f"{k}_s"] for r in results.values()) for k in ("typical", "ours"))
    cells = sum(r["typical_cells"] for r in results.values())
    overhead = ours_overhead(results, count)
    print(f"\n{'':36}{'nbgrader (typical)':>20}{'our grade':>11}")
    print(f"{'time to every grade (s)':36}{typical:20.1f}{ours:11.1f}")
    print(f"{'per notebook (s)':36}{typical / count:20.2f}{ours / count:11.2f}")
    print(f"{'in the notebook cells (s/nb)':36}{cells / count:20.2f}{'not run':>11}")
    print(f"{'overhead per notebook (s)':36}{(typical - cells) / count:20.2f}{sum(overhead.values()):11.3f}")
    print(f"{'peak memory above idle (GiB)':36}"
          f"{max(r['typical_mem'] for r in results.values()) / 2**30:20.2f}"
          f"{max(r['ours_mem'] for r in results.values()) / 2**30:11.2f}")
    print("  ours: " + ", ".join(f"{k} {v:.3f}" for k, v in overhead.items()))
    print(f"\nspeed-up of our grade over plain nbgrader (typical config): {typical / ours:.1f}x (target: at least 10x)")
    print("gradebooks: not compared (no course-config run; the typical config's scores come from its own run)")


def grade_results(course, assignment, seconds, memory):
    """What the grade command left in its reports (its log and phase timings), and its time."""
    reports = course / "reports" / assignment
    return dict(ours_s=seconds, ours_mem=memory, log=json.loads((reports / "grading_log.json").read_text()),
                phases=json.loads((reports / "grading_stats.json").read_text()))


def scale(base, assignment, sizes, limits, workers, outputs):
    """The grade command on `assignment` with a class of each size: seconds per notebook."""
    print(f"\nscaling: our grade on {assignment}")
    print(f"{'students':>10}{'time to every grade (s)':>26}{'per notebook (s)':>18}{'peak memory (GiB)':>19}")
    for n in sizes:
        course = base / str(n)
        copy_course(course, limits)
        submit(course, {assignment: samples.mixed_class(n, assignment)}, {assignment: outputs})
        run([sys.executable, "-m", "nbgrader", "generate_assignment", assignment, "--force"], course)
        seconds, memory = run(GRADE + [assignment, "--no-progress"] + workers, course)
        print(f"{n:>10}{seconds:>26.1f}{seconds / n:>18.2f}{memory / 2**30:>19.2f}", flush=True)


def ours_overhead(results, count):
    """Per notebook, the seconds our command spends on anything but the exercises' checks (it
    runs no notebook), by part: preparing requests and staging results (the command's CPU time), the two
    servers' own CPU time after start-up (scheduling, forking, passing frames), recording in the
    gradebook (CPU time of the recording thread) and the servers' start-up."""
    parts = {"prepare+stage": 0.0, "servers": 0.0, "record": 0.0, "server start": 0.0}
    for r in results.values():
        phases = r["phases"]
        parts["prepare+stage"] += sum(o.get("timings", {}).get("client_cpu", 0) for o in r["log"].values())
        parts["servers"] += phases.get("judge_server_cpu", 0) + phases.get("candidate_server_cpu", 0)
        parts["record"] += phases.get("record", 0)
        parts["server start"] += phases.get("server_start", 0)
    return {k: v / count for k, v in parts.items()}


if __name__ == "__main__":
    main()

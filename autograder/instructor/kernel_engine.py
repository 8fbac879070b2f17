"""Phase 1 of the grade command with the `kernel` engine: nbgrader's own autograde per student.

Each submission is autograded by nbgrader itself (`NbGraderAPI.autograde`, with the course's
preprocessors: a sandboxed Jupyter kernel, the judge's verdicts) in a private scratch copy of the
course (its gradebook the snapshot of the assignment's structure, a SQLite file, even when the
course's own is on a server), in worker processes, under a watchdog for the per-notebook limit; the
notebooks it produces are staged for phase 2 (`Staging`), or the reason it failed is.
"""

import os
import shutil
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

from .nbgrader_api import load_config, make_api, preload


def phase1(root, scratch, staging, assignment, students, workers, notebook_timeout, done):
    """Autograde `students` in `workers` processes; `done(student, status, reason)` as each
    finishes. {student: (status, reason, seconds, timings)}, as the fork engine's `Phase1`."""
    results = {}
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"),
                             initializer=preload) as pool:
        futures = {pool.submit(execute_submission, root, scratch, staging, assignment, s,
                               notebook_timeout): s for s in students}
        for future in as_completed(futures):
            student = futures[future]
            try:
                results[student] = future.result()
            except Exception as exc:  # the worker process itself died
                results[student] = ("error", f"the grading worker died: {exc}", 0.0, {})
            done(student, *results[student][:2])
    return results


def execute_submission(root, scratch, staging, assignment, student, notebook_timeout):
    """Phase 1 for one student (runs in a worker process): (status, reason, seconds, {}).
    Never raises."""
    start = time.monotonic()
    root, scratch = Path(root), Path(scratch)
    work = scratch / "work" / student
    done, fired = threading.Event(), threading.Event()
    threading.Thread(target=_watchdog, args=(notebook_timeout, done, fired), daemon=True).start()
    try:
        work.mkdir(parents=True)
        shutil.copy(root / "nbgrader_config.py", work / "nbgrader_config.py")
        shutil.copytree(root / "source" / assignment, work / "source" / assignment)
        shutil.copytree(root / "submitted" / student / assignment,
                        work / "submitted" / student / assignment, symlinks=True,
                        ignore=lambda folder, names: [n for n in names if os.path.islink(os.path.join(folder, n))])
        shutil.copy(scratch / "base.db", work / "gradebook.db")
        config = load_config(work)
        config.CourseDirectory.db_url = f"sqlite:///{work / 'gradebook.db'}"
        result = make_api(work, config).autograde(assignment, student, force=True, create=True)
        produced = sorted((work / "autograded" / student / assignment).glob("*.ipynb"))
        for nb in produced:
            staging.copy(student, assignment, nb)
        status = "timeout" if fired.is_set() else ("graded" if result.get("success") and produced else "error")
        reason = ""
        if status == "timeout":
            reason = f"the notebook ran past the {notebook_timeout:g} s limit; unfinished cells score 0"
        elif status == "error":
            reason = _last_error(result)
    except Exception as exc:  # a broken submission must not stop the others
        status, reason = "error", f"{type(exc).__name__}: {exc}"
    finally:
        done.set()
        shutil.rmtree(work, ignore_errors=True)
    if status == "error":
        staging.fail(student, assignment, reason)
    return status, reason, round(time.monotonic() - start, 2), {}


def _children():
    me = str(os.getpid())
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[1] == me:
            pids.append(int(stat.parent.name))
    return pids


def _watchdog(seconds, done, fired):
    """At the deadline, kill what this worker started (the kernel, the check): the submission
    then finishes with what it had, and its unfinished cells score 0."""
    if not done.wait(seconds):
        fired.set()
        for pid in _children():
            try:
                os.kill(pid, 9)
            except OSError:
                pass


def _last_error(result):
    text = (result.get("error") or result.get("log") or "").strip().splitlines()
    useful = [line for line in text if line.strip()]
    return " | ".join(useful[-3:])[-500:] if useful else "nbgrader could not grade this submission"

"""The grade command: parallel, sandboxed, fault-tolerant autograding with one gradebook writer.

Phase 1, in parallel, produces every submission's executed and verified notebook, with one of
two engines:

- `fork` (default, `engine.py`): the judge server and the candidate server (`servers.Grader`),
  started once, decide every exercise and run every notebook in fresh forks, with no kernel
  start or `import torch` per notebook;
- `kernel`: each submission is autograded by nbgrader itself (`NbGraderAPI.autograde`, with this
  course's preprocessors: sandboxed kernel, the judge's verdicts) in a private scratch copy of
  the course and gradebook, in worker processes, under a watchdog for the per-notebook limit.

Phase 2, in one thread of this process (`Recorder`), overlapping phase 1: as soon as phase 1
is done with a student, nbgrader's autograde runs for them against the real gradebook, with
execution replaced by the outputs phase 1 produced (`ReplayExecution`). So every gradebook write
goes through one writer, one student at a time: no 'database is locked', no lost grade, and the
same grades from one worker or many, in whatever order phase 1 finishes.
"""

import json
import os
import queue
import shutil
import sqlite3
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path

from tqdm import tqdm


EXECUTING = {"autograder.instructor.preprocessors.SafeExecute", "nbgrader.preprocessors.Execute"}
VERIFYING = {"autograder.instructor.preprocessors.VerifyExercises"}


def replay_preprocessors(config):
    """The course's own autograde pipeline with its execution and verification replaced by
    ReplayExecution (phase 1 already did both): every other step runs as configured, except
    CheckCellMetadata, which phase 1's sanitizing already ran on this very notebook (replaying
    changes no nbgrader metadata)."""
    from nbgrader.converters import Autograde
    configured = ("Autograde" in config and "autograde_preprocessors" in config.Autograde)
    pipeline = (config.Autograde.autograde_preprocessors if configured
                else Autograde.autograde_preprocessors.default())
    steps = []
    for step in pipeline:
        name = step if isinstance(step, str) else f"{step.__module__}.{step.__name__}"
        if name in EXECUTING or name.endswith(".execute.Execute"):
            steps.append("autograder.instructor.preprocessors.ReplayExecution")
        elif name not in VERIFYING and not name.endswith("CheckCellMetadata"):
            steps.append(step)
    return steps


def sanitize_steps(config):
    """The course's nbgrader sanitize preprocessors, as import strings."""
    from nbgrader.converters import Autograde
    configured = "Autograde" in config and "sanitize_preprocessors" in config.Autograde
    steps = (config.Autograde.sanitize_preprocessors if configured
             else Autograde.sanitize_preprocessors.default())
    return [s if isinstance(s, str) else f"{s.__module__}.{s.__name__}" for s in steps]


@dataclass
class Outcome:
    student: str
    status: str  # graded, error, timeout
    reason: str = ""
    seconds: float = 0.0
    timings: dict = field(default_factory=dict)  # fork engine: seconds executing and verifying


def load_config(root):
    from traitlets.config.loader import PyFileConfigLoader
    return PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()


def make_api(root, config=None):
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    config = config if config is not None else load_config(root)
    config.CourseDirectory.root = str(root)
    return NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)


def db_path(root):
    return Path(root) / "gradebook.db"


def ensure_assignment(root, assignment):
    """Put the assignment in the gradebook if it is missing (without touching release/)."""
    from nbgrader.api import Gradebook, MissingEntry
    with Gradebook(f"sqlite:///{db_path(root)}") as gb:
        try:
            gb.find_assignment(assignment)
            return
        except MissingEntry:
            pass
    config = load_config(root)
    config.CourseDirectory.release_directory = ".autograder-release"
    try:
        result = make_api(root, config).generate_assignment(assignment, force=True, create=True)
    finally:
        shutil.rmtree(Path(root) / ".autograder-release", ignore_errors=True)
    if not result.get("success"):
        raise RuntimeError(f"could not add {assignment} to the gradebook:\n{result.get('error', '')}")


def submitted_students(root, assignment):
    base = Path(root) / "submitted"
    return sorted(p.parent.name for p in base.glob(f"*/{assignment}") if p.is_dir())


def snapshot_gradebook(root, dest):
    """A consistent copy of the gradebook for the workers to write into (never the real one)."""
    with sqlite3.connect(db_path(root)) as src, sqlite3.connect(dest) as out:
        src.backup(out)


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


def _warm():
    import nbgrader.apps  # noqa: F401  (5 s once per worker, not once per submission)


def execute_submission(root, scratch, assignment, student, notebook_timeout):
    """Phase 1 for one student (runs in a worker process). Never raises."""
    start = time.monotonic()
    root, scratch = Path(root), Path(scratch)
    work = scratch / "work" / student
    staged = scratch / "staging" / student / assignment
    staged.mkdir(parents=True, exist_ok=True)
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
        result = make_api(work).autograde(assignment, student, force=True, create=True)
        produced = sorted((work / "autograded" / student / assignment).glob("*.ipynb"))
        for nb in produced:
            shutil.copy(nb, staged / nb.name)
        status = "timeout" if fired.is_set() else ("graded" if result.get("success") and produced else "error")
        reason = ""
        if status == "timeout":
            reason = f"the notebook ran past the {notebook_timeout} s limit; unfinished cells score 0"
        elif status == "error":
            reason = _last_error(result)
    except Exception as exc:  # a broken submission must not stop the others
        status, reason = "error", f"{type(exc).__name__}: {exc}"
    finally:
        done.set()
        shutil.rmtree(work, ignore_errors=True)
    if status == "error":
        (staged / "_failed.json").write_text(json.dumps({"reason": reason}))
    return Outcome(student, status, reason, round(time.monotonic() - start, 2))


def _last_error(result):
    text = (result.get("error") or result.get("log") or "").strip().splitlines()
    useful = [line for line in text if line.strip()]
    return " | ".join(useful[-3:])[-500:] if useful else "nbgrader could not grade this submission"


ENGINES = ("fork", "kernel")


def grade(root, assignment, students=None, workers=None, notebook_timeout=900, progress=True,
          engine="fork", stats=None):
    """Grade `students` (default: every submission) of `assignment`; returns {student: Outcome}.

    `stats`, if given, is filled with the seconds spent in each phase."""
    stats = {} if stats is None else stats
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}")
    root = Path(root).resolve()
    scratch = Path(tempfile.mkdtemp(prefix="autograder-grade-"))
    outcomes, grader, recorder = {}, None, None
    try:
        if engine == "fork":  # the servers start (imports, warm-up) while we load nbgrader
            from .engine import settings_from
            from .grader import Grader
            settings = settings_from(load_config(root), notebook_timeout, workers)
            grader = Grader(scratch / "servers", settings)
        ensure_assignment(root, assignment)
        students = sorted(students or submitted_students(root, assignment))
        snapshot_gradebook(root, scratch / "base.db")
        bar = tqdm(total=len(students), desc=f"grading {assignment}", unit="notebook",
                   disable=not progress)
        started = time.monotonic()
        staging = scratch / "staging"
        recorder = Recorder(root, assignment, staging)

        def done(student, status, reason):
            """Phase 1 is finished with this student: record them now (phase 2 overlaps)."""
            if status != "graded":
                _note_failure(staging, assignment, student, reason)
            recorder.submit(student)
            bar.update(1)

        if engine == "fork":
            from .engine import Phase1
            results = Phase1(root, scratch, assignment, students, done, stats, settings, grader).run()
            grader = None  # Phase1 closed it
            outcomes = {s: Outcome(s, status, reason, round(seconds, 2), timings)
                        for s, (status, reason, seconds, timings) in results.items()}
        else:
            workers = workers or max(1, min(len(students), os.cpu_count() or 1))
            outcomes = _kernel_phase1(root, scratch, assignment, students, workers,
                                      notebook_timeout, done)
        bar.close()
        stats["phase1"] = round(time.monotonic() - started, 3)
        started = time.monotonic()
        for student in students:  # any that phase 1 lost track of: recorded as errors
            if student not in recorder.submitted:
                outcome = outcomes.setdefault(student, Outcome(student, "error", "the worker produced no result"))
                done(student, outcome.status, outcome.reason)
        recorder.finish(outcomes)
        stats["record"] = recorder.cpu_seconds  # its work, most of it while phase 1 ran
        stats["record_after_phase1"] = round(time.monotonic() - started, 3)
    finally:
        if recorder:
            recorder.stop()  # after an error or Ctrl-C: submissions not yet recorded stay as they were
        if grader:
            grader.close()
        shutil.rmtree(scratch, ignore_errors=True)
    return dict(sorted(outcomes.items()))


def _kernel_phase1(root, scratch, assignment, students, workers, notebook_timeout, done):
    """Phase 1 with the kernel engine: nbgrader autograde per student in worker processes."""
    outcomes = {}
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"),
                             initializer=_warm) as pool:
        futures = {pool.submit(execute_submission, root, scratch, assignment, s,
                               notebook_timeout): s for s in students}
        for future in as_completed(futures):
            student = futures[future]
            try:
                outcomes[student] = future.result()
            except Exception as exc:  # the worker process itself died
                outcomes[student] = Outcome(student, "error", f"the grading worker died: {exc}")
            done(student, outcomes[student].status, outcomes[student].reason)
    return outcomes


def _note_failure(staging, assignment, student, reason):
    """Tell ReplayExecution why a submission's notebooks (those not staged) were not graded."""
    from .engine import write_atomically
    staged = staging / student / assignment
    staged.mkdir(parents=True, exist_ok=True)
    failed = staged / "_failed.json"
    if not failed.exists():
        write_atomically(failed, json.dumps({"reason": reason or "the worker produced no result"}))


class Recorder:
    """Phase 2, the single writer: a thread that records each submission in the gradebook as
    soon as phase 1 is done with it, with nbgrader's own autograde whose sanitizing and
    execution replay what phase 1 did (ReplaySanitize, ReplayExecution). One student at a
    time, one writer: no 'database is locked', no lost grade; and since each student's record
    depends on nothing but their own staged notebooks, the gradebook ends the same whatever
    order phase 1 finishes in."""

    def __init__(self, root, assignment, staging):
        config = load_config(root)
        config.ReplaySanitize.steps = sanitize_steps(config)
        config.Autograde.sanitize_preprocessors = ["autograder.instructor.preprocessors.ReplaySanitize"]
        config.Autograde.autograde_preprocessors = replay_preprocessors(config)
        config.ReplaySanitize.staging = config.ReplayExecution.staging = str(staging)
        self.api, self.assignment = make_api(root, config), assignment
        self.submitted, self.failed, self.error, self.cpu_seconds = set(), [], None, 0.0
        self._queue, self._stopping = queue.Queue(), False
        self._thread = threading.Thread(target=self._run, name="record", daemon=True)
        self._thread.start()

    def submit(self, student):
        self.submitted.add(student)
        self._queue.put(student)

    def _run(self):
        try:
            while (student := self._queue.get()) is not None and not self._stopping:
                result = self.api.autograde(self.assignment, student, force=True, create=True)
                if not result.get("success"):
                    self.failed.append(student)
        except BaseException as exc:  # reported by finish()
            self.error = exc
        finally:
            self.cpu_seconds = round(time.thread_time(), 3)

    def finish(self, outcomes):
        """Every submission is submitted: wait until all are recorded; mark those nbgrader
        could not record as errors in `outcomes`."""
        self._queue.put(None)
        self._thread.join()
        if self.error is not None:
            raise RuntimeError(f"recording the grades failed: {self.error!r}") from self.error
        for student in self.failed:
            previous = outcomes.get(student, Outcome(student, "graded"))
            reason = previous.reason or "nbgrader could not record this submission (see its log)"
            outcomes[student] = Outcome(student, "error", reason, previous.seconds, previous.timings)

    def stop(self):
        """Record nothing more than the submission in hand (no-op once finished)."""
        if self._thread.is_alive():
            self._stopping = True
            self._queue.put(None)
            self._thread.join()


def write_log(root, assignment, outcomes, stats=None):
    """reports/ASSIGNMENT/grading_log.json (per student) and grading_stats.json (per phase)."""
    path = Path(root) / "reports" / assignment / "grading_log.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({s: asdict(o) for s, o in outcomes.items()}, indent=1))
    (path.parent / "grading_stats.json").write_text(json.dumps(stats or {}, indent=1))
    return path

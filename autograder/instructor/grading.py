"""The grade command: parallel, sandboxed, fault-tolerant autograding with one gradebook writer.

Phase 1, in parallel, produces every submission's verified notebook and stages it
(`staging.Staging`), with one of two engines:

- `fork` (default, `engine.Phase1`): the judge server and the candidate server
  (`grader.Grader`), started once, decide every exercise in fresh forks, with no kernel start or
  `import torch` per notebook; the notebook itself is not run (grades first: its run, for the
  feedback only, is `rerun`, after every grade is recorded, with `run=True`);
- `kernel` (`kernel_engine`): each submission is autograded by nbgrader itself, with this
  course's preprocessors (sandboxed kernel, the judge's verdicts), in a private scratch copy of
  the course whose gradebook holds only the assignment's structure (`snapshot_gradebook`), in
  worker processes, under a watchdog for the per-notebook limit.

With `cluster` (a Dask scheduler's address), the fork engine's phase 1 runs on the cluster's
workers instead (`cluster.ClusterPhase1`: the same `Phase1` on each worker's warm servers); only
the submissions and the assignment's instructor files travel, and phase 2 stays here.

Phase 2 (`recorder.Recorder`), in one thread of this process, overlapping phase 1: as soon as
phase 1 is done with a student, nbgrader's autograde runs for them against the real gradebook,
with execution replaced by the outputs phase 1 staged. So every gradebook write goes through
one writer, one student at a time: no 'database is locked', no lost grade, and the same grades
from one worker or many, in whatever order phase 1 finishes.
"""

import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm import tqdm

from ..protocol.limits import DEFAULT as LIMITS
from . import gradelog, kernel_engine
from .engine import Phase1, settings_from
from .gradelog import submitted_students
from .grader import Grader
from .nbgrader_api import ensure_assignment, load_config, snapshot_gradebook
from .planted import refusal
from .recorder import Recorder
from .rerun import run_feedback
from .staging import Staging

ENGINES = ("fork", "kernel")


@dataclass
class Outcome:
    student: str
    status: str  # graded, error, timeout
    reason: str = ""
    seconds: float = 0.0
    timings: dict = field(default_factory=dict)  # fork engine: seconds executing and verifying


def grade(root, assignment, students=None, workers=None, notebook_timeout=None, progress=True,
          engine="fork", stats=None, run=False, cluster=None):
    """Grade `students` (default: every submission) of `assignment`; returns {student: Outcome}.

    `run`: once every grade is recorded, the feedback run (`rerun`) of every graded student; its
    violations join the student's outcome, and no score changes. `notebook_timeout`: seconds per
    notebook run (default: `Limits.notebook_timeout`). `stats`, if given, is filled with the
    seconds spent in each phase. `cluster`: the address of a Dask scheduler (tcp://host:port)
    whose workers run phase 1 (fork engine only); `workers` is then each worker's."""
    stats = {} if stats is None else stats
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}")
    if cluster and engine != "fork":
        raise ValueError(f"the {engine} engine runs on this machine only: grading on a cluster uses the fork engine")
    if notebook_timeout is None:
        notebook_timeout = LIMITS.notebook_timeout
    root = Path(root).resolve()
    if not submitted_students(root, assignment):
        return {}  # nobody handed it in: grading nothing changes nothing, the gradebook untouched
    scratch = Path(tempfile.mkdtemp(prefix="autograder-grade-"))
    outcomes, grader, recorder = {}, None, None
    try:
        if engine == "fork":  # the servers start (imports, warm-up) while we load nbgrader
            settings = settings_from(load_config(root), notebook_timeout, workers)
            grader = None if cluster else Grader(scratch / "servers", settings)
        ensure_assignment(root, assignment)
        students = sorted(students or submitted_students(root, assignment))
        snapshot_gradebook(root, scratch / "base.db", assignment)
        bar = tqdm(total=len(students), desc=f"grading {assignment}", unit="notebook",
                   disable=not progress)
        started = time.monotonic()
        staging = Staging(scratch / "staging")
        recorder = Recorder(root, assignment, staging)

        def done(student, status, reason):
            """Phase 1 is finished with this student: record them now (phase 2 overlaps)."""
            if status != "graded":
                staging.fail(student, assignment, reason)
            recorder.submit(student)
            bar.update(1)

        # a submission holding a link or a special file is refused before anything reads it
        refused = {s: reason for s in students if (reason := refusal(root, "submitted", s, assignment))}
        for student, reason in refused.items():
            done(student, "error", reason)
        to_judge = [s for s in students if s not in refused]
        if cluster:
            from .cluster import ClusterPhase1
            config_text = (root / "nbgrader_config.py").read_text(encoding="utf-8")
            results = ClusterPhase1(cluster, root, scratch, staging, assignment, to_judge, done, stats, settings,
                                    config_text).run()
        elif engine == "fork":
            results = Phase1(root, scratch, staging, assignment, to_judge, done, stats, settings, grader).run()
            grader = None  # Phase1 closed it
        else:
            workers = workers or max(1, min(len(to_judge), os.cpu_count() or 1))
            results = kernel_engine.phase1(root, scratch, staging, assignment, to_judge, workers,
                                           notebook_timeout, done)
        results.update({s: ("error", reason, 0.0, {}) for s, reason in refused.items()})
        outcomes = {s: Outcome(s, status, reason, round(seconds, 2), timings)
                    for s, (status, reason, seconds, timings) in results.items()}
        bar.close()
        stats["phase1"] = round(time.monotonic() - started, 3)
        started = time.monotonic()
        for student in students:  # any that phase 1 lost track of: recorded as errors
            if student not in recorder.submitted:
                outcome = outcomes.setdefault(student, Outcome(student, "error", "the worker produced no result"))
                done(student, outcome.status, outcome.reason)
        for student in recorder.finish():  # those nbgrader could not record are errors
            previous = outcomes.get(student, Outcome(student, "graded"))
            reason = previous.reason or "nbgrader could not record this submission (see its log)"
            outcomes[student] = Outcome(student, "error", reason, previous.seconds, previous.timings)
        stats["record"] = recorder.cpu_seconds  # its work, most of it while phase 1 ran
        stats["record_after_phase1"] = round(time.monotonic() - started, 3)
        if run:
            started = time.monotonic()
            graded = [s for s, o in outcomes.items() if o.status == "graded"]
            for student, ran in run_feedback(root, assignment, graded, workers, notebook_timeout, progress).items():
                timings = outcomes[student].timings
                timings["violations"] = timings.get("violations", []) + [f"in the feedback run: {v}"
                                                                          for v in ran.violations]
                timings["feedback_run"] = "run" if ran.status == "run" else f"not run: {ran.reason}"
            stats["feedback_run"] = round(time.monotonic() - started, 3)
    finally:
        if recorder:
            recorder.stop()  # after an error or Ctrl-C: submissions not yet recorded stay as they were
        if grader:
            grader.close()
        shutil.rmtree(scratch, ignore_errors=True)
    return dict(sorted(outcomes.items()))


def recorded_exercises(root, assignment, student):
    """{exercise: {"status", "mistake"}} as the student's autograded notebooks record them."""
    found = {}
    for path in sorted((Path(root) / "autograded" / student / assignment).glob("*.ipynb")):
        try:
            meta = json.loads(path.read_text(encoding="utf-8")).get("metadata", {}).get("autograder", {})
            exercises = meta.get("exercises") or {}
            found.update({ex: {"status": v.get("status"), "mistake": v.get("mistake")}
                          for ex, v in exercises.items() if isinstance(v, dict)})
        except (OSError, ValueError, AttributeError):
            continue  # the report says which notebooks could not be read
    return found


def recorded_since(root, assignment, students, since):
    """{student: Outcome} for those of `students` whose autograded copies nbgrader wrote at or
    after `since` (a time.time()): what an interrupted run did record, so that the log keeps
    it and a rerun resumes after it. A copy that records an error is an error."""
    found = {}
    for student in students:
        paths = sorted((Path(root) / "autograded" / student / assignment).glob("*.ipynb"))
        try:
            if not paths or min(p.stat().st_mtime for p in paths) < since:
                continue
            metas = [json.loads(p.read_text(encoding="utf-8")).get("metadata", {}).get("autograder", {})
                     for p in paths]
        except (OSError, ValueError, AttributeError):
            continue
        errors = [str(m["error"]) for m in metas if isinstance(m, dict) and m.get("error")]
        found[student] = Outcome(student, "error", errors[0]) if errors else Outcome(student, "graded")
    return found


def write_log(root, assignment, outcomes, stats=None, fingerprints=None, warn=None):
    """Merge this run's students into reports/ASSIGNMENT/grading_log.json (`gradelog`): per
    student, how grading went, each exercise's status and named mistake, `<exercise>/<slug>`,
    as recorded, and the fingerprint of what was graded (`fingerprints`, taken before the run;
    default: now); every other student's entry is kept. Also writes grading_stats.json (this
    run's seconds per phase). `warn` is told when an unreadable old log is moved aside."""
    course = gradelog.course_fingerprint(root, assignment)
    fingerprints = fingerprints or {}
    entries = {s: {**asdict(o), "exercises": recorded_exercises(root, assignment, s),
                   "fingerprint": fingerprints.get(s) or gradelog.fingerprint(root, assignment, s, course)}
               for s, o in outcomes.items()}
    path = gradelog.merge_log(root, assignment, entries, warn)
    (path.parent / "grading_stats.json").write_text(json.dumps(stats or {}, indent=1))
    return path

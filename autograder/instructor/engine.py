"""Phase 1 of the grade command on the two warm servers (the default `fork` engine).

Per notebook: the course's sanitize preprocessors (its structure rebuilt from the gradebook by
`RestoreStructure`, then nbgrader's own: test cells restored, outputs cleared); then every
exercise to the judge and its candidate (`Grader.check`); once every verdict is in, the
notebook is staged for phase 2 (`Staging`): the student's own outputs as submitted
(`outputs.keep_submitted`), the test cells' outputs from the verdicts. The notebook itself
is not run: no score depends on it (its run, for the feedback, is `rerun`). `done` is called
once all of a student's notebooks are staged. Up to `ServerLoop.lookahead`
notebooks are in the servers' hands at once.

Nothing a student did reaches another: a notebook nbgrader cannot read, or that cannot be
written back (text no file can hold), is an error for that student alone; an exercise whose
request would not fit a frame scores 0 and says why (`Grader.check`); a server that dies is
replaced and the notebooks it had are tried once more, then reported as errors.
"""

import time
from collections import Counter, deque

import nbformat

from ..protocol.limits import Limits
from . import gradebook_engines
from .grader import Grader, ServerLoop, Settings
from .nbgrader_api import load_config, sanitize
from .outputs import graded_test_cells, keep_submitted
from .preprocessors.restore_structure import repairs_of
from .staging import file_digest
from .verdicts import apply_verdicts, build_job, error_output, nbgrader_meta


def settings_from(config, notebook_timeout, workers):
    """The run's `Settings`, from the course's nbgrader configuration (the same limits plain
    `nbgrader autograde` would apply) and the command's options."""
    def get(section, key):
        return config[section][key] if section in config and key in config[section] else None
    limits = Limits().replace(
        cell_timeout=get("SafeExecute", "timeout"), check_time_limit=get("VerifyExercises", "time_limit"),
        memory_bytes=get("VerifyExercises", "memory_bytes") or get("SafeExecute", "memory_bytes"),
        max_output_bytes=get("SafeExecute", "max_output_bytes"), notebook_timeout=notebook_timeout)
    return Settings(limits, notebook_slots=workers,
                    require_sandbox=bool(get("VerifyExercises", "require_sandbox")))


def unjudged(nb):
    """A graded test cell that scores no exercise the judge knows cannot be graded without
    running it: it scores 0 and says so (never full marks for an empty output)."""
    for i in graded_test_cells(nb):
        cell = nb.cells[i]
        if "autograder" not in cell.metadata:
            grade_id = nbgrader_meta(cell).get("grade_id", "")
            cell.outputs = [error_output("NotJudged", f"The test cell {grade_id!r} belongs to no exercise the "
                                         "judge declares, so it cannot be graded; tell the instructor.")]


class Notebook:
    """One submitted notebook on its way through phase 1."""

    def __init__(self, student, path):
        self.student, self.path = student, path
        self.key = f"{student}/{path.name}"
        self.nb, self.jobs, self.verdicts = None, {}, {}


class Phase1(ServerLoop):
    """One grading run's phase 1 on a Grader (see the module docstring)."""

    def __init__(self, root, scratch, staging, assignment, students, done, stats, settings, grader=None,
                 sources=None):
        """`grader`: a Grader already started (default: one is started), which `run` finishes and
        closes (a cluster worker keeps its own: it calls `add` and `step`, not `run`).
        `sources`: the source notebooks' file names (default: those in the course's source/)."""
        self.root, self.scratch, self.staging = root, scratch, staging
        self.assignment, self.done, self.stats = assignment, done, stats
        self.config = load_config(root)
        self.settings = settings
        self.sources = set(sources) if sources is not None else {p.name for p in (root / "source" / assignment).glob("*.ipynb")}
        self.notebooks, self.todo, self.left, self.timings = {}, deque(), {}, {}
        self.results, self.began, self.in_flight, self.attempts = {}, {}, {}, {}
        self.started, self.grader, self.judged, self.judged_by = time.monotonic(), grader, 0, Counter()
        self.add(root, students)

    def add(self, root, students):
        """Students to grade, their submissions in `root`/submitted/ (more of them join a cluster
        worker's phase 1 while it runs: `cluster.GraderPlugin`)."""
        notebooks = {s: sorted(p for p in (root / "submitted" / s / self.assignment).glob("*.ipynb")
                               if p.name in self.sources) for s in students}
        self.notebooks.update(notebooks)
        self.todo.extend(Notebook(s, p) for s in students for p in notebooks[s])
        self.left.update({s: len(notebooks[s]) for s in students})
        self.timings.update({s: {"client_cpu": 0.0, "violations": []} for s in students})
        for student in students:
            if not notebooks[student]:
                self._close(student, "error", "no notebook of this assignment in the submission")

    def run(self):
        self.grader = self._ready(self.grader)
        try:
            with gradebook_engines.shared():  # sanitizing opens the snapshot's Gradebook thrice a notebook
                self.pump()
            for name, cpu in self.grader.finish().items():
                for key, seconds in (cpu or {}).items():  # e.g. judge_children_cpu: every judge
                    self._add_stat(f"{name}_{key}", seconds)
            self._add_stat("exercises_judged", self.judged)
        finally:
            self.grader.close()
        return self.results

    def _send(self, item):
        """Sanitize one notebook and send its exercises to be judged."""
        student = item.student
        if student in self.results:
            return
        self.began.setdefault(student, time.monotonic())
        cpu = time.thread_time()
        try:
            item.nb = sanitize(self.config, self.scratch / "base.db", self.assignment, student, item.path)
            repairs = repairs_of(item.nb)  # RestoreStructure's, the only part of it kept
            item.nb.metadata["autograder"] = {"submission_sha256": file_digest(item.path),
                                              **({"repairs": repairs} if repairs else {})}
            item.jobs, item.verdicts = build_job(item.nb, self.assignment, self.grader.curriculum)
        except Exception as exc:  # a notebook nbgrader cannot read, say
            self._close(student, "error", f"{type(exc).__name__}: {exc}")
            return
        finally:
            self.timings[student]["client_cpu"] += time.thread_time() - cpu
        self.in_flight[item.key] = item
        self.grader.check(item.key, self.assignment, student, item.jobs)
        self._maybe_stage(item)

    def _maybe_stage(self, item):
        if any(ex not in item.verdicts for ex in item.jobs) or self.in_flight.pop(item.key, None) is None:
            return
        self._stage(item)

    def _event(self, event):
        if event[0] == "verdict":
            _, key, ex_id, verdict = event
            item = self.in_flight.get(key)
            if item is not None:
                item.verdicts[ex_id] = verdict
                self.judged += 1
                self.judged_by[item.student] += 1
                self._maybe_stage(item)

    def _stage(self, item):
        student = item.student
        cpu = time.thread_time()
        try:  # the student's own notebook and what their code said: anything wrong is theirs
            violations = keep_submitted(item.nb, item.path, self.settings.limits.max_output_bytes)
            summary = apply_verdicts(item.nb, self.assignment, item.verdicts, self.grader.curriculum)
            unjudged(item.nb)
            item.nb.metadata["autograder"].update(sandboxed=self.grader.sandboxed, exercises=summary)
            self.staging.write(student, self.assignment, item.path.stem, nbformat.writes(item.nb))
        except Exception as exc:
            self.grader.student_done(student)
            self._close(student, "error", f"the graded notebook could not be written ({type(exc).__name__}: {exc})")
            return
        timing = self.timings[student]
        timing["client_cpu"] += time.thread_time() - cpu
        timing["violations"] += violations + [v for ex in summary.values() for v in ex.get("violations", [])]
        self.left[student] -= 1
        if self.left[student] == 0:
            left = self.grader.student_done(student)
            if left:
                timing["violations"].append(f"{left} process{'es' if left > 1 else ''} left in the "
                                            "student's cgroup (killed)")
            self._close(student)

    def _lost(self, exc):
        """Every notebook the servers had is tried once more on new ones, then is an error."""
        for key, item in list(self.in_flight.items()):
            self.attempts[key] = self.attempts.get(key, 0) + 1
            if self.attempts[key] > 1:
                self._close(item.student, "error", f"the grading servers died twice while grading it ({exc})")
            else:
                self.todo.appendleft(Notebook(item.student, item.path))
        self.in_flight.clear()
        self.grader.close()
        self.grader = self._ready(Grader(self.scratch / "servers", self.settings))

    def _ready(self, grader=None):
        grader = (grader or Grader(self.scratch / "servers", self.settings)).wait_ready()
        self._add_stat("server_start", max(grader.ready_seconds().values()))
        return grader

    def _add_stat(self, key, value):
        self.stats[key] = round(self.stats.get(key, 0) + value, 3)

    def _close(self, student, status="graded", reason=""):
        if student in self.results:
            return
        seconds = time.monotonic() - self.began.get(student, time.monotonic())
        timing = self.timings[student]
        timing["client_cpu"] = round(timing["client_cpu"], 3)
        self.results[student] = (status, reason, seconds, timing)
        self.done(student, status, reason)

"""The feedback run: every graded notebook run top to bottom, for the student's feedback only.

The grade command records every score from the judge's verdicts without running a notebook.
This optional step (`feedback --run`, `grade --run`) runs each autograded notebook on the
candidate server, in the same sandbox, under the same limits and in the same per-student
cgroup as grading, skipping the graded test cells, and writes its outputs into the notebook's
other cells (`outputs.apply_run`). It never changes a score: the gradebook is not opened, and
the test cells keep their verdicts (checked before each notebook is written back).
"""

import base64
import json
import os
import shutil
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from tqdm import tqdm

from ..protocol.frames import MAX_FRAME, size_of
from ..protocol.limits import DEFAULT as LIMITS
from ..protocol.messages import Refused, mib
from .engine import settings_from
from .grader import Grader, ServerLoop, ServerLost
from .nbgrader_api import load_config
from .outputs import apply_run, graded_test_cells
from .planted import refusal
from .staging import write_atomically


@dataclass
class RunOutcome:
    student: str
    status: str  # run, error
    reason: str = ""
    seconds: float = 0.0
    violations: list = field(default_factory=list)


def graded_students(root, assignment):
    """Students with an autograded notebook of `assignment`."""
    return sorted(p.parent.name for p in (Path(root) / "autograded").glob(f"*/{assignment}") if p.is_dir())


def submission_files(folder, limit, left_out=None):
    """The submission folder's regular files (never links), base64, for the notebook's run:
    files that would take the total past `limit` bytes are left out (their names appended
    to `left_out`)."""
    files, total = [], 0
    left_out = [] if left_out is None else left_out
    for root, dirs, names in os.walk(folder, followlinks=False):
        dirs[:] = [d for d in dirs if not d.startswith(".") and not os.path.islink(os.path.join(root, d))]
        for name in sorted(names):
            path = os.path.join(root, name)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            size = os.path.getsize(path)
            if total + size > limit:
                left_out.append(os.path.relpath(path, folder))
                continue
            total += size
            with open(path, "rb") as f:
                files.append([os.path.relpath(path, folder), base64.b64encode(f.read()).decode()])
    return files


REQUEST_MARGIN = 1 << 20  # the request's other fields (key, limits, cgroups, file names)


def files_room(limits, cells):
    """How many bytes of files a notebook's run may carry: `submission_bytes`, and no more than
    fits in its request (a frame) beside its cells, in base64 (4 bytes for every 3)."""
    room = MAX_FRAME - REQUEST_MARGIN - size_of(cells)
    return max(0, min(limits.submission_bytes, room * 3 // 4))


def test_outputs(nb):
    """The graded test cells' outputs and metadata, as JSON: what a run must leave unchanged."""
    return json.dumps([(i, nb.cells[i].outputs, nb.cells[i].metadata.get("autograder"))
                       for i in sorted(graded_test_cells(nb))], sort_keys=True, default=str)


class FeedbackRun(ServerLoop):
    """One feedback run of `assignment` for `students` (see the module docstring)."""

    def __init__(self, root, assignment, students, settings, scratch, progress):
        self.root, self.assignment, self.settings, self.scratch = root, assignment, settings, scratch
        self.paths = {s: sorted(p for p in (root / "autograded" / s / assignment).glob("*.ipynb")
                                if p.is_file() and not p.is_symlink()) for s in students}
        self.todo = deque((s, p) for s in students for p in self.paths[s])
        self.left = {s: len(ps) for s, ps in self.paths.items()}
        self.outcomes = {s: RunOutcome(s, "run") for s in students}
        self.in_flight, self.attempts, self.began, self.closed, self.grader = {}, {}, {}, set(), None
        self.bar = tqdm(total=len(students), desc=f"running {assignment} for feedback", unit="student",
                        disable=not progress)

    def run(self):
        for student, paths in self.paths.items():
            if not paths:
                self._close(student, "error", "no autograded notebook (grade the submission first)")
        self.grader = Grader(self.scratch / "servers", self.settings).wait_ready()
        try:
            self.pump()
        finally:
            self.grader.close()
            self.bar.close()
        return self.outcomes

    def _send(self, item):
        student, path = item
        if student in self.closed:
            return
        self.began.setdefault(student, time.monotonic())
        refused = refusal(self.root, "submitted", student, self.assignment)  # its files go to the run
        if refused:
            self._close(student, "error", refused)
            return
        try:
            nb = nbformat.read(str(path), as_version=4)
        except Exception as exc:
            self._close(student, "error", f"{path.name} cannot be read: {type(exc).__name__}: {exc}")
            return
        key = f"{student}/{path.name}"
        try:
            cells = [(i, c.source) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
            folder = self.root / "submitted" / student / self.assignment
            left_out = []
            files = submission_files(folder, files_room(self.settings.limits, cells), left_out) if folder.is_dir() else []
            self.in_flight[key] = (student, path, nb)  # before sending: a server lost meanwhile retries it
            self.grader.run_notebook(key, student, cells, files, sorted(graded_test_cells(nb)))
        except Refused as exc:
            self.in_flight.pop(key, None)
            self._close(student, "error", f"{path.name} was not run: {exc}")
            return
        except ServerLost:
            raise
        except Exception as exc:  # the student's folder or notebook: theirs alone
            self.in_flight.pop(key, None)
            self._close(student, "error", f"{path.name} was not run ({type(exc).__name__}: {exc})")
            return
        if left_out:
            self.outcomes[student].violations.append(
                f"files left out of the run of {path.name} (over the {mib(self.settings.limits.submission_bytes)} "
                f"MiB a run's files may take, beside its cells): {', '.join(left_out[:10])}"
                + (f" and {len(left_out) - 10} more" if len(left_out) > 10 else ""))

    def _event(self, event):
        if event[0] == "notebook" and event[1] in self.in_flight:
            self._done(self.in_flight.pop(event[1]), event[2])

    def _done(self, item, execution):
        student, path, nb = item
        try:  # what the student's code printed: anything wrong with it is theirs alone
            before = test_outputs(nb)
            apply_run(nb, execution)
            # imported here: the package imports nbgrader, which the grade command loads later
            from .preprocessors.sanitize_student_content import SanitizeStudentContent
            tests, inert = graded_test_cells(nb), SanitizeStudentContent()
            for i, cell in enumerate(nb.cells):  # the autograded copy the formgrader renders: inert
                if cell.cell_type == "code" and i not in tests:
                    inert.sanitize_code_outputs(cell.outputs)
            if test_outputs(nb) != before:  # cannot happen (apply_run skips them): checked anyway
                self._close(student, "error", "the run would have changed a graded cell; nothing written")
                return
            nb.metadata["autograder"]["feedback_run"] = {"seconds": round(execution.seconds, 2),
                                                         "violations": list(execution.violations)}
            write_atomically(path, nbformat.writes(nb))
        except Exception as exc:
            self.grader.student_done(student)
            self._close(student, "error", f"the run's outputs could not be written ({type(exc).__name__}: {exc})")
            return
        outcome = self.outcomes[student]
        outcome.violations += list(execution.violations)
        self.left[student] -= 1
        if self.left[student] == 0:
            left = self.grader.student_done(student)
            if left:
                outcome.violations.append(f"{left} process{'es' if left > 1 else ''} left in the "
                                          "student's cgroup (killed)")
            self._close(student)

    def _lost(self, exc):
        """Every notebook the server had is tried once more on new servers, then is an error."""
        for key, (student, path, _) in list(self.in_flight.items()):
            self.attempts[key] = self.attempts.get(key, 0) + 1
            if self.attempts[key] > 1:
                self._close(student, "error", f"the grading servers died twice while running it ({exc})")
            else:
                self.todo.appendleft((student, path))
        self.in_flight.clear()
        self.grader.close()
        self.grader = Grader(self.scratch / "servers", self.settings).wait_ready()

    def _close(self, student, status="run", reason=""):
        if student in self.closed:
            return
        self.closed.add(student)
        outcome = self.outcomes[student]
        outcome.status, outcome.reason = status, reason
        outcome.seconds = round(time.monotonic() - self.began.get(student, time.monotonic()), 2)
        self.bar.update(1)


def run_feedback(root, assignment, students=None, workers=None, notebook_timeout=None, progress=True):
    """Run every autograded notebook of `students` (default: every graded student) of
    `assignment` for their feedback; returns {student: RunOutcome}. Scores are never touched."""
    root = Path(root).resolve()
    students = graded_students(root, assignment) if students is None else sorted(students)
    if not students:
        return {}
    settings = settings_from(load_config(root), notebook_timeout or LIMITS.notebook_timeout, workers)
    scratch = Path(tempfile.mkdtemp(prefix="autograder-feedback-"))
    try:
        return FeedbackRun(root, assignment, students, settings, scratch, progress).run()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

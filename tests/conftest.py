"""Shared fixtures: the repository root, its assignments, nbgrader run from the venv, and the
property-based examples drawn or replayed. Plotting is headless for every test: MPLBACKEND is set
here, once, before anything imports matplotlib (tests that start a kernel drop it again)."""

import os

os.environ["MPLBACKEND"] = "Agg"

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder.instructor.curriculum import signatures, table  # noqa: E402
from autograder.instructor.release import assignments, nbgrader_env  # noqa: E402

ASSIGNMENTS = assignments(ROOT)
# {assignment: {exercise id: signature}}, from the judge's declarations
CURRICULUM = {a: signatures(a) for a in table()}


def read_nb(path):
    return nbformat.read(str(path), as_version=4)


def source_nb(name):
    return read_nb(ROOT / "source" / name / f"{name}.ipynb")


def release_nb(name):
    return read_nb(ROOT / "release" / name / f"{name}.ipynb")


def nbgrader_meta(cell):
    return cell.metadata.get("nbgrader", {})


def nbgrader(*args, cwd, timeout=900):
    """Run the nbgrader command from this environment; fail the test with its output if it fails."""
    proc = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=cwd, env=nbgrader_env(),
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(f"nbgrader {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def copy_course(dest):
    """A throwaway copy of the course: what nbgrader needs, and nothing it would write into."""
    for name in ("source", "release"):
        shutil.copytree(ROOT / name, dest / name,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", ".hypothesis"))
    shutil.copy(ROOT / "nbgrader_config.py", dest / "nbgrader_config.py")
    return dest


def sample_course(dest, students, limits, broken=(), url=None):
    """A copy of the course (`copy_course`) with the sample class's notebooks of 01 for
    `students` (lean: the grading, not the demos), the `broken` [(student, text)] handed in as
    they are, `limits` added to its nbgrader_config.py, and its gradebook on the server at `url`
    when given (else nbgrader's gradebook.db)."""
    from autograder.instructor import samples
    course, a = copy_course(dest), samples.ASSIGNMENT
    with open(course / "nbgrader_config.py", "a") as f:
        f.write(limits + (f"\nc.CourseDirectory.db_url = {url!r}\n" if url else ""))
    release = nbformat.read(str(course / "release" / a / f"{a}.ipynb"), as_version=4)
    notebooks = samples.build_notebooks(release, lean=True) if students else {}
    for student in students:
        folder = course / "submitted" / student / a
        folder.mkdir(parents=True)
        nbformat.write(notebooks[student], str(folder / f"{a}.ipynb"))
    for student, content in broken:
        folder = course / "submitted" / student / a
        folder.mkdir(parents=True)
        (folder / f"{a}.ipynb").write_text(content)
    return course


def gradebook_dump(course, students, assignment=None):
    """Everything nbgrader recorded of each student's notebook of `assignment` (default: the
    sample class's, 01) in the course's gradebook, wherever it is: scores and comments of every
    cell, the late penalty."""
    from nbgrader.api import Gradebook

    from autograder.instructor import samples
    from autograder.instructor.nbgrader_api import db_url
    a, dump = assignment or samples.ASSIGNMENT, {}
    with Gradebook(db_url(course), course_id="") as gb:
        for student in students:
            nb = gb.find_submission_notebook(a, a, student)
            dump[student] = {
                "grades": sorted((g.name, g.auto_score, g.manual_score, g.needs_manual_grade) for g in nb.grades),
                "comments": sorted((c.name, c.auto_comment, c.manual_comment) for c in nb.comments),
                "penalty": nb.late_submission_penalty,
            }
    return dump


_DRAWN_ONCE = {}  # properties.recording() of every exercise, made by the first replayed test


@pytest.fixture(params=["drawn", "replayed"])
def examples(request):
    """Property-based examples drawn by Hypothesis, or recorded once and replayed (as in the
    judge server's forks): both must give the same verdicts."""
    from autograder.judge import properties
    from autograder.judge.exercises import strategies
    if request.param == "replayed":
        if not _DRAWN_ONCE:  # drawing every exercise's examples takes seconds: once per process
            properties.forget()
            properties.record(strategies())
            _DRAWN_ONCE.update(properties.recording())
        properties.replay(_DRAWN_ONCE)
    else:
        properties.forget()
    yield request.param
    properties.forget()

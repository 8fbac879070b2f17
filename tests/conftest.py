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


@pytest.fixture(params=["drawn", "replayed"])
def examples(request):
    """Property-based examples drawn by Hypothesis, or recorded once and replayed (as in the
    judge server's forks): both must give the same verdicts."""
    from autograder.judge import properties
    from autograder.judge.exercises import strategies
    if request.param == "replayed":
        properties.record(strategies())
    else:
        properties.forget()
    yield request.param
    properties.forget()

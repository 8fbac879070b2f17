"""No side effects: grading nothing changes nothing (an assignment with no submission is not put
in the gradebook, where the formgrader would show every student at zero), and what the
instructor's commands write into the course root is git-ignored (grades are never committed)."""

import shutil
import sqlite3
import subprocess
import sys

import pytest

from autograder.instructor.release import nbgrader_env

from conftest import ROOT, copy_course

pytestmark = pytest.mark.slow


def run(course, *args):
    return subprocess.run([sys.executable, "-m", *args], cwd=course, env=nbgrader_env(),
                          capture_output=True, text=True, timeout=300)


def gradebook_assignments(course):
    with sqlite3.connect(course / "gradebook.db") as db:
        return {name for (name,) in db.execute("SELECT name FROM assignment")}


def test_grading_feedback_and_export_of_nothing_leave_the_gradebook_and_git_as_they_were(tmp_path):
    from autograder.instructor.nbgrader_api import ensure_assignment
    course = copy_course(tmp_path / "course")
    shutil.copy(ROOT / ".gitignore", course / ".gitignore")
    subprocess.run(["git", "init", "-q"], cwd=course, check=True)
    subprocess.run(["git", "add", "-A"], cwd=course, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "course"],
                   cwd=course, check=True)
    ensure_assignment(course, "01_tensor_ops")  # 01 is being graded; nobody has handed in 02
    (course / "submitted" / "ada" / "01_tensor_ops").mkdir(parents=True)

    for only in ((), ("--student", "ada")):
        proc = run(course, "autograder", "grade", "02_autograd", "--no-progress", *only)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert proc.stdout.strip() == "no submissions of 02_autograd in submitted/: nothing graded"
        assert "Traceback" not in proc.stderr
        assert gradebook_assignments(course) == {"01_tensor_ops"}, only
    assert not (course / "reports" / "02_autograd" / "grading_log.json").exists()

    (tmp_path / "inbox").mkdir()
    for command in (("feedback", "02_autograd"), ("export", "02_autograd"),
                    ("collect", "02_autograd", str(tmp_path / "inbox"))):
        run(course, "autograder", *command)  # their errors and exit codes are tested elsewhere
        assert gradebook_assignments(course) == {"01_tensor_ops"}, command

    proc = run(course, "nbgrader", "export")  # nbgrader's own export writes grades.csv in the root
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (course / "grades.csv").exists()
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=course,
                            capture_output=True, text=True, check=True).stdout
    assert status == "", f"the instructor's commands left files git would commit:\n{status}"

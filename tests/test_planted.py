"""Nothing a student planted is followed: links and special files in a submission folder.

Before: nbgrader's own copy of a submission (autograde's `init_assignment`, under plain
nbgrader, the grade command's recording step and generate_feedback) followed links as root:
`feedback/` received the next assignment's source, `gradebook.db`, a classmate's notebook and
`/etc/shadow`; a link to `/dev/zero` filled the disk; a link to a pipe hung the run.
Now such a submission is refused for that student alone, with the reason, and nothing in it is
opened (a named pipe with no writer would block whoever opened it: these tests would hang).
"""

import os
import subprocess
import sys

import pytest
from nbgrader.api import Gradebook

from autograder.instructor import samples
from autograder.instructor.grading import grade
from autograder.instructor.planted import refusal
from autograder.instructor.release import nbgrader_env

from conftest import copy_course, nbgrader, release_nb

A = samples.ASSIGNMENT
SECRET = "TOP-SECRET-4f1c"  # the stand-in for /etc/shadow, outside the course


def right():
    return samples.notebook(release_nb(A), samples.solutions()["RIGHT"], lean=True)


def plant(course, secret):
    """An honest student (ada) and one attacker per kind of planted entry: {attacker: what the
    refusal must name}."""
    import nbformat
    sub = course / "submitted"
    ada = sub / "ada" / A
    ada.mkdir(parents=True)
    nbformat.write(right(), str(ada / f"{A}.ipynb"))

    def folder(student):
        path = sub / student / A
        path.mkdir(parents=True)
        nbformat.write(right(), str(path / f"{A}.ipynb"))  # a right notebook: the link must not earn it anything
        return path

    os.symlink(secret, folder("shadow") / "notes.txt")
    os.symlink(course / "gradebook.db", folder("gradebook") / "gradebook.db")
    os.symlink(course / "source", folder("solutions") / "next")  # a folder: the next assignment's source
    os.symlink("/dev/zero", folder("zero") / "data.bin")
    os.mkfifo(folder("stdin") / "input.txt")  # a pipe nobody writes: whoever opens it waits forever
    copier = sub / "copier" / A  # the notebook itself: a classmate's
    copier.mkdir(parents=True)
    os.symlink(ada / f"{A}.ipynb", copier / f"{A}.ipynb")
    (sub / "twin").mkdir()
    os.symlink(ada, sub / "twin" / A)  # the whole submission folder: a classmate's
    os.symlink(sub / "ada", sub / "alias")  # the student folder
    return {"shadow": "notes.txt is a symbolic link", "gradebook": "gradebook.db is a symbolic link",
            "solutions": "next is a symbolic link", "zero": "data.bin is a symbolic link",
            "stdin": "input.txt is a named pipe", "copier": f"{A}.ipynb is a symbolic link",
            "twin": f"submitted/twin/{A} is a symbolic link", "alias": "submitted/alias is a symbolic link"}


@pytest.fixture
def course(tmp_path):
    course = copy_course(tmp_path / "course")
    secret = tmp_path / "shadow"
    secret.write_text(SECRET)
    return course, plant(course, secret)


def leaked(course):
    """Files under autograded/ or feedback/ that hold the secret, are links, or are not regular."""
    bad = []
    for step in ("autograded", "feedback"):
        for folder, dirs, files in os.walk(course / step):
            for name in dirs + files:
                path = os.path.join(folder, name)
                if os.path.islink(path):
                    bad.append(f"{path} is a link")
                elif os.path.isfile(path) and SECRET.encode() in open(path, "rb").read():
                    bad.append(f"{path} holds the secret")
    return bad


def full_marks(course, student):
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        grades = gb.find_submission_notebook(A, A, student).grades
        return sum(g.score for g in grades) == sum(g.max_score for g in grades) > 0


def graded_at_all(course, student):
    """Whether nbgrader recorded any score for `student` (a refused submission has none)."""
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        try:
            grades = gb.find_submission_notebook(A, A, student).grades
        except Exception:
            return False
        return any(g.score for g in grades)


def test_refusal_names_every_planted_kind_and_opens_nothing(course):
    course, expected = course
    sock = course / "submitted" / "ada" / A / "sock"
    import socket
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(sock))
    try:
        assert "sock is a socket" in refusal(course, "submitted", "ada", A)
    finally:
        s.close()
        sock.unlink()
    assert refusal(course, "submitted", "ada", A) is None
    for student, named in expected.items():
        reason = refusal(course, "submitted", student, A)
        assert reason and named in reason and "refused" in reason, (student, reason)
    assert refusal(course, "submitted", "nobody", A) is None  # nothing there: nothing to refuse


def test_a_device_node_is_refused(tmp_path):
    folder = tmp_path / "submitted" / "mknod" / A
    folder.mkdir(parents=True)
    try:
        os.mknod(folder / "zero", 0o600 | 0o020000, os.makedev(1, 5))  # a character device: /dev/zero's
    except (PermissionError, OSError):
        pytest.skip("cannot make a device node here")
    assert "zero is a character device" in refusal(tmp_path, "submitted", "mknod", A)


def test_names_are_escaped_in_the_reason(tmp_path):
    folder = tmp_path / "submitted" / "esc" / A
    folder.mkdir(parents=True)
    os.symlink("/etc/passwd", folder / "\x1b[2Jx")
    reason = refusal(tmp_path, "submitted", "esc", A)
    assert "\x1b" not in reason and "\\x1b[2Jx is a symbolic link" in reason


@pytest.mark.slow
def test_plain_nbgrader_refuses_planted_submissions_and_grades_the_others(course):
    course, expected = course
    nbgrader("generate_assignment", A, "--force", cwd=course)
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", A, "--force"], cwd=course,
                          env=nbgrader_env(), capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0, "the refused students are nbgrader errors"
    for student, named in expected.items():
        assert f"for student '{student}'" in log and named in log, student
        assert not (course / "autograded" / student).exists() or not any((course / "autograded" / student).rglob("*.ipynb"))
        assert not graded_at_all(course, student), student
    assert full_marks(course, "ada")
    assert leaked(course) == []

    # generate_feedback refuses an autograded folder with a link in it, and nothing else
    link = course / "autograded" / "ada" / A / "leak.txt"
    os.symlink(course / "gradebook.db", link)
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "generate_feedback", A, "--force"], cwd=course,
                          env=nbgrader_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0 and "leak.txt is a symbolic link" in proc.stdout + proc.stderr
    assert not (course / "feedback" / "ada" / A / "leak.txt").exists()
    link.unlink()
    nbgrader("generate_feedback", A, "--force", cwd=course)
    assert (course / "feedback" / "ada" / A / f"{A}.html").is_file()
    assert leaked(course) == []


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["fork", "kernel"])
def test_the_grade_command_refuses_planted_submissions_and_grades_the_others(course, engine):
    course, expected = course
    outcomes = grade(course, A, workers=2, notebook_timeout=120, progress=False, engine=engine)
    assert outcomes["ada"].status == "graded", outcomes["ada"]
    for student, named in expected.items():
        assert outcomes[student].status == "error" and named in outcomes[student].reason, outcomes[student]
        assert not graded_at_all(course, student), student
    assert full_marks(course, "ada")
    assert leaked(course) == []

"""The gradebook on PostgreSQL, through nbgrader's own `c.CourseDirectory.db_url`.

A small class (an honest student, typical mistakes, a cheat caught tampering, a submission that
kills its own process) is graded twice: once in a course on SQLite, once in the same course
whose nbgrader_config.py puts the gradebook on a private PostgreSQL server (tests/postgres.py).
Every instructor command must work unchanged on the server and give exactly the same scores,
comments, feedback, reports and formgrader view; none may leave a gradebook.db in the course.

Without PostgreSQL (Debian's `postgresql`; `make setup` installs it as root) the tests are
skipped, saying why; with COURSE_REQUIRE_BROWSER=1 (CI) that is a failure.
"""

import os
import re
import subprocess
import sys

import pytest
from nbgrader.api import Gradebook

from autograder.instructor import samples
from autograder.instructor.nbgrader_api import db_url, make_api, snapshot_gradebook
from autograder.instructor.release import nbgrader_env

from conftest import copy_course, gradebook_dump, nbgrader, sample_course
from postgres import free_port, started_or_skipped

# each test (and the module's servers it starts) has minutes here: a hang fails in 10, not 15
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

A = samples.ASSIGNMENT
REQUIRED = os.environ.get("COURSE_REQUIRE_BROWSER") == "1"
STUDENTS = ["ada", "cho", "ivy", "kim"]  # honest, two mistakes, tampering, crashed
KERNEL_STUDENTS = ["cho", "kim"]  # the kernel engine and plain nbgrader start a kernel per notebook
LIMITS = "\nc.SafeExecute.timeout = 60\nc.VerifyExercises.time_limit = 60\n"


@pytest.fixture(scope="module")
def server():
    with started_or_skipped() as running:
        yield running


def make_course(path, students, url=None):
    """The sample class's `students`; the gradebook on the server at `url` if given."""
    return sample_course(path, students, LIMITS, url=url)


def cli(course, *args):
    """`python -m autograder ARGS` in `course`; fails the test with its output unless it exits 0."""
    proc = subprocess.run([sys.executable, "-m", "autograder", *args, "--no-progress"], cwd=course,
                          env=nbgrader_env(), capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        pytest.fail(f"autograder {' '.join(args)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def formgrader_view(course):
    """What the formgrader shows of the assignment (nbgrader's NbGraderAPI, as its handlers call
    it), without the random ids nbgrader gives each row, nor the browsing order (`index`) it
    sorts by those ids."""
    api = make_api(course)
    volatile = {"id", "notebook_id", "submission_id", "index"}

    def clean(rows):
        return sorted(({k: v for k, v in row.items() if k not in volatile} for row in rows),
                      key=lambda row: str(row.get("student", row.get("name"))))

    return {"assignments": clean(api.get_assignments()),
            "submissions": clean(api.get_submissions(A)),
            "notebook": clean(api.get_notebook_submissions(A, A)),
            "indices": len(api.get_notebook_submission_indices(A, A)),
            "students": clean(api.get_students()),
            "per_student": {s: clean(api.get_student_notebook_submissions(s, A)) for s in STUDENTS}}


def without(course, text):
    return text.replace(str(course), "COURSE")


@pytest.fixture(scope="module")
def courses(server, tmp_path_factory):
    """(the SQLite course, the PostgreSQL course), each graded (fork engine), its feedback and
    its reports written by our commands."""
    on_sqlite = make_course(tmp_path_factory.mktemp("sqlite") / "course", STUDENTS)
    on_server = make_course(tmp_path_factory.mktemp("postgres") / "course", STUDENTS, server.create_database("grades"))
    for course in (on_sqlite, on_server):
        cli(course, "grade", A, "--workers", "2")
        cli(course, "feedback", A)
        cli(course, "export", A)
    return on_sqlite, on_server


def test_the_course_gradebook_is_where_nbgrader_config_says(tmp_path):
    course = copy_course(tmp_path)
    assert db_url(course) == f"sqlite:///{course / 'gradebook.db'}"
    with open(course / "nbgrader_config.py", "a") as f:
        f.write("\nc.CourseDirectory.db_url = 'postgresql+psycopg2://grader@db.example/grades'\n")
    assert db_url(course) == "postgresql+psycopg2://grader@db.example/grades"


def test_grades_and_comments_on_postgres_are_those_on_sqlite(courses):
    on_sqlite, on_server = courses
    expected = gradebook_dump(on_sqlite, STUDENTS)
    assert gradebook_dump(on_server, STUDENTS) == expected
    scores = {s: sum(g[1] or 0 for g in d["grades"]) for s, d in expected.items()}
    assert scores["ada"] > scores["cho"] > 0 and scores["ada"] > scores["ivy"]  # the class is graded, not zeroed
    assert any(c[1] for c in expected["cho"]["comments"])  # the mistakes are named in comments


def test_nothing_writes_a_gradebook_file_into_a_course_on_postgres(courses):
    _, on_server = courses
    assert not list(on_server.rglob("gradebook.db")) and not list(on_server.rglob("*.db"))


def test_feedback_and_reports_on_postgres_are_those_on_sqlite(courses):
    on_sqlite, on_server = courses
    for student in STUDENTS:
        page = f"feedback/{student}/{A}/{A}.html"
        assert without(on_server, (on_server / page).read_text()) == without(on_sqlite, (on_sqlite / page).read_text())
    for name in ("grades.csv", "misconceptions.md"):
        report = f"reports/{A}/{name}"
        assert (on_server / report).read_text() == (on_sqlite / report).read_text()
    assert "| ivy |" in (on_server / "reports" / A / "report.md").read_text()  # the tampering is reported


def test_the_formgrader_sees_the_same_class_on_postgres(courses):
    on_sqlite, on_server = courses
    view = formgrader_view(on_server)
    assert view == formgrader_view(on_sqlite)
    assert {row["student"] for row in view["submissions"] if row["autograded"]} == set(STUDENTS)


def test_the_kernel_engine_on_postgres_gives_the_fork_engines_grades(courses, server, tmp_path):
    on_sqlite, _ = courses
    course = make_course(tmp_path / "course", KERNEL_STUDENTS, server.create_database("kernel"))
    cli(course, "grade", A, "--engine", "kernel", "--workers", "2")
    assert gradebook_dump(course, KERNEL_STUDENTS) == gradebook_dump(on_sqlite, KERNEL_STUDENTS)
    assert not list(course.rglob("*.db"))


def test_plain_nbgrader_autograde_on_postgres_gives_the_same_grades(courses, server, tmp_path):
    on_sqlite, _ = courses
    course = make_course(tmp_path / "course", KERNEL_STUDENTS, server.create_database("plain"))
    nbgrader("generate_assignment", A, "--force", cwd=course)
    nbgrader("autograde", A, "--force", cwd=course)
    assert gradebook_dump(course, KERNEL_STUDENTS) == gradebook_dump(on_sqlite, KERNEL_STUDENTS)
    assert not list(course.rglob("*.db"))


def test_the_snapshot_holds_the_assignments_structure_and_no_student(courses, tmp_path):
    """What phase 1 reads, and what travels to a grading worker: never a grade."""
    _, on_server = courses
    snapshot_gradebook(on_server, tmp_path / "base.db", A)
    with Gradebook(f"sqlite:///{tmp_path / 'base.db'}", course_id="") as copy, \
            Gradebook(db_url(on_server), course_id="") as real:
        assert copy.students == [] and copy.find_assignment(A).submissions == []
        assert [a.name for a in copy.assignments] == [A]
        cells = sorted((c.name, c.max_score, c.cell_type) for c in copy.find_notebook(A, A).grade_cells)
        assert cells and cells == sorted((c.name, c.max_score, c.cell_type) for c in real.find_notebook(A, A).grade_cells)
        assert len(copy.find_notebook(A, A).source_cells) == len(real.find_notebook(A, A).source_cells)
    with pytest.raises(ValueError, match="not in the gradebook"):
        snapshot_gradebook(on_server, tmp_path / "other.db", "99_nothing")


def run_cli(course, *args):
    return subprocess.run([sys.executable, "-m", "autograder", *args], cwd=course, env=nbgrader_env(),
                          capture_output=True, text=True, timeout=300)


def test_with_the_server_down_every_command_says_so_and_changes_nothing(tmp_path):
    url = f"postgresql+psycopg2://grader:s3cret@127.0.0.1:{free_port()}/grades"
    course = make_course(tmp_path / "course", ["ada"], url)
    for command in ("grade", "feedback", "export"):
        proc = run_cli(course, command, A)
        assert proc.returncode == 2, proc.stderr
        assert re.search(rf"autograder {command}: cannot read the gradebook at "
                         r"postgresql\+psycopg2://grader:\*\*\*@127\.0\.0\.1:\d+/grades", proc.stderr), proc.stderr
        assert "Traceback" not in proc.stderr and "s3cret" not in proc.stderr
    assert sorted(p.name for p in course.iterdir()) == ["nbgrader_config.py", "release", "source", "submitted"]


def test_export_of_an_assignment_the_server_never_saw_is_one_line(server, tmp_path):
    course = make_course(tmp_path / "course", [], server.create_database("empty"))
    proc = run_cli(course, "export", A)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{A} was never graded (it is not in the gradebook, postgresql+psycopg2://postgres@127.0.0.1:" in proc.stderr
    assert not (course / "reports").exists() and not list(course.rglob("*.db"))

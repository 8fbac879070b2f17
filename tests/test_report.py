"""autograder.instructor.report: grades.csv, scores.png and report.md from a gradebook built by hand.

No notebook runs: `nbgrader generate_assignment` registers 01_tensor_ops in a throwaway course,
then students, submissions and scores go straight into the gradebook, and the autograded
notebooks are copies of the source notebook (hidden tests included, so a report that read cell
sources would leak them) carrying the verdict metadata the preprocessors write.
"""

import csv
import re
import shutil
import sqlite3
import struct

import nbformat
import pytest
from nbgrader.api import Gradebook

from autograder.instructor.report import build_report, export_grades

from conftest import copy_course, nbgrader, source_nb

pytestmark = [pytest.mark.slow,  # runs nbgrader
              # nbgrader.api.add_submission trips SQLAlchemy autoflush warnings (not ours)
              pytest.mark.filterwarnings("ignore:Object of type:sqlalchemy.exc.SAWarning")]

A = "01_tensor_ops"
EXERCISES = ["row_normalize", "outer_sum", "pairwise_sq_dists", "batch_flatten", "max_per_row"]
LONG = "the check could not run: " + "x" * 300
TAMPER = ("Tampering suspected: this cell passed in the notebook, but the same hidden tests failed "
          "when your solution ran in a clean process.\nSECRET-DETAIL-ON-LINE-TWO")
CRASH = "the process running your code died (signal 9): it called os._exit, crashed, or ran out of memory"

# max_per_row gets a second test cell (1 point) in the test course: an exercise sums its cells
GRADE_IDS = [f"test_{ex}" for ex in EXERCISES] + ["test_max_per_row_dims"]
# student -> points per grade cell of GRADE_IDS (None: no submission)
SCORES = {
    "alice": [2, 2, 2, 2, 2, 1],
    "bob": [2, 1, 0, 0, 0, 1],
    "carol": [2, 2, 2, 2, 0, 0],
    "dave": [0, 0, 0, 0, 0, 0],
    "erin": None,
    "frank": [2, 2, 0, 0, 0, 0],
    "grace": [0, 0, 0, 0, 0, 0],
}


def verdict(ex, status="pass", message=""):
    return {"exercise": ex, "status": status, "message": message, "in_kernel": "fail"}


def passing(**others):
    return {ex: others.get(ex, verdict(ex)) for ex in EXERCISES}


# student -> nb.metadata["autograder"] (absent: no autograded notebook; {}: no verdicts stored)
META = {
    "alice": {"sandboxed": True, "exercises": passing()},
    "bob": {"sandboxed": True, "exercises": passing(
        outer_sum=verdict("outer_sum", "fail", "you transposed the result: b[:, None] + a[None, :]"),
        pairwise_sq_dists=verdict("pairwise_sq_dists", "error", LONG + "\nTraceback line"),
        batch_flatten=verdict("batch_flatten", "tampering", TAMPER),
        max_per_row=verdict("max_per_row", "crashed", CRASH))},
    "carol": {"sandboxed": False, "exercises": passing(
        max_per_row=verdict("max_per_row", "timeout", "the check did not finish within 60 s"))},
    "dave": {"error": "the worker produced no result"},
    "frank": {},
}
LOG = {
    "alice": {"status": "graded", "reason": "", "seconds": 12.0},
    "dave": {"status": "error", "reason": "worker crashed: MemoryError\nTraceback (most recent call last)",
             "seconds": 3.2},
    "grace": {"status": "timeout", "reason": "grading took longer than 600 s", "seconds": 600.0},
}


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """A course with 01_tensor_ops in its gradebook and no student yet (made once)."""
    course = copy_course(tmp_path_factory.mktemp("generated"))
    path = course / "source" / A / f"{A}.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    extra = nbformat.v4.new_code_cell("assert True")
    extra.metadata["nbgrader"] = {"grade": True, "grade_id": "test_max_per_row_dims", "locked": True,
                                  "points": 1, "schema_version": 3, "solution": False, "task": False}
    nb.cells.append(extra)
    nbformat.write(nb, str(path))
    nbgrader("generate_assignment", A, "--force", cwd=course, timeout=120)
    return course


def make_course(generated, dest, scores, meta):
    course = dest / "course"
    shutil.copytree(generated, course)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course_id="pytorch-fundamentals") as gb:
        for student, points in scores.items():
            gb.add_student(student)
            if points is None:
                continue
            gb.add_submission(A, student)
            for grade_id, p in zip(GRADE_IDS, points):
                gb.find_grade(grade_id, A, A, student).auto_score = p
            gb.db.commit()
    for student, metadata in meta.items():
        nb = source_nb(A)
        if metadata:
            nb.metadata["autograder"] = metadata
        folder = course / "autograded" / student / A
        folder.mkdir(parents=True)
        nbformat.write(nb, str(folder / f"{A}.ipynb"))
    return course


def hidden_test_lines():
    lines = []
    for cell in source_nb(A).cells:
        m = re.search(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", cell.source, re.S)
        if m:
            lines += [line.strip() for line in m.group(1).splitlines() if line.strip()]
    assert len(lines) >= len(EXERCISES)
    return lines


def table(md, heading):
    """The rows of the first Markdown table after `heading`, as lists of cells."""
    section = md.split(heading, 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    return [[c.strip() for c in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows[2:]]


def check_png(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert width > 500 and height > 200 and len(data) > 10_000


def courses(course):
    with sqlite3.connect(course / "gradebook.db") as con:
        return sorted(r[0] for r in con.execute("SELECT id FROM course"))


def test_report_and_csv(generated, tmp_path):
    course = make_course(generated, tmp_path, SCORES, META)
    with sqlite3.connect(course / "gradebook.db") as con:  # nbgrader adds it; unused here
        con.execute("DELETE FROM course WHERE id = 'default_course'")
    before = courses(course)
    assert before == ["pytorch-fundamentals"]

    (course / "submitted" / "hal" / A).mkdir(parents=True)  # collected, never graded
    out = export_grades(course, A, tmp_path / "exported.csv", grading_log=LOG)
    with open(out, newline="") as f:
        rows = list(csv.reader(f))
    # a student without a grade (dave's grading errored, grace's timed out, hal was never
    # graded) has blank cells and a status, never a zero
    # then nbgrader export's fields and the late flag (tests/test_deadlines.py): no due date here
    assert rows[0][9:] == ["timestamp", "timestamp_source", "duedate", "seconds_late", "late", "raw_score",
                           "late_submission_penalty", "score", "max_score"]
    assert rows[1][9:] == ["", "", "", "", "", "11", "0", "11", "11"]  # alice: no timestamp, no penalty
    assert rows[5][9:] == ["", "", "", "", "", "", "", "", "11"]  # erin: no submission
    rows = [row[:9] for row in rows]
    assert rows == [
        ["student", *EXERCISES, "total", "max_total", "status"],
        ["alice", "2", "2", "2", "2", "3", "11", "11", "graded"],
        ["bob", "2", "1", "0", "0", "1", "4", "11", "graded"],
        ["carol", "2", "2", "2", "2", "0", "8", "11", "graded"],
        ["dave", "", "", "", "", "", "", "11", "error"],
        ["erin", "", "", "", "", "", "0", "11", "no submission"],
        ["frank", "2", "2", "0", "0", "0", "4", "11", "graded"],
        ["grace", "", "", "", "", "", "", "11", "timeout"],
        ["hal", "", "", "", "", "", "", "11", "not graded"],
    ]

    report = build_report(course, A, tmp_path / "out", grading_log=LOG)
    assert report == tmp_path / "out" / "report.md"
    assert (tmp_path / "out" / "grades.csv").read_text() == out.read_text()
    check_png(tmp_path / "out" / "scores.png")
    md = report.read_text()

    assert "01_tensor_ops" in md.splitlines()[0]
    assert "Students: 8 (7 with a submission, 1 without)" in md
    assert "Graded: 4; not graded: 3" in md
    assert "Mean total: 6.75 / 11" in md  # (11 + 4 + 8 + 4) / 4: the ungraded are not zeros
    assert "Median total: 6 / 11" in md
    assert "not counted as a zero" in md
    assert "1 autograded notebook(s) carry no verdicts" in md  # frank
    assert "have no autograded copy" not in md  # named instead, with the reason:
    ungraded = {r[0]: r[1:] for r in table(md, "## Students without a grade")}
    assert ungraded == {"dave": ["error", "worker crashed: MemoryError"],
                        "grace": ["timeout", "grading took longer than 600 s"],
                        "hal": ["not graded", "never graded: run grade"]}
    assert "![" in md and "(scores.png)" in md

    exercises = {r[0]: r[1:] for r in table(md, "## Exercises")}
    assert list(exercises) == EXERCISES
    # max, mean and full marks over the graded students (alice, bob, carol, frank), then pass
    # fail error tampering timeout crashed (dave's notebook error counts as an error on every
    # exercise; frank's and grace's notebooks have no verdicts)
    assert exercises["row_normalize"] == ["2", "2.00", "100%", "3", "0", "1", "0", "0", "0"]
    assert exercises["outer_sum"] == ["2", "1.75", "75%", "2", "1", "1", "0", "0", "0"]
    assert exercises["pairwise_sq_dists"] == ["2", "1.00", "50%", "2", "0", "2", "0", "0", "0"]
    assert exercises["max_per_row"] == ["3", "1.00", "25%", "1", "0", "1", "0", "1", "1"]

    problems = {(r[0], r[2]): r for r in table(md, "## Submissions that need attention")}
    assert set(problems) == {("bob", "pairwise_sq_dists"), ("bob", "batch_flatten"),
                             ("bob", "max_per_row"), ("carol", "all"), ("carol", "max_per_row"),
                             ("dave", "—"), ("dave", "all"), ("grace", "—")}
    reason = {key: row[4] for key, row in problems.items()}
    kind = {key: row[3] for key, row in problems.items()}
    assert reason["bob", "pairwise_sq_dists"] == LONG[:199] + "…" and "error" in kind["bob", "pairwise_sq_dists"]
    assert reason["bob", "batch_flatten"] == TAMPER.splitlines()[0] and "tampering" in kind["bob", "batch_flatten"]
    assert reason["bob", "max_per_row"] == CRASH and "crashed" in kind["bob", "max_per_row"]
    assert "unsandboxed" in kind["carol", "all"] and "sandbox" in reason["carol", "all"]
    assert reason["carol", "max_per_row"] == "the check did not finish within 60 s"
    assert "timed out" in kind["carol", "max_per_row"]
    assert reason["dave", "—"] == "worker crashed: MemoryError" and "error" in kind["dave", "—"]
    assert reason["dave", "all"] == "the worker produced no result"
    assert reason["grace", "—"] == "grading took longer than 600 s" and "timed out" in kind["grace", "—"]

    # only first lines of verdict messages, never the hidden tests' code
    for text in ("SECRET-DETAIL-ON-LINE-TWO", "Traceback", "you transposed", "x" * 200,
                 *hidden_test_lines()):
        assert text not in md
    assert "No problems" not in md

    # reading the gradebook added no course row (a Gradebook opened without course_id adds one)
    assert courses(course) == before


def test_report_without_problems(generated, tmp_path):
    course = make_course(generated, tmp_path, {"alice": [2, 2, 2, 2, 2, 1], "bob": [2, 0, 2, 0, 2, 1]},
                         {"alice": META["alice"], "bob": {"sandboxed": True, "exercises": passing(
                             outer_sum=verdict("outer_sum", "fail", "wrong"),
                             batch_flatten=verdict("batch_flatten", "fail", "wrong"))}})
    md = build_report(course, A, tmp_path / "out", grading_log={"bob": {"status": "graded"}}).read_text()
    assert "Students: 2 (2 with a submission, 0 without)" in md
    assert "Mean total: 9.00 / 11" in md and "Median total: 9 / 11" in md
    assert table(md, "## Submissions that need attention") == []
    assert "No problems" in md
    check_png(tmp_path / "out" / "scores.png")


def test_missing_gradebook_or_assignment(generated, tmp_path):
    with pytest.raises(FileNotFoundError):
        export_grades(tmp_path, A, tmp_path / "grades.csv")
    assert not (tmp_path / "gradebook.db").exists()
    with pytest.raises(ValueError, match="02_autograd"):
        export_grades(generated, "02_autograd", tmp_path / "grades.csv")

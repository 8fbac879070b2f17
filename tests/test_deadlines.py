"""Due dates and late work (autograder/instructor/deadlines.py): parsing, the penalty plugin, and
what grades.csv and report.md show, agreeing with plain `nbgrader export` on one gradebook."""

import csv
import os
import shutil
import subprocess
import sys
from datetime import datetime

import pytest

from autograder.instructor.deadlines import LatePenalty, describe_late, parse_due

from conftest import ROOT, copy_course, nbgrader

A = "01_tensor_ops"


@pytest.mark.parametrize("text, zone, utc", [
    ("2026-12-01 23:59", "UTC", datetime(2026, 12, 1, 23, 59)),
    ("2026-12-01 23:59", "Asia/Seoul", datetime(2026, 12, 1, 14, 59)),  # the course's zone
    ("2026-12-01T23:59:30+01:00", "Asia/Seoul", datetime(2026, 12, 1, 22, 59, 30)),  # an offset wins
    ("2026-12-01 23:59Z", "Asia/Seoul", datetime(2026, 12, 1, 23, 59)),
    ("2026-12-01 23:59 Europe/Paris", "UTC", datetime(2026, 12, 1, 22, 59)),
])
def test_parse_due(text, zone, utc):
    assert parse_due(text, zone) == utc


@pytest.mark.parametrize("text, words", [("next friday", "cannot read the due date"),
                                         ("2026-12-01 23:59 Mars/Olympus", "unknown time zone"),
                                         ("2026-13-01 23:59", "cannot read")])
def test_parse_due_refuses_with_one_line(text, words):
    with pytest.raises(ValueError, match=words) as info:
        parse_due(text, "UTC")
    assert "\n" not in str(info.value)


def test_per_hour_penalty_counts_started_hours_and_keeps_nbgraders_methods():
    per_hour = LatePenalty(penalty_method="per_hour", points_per_hour=1.5)
    assert per_hour.late_submission_penalty("s", 10.0, 1) == 1.5
    assert per_hour.late_submission_penalty("s", 10.0, 3600) == 1.5
    assert per_hour.late_submission_penalty("s", 10.0, 3601) == 3.0
    assert LatePenalty(penalty_method="zero").late_submission_penalty("s", 7.0, 5) == 7.0
    assert LatePenalty().late_submission_penalty("s", 7.0, 5) is None
    assert describe_late(3725) == "1 h 2 min late" and describe_late(0) == ""


def run(*args, cwd, ok=True):
    proc = subprocess.run([sys.executable, "-m", "autograder", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=600)
    if ok:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def submit(course, student, notebook, stamp):
    folder = course / "submitted" / student / A
    folder.mkdir(parents=True)
    shutil.copy(notebook, folder / f"{A}.ipynb")
    (folder / "timestamp.txt").write_text(stamp + "\n")


def rows_of(path):
    with open(path, newline="") as f:
        return {row.get("student") or row["student_id"]: row for row in csv.DictReader(f)}


@pytest.mark.slow
def test_grade_due_then_export_late_column_agrees_with_nbgrader_export(tmp_path):
    """`grade --due` (a zone of its own) stores the due date; the per-hour penalty is nbgrader's
    AssignLatePenalties; export's grades.csv and report.md show timestamp, lateness and penalty,
    and plain `nbgrader export` reads the same gradebook to the same timestamp, penalty, score."""
    course = copy_course(tmp_path / "course")
    with open(course / "nbgrader_config.py", "a") as f:
        f.write('\nc.LatePenalty.penalty_method = "per_hour"\nc.LatePenalty.points_per_hour = 1.0\n')
    solved = course / "source" / A / f"{A}.ipynb"
    submit(course, "ontime", solved, "2026-12-01 14:00:00.000000 UTC")
    submit(course, "late", solved, "2026-12-01 17:29:00.000000 UTC")  # 2 h 30 min after 23:59 KST
    bad = run("grade", A, "--due", "2026-12-01 26:00", cwd=course, ok=False)
    assert bad.returncode == 2 and "cannot read the due date" in bad.stderr and "Traceback" not in bad.stderr
    assert not (course / "gradebook.db").exists()  # nothing touched

    graded = run("grade", A, "--due", "2026-12-01 23:59 Asia/Seoul", "--no-progress", cwd=course)
    assert "due 2026-12-01 14:59 UTC (from --due)" in graded.stdout
    run("export", A, cwd=course)
    ours = rows_of(course / "reports" / A / "grades.csv")
    assert ours["ontime"]["late"] == "" and ours["ontime"]["seconds_late"] == "0"
    assert ours["late"]["late"] == "yes" and ours["late"]["seconds_late"] == "9000"
    assert ours["late"]["late_submission_penalty"] == "3"  # three started hours, 1 point each
    assert float(ours["late"]["score"]) == float(ours["late"]["raw_score"]) - 3 > 0
    assert ours["late"]["timestamp_source"] == "timestamp.txt"
    md = (course / "reports" / A / "report.md").read_text()
    assert "Due date: 2026-12-01 14:59:00 UTC" in md and "late (2 h 30 min late, penalty 3" in md

    nbgrader("export", "--to", str(tmp_path / "plain.csv"), cwd=course)
    plain = rows_of(tmp_path / "plain.csv")
    for student in ("ontime", "late"):
        assert plain[student]["duedate"].startswith("2026-12-01 14:59:00")
        assert plain[student]["timestamp"].startswith(ours[student]["timestamp"])
        for column in ("raw_score", "late_submission_penalty", "score", "max_score"):
            assert float(plain[student][column] or 0) == float(ours[student][column]), (student, column)

    # export --due moves the deadline: penalties computed again, and nbgrader export agrees
    run("export", A, "--due", "2026-12-02 00:00Z", cwd=course)
    ours = rows_of(course / "reports" / A / "grades.csv")
    assert ours["late"]["late"] == "" and ours["late"]["late_submission_penalty"] == "0"
    nbgrader("export", "--to", str(tmp_path / "plain2.csv"), cwd=course)
    assert float(rows_of(tmp_path / "plain2.csv")["late"]["late_submission_penalty"] or 0) == 0


@pytest.mark.slow  # imports nbgrader
@pytest.mark.filterwarnings("ignore:Object of type:sqlalchemy.exc.SAWarning")
def test_which_due_date_wins_and_penalties_follow_it(tmp_path):
    """--due over c.Deadlines.due (in the course's zone) over the gradebook's own; storing a new one
    computes the recorded penalties again with the course's plugin."""
    from nbgrader.api import Gradebook

    from autograder.instructor.deadlines import gradebook_due, reprice, resolve_due, settle_due, store_due, submissions
    (tmp_path / "nbgrader_config.py").write_text(
        'c = get_config()\nc.CourseDirectory.course_id = "c1"\nc.NbGraderAPI.timezone = "Asia/Seoul"\n'
        'c.Deadlines.due = {"hw": "2026-12-01 23:59"}\nc.LatePenalty.penalty_method = "zero"\n'
        'c.AssignLatePenalties.plugin_class = "autograder.instructor.deadlines.LatePenalty"\n')
    with Gradebook(f"sqlite:///{tmp_path / 'gradebook.db'}", course_id="c1") as gb:
        for name in ("hw", "other"):
            gb.add_assignment(name, duedate=datetime(2026, 11, 30, 12, 0))
            gb.add_notebook(name, name)
            gb.add_grade_cell("test_x", name, name, max_score=4, cell_type="code")
        gb.add_student("amy")
        gb.add_submission("hw", "amy", timestamp=datetime(2026, 12, 1, 15, 0))
        gb.find_grade("test_x", "hw", "hw", "amy").auto_score = 4
        gb.db.commit()

    assert resolve_due(tmp_path, "hw") == (datetime(2026, 12, 1, 14, 59), "nbgrader_config.py")
    assert resolve_due(tmp_path, "hw", "2026-12-02 00:00Z") == (datetime(2026, 12, 2), "--due")
    assert resolve_due(tmp_path, "other") == (datetime(2026, 11, 30, 12, 0), "gradebook")

    store_due(tmp_path, "hw", datetime(2026, 12, 1, 14, 59))  # amy: 1 min late, 'zero'
    assert reprice(tmp_path, "hw") == {"amy": 4.0}
    due, rows = submissions(tmp_path, "hw")
    assert (rows["amy"]["late"], rows["amy"]["seconds_late"], rows["amy"]["score"]) == ("yes", "60", "0")
    store_due(tmp_path, "hw", datetime(2026, 12, 2))
    assert reprice(tmp_path, "hw") == {"amy": 0.0}
    assert submissions(tmp_path, "hw")[1]["amy"]["late"] == ""

    # export (settle_due, not grading): the configured date is stored, penalties follow the policy now
    assert settle_due(tmp_path, "hw") == (datetime(2026, 12, 1, 14, 59), "nbgrader_config.py")
    assert submissions(tmp_path, "hw")[1]["amy"]["late_submission_penalty"] == "4"
    config = tmp_path / "nbgrader_config.py"
    config.write_text(config.read_text().replace('"zero"', '"none"'))
    settle_due(tmp_path, "hw")
    assert submissions(tmp_path, "hw")[1]["amy"]["late_submission_penalty"] == "0"
    # grading with nothing submitted stores nothing
    assert settle_due(tmp_path, "other", "2026-12-05 00:00", grading=True)[1] == "--due"
    assert gradebook_due(tmp_path, "other") == datetime(2026, 11, 30, 12, 0)
    with pytest.raises(ValueError, match="not in the gradebook"):
        store_due(tmp_path, "nope", datetime(2026, 12, 2))

    # the command: a bad configured date, or a due date for an assignment never graded: one line, exit 2
    (tmp_path / "source" / "nope").mkdir(parents=True)
    (tmp_path / "source" / "nope" / "nope.ipynb").write_text("{}")
    proc = run("export", "nope", "--due", "2026-12-02 00:00", cwd=tmp_path, ok=False)
    assert proc.returncode == 2 and "nope was never graded" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_configured_due_dates_are_read_through_the_deadlines_setting():
    from traitlets.config import Config

    from autograder.instructor.deadlines import configured_due
    config = Config()
    config.Deadlines.due = {A: "2026-12-01 23:59"}
    assert configured_due(config, A) == "2026-12-01 23:59" and configured_due(config, "02_autograd") is None
    assert configured_due(Config(), A) is None
    config.Deadlines.due = "2026-12-01"
    with pytest.raises(ValueError, match="must be a dict"):
        configured_due(config, A)

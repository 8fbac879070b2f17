"""Due dates and late work, kept where nbgrader keeps them: the gradebook.

    due = parse_due("2026-12-01 23:59", "Asia/Seoul")   # naive UTC, as nbgrader stores it
    resolve_due(root, assignment, option)               # (due, where it came from)
    store_due(root, assignment, due)                    # the gradebook's Assignment.duedate
    reprice(root, assignment)                           # late penalties again, after a new due date

A due date comes from, first to last: the command's `--due`, the course's
`c.Deadlines.due = {"01_tensor_ops": "2026-12-01 23:59"}` in nbgrader_config.py, the gradebook's
own (`nbgrader db assignment add 01_tensor_ops --duedate ...`, or the formgrader). The first two
are written to the gradebook, so that plain `nbgrader export` and the formgrader agree. A date
without a time zone is in the course's time zone: `c.NbGraderAPI.timezone` (what the formgrader
shows and reads due dates in; default UTC).

How late a submission is, and its penalty, are nbgrader's: the submission's time (its
`timestamp.txt`, read by autograde) minus the due date; the penalty comes from
`AssignLatePenalties` (in the course's autograde pipeline, so both engines and plain
`nbgrader autograde` apply it) with the plugin below.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from nbgrader.plugins import LateSubmissionPlugin
from traitlets import Dict, Enum, Float, TraitError
from traitlets.config import Configurable

FORMATS = "'YYYY-MM-DD HH:MM', optionally with seconds and a UTC offset (+09:00, Z) or a zone name"


class Deadlines(Configurable):
    """The course's due dates (nbgrader_config.py: `c.Deadlines.due`)."""

    due = Dict(help="{assignment: due date}, e.g. {'01_tensor_ops': '2026-12-01 23:59'}; a date "
                    "without a zone is in the course's time zone (c.NbGraderAPI.timezone)").tag(config=True)


class LatePenalty(LateSubmissionPlugin):
    """nbgrader's late penalty plugin ('none', 'zero') plus 'per_hour': `points_per_hour`
    for every hour or part of one late, per notebook; nbgrader caps a penalty at the
    notebook's score.

        c.AssignLatePenalties.plugin_class = "autograder.instructor.deadlines.LatePenalty"
        c.LatePenalty.penalty_method = "per_hour"
        c.LatePenalty.points_per_hour = 1.0
    """

    penalty_method = Enum(("none", "zero", "per_hour"), default_value="none",
                          help="'none': no penalty; 'zero': the notebook scores 0; 'per_hour': "
                               "points_per_hour for each started hour late").tag(config=True)
    points_per_hour = Float(0.0, help="points off per started hour late ('per_hour')").tag(config=True)

    def late_submission_penalty(self, student_id, score, total_seconds_late):
        if self.penalty_method == "per_hour":
            return math.ceil(total_seconds_late / 3600) * self.points_per_hour
        return super().late_submission_penalty(student_id, score, total_seconds_late)


# ---------------------------------------------------------------------------------------------
# Due dates


def course_timezone(config) -> str:
    """The course's time zone name (c.NbGraderAPI.timezone), default UTC."""
    if "NbGraderAPI" in config and "timezone" in config.NbGraderAPI:
        return str(config.NbGraderAPI.timezone)
    return "UTC"


def parse_due(text: str, timezone: str = "UTC") -> datetime:
    """`text` as a naive UTC datetime (how nbgrader stores due dates). A date without an offset
    or zone is in `timezone`. Raises ValueError with a one-line reason."""
    from dateutil.tz import gettz
    raw = str(text).strip()
    zone_name = None
    parts = raw.split()
    if len(parts) == 3:  # '2026-12-01 23:59 Asia/Seoul'
        raw, zone_name = " ".join(parts[:2]), parts[2]
    try:
        when = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"cannot read the due date {text!r}: use {FORMATS}") from None
    if when.tzinfo is None:
        zone = gettz(zone_name or timezone)
        if zone is None:
            raise ValueError(f"unknown time zone {zone_name or timezone!r} for the due date {text!r}")
        when = when.replace(tzinfo=zone)
    elif zone_name:
        raise ValueError(f"the due date {text!r} has both a UTC offset and a zone name")
    return (when - when.utcoffset()).replace(tzinfo=None)


def configured_due(config, assignment):
    """The course's due date text for `assignment` (c.Deadlines.due), or None."""
    try:
        due = Deadlines(config=config).due
    except TraitError:
        raise ValueError("c.Deadlines.due in nbgrader_config.py must be a dict {assignment: due date}") from None
    return due.get(assignment)


def _gradebook(root):
    """The course's gradebook (wherever `db_url` says), opened with the course id its assignments
    have (so opening it adds no 'default_course' row)."""
    from nbgrader.api import Gradebook

    from .nbgrader_api import db_url, read_gradebook
    rows = read_gradebook(root, "SELECT course_id FROM assignment LIMIT 1")
    return Gradebook(db_url(root), course_id=rows[0][0] if rows else "default_course")


def gradebook_due(root, assignment):
    """The gradebook's due date of `assignment` (naive UTC), or None. A course without a
    gradebook yet gets none (and no empty gradebook file)."""
    from nbgrader.api import MissingEntry

    from .nbgrader_api import read_gradebook
    if read_gradebook(root, "SELECT 1 FROM assignment WHERE name = :name", name=assignment) is None:
        return None
    with _gradebook(root) as gb:
        try:
            return gb.find_assignment(assignment).duedate
        except MissingEntry:
            return None


def resolve_due(root, assignment, option=None):
    """(due date as naive UTC or None, where it came from: '--due', 'nbgrader_config.py',
    'gradebook' or None). Raises ValueError for a date that cannot be read."""
    from .nbgrader_api import load_config
    config = load_config(root)
    zone = course_timezone(config)
    if option:
        return parse_due(option, zone), "--due"
    text = configured_due(config, assignment)
    if text:
        try:
            return parse_due(text, zone), "nbgrader_config.py"
        except ValueError as exc:
            raise ValueError(f"nbgrader_config.py, c.Deadlines.due[{assignment!r}]: {exc}") from None
    due = gradebook_due(root, assignment)
    return (due, "gradebook") if due is not None else (None, None)


def store_due(root, assignment, due):
    """Write `due` (naive UTC) as the gradebook's due date of `assignment`, which must be there
    (the grade command puts it there first). Returns the previous one."""
    from nbgrader.api import MissingEntry
    with _gradebook(root) as gb:
        try:
            found = gb.find_assignment(assignment)
        except MissingEntry:
            raise ValueError(f"{assignment} is not in the gradebook yet: grade it first") from None
        previous = found.duedate
        found.duedate = due
        gb.db.commit()
    return previous


def settle_due(root, assignment, option=None, grading=False, students=None):
    """The due date for a grade (`grading`) or export run, (due as naive UTC or None, origin):
    `resolve_due`'s, written to the gradebook when it came from `--due` or nbgrader_config.py,
    so that AssignLatePenalties and plain `nbgrader export` use it. The penalties recorded are
    computed again when grading changed the due date (for the students not graded again), and
    on every export with a due date (so that a policy changed in nbgrader_config.py after
    grading applies too). Grading nothing (no `students`, nothing in submitted/) leaves the
    gradebook alone; grading puts the assignment in it first. Raises ValueError with a one-line
    reason."""
    due, origin = resolve_due(root, assignment, option)
    if due is None:
        return due, origin
    changed = False
    if origin != "gradebook":
        if grading:
            from .gradelog import submitted_students
            if not (students or submitted_students(root, assignment)):
                return due, origin
            from .nbgrader_api import ensure_assignment
            ensure_assignment(root, assignment)
        changed = store_due(root, assignment, due) != due
    if changed or not grading:
        reprice(root, assignment)
    return due, origin


def reprice(root, assignment):
    """Each submitted notebook's late penalty again, as nbgrader's AssignLatePenalties sets it
    at grading, with the course's plugin: for a due date changed after grading (`export
    --due`). Returns {student: total penalty}."""
    from nbgrader.preprocessors import AssignLatePenalties

    from .nbgrader_api import load_config
    step = AssignLatePenalties(config=load_config(root))
    step.init_plugin()
    penalties = {}
    with _gradebook(root) as gb:
        for submission in gb.find_assignment(assignment).submissions:
            late = submission.total_seconds_late
            for notebook in submission.notebooks:
                notebook.late_submission_penalty = None
                if late > 0:
                    penalty = step.plugin_inst.late_submission_penalty(submission.student.id, notebook.score, late)
                    if penalty is not None:
                        notebook.late_submission_penalty = step._check_late_penalty(notebook, penalty)
            penalties[submission.student.id] = sum(nb.late_submission_penalty or 0.0 for nb in submission.notebooks)
        gb.db.commit()
    return penalties


def describe_late(seconds):
    """3725 -> '1 h 2 min late'; 0 -> ''."""
    if not seconds or seconds <= 0:
        return ""
    if seconds < 60:
        return "less than a minute late"
    delta = timedelta(seconds=round(seconds))
    days, rest = delta.days, delta.seconds
    hours, minutes = rest // 3600, (rest % 3600) // 60
    parts = ([f"{days} d"] if days else []) + ([f"{hours} h"] if hours else []) + \
            ([f"{minutes} min"] if minutes or not (days or hours) else [])
    return " ".join(parts) + " late"


# ---------------------------------------------------------------------------------------------
# What export shows


LATE_COLUMNS = ("timestamp", "timestamp_source", "duedate", "seconds_late", "late", "raw_score",
                "late_submission_penalty", "score", "max_score")


def submissions(root, assignment):
    """{student: {column: value}} for LATE_COLUMNS, from the gradebook (nbgrader export's fields:
    timestamp, duedate, raw_score, late_submission_penalty, score = raw_score - penalty,
    max_score; seconds_late, extensions included) and the collect log (where the time came
    from; `late` is 'yes' when the submission is past its due date or the LMS marked it late).
    Students without a submission get empty cells but for max_score."""
    from nbgrader.api import MissingEntry

    from .collect import TIMESTAMP_FORMAT, read_log
    collected = read_log(root, assignment)
    rows = {}
    with _gradebook(root) as gb:
        found = gb.find_assignment(assignment)
        due, max_score = found.duedate, found.max_score
        for student in sorted(s.id for s in gb.students):
            row = dict.fromkeys(LATE_COLUMNS, "")
            row["max_score"], row["duedate"] = _num(max_score), _stamp(due)
            try:
                sub = gb.find_submission(assignment, student)
            except MissingEntry:
                rows[student] = row
                continue
            entry = collected.get(student) or {}
            stamp = sub.timestamp
            if stamp is not None:
                same = entry.get("timestamp") == stamp.strftime(TIMESTAMP_FORMAT)
                row["timestamp_source"] = entry.get("timestamp_source", "") if same else "timestamp.txt"
            late = sub.total_seconds_late
            penalty = sub.late_submission_penalty or 0.0
            row.update(timestamp=_stamp(stamp), duedate=_stamp(sub.duedate), seconds_late=_num(late) if stamp else "",
                       late="yes" if late > 0 or entry.get("marked_late") else "",
                       raw_score=_num(sub.score), late_submission_penalty=_num(penalty),
                       score=_num(max(0.0, sub.score - penalty)))
            row["_marked_late"] = bool(entry.get("marked_late"))
            rows[student] = row
    return due, rows


def report_lines(due, rows):
    """report.md's lines on due date and late work."""
    if due is None and not any(r["late"] for r in rows.values()):
        return ["- Due date: none set (grade or export --due, or c.Deadlines.due in nbgrader_config.py)"]
    lines = [f"- Due date: {_stamp(due)} UTC" if due is not None else "- Due date: none set"]
    late = []
    for student, row in rows.items():
        if not row["late"]:
            continue
        seconds = float(row["seconds_late"] or 0)
        what = describe_late(seconds) or "on time by its timestamp"
        if row.get("_marked_late"):
            what += ", marked late by the LMS"
        if float(row["late_submission_penalty"] or 0):
            what += f", penalty {row['late_submission_penalty']} (score {row['score']})"
        late.append(f"{student} ({what})")
    lines.append(f"- Late ({len(late)}): {'; '.join(late)}" if late else "- Late: none")
    return lines


def _stamp(when):
    return when.strftime("%Y-%m-%d %H:%M:%S") if when is not None else ""


def _num(x):
    return f"{x:g}" if x is not None else ""

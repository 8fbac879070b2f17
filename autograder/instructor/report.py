"""Grades and a grading report for one assignment, from the gradebook and the autograded notebooks.

    export_grades(course_root, assignment, out_csv)   # grades.csv: one row per student
    build_report(course_root, assignment, out_dir)    # grades.csv, scores.png and report.md

Scores come from nbgrader's gradebook (`course_root/gradebook.db`, or wherever the course's
`c.CourseDirectory.db_url` says); each exercise's score is the sum of its test cells (grade_id
`test_<exercise id>...`, see `curriculum.exercise_of`). What
happened while grading comes from the verdicts the course's preprocessors store in each autograded
notebook (`nb.metadata["autograder"]`) and, when given, from the grade command's log. The report
quotes only those verdict messages: it never reads a cell's source, so hidden tests stay hidden.
"""

import csv
import json
import statistics
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry

from . import gradelog
from .curriculum import exercise_of, table
from .deadlines import LATE_COLUMNS, report_lines, submissions
from .nbgrader_api import db_url, describe, read_gradebook

STATUSES = ("pass", "fail", "error", "tampering", "timeout", "crashed")
# Verdicts an instructor should look at (a plain "fail" is a wrong answer, not a grading problem).
ATTENTION = {"error": "error", "tampering": "tampering", "timeout": "timed out (time limit)",
             "crashed": "crashed (killed, or hit the memory limit)"}
REASON_CHARS = 200


# --------------------------------------------------------------------------------------------
# Reading the gradebook


def _fmt(x):
    """A score as the CSV and the report show it: 2.0 -> '2', 1.5 -> '1.5'."""
    return f"{x:g}"


def _course_id(course_root):
    """The course that owns the gradebook's assignments (read-only), so that opening the
    Gradebook does not add nbgrader's 'default_course' row to the instructor's database."""
    rows = read_gradebook(course_root, "SELECT course_id FROM assignment LIMIT 1")
    return rows[0][0] if rows else "default_course"


def in_gradebook(course_root, assignment):
    """Whether the gradebook exists and holds `assignment` (read-only: changes nothing, creates
    no SQLite file; a server that cannot be read is a RuntimeError saying so)."""
    return bool(read_gradebook(course_root, "SELECT 1 FROM assignment WHERE name = :name", name=assignment))


def _scores(course_root, assignment):
    """Everything the CSV and the report need from the gradebook.

    Returns {"exercises": [ids], "notebooks": [names], "max": {ex: points}, "max_total": points,
    "students": {student id: None (no submission) | {"by_ex": {ex: score | None}, "total": score}}}.
    Grade cells that belong to no exercise count in the total only.
    """
    url = db_url(course_root)
    if read_gradebook(course_root, "SELECT 1 FROM assignment LIMIT 1") is None:
        raise FileNotFoundError(f"no gradebook at {describe(url)}: run `nbgrader generate_assignment` first")
    exercises = list(table().get(assignment, {}))
    with Gradebook(url, course_id=_course_id(course_root)) as gb:
        try:
            notebooks = gb.find_assignment(assignment).notebooks
        except MissingEntry:
            raise ValueError(f"assignment {assignment!r} is not in the gradebook {describe(url)}") from None
        max_by_ex = {ex: 0.0 for ex in exercises}
        max_total = 0.0
        for nb in notebooks:
            for cell in nb.grade_cells:
                max_total += cell.max_score or 0.0
                ex = exercise_of(cell.name, assignment)
                if ex is not None:
                    max_by_ex[ex] += cell.max_score or 0.0
        students = {}
        for student in sorted(s.id for s in gb.students):
            by_ex, total, found = {ex: None for ex in exercises}, 0.0, False
            for nb in notebooks:
                try:
                    submitted = gb.find_submission_notebook(nb.name, assignment, student)
                except MissingEntry:
                    continue
                found = True
                for grade in submitted.grades:
                    score = grade.score or 0.0
                    total += score
                    ex = exercise_of(grade.name, assignment)
                    if ex is not None:
                        by_ex[ex] = (by_ex[ex] or 0.0) + score
            students[student] = {"by_ex": by_ex, "total": total} if found else None
        names = [nb.name for nb in notebooks]
    due, late = submissions(course_root, assignment)
    return {"exercises": exercises, "notebooks": names, "max": max_by_ex, "max_total": max_total,
            "students": students, "due": due, "late": late}


# --------------------------------------------------------------------------------------------
# Who was graded: every student of the gradebook and every folder of submitted/

GRADED, NO_SUBMISSION, NOT_GRADED = "graded", "no submission", "not graded"
NEVER_GRADED = "never graded: run grade"


def _roster(course_root, assignment, data, grading_log):
    """{student: (status, reason)} for every student in the gradebook or with a
    submitted/<student>/<assignment>/ folder, sorted. Status: graded, error, timeout (the last
    grading of the student failed, says the log), not graded (a submission with no grade, or
    no autograded copy) or no submission. Only "graded" students count in means and totals."""
    root = Path(course_root)
    folders = set(gradelog.submitted_students(root, assignment))
    log = grading_log or {}
    roster = {}
    for student in sorted(set(data["students"]) | folders):
        row, entry = data["students"].get(student), log.get(student)
        status = entry.get("status") if isinstance(entry, dict) else None
        if status and status != GRADED:
            status = status if status in ("error", "timeout") else "error"
            roster[student] = (status, str(entry.get("reason") or "(no reason recorded)"))
        elif row is None:
            roster[student] = ((NOT_GRADED, NEVER_GRADED) if student in folders
                               else (NO_SUBMISSION, ""))
        elif not gradelog.has_autograded_copy(root, assignment, student):
            roster[student] = (NOT_GRADED, "no autograded copy under autograded/: run grade")
        elif (error := _recorded_error(root, assignment, student)) is not None:
            roster[student] = ("error", error)
        else:
            roster[student] = (GRADED, "")
    return roster


def _recorded_error(root, assignment, student):
    """Why the student's autograded copy says it could not be graded, or None if none says so."""
    for path in sorted((Path(root) / "autograded" / student / assignment).glob("*.ipynb")):
        try:
            meta = json.loads(path.read_text(encoding="utf-8")).get("metadata", {}).get("autograder", {})
        except (OSError, ValueError, AttributeError):
            return f"the autograded notebook {path.name} could not be read"
        if isinstance(meta, dict) and meta.get("error"):
            return str(meta["error"])
    return None


def _write_csv(data, roster, out_csv):
    late = data.get("late") or {}  # deadlines.submissions: nbgrader export's fields and the late flag
    out_csv = Path(out_csv)
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    with open(out_csv, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["student", *data["exercises"], "total", "max_total", "status", *LATE_COLUMNS])
        for student, (status, _) in roster.items():
            row = data["students"].get(student)
            if status == NO_SUBMISSION:
                cells, total = ["" for _ in data["exercises"]], _fmt(0.0)
            elif status != GRADED or row is None:  # no grade yet: blank, never a zero
                cells, total = ["" for _ in data["exercises"]], ""
            else:
                cells = ["" if row["by_ex"][ex] is None else _fmt(row["by_ex"][ex])
                         for ex in data["exercises"]]
                total = _fmt(row["total"])
            writer.writerow([student, *cells, total, _fmt(data["max_total"]), status,
                             *((late.get(student) or {}).get(c, "") for c in LATE_COLUMNS)])
    return out_csv


def _log_of(course_root, assignment, grading_log):
    return gradelog.read_log(course_root, assignment) if grading_log is None else grading_log


def export_grades(course_root: Path, assignment: str, out_csv: Path, grading_log: dict | None = None) -> Path:
    """Write one row per student in the gradebook or with a submitted/ folder (sorted by id):
    the points scored on each exercise (the sum of its test cells), the total (before any late
    penalty), the maximum total and the status (see `_roster`), then nbgrader export's fields and
    the late flag (`deadlines.LATE_COLUMNS`: timestamp and where it came from, duedate,
    seconds_late, late, raw_score, late_submission_penalty, score, max_score). A student without
    a grade (never graded, or their last grading failed) gets empty cells, never a zero; one
    without a submission a total of 0.
    `grading_log`: the grade command's log (default: reports/ASSIGNMENT/grading_log.json).
    Returns `out_csv`."""
    data = _scores(course_root, assignment)
    return _write_csv(data, _roster(course_root, assignment, data, _log_of(course_root, assignment, grading_log)),
                      out_csv)


# --------------------------------------------------------------------------------------------
# Reading the verdicts


def _reason(message, limit=REASON_CHARS):
    """The first non-empty line of a message, trimmed, safe inside a Markdown table cell."""
    lines = [line.strip() for line in str(message or "").splitlines() if line.strip()]
    line = lines[0] if lines else "(no message)"
    if len(line) > limit:
        line = line[: limit - 1].rstrip() + "…"
    return line.replace("\\", "\\\\").replace("|", "\\|").replace("`", "'")


def _repairs(verdicts):
    """[(student, notebook, repair)] as `RestoreStructure` recorded them in the autograded copies."""
    found = []
    for student, notebooks in verdicts.items():
        for name, meta in (notebooks or {}).items():
            repairs = meta.get("repairs") if isinstance(meta, dict) else None
            if isinstance(repairs, list):
                found += [(student, name, r) for r in repairs if isinstance(r, str)]
    return found


def _verdicts(course_root, assignment, notebooks, students):
    """{student: {notebook: metadata["autograder"] | {} (none stored) | None (no file)}}."""
    found = {}
    for student in students:
        for name in notebooks:
            path = Path(course_root) / "autograded" / student / assignment / f"{name}.ipynb"
            if not path.is_file():
                meta = None
            else:
                try:
                    meta = nbformat.read(str(path), as_version=4).metadata.get("autograder", {})
                except Exception as exc:  # a corrupt file is itself worth reporting
                    meta = {"error": f"the autograded notebook could not be read ({type(exc).__name__})"}
            found.setdefault(student, {})[name] = meta
    return found


def _problems(verdicts, exercises, grading_log):
    """Rows (student, notebook, exercise, problem, reason) that need an instructor's look."""
    rows = []
    order = {ex: i for i, ex in enumerate(exercises)}
    for student in sorted(set(verdicts) | set(grading_log or {})):
        entry = (grading_log or {}).get(student)
        if entry and entry.get("status", "graded") != "graded":
            status = entry.get("status")
            problem = "grading timed out" if status == "timeout" else f"grading {status}"
            if isinstance(entry.get("seconds"), (int, float)) and entry["seconds"] > 0:
                problem += f" after {entry['seconds']:.0f} s"
            rows.append((student, "", "—", problem, _reason(entry.get("reason"))))
        for name, meta in sorted(verdicts.get(student, {}).items()):
            if not meta:
                continue
            if "error" in meta:
                rows.append((student, name, "all", "not graded", _reason(meta["error"])))
            if meta.get("sandboxed") is False:
                rows.append((student, name, "all", "unsandboxed",
                             "graded without the sandbox (bubblewrap unavailable): student code "
                             "could reach the grader's files"))
            exs = meta.get("exercises") or {}
            for ex in sorted(exs, key=lambda e: (order.get(e, len(order)), e)):
                status = (exs[ex] or {}).get("status")
                if status in ATTENTION:
                    rows.append((student, name, ex, ATTENTION[status],
                                 _reason(exs[ex].get("message"))))
                for violation in _strings((exs[ex] or {}).get("violations")):
                    rows.append((student, name, ex, "violation", _reason(violation)))
            for key in ("notebook_violations", "kernel_violations"):
                for violation in _strings(meta.get(key)):
                    rows.append((student, name, "notebook", "violation", _reason(violation)))
            run = meta.get("feedback_run") if isinstance(meta.get("feedback_run"), dict) else {}
            for violation in _strings(run.get("violations")):
                rows.append((student, name, "notebook", "violation", _reason(f"in the feedback run: {violation}")))
        for violation in _strings(((entry or {}).get("timings") or {}).get("violations")):
            if not any(r[0] == student and r[3] == "violation" and r[4] == _reason(violation) for r in rows):
                rows.append((student, "", "—", "violation", _reason(violation)))
    return rows


def _strings(value):
    return [str(v) for v in value] if isinstance(value, list) else []


def _status_counts(verdicts, exercises):
    """{exercise: {status: count}} over the autograded notebooks, plus how many carry none."""
    counts = {ex: dict.fromkeys(STATUSES, 0) for ex in exercises}
    unverified = 0
    for per_nb in verdicts.values():
        for meta in per_nb.values():
            if meta is None:
                continue
            if not meta:
                unverified += 1
                continue
            if "error" in meta:  # the notebook could not be graded: every exercise errored
                for ex in exercises:
                    counts[ex]["error"] += 1
                continue
            for ex, verdict in (meta.get("exercises") or {}).items():
                status = (verdict or {}).get("status")
                if ex in counts and status in counts[ex]:
                    counts[ex][status] += 1
    return counts, unverified


# --------------------------------------------------------------------------------------------
# The plot


def _plot(data, submitted, path, assignment):
    """Per exercise, how many students got full, partial and zero marks; and the totals."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    exercises = data["exercises"]
    fig = Figure(figsize=(12, 5), layout="constrained")
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2, width_ratios=[3, 2])
    kinds = (("full", "#2a9d8f"), ("partial", "#e9c46a"), ("zero", "#e76f51"))
    tally = {k: [0] * len(exercises) for k, _ in kinds}
    for row in submitted.values():
        for i, ex in enumerate(exercises):
            score, best = row["by_ex"][ex] or 0.0, data["max"][ex]
            kind = "full" if best > 0 and score >= best else "zero" if score <= 0 else "partial"
            tally[kind][i] += 1
    ys = [len(exercises) - 1 - i for i in range(len(exercises))]  # first exercise on top
    left_edge = [0] * len(exercises)
    for kind, color in kinds:
        bars = left.barh(ys, tally[kind], left=left_edge, color=color, label=kind, edgecolor="white")
        left.bar_label(bars, labels=[str(n) if n else "" for n in tally[kind]], label_type="center")
        left_edge = [b + n for b, n in zip(left_edge, tally[kind])]
    left.set_yticks(ys, [f"{ex} (max {_fmt(data['max'][ex])})" for ex in exercises])
    left.set_xlabel("students")
    left.set_xlim(0, max(1, len(submitted)))
    left.xaxis.set_major_locator(MaxNLocator(integer=True))
    left.set_title("Marks per exercise")
    left.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncols=3, fontsize=9, frameon=False)

    totals = [row["total"] for row in submitted.values()]
    top = data["max_total"]
    if totals:
        if top <= 40 and float(top).is_integer():
            bins = [b - 0.5 for b in range(int(top) + 2)]
        else:
            bins = 20
        right.hist(totals, bins=bins, color="#264653", edgecolor="white")
        right.set_xlim(-0.5, max(top, max(totals)) + 0.5)
    else:
        right.text(0.5, 0.5, "no submissions", ha="center", va="center", transform=right.transAxes)
    right.xaxis.set_major_locator(MaxNLocator(integer=True))
    right.yaxis.set_major_locator(MaxNLocator(integer=True))
    right.set_xlabel(f"total points (max {_fmt(top)})")
    right.set_ylabel("students")
    right.set_title("Totals")
    fig.suptitle(f"{assignment} scores: {len(submitted)} of {len(data['students'])} students graded",
                 fontsize=13)
    fig.savefig(path, dpi=110)
    return path


# --------------------------------------------------------------------------------------------
# The report


def build_report(course_root: Path, assignment: str, out_dir: Path, grading_log: dict | None = None) -> Path:
    """Write grades.csv, scores.png and report.md into `out_dir`; returns report.md's path.

    `grading_log` is the grade command's {student: {"status", "reason", "seconds"}} (default:
    reports/ASSIGNMENT/grading_log.json). Every student with a submission is listed; those
    without a grade are named with the reason. Means, medians and percentages are over the
    graded students only: a student not graded is not a zero.
    """
    course_root, out_dir = Path(course_root), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    grading_log = _log_of(course_root, assignment, grading_log)
    data = _scores(course_root, assignment)
    roster = _roster(course_root, assignment, data, grading_log)
    _write_csv(data, roster, out_dir / "grades.csv")
    exercises = data["exercises"]
    submitted = {s: row for s, row in data["students"].items()
                 if row is not None and roster[s][0] == GRADED}  # counted in the means
    missing = [s for s, (status, _) in roster.items() if status == NO_SUBMISSION]
    ungraded = {s: v for s, v in roster.items() if v[0] not in (GRADED, NO_SUBMISSION)}
    _plot(data, submitted, out_dir / "scores.png", assignment)

    in_gradebook = [s for s, row in data["students"].items() if row is not None]
    verdicts = _verdicts(course_root, assignment, data["notebooks"], in_gradebook)
    counts, unverified = _status_counts(verdicts, exercises)
    problems = _problems(verdicts, exercises, grading_log)

    totals = [row["total"] for row in submitted.values()]
    n = len(submitted)
    lines = [f"# Grading report: {assignment}", ""]
    lines.append(f"- Students: {len(roster)} ({len(roster) - len(missing)} with a submission, "
                 f"{len(missing)} without)")
    lines.append(f"- Graded: {n}; not graded: {len(ungraded)}"
                 + (" (named below under \"Students without a grade\")" if ungraded else ""))
    if totals:
        lines.append(f"- Mean total: {statistics.mean(totals):.2f} / {_fmt(data['max_total'])}")
        lines.append(f"- Median total: {_fmt(statistics.median(totals))} / {_fmt(data['max_total'])}")
    else:
        lines.append("- Mean total: — (no graded submission)")
        lines.append("- Median total: — (no graded submission)")
    if missing:
        lines.append(f"- Without a submission (total 0 in grades.csv): {', '.join(_reason(s) for s in missing)}")
    lines += report_lines(data["due"], {s: data["late"][s] for s in submitted if s in data["late"]})
    if unverified:
        lines.append(f"- {unverified} autograded notebook(s) carry no verdicts (graded without the "
                     "course's preprocessors): they are missing from the status counts")
    lines.append("- Means, medians and percentages are over the graded students only: a student "
                 "without a grade is not counted as a zero (their row in grades.csv is blank, "
                 "with its status).")
    if ungraded:
        lines += ["", "## Students without a grade", ""]
        lines.append("Submitted, but not graded: not in the means, blank in grades.csv. Grade them "
                     "again (`grade ASSIGNMENT --student ID`) once the cause is fixed.")
        lines += ["", "| student | status | reason |", "|---|---|---|"]
        lines += [f"| {_reason(s)} | {status} | {_reason(reason)} |" for s, (status, reason) in ungraded.items()]
    lines += ["", "## Exercises", ""]
    lines.append("| exercise | max points | mean score | full marks | "
                 + " | ".join(STATUSES) + " |")
    lines.append("|---|---:|---:|---:|" + "---:|" * len(STATUSES))
    for ex in exercises:
        scores = [row["by_ex"][ex] or 0.0 for row in submitted.values()]
        best = data["max"][ex]
        mean = f"{statistics.mean(scores):.2f}" if scores else "—"
        full = (f"{100 * sum(s >= best for s in scores) / len(scores):.0f}%"
                if scores and best > 0 else "—")
        lines.append(f"| {ex} | {_fmt(best)} | {mean} | {full} | "
                     + " | ".join(str(counts[ex][s]) for s in STATUSES) + " |")
    lines += ["", "## Submissions that need attention", ""]
    if problems:
        lines.append("Errors, time-outs, crashes and limits, tampering, violations seen while grading "
                     "(forged or malformed messages, processes left behind, limits hit), and notebooks "
                     "graded without the sandbox (reasons are the first line of each message).")
        lines += ["", "| student | notebook | exercise | problem | reason |", "|---|---|---|---|---|"]
        lines += [f"| {s} | {nb or '—'} | {ex} | {problem} | {reason} |"
                  for s, nb, ex, problem, reason in problems]
    else:
        lines.append("No problems: every submission was graded in the sandbox, and no exercise "
                     "errored, timed out, crashed or was caught tampering.")
    repaired = _repairs(verdicts)
    if repaired:
        lines += ["", "## Structural slips repaired", ""]
        lines.append("Copied, edited or stripped test cells restored from the instructor's version, and "
                     "solutions found by name in another cell: each costs only what it broke, and the "
                     "student's feedback says so.")
        lines += ["", "| student | notebook | repair |", "|---|---|---|"]
        lines += [f"| {_reason(s)} | {_reason(nb)} | {_reason(r)} |" for s, nb, r in repaired]
    lines += ["", "## Score distribution", "", f"![Scores for {assignment}](scores.png)", ""]
    report = out_dir / "report.md"
    report.write_text("\n".join(lines), encoding="utf-8")
    return report

"""The grading log, `reports/<assignment>/grading_log.json`: the record of every grade run.

One entry per student who was ever graded: how their last grading went (status, reason,
seconds), each exercise's status and named mistake, and the fingerprint of what was graded.
A run MERGES its students into the log and keeps everybody else's entry, so that grading a
few students never makes the others disappear from the report. An unreadable log is moved
aside (`grading_log.json.corrupt-<n>`), never trusted and never a crash.

The fingerprint lets `grade` resume: a student whose submission (every file under
`submitted/<student>/<assignment>/`), the assignment's `source/`, `nbgrader_config.py` and the
grader's own code are byte for byte what their last successful grade saw, and whose autograded
copy is still there, need not be graded again. An instructor's fix to the source, the
configuration or the grader changes the fingerprint of everyone, so everyone is graded again.
"""

import hashlib
import json
import os
from pathlib import Path

LOG = "grading_log.json"


def submitted_students(root, assignment):
    """Every student with a submitted/<student>/<assignment>/ folder, sorted."""
    base = Path(root) / "submitted"
    return sorted(p.parent.name for p in base.glob(f"*/{assignment}") if p.is_dir())


def log_path(root, assignment):
    return Path(root) / "reports" / assignment / LOG


def _tree_digest(folder, digest):
    """Feed every file under `folder` (relative path, then bytes) into `digest`, in a fixed
    order. Links are not followed: a submission's link is hashed as its target's name."""
    folder = Path(folder)
    if not folder.is_dir():
        digest.update(b"\0missing\0")
        return
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix().encode("utf-8", "surrogateescape")
        if path.is_symlink():
            digest.update(b"L" + rel + b"\0" + os.readlink(path).encode("utf-8", "surrogateescape") + b"\0")
        elif path.is_file():
            if ".ipynb_checkpoints" in path.parts or "__pycache__" in path.parts:
                continue
            digest.update(b"F" + rel + b"\0")
            try:
                with open(path, "rb") as f:
                    while chunk := f.read(1 << 20):
                        digest.update(chunk)
            except OSError:  # unreadable: grading will say why; never the same as readable
                digest.update(b"\0unreadable\0")
            digest.update(b"\0")


GRADER = Path(__file__).resolve().parents[1]  # the autograder package doing the grading


def course_fingerprint(root, assignment):
    """sha256 of the assignment's source/ folder, of nbgrader_config.py and of the grader's own
    code (the `autograder` package: the judge's declarations and checks live there), so that
    any fix to what grades a submission regrades everyone."""
    digest = hashlib.sha256()
    _tree_digest(Path(root) / "source" / assignment, digest)
    _tree_digest(GRADER, digest)
    config = Path(root) / "nbgrader_config.py"
    digest.update(config.read_bytes() if config.is_file() else b"\0missing\0")
    return digest.hexdigest()


def submission_fingerprint(root, assignment, student):
    """sha256 of every file under submitted/<student>/<assignment>/ (a link in place of either
    folder is never followed: `planted` refuses such a submission)."""
    digest = hashlib.sha256()
    base = Path(root) / "submitted"
    if (base / student).is_symlink() or (base / student / assignment).is_symlink():
        digest.update(b"\0link\0")
    else:
        _tree_digest(base / student / assignment, digest)
    return digest.hexdigest()


def fingerprint(root, assignment, student, course=None):
    """What a grade of `student` was made from: {"submission": sha256, "course": sha256}."""
    return {"submission": submission_fingerprint(root, assignment, student),
            "course": course or course_fingerprint(root, assignment)}


def read_log(root, assignment, warn=None):
    """The log as {student: entry}; {} if there is none. An unreadable or malformed log is moved
    aside (its new name is passed to `warn`) and {} returned: the students it named are then
    graded again, and nothing is lost."""
    path = log_path(root, assignment)
    if not path.exists():
        return {}
    try:
        log = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(log, dict) or not all(isinstance(v, dict) for v in log.values()):
            raise ValueError("not a {student: entry} object")
        return log
    except (OSError, ValueError) as exc:
        n = 1
        while (aside := path.with_name(f"{LOG}.corrupt-{n}")).exists():
            n += 1
        os.replace(path, aside)
        if warn:
            warn(f"the grading log {path} could not be read ({type(exc).__name__}); "
                 f"moved aside to {aside.name}: its students will be graded again")
        return {}


def merge_log(root, assignment, entries, warn=None):
    """Write `entries` ({student: entry}) into the log, replacing those students' entries and
    keeping every other; atomically. Returns the log's path."""
    path = log_path(root, assignment)
    path.parent.mkdir(parents=True, exist_ok=True)
    log = read_log(root, assignment, warn)
    log.update(entries)
    partial = path.with_name(f".{LOG}.partial")
    partial.write_text(json.dumps(dict(sorted(log.items())), indent=1), encoding="utf-8")
    os.replace(partial, path)
    return path


def has_autograded_copy(root, assignment, student):
    folder = Path(root) / "autograded" / student / assignment
    return folder.is_dir() and any(folder.glob("*.ipynb"))


def unchanged(root, assignment, students, log):
    """The students of `students` whose last grade succeeded, was made from exactly what is
    there now (`fingerprint`), and whose autograded copy is still there."""
    course = course_fingerprint(root, assignment)
    same = []
    for student in students:
        entry = log.get(student) or {}
        if entry.get("status") != "graded" or not isinstance(entry.get("fingerprint"), dict):
            continue
        if (entry["fingerprint"] == fingerprint(root, assignment, student, course)
                and has_autograded_copy(root, assignment, student)):
            same.append(student)
    return same

"""What the name of an inbox entry says: whose submission it is, whether the LMS marked it late,
when nbgrader's exchange received it (see collect's module doc for the rules).

    lms_name("pat_lee_123456_late")                  # ('pat_lee', True)
    canvas_file("doejohn_LATE_12345_67890_hw.ipynb")  # ('doejohn', True, 'hw.ipynb')
    loose_file("HW1_jsmith_attempt_2026-12-01-23-59-12_hw.ipynb")  # Blackboard, or Canvas
    exchange_parts("alice+01_tensor_ops+2026-12-01 10:00:00.000000 UTC+x1")
    parse_timestamp("2026-12-01 10:00:00.000000 UTC")  # naive UTC, as nbgrader's parse_utc

Every name comes from a student: `printable` is how one is shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

_LMS_SUFFIX = re.compile(r"^(?P<id>.+?)(?P<late>_late)?_\d{3,}(?:_(?P<rest>.*))?$")
_CANVAS_FILE = re.compile(r"^(?P<id>.+?)(?P<late>_late)?_\d{3,}_\d+_(?P<file>.+\.ipynb)$", re.IGNORECASE)


def printable(text: str) -> str:
    """`text` with every control or other unprintable character escaped as Python would
    (``\\x1b``, ``\\n``): names come from students and are never printed raw."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in str(text))


def lms_name(name: str) -> tuple[str, bool]:
    """(student id, whether the name marks the submission late) for an inbox entry named
    ``name`` (folder name or zip stem); see collect's module doc."""
    sid = name.strip().lower()
    m = _LMS_SUFFIX.match(sid)
    if m and m.group("id").rstrip("_ ").strip():
        late = bool(m.group("late")) or "late" in (m.group("rest") or "").split("_")
        return m.group("id").rstrip("_ ").strip(), late
    return sid, False


def student_id(name: str) -> str:
    """The student id for an inbox entry named ``name`` (folder name or zip stem); see collect's module doc."""
    return lms_name(name)[0]


def canvas_file(name: str) -> tuple[str, bool, str] | None:
    """(student id, marked late, the student's own file name) for a file of a Canvas bulk download,
    ``<name>[_LATE]_<user id>_<attachment id>_<file>.ipynb``; None for any other name."""
    m = _CANVAS_FILE.match(name.strip())
    if not m or not m.group("id").strip("_ "):
        return None
    return m.group("id").strip("_ ").lower(), bool(m.group("late")), m.group("file")


def parse_timestamp(text: str) -> datetime | None:
    """A timestamp as nbgrader writes them ('2026-12-01 23:59:12.123456 UTC', or with a numeric
    offset or zone name) as naive UTC, the way nbgrader's ``parse_utc`` reads it; None if unreadable."""
    import dateutil.parser
    import dateutil.tz
    parts = str(text).strip().split(" ")
    try:
        if len(parts) == 3:
            try:
                zone = int(parts[2])
            except ValueError:
                zone = dateutil.tz.gettz(parts[2])
            when = dateutil.parser.parse(" ".join(parts[:2] + ["TZ"]), tzinfos={"TZ": zone})
        else:
            when = dateutil.parser.parse(str(text).strip())
    except (ValueError, OverflowError, TypeError):
        return None
    if when.tzinfo is not None:
        when = (when - when.utcoffset()).replace(tzinfo=None)
    return when


def exchange_parts(name: str) -> tuple[str, str, str] | None:
    """(student, assignment, timestamp text) of a folder of nbgrader's exchange inbound,
    ``<student>+<assignment>+<timestamp>[+<random>]``; None for any other name."""
    parts = name.split("+")
    return (parts[0], parts[1], parts[2]) if len(parts) >= 3 else None


@dataclass
class LooseFile:
    """What the name of a file lying in the inbox itself says, in an LMS's bulk download."""
    student: str
    own_name: str  # the file's name as the student handed it in ('' for an LMS receipt)
    late: bool = False  # the LMS marked it late (Canvas)
    stamp: datetime | None = None  # when the LMS received it (Blackboard), in the LMS's local time


_BLACKBOARD_FILE = re.compile(r"^(?:.*_)?(?P<id>[^_]+)_attempt_(?P<stamp>\d{4}(?:-\d{2}){5})"
                              r"(?:_(?P<file>.+)|\.txt)$")


def loose_file(name: str) -> LooseFile | None:
    """A Canvas notebook (`canvas_file`) or any file of a Blackboard download,
    ``<assignment>_<user>_attempt_<YYYY-MM-DD-HH-MM-SS>[_<file>|.txt]`` (the time of the attempt
    in the LMS's local time; the ``.txt`` is its receipt); None for any other name."""
    m = _BLACKBOARD_FILE.match(name.strip())
    if m and m.group("id").strip():
        try:
            stamp = datetime.strptime(m.group("stamp"), "%Y-%m-%d-%H-%M-%S")
        except ValueError:
            stamp = None
        if stamp is not None:
            return LooseFile(m.group("id").strip().lower(), m.group("file") or "", False, stamp)
    canvas = canvas_file(name)
    return LooseFile(canvas[0], canvas[2], canvas[1]) if canvas else None

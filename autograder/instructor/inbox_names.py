"""What the name of an inbox entry says: whose submission it is, whether the LMS marked it late,
when nbgrader's exchange received it (see collect's module doc for the rules).

    lms_name("pat_lee_123456_late")                  # ('pat_lee', True)
    canvas_file("doejohn_LATE_12345_67890_hw.ipynb")  # ('doejohn', True, 'hw.ipynb')
    exchange_parts("alice+01_tensor_ops+2026-12-01 10:00:00.000000 UTC+x1")
    parse_timestamp("2026-12-01 10:00:00.000000 UTC")  # naive UTC, as nbgrader's parse_utc

Every name comes from a student: `printable` is how one is shown.
"""

from __future__ import annotations

import re
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

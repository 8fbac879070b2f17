"""Import submissions exported from an LMS (or copied into folders) into nbgrader's layout.

    report = collect(Path("inbox"), Path("."), "01_tensor_ops", ["01_tensor_ops"])
    print(report.summary())

writes ``submitted/<student>/01_tensor_ops/01_tensor_ops.ipynb`` and ``timestamp.txt`` for every
student it can, and lists every problem it met instead of stopping at the first one. The inbox
is only ever read: nothing in it is modified, moved or deleted, and zip members are read with
``ZipFile.open`` (never extracted), so member names such as ``../x`` or ``/etc/x`` cannot write
anywhere: the destination path is built from the student id and the expected notebook name only.

The inbox
---------
One entry per student: a folder ``<name>/`` or a zip ``<name>.zip`` (any case of ``.zip``), or
files lying in the inbox itself as an LMS's bulk download names them, one entry per student,
each file under its own name: Canvas's notebooks
``<name>[_LATE]_<user id>_<attachment id>_<file>.ipynb``, Blackboard's files
``<assignment>_<user>_attempt_<YYYY-MM-DD-HH-MM-SS>_<file>`` and receipts (``...<time>.txt``),
the attempt's time read in `collect`'s ``timezone`` (the course's). A symbolic link inside a folder is
never followed (reported as ``skipped``). Entries whose name starts with ``.`` and ``__MACOSX`` are
ignored, at any depth inside a submission too (so ``.ipynb_checkpoints`` copies are never
candidates). Other top-level files are reported as ``extra`` with student ``''``; files inside a
submission that are not notebooks as ``skipped``, with the student.

nbgrader's exchange inbound (``<exchange>/<course>/inbound``) is read as it is: a folder
``<student>+<assignment>+<timestamp>[+<random>]`` is that student's submission (the student is
the part before the first ``+``, used as it is), one of another assignment is ``skipped``, and
of several the latest (by its ``timestamp.txt``, else the folder name's timestamp) is kept.
Pointed at the exchange itself or its course folder, collect refuses and names the inbound folder.

Student ids
-----------
``<name>`` (folder name or zip stem) stripped and lowercased. If it then has the form
``<id>_<digits>`` or ``<id>_<digits>_<anything>`` with at least 3 digits and a non-empty
``<id>``, the LMS suffix is dropped and the id is the part before that first ``_<digits>``:
``alice_12345_late.zip`` -> ``alice``, ``Bob_Smith_998877.zip`` -> ``bob_smith``. Shorter digit
groups are kept (``team_07`` stays ``team_07``), as is everything else (``bob_smith``). A
``late`` right before the digits (Canvas's ``doejohn_LATE_12345_67890``) is dropped too; a
``late`` there or among the ``_``-separated words after them (``pat_lee_123456_late.zip``)
means the LMS marked the submission late: reported as ``late`` and kept in the submission time's
record (`SubmissionTime.marked_late`), never silently dropped. A name with control characters
(an escape sequence, a carriage return) is no student id: reported as ``extra``, not collected.
Every name in the report is printed with such characters escaped (`printable`).
Two entries that map to the same id are a ``duplicate``: the most recently modified is kept
(a zip's own modification time; for a folder, the newest modification time of the folder and
anything in it; ties go to the entry whose name sorts last).

Matching notebooks
------------------
Each file ending in ``.ipynb`` (any case) anywhere in a submission is compared with each expected
notebook name (given without extension) in three tiers:

0. exact: the file name is ``<name>.ipynb``;
1. same normalized name: lowercase, every run of characters other than letters and digits
   becomes one ``_``, leading/trailing ``_`` dropped, leading ``copy_of_`` dropped
   (``Copy of 01-Tensor Ops.ipynb`` -> ``01_tensor_ops``);
2. normalized name starts with the expected one followed by ``_`` (a suffix:
   ``01_tensor_ops (1).ipynb``, ``01_tensor_ops-1.ipynb``, ``01_tensor_ops_alice.ipynb``).

A file belongs to the expected notebook it matches in the best tier (on a tie, the longest
expected name, so ``01_ops_extra`` is not taken for ``01_ops``). For each expected notebook the
best candidate wins: lowest tier, then most recently modified, then path. Anything but tier 0 is
reported as ``renamed``; several candidates are reported as ``duplicate`` (naming the one kept);
no candidate is ``missing``; ``.ipynb`` files that match no expected notebook are ``extra``. When
the assignment has exactly one notebook and a submission holds exactly one ``.ipynb`` matching
nothing (``homework.ipynb``), that one is taken for it and reported as ``renamed``.

Limits
------
Nothing a submission holds is trusted to be small (a 509 KiB zip once made collect read 1 GiB):
a zip with more than `MAX_MEMBERS` members is refused whole (counted from its end record, before
its member list is read), and a notebook whose size (a zip member's declared size, which zipfile
never reads past) is over `MAX_NOTEBOOK_BYTES`, or that would take what is read of one entry
past `MAX_ENTRY_BYTES`, is not read and not collected (``unreadable``, saying which limit).

Validation
----------
The chosen file must be non-empty (else ``empty``), JSON (else ``invalid_json``) and a notebook of
format 4 that nbformat can read: a JSON object with a list of ``cells`` (else ``bad_nbformat``).
A notebook of format 1 to 3 is upgraded to format 4 with nbformat, as Jupyter does when it opens
one and as grading reads one put in ``submitted/`` directly, and reported as ``upgraded``.
Such files are not collected, and another candidate is not tried in their place (the student's
latest file is what they meant to hand in; the problem tells the instructor what to look at).
A notebook nbformat reads but whose schema validation fails is still collected: nbgrader copes.

Output
------
The bytes are copied unchanged (but an upgraded notebook's). ``timestamp.txt`` holds the
submission's time as ``YYYY-mm-dd HH:MM:SS.ffffff UTC`` (what nbgrader's ``parse_utc`` reads):
the exchange's (its ``timestamp.txt``, else its folder name's), else the LMS's file name's
(Blackboard's attempt), else the newest modification
time of the collected notebooks: for a file its mtime; for a zip member the member's
``date_time``, which zip stores without a time zone and is taken as UTC. Where each student's
time came from (`TIME_SOURCES`) is in `CollectReport.times`, which `write_log` keeps in
``reports/<assignment>/collect_log.json`` for export's late column. A student's ``submitted/<student>/<assignment>/`` folder
is replaced as a whole when at least one notebook was collected for them (so a re-collect never
mixes old and new files), and left as it was when none was.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import dateutil.tz
import nbformat.reader

from .inbox_names import LooseFile, exchange_parts, lms_name, loose_file, parse_timestamp, printable, student_id

__all__ = ["Problem", "Collected", "CollectReport", "SubmissionTime", "collect", "student_id", "lms_name",
           "match_tier", "write_log", "read_log", "LOG_NAME"]
LOG_NAME = "collect_log.json"  # in reports/<assignment>/

KINDS = ("missing", "renamed", "invalid_json", "bad_nbformat", "empty", "duplicate", "unreadable", "extra",
         "skipped", "upgraded", "late")
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f UTC"
# Where a submission's time came from (CollectReport.times, the collect log, grades.csv).
TIME_SOURCES = {"exchange": "timestamp.txt of nbgrader's exchange", "exchange_name": "the exchange folder's name",
                "lms_name": "the LMS's file name (Blackboard's attempt time)",
                "zip_member": "the zip member's date", "file_mtime": "the file's modification time",
                "entry_mtime": "the inbox entry's modification time"}
PROGRESS_FROM = 20  # entries: a progress bar from this many on
MiB = 1 << 20
MAX_NOTEBOOK_BYTES = 64 * MiB  # one notebook (a zip member: uncompressed)
MAX_ENTRY_BYTES = 256 * MiB  # everything read of one student's entry
MAX_MEMBERS = 10_000  # members of one zip


class TooLarge(ValueError):
    """A submission over one of the limits (the message says which)."""

_NON_ALNUM = re.compile(r"[^0-9a-z]+")


@dataclass
class Problem:
    student: str  # student id ('' if unknown)
    kind: str  # one of KINDS
    detail: str  # a sentence an instructor understands, naming the file

    def __post_init__(self):
        self.student, self.detail = printable(self.student), printable(self.detail)


@dataclass
class Collected:
    student: str
    source: str  # path of the original, relative to the inbox ('alice.zip!sub/01_tensor_ops (1).ipynb')
    dest: Path


@dataclass
class SubmissionTime:
    """When a student's collected submission was handed in, and how we know."""
    timestamp: datetime  # naive UTC, as written to timestamp.txt
    source: str  # a key of TIME_SOURCES
    entry: str  # the inbox entry it came from
    marked_late: bool = False  # the LMS's name says late ('pat_lee_123456_late.zip')


@dataclass
class CollectReport:
    collected: list[Collected] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    times: dict[str, SubmissionTime] = field(default_factory=dict)  # per student collected
    expected: dict[str, list[str]] = field(default_factory=dict)  # per student seen: the notebooks wanted

    def not_collected(self) -> dict[str, list[str]]:
        """{student: [notebooks expected of them and not collected]}, for every student with one."""
        got: dict[str, set[str]] = {}
        for c in self.collected:
            got.setdefault(c.student, set()).add(c.dest.stem)
        return {s: missing for s, names in sorted(self.expected.items())
                if (missing := [n for n in names if n not in got.get(s, set())])}

    def summary(self) -> str:
        students = len({c.student for c in self.collected})
        lines = [f"Collected {len(self.collected)} notebook(s) for {students} student(s); "
                 f"{len(self.problems)} problem(s)."]
        counts = Counter(p.kind for p in self.problems)
        if counts:
            lines.append("  " + ", ".join(f"{kind}: {counts[kind]}" for kind in KINDS if counts[kind]))
        for p in self.problems:
            lines.append(f"[{p.kind}] {p.student or '?'}: {p.detail}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Names


def _normalize(stem: str) -> str:
    norm = _NON_ALNUM.sub("_", stem.lower()).strip("_")
    while norm.startswith("copy_of_"):
        norm = norm[len("copy_of_"):]
    return norm


def match_tier(filename: str, expected: str) -> int | None:
    """0 exact, 1 same normalized name, 2 normalized name plus a suffix, None no match."""
    if not filename.lower().endswith(".ipynb"):
        return None
    if filename == f"{expected}.ipynb":
        return 0
    norm, want = _normalize(filename[: -len(".ipynb")]), _normalize(expected)
    if not norm or not want:
        return None
    if norm == want:
        return 1
    if norm.startswith(want + "_"):
        return 2
    return None


LONE = 3  # the tier of a submission's only notebook, taken for the assignment's only one


def _ignored(parts) -> bool:
    return any((p.startswith(".") and p not in (".", "..")) or p == "__MACOSX" for p in parts)


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC).replace(tzinfo=None)


# ---------------------------------------------------------------------------------------------
# Submissions: a folder or a zip, seen as a list of files that can be read


@dataclass
class _File:
    relpath: str  # inside the submission, '/'-separated
    source: str  # as reported: 'alice/sub/x.ipynb' or 'alice.zip!sub/x.ipynb'
    mtime: datetime  # naive UTC
    member: zipfile.ZipInfo | None = None  # for a zip
    link: bool = False  # a symbolic link in a folder: never followed

    @property
    def name(self) -> str:
        return PurePosixPath(self.relpath).name


class _Entry:
    def __init__(self, path: Path):
        self.path = path
        self.label = path.name + ("/" if path.is_dir() else "")
        self.is_zip = not path.is_dir()
        self.sid, self.late = lms_name(path.stem if self.is_zip else path.name)
        self.stamp: datetime | None = None  # from the exchange, when it is one of its folders
        self.stamp_source = ""
        self.exchange = exchange_parts(path.name) if path.is_dir() else None
        if self.exchange:
            self.sid, self.late = self.exchange[0].strip(), False
            self.stamp, self.stamp_source = parse_timestamp(self.exchange[2]), "exchange_name"
            written, stamp_file = None, path / "timestamp.txt"
            try:
                if stamp_file.is_file() and not stamp_file.is_symlink():  # never a link, never more than a line
                    with open(stamp_file, "rb") as fh:
                        written = parse_timestamp(fh.read(200).decode("utf-8", errors="replace"))
            except OSError:
                pass
            if written is not None:
                self.stamp, self.stamp_source = written, "exchange"

    def modified(self) -> float:
        """For duplicates: a zip's own mtime; a folder's newest mtime, itself included (hidden files not)."""
        newest = self.path.stat().st_mtime
        if not self.is_zip:
            for dirpath, dirnames, filenames in os.walk(self.path):
                dirnames[:] = [d for d in dirnames if not _ignored([d])]
                for n in dirnames + [f for f in filenames if not _ignored([f])]:
                    try:
                        newest = max(newest, os.stat(os.path.join(dirpath, n), follow_symlinks=False).st_mtime)
                    except OSError:
                        pass
        return newest

    def when(self) -> datetime:
        """For duplicates: the exchange's time of submission, else `modified()`, as naive UTC."""
        return self.stamp if self.stamp is not None else _utc(self.modified())

    def open(self):
        return _ZipSubmission(self) if self.is_zip else _FolderSubmission(self)


class _LooseEntry(_Entry):
    """A student's files lying in the inbox itself, named as an LMS's bulk download names them
    (`inbox_names.loose_file`): Canvas's late mark, Blackboard's time of the attempt."""

    def __init__(self, sid: str, files: list[tuple[Path, LooseFile]], zone):
        self.files = sorted(files, key=lambda pf: pf[0].name)
        self.path = self.files[0][0]
        self.label = self.path.name + (f" (and {len(files) - 1} more)" if len(files) > 1 else "")
        self.is_zip, self.sid, self.exchange = False, sid, None
        self.late = any(f.late for _, f in files)
        stamps = [f.stamp.replace(tzinfo=zone) for _, f in files if f.stamp is not None]
        self.stamp = max(stamps).astimezone(UTC).replace(tzinfo=None) if stamps else None
        self.stamp_source = "lms_name" if stamps else ""

    def modified(self) -> float:
        return max(p.stat().st_mtime for p, _ in self.files)

    def open(self):
        return _LooseSubmission(self)


class _FolderSubmission:
    def __init__(self, entry: _Entry):
        self.root, self.budget = entry.path, _Budget()
        self.files = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(d for d in dirnames if not _ignored([d]))
            for d in [d for d in dirnames if (Path(dirpath) / d).is_symlink()]:  # reported, never walked
                rel = (Path(dirpath) / d).relative_to(self.root).as_posix()
                self.files.append(_File(rel, f"{entry.path.name}/{rel}", datetime.min, link=True))
                dirnames.remove(d)
            for n in sorted(filenames):
                if _ignored([n]):
                    continue
                full = Path(dirpath) / n
                rel = full.relative_to(self.root).as_posix()
                try:
                    mtime = _utc(full.stat().st_mtime)
                except OSError:
                    mtime = datetime.min
                self.files.append(_File(rel, f"{entry.path.name}/{rel}", mtime, link=full.is_symlink()))

    def read(self, f: _File) -> bytes:
        with open(self.root / f.relpath, "rb") as fh:
            return self.budget.read(fh, os.fstat(fh.fileno()).st_size, f.source)

    def close(self):
        pass


class _LooseSubmission:
    """A `_LooseEntry`'s files, each under the student's own file name."""

    def __init__(self, entry: _LooseEntry):
        self.files, self.paths, self.budget = [], {}, _Budget()
        for path, named in entry.files:
            self.files.append(_File(named.own_name or path.name, path.name, _utc(path.stat().st_mtime)))
            self.paths[path.name] = path

    def read(self, f: _File) -> bytes:
        with open(self.paths[f.source], "rb") as fh:
            return self.budget.read(fh, os.fstat(fh.fileno()).st_size, f.source)

    def close(self):
        pass


class _ZipSubmission:
    def __init__(self, entry: _Entry):
        members = _zip_members(entry.path)
        if members > MAX_MEMBERS:
            raise TooLarge(f"it has {members} members, more than the {MAX_MEMBERS} a submission may have")
        self.zf = zipfile.ZipFile(entry.path)  # raises BadZipFile / OSError for a corrupt zip
        self.files, self.budget = [], _Budget()
        try:
            for info in self.zf.infolist():
                if info.is_dir():
                    continue
                rel = info.filename.replace("\\", "/")
                parts = [p for p in rel.split("/") if p not in ("", ".")]
                if not parts or _ignored(parts):
                    continue
                try:
                    mtime = datetime(*info.date_time)
                except ValueError:  # a zip with a nonsense date (month 0)
                    mtime = datetime.min
                self.files.append(_File(rel, f"{entry.path.name}!{rel}", mtime, info))
        except Exception:
            self.zf.close()
            raise
        self.files.sort(key=lambda f: f.relpath)

    def read(self, f: _File) -> bytes:
        # zipfile never decompresses past the member's declared size (and then checks its CRC),
        # so the declared size bounds what is read
        with self.zf.open(f.member) as fh:
            return self.budget.read(fh, f.member.file_size, f.source)

    def close(self):
        self.zf.close()


def _zip_members(path: Path) -> int:
    """How many members the zip at `path` says it has, from its end of central directory record
    (what zipfile reads first), before a list of them is built; 0 if there is no such record
    (zipfile then refuses the file)."""
    with open(path, "rb") as fp:
        end = zipfile._EndRecData(fp)  # the stdlib's own reader of that record
    return end[zipfile._ECD_ENTRIES_TOTAL] if end else 0


class _Budget:
    """What may still be read of one entry (`MAX_ENTRY_BYTES`), one file at a time
    (`MAX_NOTEBOOK_BYTES`)."""

    def __init__(self):
        self.left = MAX_ENTRY_BYTES

    def read(self, fh, size: int, source: str) -> bytes:
        """The file `fh` of `size` bytes (as stat or the zip says), read only if it is within
        both limits; never more than `size` bytes are read (one more says that it lied)."""
        limit = min(MAX_NOTEBOOK_BYTES, self.left)
        if size > limit:
            raise TooLarge(_too_large(size, limit))
        data = fh.read(size + 1)
        if len(data) > size:
            raise TooLarge(f"it holds more than the {size} bytes it declares")
        self.left -= len(data)
        return data


def _too_large(size: int, limit: int) -> str:
    which = ("the largest notebook collect reads" if limit == MAX_NOTEBOOK_BYTES
             else "what is left of the most collect reads of one submission")
    return f"{size / MiB:.1f} MiB uncompressed, over {limit / MiB:.0f} MiB, {which}"


# ---------------------------------------------------------------------------------------------
# Validation


def upgrade(data: bytes) -> bytes:
    """A notebook of format 1 to 3 as format 4, as Jupyter converts it when it opens one
    (``nbformat.reads(..., as_version=4)``), its cell ids numbered (not random: the same bytes
    every time, so a re-collect changes nothing); raises what nbformat raises."""
    nb = nbformat.reads(data.decode("utf-8-sig"), as_version=4)
    for i, cell in enumerate(nb.cells):
        cell.id = f"upgraded-{i}"
    return nbformat.writes(nb).encode()


def _validate(data: bytes, source: str) -> tuple[bytes | None, tuple[str, str] | None]:
    """(the bytes to collect or None, a problem (kind, detail) or None); see the module doc."""
    if not data:
        return None, ("empty", f"'{source}' is empty (0 bytes); not collected.")
    try:
        nb = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as e:
        return None, ("invalid_json", f"'{source}' is not valid JSON ({_short(e)}), so not a notebook; "
                                      f"not collected.")
    if not isinstance(nb, dict) or "cells" not in nb and "worksheets" not in nb:
        return None, ("bad_nbformat", f"'{source}' is JSON but not a Jupyter notebook (no 'cells'); not collected.")
    major = nb.get("nbformat")
    if isinstance(major, int) and 1 <= major < 4:
        try:
            return upgrade(data), ("upgraded", f"'{source}' is in notebook format {major}; upgraded to format 4 "
                                               f"(as Jupyter does when it opens it) and collected.")
        except Exception as e:
            return None, ("bad_nbformat", f"'{source}' is in notebook format {major} and cannot be upgraded "
                                          f"to format 4 ({_short(e)}); not collected.")
    if major != 4:
        return None, ("bad_nbformat", f"'{source}' is in notebook format {major} (nbgrader needs format 4); "
                                      f"not collected.")
    if not isinstance(nb.get("cells"), list):
        return None, ("bad_nbformat", f"'{source}' is JSON but not a Jupyter notebook (no list of 'cells'); "
                                      f"not collected.")
    try:
        nbformat.reader.reads(data)
    except Exception as e:
        return None, ("bad_nbformat", f"nbformat cannot read '{source}' ({_short(e)}); not collected.")
    return data, None


def _short(e: Exception) -> str:
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    return text if len(text) <= 120 else text[:117] + "..."


# ---------------------------------------------------------------------------------------------
# Writing


def _write_submission(dest: Path, notebooks: dict[str, bytes], timestamp: datetime) -> None:
    """Replace ``dest`` (submitted/<student>/<assignment>) with these notebooks and timestamp.txt."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        for name, data in notebooks.items():
            (tmp / f"{name}.ipynb").write_bytes(data)
        (tmp / "timestamp.txt").write_text(timestamp.strftime(TIMESTAMP_FORMAT) + "\n")
        if dest.is_dir() and not dest.is_symlink():
            shutil.rmtree(dest)
        elif dest.exists() or dest.is_symlink():
            dest.unlink()
        tmp.rename(dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# ---------------------------------------------------------------------------------------------
# The whole thing


def _inside(child: Path, parent: Path) -> bool:
    try:
        child.relative_to(parent)
        return True
    except ValueError:
        return False


def _exchange_inbound_below(inbox: Path) -> Path | None:
    """``<inbox>/inbound`` or ``<inbox>/<course>/inbound`` when it holds exchange submissions."""
    try:
        below = [inbox / "inbound"] + [p / "inbound" for p in inbox.iterdir() if p.is_dir()]
        for candidate in below:
            if candidate.is_dir() and any(exchange_parts(q.name) for q in candidate.iterdir()):
                return candidate
    except OSError:
        pass
    return None


def collect(inbox: Path, course_root: Path, assignment: str, notebooks: list[str],
            progress: bool = False, timezone: str = "UTC") -> CollectReport:
    """Copy each student's notebooks from ``inbox`` to ``course_root/submitted``; see the module doc.
    `progress`: a progress bar (tqdm, on stderr) when there are `PROGRESS_FROM` entries or more.
    `timezone`: the LMS's local time zone, for times read from file names (the course's).
    Raises NotADirectoryError (no inbox) or ValueError (the inbox and submitted/ overlap) before
    anything is read or written."""
    inbox, course_root = Path(inbox), Path(course_root)
    if not inbox.is_dir():
        raise NotADirectoryError(f"the inbox {printable(inbox)} is not a folder"
                                 f"{'' if inbox.exists() else ' (it does not exist)'}")
    submitted = course_root / "submitted"
    if _inside(submitted.resolve(), inbox.resolve()) or _inside(inbox.resolve(), submitted.resolve()):
        raise ValueError(f"{printable(submitted)} and the inbox {printable(inbox)} overlap (one is inside the "
                         f"other); collecting would write into the inbox: collect from a folder outside submitted/")
    if not notebooks or len(set(notebooks)) != len(notebooks):
        raise ValueError("notebooks must be a non-empty list of distinct names")
    inbound = _exchange_inbound_below(inbox)
    if inbound is not None:
        raise ValueError(f"{printable(inbox)} is nbgrader's exchange, not its inbound folder (its folders "
                         f"would be taken for students): collect from {printable(inbound)}")
    report = CollectReport()

    # 1. Inbox entries, grouped by student id.
    by_student: dict[str, list[_Entry]] = {}
    loose: dict[str, list[tuple[Path, LooseFile]]] = {}
    for path in sorted(inbox.iterdir(), key=lambda p: p.name):
        if _ignored([path.name]):
            continue
        if path.is_dir() or (path.is_file() and path.suffix.lower() == ".zip"):
            entry = _Entry(path)
            if not entry.sid or entry.sid.startswith("."):
                report.problems.append(Problem("", "extra", f"Cannot tell whose submission '{entry.label}' is "
                                                            f"(no student id in its name); not collected."))
                continue
            if not entry.sid.isprintable():  # it would name folders and every later report line
                report.problems.append(Problem("", "extra", f"'{entry.label}' has control characters in its "
                                                            f"name, so it is no student id; not collected "
                                                            f"(rename it to the student's id)."))
                continue
            if entry.exchange and entry.exchange[1] != assignment:
                report.problems.append(Problem(entry.sid, "skipped", (
                    f"'{entry.label}' is a submission of another assignment ({entry.exchange[1]!r}) in "
                    f"nbgrader's exchange; not collected.")))
                continue
            by_student.setdefault(entry.sid, []).append(entry)
        elif path.is_file() and (named := loose_file(path.name)) and named.student.isprintable():
            loose.setdefault(named.student, []).append((path, named))
        else:
            report.problems.append(Problem("", "extra", f"'{path.name}' is neither a student folder nor a "
                                                        f"zip; not collected."))
    zone = dateutil.tz.gettz(timezone) or UTC
    for sid, files in loose.items():  # a student's loose LMS files are one entry
        by_student.setdefault(sid, []).append(_LooseEntry(sid, files, zone))

    # 2. One student at a time, in sorted order.
    from tqdm import tqdm
    bar = tqdm(sorted(by_student), desc=f"collecting {assignment}", unit="student",
               disable=not progress or len(by_student) < PROGRESS_FROM)
    for sid in bar:
        entries = by_student[sid]
        if len(entries) > 1:
            ranked = sorted(entries, key=lambda e: (e.when(), e.path.name), reverse=True)
            entry = ranked[0]
            others = ", ".join(f"'{e.label}'" for e in sorted(ranked[1:], key=lambda e: e.path.name))
            how = "the latest submission" if entry.stamp is not None else "the most recently modified"
            report.problems.append(Problem(sid, "duplicate", (
                f"{len(entries)} inbox entries belong to student '{sid}': kept '{entry.label}' ({how}) "
                f"and ignored {others}.")))
        else:
            entry = entries[0]
        report.expected[sid] = list(notebooks)
        if entry.late:
            report.problems.append(Problem(sid, "late", (
                f"'{entry.label}': the LMS marks this submission late (its name says so); its time is "
                f"recorded and export's late column shows it.")))
        _collect_student(entry, sid, submitted / sid / assignment, notebooks, report)
    bar.close()
    return report


def _collect_student(entry: _Entry, sid: str, dest: Path, notebooks: list[str], report: CollectReport) -> None:
    try:
        sub = entry.open()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as e:
        report.problems.append(Problem(sid, "unreadable", f"'{entry.label}' cannot be opened as a "
                                                          f"{'zip' if entry.is_zip else 'folder'} ({_short(e)}); "
                                                          f"nothing collected for this student."))
        return
    try:
        # Assign each .ipynb to the expected notebook it matches best.
        candidates: dict[str, list[tuple[int, _File]]] = {name: [] for name in notebooks}
        extras = []
        for f in sub.files:
            if f.link:
                report.problems.append(Problem(sid, "skipped", f"'{f.source}' is a symbolic link; not followed, "
                                                               f"not collected."))
                continue
            if not f.name.lower().endswith(".ipynb"):
                if not (entry.exchange and f.relpath == "timestamp.txt"):
                    report.problems.append(Problem(sid, "skipped", f"'{f.source}' is not a notebook; not "
                                                                   f"collected."))
                continue
            matches = [(tier, -len(name), name) for name in notebooks
                       if (tier := match_tier(f.name, name)) is not None]
            if matches:
                tier, _, name = min(matches)
                candidates[name].append((tier, f))
            else:
                extras.append(f)
        if len(notebooks) == 1 and not candidates[notebooks[0]] and len(extras) == 1:
            candidates[notebooks[0]].append((LONE, extras.pop()))  # the one notebook, whatever its name

        collected: dict[str, bytes] = {}
        sources: dict[str, _File] = {}
        for name in notebooks:
            expected = f"{name}.ipynb"
            found = candidates[name]
            if not found:
                report.problems.append(Problem(sid, "missing", f"No notebook '{expected}' (or a renamed copy "
                                                               f"of it) in '{entry.label}'."))
                continue
            # Best tier, then newest, then path: stable sorts, last key first.
            found.sort(key=lambda tf: tf[1].relpath)
            found.sort(key=lambda tf: tf[1].mtime, reverse=True)
            found.sort(key=lambda tf: tf[0])
            tier, chosen = found[0]
            if len(found) > 1:
                others = ", ".join(f"'{f.source}'" for _, f in sorted(found[1:], key=lambda tf: tf[1].relpath))
                runner_up_tier, runner_up = found[1]
                why = ("its name matches best" if tier < runner_up_tier
                       else "it is the most recently modified" if chosen.mtime > runner_up.mtime
                       else "same name quality and time; first by path")
                report.problems.append(Problem(sid, "duplicate", (
                    f"{len(found)} files could be '{expected}': chose '{chosen.source}' ({why}) and "
                    f"ignored {others}.")))
            if tier == LONE:
                report.problems.append(Problem(sid, "renamed", (
                    f"'{chosen.source}' is the only notebook in '{entry.label}'; taken as '{expected}'.")))
            elif tier > 0:
                report.problems.append(Problem(sid, "renamed", (
                    f"'{chosen.source}' is not named '{expected}'; taken as '{expected}'.")))
            try:
                data = sub.read(chosen)
            except Exception as e:  # CRC error, encrypted member, permission denied...
                report.problems.append(Problem(sid, "unreadable", f"'{chosen.source}' cannot be read "
                                                                  f"({_short(e)}); not collected."))
                continue
            data, problem = _validate(data, chosen.source)
            if problem:
                report.problems.append(Problem(sid, *problem))
            if data is None:
                continue
            collected[name] = data
            sources[name] = chosen

        for f in extras:
            report.problems.append(Problem(sid, "extra", f"'{f.source}' matches none of the expected "
                                                         f"notebooks; not collected."))
    finally:
        sub.close()

    if collected:
        if entry.stamp is not None:
            timestamp, source = entry.stamp, entry.stamp_source
        else:
            timestamp = max(sources[name].mtime for name in collected)
            source = "zip_member" if entry.is_zip else "file_mtime"
            if timestamp == datetime.min:
                timestamp, source = _utc(entry.modified()), "entry_mtime"
        _write_submission(dest, collected, timestamp)
        report.times[sid] = SubmissionTime(timestamp, source, entry.label, entry.late)
        for name in collected:
            report.collected.append(Collected(sid, sources[name].source, dest / f"{name}.ipynb"))


# ---------------------------------------------------------------------------------------------
# The log: where each student's submission and its time came from


def write_log(report: CollectReport, course_root: Path, assignment: str) -> Path:
    """Record, in ``reports/<assignment>/collect_log.json``, each collected student's inbox entry,
    submission time and its source, and whether the LMS marked it late; students collected
    before and not this time keep their entries. Returns the log's path."""
    path = Path(course_root) / "reports" / assignment / LOG_NAME
    log = read_log(course_root, assignment)
    for sid, when in report.times.items():
        log[sid] = {"entry": when.entry, "timestamp": when.timestamp.strftime(TIMESTAMP_FORMAT),
                    "timestamp_source": when.source, "marked_late": when.marked_late}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(json.dumps(dict(sorted(log.items())), indent=1), encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_log(course_root: Path, assignment: str) -> dict:
    """The collect log of `assignment` ({student: {...}}), or {} when there is none (or it is unreadable)."""
    path = Path(course_root) / "reports" / assignment / LOG_NAME
    try:
        log = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {s: e for s, e in log.items() if isinstance(e, dict)} if isinstance(log, dict) else {}

"""Where phase 1 of the grade command leaves its work for phase 2, spelled out once.

    <folder>/<student>/<assignment>/<notebook>.ipynb    a notebook executed and verified
    <folder>/<student>/<assignment>/_failed.json        why that student's notebooks are not there

Phase 1 (either engine) writes here while phase 2 (nbgrader's autograde with `ReplaySanitize`
and `ReplayExecution`) reads: every file is written atomically, so a reader never sees half of
one. Names come from students and notebooks, so each becomes a single path component that stays
inside the folder: spaces and parentheses are kept; `/`, `%`, NUL and a leading `.` (so `.`
and `..`) are percent-encoded, which no other name encodes to.
"""

import hashlib
import json
import os
import shutil
from pathlib import Path

import nbformat

FAILED = "_failed.json"
NO_RESULT = "the worker produced no result"


def file_digest(path):
    """The sha256 of a file: a staged notebook records its submitted file's, so that phase 2
    reuses it only for that very file."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def component(name):
    """`name` as one path component that cannot climb out of its folder (see the docstring)."""
    name = str(name)
    if not name:
        return "%"  # never the encoding of a non-empty name: a bare % is always encoded
    encoded = "".join(f"%{ord(ch):02X}" if ch in "%/\0" else ch for ch in name)
    return "%2E" + encoded[1:] if encoded.startswith(".") else encoded


def write_atomically(path, data):
    """Write `data` (text or bytes) to `path` through a hidden partial file, so a reader sees
    the old file or the whole new one, never a partial one."""
    path = Path(path)
    partial = path.with_name(f".{path.name}.partial")
    if isinstance(data, bytes):
        partial.write_bytes(data)
    else:
        partial.write_text(data, encoding="utf-8")
    os.replace(partial, path)


class Staging:
    """The staging folder of one grading run (see the module docstring)."""

    def __init__(self, folder):
        self.folder = Path(folder)

    def __repr__(self):
        return f"Staging({str(self.folder)!r})"

    def submission(self, student, assignment):
        """The folder of one student's staged notebooks of `assignment`."""
        path = self.folder / component(student) / component(assignment)
        if self.folder not in path.parents:  # cannot happen (component()), checked anyway
            raise ValueError(f"{student!r}/{assignment!r} would leave the staging folder")
        return path

    def notebook(self, student, assignment, name):
        """Where the notebook `name` (nbgrader's notebook id: the file name without .ipynb) is
        staged."""
        return self.submission(student, assignment) / f"{component(name)}.ipynb"

    def write(self, student, assignment, name, data):
        """Stage notebook `name` (its text), atomically; returns its path."""
        path = self.notebook(student, assignment, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, data)
        return path

    def read(self, path):
        """A notebook staged here, read without validating it again: phase 1 wrote it with
        nbformat, and nbgrader validates it when it writes the autograded copy."""
        return nbformat.v4.reads(Path(path).read_text(encoding="utf-8"))  # as nbformat.read, less validating

    def copy(self, student, assignment, source):
        """Stage the notebook file `source` (nbgrader's output) under its own name."""
        source = Path(source)
        path = self.notebook(student, assignment, source.stem)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial")
        shutil.copyfile(source, partial)
        os.replace(partial, path)
        return path

    def fail(self, student, assignment, reason):
        """Say why this student's notebooks (those not staged) were not graded. The first
        reason given wins: it is the one closest to the cause."""
        folder = self.submission(student, assignment)
        folder.mkdir(parents=True, exist_ok=True)
        failed = folder / FAILED
        if not failed.exists():
            write_atomically(failed, json.dumps({"reason": reason or NO_RESULT}))

    def failure(self, student, assignment):
        """Why this student's notebooks were not graded, or None if nobody said."""
        failed = self.submission(student, assignment) / FAILED
        if not failed.exists():
            return None
        return json.loads(failed.read_text(encoding="utf-8"))["reason"] or NO_RESULT

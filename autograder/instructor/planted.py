"""What a student may have planted in a submission folder, found without following anything.

A submission reaches `submitted/<student>/<assignment>/` by routes the course does not control
(nbgrader's exchange, a shared folder, an LMS export unpacked by hand), so it may hold what no
notebook editor makes: a symbolic link (to `/etc/shadow`, to the next assignment's source, to
`gradebook.db`, to a classmate's notebook, to `/dev/zero`, to the grader's stdin) or a special
file (a named pipe, a socket, a device). Copying or reading one follows it, as root: nbgrader's
own copy put what the link named into `autograded/` and `feedback/`; a link to `/dev/zero` filled
the disk; one to a pipe hung the run.

So every copy of a submission, ours and nbgrader's (`safe_converters`), first asks `refusal`:
the submission folder, its student folder, and everything under them must be plain folders and
regular files, decided from `lstat` alone (nothing is opened or followed). Otherwise the
student's submission is refused as a whole, with one line saying what was found, and is not
graded; their classmates are not affected. So is a student id (a folder name, which may come
from a student's LMS name) with markup or control characters in it: nbgrader's formgrader puts
ids into its pages unescaped. A hard link is a regular file (its maker could
already read what it names: the kernel's protected_hardlinks) and is copied as one.
"""

import os
import stat
from pathlib import Path

from .console import shown

SHOWN = 3  # findings named in the reason; the rest are counted
MARKUP = set("<>&\"'`")  # in a student id: markup in the formgrader's page, which shows ids unescaped

_KINDS = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def kind(mode):
    """What a file of this `st_mode` is, if it is neither a regular file nor a folder."""
    for test, name in _KINDS:
        if test(mode):
            return name
    return None if stat.S_ISREG(mode) or stat.S_ISDIR(mode) else "a special file"


def findings(folder):
    """[(path relative to `folder`, what it is)] for every entry under `folder` that is neither
    a folder nor a regular file, in a fixed order; links are listed, never followed."""
    found, todo = [], [Path(folder)]
    while todo:
        current = todo.pop()
        with os.scandir(current) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                what = kind(entry.stat(follow_symlinks=False).st_mode)
                if what:
                    found.append((Path(entry.path).relative_to(folder).as_posix(), what))
                elif entry.is_dir(follow_symlinks=False):
                    todo.append(Path(entry.path))
    return sorted(found)


def refusal(root, step, student, assignment):
    """None if `<root>/<step>/<student>/<assignment>/` (step: 'submitted', 'autograded') is a
    plain folder of plain folders and regular files (or is missing: nothing to copy), and the
    student id is one a page can show as it is; else the one-line reason its copy is refused,
    every name escaped."""
    if any(ch in MARKUP or not ch.isprintable() for ch in str(student)):
        return shown(f"the student id {student!r} has characters a web page or a terminal would interpret "
                     f"(the formgrader shows it unescaped): refused, not graded; rename {step}/<id> to the student's id",
                     limit=600)
    path = Path(root) / step
    for part in (student, assignment):
        path = path / part
        try:
            what = kind(os.lstat(path).st_mode)
        except FileNotFoundError:
            return None
        except OSError as exc:  # a name too long, say: never copied either
            return shown(f"{step}/{student}/{assignment} cannot be read ({exc.strerror}); not graded")
        if what:
            return _reason([(f"{step}/{student}" + (f"/{assignment}" if part == assignment else ""), what)])
    try:
        found = findings(path)
    except OSError as exc:  # unreadable: never copied either
        return shown(f"{step}/{student}/{assignment} cannot be read ({exc.strerror}); not graded")
    return _reason([(f"{step}/{student}/{assignment}/{rel}", what) for rel, what in found]) if found else None


def _reason(found):
    named = "; ".join(f"{path} is {what}" for path, what in found[:SHOWN])
    more = f" (and {len(found) - SHOWN} more)" if len(found) > SHOWN else ""
    return shown(f"{named}{more}: a submission with links or special files is refused, nothing in it "
                 "is followed or copied (hand in regular files only)", limit=600)

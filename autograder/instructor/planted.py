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
ids into its pages unescaped.

A hard link (a regular file with more than one name) is refused too: its maker could read what
it names (the kernel's protected_hardlinks), but it costs them nothing of their own quota (a
link to a huge world-readable file fills the grader's disk when copied) and it changes when the
file it names changes. No honest route makes one: nbgrader's submit and collect, the grade
command's collect and an unpacked zip all write new files. (An instructor who copies the course
folder with `cp -al` gives every submitted file a second name: copy with `cp -a`.)

`copy_plain` copies a folder without following anything, for copies from a folder its student
can still change (nbgrader's exchange inbound, `safe_exchange`): each file is opened with
O_NOFOLLOW and must be, once open, a regular file with one name; a link is recreated, never
followed, and the copy checked afterwards: a folder changed between the check and the copy
is refused all the same.
"""

import os
import shutil
import stat
from pathlib import Path

from .console import shown

SHOWN = 3  # findings named in the reason; the rest are counted
MARKUP = set("<>&\"'`")  # in a student id: markup in the formgrader's page, which shows ids unescaped

_KINDS = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def kind(mode, links=1):
    """What a file of this `st_mode` (and `st_nlink`) is, if it is neither a regular file with
    one name nor a folder."""
    for test, name in _KINDS:
        if test(mode):
            return name
    if stat.S_ISREG(mode) and links > 1:
        return "a hard link (a file with other names)"
    return None if stat.S_ISREG(mode) or stat.S_ISDIR(mode) else "a special file"


def findings(folder):
    """[(path relative to `folder`, what it is)] for every entry under `folder` that is neither
    a folder nor a regular file, in a fixed order; links are listed, never followed."""
    found, todo = [], [Path(folder)]
    while todo:
        current = todo.pop()
        with os.scandir(current) as entries:
            for entry in sorted(entries, key=lambda e: e.name):
                info = entry.stat(follow_symlinks=False)
                what = kind(info.st_mode, info.st_nlink)
                if what:
                    found.append((Path(entry.path).relative_to(folder).as_posix(), what))
                elif entry.is_dir(follow_symlinks=False):
                    todo.append(Path(entry.path))
    return sorted(found)


def id_refusal(student, step="submitted"):
    """None if the student id is one a page or a terminal can show as it is; else the reason."""
    if any(ch in MARKUP or not ch.isprintable() for ch in str(student)):
        return shown(f"the student id {student!r} has characters a web page or a terminal would interpret "
                     f"(the formgrader shows it unescaped): refused, not graded; rename {step}/<id> to the student's id",
                     limit=600)
    return None


def folder_refusal(path, name):
    """None if `path` is a plain folder of plain folders and regular files (one name each);
    else the one-line reason, paths shown from `name`."""
    try:
        what = kind(os.lstat(path).st_mode)
    except OSError as exc:
        return shown(f"{name} cannot be read ({exc.strerror}); not copied")
    if what or not os.path.isdir(path):
        return _reason([(name, what or "not a folder")])
    try:
        found = findings(path)
    except OSError as exc:
        return shown(f"{name} cannot be read ({exc.strerror}); not copied")
    return _reason([(f"{name}/{rel}", what) for rel, what in found]) if found else None


def copy_plain_file(src, dst):
    """Copy `src` to `dst` (as shutil.copy2 does) only if, once opened without following a link
    and without waiting on a pipe, it is a regular file with one name; else PlantedFile."""
    try:
        fd = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise PlantedFile(f"{src} could not be opened as a plain file ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(fd)
        what = kind(info.st_mode, info.st_nlink)
        if what:
            raise PlantedFile(f"{src} is {what}")
        with open(dst, "xb") as out:
            shutil.copyfileobj(f, out, 1 << 20)
    os.chmod(dst, stat.S_IMODE(info.st_mode))
    os.utime(dst, ns=(info.st_atime_ns, info.st_mtime_ns))
    return dst


class PlantedFile(OSError):
    """A file that is not a regular file with one name, met during a copy."""


def copy_plain(src, dst, ignore=None):
    """Copy the folder `src` to `dst` (new; `ignore` as shutil.copytree takes it) following
    nothing; PlantedFile, and no `dst` left, if anything in it (or in the copy: a link is
    recreated, never followed) is not a plain folder or a regular file with one name."""
    try:
        shutil.copytree(src, dst, symlinks=True, ignore=ignore, copy_function=copy_plain_file)
        found = findings(dst)
        if found:
            raise PlantedFile(f"{found[0][0]} is {found[0][1]}")
    except shutil.Error as exc:  # copytree gathers each file's error
        shutil.rmtree(dst, ignore_errors=True)
        first = exc.args[0][0] if exc.args and exc.args[0] else ("", "", str(exc))
        raise PlantedFile(str(first[-1])) from None
    except PlantedFile:
        shutil.rmtree(dst, ignore_errors=True)
        raise


def refusal(root, step, student, assignment):
    """None if `<root>/<step>/<student>/<assignment>/` (step: 'submitted', 'autograded') is a
    plain folder of plain folders and regular files (or is missing: nothing to copy), and the
    student id is one a page can show as it is; else the one-line reason its copy is refused,
    every name escaped."""
    said = id_refusal(student, step)
    if said:
        return said
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

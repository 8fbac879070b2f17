"""Copy into a user's home every file of the course's release/ not there yet, never overwriting,
as `make my-work` does: a later release adds its notebooks, a student's work stays, a deleted
notebook comes back fresh. `python copy_release.py RELEASE HOME`; prints what it copied.

The example hub (jupyterhub_config.py, COURSE_HUB_COPY_RELEASE=1) runs it before each spawn as the
user, never as root: whatever a student planted in their home (a link into /etc, say) can then
lead only where they could write anyway. Links are not followed either: a link, or anything
else, where a folder or a notebook would go is left alone, and that file is not copied.
"""

import os
import sys
from pathlib import Path

SKIP = {".ipynb_checkpoints", "__pycache__"}


def open_new(home, relative):
    """A new file at home/relative, written only through real folders; None if anything is there."""
    folder = home
    for part in relative.parts[:-1]:
        folder = folder / part
        if not folder.is_symlink() and not folder.exists():
            folder.mkdir()
        if folder.is_symlink() or not folder.is_dir():
            return None
    try:
        return os.open(folder / relative.name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    except FileExistsError:
        return None


def copy_new(release, home):
    """The files copied, relative to both folders."""
    home.mkdir(parents=True, exist_ok=True)
    copied = []
    for source in sorted(release.rglob("*")):
        relative = source.relative_to(release)
        if SKIP & set(relative.parts) or source.is_symlink() or not source.is_file():
            continue
        fd = open_new(home, relative)
        if fd is None:
            continue
        with os.fdopen(fd, "wb") as out:
            out.write(source.read_bytes())
        copied.append(relative)
    return copied


if __name__ == "__main__":
    for relative in copy_new(Path(sys.argv[1]), Path(sys.argv[2])):
        print(f"{relative}: copied from release/")

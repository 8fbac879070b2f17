"""Uids and cgroups of the grader's own, so that every process of a student dies with them.

`UidBlock`: a block of uids no other grading run on this machine is using (a lock file per
block, held for the run). Each process tree the grader starts for a student (a notebook run, a
candidate) gets a uid of its own from the block: its processes can signal, trace or read
nothing of anyone else's, and a `kill(-1)` from that uid ends them all, `setsid` or not.

`private_tmpfs`: a fresh folder on a tmpfs of its own, of a fixed size (root only; elsewhere a
plain temporary folder): what a sandboxed kernel and its client share (the connection file,
the IPC sockets) never reaches the disk, and its pages count against the cgroup of the process
that writes them (the student's).

`Cgroups`: one cgroup per student, made and removed by the grader under a folder of its own
(`autograder-<pid>-<n>`) in each cgroup v1 controller it can write (pids, memory, freezer), or
under the cgroup v2 root: a limit on processes and on memory (the student's tmpfs files
included), and, when the student is done, freeze, kill, remove. Groups the grader did not
create are never touched. `delegate(uid)` hands a run's groups to the judge server (its uid): it
runs in their `server` group and makes one group per judge child under them, with that judge's
memory and pids limits (`judge.server`). Where the machine allows none of this, `available` is False and the
uid sweeps do the killing alone.
"""

import ctypes
import fcntl
import itertools
import os
import shutil
import signal
import tempfile
import time
import warnings
from pathlib import Path

from ..candidate.confine import live_processes
from ..protocol.limits import DEFAULT as LIMITS

FIRST_UID = 200_000
BLOCK = 4096
BLOCKS = 256
V1 = Path("/sys/fs/cgroup")
CONTROLLERS = ("pids", "memory", "freezer")
# What a delegated root's new owner must be able to write (cgroup v2 moves need the common
# ancestor's cgroup.procs; v1 needs only the folder).
DELEGATED_FILES = ("cgroup.procs", "cgroup.subtree_control", "cgroup.threads")
_serial = itertools.count()
MNT_DETACH, MS_NOSUID, MS_NODEV = 2, 2, 4
_libc = ctypes.CDLL(None, use_errno=True)


class UidBlock:
    """Uids for this run, from blocks of BLOCK reserved for it (None when not root: no uid
    changes). A uid is never handed out twice in a run: one given back is retired, not reused,
    so a later student can never own what an earlier one left (files, processes, SysV IPC
    objects, anything keyed by uid). When a block is used up the run reserves another."""

    def __init__(self):
        self.locks, self.first = [], None
        self.current, self.next = None, 1
        if os.geteuid() != 0:
            return
        self.current = self.first = self._reserve()

    @staticmethod
    def _folder():
        folder = Path(tempfile.gettempdir()) / "autograder-uids"
        folder.mkdir(mode=0o700, exist_ok=True)
        return folder

    def _reserve(self):
        """The first uid of a block no grading run holds; its lock is held until `close`."""
        folder = self._folder()
        for block in range(BLOCKS):
            fd = os.open(folder / f"block-{block}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # another run's, or already ours (flock is per open file)
                os.close(fd)
                continue
            self.locks.append(fd)
            return FIRST_UID + block * BLOCK
        raise RuntimeError("every block of grading uids is in use")

    @property
    def lock(self):
        return self.locks[0] if self.locks else None

    @property
    def judge_uid(self):
        return self.first  # the first of the first block; students get the others

    def take(self):
        if self.first is None:
            return None
        if self.next >= BLOCK:
            self.current, self.next = self._reserve(), 0
        uid, self.next = self.current + self.next, self.next + 1
        return uid

    def give_back(self, uid):
        """`uid` is done with; it is retired, never handed out again in this run."""

    def close(self):
        for fd in self.locks:
            os.close(fd)
        self.locks = []


def private_tmpfs(prefix, size_bytes):
    """A new folder (mode 0700), on a tmpfs of `size_bytes` of its own where this process is
    root and may mount; else on the temporary folder's disk (with a warning). Remove it with
    `remove_private`."""
    folder = tempfile.mkdtemp(prefix=prefix)
    if os.geteuid() == 0:
        options = f"size={int(size_bytes)},mode=0700".encode()
        if _libc.mount(b"tmpfs", folder.encode(), b"tmpfs", ctypes.c_ulong(MS_NOSUID | MS_NODEV), options) != 0:
            warnings.warn(f"could not mount a tmpfs on {folder} ({os.strerror(ctypes.get_errno())}): "
                          "a kernel's private folder is on the disk, without a size limit", stacklevel=2)
    return folder


def is_tmpfs(folder):
    """True when `folder` is the root of a tmpfs mount."""
    try:
        with open("/proc/self/mounts") as f:
            return any(line.split()[1:3] == [str(folder), "tmpfs"] for line in f)
    except OSError:
        return False


def remove_private(folder):
    """Unmount (lazily: a socket still open does not keep it) and remove `private_tmpfs`'s folder."""
    if is_tmpfs(folder):
        _libc.umount2(str(folder).encode(), MNT_DETACH)
    shutil.rmtree(folder, ignore_errors=True)


def orphans():
    """{pid: uid} of live processes under grading uids whose block no grading run holds:
    whatever a finished run left behind (there should never be any)."""
    folder = Path(tempfile.gettempdir()) / "autograder-uids"
    out = {}
    for pid, uid in live_processes().items():
        if not FIRST_UID <= uid < FIRST_UID + BLOCKS * BLOCK:
            continue
        lock = folder / f"block-{(uid - FIRST_UID) // BLOCK}.lock"
        try:
            fd = os.open(lock, os.O_RDWR)
        except OSError:
            out[pid] = uid
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            out[pid] = uid  # nobody holds its block: nobody is grading with it
        except BlockingIOError:
            pass
        finally:
            os.close(fd)
    return out


def kill_uid(uid):
    """Kill every process of `uid` on the machine (from outside any sandbox); how many."""
    return kill_uids([uid])


def kill_uids(uids):
    """Kill every process of any of `uids` on the machine (from outside any sandbox), with one
    look at /proc for them all; how many there were."""
    uids = {uid for uid in uids if uid is not None}
    if not uids or os.geteuid() != 0:
        return 0
    found = 0
    for _ in range(5):
        pids = [pid for pid, owner in live_processes().items() if owner in uids]
        if not pids:
            break
        found = max(found, len(pids))
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.05)
    return found


def remove_stale():
    """Remove the empty groups of grading runs that died without removing them (their name
    says which process made them, and it is gone); nothing else is touched."""
    for parent in [V1 / c for c in CONTROLLERS] + [V1]:
        for group in parent.glob("autograder-*-*"):
            try:
                pid = int(group.name.split("-")[1])
            except (IndexError, ValueError):
                continue
            if Path(f"/proc/{pid}").exists():
                continue
            for sub in sorted(group.glob("**/"), key=lambda p: len(p.parts), reverse=True):
                try:
                    if not (sub / "cgroup.procs").read_text().split():
                        sub.rmdir()
                except OSError:
                    pass


class Cgroups:
    """Per-student cgroups under a folder of this run's own (see the module docstring)."""

    def __init__(self, memory_bytes=None, processes=LIMITS.processes):
        self.memory_bytes, self.processes = memory_bytes, processes
        self.version, self.roots, self.students = None, [], {}
        if os.geteuid() != 0:
            return
        remove_stale()
        name = f"autograder-{os.getpid()}-{next(_serial)}"
        try:
            if all(os.access(V1 / c, os.W_OK) and (V1 / c / "cgroup.procs").exists() for c in CONTROLLERS):
                for c in CONTROLLERS:
                    (V1 / c / name).mkdir()
                    self.roots.append(V1 / c / name)
                self.version = 1
            elif (V1 / "cgroup.controllers").exists() and os.access(V1, os.W_OK):
                wanted = {"pids", "memory"} & set((V1 / "cgroup.controllers").read_text().split())
                root = V1 / name
                root.mkdir()
                self.roots.append(root)
                (root / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in sorted(wanted)))
                self.version = 2
        except OSError:
            self.close()
            self.version, self.roots = None, []

    @property
    def available(self):
        return self.version is not None

    def binds(self):
        """Folders a sandboxed server must be able to write to put children in these groups."""
        return [str(r) for r in self.roots]

    def student(self, key):
        """The cgroup folders of student `key` (made on first use), one per controller."""
        if not self.available:
            return []
        if key in self.students:
            return self.students[key]
        slug = "".join(ch if ch.isalnum() else "_" for ch in key)[:60] + f"-{len(self.students)}"
        paths = []
        try:
            for root in self.roots:
                path = root / slug
                path.mkdir()
                paths.append(path)
                self._limit(path, root)
        except OSError:
            for path in paths:
                self._remove(path)
            paths = []
        self.students[key] = [str(p) for p in paths]
        return self.students[key]

    def _limit(self, path, root):
        if self.version == 1:
            controller = root.parent.name
            if controller == "pids":
                (path / "pids.max").write_text(str(self.processes))
            elif controller == "memory" and self.memory_bytes:
                (path / "memory.limit_in_bytes").write_text(str(self.memory_bytes))
        else:
            if (path / "pids.max").exists():
                (path / "pids.max").write_text(str(self.processes))
            if self.memory_bytes and (path / "memory.max").exists():
                (path / "memory.max").write_text(str(self.memory_bytes))

    def tasks(self, key):
        pids = set()
        for path in self.students.get(key, ()):
            try:
                pids |= {int(p) for p in Path(path, "cgroup.procs").read_text().split()}
            except OSError:
                pass
        return pids

    def end(self, key):
        """Kill whatever is left in student `key`'s groups and remove them; how many were left."""
        paths = self.students.pop(key, None)
        if not paths:
            return 0
        self.students[key] = paths
        left = self.tasks(key)
        if left:
            freezer = next((Path(p) for p in paths if "/freezer/" in p), None)
            if freezer is not None:
                (freezer / "freezer.state").write_text("FROZEN")
            for _ in range(50):
                pids = self.tasks(key)
                if not pids:
                    break
                for pid in pids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
                if freezer is not None:
                    (freezer / "freezer.state").write_text("THAWED")
                time.sleep(0.02)
        for path in self.students.pop(key):
            self._remove(Path(path))
        return len(left)

    @staticmethod
    def _remove(path):
        for _ in range(100):
            try:
                path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.02)

    def delegate(self, uid):
        """Give these groups to `uid` (the judge server's): a `server` group under each root
        for the server itself (it joins at start, `join`), and the roots made writable by it so
        it can make, limit, join and remove a group per child. The roots where it makes them
        (pids and memory; freezer is not needed); [] when there are no groups."""
        if not self.available:
            return []
        delegated = []
        try:
            for root in self.roots:
                if root.parent.name == "freezer":
                    continue
                (root / "server").mkdir(exist_ok=True)
                for path in [root, root / "server", *(root / f for f in DELEGATED_FILES)]:
                    if path.exists():
                        os.chown(path, uid, uid)
                for path in (root / "server").iterdir():
                    os.chown(path, uid, uid)
                delegated.append(str(root))
        except OSError:
            return []
        return delegated

    def server_groups(self):
        """The `server` groups `delegate` made (for `join`)."""
        return [str(r / "server") for r in self.roots if (r / "server").is_dir()]

    def close(self):
        for key in list(self.students):
            self.end(key)
        for root in self.roots:  # groups made under it by others (a delegated root), deepest first
            for folder, _, _ in os.walk(root, topdown=False):
                if Path(folder) != root:
                    self._kill_tasks(Path(folder))
                    self._remove(Path(folder))
            self._remove(root)
        self.roots = []

    @staticmethod
    def _kill_tasks(path):
        try:
            pids = [int(p) for p in (path / "cgroup.procs").read_text().split()]
        except (OSError, ValueError):
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass

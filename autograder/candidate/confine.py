"""Turn a freshly forked child of a grading server into a confined student process.

`become_student` is called in the child, before any student code, in this order: its own
process group; into the student's cgroups (while still root: the groups' files are root's);
every inherited descriptor closed but the ones it needs (other students' channels, the
server's own, pidfds: none of them survive); an IPC namespace of its own (SysV shared memory,
semaphores and message queues, POSIX queues: whatever it makes dies with it and its
descendants, and it sees no other's); a mount namespace of its own, with a fresh, size-limited
tmpfs on its working folder and on /dev/shm (`private_scratch`: the only places it can write,
charged to its cgroup, seen by no other child, gone with it); resource limits (memory, CPU, file size, number of
processes, no core files); stdio to /dev/null; a scrubbed environment; then the student's own
uid, with no way back (no supplementary groups, no new privileges, no capability left: the
one the namespace needed, CAP_SYS_ADMIN, goes with the rest), and only then the parent-death
signal (changing uid clears it).

`sweep(uid)` kills every process a uid still has once its work is done: the grader gives each
process tree its own uid, so this reaches whatever a submission started, `setsid` or not.
"""

import ctypes
import os
import resource
import shutil
import signal
import stat

from ..protocol.forkserver import PR_SET_NO_NEW_PRIVS, PR_SET_PDEATHSIG, keep_only, prctl

CLONE_NEWIPC = 0x08000000
CLONE_NEWNS = 0x00020000
MS_NOSUID, MS_NODEV, MS_REC, MS_PRIVATE = 0x2, 0x4, 0x4000, 0x40000
CAP_SYS_ADMIN = 21
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
SHM = "/dev/shm"

ENV_ALLOWED = ("PATH", "LANG", "LC_ALL", "TZ", "CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS",
               "MKL_NUM_THREADS", "PYTHONHASHSEED", "PYTHONDONTWRITEBYTECODE")


def join_cgroups(paths):
    """Move this process into each cgroup in `paths` (folders the grader created)."""
    for path in paths or ():
        with open(os.path.join(path, "cgroup.procs"), "w") as f:
            f.write("0")


def new_ipc_namespace():
    """Move this process into an IPC namespace of its own; False where it may not (not root,
    or no CAP_SYS_ADMIN: then it shares its parent's, a residual risk the README names)."""
    return _libc.unshare(CLONE_NEWIPC) == 0


def _mount(source, target, kind, flags, options=None):
    if _libc.mount(source, target.encode() if target else None, kind, flags,
                   options.encode() if options else None) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"mount {target}: {os.strerror(errno)}")


def mount_tmpfs(path, size, uid, mode=0o700):
    """A fresh tmpfs of `size` bytes on `path`, owned by `uid`: its pages are charged to the
    cgroup of whoever writes them (the student's), and it ends with the last process of the
    mount namespace."""
    _mount(b"tmpfs", path, b"tmpfs", MS_NOSUID | MS_NODEV, f"size={int(size)},mode={mode:o},uid={uid},gid={uid}")


def private_scratch(workdir, uid, work_bytes, shm_bytes):
    """Give this process a mount namespace of its own (nothing it mounts propagates back) with a
    fresh tmpfs on `workdir` (what the server wrote there, the notebook's files, copied in; the
    server removes its own copy when the child ends) and on /dev/shm (POSIX shared memory and
    semaphores). These are the only places a child can write: no other child sees them, they
    are bounded and charged to this child's cgroup, and they vanish with its last process.
    False where it may not (no CAP_SYS_ADMIN: then it writes in its own 0700 folder on the
    server's shared /tmp)."""
    if _libc.unshare(CLONE_NEWNS) != 0:
        return False
    _mount(b"none", "/", None, MS_REC | MS_PRIVATE)
    if workdir and os.path.isdir(workdir):
        old = os.open(workdir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            mount_tmpfs(workdir, work_bytes, uid)
            copy_tree(old, workdir, uid)
        finally:
            os.close(old)
    if os.path.isdir(SHM):
        mount_tmpfs(SHM, shm_bytes, uid, 0o1777 if not uid else 0o700)
    return True


def copy_tree(src_fd, dst, uid):
    """Copy the folders and regular files under the folder `src_fd` into `dst` (owned by
    `uid`); anything else (a link, a device: the server never writes one) is left behind."""
    for name in os.listdir(src_fd):
        target = os.path.join(dst, name)
        info = os.stat(name, dir_fd=src_fd, follow_symlinks=False)
        if stat.S_ISDIR(info.st_mode):
            os.mkdir(target, 0o700)
            sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=src_fd)
            try:
                copy_tree(sub, target, uid)
            finally:
                os.close(sub)
        elif stat.S_ISREG(info.st_mode):
            source = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=src_fd)
            try:
                with open(target, "xb") as out, os.fdopen(source, "rb", closefd=False) as f:
                    shutil.copyfileobj(f, out, 1 << 20)
            finally:
                os.close(source)
        else:
            continue
        os.lchown(target, uid, uid)


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def drop_capability(cap):
    """Drop capability `cap` from this process for good (effective, permitted, inheritable);
    False where the kernel refused (or it was never held)."""
    header, data = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0), (_CapData * 2)()
    if _libc.capget(ctypes.byref(header), data) != 0:
        return False
    word, bit = divmod(cap, 32)
    for name in ("effective", "permitted", "inheritable"):
        setattr(data[word], name, getattr(data[word], name) & ~(1 << bit))
    return _libc.capset(ctypes.byref(header), data) == 0


def become_student(uid, workdir, limits, keep=(), cgroups=()):
    """Confine this child (see the module docstring). `limits`: memory_bytes (address space;
    None when CUDA needs a large one), cpu_seconds, file_bytes, processes, work_bytes and
    shm_bytes (its working folder's and its /dev/shm's sizes)."""
    parent = os.getppid()
    os.setpgid(0, 0)
    join_cgroups(cgroups)
    keep_only(set(keep))
    if os.geteuid() == 0:
        new_ipc_namespace()
        private_scratch(workdir, uid or 0, limits.get("work_bytes", 1 << 30), limits.get("shm_bytes", 256 << 20))
        drop_capability(CAP_SYS_ADMIN)  # gone even where no uid of its own is given (below)
    memory = limits.get("memory_bytes")
    if memory:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    cpu = int(limits.get("cpu_seconds", 600))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    size = int(limits.get("file_bytes", 256 << 20))
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    if devnull > 2:
        os.close(devnull)
    home = workdir or "/tmp"
    os.chdir(home)
    for key in list(os.environ):
        if key not in ENV_ALLOWED:
            del os.environ[key]
    os.environ.update(HOME=home, TMPDIR=home, MPLCONFIGDIR=home, IPYTHONDIR=os.path.join(home, ".ipython"))
    if os.geteuid() == 0 and uid:
        processes = int(limits.get("processes", 64))
        resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # after the uid change, which clears it
    if os.getppid() != parent:  # the server died before the signal was armed
        os._exit(1)


def live_processes():
    """{pid: real uid} of the live processes visible here (zombies are dead)."""
    found = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status", "rb") as f:
                status = f.read(4096)  # State and Uid are among its first lines
            state = status.split(b"\nState:", 1)[1].split(None, 1)[0]
            uid = int(status.split(b"\nUid:", 1)[1].split(None, 1)[0])
        except (OSError, ValueError, IndexError):
            continue
        if not state.startswith((b"Z", b"X")):
            found[int(name)] = uid
    return found


def processes_of(uid):
    """Pids of the live processes (visible here) whose real uid is `uid`."""
    return [pid for pid, owner in live_processes().items() if owner == uid]


def sweep(uid):
    """Kill every process of `uid`; returns how many there were. A helper that takes the uid
    and calls kill(-1) reaches them all at once (fork bombs included); the helper needs no
    privilege but the uid change, and only the grader's own processes can do it."""
    if not uid or os.geteuid() != 0:
        return 0
    left = processes_of(uid)
    if not left:
        return 0
    for _ in range(5):
        pid = os.fork()
        if pid == 0:
            try:
                os.setgroups([])
                os.setgid(uid)
                os.setuid(uid)
                os.kill(-1, signal.SIGKILL)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        if not processes_of(uid):
            break
    return len(left)

"""Turn a freshly forked child of a grading server into a confined student process.

`become_student` is called in the child, before any student code, in this order: its own
process group; into the student's cgroups (while still root: the groups' files are root's);
every inherited descriptor closed but the ones it needs (other students' channels, the
server's own, pidfds: none of them survive); an IPC namespace of its own (SysV shared memory,
semaphores and message queues, POSIX queues: whatever it makes dies with it and its
descendants, and it sees no other's); resource limits (memory, CPU, file size, number of
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
import signal

from ..protocol.forkserver import PR_SET_NO_NEW_PRIVS, PR_SET_PDEATHSIG, keep_only, prctl

CLONE_NEWIPC = 0x08000000
CAP_SYS_ADMIN = 21
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_libc = ctypes.CDLL(None, use_errno=True)

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
    None when CUDA needs a large one), cpu_seconds, file_bytes, processes."""
    parent = os.getppid()
    os.setpgid(0, 0)
    join_cgroups(cgroups)
    keep_only(set(keep))
    if os.geteuid() == 0:
        new_ipc_namespace()
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
            with open(f"/proc/{name}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
            if not fields["State"].strip().startswith(("Z", "X")):
                found[int(name)] = int(fields["Uid"].split()[0])
        except (OSError, ValueError, KeyError, IndexError):
            continue
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

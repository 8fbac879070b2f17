"""The sandbox student code (and the judge) run in: bubblewrap, built from an allow-list.

A sandbox starts from an empty root and binds, read-only, only what its processes need: the
system's programs and libraries (/usr), a few files of /etc, the Python environment, the
`course` package and the parts of the grader a candidate needs (`protocol`, `candidate`; the
judge's sandbox adds the judge's code). Nothing else of the machine is there: not the course folder, its `source/`, the
gradebook or other submissions, and not any other copy of the course (a backup, another
checkout, a home folder). /tmp is a size-limited tmpfs, the environment is a short allow-list,
there is no network, every process dies with the sandbox (its own PID namespace), its System V
IPC objects (shared memory, queues, semaphores) are its own and end with it (its own IPC
namespace), and capabilities are dropped but for the few a grading server needs to give each
child its own uid (and, for the candidate server, an IPC namespace each: CAP_SYS_ADMIN, which
it drops once its zygote is forked).

Where the grader is root, the sandbox's /proc is mounted `hidepid=invisible` (2), readable in
full by group 0 only: a grading server (root, group 0) sees its children, each student process
(its own uid and group, no supplementary groups) only its own. A candidate server's children
share its PID namespace, so without this they would see each other's pids, uids and command
lines. The mount is made by a shell that then drops the capabilities it needed and the command
may not keep before the command runs (`capabilities`; `hidepid_works` checks once that the
machine allows it): every sandbox that runs student code is left none.

Where bubblewrap is missing or cannot run, `available` is False and callers run student code
unsandboxed, after saying so loudly (`warn_unsandboxed`); the report flags those submissions.
"""

import functools
import glob
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import autograder
import course

from ..protocol.limits import DEFAULT as LIMITS

PACKAGE = Path(autograder.__file__).resolve().parent
SANDBOXED_PARTS = ("protocol", "candidate")  # the only parts of the grader student code can read
PROJECT_ROOT = PACKAGE.parent
UNSANDBOXED = ("bubblewrap (bwrap) is not available: student code runs UNSANDBOXED and can read "
               "the solutions and the gradebook. Install it (Debian: apt-get install bubblewrap).")
ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "fonts", "alternatives",
       "mime.types", "nsswitch.conf", "passwd", "group", "host.conf", "os-release")
ENV_PASSED = ("CUDA_VISIBLE_DEVICES", "TZ")
# Not a user namespace: uids inside are the machine's own, so each student can get one.
NAMESPACES = ("--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try")
# CAP_SYS_ADMIN: for an IPC namespace per child (`candidate/confine.py`); the candidate server
# drops it once its zygote is forked, each child when it takes its uid.
SERVER_CAPS = ("CAP_SETUID", "CAP_SETGID", "CAP_KILL", "CAP_SYS_NICE", "CAP_CHOWN",
               "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_SYS_ADMIN")
# Held by the shell that remounts /proc; before the command runs it drops (every set) those the
# command may not keep: all of them for every sandbox but the server's, which keeps CAP_SYS_ADMIN.
MOUNT_CAPS = ("CAP_SYS_ADMIN", "CAP_SETPCAP")
HIDE_PROCESSES = 'mount -o remount,hidepid=2,gid=0 /proc || exit 125; exec "$@"'


@functools.lru_cache(maxsize=1)
def bwrap_works():
    """True when bubblewrap is installed and can create the namespaces we use."""
    bwrap = shutil.which("bwrap")
    if not bwrap:
        return False
    probe = [bwrap, "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib",
             "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/bin", "/bin", "--proc", "/proc",
             "--dev", "/dev", *NAMESPACES, "--die-with-parent", "--new-session", "--", "/bin/true"]
    try:
        return subprocess.run(probe, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@functools.lru_cache(maxsize=1)
def hidepid_works():
    """True when a root sandbox can remount its /proc with hidepid and then drop the
    capability that took (the shell, mount and setpriv are there, and the kernel allows it)."""
    if not bwrap_works() or os.geteuid() != 0 or not shutil.which("setpriv"):
        return False
    probe = [shutil.which("bwrap"), "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib",
             "--symlink", "usr/lib64", "/lib64", "--symlink", "usr/bin", "/bin", "--proc", "/proc",
             "--dev", "/dev", *NAMESPACES, "--die-with-parent", "--new-session", "--cap-drop", "ALL",
             *[a for cap in MOUNT_CAPS for a in ("--cap-add", cap)],
             "--", "/bin/sh", "-c", HIDE_PROCESSES, "sh", *drop_mount_caps(), "/bin/true"]
    try:
        return subprocess.run(probe, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def drop_mount_caps(keep=()):
    """setpriv taking MOUNT_CAPS, but those in `keep` (capabilities the command holds anyway),
    out of every capability set, before it runs what follows."""
    caps = ",".join("-" + cap.lower().removeprefix("cap_") for cap in MOUNT_CAPS if cap not in keep)
    if not caps:
        return []
    return [shutil.which("setpriv") or "setpriv", f"--inh-caps={caps}", f"--ambient-caps={caps}",
            f"--bounding-set={caps}", "--"]


def warn_unsandboxed(log=None):
    if log is not None:
        log.warning(UNSANDBOXED)
    else:
        warnings.warn(UNSANDBOXED, stacklevel=2)


def python_dirs():
    """The Python environment: prefixes with the interpreter, the standard library and
    site-packages (a virtual environment and the Python it was made from)."""
    dirs = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix),
            Path(sys.executable).resolve().parent.parent}
    return sorted(str(d.resolve()) for d in dirs if d.exists())


def gpu_devices():
    return sorted(glob.glob("/dev/nvidia*")) + sorted(glob.glob("/dev/dri"))


class Sandbox:
    """How to wrap a command so that it sees only what it must.

    `judge`: the judge's code is readable too (never in a sandbox that runs student code);
    `writable`: folders bound read-write at the same path (a kernel's IPC sockets, cgroups);
    `files`: {path inside: host path} bound read-only into `workdir`, which is then a private
    tmpfs of `work_bytes`; `server`: keep the capabilities a grading server needs;
    `memory_bytes`, `cpu_seconds`: limits of the command's process (address space, CPU time);
    `cgroup_namespace`: False for a server that moves its children between groups delegated to
    it (a cgroup namespace rooted at its own group would put its siblings out of reach)."""

    def __init__(self, *, judge=False, writable=(), files=None, workdir="/tmp", tmp_bytes=LIMITS.kernel_work_bytes,
                 work_bytes=LIMITS.kernel_work_bytes, tmp_mode="1777", server=False, env=None,
                 memory_bytes=LIMITS.memory_bytes, uid=None, cpu_seconds=None, cgroup_namespace=True):
        self.judge, self.writable, self.files = judge, [str(w) for w in writable], files
        self.workdir, self.tmp_bytes, self.work_bytes, self.tmp_mode = workdir, tmp_bytes, work_bytes, tmp_mode
        self.server, self.env, self.memory_bytes, self.uid = server, dict(env or {}), memory_bytes, uid
        self.cpu_seconds, self.cgroup_namespace = cpu_seconds, cgroup_namespace
        self.root = os.geteuid() == 0
        self.available = bwrap_works()

    def readable(self):
        """(host path, path inside) pairs bound read-only."""
        pairs = [(d, d) for d in python_dirs()]
        pairs.append((str(Path(course.__file__).resolve().parent),) * 2)
        pairs.append((str(PACKAGE / "__init__.py"),) * 2)
        for part in SANDBOXED_PARTS:
            pairs.append((str(PACKAGE / part),) * 2)
        if self.judge:
            pairs.append((str(PACKAGE / "judge"),) * 2)
        return pairs

    def hidden(self):
        """Parts of the grader a bound folder would otherwise expose (an installed, not
        editable, package lives inside site-packages)."""
        inside = [d for d, _ in self.readable()
                  if Path(d).is_dir() and not d.startswith(str(PACKAGE) + os.sep)]
        out = []
        for part in ("judge", "instructor") if not self.judge else ("instructor",):
            path = PACKAGE / part
            if any(str(path).startswith(d + os.sep) for d in inside):
                out.append(str(path))
        return out

    def wrap(self, cmd):
        """`cmd` as it runs in the sandbox (or just under a memory limit when unavailable)."""
        if not self.available:
            return self.rlimits() + list(cmd)
        namespaces = [n for n in NAMESPACES if self.cgroup_namespace or n != "--unshare-cgroup-try"]
        argv = [shutil.which("bwrap"), *namespaces, "--die-with-parent", "--new-session",
                "--ro-bind", "/usr", "/usr"]
        for link in ("bin", "lib", "lib64", "sbin"):
            target = os.path.join("/", link)
            if os.path.islink(target):
                argv += ["--symlink", os.readlink(target), target]
            elif os.path.isdir(target):
                argv += ["--ro-bind", target, target]
        for name in ETC:
            argv += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
        argv += ["--proc", "/proc", "--dev", "/dev"]
        gpus = gpu_devices()
        for device in gpus:
            argv += ["--dev-bind-try", device, device]
        argv += ["--ro-bind-try", "/sys", "/sys"] if gpus else [
            *[a for d in ("/sys", "/sys/devices", "/sys/devices/system") for a in ("--perms", "0755", "--dir", d)],
            "--ro-bind-try", "/sys/devices/system/cpu", "/sys/devices/system/cpu"]
        argv += ["--perms", self.tmp_mode, "--size", str(self.tmp_bytes), "--tmpfs", "/tmp"]
        for host, inside in self.readable():
            for parent in reversed(Path(inside).parents):
                if str(parent) not in ("/", "/tmp") and not str(parent).startswith(("/usr", "/proc", "/dev", "/sys")):
                    argv += ["--perms", "0755", "--dir", str(parent)]
            argv += ["--ro-bind", host, inside]
        for hidden in self.hidden():
            argv += ["--tmpfs", hidden]
        for folder in self.writable:  # parents made traversable: a server without capabilities walks them
            for parent in reversed(Path(folder).parents):
                if str(parent) not in ("/", "/tmp") and not str(parent).startswith(("/usr", "/proc", "/dev")):
                    argv += ["--perms", "0755", "--dir", str(parent)]
            argv += ["--bind", folder, folder]
        if self.files is not None:
            if any(inside == self.workdir or inside.startswith(self.workdir + os.sep)
                   for _, inside in self.readable()):
                raise ValueError(f"the sandbox's working folder {self.workdir} would hide what it must read")
            argv += ["--perms", "1777", "--size", str(self.work_bytes), "--tmpfs", self.workdir]
            made = set()
            for inside, host in sorted(self.files.items()):
                for parent in reversed(Path(self.workdir, inside).parents):
                    if str(parent).startswith(self.workdir + os.sep) and str(parent) not in made:
                        made.add(str(parent))
                        argv += ["--perms", "0777", "--dir", str(parent)]
                argv += ["--ro-bind", str(host), str(Path(self.workdir, inside))]
        argv += ["--remount-ro", "/", "--chdir", self.workdir]  # the root itself: no place to write
        hide = self.root and hidepid_works()
        kept = self.capabilities()
        if self.root:
            argv += ["--cap-drop", "ALL"]
            for cap in kept:
                argv += ["--cap-add", cap]
            for cap in MOUNT_CAPS if hide else ():
                if cap not in kept:
                    argv += ["--cap-add", cap]
        venv_bin = os.path.dirname(os.path.normpath(os.path.abspath(sys.executable)))
        env = {"PATH": f"{venv_bin}:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/tmp",
               "PYTHONDONTWRITEBYTECODE": "1"}
        env.update({k: os.environ[k] for k in ENV_PASSED if k in os.environ})
        env.update(self.env)
        argv += ["--clearenv"]
        for key, value in env.items():
            argv += ["--setenv", key, str(value)]
        prefix = []
        if self.uid and self.root and shutil.which("setpriv"):
            prefix = [shutil.which("setpriv"), f"--reuid={self.uid}", f"--regid={self.uid}",
                      "--clear-groups", "--no-new-privs"]
        if hide:  # /proc shows this uid's processes only (group 0 sees all), then only the kept caps
            prefix = [shutil.which("sh") or "/bin/sh", "-c", HIDE_PROCESSES, "sh", *drop_mount_caps(kept), *prefix]
        return argv + ["--"] + prefix + self.rlimits() + list(cmd)

    def capabilities(self):
        """What the wrapped command keeps, as root: a grading server SERVER_CAPS; a command run
        under a uid of its own only what takes that uid (gone with the change); others none."""
        if not self.root:
            return ()
        return SERVER_CAPS if self.server else ("CAP_SETUID", "CAP_SETGID") if self.uid else ()

    def rlimits(self):
        """prlimit setting the command's memory (address space) and CPU limits, if any."""
        limits = [f"--as={self.memory_bytes}"] if self.memory_bytes else []
        limits += [f"--cpu={int(self.cpu_seconds)}"] if self.cpu_seconds else []
        return [shutil.which("prlimit") or "prlimit", *limits, "--"] if limits else []


def judge_sandbox(uid, groups):
    """The judge server's sandbox: the judge's code readable, its own uid, and the cgroup roots
    delegated to it (`isolation.Cgroups.delegate`) writable, their paths in JUDGE_CGROUPS, and
    no cgroup namespace then (under cgroup v2 a move must stay inside the namespace's root, its
    own group, and its children's groups are siblings of it)."""
    return Sandbox(judge=True, tmp_bytes=64 << 20, memory_bytes=None, uid=uid, writable=groups,
                   env={"JUDGE_CGROUPS": ":".join(groups)}, cgroup_namespace=not groups)


def matplotlib_cache(into):
    """Copy matplotlib's font cache into `into` (a folder the sandbox can read) so sandboxed
    kernels don't rebuild it; returns the folder for MPLCONFIGDIR."""
    try:
        import matplotlib
        for cached in glob.glob(os.path.join(matplotlib.get_cachedir(), "fontlist-*.json")):
            shutil.copy(cached, into)
    except Exception:  # a missing cache only costs time
        pass
    return str(into)

"""Run student code in a bubblewrap sandbox: read-only system, no network, no course files.

Inside the sandbox a process sees the whole system read-only, except that the course directory,
this project's checkout and the home directory are replaced by empty folders (so `source/`, the
gradebook and other students' files are gone); the Python environment and the `course` and
`autograder` packages are bound back read-only, and only the submission's own folder (and a
private /tmp) can be written. There is no network, and every process in it dies with it (its
own PID namespace). An address-space limit (RLIMIT_AS) bounds its memory.

Where bubblewrap is missing or cannot run, `Sandbox.available` is False and callers run student
code unsandboxed, after saying so loudly (`warn_unsandboxed`).
"""

import functools
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from traitlets import Integer, List, Unicode

import autograder
import course

PROJECT_ROOT = Path(autograder.__file__).resolve().parent.parent
DEFAULT_MEMORY_BYTES = 4 * 1024**3
HIDE_ENV = "AUTOGRADER_HIDE"  # extra folders to hide from student code, os.pathsep-separated
UNSANDBOXED = ("bubblewrap (bwrap) is not available: student code runs UNSANDBOXED and can read "
               "the solutions and the gradebook. Install it (Debian: apt-get install bubblewrap).")


@functools.lru_cache(maxsize=1)
def bwrap_works():
    """True when bubblewrap is installed and can create the namespaces we use."""
    bwrap = shutil.which("bwrap")
    if not bwrap:
        return False
    probe = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-net",
             "--unshare-pid", "--die-with-parent", "--new-session", "--", "true"]
    try:
        return subprocess.run(probe, capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def warn_unsandboxed(log=None):
    if log is not None:
        log.warning(UNSANDBOXED)
    else:
        warnings.warn(UNSANDBOXED, stacklevel=2)


def package_dirs():
    """Folders the sandboxed Python needs to read: the environment and our two packages."""
    dirs = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix),
            Path(autograder.__file__).resolve().parent, Path(course.__file__).resolve().parent}
    return sorted(str(d) for d in dirs)


class Sandbox:
    """How to wrap a command so that it runs confined to `workdir`.

    `hide`: folders to replace by empty ones (the course root at least); `writable`: extra
    folders the command may write (e.g. the kernel's IPC sockets).
    """

    def __init__(self, workdir, hide=(), writable=(), memory_bytes=DEFAULT_MEMORY_BYTES,
                 enabled=True, keep_caps=()):
        self.keep_caps = list(keep_caps) if os.geteuid() == 0 else []
        self.workdir = str(Path(workdir).resolve())
        self.hide = sorted({str(Path(h).resolve()) for h in (*hide, PROJECT_ROOT, Path.home())
                            if Path(h).is_dir()})
        self.writable = [str(Path(w).resolve()) for w in writable]
        self.memory_bytes = memory_bytes
        self.available = enabled and bwrap_works()

    def wrap(self, cmd, env=None):
        """`cmd` as it runs in the sandbox (or just under the memory limit when unavailable)."""
        limit = [shutil.which("prlimit") or "prlimit", f"--as={self.memory_bytes}", "--"]
        if not self.available:
            return limit + list(cmd)
        argv = [shutil.which("bwrap"), "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
                "--tmpfs", "/tmp"]
        for folder in self.hide:
            argv += ["--tmpfs", folder]
        # Folders bound back inside a hidden one need their parents traversable by the
        # unprivileged uid student code may run as (bwrap would create them with mode 0700).
        made = set()
        for folder in [*package_dirs(), self.workdir, *self.writable]:
            for hidden in self.hide:
                if folder != hidden and folder.startswith(hidden + os.sep):
                    parts = Path(folder).relative_to(hidden).parts
                    for depth in range(1, len(parts)):
                        parent = os.path.join(hidden, *parts[:depth])
                        if parent not in made:
                            made.add(parent)
                            argv += ["--perms", "0755", "--dir", parent]
        for folder in package_dirs():
            argv += ["--ro-bind", folder, folder]
        for folder in [self.workdir, *self.writable]:
            argv += ["--bind", folder, folder]
        # Run as root, bwrap would keep every capability: student code could remount the
        # read-only system. Drop them all (`keep` adds back the few a supervisor needs).
        argv += ["--cap-drop", "ALL"]
        for cap in self.keep_caps:
            argv += ["--cap-add", cap]
        argv += ["--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
                 "--die-with-parent", "--new-session", "--chdir", self.workdir,
                 "--setenv", "HOME", "/tmp", "--setenv", "IPYTHONDIR", "/tmp/.ipython",
                 "--unsetenv", "JPY_PARENT_PID"]
        for key, value in (env or {}).items():
            argv += ["--setenv", key, value]
        return argv + ["--"] + limit + list(cmd)


def matplotlib_cache(into):
    """Copy matplotlib's font cache into `into` (a writable folder) so sandboxed kernels don't
    rebuild it, and return the folder for MPLCONFIGDIR."""
    try:
        import matplotlib
        for cached in glob.glob(os.path.join(matplotlib.get_cachedir(), "fontlist-*.json")):
            shutil.copy(cached, into)
    except Exception:  # a missing cache only costs time
        pass
    return str(into)


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager whose kernels run in the sandbox, talking over IPC sockets.

    TCP cannot reach a kernel in its own network namespace, so the transport is IPC, with the
    socket files in a private folder bound into the sandbox. Interrupts are sent as messages
    (a signal would not cross into the sandbox's own session).
    """

    hide = List(Unicode(), help="folders hidden from the kernel (the course root)").tag(config=True)
    memory_bytes = Integer(DEFAULT_MEMORY_BYTES, help="address-space limit of the kernel").tag(config=True)

    def __init__(self, **kwargs):
        self._private = tempfile.mkdtemp(prefix="autograder-kernel-")
        kwargs.setdefault("transport", "ipc")
        kwargs.setdefault("connection_file", os.path.join(self._private, "kernel.json"))
        super().__init__(**kwargs)
        self.sandbox = None

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        workdir = self._launch_args.get("cwd") or os.getcwd()
        mpl = Path(self._private) / "mpl"
        mpl.mkdir(exist_ok=True)
        self.sandbox = Sandbox(workdir, hide=self.hide, writable=[self._private],
                               memory_bytes=self.memory_bytes)
        if not self.sandbox.available:
            warn_unsandboxed(self.log)
        return self.sandbox.wrap(cmd, env={"MPLCONFIGDIR": matplotlib_cache(mpl)})

    async def _launch_kernel(self, kernel_cmd, **kw):
        # The kernel's own console chatter (not cell output, which travels over IPC) is dropped.
        kw.setdefault("stdout", subprocess.DEVNULL)
        kw.setdefault("stderr", subprocess.DEVNULL)
        return await super()._launch_kernel(kernel_cmd, **kw)

    async def interrupt_kernel(self):
        if not self.has_kernel:
            raise RuntimeError("Cannot interrupt kernel. No kernel is running!")
        msg = self.session.msg("interrupt_request", content={})
        self._connect_control_socket()
        self.session.send(self._control_socket, msg)

    async def cleanup_resources(self, restart=False):
        await super().cleanup_resources(restart=restart)
        if not restart:
            shutil.rmtree(self._private, ignore_errors=True)

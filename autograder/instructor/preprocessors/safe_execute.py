"""`SafeExecute`: nbgrader's Execute with the kernel in the sandbox.

The kernel runs as an unprivileged uid of its own, in its own cgroup, IPC and PID namespaces,
started with `python -I`, in a private tmpfs folder holding read-only copies of the
submission's files (never in `autograded/`, which nbgrader writes afterwards), with each cell's
output capped. What it shares with its client (the connection file, the IPC sockets) lies on a
small tmpfs of its own, never on the disk. A kernel that dies (os._exit, a crash, the memory
limit) costs the cells that did not run, not the whole submission, and every process it left is
killed when it is done. A whole notebook has a time limit (`notebook_timeout`, wall-clock from
the kernel's start to its shutdown, and as many CPU seconds for the kernel process): past it
the kernel is killed, whatever hooks it installed (IPython `pre_run_cell`, `atexit`, threads),
and the remaining cells say so. Its limits default to `protocol.limits.Limits`.
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from pathlib import Path

import nbformat
import zmq
from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.channels import HBChannel
from jupyter_client.connect import channel_socket_types
from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbgrader.preprocessors import Execute
from traitlets import DottedObjectName, Integer, Type

from ...protocol.limits import DEFAULT as LIMITS
from ...protocol.limits import KERNEL_MESSAGE
from ..isolation import kill_uid, private_tmpfs, remove_private
from ..sandbox import Sandbox, matplotlib_cache, warn_unsandboxed
from ..verdicts import error_output
from .run_shared import RUN

WORKDIR = "/student"  # the kernel's private folder inside its sandbox
PRIVATE_BYTES = 64 << 20  # the tmpfs of its connection file, IPC sockets and matplotlib cache


def private_copy(folder):
    """Regular files under `folder` (never links) copied to a fresh folder, readable by all:
    {relative path: copy}. The kernel sees these, read-only, in its own tmpfs."""
    copy = Path(tempfile.mkdtemp(prefix="autograder-files-"))
    os.chmod(copy, 0o755)
    files = {}
    for root, dirs, names in os.walk(folder, followlinks=False):
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d)) and not d.startswith(".")]
        for name in names:
            source = os.path.join(root, name)
            if os.path.islink(source) or not os.path.isfile(source):
                continue
            rel = os.path.relpath(source, folder)
            target = copy / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(target.parent, 0o755)
            shutil.copyfile(source, target)
            os.chmod(target, 0o644)
            files[rel] = str(target)
    return copy, files


class BoundedHBChannel(HBChannel):
    """jupyter_client's heartbeat thread, whose `stop` waits a bounded time: after its kernel
    died, the thread can wait forever on a ping that is never sent, and the unbounded join of
    `stop_channels` then hung nbgrader's autograde at the end of that notebook (seen in the
    tampering tests). The thread is a daemon: left waiting, it ends with the process."""

    stop_timeout = 5.0

    def stop(self):
        self._running = False
        self._exit.set()
        self.join(self.stop_timeout)
        if not self.is_alive():
            self.close()  # its socket is the thread's while it runs


class BoundedSockets:
    """Every socket to the kernel refuses a message part over KERNEL_MESSAGE bytes in zmq
    itself (MAXMSGSIZE, set before it connects): a kernel that sends more is disconnected and
    the message dropped before jupyter_client reads or parses a byte of it, so a student's 200 MB
    message costs the grading machine nothing (nbclient then waits for the cell, up to its limit).
    A mixin over jupyter_client's `_create_connected_socket` (clients and the manager's control
    socket)."""

    def _create_connected_socket(self, channel, identity=None):
        sock = self.context.socket(channel_socket_types[channel])
        sock.setsockopt(zmq.MAXMSGSIZE, KERNEL_MESSAGE)
        sock.linger = 1000  # as jupyter_client: no hang at exit
        if identity:
            sock.identity = identity
        if getattr(self, "curve_publickey", None) is not None:
            sock.curve_secretkey = self.curve_secretkey
            sock.curve_publickey = self.curve_publickey
            sock.curve_serverkey = self.curve_publickey
        sock.connect(self._make_url(channel))
        return sock


class BoundedClient(BoundedSockets, AsyncKernelClient):
    """nbclient's kernel client with bounded messages and a heartbeat that never hangs."""
    hb_channel_class = Type(BoundedHBChannel)


class SandboxedKernelManager(BoundedSockets, AsyncKernelManager):
    """A kernel in the sandbox: its own uid and cgroup, `python -I`, a private working folder,
    talking over IPC sockets (TCP cannot reach a kernel in its own network namespace).
    Interrupts are sent as messages (a signal would not cross into the sandbox's session).
    Its clients' heartbeat channel never hangs their cleanup (`BoundedHBChannel`), no
    socket to the kernel takes a message part over KERNEL_MESSAGE bytes (`BoundedSockets`), and
    it is shut down by killing it, never by a message it could leave unread."""

    client_class = DottedObjectName(f"{__name__}.BoundedClient")
    client_factory = Type(BoundedClient)

    def __init__(self, **kwargs):
        self._private = private_tmpfs("autograder-kernel-", PRIVATE_BYTES)
        kwargs.setdefault("transport", "ipc")
        kwargs.setdefault("connection_file", os.path.join(self._private, "kernel.json"))
        super().__init__(**kwargs)
        self.sandbox, self.files, self.uid, self.cgroup_paths, self.memory_bytes = None, {}, None, [], LIMITS.memory_bytes
        self.cpu_seconds = None

    async def _async_shutdown_kernel(self, now=False, restart=False):
        """Stop the kernel from outside, never by asking it over its channels: they are the
        student's to jam (a shutdown request to a kernel that took no more messages hung plain
        nbgrader's autograde for good, in the tampering tests), and nothing in a sandboxed kernel
        needs a clean exit (its folder is discarded, its uid swept)."""
        await super()._async_shutdown_kernel(now=True, restart=restart)

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        if cmd and os.path.basename(cmd[0]).startswith("python"):
            cmd = [cmd[0], "-I", *cmd[1:],
                   "--IPKernelApp.exec_lines=['import sys; sys.path.insert(0, \"\")']"]
        mpl = Path(self._private) / "mpl"
        mpl.mkdir(exist_ok=True)
        matplotlib_cache(mpl)
        if self.uid is not None:  # the kernel, under its own uid, reads and writes here
            for path in (self._private, self.connection_file, mpl, *mpl.iterdir()):
                if os.path.exists(path):
                    os.chown(path, self.uid, self.uid)
        self.sandbox = Sandbox(writable=[self._private], files=self.files, workdir=WORKDIR,
                               work_bytes=LIMITS.kernel_work_bytes,
                               uid=self.uid, memory_bytes=self.memory_bytes, cpu_seconds=self.cpu_seconds,
                               env={"MPLCONFIGDIR": str(mpl), "IPYTHONDIR": "/tmp/.ipython", "HOME": WORKDIR})
        if not self.sandbox.available:
            warn_unsandboxed(self.log)
            return cmd
        return self.sandbox.wrap(cmd)

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        # The kernel's own console chatter (not cell output, which travels over IPC) is dropped.
        kw["stdout"] = kw["stderr"] = subprocess.DEVNULL
        kw.pop("cwd", None)  # the sandbox sets it; the submission's folder is never the kernel's
        paths = list(self.cgroup_paths)
        if paths:
            def join():
                for path in paths:
                    with open(os.path.join(path, "cgroup.procs"), "w") as f:
                        f.write("0")
            kw["preexec_fn"] = join
        return await super()._async_launch_kernel(kernel_cmd, **kw)

    async def interrupt_kernel(self):
        if not self.has_kernel:
            raise RuntimeError("Cannot interrupt kernel. No kernel is running!")
        msg = self.session.msg("interrupt_request", content={})
        self._connect_control_socket()
        self.session.send(self._control_socket, msg)

    async def cleanup_resources(self, restart=False):
        await super().cleanup_resources(restart=restart)
        if not restart:
            remove_private(self._private)


class SafeExecute(Execute):
    """Execute in a sandboxed kernel; survive kernel death; cap output; leave nothing behind."""

    timeout = Integer(int(LIMITS.cell_timeout), allow_none=True,
                      help="seconds one cell may run before it is interrupted").tag(config=True)
    max_output_bytes = Integer(LIMITS.max_output_bytes, help="output kept per cell; the rest is dropped").tag(config=True)
    memory_bytes = Integer(LIMITS.memory_bytes, help="memory of the kernel (address space, and "
                           "its cgroup where the machine has them)").tag(config=True)
    notebook_timeout = Integer(int(LIMITS.notebook_timeout), allow_none=True,
                               help="seconds one whole notebook may run (wall-clock, from the kernel's "
                               "start to its shutdown; and as many CPU seconds for the kernel): past "
                               "it the kernel is killed and the remaining cells say so").tag(config=True)

    def __init__(self, **kwargs):
        kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)
        super().__init__(**kwargs)

    def preprocess(self, nb, resources=None, km=None):
        self._dead, self._output_bytes = None, {}
        folder = resources.get("metadata", {}).get("path") or os.getcwd()
        self._copy, self._files = private_copy(folder)
        uids = RUN.uids()
        cgroups = RUN.cgroups(self.memory_bytes)
        self._uid = uids.take()
        self._student = RUN.kernel_name()
        self._cgroup_paths = cgroups.student(self._student)
        self._violations, self._managers = [], []
        self._expired = False
        deadline = None
        if self.notebook_timeout:
            deadline = threading.Timer(self.notebook_timeout, self._notebook_expired)
            deadline.daemon = True
            deadline.start()
        try:
            return super().preprocess(nb, resources, km)
        finally:
            if deadline is not None:
                deadline.cancel()
            left = kill_uid(self._uid) + cgroups.end(self._student)
            if left:
                self._violations.append(f"{left} process{'es' if left > 1 else ''} left running by the "
                                        "notebook's kernel (killed)")
            nb.metadata.setdefault("autograder", {})["kernel_violations"] = self._violations
            uids.give_back(self._uid)
            shutil.rmtree(self._copy, ignore_errors=True)
            for manager in self._managers:  # whatever path nbclient's cleanup took
                remove_private(manager._private)

    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        if isinstance(km, SandboxedKernelManager):
            km.files, km.uid, km.cgroup_paths = self._files, self._uid, self._cgroup_paths
            km.memory_bytes = self.memory_bytes
            km.cpu_seconds = self.notebook_timeout or None
            self._managers.append(km)
        return km

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        if self._dead:
            cell.outputs = [error_output("NotRun", f"This cell did not run: {self._dead}.")]
            return cell, resources
        # nbclient waits on the kernel's messages, which student code can forge or garble:
        # past its own limit (plus a grace), the kernel is killed, whatever it is saying.
        limit = (self.timeout or LIMITS.cell_timeout) + LIMITS.kernel_grace
        watchdog = threading.Timer(limit, self._kill_kernel)
        watchdog.daemon = True
        watchdog.start()
        try:
            return super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            return self._stopped(cell, resources, f"the kernel died in cell {index + 1}", "KernelDied",
                                 "The kernel died while running this cell: the code called os._exit, "
                                 "crashed, or ran out of memory or of the notebook's CPU time. Later "
                                 "cells did not run.")
        except CellTimeoutError:  # not even an interrupt got an answer: the kernel is gone
            self._kill_kernel()
            return self._stopped(cell, resources, f"the kernel stopped answering in cell {index + 1}",
                                 "CellTimeoutError", "This cell did not finish, and the kernel stopped "
                                 "answering (even to an interrupt): it was stopped. Later cells did not run.")
        except Exception as exc:  # a message the client could not read: the kernel is not trusted
            self._kill_kernel()
            if not self._expired:
                self._violations.append(f"the kernel's channel carried something the grader did not "
                                        f"write, in cell {index + 1} ({type(exc).__name__})")
            return self._stopped(cell, resources, f"the kernel sent something unreadable in cell {index + 1}",
                                 "KernelBroken", "The kernel sent messages the grader could not read "
                                 "while running this cell, and was stopped. Later cells did not run.")
        finally:
            watchdog.cancel()

    def _stopped(self, cell, resources, dead, ename, text):
        """The kernel is gone while running `cell`: say why in the cell, and skip the rest. When
        the notebook's time ran out, that is the reason, whatever the client saw."""
        if self._expired:
            dead = self._expired
            ename, text = "NotebookTimeout", (f"The notebook ran past its time limit "
                                              f"({self.notebook_timeout} s) while this cell ran: the "
                                              "kernel was stopped. Later cells did not run.")
        self._dead = dead
        cell.outputs.append(error_output(ename, text))
        return cell, resources

    def _notebook_expired(self):
        """The notebook's time is up: no more cells, and the kernel (with all of its uid) ends."""
        self._expired = self._dead = f"the notebook ran past its time limit ({self.notebook_timeout} s)"
        self._violations.append(f"the notebook ran past its time limit ({self.notebook_timeout} s): "
                                "its kernel was killed")
        self._kill_kernel()

    def _kill_kernel(self):
        """End the kernel and everything of its uid, from outside its sandbox."""
        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        if process is not None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except OSError:
                try:
                    process.kill()
                except OSError:
                    pass
        kill_uid(self._uid)

    def output(self, outs, msg, display_id, cell_index):
        size = len(json.dumps(msg.get("content", {})))
        used = self._output_bytes.get(cell_index, 0) + size
        self._output_bytes[cell_index] = used
        if used > self.max_output_bytes:
            if used - size <= self.max_output_bytes:
                outs.append(nbformat.v4.new_output(
                    "stream", name="stdout",
                    text=f"\n[output truncated: this cell printed more than {self.max_output_bytes} bytes]\n"))
            return None
        return super().output(outs, msg, display_id, cell_index)

"""`python -m autograder.forkserver`: a warm parent that runs every notebook in a fresh fork.

Started once per grading worker, inside the sandbox. It imports torch, IPython, matplotlib, the
course package and the checks, creates an IPython shell, and never runs student code itself.
For each request it forks:

- one child that runs the notebook's code cells in that shell, as the kernel would (magics,
  input transformers, warnings, inline figures), with a time limit per cell, and streams each
  cell's outputs back;
- one child per exercise that runs the clean-process check (`autograder.verify`).

Children drop to an unprivileged uid of their own (when started as root), get a memory limit,
and die with the server; so whatever one student's code does to its process is gone for the
next student, and startup costs milliseconds instead of seconds (copy-on-write).

Protocol: requests on stdin, responses on stdout, one JSON document per line.
"""

import ctypes
import json
import os
import resource
import select
import signal
import sys
import time

# --- warm-up: everything heavy is imported before any student code ------------------------
import matplotlib

matplotlib.use("module://matplotlib_inline.backend_inline")
import matplotlib.pyplot  # noqa: E402,F401
import numpy  # noqa: E402,F401
import torch  # noqa: E402,F401
import ipywidgets  # noqa: E402,F401
from IPython.core.displayhook import DisplayHook  # noqa: E402
from IPython.core.displaypub import DisplayPublisher  # noqa: E402
from IPython.core.interactiveshell import InteractiveShell  # noqa: E402
from traitlets.config import Config  # noqa: E402

import course.checks  # noqa: E402,F401
import course.devices  # noqa: E402,F401
import course.plots  # noqa: E402,F401
import course.widgets  # noqa: E402,F401

from . import verify  # noqa: E402  (pins the genuine references the checks use)
from .exercises import warm_up  # noqa: E402

MAX_OUTPUT_BYTES = 1_000_000
HOME = "/tmp/student-home"


class GradingShell(InteractiveShell):
    """IPython as a kernel runs it, minus the kernel: inline figures, no GUI event loop."""

    def enable_gui(self, gui=None):
        pass


def make_shell():
    config = Config()
    config.HistoryManager.enabled = False  # no history thread, no sqlite file
    config.InteractiveShell.colors = "nocolor"
    shell = GradingShell.instance(config=config)
    shell.enable_matplotlib("inline")
    return shell


# --- the notebook child ---------------------------------------------------------------------

class CellOutputs:
    """Outputs of the running cell, as nbformat dicts, capped like SafeExecute caps them."""

    def __init__(self):
        self.items, self.size, self.truncated = [], 0, False

    def add(self, output, size):
        self.size += size
        if self.size > MAX_OUTPUT_BYTES:
            if not self.truncated:
                self.truncated = True
                self.items.append({"output_type": "stream", "name": "stdout",
                                   "text": f"\n[output truncated: this cell printed more than {MAX_OUTPUT_BYTES} bytes]\n"})
            return
        if (output["output_type"] == "stream" and self.items
                and self.items[-1]["output_type"] == "stream" and self.items[-1]["name"] == output["name"]):
            self.items[-1]["text"] += output["text"]
        else:
            self.items.append(output)


class Stream:
    def __init__(self, name, sink):
        self.name, self.sink = name, sink

    def write(self, text):
        if text:
            self.sink().add({"output_type": "stream", "name": self.name, "text": str(text)}, len(text))
        return len(text)

    def flush(self):
        pass

    def isatty(self):
        return False

    @property
    def encoding(self):
        return "utf-8"


class Publisher(DisplayPublisher):
    def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kwargs):
        self.sink().add({"output_type": "display_data", "data": data, "metadata": metadata or {}},
                        len(json.dumps(data, default=str)))

    def clear_output(self, wait=False):
        self.sink().items.clear()


class Hook(DisplayHook):
    def write_output_prompt(self):
        pass

    def write_format_data(self, format_dict, md_dict=None):
        self.sink().add({"output_type": "execute_result", "data": format_dict,
                         "metadata": md_dict or {}, "execution_count": self.shell.execution_count},
                        len(json.dumps(format_dict, default=str)))

    def finish_displayhook(self):
        pass


def become_student(uid, workdir, memory_bytes, cpu_seconds):
    """Confine this child: its own process group, dies with the server, memory and CPU limits,
    its own uid."""
    os.setpgid(0, 0)
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    os.chdir(workdir)
    if memory_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    if os.geteuid() == 0 and uid:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
        resource.setrlimit(resource.RLIMIT_NPROC, (256, 256))
    os.environ.update(HOME=HOME, MPLCONFIGDIR=HOME)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)


class CellTimeout(KeyboardInterrupt):
    pass


def _interrupt(signum, frame):
    raise KeyboardInterrupt()


def run_notebook(shell, request, write_fd):
    """In the child: run each code cell, send '{"cell": i, "outputs": [...]}' after each."""
    become_student(request.get("uid"), request["workdir"], request.get("memory_bytes"),
                   int(request.get("notebook_timeout", 900)) + 5)
    for fd in range(3, 1024):
        if fd != write_fd:
            try:
                os.close(fd)
            except OSError:
                pass
    out = os.fdopen(write_fd, "w")
    current = [CellOutputs()]
    sink = lambda: current[0]  # noqa: E731
    sys.stdout, sys.stderr = Stream("stdout", sink), Stream("stderr", sink)
    shell.display_pub = Publisher(shell=shell)
    shell.display_pub.sink = sink
    shell.displayhook = Hook(shell=shell, cache_size=0)
    shell.displayhook.sink = sink
    sys.displayhook = shell.displayhook

    def show(etype, evalue, stb):
        sink().add({"output_type": "error", "ename": etype.__name__ if etype else "Error",
                    "evalue": str(evalue), "traceback": list(stb)}, sum(len(s) for s in stb))

    shell._showtraceback = show
    signal.signal(signal.SIGALRM, _interrupt)
    limit = request.get("cell_timeout", 120)
    for index, source in request["cells"]:
        current[0] = CellOutputs()
        print(json.dumps({"start": index}), file=out, flush=True)
        signal.setitimer(signal.ITIMER_REAL, limit)
        try:
            shell.run_cell(source, store_history=True, silent=False)
        except BaseException as exc:  # SystemExit and friends end the cell, as in a kernel
            show(type(exc), exc, [f"{type(exc).__name__}: {exc}"])
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        message = {"cell": index, "outputs": current[0].items, "execution_count": shell.execution_count}
        print(json.dumps(message, default=str), file=out, flush=True)
    out.close()
    os._exit(0)


def read_messages(fd, deadline):
    """Lines from `fd` until EOF or the deadline; returns (messages, timed_out)."""
    buffer, messages = b"", []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return messages, True
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            break
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            try:
                messages.append(json.loads(line))
            except ValueError:
                pass
    return messages, False


def kill(pid):
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
        except OSError:
            pass


def execute(shell, request):
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        try:
            run_notebook(shell, request, write_fd)
        finally:
            os._exit(0)
    os.close(write_fd)
    start = time.monotonic()
    messages, timed_out = read_messages(read_fd, start + request.get("notebook_timeout", 900))
    if timed_out:
        kill(pid)
    os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    cells, started = {}, None
    for message in messages:
        if "start" in message:
            started = message["start"]
        elif "cell" in message:
            cells[message["cell"]] = {"outputs": message["outputs"],
                                      "execution_count": message["execution_count"]}
            started = None
    dead = None
    if timed_out:
        dead = "the notebook ran past its time limit"
    elif os.waitstatus_to_exitcode(status) != 0 or started is not None:
        dead = "the code called os._exit, crashed, or ran out of memory"
    return {"cells": cells, "stuck": started, "dead": dead,
            "seconds": round(time.monotonic() - start, 3)}


# --- the server loop ------------------------------------------------------------------------

def serve():
    warm_up()  # never run torch ops here: forking after them can deadlock the children
    shell = make_shell()
    os.makedirs(HOME, exist_ok=True)
    os.chmod(HOME, 0o1777)
    snapshot = verify.integrity_snapshot()
    channel = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # stray prints must not corrupt the protocol
    print(json.dumps({"ready": True}), file=channel, flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        response = {"execution": execute(shell, request)}
        start = time.monotonic()
        response["verdicts"] = verify.verify(request["verify"], snapshot=snapshot,
                                             uid=request.get("uid"))
        response["verify_seconds"] = round(time.monotonic() - start, 3)
        print(json.dumps(response), file=channel, flush=True)


if __name__ == "__main__":
    serve()

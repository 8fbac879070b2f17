"""`python -m autograder.forkserver`: a warm parent that runs every notebook in a fresh fork.

Started once per grading run, inside the sandbox. It imports torch, IPython, matplotlib, the
course package and the checks, creates an IPython shell, and never runs student code itself.
For each request it forks:

- one child that runs the notebook's code cells in that shell, as the kernel would (magics,
  input transformers, warnings, inline figures), with a time limit per cell, and streams each
  cell's outputs back;
- one child per exercise that runs the clean-process check (`autograder.verify`).

Children drop to an unprivileged uid of their own (when started as root), get a memory limit,
and die with the server; so whatever one student's code does to its process is gone for the
next student, and startup costs milliseconds instead of seconds (copy-on-write).

Several notebooks are in flight at once, each notebook's cells and its checks in concurrent
forks: a submission stuck in an infinite loop holds one child until its time limit, not the
grading of everyone else, and a child that has run for a while is reniced so that quick ones
keep the CPU.

Protocol: requests on stdin, responses on stdout, one JSON document per line, matched by "id".
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
# One compute thread per child: many children share the cores, and idle OpenMP threads that
# spin-wait would burn the CPU the others need (course tensors are far too small to gain).
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"

import matplotlib

matplotlib.use("module://matplotlib_inline.backend_inline")
import matplotlib.pyplot  # noqa: E402,F401
import numpy  # noqa: E402,F401
import torch  # noqa: E402

torch.set_num_threads(1)
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


def warm_figures():
    """Render one throwaway figure the way the inline backend does, so that fonts and glyph
    caches are loaded once here instead of in every notebook child (about 0.25 s each)."""
    from IPython.core.pylabtools import print_figure
    figure, ax = matplotlib.pyplot.subplots()
    ax.plot([0, 1], [0, 1], label="line")
    ax.legend()
    ax.set_title("warm-up")
    for size in (7, 9, 10):
        ax.text(0.5, 0.5, "0123456789 @-.e+ abcdefghijklmnopqrstuvwxyz", fontsize=size)
    print_figure(figure, "png", bbox_inches="tight")
    matplotlib.pyplot.close(figure)


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
    limit = request.get("cell_timeout", 120)
    # SIGALRM ends the running cell: from this child's own timer at the cell's limit, or from the
    # server for a cell that is stuck (Job.stuck_until), never before the check's time limit; a
    # late signal meant for the previous cell finds a cell that has not run that long, and is ignored.
    shortest = min(limit, request["verify"].get("time_limit", limit)) - 0.05
    cell_started = [time.monotonic()]

    def interrupt(signum, frame):
        if time.monotonic() - cell_started[0] >= shortest:
            raise KeyboardInterrupt()

    signal.signal(signal.SIGALRM, interrupt)
    for index, source in request["cells"]:
        current[0] = CellOutputs()
        cell_started[0] = time.monotonic()
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


def fork_notebook(shell, request):
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        try:
            run_notebook(shell, request, write_fd)
        finally:
            os._exit(0)
    os.close(write_fd)
    return pid, read_fd


def notebook_result(raw, status, timed_out, seconds):
    """The execution record from the lines a notebook child sent and how it ended."""
    cells, started = {}, None
    for line in raw.split(b"\n"):
        try:
            message = json.loads(line)
        except ValueError:
            continue
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
    return {"cells": cells, "stuck": started, "dead": dead, "seconds": round(seconds, 3)}


class Child:
    """A forked child the server waits on: what it is for, its pipe and its deadline; for a
    notebook child, also the cell it is running and since when."""

    def __init__(self, job, key, pid, fd, seconds):
        self.job, self.key, self.pid, self.fd, self.limit = job, key, pid, fd, seconds
        self.started = time.monotonic()
        self.deadline = self.started + seconds
        self.chunks, self.reniced = [], False
        self.cell, self.cell_started, self.interrupted, self._partial = None, 0.0, set(), b""

    def running_since(self):
        """Since when this child has run its current piece of work: a check since its start,
        a notebook since its current cell began."""
        return self.started if self.key is not None else (self.cell_started or self.started)

    def renice(self, now):
        """Long runners (a check, or a notebook's cell, past RENICE_AFTER) yield the CPU to quick
        ones; a notebook gets its priority back at its next cell."""
        want = now - self.running_since() > RENICE_AFTER
        if want != self.reniced:
            self.reniced = want
            try:
                os.setpriority(os.PRIO_PGRP, self.pid, 10 if want else 0)
            except OSError:
                pass

    def received(self, data):
        self.chunks.append(data)
        if self.key is not None:
            return
        *lines, self._partial = (self._partial + data).split(b"\n")
        for line in lines:
            if line.startswith(b'{"start"'):
                self.cell, self.cell_started = json.loads(line)["start"], time.monotonic()
            elif line.startswith(b'{"cell"'):
                self.cell, self.cell_started = None, time.monotonic()
        if len(self._partial) > 64:  # a long outputs line: only its start matters here
            self._partial = self._partial[:64] if self._partial.startswith(b"{") else b""

    def finish(self, timed_out):
        if timed_out:
            verify.kill(self.pid)
        os.close(self.fd)
        _, status = os.waitpid(self.pid, 0)
        seconds = time.monotonic() - self.started
        raw = b"".join(self.chunks)
        if self.key is None:
            self.job.execution = notebook_result(raw, status, timed_out, seconds)
        else:
            self.job.verdicts[self.key] = verify.interpret(raw, status, timed_out, self.limit)
            self.job.check_seconds += seconds
        self.job.children.discard(self)


class Job:
    """One notebook: its checks (forked first, a few at a time) and its run (given a slot)."""

    def __init__(self, request):
        self.id, self.request = request["id"], request
        self.children, self.execution, self.verdicts, self.check_seconds = set(), None, {}, 0.0
        self.graded_cells = {int(k): v for k, v in request.get("graded_cells", {}).items()}
        self.check_limit = request["verify"].get("time_limit", 60)
        self.pending_checks, self.notebook_started = [], False
        self.arrived, self.queued = time.monotonic(), 0.0
        for ex_id, source in request["verify"]["solutions"].items():
            if ex_id not in verify.CHECKS:
                continue
            if source is None:
                self.verdicts[ex_id] = verify.missing_cell(ex_id)
            else:
                self.pending_checks.append(ex_id)

    def done(self):
        return self.notebook_started and not self.pending_checks and not self.children

    def suspect(self, now):
        """A check of this notebook ran long or timed out: its notebook probably has a stuck
        cell too, whose time limit had better start running early."""
        return (any(v.get("status") == "timeout" for v in self.verdicts.values())
                or any(c.key is not None and now - c.started > SUSPECT_AFTER for c in self.children))

    def stuck_until(self):
        """When the notebook child's current cell counts as stuck, or None.

        A graded cell whose exercise already timed out in its clean-process check, and that has
        now run as long as that check was allowed to, is as stuck as the check was: its outputs
        will be replaced by the timeout verdict and it cannot score, so waiting out the cell's
        own (longer) time limit would change no grade, only delay every later cell.
        """
        notebook = next((c for c in self.children if c.key is None), None)
        if notebook is None or notebook.cell is None or notebook.cell in notebook.interrupted:
            return None
        exercise = self.graded_cells.get(notebook.cell)
        if exercise is None or self.verdicts.get(exercise, {}).get("status") != "timeout":
            return None
        return notebook, notebook.cell_started + self.check_limit

    def response(self):
        order = list(self.request["verify"]["solutions"])
        return {"id": self.id, "execution": self.execution,
                "verdicts": {k: self.verdicts[k] for k in order if k in self.verdicts},
                "verify_seconds": round(self.check_seconds, 3), "queued_seconds": round(self.queued, 3)}


# --- scheduling -----------------------------------------------------------------------------

RENICE_AFTER = 3.0  # seconds; then a child yields the CPU to quick ones and frees its slot
SUSPECT_AFTER = 1.0  # a check still running after this many seconds makes its notebook go first


class Scheduler:
    """Which children run now.

    Every received notebook's checks are forked before any further notebook starts,
    `check_slots` at a time (they take milliseconds); notebooks run `notebook_slots` at a time,
    first-come first-served, except that a notebook whose check is stuck goes first: a stuck
    submission then waits out its time limits while the others are graded, instead of at the
    end. A child that has run its current work for RENICE_AFTER seconds is reniced and stops
    counting against the slots.
    """

    def __init__(self, shell, snapshot):
        self.shell, self.snapshot = shell, snapshot
        self.jobs, self.children = [], {}
        self.notebook_slots = self.check_slots = os.cpu_count() or 1

    def add(self, request):
        self.notebook_slots = request.get("notebook_slots") or self.notebook_slots
        self.check_slots = request.get("check_slots") or self.check_slots
        self.jobs.append(Job(request))

    def busy(self):
        return bool(self.children) or any(not j.done() for j in self.jobs)

    def _active(self, notebooks):
        return sum(1 for c in self.children.values() if (c.key is None) == notebooks and not c.reniced)

    def start_work(self):
        while self._active(notebooks=False) < self.check_slots:
            job = next((j for j in self.jobs if j.pending_checks), None)
            if job is None:
                break
            ex_id = job.pending_checks.pop(0)
            pid, fd = verify.fork_check(job.request["verify"], ex_id, self.snapshot, job.request.get("uid"))
            self._add_child(Child(job, ex_id, pid, fd, job.check_limit))
        while self._active(notebooks=True) < self.notebook_slots:
            if any(j.pending_checks for j in self.jobs):
                break  # checks first: they take milliseconds and tell which notebooks are stuck
            waiting = [j for j in self.jobs if not j.notebook_started]
            if not waiting:
                break
            now = time.monotonic()
            job = next((j for j in waiting if j.suspect(now)), waiting[0])
            job.notebook_started, job.queued = True, now - job.arrived
            pid, fd = fork_notebook(self.shell, job.request)
            self._add_child(Child(job, None, pid, fd, job.request.get("notebook_timeout", 900)))

    def _add_child(self, child):
        child.job.children.add(child)
        self.children[child.fd] = child

    def tick(self, now):
        """Enforce deadlines, renice long runners, stop stuck graded cells."""
        for child in list(self.children.values()):
            if now >= child.deadline:
                del self.children[child.fd]
                child.finish(timed_out=True)
            else:
                child.renice(now)
        for job in self.jobs:
            stuck = job.stuck_until()
            if stuck and now >= stuck[1]:
                notebook = stuck[0]
                notebook.interrupted.add(notebook.cell)
                try:
                    os.kill(notebook.pid, signal.SIGALRM)  # the child's cell-timeout path
                except OSError:
                    pass

    def finished(self):
        done = [j for j in self.jobs if j.done()]
        self.jobs = [j for j in self.jobs if not j.done()]
        return done

    def next_wake(self, now):
        """Seconds until something is due (a deadline, a renice, a stuck cell, a suspect), or None."""
        times = [c.deadline for c in self.children.values()]
        times += [c.running_since() + RENICE_AFTER for c in self.children.values() if not c.reniced]
        times += [stuck[1] for stuck in map(Job.stuck_until, self.jobs) if stuck]
        if any(not j.notebook_started for j in self.jobs):
            times += [c.started + SUSPECT_AFTER for c in self.children.values()
                      if c.key is not None and now - c.started <= SUSPECT_AFTER]
        return max(0.0, min(times) - now) if times else None

    def received(self, fd):
        child = self.children[fd]
        data = os.read(fd, 1 << 20)
        if data:
            child.received(data)
        else:
            del self.children[fd]
            child.finish(timed_out=False)


# --- the server loop ------------------------------------------------------------------------

def serve():
    warm_up()  # never run torch ops here: forking after them can deadlock the children
    shell = make_shell()
    warm_figures()
    os.makedirs(HOME, exist_ok=True)
    os.chmod(HOME, 0o1777)
    snapshot = verify.integrity_snapshot()
    import gc
    gc.collect()
    gc.freeze()  # children's collections then skip the server's objects: fewer pages copied on write
    channel = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # stray prints must not corrupt the protocol
    print(json.dumps({"ready": True}), file=channel, flush=True)
    scheduler, pending, open_input = Scheduler(shell, snapshot), b"", True
    while open_input or scheduler.busy():
        scheduler.tick(time.monotonic())
        for job in scheduler.finished():
            print(json.dumps(job.response()), file=channel, flush=True)
        scheduler.start_work()
        wait = scheduler.next_wake(time.monotonic())
        ready, _, _ = select.select(([0] if open_input else []) + list(scheduler.children), [], [], wait)
        for fd in ready:
            if fd != 0:
                scheduler.received(fd)
                continue
            data = os.read(0, 1 << 20)
            if not data:
                open_input = False
                continue
            pending += data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if line.strip():
                    scheduler.add(json.loads(line))
    for job in scheduler.jobs:
        print(json.dumps(job.response()), file=channel, flush=True)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"server_cpu": round(usage.ru_utime + usage.ru_stime, 3)}), file=channel, flush=True)


if __name__ == "__main__":
    serve()

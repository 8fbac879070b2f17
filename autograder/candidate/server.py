"""`python -I -m autograder.candidate.server FD`: where student code runs, one fork at a time.

Started once per grading run, inside the sandbox, as root with only the capabilities it needs
to hand each child a uid of its own. It imports torch, IPython, matplotlib, the course package
and the candidate side of the grader, renders a throwaway figure, then forks its *zygote*
(`zygote.py`), the clean image every child is forked from, before it reads any request; it
then drops CAP_SYS_ADMIN (only the zygote's children need it, for an IPC namespace each). It
never runs student code, and never forks a process that does: the server holds every request
it received, the zygote none. Requests arrive on its socket to the command (fd FD), decoded by
`protocol.messages`:

- `CandidateRequest`: fork a child that loads one exercise's cells and answers a judge over the
  socket that came with the request (`respond.serve`);
- `NotebookRequest`: fork a child that runs the whole notebook for the student's feedback
  (`notebook.run`), in a private folder holding the submission's files.

Each child gets its work (how to confine it, then the student's cells) in a sealed memfd it
reads itself, and is confined before it reads the cells (`confine.become_student`): its own
uid, the student's cgroups, its own IPC namespace, its own mount namespace whose only writable
places are a fresh tmpfs on its working folder and one on /dev/shm (sized by the request's
`tmp_bytes` and `file_bytes`, charged to its cgroup, gone with it), limits, no inherited
descriptor but its own channel. The server runs
candidates first (`check_slots` at a time), then notebooks (`notebook_slots`); a child that has
run for RENICE_AFTER seconds is reniced (its whole uid) and frees its slot; limits count the
child's own time (a candidate: its CPU time, and `CHECK_WAITS` times its limit in its own
time, since it waits for its judge). When a child is done, every process left with its uid is killed and reported.
If the zygote dies (the OOM killer), its children in flight die with it: the server ends each
as lost by the grader (`Killed.GRADER_LOST`: an error for that student that says so, never a
score), takes the spare zygote the first one forked, asks it for the next spare, and goes on.
The server tells the command `CandidateDone` and `NotebookDone`; everything a notebook child
sent is checked (framing, sizes, types) and kept within its limits before it is passed on
(`notebook_channel`), and a request the server cannot read is answered as ended unread.
"""

import base64
import binascii
import importlib
import os
import pkgutil
import shutil
import signal
import sys
import time

# One compute thread per child: many children share the cores, and idle OpenMP threads that
# spin-wait would burn the CPU the others need (course tensors are far too small to gain).
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"

import matplotlib  # noqa: E402

matplotlib.use("module://matplotlib_inline.backend_inline")
import matplotlib.pyplot  # noqa: E402,F401
import numpy  # noqa: E402,F401
import torch  # noqa: E402

torch.set_num_threads(1)
import ipywidgets  # noqa: E402,F401

import course  # noqa: E402

# Every course module, once, before the fork: candidates run the notebooks' import lines.
for _module in pkgutil.iter_modules(course.__path__):
    importlib.import_module(f"course.{_module.name}")

from ..protocol import fixtures, frames, values  # noqa: E402,F401
from ..protocol.forkserver import Child, Poller, cpu_wait, run_server  # noqa: E402
from ..protocol.limits import CHECK_WAITS  # noqa: E402
from ..protocol.messages import (  # noqa: E402
    CandidateDone,
    CandidateRequest,
    CellStarted,
    Job,
    NotebookRequest,
    unread,
)
from ..protocol.verdicts import Killed  # noqa: E402
from ..protocol.warm import warm_torch  # noqa: E402
from . import confine, describe, notebook, notebook_channel, operations, respond, zygote  # noqa: E402,F401
from .notebook_channel import NotebookChannel  # noqa: E402

WORK = "/tmp/work"
RENICE_AFTER = 3.0  # seconds; then a child yields the CPU to quick ones and frees its slot
RENICE_CANDIDATE, RENICE_NOTEBOOK = 10, 19  # a long check outranks a long cell
CELL_GRACE = 10.0  # seconds past a cell's limit before a child that ignores its timer is killed
EOF_GRACE = 2.0  # seconds a notebook child may live after closing its pipe


class Task:
    """One request (a CandidateRequest or a NotebookRequest), queued until a slot is free."""

    def __init__(self, request, fds):
        self.request, self.fds = request, fds
        self.kind = request.op
        self.key, self.limits, self.uid = request.key, request.limits, request.uid
        self.workdir = None
        self.cell, self.cell_started, self.cell_waited = None, 0.0, 0.0
        self.violations, self.poisoned = [], False
        self.channel = NotebookChannel(request) if self.kind == "notebook" else None



def make_workdir(task, files=()):
    """A private folder on the sandbox's size-limited /tmp, readable by this uid only."""
    path = os.path.join(WORK, f"{task.kind[0]}-{task.key}".replace("/", "_"))
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path, mode=0o700)
    total = 0
    for relpath, data in files:
        target = os.path.normpath(os.path.join(path, relpath))
        if not target.startswith(path + os.sep):
            continue  # a name that climbs out of the folder
        try:
            raw = base64.b64decode(data, validate=True)
        except (ValueError, binascii.Error):
            task.violations.append("a file of the submission was not base64: not copied")
            continue
        total += len(raw)
        if total > task.limits.submission_bytes:
            task.violations.append(f"the submission's files are over {task.limits.submission_bytes >> 20} MB: "
                                   "the rest were not copied")
            break
        try:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as f:
                f.write(raw)
        except (OSError, ValueError) as exc:  # a name that is a folder too, a NUL byte, a full /tmp
            task.violations.append(f"a file of the submission could not be copied ({type(exc).__name__})")
    if task.uid and os.geteuid() == 0:
        for root, dirs, names in os.walk(path):
            for name in [*dirs, *names]:
                os.lchown(os.path.join(root, name), task.uid, task.uid)
        os.chown(path, task.uid, task.uid)
    task.workdir = path
    return path


class Spawned(Child):
    """A child of the zygote: its exit comes from the zygote's report (`ended`), and it stays a
    zombie (its pid never reused) until the server has finished with it."""

    def reap(self):
        return self.exited

    def ended(self, code):
        self.exited, self.status = True, (code << 8) if code >= 0 else -code  # as waitpid says


class Server:
    def __init__(self, control, image):
        self.control, self.image = control, image
        self.spare = image.spare()  # the next zygote, should this one die
        self.queue, self.children = [], {}
        self.check_slots = self.notebook_slots = os.cpu_count() or 1
        self.poller = Poller()

    # --- requests ------------------------------------------------------------------------
    def receive(self):
        for frame, request, fds in self.control.requests((CandidateRequest, NotebookRequest)):
            if request is None:
                said = unread(frame)  # a request it cannot read: nobody may wait for it
                if said is not None:
                    self.control.send(said.to_wire())
                continue
            self.check_slots = request.slots.checks or self.check_slots
            self.notebook_slots = request.slots.notebooks or self.notebook_slots
            self.queue.append(Task(request, fds))

    def active(self, kind):
        return sum(1 for c in self.children.values() if c.task.kind == kind and not c.reniced)

    def start_work(self):
        while self.active("candidate") < self.check_slots:
            task = next((t for t in self.queue if t.kind == "candidate"), None)
            if task is None:
                break
            self.queue.remove(task)
            self.fork(task)
        while self.active("notebook") < self.notebook_slots:
            if any(t.kind == "candidate" for t in self.queue):
                break  # checks first: they take milliseconds and tell which notebooks are stuck
            task = next((t for t in self.queue if t.kind == "notebook"), None)
            if task is None:
                break
            self.queue.remove(task)
            self.fork(task)

    def fork(self, task):
        """Have the zygote fork the child for `task`; the child reads its work from a memfd."""
        limits = task.limits
        if task.kind == "candidate":
            workdir = make_workdir(task)
            channel = task.fds[0] if task.fds else None
            if channel is None:  # no judge to answer: the child finds its channel closed
                channel, other = os.pipe()
                os.close(other)
            body, out_fd = task.request.job.to_wire(), None
        else:
            workdir = make_workdir(task, task.request.files)
            out_fd, channel = os.pipe()
            body = NotebookRequest(task.key, task.request.cells, (), task.request.skip, limits).to_wire()
        header = {"uid": task.uid, "workdir": workdir, "limits": child_limits(limits, task.kind),
                  "cgroups": list(task.request.cgroups)}
        work = zygote.write_work(header, body)
        try:
            pid = self.with_image(lambda image: image.spawn(task.kind, channel, work))
        finally:
            os.close(work)
            os.close(channel)
        if task.kind == "candidate":
            child = Spawned(task, pid, limits.check_time_limit, waits=CHECK_WAITS)
        else:
            child = Spawned(task, pid, limits.notebook_timeout, out_fd=out_fd,
                            out_limit=notebook_channel.total_limit(task.request),
                            frame_limit=notebook_channel.frame_limit(task.request))
        self.children[child.pid] = child

    # --- children --------------------------------------------------------------------------
    def watched(self):
        fds = {self.image.fd, self.spare.fd} | ({self.control.fd} if self.control.open else set())
        for child in self.children.values():
            if child.out_fd is not None and child.eof_at is None:
                fds.add(child.out_fd)
        return fds

    def on_ready(self, ready):
        for child in list(self.children.values()):
            if child.out_fd is not None and child.out_fd in ready and child.eof_at is None:
                self.read_from(child, child.read)
        if self.spare.fd in ready:
            try:
                self.spare.poll_exits()
            except zygote.Lost:
                self.spare.close()
                self.spare = self.with_image(lambda image: image.spare())
        if self.image.fd in ready:
            try:
                self.image.poll_exits()
            except zygote.Lost:
                self.replace_image()
        for pid, code in self.image.take_exits():
            child = self.children.get(pid)
            if child is None:
                self.with_image(lambda image, pid=pid: image.reap(pid))
                continue
            child.ended(code)
            if child.out_fd is not None and child.eof_at is None:
                self.read_from(child, child.drain)  # what it wrote before it exited
            self.finish(child)

    def read_from(self, child, read):
        """Read and check a notebook child's frames; a forged or flooded channel ends it."""
        if child.task.poisoned:
            return
        try:
            read()
            self.take_frames(child)
        except frames.Malformed as exc:
            child.task.poisoned = True
            child.task.violations.append("the notebook's output channel carried something the "
                                         f"grader did not write ({exc})")
            child.kill(Killed.FORGED_CHANNEL)

    def take_frames(self, child):
        """Each frame the notebook child sent, decoded and bounded (`NotebookChannel`)."""
        task = child.task
        for frame in child.reader.frames():
            said = task.channel.take(frame)
            if isinstance(said, CellStarted):
                task.cell, task.cell_started = said.index, time.monotonic()
                task.cell_waited = cpu_wait(child.pid)
            else:
                task.cell = None

    def tick(self, now):
        """Time limits and renicing."""
        for child in list(self.children.values()):
            task = child.task
            if child.exited:
                continue
            if child.over_limit(now):
                child.kill(Killed.TIME_LIMIT if task.kind == "candidate" else Killed.NOTEBOOK_LIMIT)
            elif (task.kind == "notebook" and task.cell is not None
                  and child.own_seconds(now, task.cell_started, task.cell_waited)
                  >= task.limits.cell_timeout + CELL_GRACE):
                child.kill(Killed.CELL_LIMIT)
            elif child.eof_at is not None and now - child.eof_at > EOF_GRACE:
                child.kill(Killed.CLOSED_CHANNEL)
            self.renice(child, now)

    def renice(self, child, now):
        since = child.task.cell_started if child.task.kind == "notebook" and child.task.cell is not None else child.started
        want = now - since > RENICE_AFTER
        if want != child.reniced:
            child.reniced = want
            level = (RENICE_CANDIDATE if child.task.kind == "candidate" else RENICE_NOTEBOOK) if want else 0
            try:  # the whole uid: a child cannot setsid its way out of it
                if child.task.uid and os.geteuid() == 0:
                    os.setpriority(os.PRIO_USER, child.task.uid, level)
                else:
                    os.setpriority(os.PRIO_PGRP, child.pid, level)
            except OSError:
                pass

    def next_wake(self, now):
        times = []
        for child in self.children.values():
            if child.limit is not None:
                times.append(child.started + child.limit)
            if not child.reniced:
                times.append(child.started + RENICE_AFTER)
            if child.task.cell is not None:
                times.append(child.task.cell_started + RENICE_AFTER)
                times.append(child.task.cell_started + child.task.limits.cell_timeout + CELL_GRACE)
            if child.eof_at is not None:
                times.append(child.eof_at + EOF_GRACE)
        if not times:
            return None
        return max(0.05, min(times) - now) if min(times) > now else 0.25

    def finish(self, child):
        """The child has exited: sweep its uid, clean its folder, tell the command."""
        del self.children[child.pid]
        task = child.task
        left = self.with_image(lambda image: image.sweep(task.uid)) if task.uid and os.geteuid() == 0 else 0
        self.with_image(lambda image: image.reap(child.pid))  # its pid may be reused from now on
        if left:
            task.violations.append(f"{left} process{'es' if left > 1 else ''} left running after it "
                                   "ended (killed)")
        if task.workdir:
            shutil.rmtree(task.workdir, ignore_errors=True)
        seconds = round(time.monotonic() - child.started, 3)
        ended = child.how_it_ended()
        child.close()
        if task.kind == "candidate":
            self.control.send(CandidateDone(task.key, ended, seconds, tuple(task.violations)).to_wire())
        else:
            stuck = task.cell
            dead = None if child.killed is None else child.killed.value
            if dead is None and (ended.how != "exited" or stuck is not None):
                dead = "the code called os._exit, crashed, or ran out of memory"
            frame = task.channel.report(task.key, stuck, dead, seconds, task.violations)
            self.control.send_encoded(frame)

    def serve(self):
        while self.control.open or self.queue or self.children:
            now = time.monotonic()
            self.tick(now)
            self.start_work()
            self.poller.watch(self.watched(), [self.control.fd] if self.control.outbox else [])
            wake = self.next_wake(time.monotonic()) if self.children else (None if self.control.open else 0.1)
            ready = self.poller.ready(0 if self.image.exits else wake)
            if self.control.outbox:
                self.control.flush()
            if self.control.open and self.control.fd in ready and self.control.fd in self.watched():
                try:
                    self.receive()
                except frames.Malformed:
                    self.control.open = False
            self.on_ready(ready)
        self.image.close()
        self.spare.close()

    # --- the zygote ------------------------------------------------------------------------
    def with_image(self, act):
        """`act(zygote)`; if the zygote died, on its successor (once)."""
        try:
            return act(self.image)
        except zygote.Lost:
            self.replace_image()
            return act(self.image)

    def replace_image(self):
        """The zygote died (the OOM killer, say), and every child in flight with it: the spare
        takes its place and forks the next spare; each of those children is ended as lost by
        the grader (`Killed.GRADER_LOST`: the students' verdicts say so, not a mistake of
        theirs), its uid swept, and grading goes on."""
        lost, self.image = self.image, self.spare
        if lost.forked_here:  # our own child, not reaped yet: its pid is still its own
            try:
                os.kill(lost.pid, signal.SIGKILL)
            except OSError:
                pass
        lost.close()
        self.spare = self.image.spare()
        for child in list(self.children.values()):
            try:
                signal.pidfd_send_signal(child.pidfd, signal.SIGKILL)
            except OSError:
                pass
            if child.killed is None:
                child.killed = Killed.GRADER_LOST
            child.exited = True  # reaped by the sandbox's init: never signalled by pid again
            self.finish(child)


def run_child(kind, channel, work, shell):
    """A freshly forked child of the zygote (never returns): read how to confine it, confine
    it, only then read the student's cells, and run them."""
    try:
        header = zygote.read_frame(work)
        confine.become_student(header["uid"], header["workdir"], header["limits"], keep={channel, work},
                               cgroups=header["cgroups"])
        body = zygote.read_frame(work)
        os.close(work)
        if kind == "candidate":
            respond.serve(channel, Job.from_wire(body))
        else:
            notebook.run(shell, NotebookRequest.from_wire(body), channel)
    finally:
        os._exit(0)


def child_limits(limits, kind):
    """What a child of `kind` is confined to (from the request's `Limits`)."""
    seconds = limits.check_time_limit if kind == "candidate" else limits.notebook_timeout
    return {"memory_bytes": limits.memory_bytes, "cpu_seconds": int(seconds) + 15,
            "file_bytes": limits.file_bytes, "work_bytes": limits.tmp_bytes, "shm_bytes": limits.file_bytes,
            "processes": limits.candidate_processes if kind == "candidate" else limits.notebook_processes}


def main():
    fd = int(sys.argv[1])
    shell = notebook.make_shell()
    notebook.warm_figures()
    warm_torch()
    os.makedirs(WORK, mode=0o711, exist_ok=True)
    os.chmod(WORK, 0o711)
    image = zygote.start(lambda kind, channel, work: run_child(kind, channel, work, shell))
    confine.drop_capability(confine.CAP_SYS_ADMIN)  # the zygote's children need it, the server never
    run_server(fd, lambda control: Server(control, image))

if __name__ == "__main__":
    main()

"""`python -I -m autograder.judge.server FD`: the judges, in a sandbox of their own.

Started once per grading run. It imports torch, Hypothesis and every exercise's declaration,
finds the devices checks run on, drops to an unprivileged uid of its own (UID, never a student's), and never runs, imports
or unpickles anything a student wrote.

Requests arrive on its socket to the command (fd FD): `JudgeRequest` (an exercise to decide,
with the socket to that exercise's candidate attached) and `Gone` (the candidate server says
the candidate has ended). A judge is forked only once its candidate has spoken (or hung up),
so queued work costs a descriptor, not a process. Before the first judge of an exercise is
forked, the server draws that exercise's property-based examples (`properties.record`), once:
every later judge of it inherits them (only the exercises a run grades are drawn). The judge child runs the check
(`run.judge`) and writes its `Verdict` on a pipe; the server decodes it and sends `Judged` to
the command. A judge that dies or outlives its backstop limit becomes an "error" verdict that
says the grader failed, never a pass.

Each judge child is confined before it judges: a cgroup of its own under each group the grader
delegated to this server (`JUDGE_CGROUPS`, in its environment) with a memory limit
(`JUDGE_MEMORY`, the same as a candidate's) and a limit on its tasks, and an address-space limit
of as much again over what it inherited when no CUDA device is in use. A judge that allocates
beyond them fails that exercise's check alone ("the grader's judge ran out of memory"), never
the server or another judge. Its group is removed once it is reaped.

It never imports the code that calls student functions (`autograder.candidate`), IPython or
matplotlib: a test checks what it loads.
"""

import os
import resource
import sys
import time
from pathlib import Path

os.environ["OMP_NUM_THREADS"] = "1"  # judges are many and their tensors tiny
import torch  # before forking: children must not pay for it

from ..protocol import frames
from ..protocol.forkserver import PR_SET_PDEATHSIG, Child, Poller, keep_only, prctl, run_server
from ..protocol.limits import DEFAULT as LIMITS
from ..protocol.messages import Gone, Judged, JudgeRequest
from ..protocol.verdicts import ENDED_BEFORE_ANSWERING, Killed, Verdict, grader_failed
from ..protocol.warm import warm_torch
from . import properties
from .channel import Remote
from .declare import devices_here
from .exercises import REGISTRY, curriculum
from .run import judge

GONE_GRACE = 5.0  # seconds a judge may go on after its candidate has ended
JUDGE_MEMORY = LIMITS.memory_bytes or 4 << 30  # one judge child's memory (its cgroup)
JUDGE_TASKS = 64  # processes and threads of one judge child
GROUPS_ENV = "JUDGE_CGROUPS"  # the delegated cgroup roots, ":"-separated


def delegated_groups():
    """The cgroup roots the grader delegated to this server (none: no groups of its own)."""
    return [g for g in os.environ.get(GROUPS_ENV, "").split(":") if g]


def group_of(root, pid):
    return Path(root, f"judge-{pid}")


def confine(groups, address_space):
    """Put this (just forked) judge child in a cgroup of its own under each of `groups`, with
    its memory and tasks limits; `address_space`: also limit its address space to JUDGE_MEMORY
    over what it has now (not with CUDA, which reserves far more than it uses). A group that
    cannot be made leaves the others and the address-space limit in force."""
    if address_space:
        with open("/proc/self/statm") as f:
            size = int(f.read().split()[0]) * resource.getpagesize()
        resource.setrlimit(resource.RLIMIT_AS, (size + JUDGE_MEMORY, size + JUDGE_MEMORY))
    for root in groups:
        group = group_of(root, os.getpid())
        try:
            group.mkdir(exist_ok=True)  # a group an earlier judge of this pid left
            for name, value in (("memory.limit_in_bytes", JUDGE_MEMORY), ("memory.max", JUDGE_MEMORY),
                                ("memory.swap.max", 0), ("pids.max", JUDGE_TASKS)):
                if (group / name).exists():
                    (group / name).write_text(str(value))
            (group / "cgroup.procs").write_text("0")
        except OSError:
            continue


def ran_out_of_memory(groups, pid):
    """True when the cgroup of judge `pid` killed a process for memory."""
    for root in groups:
        for name in ("memory.oom_control", "memory.events"):
            try:
                lines = group_of(root, pid).joinpath(name).read_text().splitlines()
            except OSError:
                continue
            counts = dict(line.split()[:2] for line in lines if len(line.split()) >= 2)
            if counts.get("oom_kill", "0") != "0":
                return True
    return False


def remove_group(groups, pid):
    for root in groups:
        for _ in range(50):
            try:
                group_of(root, pid).rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:  # its last task is still leaving
                time.sleep(0.01)


class Pending:
    def __init__(self, request, fd):
        self.request, self.fd, self.key = request, fd, request.key
        self.gone_at = None


class Server:
    def __init__(self, control, devices, groups=()):
        self.control, self.devices, self.groups = control, devices, list(groups)
        self.address_space = not any(str(d).startswith("cuda") for d in devices)
        self.pending, self.judges, self.by_key = {}, {}, {}
        self.poller = Poller()

    def receive(self):
        for frame, request, fds in self.control.requests((JudgeRequest, Gone)):
            if isinstance(request, JudgeRequest) and len(fds) == 1 and self.valid(request):
                item = Pending(request, fds[0])
                os.set_blocking(item.fd, True)
                self.pending[item.fd] = item
                continue
            for fd in fds:
                os.close(fd)
            if isinstance(request, Gone):
                self.gone(request.key)
            elif isinstance(frame, dict) and type(frame.get("key")) is str:
                self.send_verdict(frame["key"], grader_failed("the grader sent the judge a request it could not read"))

    @staticmethod
    def valid(request):
        return request.assignment in REGISTRY and request.exercise in REGISTRY[request.assignment]

    def gone(self, key):
        for fd, item in list(self.pending.items()):
            if item.key == key:  # it never spoke: nothing to judge it on
                del self.pending[fd]
                os.close(fd)
                self.send_verdict(key, ENDED_BEFORE_ANSWERING)
        for child in self.judges.values():
            if child.task.key == key and child.task.gone_at is None:
                child.task.gone_at = time.monotonic()

    def start(self, item):
        """Fork the judge for `item`, whose candidate has spoken."""
        del self.pending[item.fd]
        properties.record(REGISTRY[item.request.assignment][item.request.exercise].strategies)
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(read_fd)
                keep_only({item.fd, write_fd})
                prctl(PR_SET_PDEATHSIG, 9)
                confine(self.groups, self.address_space)
                request = item.request
                verdict = judge(request.assignment, request.exercise, Remote(item.fd), self.devices)
                frames.send(write_fd, verdict.to_wire())
            finally:
                os._exit(0)
        os.close(write_fd)
        os.close(item.fd)
        child = Child(item, pid, None, out_fd=read_fd, out_limit=1 << 20)
        self.judges[pid] = child

    def on_ready(self, ready):
        for fd in [fd for fd in ready if fd in self.pending]:
            self.start(self.pending[fd])
        for child in list(self.judges.values()):
            if child.out_fd in ready and child.eof_at is None:
                try:
                    child.read()
                except frames.Malformed:
                    child.kill(Killed.MALFORMED_VERDICT)
            if child.pidfd in ready and child.reap():
                child.drain()
                self.finish(child)

    def finish(self, child):
        del self.judges[child.pid]
        key = child.task.key
        verdict = None
        try:
            said = child.reader.frames()
            verdict = Verdict.from_wire(said[0]) if said else None
        except frames.Malformed:
            pass
        ended = child.how_it_ended()
        child.close()
        out_of_memory = ran_out_of_memory(self.groups, child.pid)
        remove_group(self.groups, child.pid)
        if verdict is None:
            if child.killed and child.task.gone_at is not None:
                verdict = ENDED_BEFORE_ANSWERING
            elif out_of_memory:
                verdict = grader_failed(f"the grader's judge ran out of memory (its limit: "
                                        f"{JUDGE_MEMORY >> 20} MiB)")
            else:
                verdict = grader_failed(f"the grader's judge failed ({ended})")
        self.send_verdict(key, verdict)

    def send_verdict(self, key, verdict):
        self.control.send(Judged(key, verdict).to_wire())

    def tick(self, now):
        for child in self.judges.values():
            if child.exited:
                continue
            if now - child.started > LIMITS.judge_backstop:
                child.kill(Killed.BACKSTOP)
            elif child.task.gone_at is not None and now - child.task.gone_at > GONE_GRACE:
                child.kill(Killed.CANDIDATE_ENDED)

    def serve(self):
        while self.control.open or self.pending or self.judges:
            self.tick(time.monotonic())
            watch = set(self.pending) | {c.pidfd for c in self.judges.values()}
            watch |= {c.out_fd for c in self.judges.values() if c.eof_at is None}
            if self.control.open:
                watch.add(self.control.fd)
            self.poller.watch(watch, [self.control.fd] if self.control.outbox else [])
            ready = self.poller.ready(1.0 if self.judges else (None if self.control.open else 0.1))
            if self.control.outbox:
                self.control.flush()
            if self.control.open and self.control.fd in ready:
                try:
                    self.receive()
                except frames.Malformed:
                    self.control.open = False
            if not self.control.open and self.pending and not self.judges:
                for fd in list(self.pending):  # the command is gone: nobody to tell
                    os.close(fd)
                    del self.pending[fd]
            self.on_ready(ready)


def main():
    fd = int(sys.argv[1])
    torch.set_num_threads(1)
    warm_torch()
    devices = devices_here()
    groups = delegated_groups()
    run_server(fd, lambda control: Server(control, devices, groups), curriculum=curriculum(),
               devices=tuple(str(d) for d in devices))

if __name__ == "__main__":
    main()

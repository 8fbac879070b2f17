"""The instructor's side of grading: both servers, started once, and the work sent to them.

`Grader` launches the judge server and the candidate server, each in its own sandbox, and
grades with them: `check` sends one notebook's exercises (for each one, a `JudgeRequest` and a
`CandidateRequest`, holding the two ends of a fresh socket, so the two processes talk to each
other and to nobody else), `run_notebook` sends a notebook to run for feedback, and `events`
returns what has finished: a `Verdict` per exercise (the judge's, settled with how the
candidate ended: out of time, crashed) and a `NotebookDone` per notebook.

Every frame from a server is decoded here (`protocol.messages.decode_report`); a server that
dies or talks nonsense raises `ServerLost`, and the caller decides what to retry. Each process
tree gets a uid of its own (`isolation.UidBlock`), each student a cgroup where the machine
allows (`isolation.Cgroups`); `student_done` kills whatever a student left.
"""

import os
import select
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..candidate.confine import join_cgroups
from ..protocol import frames
from ..protocol.limits import Limits
from ..protocol.messages import (
    CandidateDone,
    CandidateRequest,
    Gone,
    Hello,
    Judged,
    JudgeRequest,
    NotebookDone,
    NotebookRequest,
    Refused,
    ServerCpu,
    Slots,
    decode_report,
    encoded_request,
)
from ..protocol.verdicts import Status, Verdict
from .isolation import Cgroups, UidBlock, kill_uids
from .sandbox import PACKAGE, Sandbox, judge_sandbox

# `python -I -m module`, but importing this very copy of the grader (the one bound into the
# sandbox), even when the environment's editable install points at another copy of the course.
BOOT = ("import runpy, sys; root, module = sys.argv[1:3]; del sys.argv[1:3]; sys.path.insert(0, root); "
        "runpy.run_module(module, run_name='__main__', alter_sys=True)")
LOG_TAIL_LINES = 20
LOG_TAIL_BYTES = 64 << 10  # where those lines are looked for: the end of the log, however long
SECOND_LOOK = 1.0  # seconds between the looks at /proc for what freed uids left running
# (what a server's log says, what it most likely means): shown when a server is lost
LIKELY_CAUSES = (
    ("No module named 'autograder'",
     "the environment's install of the course points at another copy of it, so the sandbox "
     "cannot import this one's grader: run `pip install -e .` in this course's folder (with this "
     "environment's pip), or set PYTHONPATH to it"),
    ("No module named", "a package the grading servers import is missing from this environment: "
     "reinstall its requirements (`make lab` or `pip install -r requirements.txt`)"),
)


class ServerLost(Exception):
    """A grading server died, stopped answering, or sent something that is not a frame."""


@dataclass(frozen=True)
class Settings:
    """How one grading run grades: its `Limits`, how many checks and notebooks run at once
    (None: from the cores), whether a missing sandbox is an error, how long servers may take
    to start."""
    limits: Limits = field(default_factory=Limits)
    notebook_slots: int | None = None
    check_slots: int | None = None
    require_sandbox: bool = False
    start_timeout: float = 300.0

    def slots(self):
        cores = os.cpu_count() or 1
        return Slots(self.check_slots or 2 * cores, self.notebook_slots or cores + 1)


class ServerProcess:
    """One sandboxed server and the Unix socket to it (passed by number on its command line)."""

    def __init__(self, name, sandbox, module, log_path, cgroups=()):
        self.name, self.sandbox, self.module, self.cgroups = name, sandbox, module, list(cgroups)
        self.log_path, self.proc, self.sock, self.hello = log_path, None, None, None
        self.reader = frames.Reader(limit=64 << 20)

    def launch(self):
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        os.set_inheritable(theirs.fileno(), True)
        python = os.path.normpath(os.path.abspath(sys.executable))  # no `..` through folders the sandbox lacks
        cmd = self.sandbox.wrap([python, "-I", "-c", BOOT, str(PACKAGE.parent), self.module, str(theirs.fileno())])
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=log, pass_fds=(theirs.fileno(),), start_new_session=True,
                                         preexec_fn=(lambda: join_cgroups(self.cgroups)) if self.cgroups else None)
        theirs.close()
        self.sock = mine
        self.launched = time.monotonic()
        return self

    def fileno(self):
        return self.sock.fileno()

    def wait_ready(self, timeout):
        if self.hello is None:
            try:
                hello = decode_report(frames.receive(self.fileno(), self.reader, timeout))
            except (frames.Closed, frames.Malformed, TimeoutError, OSError) as exc:
                self.close()
                raise ServerLost(self.start_failure(f"{type(exc).__name__}: {exc}")) from None
            if not isinstance(hello, Hello):
                self.close()
                raise ServerLost(self.start_failure("it did not say hello"))
            self.hello, self.ready_after = hello, time.monotonic() - self.launched
        return self.hello

    def start_failure(self, why):
        """Why the server did not start (with its log's tail and the likely cause)."""
        return self.lost(f"did not start ({why})")

    def lost(self, what, lines=LOG_TAIL_LINES):
        """"the <name> server <what>", with the tail of its own log, read now (the run's scratch
        folder, where the log is, is deleted when the run ends), and the likely cause when the
        log names one: whoever reads a lost server's message can tell why it went."""
        try:
            with open(self.log_path, "rb") as log:
                log.seek(max(0, log.seek(0, os.SEEK_END) - LOG_TAIL_BYTES))
                tail = log.read().decode("utf-8", errors="replace").splitlines()[-lines:]
        except OSError:
            tail = []
        tail = ["".join(c if c.isprintable() else "?" for c in line) for line in tail]  # no terminal escapes
        text = f"the {self.name} server {what}"
        for needle, cause in LIKELY_CAUSES:
            if any(needle in line for line in tail):
                text += f"\nlikely cause: {cause}"
                break
        if tail:
            text += f"\nthe last {len(tail)} lines of its log:\n  " + "\n  ".join(tail)
        return text

    def send(self, message, fds=()):
        """Send a request the command made itself (Refused if it would not be read)."""
        self.send_encoded(encoded_request(message, len(fds)), fds)

    def send_encoded(self, data, fds=()):
        """Send a request `encoded_request` made (and so checked)."""
        try:
            frames.send_encoded(self.fileno(), data, fds=fds)
        except OSError as exc:
            raise ServerLost(self.lost(f"stopped listening ({exc})")) from None

    def reports(self):
        """What the server said since the last call (call when readable), decoded; ServerLost
        at end of file or for anything that is not one of its reports."""
        try:
            more = frames.read_some(self.fileno(), self.reader)
            said = [decode_report(frame) for frame in self.reader.frames()]
        except (frames.Malformed, OSError) as exc:
            raise ServerLost(self.lost(f"sent something unreadable ({exc})")) from None
        if not more and not said:
            raise ServerLost(self.lost("exited"))
        return said

    def finish(self, timeout=10):
        """No more requests: {"server_cpu", "children_cpu"}, seconds after start-up, once the
        server has answered everything (None if it does not say)."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                frame = frames.receive(self.fileno(), self.reader, max(0.01, deadline - time.monotonic()))
                said = decode_report(frame)
                if isinstance(said, ServerCpu):
                    return {"server_cpu": said.server_cpu, "children_cpu": said.children_cpu}
        except (OSError, frames.Closed, frames.Malformed, TimeoutError):
            return None
        finally:
            self.close()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, 9)
            except OSError:
                self.proc.kill()
            self.proc.wait()
        if self.sock is not None:
            self.sock.close()
            self.sock = None


@dataclass
class Check:
    """One exercise in the servers' hands: the judge's verdict and how its candidate ended,
    each None until it arrives."""
    key: str
    exercise: str
    uid: int | None
    student: str
    verdict: object = None
    done: CandidateDone | None = None


class Grader:
    """The two servers of one grading run, and the exercises and notebooks in their hands."""

    def __init__(self, scratch, settings=None):
        self.scratch = Path(scratch)
        self.scratch.mkdir(parents=True, exist_ok=True)
        self.settings = settings or Settings()
        self.uids = UidBlock()
        limits = self.settings.limits
        self.cgroups = Cgroups(memory_bytes=limits.memory_bytes, processes=limits.processes)
        self.judge_cgroups = Cgroups()  # the judge server's, delegated to it: a group per judge
        self.checks = {}       # exercise key -> Check
        self.notebooks = {}    # notebook key -> (uid, student)
        self.refused = []      # verdicts of exercises never sent (Refused), for `events`
        self.freed = set()     # uids done with, for the second look (`_second_look`)
        self.looked = time.monotonic()
        self.servers = {}
        self.devices, self.curriculum = None, None
        self.launch()

    @property
    def sandboxed(self):
        return self.servers["candidate"].sandbox.available

    def launch(self):
        limits = self.settings.limits
        judge_groups = self.judge_cgroups.delegate(self.uids.judge_uid) if self.uids.judge_uid else []
        judge_box = judge_sandbox(self.uids.judge_uid, judge_groups)  # a uid of its own, never a student's
        candidate_box = Sandbox(server=True, tmp_mode="0711", tmp_bytes=limits.tmp_bytes,
                                writable=self.cgroups.binds(), memory_bytes=None,
                                env={"MPLCONFIGDIR": "/tmp/server", "IPYTHONDIR": "/tmp/server/.ipython",
                                     "HOME": "/tmp/server"})
        if not candidate_box.available and self.settings.require_sandbox:
            raise RuntimeError("bubblewrap is required (require_sandbox) but cannot run here")
        self.servers = {  # each with a log of its own, so a failure shows its own server's
            "judge": ServerProcess("judge", judge_box, "autograder.judge.server", self.scratch / "judge.log",
                                   cgroups=self.judge_cgroups.server_groups() if judge_groups else ()).launch(),
            "candidate": ServerProcess("candidate", candidate_box, "autograder.candidate.server",
                                       self.scratch / "candidate.log").launch(),
        }
        self.uid_switching = candidate_box.available and self.uids.first is not None
        return self

    def wait_ready(self):
        timeout = self.settings.start_timeout
        hellos = {name: server.wait_ready(timeout) for name, server in self.servers.items()}
        judge = hellos["judge"]
        if judge.curriculum is None:
            raise ServerLost("the judge server said hello without its curriculum")
        self.curriculum, self.devices = judge.curriculum, list(judge.devices)
        return self

    def ready_seconds(self):
        return {name: round(getattr(s, "ready_after", 0.0), 3) for name, s in self.servers.items()}

    def limits(self):
        limits = self.settings.limits
        if any(d.startswith("cuda") for d in self.devices or ()):
            # CUDA reserves far more address space than it uses: the cgroup limits memory then
            return replace(limits, memory_bytes=None)
        return limits

    def _uid(self):
        return self.uids.take() if self.uid_switching else None

    def check(self, key, assignment, student, jobs):
        """Send every exercise of `jobs` ({exercise id: Job}) to be judged. An exercise whose
        request its server would not read (a solution cell of tens of MiB) is not sent: its
        verdict, an error that says why, comes back from `events` like any other."""
        for ex_id, job in jobs.items():
            ckey = f"{key}#{ex_id}"
            uid = self._uid()
            try:
                to_judge = encoded_request(JudgeRequest(ckey, assignment, ex_id), 1)
                to_candidate = encoded_request(CandidateRequest(
                    ckey, job, self.limits(), uid, tuple(self.cgroups.student(student)), self.settings.slots()), 1)
            except Refused as exc:
                self._free(uid)
                self.refused.append(("verdict", key, ex_id, refused(str(exc))))
                continue
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            self.checks[ckey] = Check(key, ex_id, uid, student)
            try:
                self.servers["judge"].send_encoded(to_judge, fds=[ours.fileno()])
                self.servers["candidate"].send_encoded(to_candidate, fds=[theirs.fileno()])
            finally:
                ours.close()
                theirs.close()

    def run_notebook(self, key, student, cells, files, skip):
        """Send a notebook (code cells [(index, source)], the submission's files, the cells not
        to run) to run for the student's feedback; Refused (nothing sent) when its server
        would not read the request."""
        uid = self._uid()
        try:
            data = encoded_request(NotebookRequest(
                key, tuple(map(tuple, cells)), tuple(map(tuple, files)), tuple(skip), self.limits(), uid,
                tuple(self.cgroups.student(student)), self.settings.slots()))
        except Refused:
            self._free(uid)
            raise
        self.notebooks[key] = (uid, student)
        self.servers["candidate"].send_encoded(data)

    def events(self, timeout):
        """What finished within `timeout` seconds: ("verdict", key, exercise, Verdict) and
        ("notebook", key, NotebookDone) tuples. ServerLost if a server is gone."""
        if self.refused:  # decided here, without a server: handed back first
            out, self.refused = self.refused, []
            return out
        socks = {s.fileno(): s for s in self.servers.values()}
        ready, _, _ = select.select(list(socks), [], [], timeout)
        out = []
        for fd in ready:
            server = socks[fd]
            for report in server.reports():
                out += self._handle(server.name, report)
        for server in self.servers.values():
            if not ready and not server.alive():
                raise ServerLost(server.lost("died"))
        self._second_look()
        return out

    def _handle(self, name, report):
        if name == "judge" and isinstance(report, Judged):
            check = self.checks.get(report.key)
            if check is None or check.verdict is not None:
                return []
            check.verdict = report.verdict
            return self._settle(report.key)
        if name == "candidate" and isinstance(report, CandidateDone):
            check = self.checks.get(report.key)
            if check is None or check.done is not None:
                return []
            check.done = report
            self._free(check.uid)
            if check.verdict is None:  # the judge may still be waiting on it: say it is gone
                try:
                    self.servers["judge"].send(Gone(report.key))
                except ServerLost:
                    pass
            return self._settle(report.key)
        if name == "candidate" and isinstance(report, NotebookDone):
            entry = self.notebooks.pop(report.key, None)
            if entry is None:
                return []
            self._free(entry[0])
            return [("notebook", report.key, report)]
        return []

    def _free(self, uid):
        """`uid` is done with: retired (never handed out again in this run) and, soon, looked
        at once more."""
        if uid is not None:
            self.uids.give_back(uid)
            self.freed.add(uid)

    def _second_look(self, now=False):
        """Kill whatever still runs under the uids freed since the last look. Their server
        swept each already; this look from outside the sandboxes is a second one, taken for
        all of them at once, at most every SECOND_LOOK seconds (one look at /proc costs
        milliseconds; one per exercise was a tenth of a second per notebook). A freed uid is
        never handed out again, so the wait gives nothing to anyone."""
        if self.freed and (now or time.monotonic() - self.looked >= SECOND_LOOK):
            freed, self.freed = self.freed, set()
            kill_uids(freed)
            self.looked = time.monotonic()

    def _settle(self, ckey):
        check = self.checks[ckey]
        if check.verdict is None or check.done is None:
            return []
        del self.checks[ckey]
        verdict = check.verdict.settle(check.done.ended, check.done.violations,
                                       self.settings.limits.check_time_limit)
        return [("verdict", check.key, check.exercise, verdict)]

    def forget(self, key):
        """Drop everything pending for notebook `key` (after a server was lost)."""
        self.refused = [event for event in self.refused if event[1] != key]
        for ckey in [k for k, c in self.checks.items() if c.key == key]:
            self._free(self.checks.pop(ckey).uid)
        entry = self.notebooks.pop(key, None)
        if entry:
            self._free(entry[0])

    def student_done(self, student):
        """Kill and remove what is left of `student` (cgroups); how many processes were left."""
        return self.cgroups.end(student)

    def finish(self):
        """No more work: per server, its own and its children's CPU seconds after start-up."""
        return {name: server.finish() for name, server in self.servers.items()}

    def close(self):
        for server in self.servers.values():
            server.close()
        self._second_look(now=True)  # while the block of uids is still this run's
        self.cgroups.close()
        self.judge_cgroups.close()
        self.uids.close()


def refused(reason):
    """The verdict of an exercise whose request was refused: 0 points, and why."""
    return Verdict(Status.ERROR, f"This exercise could not be graded: {reason}.", violations=(reason,))


class ServerLoop:
    """Keeps up to `lookahead` items of `todo` in a Grader's hands and hands each event back,
    for the grade command's phase 1 and the feedback run. A subclass provides `grader`,
    `todo` (a deque), `in_flight` (a dict), `_send(item)`, `_event(event)` and `_lost(exc)`,
    which replaces `grader` and puts back what the lost servers had."""

    lookahead = 64

    def pump(self):
        """Until `todo` and `in_flight` are both empty."""
        while self.todo or self.in_flight:
            self.step()

    def busy(self):
        return bool(self.todo or self.in_flight)

    def step(self, timeout=1.0):
        """Send what fits, then hand back the events that arrive within `timeout` seconds."""
        while self.todo and len(self.in_flight) < self.lookahead:
            try:
                self._send(self.todo.popleft())
            except ServerLost as exc:
                self._lost(exc)
        if not self.in_flight:
            return
        try:
            events = self.grader.events(timeout)
        except ServerLost as exc:
            self._lost(exc)
            return
        for event in events:
            try:
                self._event(event)
            except ServerLost as exc:
                self._lost(exc)
                break

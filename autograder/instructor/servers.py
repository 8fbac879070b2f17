"""The instructor's side of grading: both servers, started once, and the work sent to them.

`Grader` launches the judge server and the candidate server, each in its own sandbox, and
grades with them: `check` sends one notebook's exercises (for each one, a judge request and a
candidate request, holding the two ends of a fresh socket, so the two processes talk to each
other and to nobody else), `run_notebook` sends a notebook to run for feedback, and `events`
returns what has finished: a verdict per exercise (the judge's, told apart by how the candidate
ended: out of time, crashed) and the outputs of each notebook.

Every message from a server is a size-capped frame, decoded and checked here before use; a
server that dies or talks nonsense raises `ServerLost`, and the caller decides what to retry.
Each process tree gets a uid of its own (`isolation.UidBlock`), each student a cgroup where
the machine allows (`isolation.Cgroups`); `student_done` kills whatever a student left.
"""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from ..candidate import wire
from .isolation import Cgroups, UidBlock, kill_uid
from .sandbox import DEFAULT_MEMORY_BYTES, DEFAULT_TMP_BYTES, Sandbox

STATUSES = ("pass", "fail", "error", "tampering", "timeout", "crashed")


class ServerLost(Exception):
    """A grading server died, stopped answering, or sent something that is not a frame."""


def default_settings(**changes):
    settings = {"cell_timeout": 120, "check_time_limit": 60, "notebook_timeout": 900,
                "memory_bytes": DEFAULT_MEMORY_BYTES, "max_output_bytes": 1_000_000,
                "file_bytes": 256 << 20, "tmp_bytes": 4 * DEFAULT_TMP_BYTES, "processes": 512,
                "notebook_slots": None, "check_slots": None, "require_sandbox": False,
                "start_timeout": 300}
    settings.update({k: v for k, v in changes.items() if v is not None})
    return settings


class ServerProcess:
    """One sandboxed server and the Unix socket to it (passed by number on its command line)."""

    def __init__(self, name, sandbox, module, args, log_path):
        self.name, self.sandbox, self.module, self.args = name, sandbox, module, list(args)
        self.log_path, self.proc, self.sock, self.hello = log_path, None, None, None
        self.reader = wire.Reader(limit=64 << 20)

    def launch(self):
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        os.set_inheritable(theirs.fileno(), True)
        python = os.path.normpath(os.path.abspath(sys.executable))  # no `..` through folders the sandbox lacks
        cmd = self.sandbox.wrap([python, "-I", "-m", self.module, str(theirs.fileno()), *self.args])
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=log, pass_fds=(theirs.fileno(),), start_new_session=True)
        theirs.close()
        self.sock = mine
        self.launched = time.monotonic()
        return self

    def fileno(self):
        return self.sock.fileno()

    def wait_ready(self, timeout):
        if self.hello is None:
            try:
                hello = wire.receive(self.fileno(), self.reader, timeout)
            except (wire.Closed, wire.Malformed, TimeoutError, OSError) as exc:
                self.close()
                raise ServerLost(f"the {self.name} server did not start ({type(exc).__name__}: {exc}); "
                                 f"see {self.log_path}") from None
            if not isinstance(hello, dict) or hello.get("ready") is not True:
                self.close()
                raise ServerLost(f"the {self.name} server did not start")
            self.hello, self.ready_after = hello, time.monotonic() - self.launched
        return self.hello

    def send(self, message, fds=()):
        try:
            wire.send(self.fileno(), dict(message, fds=len(fds)), fds=fds)
        except OSError as exc:
            raise ServerLost(f"the {self.name} server stopped listening ({exc})") from None

    def messages(self):
        """Frames that have arrived (call when readable); ServerLost at end of file."""
        try:
            more = wire.read_some(self.fileno(), self.reader)
            frames = self.reader.frames()
        except (wire.Malformed, OSError) as exc:
            raise ServerLost(f"the {self.name} server sent something unreadable ({exc})") from None
        if not more and not frames:
            raise ServerLost(f"the {self.name} server exited")
        if not all(isinstance(f, dict) for f in frames):
            raise ServerLost(f"the {self.name} server sent a frame that is not an object")
        return frames

    def finish(self, timeout=10):
        """No more requests: {"server_cpu", "children_cpu"}, seconds after start-up, once the
        server has answered everything (None if it does not say)."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                frame = wire.receive(self.fileno(), self.reader, max(0.01, deadline - time.monotonic()))
                if isinstance(frame, dict) and "server_cpu" in frame:
                    return {k: float(frame.get(k) or 0) for k in ("server_cpu", "children_cpu")}
        except (OSError, wire.Closed, wire.Malformed, TimeoutError):
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


class Grader:
    """The two servers of one grading run, and the exercises and notebooks in their hands."""

    def __init__(self, scratch, settings=None, log=None):
        self.scratch = Path(scratch)
        self.scratch.mkdir(parents=True, exist_ok=True)
        self.settings = default_settings(**(settings or {}))
        self.log = log
        self.uids = UidBlock()
        self.cgroups = Cgroups(memory_bytes=self.settings["memory_bytes"], processes=self.settings["processes"])
        self.checks = {}       # key -> {"exercise", "uid", "student", "verdict", "ended"}
        self.notebooks = {}    # key -> {"uid", "student"}
        self.servers = {}
        self.devices, self.curriculum = None, None
        self.launch()

    @property
    def sandboxed(self):
        return self.servers["candidate"].sandbox.available

    def launch(self):
        s = self.settings
        judge_box = Sandbox(judge=True, tmp_bytes=64 << 20, memory_bytes=None,
                            uid=self.uids.judge_uid)  # a uid of its own, never a student's
        candidate_box = Sandbox(server=True, tmp_mode="0711", tmp_bytes=s["tmp_bytes"],
                                writable=self.cgroups.binds(), memory_bytes=None,
                                env={"MPLCONFIGDIR": "/tmp/server", "IPYTHONDIR": "/tmp/server/.ipython",
                                     "HOME": "/tmp/server"})
        if not candidate_box.available and s["require_sandbox"]:
            raise RuntimeError("bubblewrap is required (require_sandbox) but cannot run here")
        log = self.scratch / "servers.log"
        self.servers = {
            "judge": ServerProcess("judge", judge_box, "autograder.judge.server", [], log).launch(),
            "candidate": ServerProcess("candidate", candidate_box, "autograder.candidate.server", [], log).launch(),
        }
        self.uid_switching = candidate_box.available and self.uids.first is not None
        return self

    def wait_ready(self):
        timeout = self.settings["start_timeout"]
        hellos = {name: server.wait_ready(timeout) for name, server in self.servers.items()}
        judge = hellos["judge"]
        if not isinstance(judge.get("curriculum"), dict) or not isinstance(judge.get("devices"), list):
            raise ServerLost("the judge server said hello without its curriculum")
        self.curriculum, self.devices = judge["curriculum"], [str(d) for d in judge["devices"]]
        return self

    def ready_seconds(self):
        return {name: round(getattr(s, "ready_after", 0.0), 3) for name, s in self.servers.items()}

    def limits(self):
        s = self.settings
        cuda = any(d.startswith("cuda") for d in self.devices or ())
        return {"time_limit": s["check_time_limit"], "cell_timeout": s["cell_timeout"],
                "notebook_timeout": s["notebook_timeout"], "max_output_bytes": s["max_output_bytes"],
                "file_bytes": s["file_bytes"],
                # CUDA reserves far more address space than it uses: the cgroup limits memory then
                "memory_bytes": None if cuda else s["memory_bytes"]}

    def _uid(self):
        return self.uids.take() if self.uid_switching else None

    def check(self, key, assignment, student, job):
        """Send every exercise of `job` ({exercise id: {setup, imports, solutions}}) to be judged."""
        for ex_id, cells in job.items():
            ckey = f"{key}#{ex_id}"
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            uid = self._uid()
            self.checks[ckey] = {"key": key, "exercise": ex_id, "uid": uid, "student": student,
                                 "verdict": None, "ended": None}
            try:
                self.servers["judge"].send({"op": "judge", "key": ckey, "assignment": assignment,
                                            "exercise": ex_id}, fds=[ours.fileno()])
                self.servers["candidate"].send(
                    {"op": "candidate", "key": ckey, "uid": uid, "cgroups": self.cgroups.student(student),
                     "job": cells, "limits": self.limits(), **self._slots()}, fds=[theirs.fileno()])
            finally:
                ours.close()
                theirs.close()

    def run_notebook(self, key, student, request):
        """Send a notebook ({cells, files, skip}) to run for the student's feedback."""
        uid = self._uid()
        self.notebooks[key] = {"uid": uid, "student": student}
        self.servers["candidate"].send({"op": "notebook", "key": key, "uid": uid,
                                        "cgroups": self.cgroups.student(student),
                                        "limits": self.limits(), **self._slots(), **request})

    def _slots(self):
        cores = os.cpu_count() or 1
        return {"notebook_slots": self.settings["notebook_slots"] or cores + 1,
                "check_slots": self.settings["check_slots"] or 2 * cores}

    def busy(self):
        return bool(self.checks or self.notebooks)

    def events(self, timeout):
        """What finished within `timeout` seconds: ("verdict", key, exercise, verdict) and
        ("notebook", key, execution) tuples. ServerLost if a server is gone."""
        import select
        socks = {s.fileno(): s for s in self.servers.values()}
        ready, _, _ = select.select(list(socks), [], [], timeout)
        out = []
        for fd in ready:
            server = socks[fd]
            for frame in server.messages():
                out += self._handle(server.name, frame)
        for server in self.servers.values():
            if not ready and not server.alive():
                raise ServerLost(f"the {server.name} server died")
        return out

    def _handle(self, name, frame):
        if name == "judge" and isinstance(frame.get("verdict"), str):
            check = self.checks.get(frame["verdict"])
            if check is None or check["verdict"] is not None:
                return []
            check["verdict"] = validated_verdict(frame)
            return self._settle(frame["verdict"])
        if name == "candidate" and isinstance(frame.get("candidate_done"), str):
            check = self.checks.get(frame["candidate_done"])
            if check is None or check["ended"] is not None:
                return []
            check["ended"] = {"ended": str(frame.get("ended", ""))[:200],
                              "violations": strings(frame.get("violations"))}
            self._free(check["uid"])
            if check["verdict"] is None:  # the judge may still be waiting on it: say it is gone
                try:
                    self.servers["judge"].send({"op": "gone", "key": frame["candidate_done"]})
                except ServerLost:
                    pass
            return self._settle(frame["candidate_done"])
        if name == "candidate" and isinstance(frame.get("notebook_done"), str):
            entry = self.notebooks.pop(frame["notebook_done"], None)
            if entry is None:
                return []
            self._free(entry["uid"])
            return [("notebook", frame["notebook_done"], validated_execution(frame))]
        return []

    def _free(self, uid):
        if uid is not None:
            kill_uid(uid)  # nothing of it can be left: its server swept it, this is a second look
            self.uids.give_back(uid)

    def _settle(self, ckey):
        check = self.checks[ckey]
        if check["verdict"] is None or check["ended"] is None:
            return []
        del self.checks[ckey]
        verdict = dict(check["verdict"])
        ended = check["ended"]["ended"]
        lost = verdict.pop("lost", None)
        if lost in ("closed", "timeout"):
            if "time limit" in ended:
                verdict.update(status="timeout", message=f"the check did not finish within "
                               f"{self.settings['check_time_limit']} s: an infinite loop, or very slow code.")
            elif "SIGKILL" in ended or "SIGSEGV" in ended or "SIGXCPU" in ended:
                verdict.update(status="crashed", message="the process running your code was killed "
                               f"({ended}): it crashed, or ran out of memory or CPU time.")
        violations = list(check["ended"]["violations"])
        if verdict["status"] == "tampering" and lost == "malformed":
            violations.append("forged or malformed message on the channel to the judge")
        if verdict.get("grader_error"):
            violations.append("the grader's own judge failed")
        verdict["violations"] = violations
        verdict["ended"] = ended
        return [("verdict", check["key"], check["exercise"], verdict)]

    def in_flight(self, key):
        """Exercise and notebook keys still pending for notebook `key`."""
        return [c for c in self.checks.values() if c["key"] == key] + ([key] if key in self.notebooks else [])

    def forget(self, key):
        """Drop everything pending for notebook `key` (after a server was lost)."""
        for ckey in [k for k, c in self.checks.items() if c["key"] == key]:
            self._free(self.checks.pop(ckey)["uid"])
        entry = self.notebooks.pop(key, None)
        if entry:
            self._free(entry["uid"])

    def student_done(self, student):
        """Kill and remove what is left of `student` (cgroups); how many processes were left."""
        return self.cgroups.end(student)

    def finish(self):
        """No more work: per server, its own and its children's CPU seconds after start-up."""
        return {name: server.finish() for name, server in self.servers.items()}

    def close(self):
        for server in self.servers.values():
            server.close()
        self.cgroups.close()
        self.uids.close()


def strings(value, limit=20):
    if not isinstance(value, list):
        return []
    return [str(v)[:500] for v in value[:limit]]


def validated_verdict(frame):
    status = frame.get("status")
    if status not in STATUSES:
        return {"status": "error", "message": "the judge server sent a verdict the grader cannot read",
                "grader_error": True}
    verdict = {"status": status, "message": str(frame.get("message", ""))[:20000]}
    if frame.get("lost") in ("closed", "timeout", "malformed"):
        verdict["lost"] = frame["lost"]
    if frame.get("grader_error"):
        verdict["grader_error"] = True
    return verdict


OUTPUT_TYPES = {"stream", "display_data", "execute_result", "error"}


def validated_outputs(outputs):
    """Notebook outputs as nbformat wants them; anything else is dropped (and counted)."""
    good, dropped = [], 0
    for out in outputs if isinstance(outputs, list) else []:
        if not isinstance(out, dict) or out.get("output_type") not in OUTPUT_TYPES:
            dropped += 1
            continue
        kind = out["output_type"]
        if kind == "stream":
            if out.get("name") not in ("stdout", "stderr") or not isinstance(out.get("text"), str):
                dropped += 1
                continue
            good.append({"output_type": kind, "name": out["name"], "text": out["text"]})
        elif kind == "error":
            tb = out.get("traceback")
            if not (isinstance(out.get("ename"), str) and isinstance(out.get("evalue"), str)
                    and isinstance(tb, list) and all(isinstance(t, str) for t in tb)):
                dropped += 1
                continue
            good.append({"output_type": kind, "ename": out["ename"], "evalue": out["evalue"], "traceback": tb})
        else:
            data, meta = out.get("data"), out.get("metadata", {})
            if not (isinstance(data, dict) and all(isinstance(k, str) and isinstance(v, (str, dict, list))
                                                   for k, v in data.items()) and isinstance(meta, dict)):
                dropped += 1
                continue
            item = {"output_type": kind, "data": data, "metadata": meta}
            if kind == "execute_result":
                count = out.get("execution_count")
                item["execution_count"] = count if type(count) is int else None
            good.append(item)
    return good, dropped


def validated_execution(frame):
    cells, dropped = {}, 0
    raw = frame.get("cells") if isinstance(frame.get("cells"), dict) else {}
    for index, result in raw.items():
        if not (isinstance(index, str) and index.isdigit() and isinstance(result, dict)):
            dropped += 1
            continue
        outputs, lost = validated_outputs(result.get("outputs"))
        dropped += lost
        count = result.get("execution_count")
        cells[index] = {"outputs": outputs, "execution_count": count if type(count) is int else None}
    stuck = frame.get("stuck")
    violations = strings(frame.get("violations"))
    if dropped:
        violations.append(f"{dropped} malformed output{'s' if dropped > 1 else ''} from the notebook dropped")
    seconds = frame.get("seconds")
    return {"cells": cells, "stuck": stuck if type(stuck) is int else None,
            "dead": str(frame["dead"])[:500] if frame.get("dead") else None,
            "seconds": float(seconds) if type(seconds) in (int, float) else 0.0,
            "violations": violations}

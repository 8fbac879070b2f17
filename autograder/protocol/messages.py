"""The frames the grader's processes send each other, as types with total decoders.

    command -> judge server       JudgeRequest (with the socket to its candidate), Gone
    command -> candidate server   CandidateRequest (with the socket to its judge), NotebookRequest
    judge server -> command       Hello, Judged, ServerCpu
    candidate server -> command   Hello, CandidateDone, NotebookDone, ServerCpu
    notebook child -> its server  CellStarted, CellDone

Every receiver decodes with `from_wire` (or `decode`, which tells the kinds apart): a frame of
an unknown kind, a missing field or a field of the wrong type raises `Malformed`, and the
receiver charges it to whoever sent it. (A judge and its candidate speak the requests and
answers of `autograder.candidate.respond`, decoded by `autograder.judge.seen`.)
"""

from dataclasses import dataclass, field

from . import fields as f
from . import frames
from .limits import Limits, MiB
from .verdicts import Ended, Killed, Verdict

KEY = 500  # longest key


def _key(v):
    return f.string(v, "a key", KEY)


def _uid(v):
    return None if v is None else f.integer(v, "a uid", 1, 2**31)


@dataclass(frozen=True)
class Job:
    """What one exercise's candidate loads: the instructor's setup cells, the notebook's import
    lines, and the solution cells [(cell id, source)] (those it depends on first)."""
    setup: tuple = ()
    imports: tuple = ()
    solutions: tuple = ()

    def to_wire(self):
        return {"setup": list(self.setup), "imports": list(self.imports),
                "solutions": [list(pair) for pair in self.solutions]}

    @classmethod
    def from_wire(cls, frame):
        f.obj(frame, "a job")
        return cls(tuple(f.string(s, "a setup cell", 1 << 22) for s in f.array(frame.get("setup", []), "setup", 1000)),
                   tuple(f.string(s, "an import", 10_000) for s in f.array(frame.get("imports", []), "imports", 10_000)),
                   tuple((f.string(c, "a cell id", 200), f.string(s, "a solution cell", 1 << 22))
                         for c, s in f.pairs(frame.get("solutions", []), "solutions", 100)))


@dataclass(frozen=True)
class Slots:
    """How many candidates and notebooks the candidate server runs at once (None: its own choice)."""
    checks: int | None = None
    notebooks: int | None = None

    def to_wire(self):
        return {"checks": self.checks, "notebooks": self.notebooks}

    @classmethod
    def from_wire(cls, frame):
        f.obj(frame, "slots")
        return cls(*(None if frame.get(k) is None else f.integer(frame[k], "a slot count", 1, 4096)
                     for k in ("checks", "notebooks")))


# --- command -> servers -------------------------------------------------------------------------

@dataclass(frozen=True)
class JudgeRequest:
    key: str
    assignment: str
    exercise: str
    op = "judge"

    def to_wire(self):
        return {"op": self.op, "key": self.key, "assignment": self.assignment, "exercise": self.exercise}

    @classmethod
    def from_wire(cls, frame):
        f.obj(frame, "a frame")
        return cls(_key(frame.get("key")), f.string(frame.get("assignment"), "an assignment", 200),
                   f.string(frame.get("exercise"), "an exercise", 200))


@dataclass(frozen=True)
class Gone:
    """The candidate of `key` has ended (candidate server -> command -> judge server)."""
    key: str
    op = "gone"

    def to_wire(self):
        return {"op": self.op, "key": self.key}

    @classmethod
    def from_wire(cls, frame):
        f.obj(frame, "a frame")
        return cls(_key(frame.get("key")))


def _student_work(frame):
    """The fields every request to run a student's code has: (limits, uid, cgroups, slots)."""
    return (Limits.from_wire(frame.get("limits", {})), _uid(frame.get("uid")),
            tuple(f.strings(frame.get("cgroups", []), "cgroups", 10, 4096)), Slots.from_wire(frame.get("slots", {})))


@dataclass(frozen=True)
class CandidateRequest:
    key: str
    job: Job
    limits: Limits = Limits()
    uid: int | None = None
    cgroups: tuple = ()
    slots: Slots = Slots()
    op = "candidate"

    def to_wire(self):
        return {"op": self.op, "key": self.key, "job": self.job.to_wire(), "limits": self.limits.to_wire(),
                "uid": self.uid, "cgroups": list(self.cgroups), "slots": self.slots.to_wire()}

    @classmethod
    def from_wire(cls, frame):
        f.obj(frame, "a frame")
        return cls(_key(frame.get("key")), Job.from_wire(frame.get("job")), *_student_work(frame))


@dataclass(frozen=True)
class NotebookRequest:
    """Run a notebook's code cells [(index, source)] for feedback, in a folder holding `files`
    [(relative path, base64)], skipping the cells `skip` (their exercise's check timed out)."""
    key: str
    cells: tuple
    files: tuple = ()
    skip: tuple = ()
    limits: Limits = Limits()
    uid: int | None = None
    cgroups: tuple = ()
    slots: Slots = Slots()
    op = "notebook"

    def to_wire(self):
        return {"op": self.op, "key": self.key, "cells": [list(c) for c in self.cells],
                "files": [list(p) for p in self.files], "skip": list(self.skip),
                "limits": self.limits.to_wire(), "uid": self.uid, "cgroups": list(self.cgroups),
                "slots": self.slots.to_wire()}

    @classmethod
    def from_wire(cls, frame):
        f.obj(frame, "a frame")
        cells = tuple((f.integer(i, "a cell index", 0, 1 << 20), f.string(s, "a cell", 1 << 24))
                      for i, s in f.pairs(frame.get("cells"), "cells", 100_000))
        files = tuple((f.string(p, "a file name", 4096), f.string(d, "a file", 1 << 30))
                      for p, d in f.pairs(frame.get("files", []), "files", 100_000))
        skip = tuple(f.integer(i, "a cell index", 0, 1 << 20) for i in f.array(frame.get("skip", []), "skip"))
        return cls(_key(frame.get("key")), cells, files, skip, *_student_work(frame))


REQUESTS = {kind.op: kind for kind in (JudgeRequest, Gone, CandidateRequest, NotebookRequest)}
CONTENTS = {CandidateRequest: "the exercise's cells", NotebookRequest: "the notebook and its files"}


class Refused(Exception):
    """A request built from one student's work that its server would not read (too big, or a
    field over its decoder's limits): that student's failure, with the reason, never the run's."""


def mib(size):
    return f"{size / MiB:.1f}"


def encoded_request(request, fds=0):
    """`request` as the bytes of one frame, once it is certain that its server will read it: it
    goes through the server's own decoder and fits in a frame. Refused (saying why) otherwise."""
    wire = dict(request.to_wire(), fds=fds)
    what = CONTENTS.get(type(request), "the request")
    try:
        data = frames.encode(wire)
    except frames.TooLarge as exc:
        raise Refused(f"{what} are {mib(exc.size)} MiB as sent to the grader, over the "
                      f"{mib(exc.limit)} MiB limit") from None
    try:
        type(request).from_wire(wire)
    except frames.Malformed as exc:
        raise Refused(f"{what} cannot be sent to the grader: {exc}") from None
    return data


def decode_request(frame, allowed):
    """The request in `frame`, one of the kinds in `allowed`; Malformed otherwise."""
    f.obj(frame, "a request")
    op = frame.get("op")
    kind = REQUESTS.get(op) if type(op) is str else None
    f.need(kind in allowed, "a request of an unknown kind")
    return kind.from_wire(frame)


# --- servers -> command -------------------------------------------------------------------------

@dataclass(frozen=True)
class Hello:
    """A server is warm. The judge server's hello carries the curriculum and its devices."""
    pid: int
    curriculum: dict | None = None
    devices: tuple = ()

    def to_wire(self):
        return {"hello": True, "pid": self.pid, "curriculum": self.curriculum, "devices": list(self.devices)}

    @classmethod
    def from_wire(cls, frame):
        f.obj(frame, "a hello")
        f.need(frame.get("hello") is True, "a server that did not say hello")
        curriculum = frame.get("curriculum")
        if curriculum is not None:
            curriculum = {f.string(a, "an assignment", 200): {
                f.string(e, "an exercise", 200): {
                    "signature": f.string(f.obj(entry, "an exercise").get("signature"), "a signature", 1000),
                    "depends": f.strings(entry.get("depends", []), "dependencies", 50, 200)}
                for e, entry in f.obj(exercises, "exercises").items()}
                for a, exercises in f.obj(curriculum, "a curriculum").items()}
        return cls(f.integer(frame.get("pid"), "a pid", 1), curriculum,
                   tuple(f.strings(frame.get("devices", []), "devices", 64, 64)))


@dataclass(frozen=True)
class Judged:
    key: str
    verdict: Verdict

    def to_wire(self):
        return {"judged": self.key, "verdict": self.verdict.to_wire()}

    @classmethod
    def from_wire(cls, frame):
        f.obj(frame, "a frame")
        return cls(_key(frame.get("judged")), Verdict.from_wire(frame.get("verdict")))


@dataclass(frozen=True)
class CandidateDone:
    key: str
    ended: Ended
    seconds: float = 0.0
    violations: tuple = ()

    def to_wire(self):
        return {"candidate_done": self.key, "ended": self.ended.to_wire(), "seconds": self.seconds,
                "violations": list(self.violations)}

    @classmethod
    def from_wire(cls, frame):
        f.obj(frame, "a frame")
        return cls(_key(frame.get("candidate_done")), Ended.from_wire(frame.get("ended")),
                   f.number(frame.get("seconds", 0.0), "seconds"),
                   tuple(f.strings(frame.get("violations", []), "violations")))


OUTPUT_TYPES = {"stream", "display_data", "execute_result", "error"}


def cell_output(out):
    """One notebook output as nbformat wants it, or None when it is not one."""
    if not isinstance(out, dict) or type(out.get("output_type")) is not str or out["output_type"] not in OUTPUT_TYPES:
        return None
    kind = out["output_type"]
    if kind == "stream":
        if type(out.get("name")) is not str or out["name"] not in ("stdout", "stderr") or not isinstance(out.get("text"), str):
            return None
        return {"output_type": kind, "name": out["name"], "text": out["text"]}
    if kind == "error":
        tb = out.get("traceback")
        if not (isinstance(out.get("ename"), str) and isinstance(out.get("evalue"), str)
                and isinstance(tb, list) and all(isinstance(t, str) for t in tb)):
            return None
        return {"output_type": kind, "ename": out["ename"], "evalue": out["evalue"], "traceback": tb}
    data, meta = out.get("data"), out.get("metadata", {})
    if not (isinstance(data, dict) and all(isinstance(k, str) and isinstance(v, (str, dict, list))
                                           for k, v in data.items()) and isinstance(meta, dict)
            and shallow(data) and shallow(meta)):
        return None
    item = {"output_type": kind, "data": data, "metadata": meta}
    if kind == "execute_result":
        count = out.get("execution_count")
        item["execution_count"] = count if type(count) is int else None
    return item


OUTPUT_DEPTH = 32  # nesting of an output's data or metadata (JSON a notebook shows is flat)


def shallow(value, limit=OUTPUT_DEPTH):
    """True when `value` nests lists and objects at most `limit` deep. What is kept must be
    re-encoded later (by the server, by nbformat) from deeper in the stack than it was parsed:
    a deep value would raise RecursionError there instead of being refused here."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (list, dict)):
            if depth >= limit:
                return False
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
    return True


def cell_outputs(outputs):
    """(outputs nbformat accepts, how many others were dropped)."""
    good = [o for o in map(cell_output, outputs if isinstance(outputs, list) else []) if o is not None]
    return good, (len(outputs) if isinstance(outputs, list) else 0) - len(good)


@dataclass(frozen=True)
class CellResult:
    outputs: list
    execution_count: int | None = None


@dataclass(frozen=True)
class NotebookDone:
    """A notebook run ended: each cell's outputs {index: CellResult}, the cell it died in
    (`stuck`), why it died (`dead`), and what its processes did that they must not."""
    key: str
    cells: dict = field(default_factory=dict)
    stuck: int | None = None
    dead: str | None = None
    seconds: float = 0.0
    violations: tuple = ()

    def to_wire(self):
        return {"notebook_done": self.key, "stuck": self.stuck, "dead": self.dead, "seconds": self.seconds,
                "cells": {str(i): {"outputs": c.outputs, "execution_count": c.execution_count}
                          for i, c in self.cells.items()},
                "violations": list(self.violations)}

    @classmethod
    def from_wire(cls, frame):
        """Decoded field by field; outputs nbformat would not accept are dropped and counted as a
        violation, never passed on (they came from student code)."""
        f.obj(frame, "a frame")
        key = _key(frame.get("notebook_done"))
        cells, dropped = {}, 0
        raw = frame.get("cells") if isinstance(frame.get("cells"), dict) else {}
        for index, result in raw.items():
            if not (isinstance(index, str) and index.isdigit() and len(index) < 8 and isinstance(result, dict)):
                dropped += 1
                continue
            outputs, lost = cell_outputs(result.get("outputs"))
            dropped += lost
            count = result.get("execution_count")
            cells[int(index)] = CellResult(outputs, count if type(count) is int else None)
        violations = [str(v)[:2000] for v in frame.get("violations", []) if isinstance(v, str)] \
            if isinstance(frame.get("violations"), list) else []
        if dropped:
            violations.append(f"{dropped} malformed output{'s' if dropped > 1 else ''} from the notebook dropped")
        stuck, seconds = frame.get("stuck"), frame.get("seconds")
        return cls(key, cells, stuck if type(stuck) is int else None,
                   str(frame["dead"])[:500] if frame.get("dead") else None,
                   float(seconds) if type(seconds) in (int, float) and 0 <= seconds <= 1e12 else 0.0,  # NaN fails
                   tuple(violations))


@dataclass(frozen=True)
class ServerCpu:
    """A server's last words: its own CPU seconds and its children's, after start-up."""
    server_cpu: float
    children_cpu: float

    def to_wire(self):
        return {"server_cpu": self.server_cpu, "children_cpu": self.children_cpu}

    @classmethod
    def from_wire(cls, frame):
        f.obj(frame, "a frame")
        return cls(f.number(frame.get("server_cpu"), "CPU seconds"), f.number(frame.get("children_cpu"), "CPU seconds"))


def unread(frame):
    """What a server says of a request it could not read (`frame`, as parsed), so that nobody
    waits for it: CandidateDone or NotebookDone, ended unread; None when it names no key.
    (The command checks every request with `encoded_request` first: this is the backstop.)"""
    if not (isinstance(frame, dict) and type(frame.get("key")) is str and len(frame["key"]) <= KEY):
        return None
    why = Killed.UNREADABLE_REQUEST
    if frame.get("op") == "candidate":
        return CandidateDone(frame["key"], Ended("killed", killed=why), 0.0, (why.value,))
    if frame.get("op") == "notebook":
        return NotebookDone(frame["key"], dead=why.value)
    return None


REPORTS = {"hello": Hello, "judged": Judged, "candidate_done": CandidateDone,
           "notebook_done": NotebookDone, "server_cpu": ServerCpu}


def decode_report(frame):
    """What a server told the command; Malformed if it is none of the kinds it may say."""
    f.obj(frame, "a report")
    kinds = [kind for name, kind in REPORTS.items() if name in frame]
    f.need(len(kinds) == 1, "a report of an unknown kind")
    return kinds[0].from_wire(frame)


# --- notebook child -> its server ---------------------------------------------------------------

@dataclass(frozen=True)
class CellStarted:
    index: int

    def to_wire(self):
        return {"start": self.index}


@dataclass(frozen=True)
class CellDone:
    """A cell's outputs; `dropped`: how many outputs the decoder dropped (not of a kind nbformat
    accepts: a display of an odd object, or a forged frame), for the server to report."""
    index: int
    outputs: list
    execution_count: int | None
    dropped: int = 0

    def to_wire(self):
        return {"cell": self.index, "outputs": self.outputs, "execution_count": self.execution_count}


def decode_cell_frame(frame, indices):
    """A notebook child's frame about one of the cells `indices` (a set of ints): CellStarted
    or CellDone, keeping only the outputs of a kind nbformat accepts (and counting the others)."""
    f.obj(frame, "a frame about a cell")
    if "start" in frame and len(frame) == 1:
        index = f.integer(frame["start"], "a cell index", 0, 1 << 20)
        f.need(index in indices, "a cell the notebook does not have")
        return CellStarted(index)
    f.need("cell" in frame and set(frame) <= {"cell", "outputs", "execution_count"}, "a frame of an unknown kind")
    index = f.integer(frame["cell"], "a cell index", 0, 1 << 20)
    f.need(index in indices, "a cell the notebook does not have")
    count = frame.get("execution_count")
    f.need(count is None or type(count) is int, "an execution count")
    outputs, dropped = cell_outputs(f.array(frame.get("outputs"), "outputs"))
    return CellDone(index, outputs, count, dropped)

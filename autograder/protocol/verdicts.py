"""What an exercise's grading comes to, and how a child process ended, as types.

`Verdict` is made in three places: a judge decides one (`autograder.judge.run`), the judge
server makes one when a judge could not (it died, or its candidate ended before speaking), and
the command settles it once the candidate server says how the candidate ended (`settle`).
Each of them sends or receives it as a frame (`to_wire` / `from_wire`, a total decoder).

`Ended` says how a forked child ended: it exited, exited with a code, was killed by a signal,
or was killed by its server for a reason (`Killed`). Whether a candidate ran out of time or
crashed is read from it, never from free text.
"""

import re
from dataclasses import dataclass, field
from enum import Enum

from . import fields as f
from .limits import CHECK_WAITS

MAX_MESSAGE = 20_000
MISTAKE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")  # a declared mistake's slug (judge.compare.Hint)
MAX_MISTAKE = 40


class Status(str, Enum):
    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"
    TAMPERING = "tampering"
    TIMEOUT = "timeout"
    CRASHED = "crashed"


class Lost(str, Enum):
    """How a judge lost its candidate: it hung up, it went silent, or it sent garbage."""
    CLOSED = "closed"
    TIMEOUT = "timeout"
    MALFORMED = "malformed"


class Killed(str, Enum):
    """Why a server killed one of its children (the text is what reports show)."""
    TIME_LIMIT = "killed: time limit"
    NOTEBOOK_LIMIT = "the notebook ran past its time limit"
    CELL_LIMIT = "a cell ran past its time limit and did not stop when interrupted"
    CLOSED_CHANNEL = "it closed its output channel and did not exit"
    FORGED_CHANNEL = "its output channel was forged or flooded"
    MALFORMED_VERDICT = "the judge sent a malformed verdict"
    BACKSTOP = "the judge ran past its backstop limit"
    CANDIDATE_ENDED = "its candidate had ended"
    UNREADABLE_REQUEST = "the grader's request to run it could not be read"
    GRADER_LOST = "the grader's process that starts student code died while it ran (not the student's doing)"


CRASH_SIGNALS = ("SIGKILL", "SIGSEGV", "SIGXCPU")


@dataclass(frozen=True)
class Ended:
    """How a child process ended: `how` is exited, exit_code, signal or killed."""
    how: str = "exited"
    code: int | None = None
    signal: str | None = None
    killed: Killed | None = None

    @property
    def timed_out(self):
        return self.killed is Killed.TIME_LIMIT

    @property
    def crashed(self):
        return self.how == "signal" and self.signal in CRASH_SIGNALS

    def __str__(self):
        if self.how == "killed":
            return self.killed.value
        if self.how == "signal":
            return f"killed by signal {self.signal}"
        if self.how == "exit_code":
            return f"exit code {self.code}"
        return "exited"

    def to_wire(self):
        return {"how": self.how, "code": self.code, "signal": self.signal,
                "killed": None if self.killed is None else self.killed.name}

    @classmethod
    def from_wire(cls, frame):
        f.obj(frame, "how a process ended")
        how = f.one_of(frame.get("how"), ("exited", "exit_code", "signal", "killed"), "how a process ended")
        code, signal, killed = frame.get("code"), frame.get("signal"), frame.get("killed")
        if how == "exit_code":
            f.integer(code, "an exit code", -255, 255)
        if how == "signal":
            f.string(signal, "a signal name", 20)
        if how == "killed":
            f.one_of(killed, Killed.__members__, "why a process was killed")
        return cls(how, code if how == "exit_code" else None, signal if how == "signal" else None,
                   Killed[killed] if how == "killed" else None)


@dataclass(frozen=True)
class Verdict:
    """One exercise's grading. `lost`: how the candidate was lost (the judge's view), until the
    command settles it with how the candidate ended; `violations`: what the student's processes
    did that they must not (shown in the report); `mistake`: the slug of the declared mistake
    a failing check recognised (None: passed, unexplained, or not a wrong answer)."""
    status: Status
    message: str = ""
    lost: Lost | None = None
    grader_error: bool = False
    violations: tuple = field(default=())
    ended: Ended | None = None
    mistake: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "message", self.message[:MAX_MESSAGE])
        if self.status is not Status.FAIL or not (isinstance(self.mistake, str) and len(self.mistake) <= MAX_MISTAKE
                                                  and MISTAKE.fullmatch(self.mistake)):
            object.__setattr__(self, "mistake", None)

    @property
    def passed(self):
        return self.status is Status.PASS

    def to_wire(self):
        return {"status": self.status.value, "message": self.message[:MAX_MESSAGE],
                "lost": None if self.lost is None else self.lost.value,
                "grader_error": self.grader_error, "violations": list(self.violations),
                "ended": None if self.ended is None else self.ended.to_wire(), "mistake": self.mistake}

    @classmethod
    def from_wire(cls, frame):
        f.obj(frame, "a verdict")
        status = f.one_of(frame.get("status"), {s.value for s in Status}, "a verdict of an unknown status")
        lost = frame.get("lost")
        if lost is not None:
            f.one_of(lost, {way.value for way in Lost}, "a verdict lost in an unknown way")
        ended, mistake = frame.get("ended"), frame.get("mistake")
        if mistake is not None:
            f.need(type(mistake) is str and len(mistake) <= MAX_MISTAKE and MISTAKE.fullmatch(mistake) is not None,
                   "a verdict's mistake is not a slug")
        return cls(Status(status), f.string(frame.get("message", ""), "a verdict's message", 1 << 20)[:MAX_MESSAGE],
                   None if lost is None else Lost(lost), f.boolean(frame.get("grader_error", False), "grader_error"),
                   tuple(f.strings(frame.get("violations", []), "violations")),
                   None if ended is None else Ended.from_wire(ended), mistake)

    def settle(self, ended, violations, time_limit):
        """The verdict once the candidate's server says how it `ended` and what it did: a judge
        that lost its candidate learns whether it ran out of time or crashed."""
        status, message = self.status, self.message
        if self.lost in (Lost.CLOSED, Lost.TIMEOUT):
            if ended.timed_out:
                status, message = Status.TIMEOUT, (f"the check did not finish within {time_limit:g} s "
                                                   f"of computing ({CHECK_WAITS * time_limit:g} s in "
                                                   "all): an infinite loop, a long sleep, or very slow code.")
            elif ended.crashed:
                status, message = Status.CRASHED, (f"the process running your code was killed ({ended}): "
                                                   "it crashed, or ran out of memory or CPU time.")
        if ended.killed is Killed.GRADER_LOST:  # the grader lost it: never a score of the student's
            return Verdict(Status.ERROR, f"{ended}; please tell the instructor.", None, True,
                           tuple(violations), ended, None)
        found = list(violations)
        if self.status is Status.TAMPERING and self.lost is Lost.MALFORMED:
            found.append("forged or malformed message on the channel to the judge")
        if self.grader_error:
            found.append("the grader's own judge failed")
        return Verdict(status, message, None, self.grader_error, tuple(found), ended, self.mistake)

    def summary(self):
        """What a notebook's metadata keeps of it (and the report reads)."""
        return {"status": self.status.value, "message": self.message[:4000],
                "violations": list(self.violations), "mistake": self.mistake}


def grader_failed(what):
    """A verdict that says the grader itself failed (never the student's points silently)."""
    return Verdict(Status.ERROR, f"{what}; please tell the instructor.", grader_error=True)


ENDED_BEFORE_ANSWERING = Verdict(Status.CRASHED, "the process running your code ended before answering.",
                                 lost=Lost.CLOSED)

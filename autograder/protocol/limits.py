"""Every limit a grading run enforces, with its default, written once.

The instructor's command, nbgrader's preprocessors (their configurable traits take their
defaults from here) and both grading servers read the same `Limits`; the command sends them
to the candidate server with every request (`to_wire`), which decodes them totally
(`from_wire`): a missing field takes its default, a field of the wrong kind is Malformed.

Sizes where the bytes arrive, and how they fit together
-------------------------------------------------------
One frame is at most `frames.MAX_FRAME` (64 MiB of JSON) and every reader caps what it
accepts before parsing it. Whatever a server or the command builds from a student's work is
bounded *before* it is encoded, so no sender ever meets that cap with a student's bytes:

- a notebook run's outputs: each cell keeps at most `max_output_bytes` (counted as they travel:
  JSON, a non-ASCII character as its escape), the whole notebook at most `NOTEBOOK_OUTPUTS`;
  the notebook child keeps to both, and its server enforces them again on what arrives
  (outputs past them are dropped, with a notice in the cell and a line in the report), so the
  server's own `NotebookDone` always fits in a frame;
- the command's requests: a request is built, checked with the server's own decoder and
  measured before it is sent (`messages.encoded_request`); one that would not fit, or that
  the decoder would refuse, is refused for that student alone, with the reason ("the notebook
  and its files are N MiB as sent to the grader, over the 64.0 MiB limit"): an exercise scores
  0 saying so, a feedback run is not run saying so; the others are graded;
- a notebook's files for its feedback run: at most `submission_bytes` (40 MiB: 53 MiB in
  base64), and only as much as fits in the request beside the notebook's cells. A file that
  does not fit is left out and the report says which (a 60 MiB notebook saved with its images
  is run from its cells; its own file, which the run does not need, is the one left out); only
  cells that alone are over the frame refuse the run, for that student;
- kernel messages under plain nbgrader: at most `KERNEL_MESSAGE` bytes per message part,
  refused by zmq before anything parses them (`SafeExecute`); zmq then closes that channel, so
  the rest of that notebook's outputs are lost: the loss of the student who sent it, alone.
"""

from dataclasses import asdict, dataclass, fields, replace

from .frames import MAX_FRAME, Malformed

GiB, MiB = 1 << 30, 1 << 20
MOST = 1 << 60  # no limit is larger
NOTEBOOK_OUTPUTS = 32 * MiB    # the outputs one notebook run may keep, all cells together (JSON bytes)
OUTPUT_SLACK = 64_000          # room for a cell's frame around its outputs (keys, notices)
KERNEL_MESSAGE = 32 * MiB      # one part of one kernel message (zmq MAXMSGSIZE on the client's sockets)
CHECK_WAITS = 3  # a candidate computes for its check_time_limit in CPU time, and lives at most this
#                  many times that limit in all (it waits while its judge thinks, slower under load)
assert NOTEBOOK_OUTPUTS + 8 * MiB < MAX_FRAME  # a NotebookDone always fits, with room for its cells' keys


@dataclass(frozen=True)
class Limits:
    cell_timeout: float = 120.0          # seconds of its own time one notebook cell may run
    check_time_limit: float = 60.0       # CPU seconds one exercise's candidate may run (see CHECK_WAITS)
    notebook_timeout: float = 900.0      # seconds of its own time one whole notebook may run
    memory_bytes: int | None = 4 * GiB   # address space of a student process (None: unlimited)
    max_output_bytes: int = 1_000_000    # output kept per cell; the rest is dropped
    file_bytes: int = 256 * MiB          # largest file a student process may write
    tmp_bytes: int = 4 * GiB             # the candidate server's /tmp: every student's working folder
    kernel_work_bytes: int = 1 * GiB     # a sandboxed kernel's private working folder (nbgrader)
    processes: int = 512                 # processes of one student at once (their cgroup)
    candidate_processes: int = 64        # processes one exercise's candidate may start
    notebook_processes: int = 256        # processes one notebook run may start
    submission_bytes: int = 40 * MiB     # a submission's files copied for its notebook run (as fits a frame)
    answer_bytes: int = 64 * MiB         # one answer of a candidate to its judge
    answers_bytes: int = 1 * GiB         # everything one candidate may send its judge
    judge_backstop: float = 900.0        # seconds a judge may live, whatever its candidate does
    kernel_grace: float = 30.0           # seconds past a cell's limit before its kernel is killed

    def replace(self, **changes):
        """A copy with `changes`; None values are ignored (a setting left unset)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    def cell_outputs(self):
        """The most one cell's outputs may take (JSON bytes): its own cap, within the notebook's."""
        return max(0, min(self.max_output_bytes, NOTEBOOK_OUTPUTS))

    def to_wire(self):
        return asdict(self)

    @classmethod
    def from_wire(cls, frame):
        """Limits from a frame: defaults for what is missing, Malformed for what is not a number."""
        if not isinstance(frame, dict):
            raise Malformed("limits that are not an object")
        values = {}
        for field in fields(cls):
            if field.name not in frame:
                continue
            value = frame[field.name]
            if value is None and field.name == "memory_bytes":
                values[field.name] = None
            elif type(value) in (int, float) and 0 <= value <= MOST:  # NaN and infinities fail
                values[field.name] = int(value) if field.type in (int, int | None) else float(value)
            else:
                raise Malformed(f"a limit {field.name} that is not a number")
        return cls(**values)


DEFAULT = Limits()

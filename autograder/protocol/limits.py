"""Every limit a grading run enforces, with its default, written once.

The instructor's command, nbgrader's preprocessors (their configurable traits take their
defaults from here) and both grading servers read the same `Limits`; the command sends them
to the candidate server with every request (`to_wire`), which decodes them totally
(`from_wire`): a missing field takes its default, a field of the wrong kind is Malformed.
"""

from dataclasses import asdict, dataclass, fields, replace

from .frames import Malformed

GiB, MiB = 1 << 30, 1 << 20
MOST = 1 << 60  # no limit is larger


@dataclass(frozen=True)
class Limits:
    cell_timeout: float = 120.0          # seconds of its own time one notebook cell may run
    check_time_limit: float = 60.0       # seconds of its own time one exercise's candidate may run
    notebook_timeout: float = 900.0      # seconds of its own time one whole notebook may run
    memory_bytes: int | None = 4 * GiB   # address space of a student process (None: unlimited)
    max_output_bytes: int = 1_000_000    # output kept per cell; the rest is dropped
    file_bytes: int = 256 * MiB          # largest file a student process may write
    tmp_bytes: int = 4 * GiB             # the candidate server's /tmp: every student's working folder
    kernel_work_bytes: int = 1 * GiB     # a sandboxed kernel's private working folder (nbgrader)
    processes: int = 512                 # processes of one student at once (their cgroup)
    candidate_processes: int = 64        # processes one exercise's candidate may start
    notebook_processes: int = 256        # processes one notebook run may start
    submission_bytes: int = 50 * MiB     # a submission's files copied for its notebook run
    answer_bytes: int = 64 * MiB         # one answer of a candidate to its judge
    answers_bytes: int = 1 * GiB         # everything one candidate may send its judge
    judge_backstop: float = 900.0        # seconds a judge may live, whatever its candidate does
    kernel_grace: float = 30.0           # seconds past a cell's limit before its kernel is killed

    def replace(self, **changes):
        """A copy with `changes`; None values are ignored (a setting left unset)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

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

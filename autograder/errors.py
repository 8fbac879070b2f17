"""The two ways a hidden check fails: a wrong answer, or a process that was tampered with."""


class CheckFailed(AssertionError):
    """The submission's behaviour is wrong; the message says which input, what was expected,
    what came back, and the likely misconception."""


class Tampering(CheckFailed):
    """The grading environment was changed by student code (a replaced builtin, a fake tensor).

    A submission caught this way gets no points for the exercise being checked."""

    def __init__(self, what):
        super().__init__(
            f"Tampering detected: {what}. The grader does not trust results computed after student "
            "code has changed the environment, so this exercise gets no points."
        )

"""Run one exercise's hidden check on every device, and call student code safely."""

import warnings

from . import genuine as g
from .devices import test_devices
from .errors import CheckFailed

globals().update(g.B)  # builtins looked up here are the genuine ones pinned at import


def check(exercise_id, candidate):
    """Raise CheckFailed (with a message that names the mistake) unless `candidate` behaves as the
    curriculum's exercise `exercise_id` requires, on every available device.

    Warnings raised while checking are silenced: nbgrader scores a cell with any stderr output 0,
    and a correct solution that triggers a PyTorch warning must not lose points.
    """
    from .exercises import CHECKS

    g.verify()
    if exercise_id not in CHECKS:
        raise KeyError(f"no hidden check for exercise {exercise_id!r}")
    if not callable(candidate):
        raise CheckFailed(f"{exercise_id} should be a function or class, but it is a "
                          f"{g.type_(candidate).__name__}.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            for device in test_devices():
                CHECKS[exercise_id](candidate, device)
        except CheckFailed:
            g.verify()  # a wrong answer that also patched the process is reported as tampering
            raise
    g.verify()


def call(fn, args, context, hints=()):
    """Call student code; turn any exception into a CheckFailed that says what went wrong.

    `hints` are (substring of the error message, explanation) pairs naming likely mistakes.
    """
    try:
        return fn(*args)
    except NotImplementedError:
        raise CheckFailed(f"{context}\nIt raised NotImplementedError: the exercise is not done yet "
                          "(replace `raise NotImplementedError()` with your code).") from None
    except Exception as exc:
        try:
            text = str(exc)
        except Exception:
            text = "<the error message could not be printed>"
        lines = [context, f"It raised {g.type_(exc).__name__}: {text.strip()}"]
        for needle, explanation in hints:
            if needle in text:
                lines.append(f"Likely mistake: {explanation}")
                break
        raise CheckFailed("\n".join(lines)) from None

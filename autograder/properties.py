"""Property-based cases for hidden checks, with Hypothesis.

`for_all` runs a property on examples Hypothesis draws and, on a failure, shrinks to the
smallest failing input before reporting it. Runs are derandomized and keep no example database,
so grading the same submission twice gives the same result.
"""

import os
import tempfile
from pickle import dumps as _dumps, loads as _loads

import unittest

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis.errors import FlakyFailure, HypothesisException
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.internal.conjecture import providers as _providers
from hypothesis.internal.constants_ast import Constants

from .errors import CheckFailed, Tampering

# Hypothesis mines constants from the source of every local module the process has imported
# (a student's own helper module included) and caches them under ./.hypothesis. Both would make
# the examples depend on the submission and write into the student's folder: turn them off, so
# every submission is checked on the same examples and nothing is written beside it.
_providers._get_local_constants = Constants
set_hypothesis_home_dir(os.path.join(tempfile.gettempdir(), "autograder-hypothesis"))

SETTINGS = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=25,
    verbosity=Verbosity.quiet,
    phases=(Phase.explicit, Phase.generate, Phase.shrink),
    suppress_health_check=list(HealthCheck),
    print_blob=False,
    report_multiple_bugs=False,
)


# ((strategy, max_examples, pickled examples), ...), filled once by `record_examples` in a warm
# process before any student code (a tuple of bytes: nothing in it can be changed in place, and
# rebinding the name is caught by the clean process's integrity check).
REPLAY = ()


def record_examples(strategies, max_examples=25):
    """Draw, once, the examples `for_all` tries on a property that passes, and keep them.

    Drawing is most of a check's time, and it is deterministic (derandomized, no database):
    a process forked after this replays the recorded examples instead of drawing them again,
    and hands over to Hypothesis only when one fails, so that it shrinks it as before."""
    global REPLAY
    recorded = []
    for strategy in strategies:
        seen = []
        _hypothesis(strategy, seen.append, max_examples)
        recorded.append((strategy, max_examples, _dumps(seen)))
    REPLAY = tuple(recorded)


def _recorded(strategy, max_examples):
    for known, count, data in REPLAY:
        if known is strategy and count == max_examples:
            return _loads(data)
    return None


def for_all(strategy, prop, max_examples=25):
    """Call `prop(example)` for examples drawn from `strategy`; re-raise the shrunk failure."""
    examples = _recorded(strategy, max_examples)
    if not examples:
        return _hypothesis(strategy, prop, max_examples)
    try:
        for example in examples:
            prop(example)
    except Exception as failure:  # Hypothesis finds the same example first, then shrinks it
        _hypothesis(strategy, prop, max_examples)
        raise failure from None  # Hypothesis did not fail again: the submission is not deterministic
    # Hypothesis still has to work when asked (a few ms): a submission that broke it is caught
    # here as it was when every example came from Hypothesis.
    _hypothesis(strategy, lambda example: None, 1)


def _hypothesis(strategy, prop, max_examples):
    ran = [0]

    @settings(SETTINGS, max_examples=max_examples)
    @given(strategy)
    def run(example):
        ran[0] += 1
        prop(example)

    try:
        run()
    except FlakyFailure as exc:
        first = next((e for e in exc.exceptions if isinstance(e, CheckFailed)), None)
        raise CheckFailed("The submission gives different results when called twice on the same "
                          "input (does it keep state between calls, or use randomness?)."
                          + (f"\nOne of the failures:\n{first}" if first else "")) from None
    except (HypothesisException, unittest.SkipTest) as exc:
        raise Tampering(f"the property-based tests could not run ({type(exc).__name__}); "
                        "Hypothesis was changed") from None
    if ran[0] == 0:
        raise Tampering("the property-based tests did not run (Hypothesis was patched)")


def quarters(lo, hi):
    """Numbers k/4 for integers k in [4*lo, 4*hi]: exact in float32, short in messages."""
    return st.integers(int(lo * 4), int(hi * 4)).map(lambda k: k / 4)


@st.composite
def matrices(draw, rows=(1, 5), cols=(1, 5), values=None, unique_rows=False, shape=None):
    """A nested list of shape (n, m); `shape` fixes it, otherwise n and m are drawn."""
    values = values if values is not None else quarters(-10, 10)
    n = shape[0] if shape else draw(st.integers(*rows))
    m = shape[1] if shape else draw(st.integers(*cols))
    row = st.lists(values, min_size=m, max_size=m, unique=unique_rows)
    return draw(st.lists(row, min_size=n, max_size=n))


def vectors(size=(1, 6), values=None):
    values = values if values is not None else quarters(-10, 10)
    return st.lists(values, min_size=size[0], max_size=size[1])

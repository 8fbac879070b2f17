"""Property-based inputs for the checks, with Hypothesis, drawn once and replayed.

`for_all(strategy, prop)` calls `prop(example)` on the examples Hypothesis draws from
`strategy` and, when one fails, lets Hypothesis shrink it to the smallest failing input before
reporting it. Runs are derandomized and keep no example database, so every submission is
checked on the same examples and grading the same submission twice gives the same result.

Drawing is most of a check's own time, and it is deterministic: the judge server draws each
exercise's examples once (`record`), before it forks that exercise's first judge, and a judge
replays them, handing over to Hypothesis only to shrink a failure. Student code never runs in
the judge, so nothing here needs guarding.
"""

import math
import os
import tempfile
import unittest

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.errors import FlakyFailure, HypothesisException
from hypothesis.internal.conjecture import providers as _providers
from hypothesis.internal.constants_ast import Constants

from .channel import LostCandidate
from .compare import CheckFailed

# Hypothesis mines constants from the source of every local module the process imported and
# caches them on disk: turn both off, so the examples depend on the strategy alone.
_providers._get_local_constants = Constants
set_hypothesis_home_dir(os.path.join(tempfile.gettempdir(), "autograder-hypothesis"))

MAX_EXAMPLES = 25
SETTINGS = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=MAX_EXAMPLES,
    verbosity=Verbosity.quiet,
    phases=(Phase.explicit, Phase.generate, Phase.shrink),
    suppress_health_check=list(HealthCheck),
    print_blob=False,
    report_multiple_bugs=False,
)

_RECORDED = {}  # id(strategy) -> (strategy, examples), filled by record()


def record(strategies):
    """Draw, once, the examples `for_all` tries on a property that passes, and keep them."""
    for strategy in strategies:
        if id(strategy) not in _RECORDED:
            seen = []
            _hypothesis(strategy, seen.append)
            _RECORDED[id(strategy)] = (strategy, seen)


def forget():
    _RECORDED.clear()


def recording():
    """What `record` has drawn so far, to `replay` later in this process without drawing again."""
    return dict(_RECORDED)


def replay(recorded_before):
    """Replay exactly the examples of an earlier `recording()` (and nothing recorded since)."""
    _RECORDED.clear()
    _RECORDED.update(recorded_before)


def recorded(strategy):
    entry = _RECORDED.get(id(strategy))
    return entry[1] if entry is not None and entry[0] is strategy else None


def for_all(strategy, prop):
    """Call `prop(example)` on every example; re-raise the shrunk failure."""
    examples = recorded(strategy)
    if examples is None:
        return _hypothesis(strategy, prop)
    for example in examples:
        try:
            prop(example)
        except CheckFailed as failure:  # Hypothesis finds the same example first, then shrinks it
            try:
                _hypothesis(strategy, prop)
            except LostCandidate:
                raise failure from None  # the candidate died while shrinking: report what we have
            raise failure from None  # it did not fail again: the submission is not deterministic


def _hypothesis(strategy, prop):
    @settings(SETTINGS)
    @given(strategy)
    def run(example):
        prop(example)

    try:
        run()
    except FlakyFailure as exc:
        first = next((e for e in exc.exceptions if isinstance(e, CheckFailed)), None)
        raise CheckFailed("The submission gives different results when called twice on the same "
                          "input (does it keep state between calls, or use randomness?)."
                          + (f"\nOne of the failures:\n{first}" if first else "")) from None
    except (HypothesisException, unittest.SkipTest) as exc:
        raise RuntimeError(f"Hypothesis could not run the property ({type(exc).__name__}: {exc})") from None


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


@st.composite
def shaped(draw, shape, values):
    """Nested lists of `shape` (a float for shape ())."""
    n = math.prod(shape)
    flat = draw(st.lists(values, min_size=n, max_size=n))
    return nest(flat, shape)


def nest(flat, shape):
    if not shape:
        return flat[0]
    step = len(flat) // shape[0] if shape[0] else 0
    return [nest(flat[i * step:(i + 1) * step], shape[1:]) for i in range(shape[0])]

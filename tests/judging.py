"""The harness of the galleries of hidden checks (tests/test_hidden_<topic>.py).

`verdict(exercise_id, fn)` runs the exercise's declared check against `fn` through a `Local`
candidate (the same requests and answers as a real candidate process, without the process), so
hundreds of right and wrong solutions are judged in seconds. Tampering is not tested this way
(student code would share the judge's process): see test_tampering.py for that.

`gallery_tests(globals(), assignment, CORRECT, WRONG)` defines the tests every gallery has, so
that a gallery file holds only its tables and its own regressions:

- every correct solution passes; every wrong one fails as "fail" (an honest mistake is not
  tampering) with a message that holds its phrase and no line of the solution (tests/giveaway.py),
  and a message that tells a likely mistake names it (a slug, for the misconception report);
- at least `MIN_EACH` correct and wrong solutions per exercise (the stub not counted);
- the same messages whether Hypothesis draws the examples or they are recorded and replayed;
- the sample solutions (`samples.solutions`): the source notebook's and the alternatives pass,
  the typical mistake fails saying `WRONG_SAYS`, named `WRONG_MISTAKE`;
- and every test runs twice, with examples drawn and replayed (the `examples` fixture).
"""

import contextlib
import io

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from autograder.instructor import samples
from autograder.judge import properties
from autograder.judge.declare import REGISTRY, devices_here
from autograder.judge.exercises import strategies
from autograder.judge.local import Local
from autograder.judge.run import judge

from conftest import nbgrader_meta, source_nb
from giveaway import given_away

MIN_EACH = 8
LIKELY = "\nLikely mistake: "  # how a message names its likely mistake (judge.compare.likely_line)


def assignment_of(exercise_id):
    return next(a for a, exs in REGISTRY.items() if exercise_id in exs)


def verdict(exercise_id, fn, **namespace):
    """The judge's verdict on `fn` as the solution of `exercise_id` (plus other definitions),
    as {"status", "message", "mistake"}."""
    assignment = assignment_of(exercise_id)
    scope = dict(namespace)
    scope[REGISTRY[assignment][exercise_id].name] = fn
    found = judge(assignment, exercise_id, Local(scope), devices_here())
    return {"status": found.status.value, "message": found.message, "mistake": found.mistake}


def passes(exercise_id, fn, **namespace):
    result = verdict(exercise_id, fn, **namespace)
    assert result["status"] == "pass", result["message"]


def failure_of(exercise_id, fn, **namespace):
    """The verdict, which must not be a pass."""
    result = verdict(exercise_id, fn, **namespace)
    assert result["status"] != "pass", f"{exercise_id}: a wrong solution passed"
    return result


def cases(table):
    """pytest.param(*rest, id=name) for rows (name, *rest)."""
    return [pytest.param(*row[1:], id=row[0]) for row in table]


def stub(*args, **kwargs):
    raise NotImplementedError()


def rows(exercise, table):
    """[(exercise, name, ...)] for a per-exercise table [(name, ...)]."""
    return [(exercise, *row) for row in table]


def defined(source, namespace=None, setup=None):
    """What a solution cell defines, run after `setup` (the notebook's setup cell: its imports),
    or after the notebooks' usual imports."""
    scope = namespace if namespace is not None else {}
    scope.update(torch=torch, nn=nn, F=F)
    if setup is not None:
        with contextlib.redirect_stdout(io.StringIO()):
            exec(setup, scope)
    exec(source, scope)
    name = next(line.split()[1].split("(")[0].rstrip(":") for line in source.splitlines()
                if line.startswith(("def ", "class ")))
    return scope[name], scope


def gallery_tests(namespace, assignment, correct, wrong, *, needs=None):
    """Define the tests every gallery has (see the module docstring) in `namespace`.

    `correct`: [(exercise, name, fn)]; `wrong`: [(exercise, name, fn, phrase)]; `needs`:
    {exercise: [exercise ids whose sample solution it builds on]} (load_from_nn_linear uses
    the student's own MyLinear)."""
    exercises = list(REGISTRY[assignment])
    needs = needs or {}

    @pytest.fixture(autouse=True)
    def _both_ways(examples):
        return examples

    @pytest.mark.parametrize("exercise, fn", [pytest.param(ex, fn, id=f"{ex}-{name}") for ex, name, fn in correct])
    def test_alternative_correct_solution_passes(exercise, fn):
        passes(exercise, fn, **extra_definitions(exercise))

    @pytest.mark.parametrize("exercise, fn, phrase",
                             [pytest.param(ex, fn, phrase, id=f"{ex}-{name}") for ex, name, fn, phrase in wrong])
    def test_wrong_solution_fails_and_names_the_mistake(exercise, fn, phrase):
        result = failure_of(exercise, fn, **extra_definitions(exercise))
        message = result["message"]
        assert result["status"] == "fail", f"an honest mistake judged {result['status']}:\n{message}"
        assert "Tampering detected" not in message
        assert phrase in message, f"expected {phrase!r} in the message:\n{message}"
        assert not given_away(message, assignment), f"the message hands over the solution:\n{message}"
        assert result["mistake"] or LIKELY not in message, f"a likely mistake without a slug:\n{message}"

    def test_gallery_sizes():
        """At least MIN_EACH correct and MIN_EACH wrong solutions per exercise (the stub not counted)."""
        for ex in exercises:
            assert sum(1 for e, *_ in correct if e == ex) >= MIN_EACH, ex
            assert sum(1 for e, name, *_ in wrong if e == ex and name != "stub") >= MIN_EACH, ex

    def test_replay_reports_the_failure_hypothesis_reports():
        """The same shrunk example and message whether the examples are drawn or replayed."""
        messages = {}
        for replay in (False, True):
            properties.forget()
            if replay:
                properties.record(strategies())
            messages[replay] = [failure_of(ex, fn, **extra_definitions(ex))["message"] for ex, _, fn, _ in wrong]
        properties.forget()
        assert messages[True] == messages[False]

    solutions = samples.solutions(assignment)
    setup = next(c.source for c in source_nb(assignment).cells if nbgrader_meta(c).get("grade_id") == "setup")

    def extra_definitions(exercise):
        scope = {}
        for other in needs.get(exercise, ()):
            defined(solutions["RIGHT"][other], scope, setup)
        return {k: v for k, v in scope.items() if k not in ("torch", "nn", "F", "__builtins__")}

    @pytest.mark.parametrize("exercise", exercises)
    def test_sample_solutions(exercise):
        """The source notebook's solution and the sample alternative pass; the sample mistake
        fails, saying WRONG_SAYS."""
        for kind in ("RIGHT", "ALTERNATIVE"):
            passes(exercise, defined(solutions[kind][exercise], setup=setup)[0], **extra_definitions(exercise))
        result = failure_of(exercise, defined(solutions["WRONG"][exercise], setup=setup)[0],
                            **extra_definitions(exercise))
        assert result["status"] == "fail" and solutions["WRONG_SAYS"][exercise] in result["message"], result
        assert result["mistake"] == solutions["WRONG_MISTAKE"][exercise], result

    namespace.update({f.__name__: f for f in (
        _both_ways, test_alternative_correct_solution_passes, test_wrong_solution_fails_and_names_the_mistake,
        test_gallery_sizes, test_replay_reports_the_failure_hypothesis_reports, test_sample_solutions)})


# --- answers only a cheat sends ---------------------------------------------------------------

class AlwaysEqual(torch.Tensor):
    """Every torch operation on it (comparisons, sums, allclose...) answers True."""

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        return True


class PosesAsTensor(torch.Tensor):
    """Claims, through __class__, to be a plain torch.Tensor."""

    @property
    def __class__(self):
        return torch.Tensor

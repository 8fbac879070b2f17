"""Helpers for galleries of the hidden checks: judge a function defined in the test, in-process.

`verdict(exercise_id, fn)` runs the exercise's declared check against `fn` through a `Local`
candidate (the same requests and answers as a real candidate process, without the process), so
hundreds of right and wrong solutions are judged in seconds. Tampering is not tested this way
(student code would share the judge's process): see test_tampering.py for that.
"""

import pytest

from autograder.judge import properties
from autograder.judge.candidate import Local
from autograder.judge.declare import REGISTRY, devices_here
from autograder.judge.exercises import strategies
from autograder.judge.run import judge


def assignment_of(exercise_id):
    return next(a for a, exs in REGISTRY.items() if exercise_id in exs)


def verdict(exercise_id, fn, **namespace):
    """The judge's verdict on `fn` as the solution of `exercise_id` (plus other definitions)."""
    assignment = assignment_of(exercise_id)
    scope = dict(namespace)
    scope[REGISTRY[assignment][exercise_id].name] = fn
    return judge(assignment, exercise_id, Local(scope), devices_here())


def passes(exercise_id, fn, **namespace):
    result = verdict(exercise_id, fn, **namespace)
    assert result["status"] == "pass", result["message"]


def failure_of(exercise_id, fn, **namespace):
    """The verdict, which must not be a pass."""
    result = verdict(exercise_id, fn, **namespace)
    assert result["status"] != "pass", f"{exercise_id}: a wrong solution passed"
    return result


@pytest.fixture(params=["drawn", "replayed"])
def examples(request):
    """Property-based examples drawn by Hypothesis, or recorded once and replayed (as in the
    judge server's forks): both must give the same verdicts."""
    if request.param == "replayed":
        properties.record(strategies())
    else:
        properties.forget()
    yield request.param
    properties.forget()


def cases(table):
    """pytest.param(*rest, id=name) for rows (name, *rest)."""
    return [pytest.param(*row[1:], id=row[0]) for row in table]


def stub(*args, **kwargs):
    raise NotImplementedError()

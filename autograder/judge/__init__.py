"""The judge: decides every exercise in a process that never runs student code.

It holds the exercises' declarations (`exercises/`, written with `declare`), the references,
tolerances and inputs, and talks to a candidate (the student's code, in another process) only
through `candidate.Candidate`. See `autograder/__init__.py` for the whole design.

`hidden_tests(exercise_id, fn)` is what a source notebook's hidden test cell calls. In the
instructor's own JupyterLab it runs the exercise's checks on the live function, in-process (a
`Local` candidate), and prints a tick. When a submission is graded this package is not even
readable by student code: the cell fails to import it, and the judge's verdict replaces the
cell's output.
"""


def hidden_tests(exercise_id, fn, *, namespace=None):
    """Run every hidden check of `exercise_id` on `fn` here; raise CheckFailed if one fails."""
    import warnings

    from .compare import CheckFailed
    from .declare import devices_here
    from .exercises import REGISTRY
    from .local import Local
    from .run import judge

    if namespace is None:  # the notebook's own names: an exercise may build on another (MyLinear)
        import sys
        namespace = sys._getframe(1).f_globals
    found = [a for a, exs in REGISTRY.items() if exercise_id in exs]
    if not found:
        raise KeyError(f"no exercise {exercise_id!r}")
    assignment = found[0]
    ex = REGISTRY[assignment][exercise_id]
    scope = dict(namespace or {})
    scope[ex.name] = fn
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        verdict = judge(assignment, exercise_id, Local(scope), devices_here())
    if not verdict.passed:
        raise CheckFailed(verdict.message)
    print(f"✓ hidden tests of {exercise_id} passed")

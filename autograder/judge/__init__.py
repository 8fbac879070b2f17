"""The judge: decides every exercise in a process that never runs student code.

`hidden_tests(exercise_id, candidate)` is what a source notebook's hidden test cell calls. In the
instructor's own JupyterLab it runs the exercise's full hidden checks on the live function and
prints a tick; when a submission is graded, this package is not readable by student code at all,
and the grade comes from the judge process instead.
"""


def hidden_tests(exercise_id, candidate):
    """Run the hidden checks of `exercise_id` on `candidate` here (instructor's notebook)."""
    from ..runner import check  # transitional: replaced by the judge's local candidate
    check(exercise_id, candidate)
    print(f"✓ hidden tests of {exercise_id} passed")

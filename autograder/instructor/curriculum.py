"""The graded core of the course, as the judge's declarations define it.

For every assignment: its exercise ids, the signature each solution cell must define, and the
exercises it depends on (rule 6 of the contract: a candidate loads those cells first). The
table comes from `autograder.judge.exercises` (`table()`), or, during a grading run, from the
judge server's hello (the same table, without importing torch and Hypothesis here).
"""

import functools


@functools.lru_cache(maxsize=1)
def table():
    """{assignment: {exercise id: {"signature": ..., "depends": [...]}}}."""
    from ..judge.exercises import curriculum
    return curriculum()


def signatures(assignment, curriculum=None):
    """{exercise id: signature} of `assignment`, in the notebook's order."""
    return {ex: entry["signature"] for ex, entry in (curriculum or table()).get(assignment, {}).items()}


def exercise_of(grade_id, assignment, curriculum=None):
    """The exercise a test cell's grade_id belongs to (test_<exercise id>...), or None."""
    for ex_id in sorted((curriculum or table()).get(assignment, {}), key=len, reverse=True):
        if grade_id.startswith(f"test_{ex_id}"):
            return ex_id
    return None

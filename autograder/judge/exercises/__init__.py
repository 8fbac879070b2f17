"""Every exercise of the course, declared one module per assignment (see `..declare`).

Importing this package declares them all; the rest of the grader reads them from here:
the checks, the strategies whose examples the judge server records before it forks, and the
curriculum table (ids, signatures, dependencies) that the notebooks and the shared contract are
checked against.
"""

from ..declare import REGISTRY
from . import tensor_ops  # noqa: F401  (one module per assignment, in teaching order)


def exercise(assignment, ex_id):
    return REGISTRY[assignment][ex_id]


def curriculum():
    """{assignment: {exercise id: {"signature": ..., "depends": [...]}}}, in teaching order."""
    return {a: {e: {"signature": ex.signature, "depends": list(ex.depends)} for e, ex in exs.items()}
            for a, exs in REGISTRY.items()}


def strategies():
    return [s for exs in REGISTRY.values() for ex in exs.values() for s in ex.strategies]

"""Every exercise of the course, declared one module per assignment (see `..declare`).

Importing this package imports every module in it (a new assignment's module is picked up by
being here), which declares the exercises; the rest of the grader reads them from here: the
checks, the strategies whose examples the judge server records before it forks, and the
curriculum table (ids, signatures, dependencies) that the notebooks and the shared contract are
checked against. Assignments come in their order (NN_name), exercises in declaration order.
"""

import importlib
import pkgutil

from ..declare import REGISTRY

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_module}")


def exercise(assignment, ex_id):
    return REGISTRY[assignment][ex_id]


def curriculum():
    """{assignment: {exercise id: {"signature": ..., "depends": [...]}}}, in teaching order."""
    return {a: {e: {"signature": ex.signature, "depends": list(ex.depends)} for e, ex in REGISTRY[a].items()}
            for a in sorted(REGISTRY)}


def strategies():
    return [s for a in sorted(REGISTRY) for ex in REGISTRY[a].values() for s in ex.strategies]

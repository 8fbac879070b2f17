"""Exercises and the assignments that declare them, once, with everything derived from them.

`Assignment(name)` declares the exercises of one notebook, in the notebook's order, into
`REGISTRY`; the rest of the grader reads them from there (`exercises.curriculum`, the
strategies the judge server records, the tampering gallery). An `Exercise` runs its check on
every device and dtype: its hand-picked cases (each again in the other tensor layouts,
`layouts`), then its property-based examples, whose strategy it records itself.
"""

import torch

from ..protocol.signatures import defined_name
from . import layouts as layouts_of
from . import tables
from .trial import Trial

FLOATS = (torch.float32, torch.float64)
REGISTRY = {}  # assignment -> {exercise id: Exercise}, in declaration order


def devices_here():
    """The CPU, then every CUDA GPU, then MPS: the devices this process can use."""
    found = [torch.device("cpu")]
    if torch.cuda.is_available():
        found += [torch.device("cuda", i) for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append(torch.device("mps", 0))
    return found


class Exercise:
    """One graded exercise: its contract (assignment, id, signature) and its check.

    `check(t, case)` runs on every hand-picked case (then once per layout in `layouts` that
    fits one of its tensor inputs, on the first dtype only) and on every example `strategy`
    draws; `before(t)` and `after(t)` run once per trial around them. Without cases or a
    strategy, `check(t)` does everything itself. `tolerance`: a preset of `tolerances`."""

    def __init__(self, assignment, ex_id, signature, check, *, cases=None, strategy=None, before=None,
                 after=None, layouts=layouts_of.ALL, tolerance=None, untouched=None, dtypes=FLOATS,
                 strategies=(), depends=(), devices="all"):
        self.assignment, self.id, self.signature, self.check = assignment, ex_id, signature, check
        self.cases = None if cases is None else list(cases)
        self.strategy, self.before, self.after = strategy, before, after
        self.layouts, self.tolerance, self.untouched = tuple(layouts), tolerance, dict(untouched or {})
        self.dtypes, self.depends, self.devices = tuple(dtypes), tuple(depends), devices
        self.strategies = tuple(strategies) + ((strategy,) if strategy is not None else ())
        self.name = defined_name(signature)

    def trials(self, devices):
        """(device, dtype) pairs to check on: every device, float64 too except on MPS."""
        chosen = devices if self.devices == "all" else [torch.device("cpu")]
        for device in chosen:
            for dtype in self.dtypes:
                if device.type == "mps" and dtype == torch.float64:
                    continue
                yield device, dtype

    def run(self, candidate, devices):
        """Raise CheckFailed unless the candidate behaves as the contract says everywhere."""
        for device, dtype in self.trials(devices):
            t = Trial(self, candidate, device, dtype)
            if self.cases is None and self.strategy is None:
                self.check(t)
                continue
            if self.before is not None:
                self.before(t)
            layouts = self.layouts if dtype == self.dtypes[0] else ()
            for case in self.cases or ():
                t.run_case(self.check, case, layouts)
            if self.strategy is not None:
                t.for_all(self.strategy, lambda example, t=t: self.check(t, example))
            if self.after is not None:
                self.after(t)

    def __repr__(self):
        return f"<exercise {self.assignment}/{self.id}>"


class Assignment:
    """Declares the exercises of one assignment, in the order the notebook has them.

    `A.exercise(...)` is a decorator for a check written by hand; `A.tensor_function`,
    `A.module_class` and `A.module_function` (`tables`) declare the common kinds as tables."""

    def __init__(self, name):
        self.name = name
        self.exercises = REGISTRY.setdefault(name, {})

    def add(self, ex_id, signature, check, **options):
        self.exercises[ex_id] = Exercise(self.name, ex_id, signature, check, **options)
        return self.exercises[ex_id]

    def exercise(self, ex_id, signature, **options):
        """Decorator: the exercise's check, `check(t, case)` (or `check(t)` with neither
        `cases` nor `strategy`), run once per device and dtype. See `Exercise`."""
        def register(check):
            self.add(ex_id, signature, check, **options)
            return check
        return register

    def tensor_function(self, ex_id, signature, **table):
        return tables.tensor_function(self, ex_id, signature, **table)

    def module_class(self, ex_id, signature, **table):
        return tables.module_class(self, ex_id, signature, **table)

    def module_function(self, ex_id, signature, **table):
        return tables.module_function(self, ex_id, signature, **table)

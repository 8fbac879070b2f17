"""Hidden checks, one module per assignment; CHECKS maps each exercise id to its check.

A check is `check_<id>(candidate, device)`: it raises CheckFailed unless the student's function
or class behaves as the curriculum says on that device.
"""

from . import tensor_ops

MODULES = (tensor_ops,)
CHECKS = {}
for _module in MODULES:
    CHECKS.update(_module.CHECKS)


def warm_up():
    """Record the examples every check's property-based part will try (without torch), so that
    processes forked from this one replay them instead of drawing them (the fork server calls
    this before any student code; see properties.record_examples)."""
    from ..properties import record_examples
    record_examples([strategy for module in MODULES for strategy in getattr(module, "STRATEGIES", ())])

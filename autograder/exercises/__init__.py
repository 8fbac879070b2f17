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
    """Draw from every check's strategies once, without torch, so that processes forked from
    this one start with Hypothesis's caches built (the fork server calls this)."""
    from ..properties import for_all
    for module in MODULES:
        for strategy in getattr(module, "STRATEGIES", ()):
            for_all(strategy, lambda example: None)

"""Machines to pretend to be (08_devices): demos and visible tests on any computer.

`simulated_machine(cuda=2, mps=False)` makes torch's three device queries answer as another
machine would, for code that asks what the machine has; `expect_devices` compares devices the
way the course does (`cuda` is `cuda:0`, `mps` is `mps:0`; a string is not a device). Like
`course.devices`, nothing here lists the available devices or picks one: those are exercises.
"""

import contextlib

import torch


@contextlib.contextmanager
def simulated_machine(cuda=0, mps=False):
    """Inside the `with` block, torch's three device queries answer as if this machine had `cuda`
    CUDA GPUs and (if `mps`) Apple's MPS: torch.cuda.is_available(), torch.cuda.device_count()
    and torch.backends.mps.is_available() (and mps.is_built()). Nothing else changes: no tensor
    can really be made on a simulated device. The real queries come back when the block ends.

        with simulated_machine(cuda=2):
            print(torch.cuda.device_count())     # 2, even on a laptop
    """
    saved = [(torch.cuda, "is_available"), (torch.cuda, "device_count"),
             (torch.backends.mps, "is_available"), (torch.backends.mps, "is_built")]
    saved = [(module, name, getattr(module, name)) for module, name in saved]
    torch.cuda.is_available = lambda: cuda > 0
    torch.cuda.device_count = lambda: cuda
    torch.backends.mps.is_available = lambda: bool(mps)
    if mps:
        torch.backends.mps.is_built = lambda: True
    try:
        yield
    finally:
        for module, name, value in saved:
            setattr(module, name, value)


def _same_device(a, b):
    """`cuda` is `cuda:0`, `mps` is `mps:0`, `cpu` is `cpu:0`."""
    return a.type == b.type and (a.index or 0) == (b.index or 0)


def expect_devices(got, expected, name="result", hint=None):
    """`got` is a torch.device (or a list of them) naming the same devices as `expected`, in the
    same order, `cuda` counting as `cuda:0` and `mps` as `mps:0`. A string is reported as one."""
    from .checks import CheckError

    def problem():
        many = isinstance(expected, list)
        if many and not isinstance(got, list):
            return f"expected a list of torch.device, got {type(got).__name__}: {got!r}"
        items = got if many else [got]
        strings = [g for g in items if isinstance(g, str)]
        if strings:
            return (f"got the string {strings[0]!r}, not a torch.device "
                    f"(torch.device({strings[0]!r}) == {strings[0]!r} is {torch.device(strings[0]) == strings[0]})")
        if not all(isinstance(g, torch.device) for g in items):
            return f"expected torch.device objects, got {got!r}"
        want = expected if many else [expected]
        if len(items) != len(want) or not all(_same_device(g, w) for g, w in zip(items, want)):
            return "wrong devices"
        return None

    found = problem()
    if found:
        lines = [f"{name}: {found}", f"  expected: {expected!r}", f"  got:      {got!r}"]
        if hint:
            lines.append(f"  hint: {hint}")
        raise CheckError("\n".join(lines))

"""Fixtures a judge asks a candidate to build, and the operations it may ask for on them.

A judge describes what it needs in plain data (a "spec"): this module makes it, in the
candidate (where student code will use it) and in the judge (where the reference uses the very
same construction), so both sides agree on what was built without ever sending an object.

`OPS` is the fixed menu of operations a judge may ask a candidate to perform on objects it
holds (writing into a tensor, backward, moving a module...): course code, run on the judge's
behalf, whose results the judge reads back like any other answer.
"""

import torch

_TB = torch._C.TensorBase
_Module = torch.nn.Module

SPECS = {}


def spec(kind):
    def register(fn):
        SPECS[kind] = fn
        return fn
    return register


def build(enc, handles=None):
    """The object `enc` (a {"$": "spec", "kind": ...} dict) describes."""
    maker = SPECS.get(enc.get("kind"))
    if maker is None:
        raise ValueError(f"no fixture of kind {enc.get('kind')!r}")
    return maker(enc, handles)


def _fill(t, index, value):
    """Write `value` at `index` (a tuple of ints) of `t`, through t's own memory."""
    target = t
    for i in index:
        target = _TB.select(target, 0, i)
    _TB.fill_(target, value)
    return None


def _seed(n):
    torch.manual_seed(n)
    return None


def _sum_backward(t):
    _TB.backward(_TB.sum(t))
    return None


def _backward(t, gradient=None):
    _TB.backward(t, gradient)
    return None


def _module_to(m, device):
    return _Module.to(m, device)


def _train(m, mode=True):
    return _Module.train(m, mode)


OPS = {
    "fill": _fill,
    "seed": _seed,
    "sum_backward": _sum_backward,
    "backward": _backward,
    "module_to": _module_to,
    "train": _train,
}

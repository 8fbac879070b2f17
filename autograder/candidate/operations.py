"""The fixed menu of operations a judge may ask a candidate to perform on objects it holds.

Course code, run in the candidate on the judge's behalf; the judge reads their effects back
like any other answer (`describe`), never trusting them more than any other answer. Each is
looked up here, never sent: a judge names one of `OPS` and passes arguments.

    fill(t, index, value)              write value at index, through t's own memory (sets
                                       values, e.g. of a module's parameters; it decides no
                                       property: views and in-place changes are observed by
                                       the judge in shared memory, `judge.shared`)
    seed(n)                            torch.manual_seed(n)
    sum_backward(t), backward(t, g)    autograd's backward pass (torch.autograd.backward as it
                                       was when this module was imported, before student code)
    module_to(m, device_or_dtype)      nn.Module.to, the module's own method as torch defines it
    train(m, mode)                     nn.Module.train
    uninitialised_reads_nan(on)        (03) while on, memory a tensor gets without being filled
                                       (torch.empty, torch.FloatTensor(n, m)) reads NaN: a
                                       layer left uninitialised shows it every time
    module_to_devices(m, device, names)  (05) m.to(device), then {name: device of m.<name> as
                                       text, or None}: what .to() moves and what it leaves behind
"""

import torch

_TB = torch._C.TensorBase
_Module = torch.nn.Module
_Tensor = torch.Tensor
_autograd_backward = torch.autograd.backward  # as it is now, before any student code
_no_subclass_fn = torch._C.DisableTorchFunctionSubclass
_set_deterministic = torch._C._set_deterministic_algorithms
_set_fill_uninitialised = torch._C._set_deterministic_fill_uninitialized_memory
_device_of = _TB.__dict__["device"].__get__
_isinstance, _getattr = isinstance, getattr


def _fill(t, index, value):
    """Write `value` at `index` (a tuple of ints) of `t`, through t's own memory."""
    target = t
    for i in index:
        target = _TB.select(target, 0, i)
    with torch.no_grad():
        _TB.fill_(target, value)


def _seed(n):
    torch.manual_seed(n)


def _sum_backward(t):
    with _no_subclass_fn():
        total = _TB.sum(t)
    _autograd_backward(total)


def _backward(t, gradient=None):
    _autograd_backward(t, gradient)


def _module_to(m, device):
    return _Module.to(m, device)


def _train(m, mode=True):
    return _Module.train(m, mode)


def _uninitialised_reads_nan(on):
    """Torch's own switch: with deterministic algorithms on (warn-only, so nothing is refused),
    uninitialised memory is filled with NaN (integers: their largest value) whatever the
    allocator hands out. Off again: torch's defaults, as the candidate started."""
    on = on is True
    _set_fill_uninitialised(True)
    _set_deterministic(on, warn_only=on)


def _module_to_devices(m, device, names):
    """m.to(device), then {name: the device of `m.<name>` as text, or None when it is not a
    tensor}, read with torch's own accessor: no value is read, so it works on `meta` too."""
    _Module.to(m, device)
    out = {}
    for name in names:
        value = _getattr(m, str(name), None)
        out[str(name)] = str(_device_of(value)) if _isinstance(value, _Tensor) else None
    return out


OPS = {
    "fill": _fill,
    "seed": _seed,
    "sum_backward": _sum_backward,
    "backward": _backward,
    "module_to": _module_to,
    "train": _train,
    "uninitialised_reads_nan": _uninitialised_reads_nan,
    "module_to_devices": _module_to_devices,
}


# --- 08_devices ---
# on_machine(machine, fn, *args): fn(*args) while torch's device queries answer as `machine`
# ({"cuda": number of GPUs, "mps": bool}) says, on a machine that may have neither: the judge
# of 08_devices simulates GPUs this way, and calls twice under different machines, so that an
# answer read once (at import) shows. Put back as they were after the call, whatever it did.

_cuda_module, _mps_module = torch.cuda, torch.backends.mps
_setattr, _int, _bool, _min, _max = setattr, int, bool, min, max
_SIMULATED = ((_cuda_module, "is_available"), (_cuda_module, "device_count"),
              (_cuda_module, "current_device"), (_mps_module, "is_available"), (_mps_module, "is_built"))


def _on_machine(machine, fn, *args):
    n = _max(0, _min(64, _int(machine.get("cuda", 0))))
    mps = _bool(machine.get("mps", False))
    saved = [(module, name, _getattr(module, name)) for module, name in _SIMULATED]
    built = saved[4][2]
    answers = {"is_available": (lambda: n > 0, lambda: mps),
               "device_count": (lambda: n, None),
               "current_device": (lambda: 0, None) if n else (saved[2][2], None),
               "is_built": (None, (lambda: True) if mps else built)}
    try:
        for module, name, _ in saved:
            _setattr(module, name, answers[name][0 if module is _cuda_module else 1])
        return fn(*args)
    finally:
        for module, name, value in saved:
            _setattr(module, name, value)


OPS["on_machine"] = _on_machine

# --- 09_training ---------------------------------------------------------------------------
# without_torch(fn, *args)   fn(*args) with torch made unavailable for the duration of the call:
#     `import torch` (and its submodules) raises ImportError, and every name in fn's globals
#     bound to torch or one of its modules stands for an object that raises on any use. Both are
#     put back afterwards, whatever fn did.

import sys as _sys  # noqa: E402
import types as _types  # noqa: E402

_ModuleType = _types.ModuleType
_modules = _sys.modules
_type = type


class _NoTorch:
    """What a name bound to torch means while torch is unavailable."""

    def __init__(self, name):
        object.__setattr__(self, "_name", name)

    def __getattr__(self, attr):
        raise ImportError(f"torch is not available here: {self._name}.{attr} cannot be used "
                          "(this exercise is NumPy only)")

    def __call__(self, *args, **kwargs):
        raise ImportError(f"torch is not available here: {self._name}(...) cannot be used "
                          "(this exercise is NumPy only)")


def _is_torch(value):
    name = getattr(value, "__name__", "") if _isinstance(value, _ModuleType) else ""
    return _type(name) is str and (name == "torch" or name.startswith("torch."))


def _without_torch(fn, *args):
    hidden = {name: mod for name, mod in list(_modules.items()) if name == "torch" or name.startswith("torch.")}
    scope = _getattr(fn, "__globals__", None)
    swapped = {}
    if _isinstance(scope, dict):
        swapped = {name: value for name, value in list(scope.items()) if _is_torch(value)}
    try:
        for name in hidden:
            _modules[name] = None  # `import torch` raises ImportError
        for name in swapped:
            scope[name] = _NoTorch(name)
        return fn(*args)
    finally:
        for name, value in swapped.items():
            scope[name] = value
        _modules.update(hidden)


OPS["without_torch"] = _without_torch

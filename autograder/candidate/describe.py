"""How a candidate describes what it holds, for the judge to decode (`autograder.judge.seen`).

- tensor: dtype, shape, strides, storage offset and address, device, ``requires_grad``,
  ``is_leaf``, ``grad_fn``, ``grad``, version counter, and whether it is a plain tensor, a
  Parameter or some other subclass; its values as bytes (`values.tensor_bytes`)
- module: its class, training flag, parameters, buffers, submodules and ``state_dict`` keys
  (a module's tensors appear several times in its description, in each submodule and in every
  ``named_parameters``: within one description a tensor is described the first time only, and
  a later appearance says ``same``, for the judge to copy that first description; its bytes
  too travel once: a tensor that is another's gradient too says ``same_data``)
- device, dtype, NumPy array, containers, and ``{"$": "object"}`` for anything else (its type
  and a short repr)

This runs inside the candidate, after student code: its readers are torch's own C accessors,
looked up when this module is imported (before any student code), so a replaced `torch.Tensor`
method or a tensor subclass cannot change what is reported. A candidate that rewrites this
module in memory can make it say anything, but never learns what the judge expects: the judge
compares what it is told with references computed in its own process.
"""

import base64

import numpy
import torch

from ..protocol.values import DTYPE_NAMES, tensor_bytes

_TB = torch._C.TensorBase
_get = {name: _TB.__dict__[name].__get__ for name in
        ("dtype", "device", "shape", "requires_grad", "is_leaf", "grad", "grad_fn", "_version",
         "retains_grad")}
_stride, _offset, _data_ptr, _numel = _TB.stride, _TB.storage_offset, _TB.data_ptr, _TB.numel
_untyped_storage, _is_contiguous = _TB.untyped_storage, _TB.is_contiguous
_Tensor, _Parameter, _Module = torch.Tensor, torch.nn.Parameter, torch.nn.Module
_Buffer = getattr(torch.nn, "Buffer", None)
_named_parameters, _named_buffers = _Module.named_parameters, _Module.named_buffers
_named_modules, _state_dict = _Module.named_modules, _Module.state_dict
_type, _isinstance, _len, _repr = type, isinstance, len, repr
_b64encode = base64.b64encode
_no_subclass_fn = torch._C.DisableTorchFunctionSubclass

MAX_ELEMENTS = 4_000_000  # values of bigger tensors are not sent (the judge says so)
MAX_ITEMS = 10_000        # items of a list, tuple or dict described
MAX_DEPTH = 12
MAX_REPR = 300


class Sent:
    """What one description holds already: the refs of the tensors whose bytes it carries
    (`data`), and (ref, with_grad) of those it describes whole (`whole`)."""

    def __init__(self):
        self.data, self.whole = set(), set()


def describe_tensor(t, handles, with_grad=True, sent=None):
    ref = handles.number(t)
    if sent is not None and (ref, with_grad) in sent.whole:
        return {"$": "tensor", "ref": ref, "same": True}
    kind = ("tensor" if _type(t) is _Tensor else "parameter" if _type(t) is _Parameter
            else "buffer" if _Buffer is not None and _type(t) is _Buffer else "subclass")
    out = {"$": "tensor", "ref": ref, "kind": kind,
           "type": f"{_type(t).__module__}.{_type(t).__qualname__}"}
    with _no_subclass_fn():
        dtype = _get["dtype"](t)
        out.update(
            dtype=DTYPE_NAMES.get(dtype, str(dtype)), shape=list(_get["shape"](t)),
            stride=list(_stride(t)), offset=_offset(t), device=str(_get["device"](t)),
            requires_grad=bool(_get["requires_grad"](t)), is_leaf=bool(_get["is_leaf"](t)),
            version=int(_get["_version"](t)), contiguous=bool(_is_contiguous(t)),
            data_ptr=int(_data_ptr(t)))
        fn = _get["grad_fn"](t)
        out["grad_fn"] = None if fn is None else _type(fn).__name__
        try:
            storage = _untyped_storage(t)
            out["storage"] = [int(storage.data_ptr()), int(storage.nbytes())]
        except Exception:
            out["storage"] = None
        numel = _numel(t)
        readable = out["device"] != "meta"  # meta tensors have a shape but no values
        out["data"] = None
        if readable and kind != "subclass" and dtype in DTYPE_NAMES and numel <= MAX_ELEMENTS:
            if sent is not None and ref in sent.data:
                out["same_data"] = True
            else:
                out["data"] = _b64encode(tensor_bytes(t)).decode()
                if sent is not None:
                    sent.data.add(ref)
        if with_grad:  # only leaves (and tensors that retain it) have a .grad: no warning read
            keeps = out["is_leaf"] or bool(_get["retains_grad"](t))
            grad = _get["grad"](t) if keeps else None
            out["grad"] = None if grad is None else describe_tensor(grad, handles, with_grad=False, sent=sent)
    if sent is not None:
        sent.whole.add((ref, with_grad))
    return out


def describe_module(m, handles, depth, sent):
    out = {"$": "module", "ref": handles.number(m),
           "type": f"{_type(m).__module__}.{_type(m).__qualname__}",
           "mro": [f"{c.__module__}.{c.__qualname__}" for c in _type(m).__mro__]}
    out["training"] = bool(m.__dict__.get("training", False))
    own_params = m.__dict__.get("_parameters", {})
    own_buffers = m.__dict__.get("_buffers", {})
    non_persistent = m.__dict__.get("_non_persistent_buffers_set", set())
    out["parameters"] = [[str(k), None if v is None else describe_tensor(v, handles, sent=sent)]
                         for k, v in own_params.items()]
    out["buffers"] = [[str(k), None if v is None else describe_tensor(v, handles, sent=sent), k not in non_persistent]
                      for k, v in own_buffers.items()]
    out["children"] = [[str(k), None if v is None else
                        (describe_module(v, handles, depth + 1, sent) if depth < 4 else
                         {"$": "module", "ref": handles.number(v), "type": _type(v).__qualname__})]
                       for k, v in m.__dict__.get("_modules", {}).items()]
    out["named_parameters"] = [[n, describe_tensor(p, handles, sent=sent)] for n, p in _named_parameters(m)]
    out["named_buffers"] = [[n, describe_tensor(b, handles, sent=sent)] for n, b in _named_buffers(m)]
    out["named_modules"] = [[n, handles.number(x), _type(x).__qualname__] for n, x in _named_modules(m)]
    try:
        out["state_dict"] = [str(k) for k in _state_dict(m).keys()]
    except Exception as exc:
        out["state_dict"] = None
        out["state_dict_error"] = f"{_type(exc).__name__}: {str(exc)[:MAX_REPR]}"
    out["tensor_attributes"] = [str(k) for k, v in m.__dict__.items()
                                if _isinstance(v, _Tensor) and not k.startswith("_")]
    return out


def short_repr(obj):
    try:
        text = _repr(obj)
    except Exception as exc:
        return f"<unprintable: {_type(exc).__name__}>"
    return text if _len(text) <= MAX_REPR else text[:MAX_REPR] + "..."


def describe(obj, handles, depth=0, sent=None):
    """JSON for `obj`, a result or an object the judge asked about. `sent`: what this
    description holds already (`Sent`: one description, one)."""
    if sent is None:
        sent = Sent()
    if depth > MAX_DEPTH:
        return {"$": "object", "type": "too-deep", "repr": "(nested too deep)"}
    t = _type(obj)
    if obj is None or t is bool or t is str:
        return obj if t is not str or _len(obj) <= 100_000 else obj[:100_000]
    if t is int:
        return obj if -2**63 <= obj < 2**63 else {"$": "object", "type": "int", "repr": "(a huge int)"}
    if t is float:
        return obj
    if _isinstance(obj, _Tensor):
        return describe_tensor(obj, handles, sent=sent)
    if _isinstance(obj, _Module):
        return describe_module(obj, handles, depth, sent)
    if t is torch.device:
        return {"$": "device", "device": str(obj)}
    if t is torch.dtype:
        return {"$": "dtype", "dtype": DTYPE_NAMES.get(obj, str(obj))}
    if t is numpy.ndarray:
        code = obj.dtype.str
        small = obj.size <= MAX_ELEMENTS and obj.dtype.kind in "biufc"
        return {"$": "ndarray", "ref": handles.number(obj), "dtype": code, "shape": list(obj.shape),
                "data": _b64encode(numpy.ascontiguousarray(obj).tobytes()).decode() if small else None}
    if t is torch.Size:
        return {"$": "size", "items": [int(s) for s in obj]}
    if _isinstance(obj, (tuple, list)):
        kind = "tuple" if _isinstance(obj, tuple) else "list"
        items = [describe(v, handles, depth + 1, sent) for v in list(obj)[:MAX_ITEMS]]
        return {"$": kind, "ref": handles.number(obj), "type": f"{t.__module__}.{t.__qualname__}",
                "items": items, "length": _len(obj)}
    if _isinstance(obj, dict):
        pairs = list(obj.items())[:MAX_ITEMS]
        return {"$": "dict", "ref": handles.number(obj), "type": f"{t.__module__}.{t.__qualname__}",
                "items": [[describe(k, handles, depth + 1, sent), describe(v, handles, depth + 1, sent)]
                          for k, v in pairs],
                "length": _len(obj)}
    if _isinstance(obj, (numpy.floating, numpy.integer, numpy.bool_)):
        return {"$": "object", "ref": handles.number(obj), "type": f"numpy.{t.__name__}", "repr": short_repr(obj)}
    return {"$": "object", "ref": handles.number(obj), "type": f"{t.__module__}.{t.__qualname__}",
            "repr": short_repr(obj), "callable": callable(obj)}

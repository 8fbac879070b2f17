"""Values on the wire: the inputs a judge sends, and how a candidate describes what it holds.

Plain JSON (`wire`), tagged with "$" where JSON has no type of its own:

- tuple, list, dict: ``{"$": "tuple"|"list", "items": [...]}``, ``{"$": "dict", "items": [[key, value], ...]}``
- tensor: dtype, shape, device and the values as base64 bytes (exact for every dtype, NaN and
  infinities included); as an input, how to make it (``view``: ops applied to the contiguous
  base, ``requires_grad``, ``grad``); as a result, everything a judge asks about (strides,
  storage offset and address, ``requires_grad``, ``is_leaf``, ``grad_fn``, ``grad``, version
  counter) and whether it is a plain tensor, a Parameter or some other subclass
- module: its class, training flag, parameters, buffers, submodules and ``state_dict`` keys
- device, dtype, NumPy array, and ``{"$": "object"}`` for anything else (its type and a short repr)
- ``{"$": "ref", "ref": n}``: an object the candidate described before (identity is kept:
  describing the same object twice gives the same number); ``{"$": "spec"}``: a fixture for
  the candidate to build with `build` (a module, a function to differentiate, ...).

Everything here runs inside the candidate, after student code: its readers are torch's own C
accessors, looked up when this module is imported (before any student code), so a replaced
`torch.Tensor` method or a tensor subclass cannot change what is reported. A candidate that
rewrites this module in memory can make it say anything, but never learns what the judge
expects: the judge compares what it is told with references computed in its own process.
"""

import base64

import numpy
import torch

_TB = torch._C.TensorBase
_VF = torch._C._VariableFunctions
_get = {name: _TB.__dict__[name].__get__ for name in
        ("dtype", "device", "shape", "requires_grad", "is_leaf", "grad", "grad_fn", "_version",
         "data", "retains_grad")}
_detach, _cpu, _contiguous, _clone = _TB.detach, _TB.cpu, _TB.contiguous, _TB.clone
_stride, _offset, _data_ptr, _numel = _TB.stride, _TB.storage_offset, _TB.data_ptr, _TB.numel
_untyped_storage, _view_dtype, _to = _TB.untyped_storage, _TB.view, _TB.to
_is_contiguous, _numpy = _TB.is_contiguous, _TB.numpy
_Tensor, _Parameter, _Module = torch.Tensor, torch.nn.Parameter, torch.nn.Module
_Buffer = getattr(torch.nn, "Buffer", None)
_named_parameters, _named_buffers = _Module.named_parameters, _Module.named_buffers
_named_children, _named_modules, _state_dict = (_Module.named_children, _Module.named_modules,
                                                  _Module.state_dict)
_type, _isinstance, _len, _repr, _id = type, isinstance, len, repr, id
_b64encode, _b64decode = base64.b64encode, base64.b64decode
_frombuffer = numpy.frombuffer
_from_numpy = torch.from_numpy
_no_subclass_fn = torch._C.DisableTorchFunctionSubclass

DTYPES = {
    "float32": torch.float32, "float64": torch.float64, "float16": torch.float16,
    "bfloat16": torch.bfloat16, "int64": torch.int64, "int32": torch.int32,
    "int16": torch.int16, "int8": torch.int8, "uint8": torch.uint8, "bool": torch.bool,
    "complex64": torch.complex64, "complex128": torch.complex128,
}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}
# The NumPy dtype each torch dtype's bytes are read as (bfloat16 has none: its raw 16 bits).
NUMPY_CODES = {"float32": "<f4", "float64": "<f8", "float16": "<f2", "bfloat16": "<u2",
               "int64": "<i8", "int32": "<i4", "int16": "<i2", "int8": "i1", "uint8": "u1",
               "bool": "?", "complex64": "<c8", "complex128": "<c16"}

MAX_ELEMENTS = 4_000_000  # values of bigger tensors are not sent (the judge says so)
MAX_ITEMS = 10_000        # items of a list, tuple or dict described
MAX_DEPTH = 12
MAX_REPR = 300


class Handles:
    """The candidate's table of objects the judge may refer to, by number, keeping identity."""

    def __init__(self):
        self.objects, self.numbers = [], {}

    def number(self, obj):
        key = _id(obj)
        n = self.numbers.get(key)
        if n is None or self.objects[n] is not obj:
            n = _len(self.objects)
            self.objects.append(obj)  # a strong reference: ids are never reused while we keep it
            self.numbers[key] = n
        return n

    def get(self, n):
        if _type(n) is not int or not 0 <= n < _len(self.objects):
            raise KeyError(f"no object number {n!r}")
        return self.objects[n]


# --- the candidate describes what it holds -------------------------------------------------

def tensor_bytes(t):
    """The values of a plain tensor (or Parameter) as bytes, row-major, read by torch's C code."""
    flat = _contiguous(_cpu(_detach(t)))
    if _get["dtype"](flat) == torch.bfloat16:
        flat = _view_dtype(flat, torch.int16)
    return _numpy(_clone(flat)).tobytes()


def describe_tensor(t, handles, with_grad=True):
    kind = ("tensor" if _type(t) is _Tensor else "parameter" if _type(t) is _Parameter
            else "buffer" if _Buffer is not None and _type(t) is _Buffer else "subclass")
    out = {"$": "tensor", "ref": handles.number(t), "kind": kind,
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
        if readable and kind != "subclass" and dtype in DTYPE_NAMES and numel <= MAX_ELEMENTS:
            out["data"] = _b64encode(tensor_bytes(t)).decode()
        else:
            out["data"] = None
        if with_grad:  # only leaves (and tensors that retain it) have a .grad: no warning read
            keeps = out["is_leaf"] or bool(_get["retains_grad"](t))
            grad = _get["grad"](t) if keeps else None
            out["grad"] = None if grad is None else describe_tensor(grad, handles, with_grad=False)
    return out


def describe_module(m, handles, depth):
    out = {"$": "module", "ref": handles.number(m),
           "type": f"{_type(m).__module__}.{_type(m).__qualname__}",
           "mro": [f"{c.__module__}.{c.__qualname__}" for c in _type(m).__mro__]}
    out["training"] = bool(m.__dict__.get("training", False))
    own_params = m.__dict__.get("_parameters", {})
    own_buffers = m.__dict__.get("_buffers", {})
    non_persistent = m.__dict__.get("_non_persistent_buffers_set", set())
    out["parameters"] = [[str(k), None if v is None else describe_tensor(v, handles)]
                         for k, v in own_params.items()]
    out["buffers"] = [[str(k), None if v is None else describe_tensor(v, handles), k not in non_persistent]
                      for k, v in own_buffers.items()]
    out["children"] = [[str(k), None if v is None else
                        (describe_module(v, handles, depth + 1) if depth < 4 else
                         {"$": "module", "ref": handles.number(v), "type": _type(v).__qualname__})]
                       for k, v in m.__dict__.get("_modules", {}).items()]
    out["named_parameters"] = [[n, describe_tensor(p, handles)] for n, p in _named_parameters(m)]
    out["named_buffers"] = [[n, describe_tensor(b, handles)] for n, b in _named_buffers(m)]
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


def describe(obj, handles, depth=0):
    """JSON for `obj`, a result or an object the judge asked about."""
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
        return describe_tensor(obj, handles)
    if _isinstance(obj, _Module):
        return describe_module(obj, handles, depth)
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
        items = [describe(v, handles, depth + 1) for v in list(obj)[:MAX_ITEMS]]
        return {"$": kind, "ref": handles.number(obj), "type": f"{t.__module__}.{t.__qualname__}",
                "items": items, "length": _len(obj)}
    if _isinstance(obj, dict):
        pairs = list(obj.items())[:MAX_ITEMS]
        return {"$": "dict", "ref": handles.number(obj), "type": f"{t.__module__}.{t.__qualname__}",
                "items": [[describe(k, handles, depth + 1), describe(v, handles, depth + 1)] for k, v in pairs],
                "length": _len(obj)}
    if _isinstance(obj, (numpy.floating, numpy.integer, numpy.bool_)):
        return {"$": "object", "ref": handles.number(obj), "type": f"numpy.{t.__name__}", "repr": short_repr(obj)}
    return {"$": "object", "ref": handles.number(obj), "type": f"{t.__module__}.{t.__qualname__}",
            "repr": short_repr(obj), "callable": callable(obj)}


# --- the judge's inputs, made real in the candidate ---------------------------------------

def encode_tensor_input(t, view=(), requires_grad=False, grad=None, device=None):
    """How a judge sends a tensor: its values (from a tensor in the judge's process), the device
    to make it on, the view ops to apply, and its autograd state."""
    t = t.detach().cpu().contiguous()
    return {"$": "tensor", "dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape),
            "data": _b64encode(tensor_bytes(t)).decode(), "device": str(device or "cpu"),
            "view": [list(op) for op in view], "requires_grad": bool(requires_grad),
            "grad": None if grad is None else encode_tensor_input(grad, device=device)}


def tensor_from_bytes(data, dtype_name, shape):
    """A CPU tensor from its row-major bytes (a copy the tensor owns)."""
    raw = _b64decode(data)
    array = _frombuffer(raw, dtype=NUMPY_CODES[dtype_name]).copy()
    t = _from_numpy(array)
    if dtype_name == "bfloat16":
        t = _view_dtype(_from_numpy(array.view("<i2")), torch.bfloat16)
    return _TB.reshape(t, tuple(shape))


VIEW_OPS = {
    "transpose": lambda t, a, b: _TB.transpose(t, a, b),
    "permute": lambda t, dims: _TB.permute(t, tuple(dims)),
    "slice": lambda t, dim, start, stop, step: _TB.__getitem__(
        t, (slice(None),) * dim + (slice(start, stop, step),)),
    "expand": lambda t, sizes: _TB.expand(t, tuple(sizes)),
    "unsqueeze": lambda t, dim: _TB.unsqueeze(t, dim),
    "select": lambda t, dim, index: _TB.select(t, dim, index),
}


def make_tensor(enc):
    t = tensor_from_bytes(enc["data"], enc["dtype"], enc["shape"])
    # a tensor that owns its memory (not a view of the NumPy buffer): a real leaf
    t = _clone(_to(t, torch.device(enc.get("device", "cpu"))))
    if enc.get("requires_grad"):
        t = _TB.requires_grad_(t, True)
    for op in enc.get("view", ()):
        t = VIEW_OPS[op[0]](t, *op[1:])
    if enc.get("grad") is not None:
        _TB.__dict__["grad"].__set__(t, make_tensor(enc["grad"]))
    return t


def materialize(enc, handles, build=None):
    """The object a judge's encoded argument stands for, in this process."""
    if enc is None or _type(enc) in (bool, int, float, str):
        return enc
    if _type(enc) is list:
        return [materialize(v, handles, build) for v in enc]
    tag = enc.get("$")
    if tag == "tensor":
        return make_tensor(enc)
    if tag == "ref":
        return handles.get(enc["ref"])
    if tag in ("tuple", "list"):
        items = [materialize(v, handles, build) for v in enc["items"]]
        return tuple(items) if tag == "tuple" else items
    if tag == "dict":
        return {materialize(k, handles, build): materialize(v, handles, build) for k, v in enc["items"]}
    if tag == "device":
        return torch.device(enc["device"])
    if tag == "dtype":
        return DTYPES[enc["dtype"]]
    if tag == "spec" and build is not None:
        return build(enc, handles)
    raise ValueError(f"cannot make an input of kind {tag!r}")

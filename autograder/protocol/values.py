"""Values on the wire: how tensors and containers travel between the judge and a candidate.

Plain JSON (`frames`), tagged with "$" where JSON has no type of its own:

- tuple, list, dict: ``{"$": "tuple"|"list", "items": [...]}``, ``{"$": "dict", "items": [[key, value], ...]}``
- tensor: dtype, shape, device and the values as base64 bytes (exact for every dtype, NaN and
  infinities included); as an input, how to make it (``view``: ops applied to the contiguous
  base, ``requires_grad``, ``grad``; ``shared``: the values are in the memory of a descriptor
  sent with the request, which the judge maps too, and the tensor is built on it); as an answer,
  what `autograder.candidate.describe` says
- device, dtype, and ``{"$": "ref", "ref": n}``: an object the candidate described before
  (identity is kept); ``{"$": "spec"}``: a fixture for the candidate to build (`fixtures`).

Both sides use this module: the judge encodes its inputs with it, a candidate makes them real
(`materialize`) before any student code can reach them. Its torch readers are torch's own C
accessors, looked up when this module is imported, before any student code runs.
"""

import base64
import mmap

import numpy
import torch

_TB = torch._C.TensorBase
_get_dtype = _TB.__dict__["dtype"].__get__
_detach, _cpu, _contiguous, _clone = _TB.detach, _TB.cpu, _TB.contiguous, _TB.clone
_view_dtype, _to, _numpy = _TB.view, _TB.to, _TB.numpy
_type, _len, _id = type, len, id
_b64encode, _b64decode = base64.b64encode, base64.b64decode
_frombuffer = numpy.frombuffer
_from_numpy = torch.from_numpy
_torch_frombuffer = torch.frombuffer
_mmap = mmap.mmap  # POSIX only below (Windows has no MAP_SHARED: nothing is shared there)
_MAP_SHARED, _PROT_RW = getattr(mmap, "MAP_SHARED", 1), getattr(mmap, "PROT_READ", 1) | getattr(mmap, "PROT_WRITE", 2)

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


def tensor_bytes(t):
    """The values of a plain tensor (or Parameter) as bytes, row-major, read by torch's C code."""
    flat = _contiguous(_cpu(_detach(t)))
    if _get_dtype(flat) == torch.bfloat16:
        flat = _view_dtype(flat, torch.int16)
    return _numpy(_clone(flat)).tobytes()


# --- the judge's inputs, made real in the candidate ---------------------------------------

def encode_tensor_input(t, view=(), requires_grad=False, grad=None, device=None, shared=None):
    """How a judge sends a tensor: its values (from a tensor in the judge's process), the device
    to make it on, the view ops to apply, and its autograd state. `shared`: the values are not
    in the frame but in the memory of the request's descriptor number `shared` (a CPU tensor
    the judge shares, `make_shared_tensor`)."""
    t = t.detach().cpu().contiguous()
    data = None if shared is not None else _b64encode(tensor_bytes(t)).decode()
    return {"$": "tensor", "dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape), "data": data,
            **({} if shared is None else {"shared": shared}), "device": str(device or "cpu"),
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
    return _with_state(t, enc)


def _with_state(t, enc):
    """`t` with the encoded input's autograd state and view ops, as the judge made it."""
    if enc.get("requires_grad"):
        t = _TB.requires_grad_(t, True)
    for op in enc.get("view", ()):
        t = VIEW_OPS[op[0]](t, *op[1:])
    if enc.get("grad") is not None:
        _TB.__dict__["grad"].__set__(t, make_tensor(enc["grad"]))
    return t


def make_shared_tensor(enc, fd):
    """The judge's input built on the memory it shares (`judge.shared`): `fd` (a memfd the
    judge wrote the row-major values in) mapped MAP_SHARED, the tensor made on that mapping,
    then autograd state and view ops as `make_tensor`. A view of it stays on that memory and an
    in-place change lands there, where the judge reads it. CPU only."""
    dtype = DTYPES[enc["dtype"]]
    shape = tuple(enc["shape"])
    count = 1
    for size in shape:
        count *= size
    memory = _mmap(fd, count * dtype.itemsize, _MAP_SHARED, _PROT_RW)
    t = _TB.reshape(_torch_frombuffer(memory, dtype=dtype, count=count), shape)
    return _with_state(t, enc)


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

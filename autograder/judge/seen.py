"""What a candidate said, decoded by the judge's own code and checked field by field.

`decode` turns a candidate's JSON description (see `autograder.candidate.describe`) into plain
judge-side objects: Python numbers and strings, `SeenTensor` (with a real tensor of the values,
made here from the bytes), `SeenModule`, tuples and lists that remember their type, and so on.
Nothing is executed or unpickled; any field of the wrong type, a size that does not match the
bytes, a dtype or device that does not parse, raises `Malformed`, and the exercise fails with
that reason: a candidate can lie about its own results, but not crash or confuse the judge.

Within one description a tensor is described once: a later appearance of the same tensor (its
`ref`, as a gradient or not) says `same`, and is decoded as a copy of the first; one described
again as another's gradient says `same_data` for its bytes, a copy of the first's. A `same` or
`same_data` with no first (or of another dtype or shape) is Malformed, and so is a description
whose copies would come to more than `Known.SLACK` plus `Known.TIMES` times the bytes it carried
(never one the whole description could have carried in a frame: a candidate cannot make the
judge allocate much more than it sent).
"""

import base64
import binascii
import math
import re

import numpy
import torch

from ..protocol.fields import array, boolean, integer, need, obj, pairs, string
from ..protocol.frames import Malformed
from ..protocol.values import DTYPES, NUMPY_CODES

MAX_DIMS = 16
MAX_DEPTH = 40
NUMPY_DTYPE = re.compile(r"[<>|=]?[biufc][1-9][0-9]?")  # what describe sends: dtype.str of a number array


def _device(text):
    string(text, "a device", 100)
    try:
        return torch.device(text)
    except (RuntimeError, ValueError):
        raise Malformed(f"{text!r} is not a device") from None


def _shape(v, what):
    array(v, what, MAX_DIMS)
    shape = tuple(integer(s, f"a size in {what}", 0, 2**40) for s in v)
    need(math.prod(max(s, 1) for s in shape) <= 2**48, f"{what} too large to be real")
    return shape


def _base64(data, what):
    try:
        return base64.b64decode(string(data, what, 1 << 30), validate=True)
    except (binascii.Error, ValueError):
        raise Malformed(f"{what} is not base64") from None


def values_from_bytes(data, dtype_name, shape):
    """A CPU tensor (judge-side) of `shape` from base64 bytes; Malformed if they do not fit."""
    need(dtype_name in DTYPES, f"unknown dtype {dtype_name!r}")
    raw = _base64(data, "tensor data")
    code = NUMPY_CODES[dtype_name]
    count = math.prod(shape)
    need(len(raw) == count * numpy.dtype(code).itemsize, "tensor data does not match its shape")
    flat = numpy.frombuffer(raw, dtype=code).copy().reshape(shape)
    if dtype_name == "bfloat16":
        return torch.from_numpy(flat.view("<i2")).view(torch.bfloat16)
    return torch.from_numpy(flat)


class Known:
    """What one description held so far, for its later `same` and `same_data`: the bytes it
    carried (`data`: ref -> (dtype, shape, values)), the tensors it described (`whole`:
    (ref, is_grad) -> SeenTensor), and how many bytes were carried and copied."""

    TIMES, SLACK = 4, 64 << 20

    def __init__(self):
        self.data, self.whole, self.carried, self.copied = {}, {}, 0, 0

    def charge(self, nbytes):
        """Count a copy of `nbytes` before it is made; Malformed past the bound."""
        self.copied += nbytes
        need(self.copied <= self.SLACK + self.TIMES * self.carried,
             "a description that refers to tensors it sent already too many times")


def _nbytes(values):
    return 0 if values is None else values.numel() * values.element_size()


class SeenTensor:
    """A tensor as the candidate described it. `values` is a CPU tensor of its dtype (None when
    the candidate did not send them: a subclass, or too big). `shared`: for an input the judge
    made in shared memory (`judge.shared.SharedInput`), the judge's own view of that memory."""

    shared = None

    def __init__(self, d, is_grad=False, known=None):
        self.ref = integer(d.get("ref"), "a reference", 0)
        if d.get("same") is True:
            first = None if known is None else known.whole.get((self.ref, is_grad))
            need(first is not None, "a tensor said to be described already, and it was not")
            known.charge(_nbytes(first.values) + (0 if first.grad is None else _nbytes(first.grad.values)))
            self.__dict__.update(first.copy().__dict__)
            return
        self.kind = d.get("kind")
        need(type(self.kind) is str and self.kind in ("tensor", "parameter", "buffer", "subclass"),
             "unknown tensor kind")
        self.type_name = string(d.get("type"), "a type name", 300)
        self.dtype_name = string(d.get("dtype"), "a dtype", 50)
        self.dtype = DTYPES.get(self.dtype_name)
        self.shape = _shape(d.get("shape"), "a shape")
        self.stride = _shape(d.get("stride"), "strides")
        need(len(self.stride) == len(self.shape), "strides do not match the shape")
        self.offset = integer(d.get("offset"), "a storage offset", 0)
        self.device = _device(d.get("device"))
        self.requires_grad = boolean(d.get("requires_grad"), "requires_grad")
        self.is_leaf = boolean(d.get("is_leaf"), "is_leaf")
        self.version = integer(d.get("version"), "a version counter", 0)
        self.contiguous = boolean(d.get("contiguous"), "contiguity")
        self.data_ptr = integer(d.get("data_ptr"), "a data pointer", 0, 2**64)
        fn = d.get("grad_fn")
        self.grad_fn = None if fn is None else string(fn, "grad_fn", 200)
        storage = d.get("storage")
        if storage is None:
            self.storage = None
        else:
            array(storage, "storage", 2)
            need(len(storage) == 2, "storage")
            self.storage = (integer(storage[0], "a storage address", 0, 2**64),
                            integer(storage[1], "a storage size", 0, 2**62))
        data = d.get("data")
        if data is not None:
            self.values = values_from_bytes(data, self.dtype_name, self.shape)
            if known is not None:
                known.carried += _nbytes(self.values)
                known.data.setdefault(self.ref, (self.dtype_name, self.shape, self.values))
        elif d.get("same_data") is True:
            first = None if known is None else known.data.get(self.ref)
            need(first is not None and first[:2] == (self.dtype_name, self.shape),
                 "a tensor's values said to be sent already, and they were not")
            known.charge(_nbytes(first[2]))
            self.values = first[2].clone()
        else:
            self.values = None
        grad = d.get("grad")
        need(grad is None or not is_grad, "a gradient that has a gradient of its own")
        self.grad = None if grad is None else SeenTensor(obj(grad, "grad"), is_grad=True, known=known)
        if known is not None:
            known.whole.setdefault((self.ref, is_grad), self)

    def copy(self):
        """Another SeenTensor like this one, with values (and gradient) of its own."""
        out = object.__new__(SeenTensor)
        out.__dict__.update(self.__dict__)
        out.values = None if self.values is None else self.values.clone()
        out.grad = None if self.grad is None else self.grad.copy()
        return out

    @property
    def numel(self):
        return math.prod(self.shape)

    def __repr__(self):
        return f"SeenTensor(shape={self.shape}, dtype={self.dtype_name}, device={self.device})"


class SeenModule:
    """An nn.Module as the candidate described it. `shared`: for a fixture the judge made with
    fields in shared memory (`Candidate.make` of a Spec), {field: the judge's SharedInput}."""

    shared = None

    def __init__(self, d, depth=0, known=None):
        need(depth <= MAX_DEPTH, "modules nested too deep")
        self.ref = integer(d.get("ref"), "a reference", 0)
        self.type_name = string(d.get("type"), "a type name", 300)
        self.mro = [string(n, "a class name", 300) for n in array(d.get("mro", []), "the class's bases", 100)]
        self.training = boolean(d.get("training"), "the training flag")
        self.parameters = {string(n, "a name", 300): (None if v is None else SeenTensor(obj(v, "a parameter"), known=known))
                           for n, v in pairs(d.get("parameters"), "parameters")}
        self.buffers, self.persistent = {}, {}
        for item in array(d.get("buffers"), "buffers", 10_000):
            array(item, "a buffer", 3)
            need(len(item) == 3, "a buffer")
            name = string(item[0], "a name", 300)
            self.buffers[name] = None if item[1] is None else SeenTensor(obj(item[1], "a buffer"), known=known)
            self.persistent[name] = boolean(item[2], "persistence")
        self.children = {}
        for name, child in pairs(d.get("children"), "children"):
            if child is None:
                self.children[string(name, "a name", 300)] = None
            elif "parameters" in obj(child, "a child"):
                self.children[string(name, "a name", 300)] = SeenModule(child, depth + 1, known)
            else:
                self.children[string(name, "a name", 300)] = SeenModuleRef(child)
        self.named_parameters = [(string(n, "a name", 1000), SeenTensor(obj(t, "a parameter"), known=known))
                                 for n, t in pairs(d.get("named_parameters"), "named parameters")]
        self.named_buffers = [(string(n, "a name", 1000), SeenTensor(obj(t, "a buffer"), known=known))
                              for n, t in pairs(d.get("named_buffers"), "named buffers")]
        self.named_modules = []
        for item in array(d.get("named_modules"), "named modules", 100_000):
            array(item, "a named module", 3)
            need(len(item) == 3, "a named module")
            self.named_modules.append((string(item[0], "a name", 1000), integer(item[1], "a reference", 0),
                                       string(item[2], "a type name", 300)))
        keys = d.get("state_dict")
        self.state_dict = None if keys is None else [string(k, "a key", 1000) for k in array(keys, "state_dict keys")]
        self.state_dict_error = d.get("state_dict_error")
        self.tensor_attributes = [string(k, "a name", 300) for k in array(d.get("tensor_attributes", []), "attributes")]

    @property
    def class_name(self):
        return self.type_name.rsplit(".", 1)[-1]

    def __repr__(self):
        return f"SeenModule({self.type_name})"


class SeenModuleRef:
    """A submodule the description did not go into (deep trees); ask for it by `ref`."""

    def __init__(self, d):
        self.ref = integer(d.get("ref"), "a reference", 0)
        self.type_name = string(d.get("type"), "a type name", 300)


class SeenTuple(tuple):
    """A tuple (or a named tuple such as torch.return_types.max), with its type's name."""
    type_name, ref, length = "builtins.tuple", None, 0


class SeenList(list):
    type_name, ref, length = "builtins.list", None, 0


class SeenDict(dict):
    type_name, ref, length = "builtins.dict", None, 0


class SeenArray:
    def __init__(self, d):
        self.ref = integer(d.get("ref"), "a reference", 0)
        self.dtype = string(d.get("dtype"), "a NumPy dtype", 20)
        need(NUMPY_DTYPE.fullmatch(self.dtype) is not None, f"{self.dtype!r} is not a NumPy dtype")
        try:
            self.np_dtype = numpy.dtype(self.dtype)
        except TypeError:  # '<f3': of the right form, but no such type
            raise Malformed(f"{self.dtype!r} is not a NumPy dtype") from None
        need(self.np_dtype.kind in "biufc", "an array of an unexpected dtype")
        self.shape = _shape(d.get("shape"), "an array shape")
        data = d.get("data")
        if data is None:
            self.values = None
        else:
            raw = _base64(data, "array data")
            need(len(raw) == math.prod(self.shape) * self.np_dtype.itemsize, "array data does not match its shape")
            self.values = numpy.frombuffer(raw, dtype=self.np_dtype).copy().reshape(self.shape)


class SeenObject:
    """Anything else: its type's name and a short repr (never the object itself)."""

    def __init__(self, d):
        ref = d.get("ref")
        self.ref = None if ref is None else integer(ref, "a reference", 0)
        self.type_name = string(d.get("type"), "a type name", 300)
        self.repr = string(d.get("repr", ""), "a repr", 1000)
        self.callable = bool(d.get("callable", False))

    def __repr__(self):
        return self.repr


def decode(d, depth=0, known=None):
    """Judge-side objects for a candidate's description (Malformed if it is not one). `known`:
    what this description held so far (`Known`)."""
    need(depth <= MAX_DEPTH, "nested too deep")
    if known is None:
        known = Known()
    if d is None or type(d) in (bool, str):
        return d
    if type(d) is int:
        return integer(d, "an integer")
    if type(d) is float:
        return d
    obj(d, "a value")
    tag = d.get("$")
    if tag == "tensor":
        return SeenTensor(d, known=known)
    if tag == "module":
        return SeenModule(d, depth, known)
    if tag in ("tuple", "list"):
        cls = SeenTuple if tag == "tuple" else SeenList
        out = cls(decode(v, depth + 1, known) for v in array(d.get("items"), "items"))
        out.type_name = string(d.get("type", f"builtins.{tag}"), "a type name", 300)
        out.ref = integer(d.get("ref", 0), "a reference", 0)
        out.length = integer(d.get("length", len(out)), "a length", 0)
        return out
    if tag == "dict":
        out = SeenDict()
        for k, v in pairs(d.get("items"), "dict items"):
            key = decode(k, depth + 1, known)
            need(key is None or type(key) in (bool, int, float, str), "a dict key of an unexpected kind")
            out[key] = decode(v, depth + 1, known)
        out.type_name = string(d.get("type", "builtins.dict"), "a type name", 300)
        out.ref = integer(d.get("ref", 0), "a reference", 0)
        out.length = integer(d.get("length", len(out)), "a length", 0)
        return out
    if tag == "size":
        return torch.Size(_shape(d.get("items"), "a size"))
    if tag == "device":
        return _device(d.get("device"))
    if tag == "dtype":
        name = string(d.get("dtype"), "a dtype", 50)
        need(name in DTYPES, f"unknown dtype {name!r}")
        return DTYPES[name]
    if tag == "ndarray":
        return SeenArray(d)
    if tag == "object":
        return SeenObject(d)
    raise Malformed(f"a value of unknown kind {tag!r}")

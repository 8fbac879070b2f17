"""Genuine references for hidden tests, found where student code cannot swap them.

Student code runs before the hidden tests, in the same process. It can rebind any name
(`torch.allclose`, `builtins.len`, methods on the Python class `torch.Tensor`), so hidden tests
never look those names up. Instead they use:

- types and functions reached from literals (`().__class__.__class__` is `type`): built-in types
  cannot be modified from Python;
- torch's C objects `torch._C.TensorBase` and `torch._C._VariableFunctions`, which are immutable
  (setting an attribute raises), after checking they are the real C objects (a class written in
  Python is a heap type; these are not);
- the genuine `torch.Tensor` class, taken from the type of a tensor the C code creates.

`verify()` re-checks that the builtins the grading code relies on are the real ones; a failure is
reported as tampering. See `autograder/__init__.py` for the whole threat model.
"""

import builtins as _builtins_module

from .errors import Tampering

type_ = ().__class__.__class__
_HEAPTYPE = 1 << 9
_BuiltinFunction = [].append.__class__


def _is_c_type(cls, name):
    is_class = type_.__subclasscheck__(type_, type_(cls))  # issubclass(type(cls), type), unpatchable
    return is_class and not (cls.__flags__ & _HEAPTYPE) and cls.__name__ == name


def _genuine_builtin(name):
    """The builtin called `name`, or Tampering if `builtins.name` has been replaced."""
    candidate = _builtins_module.__dict__.get(name)
    if type_(candidate) is type_:
        ok = _is_c_type(candidate, name)
    else:
        ok = (
            type_(candidate) is _BuiltinFunction
            and candidate.__name__ == name
            and candidate.__self__ is _builtins_module
        )
    if not ok:
        raise Tampering(f"builtins.{name} has been replaced")
    return candidate


_BUILTIN_NAMES = (
    "abs", "all", "any", "bool", "callable", "dict", "enumerate", "float", "getattr", "hasattr", "int",
    "isinstance", "issubclass", "len", "list", "max", "min", "range", "repr", "round", "slice", "sorted",
    "str", "sum", "tuple", "zip", "__import__",
)


# torch functions and Tensor methods that a cheat would patch to make comparisons agree. In an
# untouched process each torch.NAME is the C function of the same name, and torch.Tensor
# inherits each method from the C type instead of defining its own.
TORCH_FUNCTIONS = ("allclose", "equal", "isclose", "eq", "ne", "all", "any", "sum", "max", "min",
                   "abs", "tensor", "argmax", "mean", "sub", "add", "mul", "div", "where")
TENSOR_METHODS = ("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__bool__",
                  "__float__", "__sub__", "__add__", "__truediv__", "__mul__", "eq", "ne",
                  "equal", "allclose", "isclose", "all", "any", "item", "tolist", "sum", "max",
                  "min", "abs", "sub", "numpy")


def verify():
    """Raise Tampering if a builtin, a torch comparison or a Tensor method has been replaced."""
    if _builtins_module.__dict__.__class__ is not {}.__class__:
        raise Tampering("the builtins namespace has been replaced")
    for name in _BUILTIN_NAMES:
        if _genuine_builtin(name) is not B[name]:
            raise Tampering(f"builtins.{name} has been replaced")
    for name in TORCH_FUNCTIONS:
        if _torch.__dict__.get(name) is not getattr(VF, name):
            raise Tampering(f"torch.{name} has been replaced")
    overridden = [name for name in TENSOR_METHODS if name in Tensor.__dict__]
    if overridden:
        raise Tampering(f"torch.Tensor.{overridden[0]} has been replaced")


B = {name: _genuine_builtin(name) for name in _BUILTIN_NAMES}

import torch as _torch  # noqa: E402  (after the builtins are pinned)

TB = _torch._C.TensorBase
VF = _torch._C._VariableFunctions
if not _is_c_type(TB, "TensorBase") or not _is_c_type(type_(VF), "_VariableFunctionsClass"):
    raise Tampering("torch's C tensor type has been replaced")
Tensor = type_(VF.zeros(1))
dtype_type = type_(VF.zeros(1).dtype)
device_type = type_(TB.__dict__["device"].__get__(VF.zeros(1)))
if not _is_c_type(dtype_type, "dtype") or not _is_c_type(device_type, "device"):
    raise Tampering("torch.dtype or torch.device has been replaced")

float32 = VF.zeros(1, dtype=_torch.float32).dtype
float64 = VF.zeros(1, dtype=_torch.float64).dtype
int64 = VF.zeros(1, dtype=_torch.int64).dtype
if (float32.itemsize, float64.itemsize, int64.itemsize) != (4, 8, 8):
    raise Tampering("torch's dtypes have been replaced")

_get = {name: TB.__dict__[name].__get__ for name in ("dtype", "device", "shape", "requires_grad")}


def is_tensor(obj):
    """True only for a plain `torch.Tensor`: subclasses and look-alikes are not accepted."""
    return type_(obj) is Tensor


def dtype_of(t):
    return _get["dtype"](t)


def device_of(t):
    return _get["device"](t)


def shape_of(t):
    return tuple(_get["shape"](t))


def requires_grad(t):
    return _get["requires_grad"](t)


def to_list(t):
    """The values of `t` as nested Python numbers (detached, copied to the CPU)."""
    return TB.tolist(TB.detach(t))


def version_of(t):
    return TB.__dict__["_version"].__get__(t)


def data_ptr(t):
    return TB.data_ptr(t)


def is_contiguous(t):
    return TB.is_contiguous(t)


def tensor(values, dtype, device):
    """A new tensor from nested Python numbers, built by torch's C code."""
    return VF.tensor(values, dtype=dtype, device=device)

"""Fixtures a judge asks a candidate to build, built the same way on both sides.

A judge describes what it needs in plain data, a *spec*, and `build` makes it: in the
candidate (where student code will use it) and in the judge (where the reference is computed
from the very same construction), so both sides agree on what was built without ever sending
an object across. Specs nest; every tensor in them is an encoded input (`values`).

    {"kind": "function", "expr": EXPR}           a function of one tensor (to differentiate):
        EXPR is "x", a number, {"tensor": <encoded>} (a constant), or [op, arg, ...] with op in
        FUNCTION_OPS, e.g. ["sum", ["mul", ["sin", "x"], ["pow", "x", 2]]]
    {"kind": "linear", "in": 3, "out": 2, "bias": true, "weight": <enc>, "bias_values": <enc>,
     "weight_transposed": false}    true: the weight's values stored (in, out), seen through .T (not contiguous)
        A weight or bias encoded as shared (``"shared": n``, the request's descriptor n, see
        `values.make_shared_tensor`) becomes a Parameter *on* that memory, of its own dtype and
        laid out by its own view ops (a transposed weight comes as a transpose view): the judge
        maps it too, and sees what the candidate does to it (`judge.shared`).
    {"kind": "conv2d", "in": c, "out": c, "kernel": k, ..., "weight": ..., "bias_values": ...}
    {"kind": "relu"}, {"kind": "batchnorm1d", "features": n}
    {"kind": "sequential", "children": [[name, SPEC], ...]}
    {"kind": "modulelist", "children": [SPEC, ...]}    {"kind": "moduledict", "children": [[key, SPEC], ...]}
    {"kind": "module", "children": [[name, SPEC | null], ...], "parameters": [[name, <enc> | null, requires_grad]],
     "buffers": [[name, <enc> | null, persistent]], "tensors": [[name, <enc>]],
     "containers": [[name, [<enc>, ...]]], "ints": [[name, value]]}   a plain nn.Module holding all that
    {"kind": "same", "path": "a.b"}              the module already built at that path (shared)
    {"kind": "frozen", "module": SPEC}            SPEC with requires_grad_(False) on every parameter
    {"kind": "generator", "items": [...]}         a generator over the items (refs or inputs)
    {"kind": "parameters_of", "module": <ref>}    module.parameters(), a generator
    {"kind": "tied", "module": SPEC, "ties": [[to, from], ...]}   SPEC, then the parameter at
        dotted path `to` becomes the very Parameter at `from` (weight tying: one tensor, two owners)

Nothing here calls student code: the operations a judge may ask a candidate to perform on the
objects it holds are `autograder.candidate.operations`.
"""

from collections import OrderedDict

import torch

from . import values

_TB = torch._C.TensorBase
_Module = torch.nn.Module
_Parameter = torch.nn.Parameter

SPECS = {}


def spec(*kinds):
    def register(fn):
        for kind in kinds:
            SPECS[kind] = fn
        return fn
    return register


def build(enc, handles=None, built=None, fds=None):
    """The object `enc` (a {"$": "spec", "kind": ...} dict) describes; `fds`: the descriptors
    that came with the request, which the spec's shared tensors are built on."""
    maker = SPECS.get(enc.get("kind"))
    if maker is None:
        raise ValueError(f"no fixture of kind {enc.get('kind')!r}")
    built = {} if built is None else built
    if fds is not None:
        built["$fds"] = tuple(fds)
    return maker(enc, handles, built)


def _shared(enc, built):
    """The parameter `enc` stands for when it is encoded as shared: a Parameter on the judge's
    memory (`values.make_shared_tensor`); None for any other encoding."""
    if not isinstance(enc, dict) or enc.get("shared") is None:
        return None
    fds = built.get("$fds", ())
    number = enc["shared"]
    if type(number) is not int or not 0 <= number < len(fds):
        raise ValueError(f"no descriptor number {number!r} came with the request")
    return _Parameter(values.make_shared_tensor(enc, fds[number]))


def _tensor(enc):
    return None if enc is None else values.make_tensor(enc)


def _input(enc, handles, built):
    """An item of a spec: another spec, or an encoded input (tensor, ref...)."""
    if isinstance(enc, dict) and enc.get("$") == "spec":
        return build(enc, handles, built)
    return values.materialize(enc, handles, build)


# --- functions to differentiate ------------------------------------------------------------

FUNCTION_OPS = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b, "pow": lambda a, b: a ** b, "neg": lambda a: -a,
    "sin": torch.sin, "cos": torch.cos, "exp": torch.exp, "log": torch.log, "tanh": torch.tanh,
    "sigmoid": torch.sigmoid, "relu": torch.relu, "softplus": torch.nn.functional.softplus,
    "square": torch.square, "sqrt": torch.sqrt, "abs": torch.abs,
    "sum": torch.sum, "mean": torch.mean, "matmul": torch.matmul, "dot": lambda a, b: (a * b).sum(),
    "logsumexp": lambda a: torch.logsumexp(a.reshape(-1), 0),
}


def evaluate(expr, x):
    """The value of EXPR (see the module docstring) at the tensor `x`, with torch ops."""
    if isinstance(expr, str):
        if expr != "x":
            raise ValueError(f"unknown variable {expr!r}")
        return x
    if isinstance(expr, (int, float)):
        return expr
    if isinstance(expr, dict):
        constant = values.make_tensor(expr["tensor"])
        return _TB.to(constant, _TB.__dict__["device"].__get__(x)) if isinstance(x, torch.Tensor) else constant
    op, *args = expr
    return FUNCTION_OPS[op](*(evaluate(a, x) for a in args))


@spec("function")
def _function(enc, handles, built):
    expr = enc["expr"]

    def f(x):
        return evaluate(expr, x)
    f.__qualname__ = f.__name__ = "f"
    return f


# --- modules -------------------------------------------------------------------------------

def _load(param, enc):
    if enc is not None and param is not None:
        with torch.no_grad():
            param.copy_(values.make_tensor(enc))


@spec("linear")
def _linear(enc, handles, built):
    layer = torch.nn.Linear(enc["in"], enc["out"], bias=enc.get("bias", True))
    weight, bias = _shared(enc.get("weight"), built), _shared(enc.get("bias_values"), built)
    if weight is not None:  # laid out by its own view ops
        layer.weight = weight
    else:
        _load(layer.weight, enc.get("weight"))
        if enc.get("weight_transposed"):  # the same values, stored (in, out): a weight that is not contiguous
            layer.weight = _Parameter(layer.weight.detach().T.contiguous().T)
    if bias is not None and layer.bias is not None:
        layer.bias = bias
    else:
        _load(layer.bias, enc.get("bias_values"))
    return layer


@spec("conv2d")
def _conv(enc, handles, built):
    layer = torch.nn.Conv2d(enc["in"], enc["out"], enc["kernel"], stride=enc.get("stride", 1),
                padding=enc.get("padding", 0), dilation=enc.get("dilation", 1), bias=enc.get("bias", True))
    _load(layer.weight, enc.get("weight"))
    _load(layer.bias, enc.get("bias_values"))
    return layer


@spec("relu")
def _relu(enc, handles, built):
    return torch.nn.ReLU()


@spec("batchnorm1d")
def _batchnorm(enc, handles, built):
    return torch.nn.BatchNorm1d(enc["features"])


def _children(enc, handles, built, prefix):
    out = []
    for name, child in enc.get("children", ()):
        path = f"{prefix}.{name}" if prefix else str(name)
        if child is None:                 # a child slot set to None (register_module(name, None))
            out.append((str(name), None))
            continue
        module = build(child, handles, dict(built, _prefix=path))
        built[path] = module
        out.append((str(name), module))
    return out


@spec("sequential")
def _sequential(enc, handles, built):
    return torch.nn.Sequential(OrderedDict(_children(enc, handles, built, built.get("_prefix", ""))))


@spec("modulelist")
def _modulelist(enc, handles, built):
    items = [[str(i), child] for i, child in enumerate(enc.get("children", ()))]
    return torch.nn.ModuleList([m for _, m in _children({"children": items}, handles, built, built.get("_prefix", ""))])


@spec("moduledict")
def _moduledict(enc, handles, built):
    return torch.nn.ModuleDict(dict(_children(enc, handles, built, built.get("_prefix", ""))))


class Holder(_Module):
    """A plain module a spec fills with children, parameters, buffers and plain attributes."""

    def forward(self, x):
        for child in self.children():
            x = child(x)
        return x


@spec("module")
def _module(enc, handles, built):
    m = Holder()
    for name, child in _children(enc, handles, built, built.get("_prefix", "")):
        m.add_module(name, child)
    for name, value, requires_grad in enc.get("parameters", ()):
        m.register_parameter(name, None if value is None else _Parameter(_tensor(value), requires_grad=requires_grad))
    for name, value, persistent in enc.get("buffers", ()):
        m.register_buffer(name, _tensor(value), persistent=persistent)
    for name, value in enc.get("tensors", ()):
        setattr(m, name, _tensor(value))
    for name, items in enc.get("containers", ()):
        setattr(m, name, [_tensor(v) for v in items])
    for name, value in enc.get("ints", ()):
        setattr(m, name, value)
    return m


@spec("same")
def _same(enc, handles, built):
    return built[enc["path"]]


@spec("frozen")
def _frozen(enc, handles, built):
    module = build(enc["module"], handles, built)
    module.requires_grad_(False)
    return module


# --- iterables -----------------------------------------------------------------

@spec("generator")
def _generator(enc, handles, built):
    items = [_input(item, handles, built) for item in enc.get("items", ())]
    return (item for item in items)


@spec("parameters_of")
def _parameters_of(enc, handles, built):
    return _Module.parameters(_input(enc["module"], handles, built))


@spec("tied")
def _tied(enc, handles, built):
    """A module whose parameter at dotted path `to` is the very Parameter object at `from`:
    one tensor held by two submodules (weight tying), for counting what is shared."""
    module = build(enc["module"], handles, built)
    for to, source in enc.get("ties", ()):
        owner_path, _, name = str(to).rpartition(".")
        owner = _Module.get_submodule(module, owner_path)
        _Module.__setattr__(owner, name, _Module.get_parameter(module, str(source)))
    return module


# --- 08_devices ---
# {"kind": "moved", "module": SPEC, "device": "meta"}: SPEC built, then moved with nn.Module.to
# (parts of one model on different devices, without a GPU: "meta" has shapes but no data)

@spec("moved")
def _moved(enc, handles, built):
    module = build(enc["module"], handles, built)
    _Module.to(module, torch.device(str(enc["device"])))
    return module


# --- 09_training ---------------------------------------------------------------------------
# What a training loop is handed, built alike in the candidate and (for the reference) in the
# judge:
#   {"kind": "dropout", "p": 0.5}                         nn.Dropout(p)
#   {"kind": "batches", "x": <enc>, "y": <enc>, "batch_size": b, "loader": "list" | "dataloader"}
#       a list of (x, y) batches in order (the last one ragged), or a torch DataLoader over a
#       TensorDataset (shuffle=False, num_workers=0)
#   {"kind": "loss", "name": "mse" | "cross_entropy"}     a RecordedLoss: the nn loss (batch
#       mean), which notes in `log`, per call, [grad mode on?, output requires grad?]
#   {"kind": "optimizer", "name": "sgd" | "adam", "module": <ref|SPEC>, "lr": .., "momentum": ..}
#       over all of the module's parameters
#   {"kind": "with_grads", "module": SPEC, "grads": [[name, <enc>], ...]}  SPEC with .grad set
#   {"kind": "ndarray", "tensor": <enc>}                  a NumPy array (a copy) of the values

_is_grad_enabled = torch.is_grad_enabled
_requires_grad = _TB.__dict__["requires_grad"].__get__
_LOSSES = {"mse": torch.nn.MSELoss, "cross_entropy": torch.nn.CrossEntropyLoss}
_OPTIMIZERS = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}


@spec("dropout")
def _dropout(enc, handles, built):
    return torch.nn.Dropout(float(enc.get("p", 0.5)))


@spec("batches")
def _batches(enc, handles, built):
    x, y = _input(enc["x"], handles, built), _input(enc["y"], handles, built)
    size = int(enc["batch_size"])
    if enc.get("loader", "list") == "dataloader":
        from torch.utils.data import DataLoader, TensorDataset
        return DataLoader(TensorDataset(x, y), batch_size=size, shuffle=False)
    return [(x[i:i + size], y[i:i + size]) for i in range(0, len(x), size)]


class RecordedLoss(_Module):
    """A loss module (batch mean) that notes how it was called: `log` holds, per call,
    [grad mode was on, the model's output required grad]."""

    def __init__(self, name):
        super().__init__()
        self.inner = _LOSSES[name]()
        self.log = []

    def forward(self, out, target):
        self.log.append([bool(_is_grad_enabled()),
                         bool(isinstance(out, torch.Tensor) and _requires_grad(out))])
        return self.inner(out, target)


@spec("loss")
def _loss(enc, handles, built):
    return RecordedLoss(str(enc["name"]))


@spec("optimizer")
def _optimizer(enc, handles, built):
    module = _input(enc["module"], handles, built)
    options = {"lr": float(enc["lr"])}
    if enc["name"] == "sgd":
        options["momentum"] = float(enc.get("momentum", 0.0))
    return _OPTIMIZERS[enc["name"]](list(_Module.parameters(module)), **options)


@spec("with_grads")
def _with_grads(enc, handles, built):
    module = build(enc["module"], handles, built)
    for name, grad in enc.get("grads", ()):
        param = _Module.get_parameter(module, str(name))
        dtype = _TB.__dict__["dtype"].__get__(param)
        _TB.__dict__["grad"].__set__(param, _TB.to(values.make_tensor(grad), dtype))
    return module


@spec("ndarray")
def _ndarray(enc, handles, built):
    return _TB.numpy(values.make_tensor(enc["tensor"])).copy()

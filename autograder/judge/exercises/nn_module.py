"""04_nn_module: two_layer_net, count_parameters, leaf_modules.

- `two_layer_net`: the student's class is built in the candidate (its weights drawn from a seed
  the judge sets), moved to the trial's device and dtype, and read back: its `state_dict` keys
  and children must be the contract's, and its forward, on batched, single and 3-D inputs, must
  equal `fc2(relu(fc1(x)))` computed here from the weights it reported; gradients must reach
  the registered layers. Wrong outputs are compared with the usual wrong forwards (no ReLU,
  ReLU after fc2, layers in the wrong order, ...).
- `count_parameters` and `leaf_modules`: models are built from `Spec`s in the candidate (moved
  to the trial's device and dtype) and, the same way, here (`spec.here()`), where the reference
  and the values of the usual mistakes (shared parameters counted twice, state_dict, modules
  instead of scalars, containers listed, `named_children()` instead of `named_modules()`, ...)
  are computed. Hand-picked models cover shared modules, tied parameters, frozen parts,
  buffers, empty containers and roots without children; random model trees (Hypothesis) do
  the rest.
"""

import zlib

import torch
from hypothesis import strategies as st

from ..candidate import Missing, Raised, Spec
from ..compare import CheckFailed, Tampering, dtype_name, fmt, fmt_shape
from ..declare import NOT_DONE, Assignment, Mistake
from ..properties import matrices, quarters
from ..seen import SeenDict, SeenList, SeenModule, SeenObject, SeenTensor, SeenTuple

A = Assignment("04_nn_module")

MODULE = "torch.nn.modules.module.Module"
LINEAR = "torch.nn.modules.linear.Linear"
NO_FORWARD = 'missing the required "forward" function'
NO_SUPER = "before Module.__init__() call"
SUPER_HINT = ("__init__ must call super().__init__() before it assigns any layer: nn.Module's "
              "own __init__ creates the dictionaries that register submodules and parameters.")
FORWARD_HINT = ("nn.Module found no method named `forward` in your class: check its spelling "
                "and that it is indented inside the class (a method named `foward` or `Forward`, "
                "or a forward defined outside the class, leaves nn.Module's default, which raises this).")


# --- talking to the candidate ----------------------------------------------------------------

def call(t, *args, target=None, context="", hints=None, **kwargs):
    """t.call, but a missing forward is named as such (not as an exercise not done yet)."""
    try:
        return t.candidate.call(target or t.exercise.name, *args, **kwargs)
    except Raised as exc:
        if exc.is_a("NotImplementedError") and NO_FORWARD in exc.message:
            t.fail(context, f"It raised NotImplementedError: {exc.message.strip()}\nLikely mistake: {FORWARD_HINT}")
        if exc.is_a("NotImplementedError"):
            t.fail(context, NOT_DONE)
        raise CheckFailed(t.raised_message(exc, context, hints)) from None
    except Missing as exc:
        t.fail(context, f"{exc}: the exercise's solution cell must define it (with this exact name).")


def op(t, name, *args, context=""):
    """One of the candidate's fixed operations; what the student's code made it raise fails."""
    try:
        return t.op(name, *args)
    except Raised as exc:
        t.fail(context, f"{name.replace('_', ' ')} raised {exc.type_name}: {exc.message.strip()}")


def kind_of(value):
    """What a candidate's answer is, in words, for messages."""
    if isinstance(value, SeenTensor):
        if value.kind == "subclass":
            raise Tampering(f"it returned a {value.type_name.rsplit('.', 1)[-1]}, a subclass of "
                            "torch.Tensor")
        return f"a tensor of shape {fmt_shape(value.shape)}" + (
            f" ({fmt(value.values)})" if value.values is not None and value.numel <= 12 else "")
    if isinstance(value, SeenModule):
        return f"a module ({value.class_name})"
    if value is None:
        return "None"
    if type(value) in (bool, int, float, str):
        return f"a {type(value).__name__} ({value!r})"
    if isinstance(value, (SeenList, SeenTuple, SeenDict)):
        return f"a {value.type_name.rsplit('.', 1)[-1]} ({short(value)})"
    name = getattr(value, "type_name", type(value).__name__)
    return f"an object of type {name} ({short(value)})"


def short(value, limit=200):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def moved(t, made, context):
    """`made` (a module in the candidate, built on the CPU) moved to the trial's device, then
    dtype; its description."""
    if t.device.type != "cpu":
        op(t, "module_to", made, t.device, context=context)
    return op(t, "module_to", made, t.dtype, context=context)


def expect_lazily(t, got, expected, ctx, mistakes, **options):
    """t.expect, computing the known mistakes' values only when `got` is wrong."""
    try:
        return t.expect(got, expected, ctx, **options)
    except Tampering:
        raise
    except CheckFailed:
        t.expect(got, expected, ctx, mistakes=mistakes(), **options)
        raise


# =============================================================================================
# two_layer_net
# =============================================================================================

KEYS = ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
TOLERANCE = {torch.float32: (1e-4, 1e-5), torch.float64: (1e-9, 1e-10)}
GRAD_TOLERANCE = {torch.float32: (1e-4, 1e-4), torch.float64: (1e-9, 1e-9)}

CONSTRUCT_HINTS = {
    NO_SUPER: SUPER_HINT,
    "unexpected keyword argument": ("TwoLayerNet's arguments are named in_features, "
                                    "hidden_features, out_features (keep the stub's signature)."),
    "positional argument": ("TwoLayerNet takes three sizes: TwoLayerNet(in_features, "
                            "hidden_features, out_features)."),
}
SHAPE_ERROR = ("a matrix product got operands whose sizes do not fit: forward must apply fc1 "
               "first (in_features -> hidden_features), then ReLU, then fc2 (hidden_features -> "
               "out_features), to x as it is (nn.Linear acts on the last dimension, so do not "
               "reshape or flatten x).")
FORWARD_HINTS = {
    "cannot be multiplied": SHAPE_ERROR,
    "shape '[": ("a reshape or view of x does not fit every input: nn.Linear acts on the last "
                 "dimension of any shape, so pass x to fc1 as it is."),
    "is invalid for input of size": ("a reshape or view of x does not fit every input: nn.Linear "
                                      "acts on the last dimension of any shape, so pass x as it is."),
    "size mismatch": SHAPE_ERROR,
}

NO_RELU = ("there is no ReLU between the layers: forward must be fc2(relu(fc1(x))). Without it "
           "the two Linear layers collapse into one linear map.")
RELU_AFTER_FC2 = ("a ReLU is applied after fc2, to the output: return fc2's output as it is "
                  "(it may be negative); the only ReLU is between fc1 and fc2.")
RELU_ONLY_AFTER = ("the ReLU is after fc2 instead of between the layers: forward must be "
                   "fc2(relu(fc1(x))).")
RELU_ON_INPUT = "the ReLU is applied to the input x; it belongs between fc1 and fc2: fc2(relu(fc1(x)))."
SWAPPED_FORWARD = ("the layers are applied in the wrong order (fc2 first, then fc1): forward must "
                   "be fc2(relu(fc1(x))).")
OTHER_ACTIVATION = "the activation is {name}, not ReLU: forward must be fc2(relu(fc1(x)))."
SOFTMAX = ("a softmax is applied to the output: forward returns fc2's output as it is, "
           "fc2(relu(fc1(x))), with no softmax.")


def _lin(x, w, b):
    return x @ w.T + b


def _net(w, x, act=torch.relu):
    return _lin(act(_lin(x, w["fc1.weight"], w["fc1.bias"])), w["fc2.weight"], w["fc2.bias"])


FORWARD_MISTAKES = [
    Mistake(lambda w, x: _lin(_lin(x, w["fc1.weight"], w["fc1.bias"]), w["fc2.weight"], w["fc2.bias"]), NO_RELU),
    Mistake(lambda w, x: torch.relu(_net(w, x)), RELU_AFTER_FC2),
    Mistake(lambda w, x: torch.relu(_lin(_lin(x, w["fc1.weight"], w["fc1.bias"]), w["fc2.weight"], w["fc2.bias"])),
            RELU_ONLY_AFTER),
    Mistake(lambda w, x: _lin(_lin(torch.relu(x), w["fc1.weight"], w["fc1.bias"]), w["fc2.weight"], w["fc2.bias"]),
            RELU_ON_INPUT),
    Mistake(lambda w, x: _lin(torch.relu(_lin(x, w["fc2.weight"], w["fc2.bias"])), w["fc1.weight"], w["fc1.bias"]),
            SWAPPED_FORWARD),
    Mistake(lambda w, x: _net(w, x, torch.sigmoid), OTHER_ACTIVATION.format(name="a sigmoid")),
    Mistake(lambda w, x: _net(w, x, torch.tanh), OTHER_ACTIVATION.format(name="tanh")),
    Mistake(lambda w, x: _net(w, x, lambda h: torch.nn.functional.leaky_relu(h, 0.01)),
            OTHER_ACTIVATION.format(name="a leaky ReLU")),
    Mistake(lambda w, x: torch.softmax(_net(w, x), dim=-1), SOFTMAX),
]


def keys_problem(keys):
    """Why these state_dict keys are not the contract's, in a sentence."""
    missing = [k for k in KEYS if k not in keys]
    extra = [k for k in keys if k not in KEYS]
    prefixes = sorted({k.split(".")[0] for k in extra})
    if not keys:
        return ("the module holds no parameters at all: assign the layers as attributes in "
                "__init__ (self.fc1 = nn.Linear(...)). Layers made inside forward, kept in a plain "
                "Python list or dict, or stored as plain tensors are not registered, so nothing "
                "would be trained or saved.")
    if missing and all(len(k.split(".")) > 2 for k in extra) and len(prefixes) == 1:
        return (f"the layers sit inside a container ({prefixes[0]!r}: an nn.Sequential, ModuleList or "
                "similar), so their keys are dotted paths through it. Assign them directly: "
                "self.fc1 = nn.Linear(...) and self.fc2 = nn.Linear(...).")
    if missing and all(k.endswith(".bias") for k in missing) and not extra:
        return "a layer has no bias (bias=False): nn.Linear(in, out) has one by default; keep it."
    if missing and extra and all(k.rsplit(".", 1)[-1] in ("weight", "bias") for k in extra):
        return (f"the layers are named {', '.join(prefixes)}: state_dict keys are the attribute "
                "names you assign in __init__, and the contract names them self.fc1 and self.fc2.")
    if extra and not missing:
        return (f"there are parameters or buffers besides fc1's and fc2's ({', '.join(extra)}): only "
                "fc1 and fc2 may hold any. (An extra child such as nn.ReLU() is fine: it holds none.)")
    return "the module must hold exactly two nn.Linear layers, assigned as self.fc1 and self.fc2."


def read_structure(t, net, sizes, ctx):
    """Check the built module's keys, children and shapes; its weights as float64 tensors."""
    i, h, o = sizes
    if not isinstance(net, SeenModule):
        t.fail(ctx, f"It should make an nn.Module, but TwoLayerNet(...) gave {kind_of(net)}.\n"
                    "Likely mistake: TwoLayerNet must be a class that subclasses nn.Module: "
                    "class TwoLayerNet(nn.Module): ...")
    if MODULE not in net.mro:
        t.fail(ctx, f"TwoLayerNet is not an nn.Module (its class is {net.class_name}): declare it "
                    "as class TwoLayerNet(nn.Module).")
    if net.type_name.startswith("torch.nn.modules.container."):
        t.fail(ctx, f"TwoLayerNet(...) made an nn.{net.class_name}, whose layers are named by "
                    "position ('0', '2'). Write a class, class TwoLayerNet(nn.Module), whose __init__ "
                    "assigns self.fc1 and self.fc2 and whose forward applies them.")
    net = moved(t, net, ctx)
    if net.state_dict is None:
        t.fail(ctx, f"its state_dict() raised {net.state_dict_error}")
    keys = list(net.state_dict)
    if sorted(keys) != sorted(KEYS):
        t.fail(ctx, f"Its state_dict() keys are {keys}, expected exactly {KEYS}.\n"
                    f"Likely mistake: {keys_problem(keys)}")
    for name in ("fc1", "fc2"):
        child = net.children.get(name)
        if not isinstance(child, SeenModule) or LINEAR not in child.mro:
            what = "missing" if child is None else f"a {getattr(child, 'type_name', '?').rsplit('.', 1)[-1]}"
            t.fail(ctx, f"Its submodule {name} is {what}, expected an nn.Linear: assign "
                        f"self.{name} = nn.Linear(...) in __init__.")
    weights, shapes = {}, {}
    for key in KEYS:
        layer, pname = key.split(".")
        p = net.children[layer].parameters.get(pname)
        if not isinstance(p, SeenTensor):
            t.fail(ctx, f"{key} is {kind_of(p)}, expected a Parameter.")
        if p.kind == "subclass":
            raise Tampering(f"{key} is a {p.type_name.rsplit('.', 1)[-1]}, a subclass of torch.Tensor")
        shapes[key] = p.shape
        weights[key] = p
    want = {"fc1.weight": (h, i), "fc1.bias": (h,), "fc2.weight": (o, h), "fc2.bias": (o,)}
    if shapes != want:
        shown = ", ".join(f"{k} {fmt_shape(s)}" for k, s in shapes.items())
        expected = ", ".join(f"{k} {fmt_shape(s)}" for k, s in want.items())
        if shapes["fc1.weight"] == (o, h) and shapes["fc2.weight"] == (h, i):
            hint = ("fc1 and fc2 are swapped: fc1 = nn.Linear(in_features, hidden_features) comes "
                    "first, fc2 = nn.Linear(hidden_features, out_features) second.")
        elif shapes["fc1.weight"] == (i, h) or shapes["fc2.weight"] == (h, o):
            hint = ("nn.Linear's arguments are (in_features, out_features), and its weight has shape "
                    "(out_features, in_features): fc1 = nn.Linear(in_features, hidden_features), "
                    "fc2 = nn.Linear(hidden_features, out_features).")
        else:
            hint = (f"fc1 must be nn.Linear(in_features, hidden_features) = nn.Linear({i}, {h}) and fc2 "
                    f"nn.Linear(hidden_features, out_features) = nn.Linear({h}, {o}).")
        t.fail(ctx, f"Its parameters have shapes {shown}; expected {expected}.\nLikely mistake: {hint}")
    for key, p in weights.items():
        if p.dtype != t.dtype or p.device.type != t.device.type:
            t.fail(ctx, f"after .to({t.device}) and .to({dtype_name(t.dtype)}), {key} is {p.dtype_name} "
                        f"on {p.device}: the layers must be registered submodules, so that .to() moves them.")
        if p.values is None:
            t.fail(ctx, f"{key} is too large to check.")
    return net, {k: p.values.to(torch.float64) for k, p in weights.items()}


def weights_text(w):
    return "\n".join(f"  net.{k} = {fmt(v)}" for k, v in w.items())


def same_values(a, b, rtol, atol):
    """Two answers agree (within the trial's tolerance: a GPU may sum in another order)."""
    return (isinstance(a, SeenTensor) and isinstance(b, SeenTensor) and a.values is not None
            and b.values is not None and a.shape == b.shape and a.values.is_floating_point()
            and torch.allclose(a.values.to(torch.float64), b.values.to(torch.float64), rtol=rtol, atol=atol))


def expect_forward(t, net, w, x_values, ctx, *, twice=False, method=False):
    """net(x) (and, with `method`, net.forward(x)) equals fc2(relu(fc1(x))) from weights `w`."""
    rtol, atol = TOLERANCE[t.dtype]
    x = t.tensor(x_values)
    local = x.value.to(torch.float64)
    fctx = (f"{ctx}\nnet(x) with\n  x = {fmt(x_values)}  (shape {fmt_shape(local.shape)})\n"
            f"and the net's own weights\n{weights_text(w)}")
    with torch.no_grad():
        expected = _net(w, local)

    def wrong():
        found = [(m.values(w, local), m.explanation) for m in FORWARD_MISTAKES]
        if local.dim() == 1:
            found.append((_net(w, local[None]), "a single input of shape (in_features,) must give an "
                          "output of shape (out_features,): do not add a batch dimension (unsqueeze, "
                          "view(1, -1), reshape(-1, in_features)); nn.Linear takes 1-D inputs as they are."))
        elif local.dim() == 3:
            found.append((_net(w, local.reshape(-1, local.shape[-1])),
                          "a 3-D input was flattened to 2-D: nn.Linear acts on the last dimension of "
                          "any shape, so pass x to fc1 as it is."))
        return found
    out = call(t, x, target=net, context=fctx, hints=FORWARD_HINTS)
    kind_of(out)  # a tensor subclass is tampering
    if twice:
        again = call(t, x, target=net, context=fctx, hints=FORWARD_HINTS)
        after = t.describe(net)
        now = {k: _param(after, k) for k in KEYS}
        changed = [k for k in KEYS if now[k] is None or not torch.equal(now[k].to(torch.float64), w[k])]
        if changed:
            t.fail(fctx, f"Calling net(x) changed the net's parameters ({', '.join(changed)}).\n"
                         "Likely mistake: forward creates the layers (self.fc1 = nn.Linear(...) inside "
                         "forward): every call draws new random weights, so nothing is ever trained. "
                         "Create the layers once, in __init__.")
        if isinstance(out, SeenTensor) and out.values is not None and out.values.is_floating_point() \
                and not same_values(out, again, rtol, atol):
            t.fail(fctx, "Two calls of net(x) on the same x gave different outputs.\nLikely mistake: "
                         "forward creates new layers on every call (nn.Linear(...)(x) inside forward: new "
                         "random weights each time, and never the registered fc1 and fc2), or uses "
                         "randomness such as dropout. Create the layers once, in __init__, and use "
                         "self.fc1 and self.fc2 in forward.")
    expect_lazily(t, out, expected, fctx, wrong, rtol=rtol, atol=atol, what="net(x)")
    if method:
        out = call(t, x, target=(net, "forward"), context=fctx, hints=FORWARD_HINTS)
        expect_lazily(t, out, expected, fctx, wrong, rtol=rtol, atol=atol, what="net.forward(x)")
    return x, out, local


def _param(module, key):
    layer, name = key.split(".")
    child = module.children.get(layer)
    p = child.parameters.get(name) if isinstance(child, SeenModule) else None
    return p.values if isinstance(p, SeenTensor) and p.values is not None else None


def expect_gradients(t, net, w, out, local, ctx):
    """out.sum().backward() fills the registered parameters' .grad as autograd says."""
    rtol, atol = GRAD_TOLERANCE[t.dtype]
    gctx = f"{ctx}\nnet(x).sum().backward() with\n  x = {fmt(local)}  (shape {fmt_shape(local.shape)})"
    if not isinstance(out, SeenTensor) or not out.requires_grad:
        t.fail(gctx, "net(x) does not require grad, so no gradient can reach fc1 and fc2.\nLikely "
                     "mistake: forward detaches its result (.detach(), .data, torch.tensor(...)) or runs "
                     "under torch.no_grad(); return the layers' output as it is.")
    try:
        t.op("sum_backward", out)
    except Raised as exc:
        t.fail(gctx, f"backward() raised {exc.type_name}: {exc.message.strip()}")
    after = t.describe(net)
    leaves = {k: v.clone().requires_grad_(True) for k, v in w.items()}
    _net(leaves, local).sum().backward()
    for key in KEYS:
        layer, name = key.split(".")
        p = after.children[layer].parameters.get(name)
        if not isinstance(p, SeenTensor) or p.grad is None:
            t.fail(gctx, f"No gradient reached {key}.\nLikely mistake: forward does not use the "
                         f"registered layer self.{layer} (a new layer made in forward, or a copy).")
        t.expect(p.grad, leaves[key].grad, gctx, rtol=rtol, atol=atol, what=f"{key}.grad")


def signed_batch(rows):
    """The rows and their negatives: every hidden unit then meets inputs of both signs."""
    return [list(r) for r in rows] + [[-v for v in r] for r in rows]


def hand_batch(n, rows=2):
    values = [[((3 * r + 5 * c) % 9 - 4) * 1.25 + 0.5 for c in range(n)] for r in range(rows)]
    return signed_batch(values)


NET_SIZES = [(3, 5, 2), (4, 4, 4), (2, 3, 2), (1, 1, 1), (5, 2, 3), (2, 6, 1)]


@st.composite
def net_cases(draw):
    i, h, o = draw(st.integers(1, 6)), draw(st.integers(1, 6)), draw(st.integers(1, 6))
    x = draw(matrices(rows=(1, 3), cols=(i, i), values=quarters(-10, 10)))
    return (i, h, o), x


NET_CASES = net_cases()


def seed_of(example):
    return zlib.crc32(repr(example).encode()) % (2 ** 31)


def build_net(t, sizes, seed, keywords=False):
    i, h, o = sizes
    ctx = (f"TwoLayerNet(in_features={i}, hidden_features={h}, out_features={o})" if keywords
           else f"TwoLayerNet({i}, {h}, {o})") + f", moved to {t.device} and {dtype_name(t.dtype)}"
    op(t, "seed", seed, context=ctx)
    if keywords:
        made = call(t, context=ctx, hints=CONSTRUCT_HINTS, in_features=i, hidden_features=h, out_features=o)
    else:
        made = call(t, i, h, o, context=ctx, hints=CONSTRUCT_HINTS)
    net, w = read_structure(t, made, sizes, ctx)
    return net, w, ctx


@A.exercise("two_layer_net", "class TwoLayerNet(nn.Module)", strategies=[NET_CASES])
def two_layer_net(t):
    for k, sizes in enumerate(NET_SIZES):
        net, w, ctx = build_net(t, sizes, 1000 + k, keywords=(k == 4))
        batch = hand_batch(sizes[0])
        x, out, local = expect_forward(t, net, w, batch, ctx, twice=True, method=(k < 2))
        expect_forward(t, net, w, batch[0], ctx)                          # one sample: (in,) -> (out,)
        expect_forward(t, net, w, [batch[:2], batch[2:]], ctx)            # (2, 2, in): any leading dims
        if k < 3:
            fresh, w2, ctx2 = build_net(t, sizes, 2000 + k)
            _, out2, local2 = expect_forward(t, fresh, w2, batch, ctx2)
            expect_gradients(t, fresh, w2, out2, local2, ctx2)

    def case(example):
        sizes, rows = example
        net, w, ctx = build_net(t, tuple(sizes), seed_of(example))
        expect_forward(t, net, w, signed_batch(rows), ctx)

    t.for_all(NET_CASES, case)


# =============================================================================================
# Models built in the candidate (and here) from specs
# =============================================================================================

def linear(i, o, bias=True):
    return Spec("linear", **{"in": i, "out": o, "bias": bias})


def seq(*children):
    return Spec("sequential", children=[[str(k), c] for k, c in enumerate(children)])


def mlist(*children):
    return Spec("modulelist", children=list(children))


def mdict(**children):
    return Spec("moduledict", children=[[k, v] for k, v in children.items()])


def holder(children=(), parameters=(), buffers=(), tensors=()):
    return Spec("module", children=[[k, v] for k, v in children],
                parameters=[[k, None if shape is None else _values(shape), grad] for k, shape, grad in parameters],
                buffers=[[k, _values(shape), persistent] for k, shape, persistent in buffers],
                tensors=[[k, _values(shape)] for k, shape in tensors])


def _values(shape):
    n = 1
    for s in shape:
        n *= s
    return (torch.arange(float(n)) * 0.5 - 1).reshape(shape)


def same(path):
    return Spec("same", path=path)


def frozen(spec):
    return Spec("frozen", module=spec)


def tied(spec, *ties):
    return Spec("tied", module=spec, ties=[list(pair) for pair in ties])


RELU = Spec("relu")


def bn(n):
    return Spec("batchnorm1d", features=n)


def conv(cin, cout, k):
    return Spec("conv2d", **{"in": cin, "out": cout, "kernel": k})


# (what the model is, its spec)
MODELS = [
    ("one nn.Linear(3, 2): a root without children", linear(3, 2)),
    ("nn.Linear(4, 3, bias=False)", linear(4, 3, bias=False)),
    ("an MLP", seq(linear(4, 3), RELU, linear(3, 2))),
    ("nested Sequential, ModuleList and ModuleDict",
     seq(seq(linear(2, 3), RELU), mlist(linear(3, 3), linear(3, 1)), mdict(head=linear(1, 2), act=RELU))),
    ("a custom module: a frozen parameter, a parameter set to None, buffers, a plain tensor",
     holder(parameters=[("scale", (3,), True), ("offset", (2, 2), False), ("unused", None, True)],
            buffers=[("running", (3,), True), ("cache", (5,), False)], tensors=[("plain", (4,))])),
    ("BatchNorm1d between Linears (buffers)", seq(linear(3, 4), bn(4), RELU, linear(4, 1))),
    ("a frozen first layer", seq(frozen(linear(4, 3)), RELU, linear(3, 2))),
    ("everything frozen", frozen(seq(linear(2, 2), linear(2, 2)))),
    ("one Linear used twice in a Sequential", seq(linear(3, 3), RELU, same("0"))),
    ("a module shared in a ModuleList and under two names",
     holder(children=[("enc", linear(4, 2)), ("blocks", mlist(linear(2, 2), same("blocks.0"), RELU)),
                      ("dec", same("enc"))])),
    ("tied weights: out.weight is embed.weight",
     tied(holder(children=[("embed", linear(3, 3)), ("out", linear(3, 3))]), ("out.weight", "embed.weight"))),
    ("an empty Sequential", seq()),
    ("an empty ModuleList inside a module", holder(children=[("layers", mlist()), ("head", linear(2, 2))])),
    ("a lone ReLU", RELU),
    ("a conv layer", seq(conv(1, 2, 3), RELU)),
    ("a shared frozen layer", seq(frozen(linear(2, 3)), same("0"), linear(3, 3))),
    ("a deep tree with a parameter at the root",
     holder(children=[("a", holder(children=[("b", holder(children=[("c", linear(2, 2))]))])), ("d", RELU)],
            parameters=[("bias", (2,), True)])),
    ("empty containers among leaves",
     holder(children=[("blocks", mlist(seq(), seq(linear(2, 2), RELU))), ("norm", bn(2)),
                      ("extra", mdict())])),
]


def describe_model(model):
    """Notes on what the repr does not show: sharing, tying, frozen parameters, buffers."""
    lines, first, shared = [], {}, []
    for name, m in model.named_modules(remove_duplicate=False):
        if any(name.startswith(f"{s}.") for s in shared):
            continue  # inside a module already noted as shared
        if id(m) in first:
            shared.append(name)
            lines.append(f"'{name}' is the same module as '{first[id(m)] or '(root)'}' (shared)")
        first.setdefault(id(m), name)
    owners = {}
    for pname, p in model.named_parameters(remove_duplicate=False):
        if any(pname.startswith(f"{s}.") for s in shared):
            continue
        if id(p) in owners:
            lines.append(f"'{pname}' is the same Parameter as '{owners[id(p)]}' (tied)")
        owners.setdefault(id(p), pname)
    frozen_names = [n for n, p in model.named_parameters() if not p.requires_grad]
    if frozen_names:
        lines.append("frozen (requires_grad=False): " + ", ".join(frozen_names))
    buffers = [f"{n} {fmt_shape(b.shape)}" for n, b in model.named_buffers()]
    if buffers:
        lines.append("buffers: " + ", ".join(buffers))
    for name, m in model.named_modules():
        prefix = f"{name}." if name else ""
        lines += [f"parameter '{prefix}{k}' is registered as None" for k, p in m._parameters.items() if p is None]
        lines += [f"plain tensor attribute '{prefix}{k}' {fmt_shape(v.shape)} (not a parameter)"
                  for k, v in vars(m).items() if isinstance(v, torch.Tensor) and not k.startswith("_")]
    return lines


def model_context(t, call_text, label, model):
    body = "\n".join("    " + line for line in repr(model).splitlines())
    lines = [f"{call_text} on {t.device}, {dtype_name(t.dtype)}, with model = {label}:", body]
    lines += [f"  ({note})" for note in describe_model(model)]
    return "\n".join(lines)


def make_model(t, spec, ctx):
    made = t.make(spec)
    moved(t, made, ctx)
    return made


# --- random model trees (plain data, so that recorded examples compare equal) ------------------

def _leaf_nodes():
    params = st.lists(st.tuples(st.integers(1, 3), st.booleans()), max_size=2).map(tuple)
    return st.one_of(
        st.tuples(st.just("linear"), st.integers(1, 3), st.integers(1, 3), st.booleans()),
        st.just(("relu",)),
        st.tuples(st.just("bn"), st.integers(1, 3)),
        st.tuples(st.just("params"), params),
        st.just(("seq", ())),
    )


def _extend(children):
    kids = st.lists(children, max_size=3).map(tuple)
    params = st.lists(st.tuples(st.integers(1, 3), st.booleans()), max_size=2).map(tuple)
    return st.one_of(
        st.tuples(st.just("seq"), kids),
        st.tuples(st.just("list"), kids),
        st.tuples(st.just("dict"), kids),
        st.tuples(st.just("holder"), kids, params),
        st.tuples(st.just("frozen"), children),
    )


MODEL_TREES = st.tuples(st.recursive(_leaf_nodes(), _extend, max_leaves=8),
                        st.sampled_from(["none", "shared module", "tied parameter"]))


def tree_spec(node):
    kind = node[0]
    if kind == "linear":
        return linear(node[1], node[2], node[3])
    if kind == "relu":
        return RELU
    if kind == "bn":
        return bn(node[1])
    if kind == "params":
        return holder(parameters=[(f"p{k}", (size,), grad) for k, (size, grad) in enumerate(node[1])])
    if kind == "seq":
        return seq(*(tree_spec(c) for c in node[1]))
    if kind == "list":
        return mlist(*(tree_spec(c) for c in node[1]))
    if kind == "dict":
        return mdict(**{f"k{k}": tree_spec(c) for k, c in enumerate(node[1])})
    if kind == "holder":
        return holder(children=[(f"c{k}", tree_spec(c)) for k, c in enumerate(node[1])],
                      parameters=[(f"p{k}", (size,), grad) for k, (size, grad) in enumerate(node[2])])
    if kind == "frozen":
        return frozen(tree_spec(node[1]))
    raise ValueError(f"unknown node {kind!r}")


def example_model(example):
    tree, sharing = example
    body = tree_spec(tree)
    if sharing == "shared module":
        return "a random tree, shared under two names", holder(children=[("body", body), ("again", same("body"))])
    if sharing == "tied parameter":
        return ("a random tree beside tied layers (tail.weight is head.weight)",
                tied(holder(children=[("body", body), ("head", linear(2, 2)), ("tail", linear(2, 2))]),
                     ("tail.weight", "head.weight")))
    return "a random tree", body


# =============================================================================================
# count_parameters
# =============================================================================================

def _numel(params):
    return sum(p.numel() for p in params)


def _kept(params, trainable_only):
    return [p for p in params if p.requires_grad or not trainable_only]


SHARED_TWICE = ("a shared parameter was counted once per name it has. parameters() yields each "
                "Parameter once, however many submodules hold it; named_parameters("
                "remove_duplicate=False), state_dict() or a walk over every submodule's own "
                "parameters counts it again for each name.")
IGNORED_FLAG = ("trainable_only=True must leave out parameters with requires_grad=False (frozen "
                "ones); this counted them.")
ALWAYS_TRAINABLE = ("with trainable_only=False (the default) every parameter counts, frozen ones "
                    "(requires_grad=False) too; this left them out.")
INVERTED = "the condition is inverted: trainable_only=True counts the parameters that require grad."
FROZEN_ONLY = ("with trainable_only=False (the default) every parameter counts; this counted only "
               "the frozen ones (requires_grad=False): is the condition inverted?")
STATE_DICT = ("this is the size of state_dict(): it holds buffers too (BatchNorm's running "
              "statistics), which are not parameters, and repeats a shared parameter under each name. "
              "Count over module.parameters().")
BUFFERS = "buffers (module.buffers(), e.g. BatchNorm's running statistics) were counted; they are not parameters."
TENSORS = ("this counts parameter tensors, not their scalar entries: a (3, 4) weight holds 12 "
           "numbers. Add up p.numel().")
MODULES = "this counts modules, not the scalar entries of their parameters: add up p.numel() over module.parameters()."
OWN_ONLY = ("only the root's own parameters were counted: parameters(recurse=False) or _parameters "
            "skips every submodule; parameters() walks the whole tree.")
ONE_LEVEL = ("only the parameters one level down were counted (children() and their own "
             "parameters): nested submodules were missed. parameters() walks the whole tree.")
FIRST_DIM = "len(p) (or p.shape[0]) is the size of the first dimension only; p.numel() is the number of entries."
NOTHING = ("nothing was counted: check the condition that picks the parameters (with "
           "trainable_only=False every parameter counts) and that the count goes into "
           "submodules (module.parameters() does).")
SUM_OF_SIZES = "the sizes of the dimensions were added; the number of entries is their product, p.numel()."


def _all_trainable(m):
    return all(p.requires_grad for p in m.parameters())


def _one_level(m, trainable_only):
    params = [p for c in m.children() for p in c.parameters(recurse=False)]
    return _numel(_kept(list(m.parameters(recurse=False)) + params, trainable_only))


COUNT_MISTAKES = [
    (lambda m, to: _numel(_kept([p for _, p in m.named_parameters(remove_duplicate=False)], to)), SHARED_TWICE),
    (lambda m, to: _numel(m.parameters()) if to else None, IGNORED_FLAG),
    (lambda m, to: None if to else _numel(_kept(m.parameters(), True)), ALWAYS_TRAINABLE),
    (lambda m, to: _numel(p for p in m.parameters() if not p.requires_grad) if to else None, INVERTED),
    (lambda m, to: None if to or _all_trainable(m) else _numel(p for p in m.parameters() if not p.requires_grad),
     FROZEN_ONLY),
    (lambda m, to: sum(v.numel() for v in m.state_dict().values()), STATE_DICT),
    (lambda m, to: _numel(_kept(m.parameters(), to)) + _numel(m.buffers()), BUFFERS),
    (lambda m, to: len(_kept(m.parameters(), to)), TENSORS),
    (lambda m, to: len(list(m.modules())), MODULES),
    (lambda m, to: len(list(m.named_modules(remove_duplicate=False))), MODULES),
    (lambda m, to: _numel(_kept(m.parameters(recurse=False), to)), OWN_ONLY),
    (lambda m, to: _one_level(m, to), ONE_LEVEL),
    (lambda m, to: sum(p.shape[0] if p.dim() else 1 for p in _kept(m.parameters(), to)), FIRST_DIM),
    (lambda m, to: sum(sum(p.shape) for p in _kept(m.parameters(), to)), SUM_OF_SIZES),
    (lambda m, to: 0, NOTHING),
]


def count_reference(model, trainable_only):
    return _numel(_kept(model.parameters(), trainable_only))


def expect_count(t, got, expected, ctx, model, trainable_only):
    if isinstance(got, SeenTensor):
        kind_of(got)  # a subclass is tampering
        shown = fmt(got.values) if got.values is not None and got.numel <= 12 else "..."
        t.fail(ctx, f"It returned a tensor ({shown}, shape {fmt_shape(got.shape)}); return a Python int.\n"
                    "Likely mistake: "
                    "p.numel() is already an int, and sum() of ints is an int: do not wrap the count "
                    "in torch.tensor(...) or add up tensors (call .item() if you must).")
    if type(got) is bool or type(got) is not int:
        name = getattr(got, "type_name", "")
        extra = (" (numel() gives ints: avoid math that turns them into floats, such as / or "
                 "math.prod of floats)" if type(got) is float else
                 " (NumPy's sum and prod give NumPy integers: add up p.numel() with Python's sum, "
                 "or wrap the result in int(...))" if name.startswith("numpy.") else "")
        t.fail(ctx, f"It returned {kind_of(got)}; the count must be an int{extra}.")
    if got != expected:
        hint = None
        for wrong, explanation in COUNT_MISTAKES:
            try:
                value = wrong(model, trainable_only)
            except Exception:
                value = None
            if value is not None and value == got:
                hint = explanation
                break
        t.fail(ctx, f"It returned {got}, expected {expected}." + (f"\nLikely mistake: {hint}" if hint else ""))


def count_case(t, label, spec, calls):
    """count_parameters on the model `spec` builds, with each call's trainable_only."""
    model = spec.here()
    ctx0 = model_context(t, "count_parameters(model)", label, model)
    made = make_model(t, spec, ctx0)
    for how in calls:
        if how == "default":
            text, args, kwargs, to = "count_parameters(model)", (made,), {}, False
        elif how == "positional":
            text, args, kwargs, to = "count_parameters(model, True)", (made, True), {}, True
        else:
            text, args, kwargs, to = f"count_parameters(model, trainable_only={how})", (made,), \
                {"trainable_only": how}, how
        ctx = model_context(t, text, label, model)
        got = call(t, *args, context=ctx, **kwargs)
        expect_count(t, got, count_reference(model, to), ctx, model, to)


@A.exercise("count_parameters", "def count_parameters(module, trainable_only=False)", strategies=[MODEL_TREES])
def count_parameters(t):
    for k, (label, spec) in enumerate(MODELS):
        calls = ["default", True] + (["positional", False] if k % 4 == 0 else [])
        count_case(t, label, spec, calls)

    def case(example):
        label, spec = example_model(example)
        count_case(t, label, spec, ["default", True])

    t.for_all(MODEL_TREES, case)


# =============================================================================================
# leaf_modules
# =============================================================================================

def _is_leaf(module):
    return next(iter(module.children()), None) is None


def leaves_reference(model):
    return [name for name, m in model.named_modules() if _is_leaf(m)]


CONTAINERS = ("every module was listed, containers too: keep only the modules without children "
              "(for name, m in model.named_modules(): ... if not list(m.children())).")
ROOT = ("the root (name '') counts only when it has no children: a model that is a single layer "
        "is its own only leaf, and a model with children is never a leaf.")
CHILDREN = ("children() and named_children() go one level down only; named_modules() walks the "
            "whole tree, with qualified names such as '1.0'.")
SHARED_LEAF = ("a shared module was listed under each of its names: named_modules() gives each "
               "module once (under its first name); named_modules(remove_duplicate=False) repeats it.")
PARAMETERS = ("the test for a leaf was 'has parameters': a leaf is a module without children, "
              "with or without parameters (nn.ReLU, an empty nn.Sequential), and a module with "
              "children is never a leaf even when it holds parameters of its own.")
BY_TYPE = ("the test for a leaf was the module's type (not Sequential, ModuleList, ModuleDict): a "
           "custom module with children is not a leaf, and an empty container has no children, so "
           "it is one. Test for children: not list(m.children()).")
QUALIFIED = ("these are the last parts of the names; return the qualified names as named_modules() "
             "gives them ('1.0', not '0').")
ORDER = "the names are right but not in named_modules() order (do not sort them)."
ROOT_ALWAYS = "the root (name '') was listed though it has children: it counts only when it has none."
NAME_BASED = ("a module whose only child is shared with another part of the model (so that "
              "named_modules() lists the child under its first name only) still has a child: "
              "decide with m.children(), not by looking for longer names.")


def _by_params(model):
    return [n for n, m in model.named_modules() if next(iter(m.parameters(recurse=False)), None) is not None]


def _leaves_with_params(model):
    return [n for n, m in model.named_modules() if _is_leaf(m) and next(iter(m.parameters()), None) is not None]


def _by_names(model):
    names = [n for n, _ in model.named_modules()]
    return [n for n in names if (n or len(names) == 1) and not any(o.startswith(f"{n}.") for o in names)]


def _by_type(model):
    containers = (torch.nn.Sequential, torch.nn.ModuleList, torch.nn.ModuleDict)
    return [n for n, m in model.named_modules() if not isinstance(m, containers)]


LEAF_MISTAKES = [
    (lambda m: [n for n, _ in m.named_modules()], CONTAINERS),
    (lambda m: [n for n, x in m.named_modules() if n and _is_leaf(x)], ROOT),
    (_by_type, BY_TYPE),
    (lambda m: [""] + leaves_reference(m) if not _is_leaf(m) else None, ROOT_ALWAYS),
    (_by_names, NAME_BASED),
    (lambda m: [n for n, _ in m.named_children()], CHILDREN),
    (lambda m: [n for n, c in m.named_children() if _is_leaf(c)], CHILDREN),
    (lambda m: [n for n, x in m.named_modules(remove_duplicate=False) if _is_leaf(x)], SHARED_LEAF),
    (_by_params, PARAMETERS),
    (_leaves_with_params, PARAMETERS),
    (lambda m: [n.rsplit(".", 1)[-1] for n in leaves_reference(m)], QUALIFIED),
    (lambda m: sorted(leaves_reference(m)), ORDER),
]


def expect_leaves(t, got, expected, ctx, model):
    if isinstance(got, SeenTuple):
        t.fail(ctx, f"It returned a tuple ({short(got)}); return a list.")
    if isinstance(got, SeenObject) and "generator" in got.type_name:
        t.fail(ctx, "It returned a generator; return a list (wrap it: list(...)).")
    if not isinstance(got, SeenList):
        t.fail(ctx, f"It returned {kind_of(got)}; expected a list of names (str).")
    if any(isinstance(item, SeenModule) for item in got):
        t.fail(ctx, "The list holds modules; return their names (str), as named_modules() gives them: "
                    "for name, module in model.named_modules(): ...")
    bad = [item for item in got if type(item) is not str]
    if bad:
        t.fail(ctx, f"The list holds {kind_of(bad[0])}; every item must be a name (str).")
    if list(got) != expected:
        hint = None
        for wrong, explanation in LEAF_MISTAKES:
            try:
                value = wrong(model)
            except Exception:
                value = None
            if value is not None and value == list(got) and value != expected:
                hint = explanation
                break
        t.fail(ctx, f"It returned {list(got)}, expected {expected}." + (f"\nLikely mistake: {hint}" if hint else ""))


def leaf_case(t, label, spec):
    model = spec.here()
    ctx = model_context(t, "leaf_modules(model)", label, model)
    made = make_model(t, spec, ctx)
    got = call(t, made, context=ctx)
    expect_leaves(t, got, leaves_reference(model), ctx, model)


# the nested model first: it tells one level from the whole tree, and the root from containers
LEAF_MODELS = [MODELS[3], MODELS[2]] + MODELS[:2] + MODELS[4:] + [
    ("an empty Sequential between layers", seq(linear(2, 2), seq(), RELU)),
    ("a root with parameters of its own and children",
     holder(children=[("inner", seq(linear(2, 2), RELU))], parameters=[("scale", (2,), True)])),
    ("a ModuleDict of Sequentials", mdict(a=seq(linear(1, 2), RELU), b=seq(seq(RELU)), c=linear(2, 1))),
    ("a module whose only child is shared from elsewhere",
     holder(children=[("x", linear(2, 2)), ("wrap", holder(children=[("inner", same("x"))]))])),
]


@A.exercise("leaf_modules", "def leaf_modules(model)", strategies=[MODEL_TREES])
def leaf_modules(t):
    for label, spec in LEAF_MODELS:
        leaf_case(t, label, spec)
    t.for_all(MODEL_TREES, lambda example: leaf_case(t, *example_model(example)))

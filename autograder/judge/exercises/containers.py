"""07_containers: build_mlp, repeated, multi_head, named_sequential.

- `build_mlp(sizes)`: the returned module is read back as the candidate describes it: an
  nn.Sequential whose children are named '0', '1', ... and are, in order, Linear, ReLU, ...,
  Linear (no activation after the last), each a distinct object (`[layer, act] * n` repeats one),
  with the contract's shapes and state_dict keys; moved to the trial's device and dtype, its
  forward must equal the MLP computed here from the weights it reported.
- `repeated` and `multi_head`: module classes (`A.module_class`): state_dict keys and shapes,
  the container child (`layers` an nn.ModuleList, `heads` an nn.ModuleDict, in the dict's
  order), forward against a reference from the module's own weights, gradients. A `before`
  check reads the container itself first: a plain Python list or dict (whose layers
  parameters() cannot see), the same module object repeated, the wrong number of layers; for
  multi_head an `after` check asks for an unknown head, which must raise KeyError.
- `named_sequential(layers)`: the modules are built in the candidate from specs (`models`) and
  passed as a dict, a list of (name, module) tuples or of [name, module] lists; the result
  must be an nn.Sequential whose children are those very objects, under those names, in that
  order (names lost by unpacking into nn.Sequential(*modules), sorted names, copies), with
  their state_dict keys; its forward must equal the same modules applied here in order.

Readings of the contract: "distinct child modules" holds for build_mlp's ReLUs too (one ReLU
object reused is named); sizes are sent as a list; head names and layer names are plain
identifiers or digit strings, never with a '.'.
"""

import zlib

import torch

from ..declare import (
    RELU,
    Assignment,
    Build,
    Hint,
    Missing,
    Mistake,
    Raised,
    SeenDict,
    SeenList,
    SeenModule,
    SeenTensor,
    SeenTuple,
    Spec,
    bn,
    fmt,
    matrices,
    quarters,
    said,
    st,
    tolerances,
)

A = Assignment("07_containers")

CONTAINER = "torch.nn.modules.container."
SEQUENTIAL = CONTAINER + "Sequential"
MODULELIST = CONTAINER + "ModuleList"
MODULEDICT = CONTAINER + "ModuleDict"
LINEAR_CLASS = "torch.nn.modules.linear.Linear"
RELU_CLASS = "torch.nn.modules.activation.ReLU"


def seed_of(case):
    return zlib.crc32(repr(case).encode()) % (2 ** 31)


def signed_batch(rows):
    """The rows and their negatives: every ReLU meets inputs of both signs."""
    return [list(r) for r in rows] + [[-v for v in r] for r in rows]


def hand_batch(n, rows=2):
    return signed_batch([[((3 * r + 5 * c) % 9 - 4) * 1.25 + 0.5 for c in range(n)] for r in range(rows)])


def kind(child):
    """'Linear', 'ReLU', ... : the class of a described child (None when it is not a module)."""
    if child is None or not hasattr(child, "type_name"):
        return None
    return child.type_name.rsplit(".", 1)[-1]


def is_a(child, qualified):
    return isinstance(child, SeenModule) and qualified in child.mro


def shared_names(children):
    """[[names...]] of the children that are one and the same object."""
    by_ref = {}
    for name, child in children.items():
        if child is not None:
            by_ref.setdefault(child.ref, []).append(name)
    return [names for names in by_ref.values() if len(names) > 1]


def quoted(names):
    return ", ".join(repr(n) for n in names)


def lin(x, w, b):
    return x @ w.T + b


# =============================================================================================
# build_mlp
# =============================================================================================

RETURNED_LIST = Hint("returned-list-of-layers", "It returned a Python {what} of {n} items, not a module: wrap the layers in an "
                                                "nn.Sequential, which registers them and applies them in order.")
RETURNED_MODULELIST = Hint("modulelist-for-sequential",
    "It returned an nn.ModuleList: a ModuleList registers the layers but has no "
    "forward (calling it raises). build_mlp returns an nn.Sequential, which "
    "applies its children in order.")
NOT_SEQUENTIAL = Hint("wrong-container-type", "It returned an nn.{name}, not an nn.Sequential.")
RELU_AFTER_LAST = Hint("relu-after-last-layer",
    "there is a ReLU after the last Linear: an MLP returns the last Linear's output "
    "as it is (it may be negative: it feeds a loss). A ReLU goes only between two Linears.")
NO_RELU = Hint("no-activation", "there is no ReLU between the Linear layers: without an activation, stacked Linear layers "
                                "collapse into one linear map.")
OTHER_ACTIVATION = Hint("wrong-activation", "the activation is nn.{name}, not nn.ReLU.")
NAMED_CHILDREN = Hint("custom-child-names", "the children are named {names}, not by position: nn.Sequential names the modules "
                                            "passed to it one by one '0', '1', '2', ...; an OrderedDict or add_module with names "
                                            "of your own changes the names (and the state_dict keys).")
NESTED = Hint("nested-containers", "a child is itself a container (nn.{name}): the layers must be the Sequential's own "
                                   "children, one per position, not grouped in inner Sequentials.")
SHARED_LINEAR = Hint("shared-layer-object", "the children {names} are one and the same nn.Linear object: `[nn.Linear(...), "
                                            "nn.ReLU()] * n`, or appending one layer object several times, repeats the very "
                                            "same module, so those positions share one weight matrix (parameters() lists it "
                                            "once). Create a new nn.Linear for each position.")
SHARED_RELU = Hint("shared-relu-object", "the children {names} are one and the same nn.ReLU object. The values come out "
                                         "right, but build_mlp must return 2k - 1 distinct modules: a shared module is listed "
                                         "once by named_modules() and a hook on it fires at every position. Create a new "
                                         "nn.ReLU() for each position.")
SHARED_OTHER = Hint("shared-module-object",
    "the children {names} are one and the same module object: each position needs a module of its own.")
REVERSED_LINEAR = Hint("linear-args-reversed", "nn.Linear's arguments are (in_features, out_features) and its weight has shape "
                                               "(out_features, in_features): layer i maps sizes[i] to sizes[i + 1].")
NO_BIAS = Hint("linear-without-bias", "a Linear has no bias (bias=False): nn.Linear(in, out) has one by default; keep it.")
MLP_HINTS = {
    "is not a Module subclass": Hint("non-module-in-sequential",
        "nn.Sequential takes modules one by one (or one OrderedDict): a list "
        "passed as it is, or a function such as torch.relu, is not a module. "
        "Unpack the list (nn.Sequential(*layers)) and use nn.ReLU()."),
    "list index out of range": Hint("off-by-one-sizes",
        "a loop over sizes reads one index too far: k + 1 sizes make k Linear layers."),
    "unexpected keyword argument": Hint("wrong-signature", "build_mlp takes one argument, the list of sizes."),
}
MLP_FORWARD_HINTS = {
    "cannot be multiplied": Hint("wrong-layer-sizes", "the layers' sizes do not chain: layer i must be nn.Linear(sizes[i], "
                                                      "sizes[i + 1]), so that each output feeds the next input."),
    'missing the required "forward" function': RETURNED_MODULELIST,
}


def mlp_kinds(k):
    return ["Linear" if i % 2 == 0 else "ReLU" for i in range(2 * k - 1)]


def mlp_reference(w, x, k, act=torch.relu, last=None):
    for i in range(k):
        x = lin(x, w[f"{2 * i}.weight"], w[f"{2 * i}.bias"])
        if i < k - 1:
            x = act(x)
    return last(x) if last else x


def structure_problem(net, sizes):
    """Why the children of a returned Sequential are not the contract's, or None."""
    k = len(sizes) - 1
    children = net.children
    names, kinds = list(children), [kind(c) for c in children.values()]
    want_names, want_kinds = [str(i) for i in range(2 * k - 1)], mlp_kinds(k)
    containers = [c for c in children.values() if isinstance(c, SeenModule) and CONTAINER in c.type_name]
    if containers:
        return NESTED.format(name=kind(containers[0]))
    if kinds == want_kinds:
        return None if names == want_names else NAMED_CHILDREN.format(names=quoted(names))
    if kinds == want_kinds + ["ReLU"]:
        return RELU_AFTER_LAST
    if kinds == ["Linear"] * k:
        return NO_RELU
    acts = {kk for kk in kinds if kk != "Linear"}
    if len(kinds) == len(want_kinds) and [kk == "Linear" for kk in kinds] == [kk == "Linear" for kk in want_kinds] \
            and acts and acts != {"ReLU"}:
        return OTHER_ACTIVATION.format(name=sorted(acts - {"ReLU"})[0])
    if len(kinds) == len(want_kinds) + 1 and kinds[:-1] == want_kinds:
        return Hint("extra-after-last-layer", f"there is an extra nn.{kinds[-1]} after the last Linear: nothing comes after it.")
    return Hint("wrong-layer-sequence", f"for sizes {sizes} ({k + 1} sizes, so {k} Linear layers) the children must be "
                                        f"{', '.join(want_kinds)}: a ReLU between every two Linears and nothing after the last.")


def expect_mlp_structure(t, net, sizes, ctx):
    if isinstance(net, (SeenList, SeenTuple)):
        t.fail(ctx, RETURNED_LIST.format(what="list" if isinstance(net, SeenList) else "tuple", n=len(net)))
    if not isinstance(net, SeenModule):
        t.fail(ctx, f"It returned {said(net)}; build_mlp must return an nn.Sequential.")
    if MODULELIST in net.mro:
        t.fail(ctx, RETURNED_MODULELIST)
    if SEQUENTIAL not in net.mro:
        t.fail(ctx, NOT_SEQUENTIAL.format(name=net.class_name))
    problem = structure_problem(net, sizes)
    if problem:
        shown = ", ".join(f"{n}: {kind(c)}" for n, c in net.children.items()) or "none"
        t.fail(ctx, f"Its children are ({shown}).", likely=problem)
    for names in shared_names(net.children):
        what = kind(net.children[names[0]])
        text = SHARED_LINEAR if what == "Linear" else SHARED_RELU if what == "ReLU" else SHARED_OTHER
        t.fail(ctx, f"Its children {quoted(names)} are the same module object.", likely=text.format(names=quoted(names)))
    for i in range(len(sizes) - 1):
        child = net.children[str(2 * i)]
        weight, bias = child.parameters.get("weight"), child.parameters.get("bias")
        want = (sizes[i + 1], sizes[i])
        if weight is None or weight.shape != want:
            got = "missing" if weight is None else f"of shape {tuple(weight.shape)}"
            hint = REVERSED_LINEAR if weight is not None and weight.shape == want[::-1] else Hint(
                "wrong-layer-sizes", f"layer {i} (child '{2 * i}') must be nn.Linear(sizes[{i}], sizes[{i + 1}]) = "
                                     f"nn.Linear({sizes[i]}, {sizes[i + 1]}).")
            t.fail(ctx, f"Child '{2 * i}'.weight is {got}, expected shape {want}.", likely=hint)
        if bias is None:
            t.fail(ctx, f"Child '{2 * i}' has no bias.", likely=NO_BIAS)
    keys = [f"{2 * i}.{p}" for i in range(len(sizes) - 1) for p in ("weight", "bias")]
    if net.state_dict != keys:
        t.fail(ctx, f"Its state_dict() keys are {net.state_dict}, expected exactly {keys}.")


def mlp_mistakes(w, x, k):
    return [
        (mlp_reference(w, x, k, last=torch.relu), RELU_AFTER_LAST),
        (mlp_reference(w, x, k, act=lambda h: h), NO_RELU),
        (mlp_reference(w, x, k, act=torch.tanh), OTHER_ACTIVATION.format(name="Tanh")),
        (mlp_reference(w, x, k, act=torch.sigmoid), OTHER_ACTIVATION.format(name="Sigmoid")),
    ]


MLP_CASES = [  # (sizes, a batch of inputs)
    ([3, 5, 2], hand_batch(3)),
    ([4, 4, 4, 4], hand_batch(4)),              # square: [Linear(4, 4), ReLU()] * 3 fits
    ([2, 3], hand_batch(2)),                    # k = 1: one Linear, nothing else
    ([1, 6, 3, 1], hand_batch(1)),
    ([5, 2, 6, 3, 4], hand_batch(5, 1)),
    ([3, 3], hand_batch(3)),
]


@st.composite
def mlp_examples(draw):
    sizes = draw(st.lists(st.integers(1, 6), min_size=2, max_size=5))
    return sizes, draw(matrices(rows=(1, 3), cols=(sizes[0], sizes[0]), values=quarters(-10, 10)))


MLP_EXAMPLES = mlp_examples()


@A.exercise("build_mlp", "def build_mlp(sizes)", cases=MLP_CASES, strategy=MLP_EXAMPLES, tolerance=tolerances.LAYERS)
def build_mlp(t, case):
    sizes, rows = case
    sizes, k = list(sizes), len(sizes) - 1
    ctx = f"build_mlp({sizes}) on {t.where}"
    t.op("seed", seed_of(case), context=ctx)
    net = t.call(list(sizes), context=ctx, hints=MLP_HINTS)
    expect_mlp_structure(t, net, sizes, ctx)
    moved = t.moved(net, ctx)
    w = {}
    for key in (f"{2 * i}.{p}" for i in range(k) for p in ("weight", "bias")):
        child, _, name = key.partition(".")
        holder = moved.children.get(child)
        p = holder.parameters.get(name) if isinstance(holder, SeenModule) else None
        if not isinstance(p, SeenTensor):
            t.fail(ctx, f"after .to(), {key} is {said(p)}, no longer a parameter of the Sequential's child {child!r}.")
        said(p)
        if p.dtype != t.dtype or p.device.type != t.device.type or p.values is None:
            t.fail(ctx, f"after .to({t.device}) and .to({t.dtype}), {key} is {p.dtype_name} on {p.device}: "
                        "the layers must be registered children of the Sequential, so that .to() moves them.")
        w[key] = p.values.to(torch.float64)
    for x in (rows, rows[0]):
        local = torch.tensor(x, dtype=torch.float64)
        fctx = (f"{ctx}\nnet = build_mlp({sizes}), moved to {t.device} and {t.dtype}; net(x) with\n"
                f"  x = {fmt(x)}  (shape {tuple(local.shape)})\ncompared with the MLP computed from the "
                "net's own weights")
        out = t.call(t.tensor(x), target=net, context=fctx, hints=MLP_FORWARD_HINTS)
        t.expect(out, mlp_reference(w, local, k), fctx, mistakes=lambda local=local: mlp_mistakes(w, local, k),
                 what="net(x)")


# =============================================================================================
# repeated
# =============================================================================================

PLAIN_LIST = Hint("plain-python-container",
    "self.{attr} is a plain Python {what}: nn.Module does not look inside lists or dicts, so "
    "parameters() (and with it any optimiser), state_dict() and .to() never see its {n} "
    "layers. Wrap it in nn.{container}(...).")
SHARED_LAYER = Hint("shared-layer-object", "the layers {names} are one and the same nn.Linear object: `[nn.Linear(dim, dim)] * "
                                           "num_layers` repeats one module, so every position shares one weight matrix "
                                           "(parameters() lists it once). Create a new nn.Linear for each layer, e.g. in a loop "
                                           "or a list comprehension.")
LAYER_COUNT = Hint("wrong-layer-count",
    "self.layers holds {n} modules; Repeated({dim}, {num}) must hold num_layers = {num} nn.Linear layers.")
NOT_LINEAR = Hint("wrong-layer-type",
    "self.layers[{i}] is an nn.{name}: every layer is an nn.Linear(dim, dim) (the ReLU is applied in forward).")
RELU_NOT_LAST = Hint("no-relu-after-last",
    "no ReLU after the last layer: forward applies x = relu(layer(x)) for every layer, the "
    "last one too.")
ONE_RELU = Hint("relu-once-at-end", "the ReLU is applied once, at the end: forward applies x = relu(layer(x)) after every layer.")
NO_RELU_REPEATED = Hint("no-activation", "there is no ReLU: forward applies x = relu(layer(x)) for every layer.")
SAME_INPUT = Hint("layers-not-chained", "each layer is applied to the original x, so only the last one counts: feed each layer's "
                                        "output to the next (x = relu(layer(x)) updates x).")
FIRST_ONLY = Hint("only-first-layer", "only the first layer was applied: loop over every layer of self.layers.")
REVERSED = Hint("layers-reversed", "the layers were applied in reverse order: self.layers[0] comes first.")
RELU_BEFORE = Hint("relu-before-layer", "the ReLU is applied before each layer; it comes after: x = relu(layer(x)).")
RESIDUAL = Hint("residual-added",
    "the layer's output was added to x (a residual connection); forward is x = relu(layer(x)) without it.")
REPEATED_CONSTRUCT = {
    "before Module.__init__() call": Hint("super-init-not-called",
        "call super().__init__() first in __init__, before you assign any layer."),
    "unexpected keyword argument": Hint("wrong-argument-names",
        "Repeated's arguments are named dim and num_layers (keep the stub's signature)."),
    "positional argument": Hint("wrong-argument-count", "Repeated takes two arguments: Repeated(dim, num_layers)."),
}
REPEATED_FORWARD = {
    'missing the required "forward" function': Hint("modulelist-called",
        "an nn.ModuleList has no forward of its own: loop over it "
        "in Repeated.forward (and check that forward is spelled right)."),
    "is not callable": Hint("list-called", "self.layers is a list of layers: call each layer, not the list."),
}


def repeated_forward(w, x, act=torch.relu, last_act=True, feed=True, order=None, before=False, residual=False):
    n = len({k.split(".")[1] for k in w})
    layers = list(range(n)) if order is None else order
    h = x
    for pos, i in enumerate(layers):
        inp = h if feed else x
        if before:
            h = lin(act(inp), w[f"layers.{i}.weight"], w[f"layers.{i}.bias"])
            continue
        y = lin(inp, w[f"layers.{i}.weight"], w[f"layers.{i}.bias"])
        y = act(y) if last_act or pos < len(layers) - 1 else y
        h = inp + y if residual else y
    return h


def _repeated(w, x):
    return repeated_forward(w, x)


def repeated_mistakes(w, x):
    n = len({k.split(".")[1] for k in w})
    return Mistake.on([
        Mistake(lambda w, x: repeated_forward(w, x, last_act=False), RELU_NOT_LAST, slug=RELU_NOT_LAST.slug),
        Mistake(lambda w, x: torch.relu(repeated_forward(w, x, act=lambda h: h)), ONE_RELU, slug=ONE_RELU.slug),
        Mistake(lambda w, x: repeated_forward(w, x, act=lambda h: h), NO_RELU_REPEATED, slug=NO_RELU_REPEATED.slug),
        Mistake(lambda w, x: repeated_forward(w, x, feed=False), SAME_INPUT, when=lambda w, x: n > 1,
                slug=SAME_INPUT.slug),
        Mistake(lambda w, x: repeated_forward(w, x, order=[0]), FIRST_ONLY, when=lambda w, x: n > 1,
                slug=FIRST_ONLY.slug),
        Mistake(lambda w, x: repeated_forward(w, x, order=list(range(n))[::-1]), REVERSED, when=lambda w, x: n > 1,
                slug=REVERSED.slug),
        Mistake(lambda w, x: repeated_forward(w, x, before=True), RELU_BEFORE, slug=RELU_BEFORE.slug),
        Mistake(lambda w, x: repeated_forward(w, x, residual=True), RESIDUAL, slug=RESIDUAL.slug),
        Mistake(lambda w, x: repeated_forward(w, x, act=torch.tanh), "the activation is tanh, not ReLU.",
                slug="wrong-activation"),
        Mistake(lambda w, x: repeated_forward(w, x, act=torch.sigmoid), "the activation is a sigmoid, not ReLU.",
                slug="wrong-activation"),
    ], w, x)


def repeated_keys_problem(keys, expected):
    n_want = len(expected) // 2
    if not keys:
        return Hint("plain-python-container",
                    "the module holds no parameters at all: layers kept in a plain Python list (or dict) "
                    "are invisible to parameters(), state_dict() and .to(). Keep them in an "
                    "nn.ModuleList assigned to self.layers.")
    prefixes = sorted({k.split(".")[0] for k in keys})
    if prefixes != ["layers"]:
        return Hint("wrong-attribute-name",
                    f"the layers are registered under {', '.join(prefixes)}: the nn.ModuleList must be "
                    "assigned to self.layers, so that the keys are layers.0.weight, layers.0.bias, ...")
    indices = {k.split(".")[1] for k in keys}
    if any(len(k.split(".")) != 3 for k in keys):
        return Hint("nested-containers",
                    "the layers sit inside further containers (keys such as layers.0.0.weight): each item "
                    "of self.layers is one nn.Linear(dim, dim).")
    if len(indices) != n_want:
        return Hint("wrong-layer-count",
                    f"self.layers holds {len(indices)} layers with parameters; it must hold num_layers = {n_want}.")
    if not any(k.endswith(".bias") for k in keys):
        return Hint("linear-without-bias",
                    "the layers have no bias (bias=False): nn.Linear(dim, dim) has one by default; keep it.")
    return Hint("wrong-layers-held",
                "self.layers must hold num_layers nn.Linear(dim, dim) layers, and nothing else with parameters.")


def expect_container(t, seen, attr, container, ctx):
    """seen.<attr> is a registered container; a plain list or dict is named. Its description."""
    child = seen.children.get(attr)
    if child is not None:
        return child
    try:
        got = t.get(seen, attr)
    except (Raised, Missing):
        return None  # the keys check names what is there instead
    if isinstance(got, (SeenList, SeenTuple, SeenDict)):
        what = "dict" if isinstance(got, SeenDict) else "list" if isinstance(got, SeenList) else "tuple"
        t.fail(ctx, f"self.{attr} is a plain Python {what}, so the module holds no parameters.",
               likely=PLAIN_LIST.format(attr=attr, what=what, n=len(got), container=container))
    return None


def repeated_structure(t):
    dim, num = 3, 4
    ctx = f"Repeated({dim}, {num}) on {t.where}"
    t.op("seed", 7, context=ctx)
    seen = t.construct(dim, num, context=ctx, hints=REPEATED_CONSTRUCT)
    layers = expect_container(t, seen, "layers", "ModuleList", ctx)
    if not isinstance(layers, SeenModule):
        return
    for names in shared_names(layers.children):
        t.fail(ctx, f"self.layers[{names[0]}] and self.layers[{names[1]}] are the same module object.",
               likely=SHARED_LAYER.format(names=quoted(names)))
    if len(layers.children) != num:
        t.fail(ctx, LAYER_COUNT.format(n=len(layers.children), dim=dim, num=num))
    for i, child in enumerate(layers.children.values()):
        if not is_a(child, LINEAR_CLASS):
            t.fail(ctx, NOT_LINEAR.format(i=i, name=kind(child)))


REPEATED_SIZES = [(3, 4), (4, 1), (2, 3), (1, 2), (5, 2), (2, 5)]
REPEATED_BUILDS = [Build(sizes, 2000 + k, [batch, batch[0], [batch[:2], batch[2:]]],
                         names=("dim", "num_layers") if k == 2 else (), twice=k == 0, method=k < 2, gradients=k < 3)
                   for k, sizes in enumerate(REPEATED_SIZES) for batch in [hand_batch(sizes[0])]]


@st.composite
def repeated_examples(draw):
    dim, num = draw(st.integers(1, 5)), draw(st.integers(1, 4))
    return (dim, num), draw(matrices(rows=(1, 3), cols=(dim, dim), values=quarters(-10, 10)))


def repeated_example(example):
    sizes, rows = example
    return Build(tuple(sizes), seed_of(example), [signed_batch(rows)])


A.module_class(
    "repeated", "class Repeated(nn.Module)",
    cases=REPEATED_BUILDS, strategy=repeated_examples(), example=repeated_example,
    parameters=lambda dim, num: {f"layers.{i}.{p}": (dim, dim) if p == "weight" else (dim,)
                                 for i in range(num) for p in ("weight", "bias")},
    children=lambda dim, num: {"layers": MODULELIST},
    forward=_repeated, mistakes=repeated_mistakes, keys_problem=repeated_keys_problem,
    construct_hints=REPEATED_CONSTRUCT, forward_hints=REPEATED_FORWARD, before=repeated_structure,
    tolerance=tolerances.LAYERS, grad_tolerance=tolerances.SUMS,
)


# =============================================================================================
# multi_head
# =============================================================================================

# plain identifiers that are no attribute of nn.Module
HEAD_NAMES = ["cls", "box", "age", "score", "mask", "depth", "pose", "style", "label", "edge"]
assert not any(hasattr(torch.nn.Module, n) for n in HEAD_NAMES)

HEADS_ORDER = Hint("heads-sorted", "the heads are not in the order of the dict: nn.ModuleDict keeps the order its items "
                                   "come in (as a dict does); do not sort them.")
HEADS_ATTRIBUTES = Hint("heads-as-attributes",
    "the heads are registered as attributes of the module itself ({prefixes}): keep them in "
    "one nn.ModuleDict assigned to self.heads, so that the keys are heads.<name>.weight, ...")
UNKNOWN_HEAD = "forward(x, {head!r}) with a head name that is not in heads"
NO_KEYERROR = Hint("unknown-head-no-keyerror",
    "an unknown head must raise KeyError, as indexing the ModuleDict does (self.heads[head]); "
    "this returned {what} instead.")
ATTRIBUTE_ERROR = Hint("head-by-attribute", "getattr(self.heads, head) raises AttributeError for an unknown name; index the "
                                            "ModuleDict instead, self.heads[head], which raises KeyError.")
FIRST_HEAD = Hint("always-first-head", "this is the first head's output, whatever head was asked for: use self.heads[head].")
RELU_HEAD = Hint("activation-on-output", "a ReLU was applied to the head's output: forward returns self.heads[head](x) as it is.")
MULTI_CONSTRUCT = {
    "before Module.__init__() call": Hint("super-init-not-called",
        "call super().__init__() first in __init__, before you assign any layer."),
    "positional argument": Hint("wrong-argument-count", "MultiHead takes two arguments: MultiHead(in_features, heads)."),
    "unexpected keyword argument": Hint("wrong-argument-names",
        "MultiHead's arguments are named in_features and heads (keep the stub's signature)."),
}
MULTI_FORWARD = {
    "positional argument": Hint("wrong-forward-signature",
        "forward takes the input and the name of a head: def forward(self, x, head)."),
    "'str' object": Hint("head-name-as-layer", "head is the name of a head (a str): the layer is self.heads[head]."),
    "has no attribute": Hint("head-by-attribute", "index the ModuleDict with the head's name: self.heads[head]."),
}


def multi_parameters(i, heads):
    return {f"heads.{n}.{p}": (o, i) if p == "weight" else (o,) for n, o in heads.items() for p in ("weight", "bias")}


def _multi(w, x, head):
    return lin(x, w[f"heads.{head}.weight"], w[f"heads.{head}.bias"])


def multi_mistakes(w, x, head):
    first = next(iter(w)).split(".")[1]
    return [(_multi(w, x, first) if first != head else None, FIRST_HEAD),
            (torch.relu(_multi(w, x, head)), RELU_HEAD)]


def multi_keys_problem(keys, expected):
    if not keys:
        return Hint("plain-python-container",
                    "the module holds no parameters at all: heads kept in a plain Python dict are invisible "
                    "to parameters(), state_dict() and .to(). Keep them in an nn.ModuleDict assigned to self.heads.")
    if sorted(keys) == sorted(expected):
        return HEADS_ORDER
    prefixes = sorted({k.split(".")[0] for k in keys})
    if prefixes != ["heads"]:
        return HEADS_ATTRIBUTES.format(prefixes=", ".join(prefixes))
    return Hint("wrong-heads-held",
                "self.heads must hold one nn.Linear(in_features, out) per item of heads, under the head's "
                "name, and nothing else with parameters.")


def multi_shapes_problem(shapes, want, args):
    i, heads = args
    name = next((n for n in heads if shapes.get(f"heads.{n}.weight") == (i, heads[n]) != (heads[n], i)), None)
    if name is not None:
        return Hint("linear-args-reversed", "nn.Linear's arguments are (in_features, out_features): each head is "
                                            "nn.Linear(in_features, heads[name]).")
    return Hint("wrong-head-sizes", "each head is nn.Linear(in_features, out) with out = heads[name].")


def multi_structure(t):
    i, heads = 3, {"cls": 2, "box": 2, "age": 1}
    ctx = f"MultiHead({i}, {heads}) on {t.where}"
    t.op("seed", 11, context=ctx)
    seen = t.construct(i, dict(heads), context=ctx, hints=MULTI_CONSTRUCT)
    found = expect_container(t, seen, "heads", "ModuleDict", ctx)
    if not isinstance(found, SeenModule):
        return
    for names in shared_names(found.children):
        t.fail(ctx, f"self.heads[{names[0]!r}] and self.heads[{names[1]!r}] are the same module object.",
               likely=Hint("shared-layer-object", "each head needs an nn.Linear of its own (one created per item of "
                                                  "heads); a shared one gives every head the same weights."))


def multi_gradients(t):
    """Gradients reach the head that was asked for, and no other."""
    i, heads, head = 3, {"cls": 2, "box": 3, "age": 1}, "box"
    x = hand_batch(i)
    ctx = f"MultiHead({i}, {heads}) on {t.where}, then net(x, {head!r}).sum().backward() with\n  x = {fmt(x)}"
    t.op("seed", 13, context=ctx)
    seen = t.construct(i, dict(heads), context=ctx, hints=MULTI_CONSTRUCT)
    moved = t.moved(seen, ctx)
    out = t.call(t.tensor(x), head, target=seen, context=ctx, hints=MULTI_FORWARD)
    if not isinstance(out, SeenTensor) or not out.requires_grad:
        t.fail(ctx, "net(x, head) does not require grad, so no gradient can reach the head.",
               likely=Hint("output-detached", "forward detaches its result or runs under torch.no_grad(); return the "
                                              "head's output as it is."))
    t.backward(out, context=ctx)
    after = t.describe(seen)
    found = after.children.get("heads")
    layer = found.children.get(head) if isinstance(found, SeenModule) else None
    if not isinstance(layer, SeenModule):
        t.fail(ctx, f"self.heads[{head!r}] is missing after backward().")
    held = moved.children.get("heads")
    before = held.children.get(head) if isinstance(held, SeenModule) else None
    w = before.parameters if isinstance(before, SeenModule) else {}
    if not all(isinstance(w.get(k), SeenTensor) and w[k].values is not None for k in ("weight", "bias")):
        t.fail(ctx, f"self.heads[{head!r}] holds no weight and bias to check.")
    leaves = {k: w[k].values.to(torch.float64).requires_grad_(True) for k in ("weight", "bias")}
    lin(torch.tensor(x, dtype=torch.float64), leaves["weight"], leaves["bias"]).sum().backward()
    for name in ("weight", "bias"):
        p = layer.parameters.get(name)
        if p is None or p.grad is None:
            t.fail(ctx, f"No gradient reached heads.{head}.{name}.",
                   likely=Hint("registered-layer-unused", f"forward does not use the registered layer "
                                                          f"self.heads[{head!r}] (a copy, or a new layer made in forward)."))
        t.expect(p.grad, leaves[name].grad, ctx, what=f"heads.{head}.{name}.grad", rtol=1e-4, atol=1e-4)
    for other, module in found.children.items():
        if other != head and isinstance(module, SeenModule):
            grads = [p for p in module.parameters.values() if p is not None and p.grad is not None
                     and p.grad.values is not None and bool(p.grad.values.abs().sum() > 0)]
            if grads:
                t.fail(ctx, f"The head {other!r} got a gradient from net(x, {head!r}).",
                       likely=Hint("every-head-computed", "forward computes every head (or adds them up); it must "
                                                          "apply only self.heads[head]."))


def multi_after(t):
    multi_gradients(t)
    multi_unknown_head(t)


def multi_unknown_head(t):
    i, heads = 2, {"score": 3, "mask": 1}
    ctx = f"MultiHead({i}, {heads}) on {t.where}"
    t.op("seed", 12, context=ctx)
    seen = t.construct(i, dict(heads), context=ctx, hints=MULTI_CONSTRUCT)
    t.moved(seen, ctx)
    x = [[1.0, -2.0], [0.5, 3.0]]
    for head in ("pose", "Score"):
        hctx = f"{ctx}\n{UNKNOWN_HEAD.format(head=head)}, x = {fmt(x)}"
        got = t.attempt(t.tensor(x), head, target=seen, context=hctx)
        if isinstance(got, Raised):
            if got.is_a("KeyError"):
                continue
            if got.is_a("AttributeError"):
                t.fail(hctx, f"It raised AttributeError: {got.message.strip()}", likely=ATTRIBUTE_ERROR)
            t.fail(hctx, f"It raised {got.type_name}: {got.message.strip()}",
                   likely=Hint("unknown-head-no-keyerror", "an unknown head must raise KeyError, as self.heads[head] does."))
        t.fail(hctx, "It did not raise.", likely=NO_KEYERROR.format(what=said(got)))


MULTI_CASES = [(3, {"cls": 2, "box": 4}), (2, {"score": 1}), (4, {"mask": 3, "age": 1, "depth": 2}),
               (1, {"pose": 2, "style": 2}), (5, {"label": 5, "edge": 3, "cls": 1, "box": 2})]
MULTI_BUILDS = []
for _k, (_i, _heads) in enumerate(MULTI_CASES):
    _batch = hand_batch(_i)
    _names = list(_heads)
    MULTI_BUILDS.append(Build((_i, _heads), 3000 + _k,
                              [(_batch, _names[-1]), (_batch[0], _names[0]), ([_batch[:2], _batch[2:]], _names[len(_names) // 2])]
                              + [(_batch, n) for n in _names],
                              names=("in_features", "heads") if _k == 2 else (), twice=_k == 0, method=_k < 2))


@st.composite
def multi_examples(draw):
    i = draw(st.integers(1, 5))
    names = draw(st.lists(st.sampled_from(HEAD_NAMES), min_size=1, max_size=4, unique=True))
    outs = draw(st.lists(st.integers(1, 5), min_size=len(names), max_size=len(names)))
    head = draw(st.sampled_from(names))
    return i, tuple(zip(names, outs)), draw(matrices(rows=(1, 3), cols=(i, i), values=quarters(-10, 10))), head


def multi_example(example):
    i, pairs, rows, head = example
    return Build((i, {n: o for n, o in pairs}), seed_of(example), [(signed_batch(rows), head)])


A.module_class(
    "multi_head", "class MultiHead(nn.Module)",
    cases=MULTI_BUILDS, strategy=multi_examples(), example=multi_example,
    parameters=multi_parameters, children=lambda i, heads: {"heads": MODULEDICT}, keys_in_order=True,
    forward=_multi, mistakes=multi_mistakes, keys_problem=multi_keys_problem, shapes_problem=multi_shapes_problem,
    construct_hints=MULTI_CONSTRUCT, forward_hints=MULTI_FORWARD, before=multi_structure, after=multi_after,
    tolerance=tolerances.LAYERS, grad_tolerance=tolerances.SUMS,
)


# =============================================================================================
# named_sequential
# =============================================================================================

FORMS = {"dict": "a dict", "pairs": "a list of (name, module) tuples", "lists": "a list of [name, module] lists"}
NAMES_LOST = Hint("names-lost", "the names are lost: the modules were passed to nn.Sequential one by one (or by unpacking a "
                                "list, nn.Sequential(*modules)), and then Sequential names them by position, '0', '1', ... "
                                "Pass the names along: an OrderedDict of name -> module, or add_module(name, module).")
SORTED = Hint("names-sorted", "the names are sorted; the children must keep the order the layers come in (do not sort them).")
ORDER = Hint("order-changed", "the children are not in the order the layers come in.")
COPIED = Hint("modules-copied", "the child {name!r} is not the module that was passed in but another one (a copy, or a new "
                                "layer): the Sequential must hold the given modules themselves, so that training it trains them.")
RETURNED_MODULEDICT = Hint("moduledict-for-sequential",
    "It returned an nn.ModuleDict: it keeps the names, but it has no forward. "
    "named_sequential returns an nn.Sequential.")
NS_HINTS = {
    "is not a Module subclass": Hint("dict-passed-to-sequential",
        "nn.Sequential takes modules one by one, or a single OrderedDict of name -> "
        "module; a plain dict or a list is neither (and a dict that is not an "
        "OrderedDict is taken for a module)."),
    "object has no attribute 'items'": Hint("only-dict-form-handled",
        "layers may also be a list of (name, module) pairs, which has no "
        ".items(): handle both forms (dict(layers) or OrderedDict(layers) "
        "accepts either)."),
    "values to unpack": Hint("dict-iterated-as-pairs",
        "iterating over a dict gives its keys only, not (name, module) pairs: handle both "
        "forms (dict(layers) or OrderedDict(layers) accepts either)."),
    "unhashable type": Hint("only-tuple-pairs-handled", "layers may be a list of [name, module] lists as well as of tuples."),
    "got an unexpected keyword argument": Hint("wrong-signature", "named_sequential takes one argument, layers."),
}


def weights(i, o, salt):
    w = torch.tensor([[((3 * r + 5 * c + salt) % 7 - 3) * 0.25 for c in range(i)] for r in range(o)], dtype=torch.float64)
    b = torch.tensor([((2 * r + salt) % 5 - 2) * 0.5 for r in range(o)], dtype=torch.float64)
    return w, b


def linear_spec(i, o, salt):
    w, b = weights(i, o, salt)
    return Spec("linear", **{"in": i, "out": o, "bias": True, "weight": w, "bias_values": b})


def node_spec(node, salt):
    what = node[0]
    if what == "linear":
        return linear_spec(node[1], node[2], salt)
    if what == "relu":
        return RELU
    if what == "bn":
        return bn(node[1])
    if what == "block":  # a module of our own holding a Linear and a ReLU
        return Spec("module", children=[["fc", linear_spec(node[1], node[2], salt)], ["act", RELU]])
    raise ValueError(f"unknown node {what!r}")


NS_CASES = [  # (form, [(name, node or ("same", name))], inputs)
    ("dict", [("encoder", ("linear", 3, 4)), ("act", ("relu",)), ("head", ("linear", 4, 2))], hand_batch(3)),
    ("pairs", [("fc1", ("linear", 2, 3)), ("relu1", ("relu",)), ("fc2", ("linear", 3, 3)), ("relu2", ("relu",)),
               ("out", ("linear", 3, 1))], hand_batch(2)),
    ("lists", [("norm", ("bn", 3)), ("proj", ("linear", 3, 2))], hand_batch(3)),
    ("dict", [("only", ("linear", 2, 2))], hand_batch(2)),
    ("dict", [("zeta", ("linear", 2, 3)), ("alpha", ("relu",)), ("mid", ("linear", 3, 2))], hand_batch(2)),  # not sorted
    ("pairs", [("2", ("linear", 3, 3)), ("0", ("relu",)), ("1", ("linear", 3, 2))], hand_batch(3)),  # digit names
    ("dict", [("block", ("block", 2, 3)), ("out", ("linear", 3, 2))], hand_batch(2)),
    ("pairs", [("enc", ("linear", 3, 3)), ("act", ("relu",)), ("again", ("same", "enc"))], hand_batch(3)),  # shared
]

NS_NAMES = ["enc", "act", "hidden", "out", "norm", "block_1", "x", "2", "0", "dense", "z", "a"]


@st.composite
def ns_examples(draw):
    n = draw(st.integers(1, 5))
    names = draw(st.lists(st.sampled_from(NS_NAMES), min_size=n, max_size=n, unique=True))
    width = first = draw(st.integers(1, 4))
    nodes = []
    for _ in range(n):
        what = draw(st.sampled_from(["linear", "linear", "relu", "bn", "block"]))
        if what in ("linear", "block"):
            out = draw(st.integers(1, 4))
            nodes.append((what, width, out))
            width = out
        elif what == "bn":
            nodes.append(("bn", width))
        else:
            nodes.append(("relu",))
    form = draw(st.sampled_from(list(FORMS)))
    rows = draw(matrices(rows=(1, 2), cols=(first, first), values=quarters(-4, 4)))
    return form, tuple(zip(names, nodes)), signed_batch(rows)


def ns_describe(here, form):
    lines = [f"layers = {FORMS[form]}:"]
    first = {}
    for name, module in here:
        if id(module) in first:
            lines.append(f"  {name!r}: the same module as {first[id(module)]!r}")
        else:
            first[id(module)] = name
            lines.append(f"  {name!r}: " + repr(module).replace("\n", "\n    "))
    return "\n".join(lines)


@A.exercise("named_sequential", "def named_sequential(layers)", cases=NS_CASES, strategy=ns_examples(),
            tolerance=tolerances.LAYERS)
def named_sequential(t, case):
    form, entries, rows = case
    made, here = {}, {}
    for k, (name, node) in enumerate(entries):
        if node[0] == "same":
            made[name], here[name] = made[node[1]], here[node[1]]
        else:
            spec = node_spec(node, k)
            made[name], here[name] = t.make(spec), spec.here()
    names = [name for name, _ in entries]
    ctx = f"named_sequential(layers) on {t.where}, with\n" + ns_describe([(n, here[n]) for n in names], form)
    if form == "dict":
        arg = {n: made[n] for n in names}
    elif form == "pairs":
        arg = [(n, made[n]) for n in names]
    else:
        arg = [[n, made[n]] for n in names]
    net = t.call(arg, context=ctx, hints=NS_HINTS)
    if not isinstance(net, SeenModule):
        t.fail(ctx, f"It returned {said(net)}; named_sequential must return an nn.Sequential.")
    if MODULEDICT in net.mro:
        t.fail(ctx, RETURNED_MODULEDICT)
    if SEQUENTIAL not in net.mro:
        t.fail(ctx, f"It returned an nn.{net.class_name}, not an nn.Sequential.")
    got = list(net.children)
    if got != names:
        if got == [str(i) for i in range(len(names))]:
            hint = NAMES_LOST
        elif got == sorted(names) and sorted(got) == sorted(names):
            hint = SORTED
        elif sorted(got) == sorted(names):
            hint = ORDER
        else:
            hint = Hint("wrong-child-names", f"the children must be exactly the given names, {quoted(names)}, in that order.")
        t.fail(ctx, f"Its children are named {quoted(got) or '(none)'}, expected {quoted(names)}.", likely=hint)
    for name in names:
        if getattr(net.children[name], "ref", None) != made[name].ref:
            t.fail(ctx, f"Its child {name!r} is not the module given under {name!r}.", likely=COPIED.format(name=name))
    reference = torch.nn.Sequential()
    for name in names:
        reference.add_module(name, here[name])
    keys = list(reference.state_dict())
    if net.state_dict != keys:
        t.fail(ctx, f"Its state_dict() keys are {net.state_dict}, expected exactly {keys}.")
    t.moved(net, ctx)
    reference = reference.to(torch.float64)
    x = torch.tensor(rows, dtype=torch.float64)
    fctx = f"{ctx}\nthe returned Sequential, moved to {t.device} and {t.dtype}, called on\n  x = {fmt(rows)}"
    out = t.call(t.tensor(rows), target=net, context=fctx)
    with torch.no_grad():
        expected = reference(x)
    t.expect(out, expected, fctx, what="net(x)")

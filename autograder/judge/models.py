"""Models a judge asks a candidate to build, described for messages, and random model trees.

Specs (`autograder.protocol.fixtures`) for the modules exercises are checked on: `linear`,
`seq`, `mlist`, `mdict`, `holder` (a plain module holding parameters, buffers, plain tensors
and children), `same` (a module shared under two names), `frozen`, `tied` (one Parameter,
two owners), `RELU`, `bn`, `conv`. `spec.here()` builds the same model in the judge, where the
reference is computed.

`model_context` is the first lines of a message about a model: the call, where, the model's
repr, and what the repr does not show (sharing, tying, frozen parameters, buffers, parameters
set to None, plain tensor attributes). `MODEL_TREES` draws random model trees as plain data
(`example_model` turns one into a label and a spec), so that recorded examples compare equal.
"""

import torch
from hypothesis import strategies as st

from .channel import Spec
from .compare import fmt_shape


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


# A gallery of models with every feature that tells a right answer from a wrong one:
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
    """'call_text on <where>, with model = <label>:', the model's repr and the notes on it."""
    body = "\n".join("    " + line for line in repr(model).splitlines())
    lines = [f"{call_text} on {t.where}, with model = {label}:", body]
    lines += [f"  ({note})" for note in describe_model(model)]
    return "\n".join(lines)


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


# --- a plain module holding tensors of every kind, described in words ---------------------------

HELD_AS = {  # kind of tensor or submodule -> (the field of Spec("module") it goes in, in words)
    "parameter": ("parameters", "a parameter {name}"),
    "frozen": ("parameters", "a frozen parameter {name} (requires_grad=False)"),
    "none_parameter": ("parameters", "a parameter {name} = None"),
    "buffer": ("buffers", "a buffer {name}"),
    "non_persistent": ("buffers", "a buffer {name} (persistent=False)"),
    "none_buffer": ("buffers", "a buffer {name} = None"),
    "tensor": ("tensors", "a plain tensor attribute {name}"),
    "list": ("containers", "a list {name} of 2 tensors"),
    "child_linear": ("children", "a submodule {name} = nn.Linear({size}, 2)"),
    "child_module": ("children", "a submodule {name} holding a parameter weight, a buffer stat and a "
                                 "plain tensor scale"),
}


def values_for(size, start):
    return torch.arange(size, dtype=torch.float64) * 0.5 + start


def holding(t, layout):
    """A plain module holding `layout` ([(name, kind, size)], kinds as in HELD_AS), its tensors of the
    trial's dtype and on its device: (what it holds, in words; its Spec)."""
    fields = {"parameters": [], "buffers": [], "tensors": [], "containers": [], "children": []}
    for i, (name, kind, size) in enumerate(layout):
        field, tensor = HELD_AS[kind][0], t.tensor(values_for(size, i))
        if field in ("parameters", "buffers"):  # [name, tensor, requires_grad or persistent]
            entry = [name, None if kind.startswith("none") else tensor, kind not in ("frozen", "non_persistent")]
        elif kind == "tensor":
            entry = [name, tensor]
        elif kind == "list":
            entry = [name, [tensor, t.tensor(values_for(size, -i))]]
        elif kind == "child_linear":
            entry = [name, linear(size, 2)]
        else:
            entry = [name, Spec("module", parameters=[["weight", tensor, True]],
                                buffers=[["stat", t.tensor(values_for(2, 1)), True]],
                                tensors=[["scale", t.tensor(values_for(1, 3))]])]
        fields[field].append(entry)
    words = "; ".join(HELD_AS[kind][1].format(name=name, size=size) for name, kind, size in layout)
    return "a module holding " + (words or "nothing"), Spec("module", **fields)

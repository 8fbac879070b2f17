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

from ..declare import (
    LINEAR,
    MODEL_TREES,
    MODELS,
    RELU,
    Assignment,
    Build,
    Call,
    Hint,
    Mistake,
    Spec,
    TensorInput,
    answers,
    holder,
    linear,
    matrices,
    mdict,
    quarters,
    same,
    seq,
    st,
    tolerances,
)

A = Assignment("04_nn_module")


# =============================================================================================
# two_layer_net
# =============================================================================================

SUPER_HINT = Hint("no-super-init",
                  "__init__ must call super().__init__() before it assigns any layer: nn.Module's "
                  "own __init__ creates the dictionaries that register submodules and parameters.")
FORWARD_HINT = Hint("forward-misspelled",
                    "nn.Module found no method named `forward` in your class: check its spelling "
                    "and that it is indented inside the class (a method named `foward` or `Forward`, "
                    "or a forward defined outside the class, leaves nn.Module's default, which raises this).")
CONSTRUCT_HINTS = {
    "before Module.__init__() call": SUPER_HINT,
    "unexpected keyword argument": Hint("renamed-arguments", "TwoLayerNet's arguments are named in_features, "
                                        "hidden_features, out_features (keep the stub's signature)."),
    "positional argument": Hint("wrong-argument-count", "TwoLayerNet takes three sizes: TwoLayerNet(in_features, "
                                "hidden_features, out_features)."),
}
SHAPE_ERROR = Hint("wrong-order-or-reshape",
                   "a matrix product got operands whose sizes do not fit: the layers are applied in "
                   "another order than the statement's (fc1 first, in_features -> hidden_features, then "
                   "fc2), or x was reshaped or flattened before a layer, though nn.Linear acts on the "
                   "last dimension of any shape (the statement).")
FORWARD_HINTS = {
    'missing the required "forward" function': FORWARD_HINT,
    "cannot be multiplied": SHAPE_ERROR,
    "shape '[": Hint("needless-reshape", "a reshape or view of x does not fit every input (a single sample, more leading "
                     "dimensions, or a non-contiguous x): nn.Linear already acts on the last dimension "
                     "of any shape (the statement)."),
    "is invalid for input of size": Hint("needless-reshape", "a reshape or view of x does not fit every input: nn.Linear "
                                         "already acts on the last dimension of any shape (the "
                                         "statement)."),
    "view size is not compatible with input tensor's size and stride": Hint(
        "view-of-noncontiguous",
        "a view of x failed because x was not contiguous (a transpose or a slice): forward must "
        "accept any x of shape (..., in_features), and nn.Linear needs no reshape (the "
        "statement; 01_tensor_ops on view and reshape)."),
    "size mismatch": SHAPE_ERROR,
    "cannot reshape tensor of 0 elements": Hint(
        "needless-reshape",
        "a reshape or view with -1 cannot work out that size for an empty batch (0 elements): an "
        "empty batch (0, in_features) must give (0, out_features), and nn.Linear already acts on the "
        "last dimension of any shape (the statement)."),
    "stack expects a non-empty TensorList": Hint(
        "loop-over-samples",
        "torch.stack got an empty list: an empty batch (0, in_features) must give (0, out_features), "
        "and a loop over the samples finds none (the statement: x of shape (..., in_features); "
        "nn.Linear takes the whole batch at once)."),
}

NO_RELU = ("there is no ReLU between the layers: these are the outputs of the two Linear layers "
           "alone, which collapse into one linear map (the statement asks for a ReLU between fc1 "
           "and fc2).")
RELU_AFTER_FC2 = ("a ReLU is applied after fc2 too, so no output is negative: the statement's "
                  "output is fc2's, which may be negative.")
RELU_ONLY_AFTER = ("these outputs have the ReLU after fc2 instead of between the layers (the "
                   "statement).")
RELU_ON_INPUT = ("these outputs have the ReLU on the input x instead of between fc1 and fc2 "
                 "(the statement).")
SWAPPED_FORWARD = "these outputs come from the layers applied in the wrong order (fc2 first, then fc1)."
OTHER_ACTIVATION = "the activation between the layers is {name}, not ReLU (the statement)."
SOFTMAX = ("a softmax is applied to the output (each row sums to 1): the statement's output is "
           "fc2's as it is, with nothing after it.")


ONE_SAMPLE = ("a single input of shape (in_features,) gave an output with an extra batch dimension "
              "(do not add a batch dimension: the statement asks for (out_features,), and nn.Linear "
              "takes 1-D inputs as they are).")
FLATTENED = ("a 3-D input came back flattened to 2-D: nn.Linear acts on the last dimension of any "
             "shape, and the output keeps the leading dimensions (the statement).")


def _lin(x, w, b):
    return x @ w.T + b


def _net(w, x, act=torch.relu):
    return _lin(act(_lin(x, w["fc1.weight"], w["fc1.bias"])), w["fc2.weight"], w["fc2.bias"])


def _two_linears(w, x, act=lambda h: h, first="fc1", second="fc2"):
    return _lin(act(_lin(x, w[f"{first}.weight"], w[f"{first}.bias"])), w[f"{second}.weight"], w[f"{second}.bias"])


FORWARD_MISTAKES = [
    Mistake(lambda w, x: _two_linears(w, x), NO_RELU, slug="missing-relu"),
    Mistake(lambda w, x: torch.relu(_net(w, x)), RELU_AFTER_FC2, slug="relu-on-output"),
    Mistake(lambda w, x: torch.relu(_two_linears(w, x)), RELU_ONLY_AFTER, slug="relu-moved-to-output"),
    Mistake(lambda w, x: _two_linears(w, torch.relu(x)), RELU_ON_INPUT, slug="relu-on-input"),
    Mistake(lambda w, x: _two_linears(w, x, torch.relu, "fc2", "fc1"), SWAPPED_FORWARD, slug="layers-applied-reversed"),
    Mistake(lambda w, x: _net(w, x, torch.sigmoid), OTHER_ACTIVATION.format(name="a sigmoid"), slug="wrong-activation"),
    Mistake(lambda w, x: _net(w, x, torch.tanh), OTHER_ACTIVATION.format(name="tanh"), slug="wrong-activation"),
    Mistake(lambda w, x: _net(w, x, lambda h: torch.nn.functional.leaky_relu(h, 0.01)),
            OTHER_ACTIVATION.format(name="a leaky ReLU"), slug="wrong-activation"),
    Mistake(lambda w, x: torch.softmax(_net(w, x), dim=-1), SOFTMAX, slug="softmax-on-output"),
    Mistake(lambda w, x: _net(w, x[None]), ONE_SAMPLE, when=lambda w, x: x.dim() == 1, slug="batch-dim-added"),
    Mistake(lambda w, x: _net(w, x.reshape(-1, x.shape[-1])), FLATTENED, when=lambda w, x: x.dim() == 3,
            slug="leading-dims-flattened"),
]


def shapes_problem(shapes, want, sizes):
    i, h, o = sizes
    if shapes["fc1.weight"] == (o, h) and shapes["fc2.weight"] == (h, i):
        return Hint("fc1-fc2-swapped", "fc1 and fc2 are swapped: the layer registered as fc1 has fc2's sizes, and the "
                                       "other way round (the statement).")
    if shapes["fc1.weight"] == (i, h) or shapes["fc2.weight"] == (h, o):
        return Hint("linear-sizes-swapped", "a weight has its two sizes swapped: nn.Linear's arguments are (in_features, "
                                            "out_features), and its weight has shape (out_features, in_features).")
    return Hint("wrong-layer-sizes", f"the layers were built with other sizes: with these arguments fc1 maps {i} "
                                     f"features to {h} and fc2 maps {h} to {o} (the statement).")


def signed_batch(rows):
    """The rows and their negatives: every hidden unit then meets inputs of both signs."""
    return [list(r) for r in rows] + [[-v for v in r] for r in rows]


def hand_batch(n, rows=2):
    values = [[((3 * r + 5 * c) % 9 - 4) * 1.25 + 0.5 for c in range(n)] for r in range(rows)]
    return signed_batch(values)


@st.composite
def net_cases(draw):
    i, h, o = draw(st.integers(1, 6)), draw(st.integers(1, 6)), draw(st.integers(1, 6))
    x = draw(matrices(rows=(1, 3), cols=(i, i), values=quarters(-10, 10)))
    return (i, h, o), x


NET_CASES = net_cases()
ARGUMENTS = ("in_features", "hidden_features", "out_features")
# a batch, then one sample (in,) -> (out,), then (2, 2, in): any leading dimensions
# and, for two of them, an empty batch (0, in) -> (0, out): the contract's (..., in_features) allows it
NET_BUILDS = [Build(sizes, 1000 + k, [batch, batch[0], [batch[:2], batch[2:]]]
                    + ([torch.zeros(0, sizes[0])] if k in (0, 4) else []), names=ARGUMENTS if k == 4 else (),
                    twice=True, method=k < 2, gradients=k < 3)
              for k, sizes in enumerate([(3, 5, 2), (4, 4, 4), (2, 3, 2), (1, 1, 1), (5, 2, 3), (2, 6, 1)])
              for batch in [hand_batch(sizes[0])]]


def net_example(example):
    sizes, rows = example
    return Build(tuple(sizes), zlib.crc32(repr(example).encode()) % (2 ** 31), [signed_batch(rows)])


A.module_class(
    "two_layer_net", "class TwoLayerNet(nn.Module)",
    cases=NET_BUILDS, strategy=NET_CASES, example=net_example,
    parameters=lambda i, h, o: {"fc1.weight": (h, i), "fc1.bias": (h,), "fc2.weight": (o, h), "fc2.bias": (o,)},
    children=lambda *sizes: {"fc1": LINEAR, "fc2": LINEAR},
    forward=_net, mistakes=lambda w, x: Mistake.on(FORWARD_MISTAKES, w, x), shapes_problem=shapes_problem,
    construct_hints=CONSTRUCT_HINTS, forward_hints=FORWARD_HINTS,
    tolerance=tolerances.LAYERS, grad_tolerance=tolerances.SUMS,
)


# =============================================================================================
# count_parameters
# =============================================================================================

def _numel(params):
    return sum(p.numel() for p in params)


def _kept(params, trainable_only):
    return [p for p in params if p.requires_grad or not trainable_only]


SHARED_TWICE = Hint("shared-counted-twice",
                    "a shared parameter was counted once per name it has. parameters() yields each "
                    "Parameter once, however many submodules hold it; named_parameters("
                    "remove_duplicate=False), state_dict() or a walk over every submodule's own "
                    "parameters counts it again for each name.")
IGNORED_FLAG = Hint("trainable-only-ignored",
                    "trainable_only=True must leave out parameters with requires_grad=False (frozen "
                    "ones); this counted them.")
ALWAYS_TRAINABLE = Hint("frozen-left-out",
                        "with trainable_only=False (the default) every parameter counts, frozen ones "
                        "(requires_grad=False) too; this left them out.")
INVERTED = Hint("trainable-only-inverted",
                "the condition is inverted: trainable_only=True counts the parameters that require grad.")
FROZEN_ONLY = Hint("trainable-only-inverted",
                   "with trainable_only=False (the default) every parameter counts; this counted only "
                   "the frozen ones (requires_grad=False): is the condition inverted?")
STATE_DICT = Hint("counted-state-dict",
                  "this is the size of state_dict(): it holds buffers too (BatchNorm's running "
                  "statistics), which are not parameters, and repeats a shared parameter under each name "
                  "(section 2, state_dict; section 5).")
BUFFERS = Hint("buffers-counted",
               "buffers (module.buffers(), e.g. BatchNorm's running statistics) were counted; they are not parameters.")
TENSORS = Hint("counted-tensors-not-entries",
               "this counts parameter tensors, not their scalar entries: a (3, 4) weight holds 12 "
               "numbers (section 2, the entries of one parameter).")
MODULES = Hint("counted-modules", "this counts modules, not the scalar entries of their parameters (section 2).")
OWN_ONLY = Hint("root-params-only",
                "only the root's own parameters were counted: every submodule's were missed (section 2, "
                "the walks and their depth).")
ONE_LEVEL = Hint("one-level-only",
                 "only the parameters one level down were counted (the children's own parameters): "
                 "nested submodules were missed (section 2, the walks and their depth).")
FIRST_DIM = Hint("len-not-numel",
                 "this added the size of each parameter's first dimension (len(p)), not its number of "
                 "entries (section 2).")
NOTHING = Hint("nothing-counted",
               "nothing was counted: the condition that picks the parameters dropped them all (with "
               "trainable_only=False every parameter counts), or the count never reached the "
               "submodules (section 2).")
SUM_OF_SIZES = Hint("sizes-added-not-multiplied",
                    "the sizes of the dimensions were added; the number of entries is their product "
                    "(section 2).")
STORAGE = Hint("storage-size-counted",
               "this counts the elements of each parameter's storage, not of the parameter: a parameter "
               "that is a view (a slice, an expanded tensor) shows only part of its storage, or shows "
               "one stored element several times (section 2, the entries of one parameter; 01_tensor_ops "
               "on views).")


def _all_trainable(m):
    return all(p.requires_grad for p in m.parameters())


def _numel_of_storage(params):
    return sum(p.untyped_storage().nbytes() // p.element_size() for p in params)


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
    (lambda m, to: _numel_of_storage(_kept(m.parameters(), to)), STORAGE),
    (lambda m, to: 0, NOTHING),
]


def count_reference(model, trainable_only):
    return _numel(_kept(model.parameters(), trainable_only))


WHOLE_COUNT = answers.integer(
    "the count",
    tensor_hint=Hint("count-as-tensor", "the count came back as a tensor: numel() gives ints, and the contract asks for "
                                        "a Python int, not a tensor built from them or a sum of tensors."),
    float_hint="the count came back as a float: numel() gives ints, and a division or a float product turned it into a float",
    numpy_hint=("the count came back as a NumPy integer (NumPy's sum and prod give those); the "
                "contract asks for a Python int"))

def _grid(*shape):
    n = 1
    for s in shape:
        n *= s
    return torch.arange(float(n)).reshape(shape) * 0.25 - 1


# Parameters in every layout a tensor can have: not contiguous (a transpose), starting part-way
# into a larger storage (a slice), one stored row repeated (expanded, stride 0), 0-d and empty.
# A count that reads the storage, or that needs contiguous parameters (p.view(-1)), fails here.
VIEW_PARAMETERS = Spec("module", children=[["fc", linear(2, 2)]], parameters=[
    ["transposed", TensorInput(_grid(4, 3), view=(("transpose", 0, 1),)), True],
    ["sliced", TensorInput(_grid(5, 2), view=(("slice", 0, 1, None, None),)), False],
    ["expanded", TensorInput(_grid(1, 3), view=(("expand", [4, 3]),)), True],
    ["scalar", _grid(1).reshape(()), True],
    ["empty", torch.zeros(0, 3), True],
])

DEFAULT, TRAINABLE = Call(means=(False,)), Call(kwargs={"trainable_only": True}, means=(True,))
EVERY_WAY = [DEFAULT, TRAINABLE, Call((True,)), Call(kwargs={"trainable_only": False}, means=(False,))]

A.module_function(
    "count_parameters", "def count_parameters(module, trainable_only=False)",
    models=[(label, spec, EVERY_WAY if k % 4 == 0 else [DEFAULT, TRAINABLE]) for k, (label, spec) in enumerate(MODELS)]
    + [("parameters that are views (a transpose, a slice with a storage offset, an expanded tensor), "
        "a 0-d and an empty parameter", VIEW_PARAMETERS, [DEFAULT, TRAINABLE])],
    strategy=MODEL_TREES, calls=[DEFAULT, TRAINABLE],
    reference=count_reference, answer=WHOLE_COUNT, mistakes=COUNT_MISTAKES,
)


# =============================================================================================
# leaf_modules
# =============================================================================================

def _is_leaf(module):
    return next(iter(module.children()), None) is None


def leaves_reference(model):
    return [name for name, m in model.named_modules() if _is_leaf(m)]


CONTAINERS = Hint("containers-listed",
                  "every module was listed, containers too: a leaf is a module without children "
                  "(Exercise 3's statement; section 2).")
ROOT = Hint("root-never-listed",
            "the root (name '') counts only when it has no children: a model that is a single layer "
            "is its own only leaf, and a model with children is never a leaf.")
CHILDREN = Hint("one-level-only",
                "only the first level was searched (children() and named_children() go one level "
                "down): nested leaves such as '1.0' are missing (section 2, the walks and their depth).")
SHARED_LEAF = Hint("shared-listed-twice",
                   "a shared module was listed under each of its names; the statement lists it once, "
                   "under its first name, as named_modules() does by default (section 5, a module used "
                   "twice).")
PARAMETERS = Hint("leaf-by-parameters",
                  "the test for a leaf was 'has parameters': a leaf is a module without children, "
                  "with or without parameters (nn.ReLU, an empty nn.Sequential), and a module with "
                  "children is never a leaf even when it holds parameters of its own.")
BY_TYPE = Hint("leaf-by-type",
               "the test for a leaf was the module's type (not Sequential, ModuleList, ModuleDict): a "
               "custom module with children is not a leaf, and an empty container has no children, so "
               "it is one (Exercise 3's statement).")
QUALIFIED = Hint("short-names",
                 "these are the last parts of the names; return the qualified names as named_modules() "
                 "gives them ('1.0', not '0').")
ORDER = Hint("names-sorted", "the names are right but not in named_modules() order (do not sort them).")
ROOT_ALWAYS = Hint("root-always-listed", "the root (name '') was listed though it has children: it counts only when it has none.")
NONE_CHILD = Hint("none-child-counted",
                  "a module whose child slots all hold None (a submodule set to None, as "
                  "register_module(name, None) makes it) has no children: children() and named_modules() "
                  "skip None, so it is a leaf; the private _modules dict still lists the empty slot.")
NAME_BASED = Hint("leaf-by-names",
                  "a module whose only child is shared with another part of the model (so that "
                  "named_modules() lists the child under its first name only) still has a child, and "
                  "is no leaf: the names in the list do not say which modules have children.")


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
    (lambda m: [n for n, x in m.named_modules() if not x._modules], NONE_CHILD),
    (lambda m: [n for n, _ in m.named_children()], CHILDREN),
    (lambda m: [n for n, c in m.named_children() if _is_leaf(c)], CHILDREN),
    (lambda m: [n for n, x in m.named_modules(remove_duplicate=False) if _is_leaf(x)], SHARED_LEAF),
    (_by_params, PARAMETERS),
    (_leaves_with_params, PARAMETERS),
    (lambda m: [n.rsplit(".", 1)[-1] for n in leaves_reference(m)], QUALIFIED),
    (lambda m: sorted(leaves_reference(m)), ORDER),
]


NAMES = answers.name_list("as named_modules() gives them (section 2, qualified names)")


# the nested model first: it tells one level from the whole tree, and the root from containers
LEAF_MODELS = [MODELS[3], MODELS[2]] + MODELS[:2] + MODELS[4:] + [
    ("an empty Sequential between layers", seq(linear(2, 2), seq(), RELU)),
    ("a root with parameters of its own and children",
     holder(children=[("inner", seq(linear(2, 2), RELU))], parameters=[("scale", (2,), True)])),
    ("a ModuleDict of Sequentials", mdict(a=seq(linear(1, 2), RELU), b=seq(seq(RELU)), c=linear(2, 1))),
    ("a module whose only child slot holds None, and one with a None slot beside a child",
     holder(children=[("inner", holder(children=[("gone", None)])), ("fc", linear(2, 2)),
                      ("block", holder(children=[("skip", None), ("act", RELU)]))])),
    ("a module whose only child is shared from elsewhere",
     holder(children=[("x", linear(2, 2)), ("wrap", holder(children=[("inner", same("x"))]))])),
]

A.module_function(
    "leaf_modules", "def leaf_modules(model)",
    models=LEAF_MODELS, strategy=MODEL_TREES,
    reference=leaves_reference, answer=NAMES, mistakes=LEAF_MISTAKES,
)

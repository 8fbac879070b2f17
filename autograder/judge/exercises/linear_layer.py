"""03_linear_layer: linear_forward, my_linear (class MyLinear), load_from_nn_linear.

linear_forward is a function of tensors, checked on hand-picked inputs (square and non-square
weights, a 1-D input, several batch dimensions, a weight that is a transpose view, as
`lin.weight.T` is), again in the other layouts a tensor can have, and on property-based ones;
it must leave its inputs as they were.

my_linear looks at the module the student's class builds: exactly two registered parameters W
(input_dim, output_dim) and b (output_dim,), the ints input_dim and output_dim, values drawn
from U(-k, k) with k = 1/sqrt(input_dim) (not uninitialised memory, not zeros, not another
scale, different for different seeds), `.to()` moving both, `forward` and `__call__` on batched
inputs, and gradients reaching W and b.

load_from_nn_linear (defined in terms of MyLinear: it is checked with the student's own class)
must copy an nn.Linear's weight, transposed, and bias into the very same Parameter objects,
still requiring grad, sharing no memory with the reference (whose weight may be a transpose
view, not contiguous), zeros for a reference without bias, and raise ValueError when the
sizes do not match. On the CPU the reference's weight and bias live in memory the judge maps
(`judge.shared`): whether the call modified them, and whether my's parameters share that
memory (values the judge writes there after the call show in my(x)), are seen from outside.
"""

import math
import random

import torch

from ..compare import likely_line, slug_of
from ..declare import (
    Assignment,
    CheckFailed,
    Hint,
    Mistake,
    Raised,
    SeenModule,
    SeenTensor,
    Spec,
    Tampering,
    TensorInput,
    call_text,
    fmt,
    fmt_shape,
    matrices,
    near_name,
    quarters,
    said,
    shaped,
    shares_memory,
    st,
    tolerances,
)

A = Assignment("03_linear_layer")


# =============================================================================================
# linear_forward
# =============================================================================================

TRANSPOSED_W = Hint(
    "transposed-weight",
    "you multiplied by W.T (F.linear(x, W, b) does that too): here W already has "
    "shape (in, out), so x @ W needs no transpose. nn.Linear stores its weight as "
    "(out, in), which is why it computes x @ weight.T.")
NO_BIAS = Hint(
    "missing-bias",
    "you left out the bias: every output adds its own b[j] (b has shape (out,), one entry per output; "
    "section 1 of the notebook).")
FLATTENED = Hint(
    "flattened-batch-dims",
    "the batch dimensions were flattened into one: the result must keep x's leading "
    "dimensions, shape (..., out), each row of `in` numbers mapped on its own (section 1, "
    "A batch of samples).")
SQUEEZED = Hint(
    "squeeze-dropped-dim",
    "a squeeze() removed a dimension of size 1: keep the shape (..., out), even when "
    "out or a batch size is 1.")
BIAS_COLUMN = Hint(
    "bias-as-column",
    "b was added as a column (b[:, None] or b.reshape(-1, 1)): it has one entry per "
    "output, so it lines up with the last dimension of x @ W, not with the rows "
    "(01_tensor_ops, broadcasting).")
SHAPE_MISMATCH = Hint(
    "transposed-weight",
    "x @ W needs x's last dimension (in) to equal W's first: W has shape (in, out) "
    "here. Did you transpose W (nn.Linear's (out, in) layout) or write W @ x?")
MATRIX_ONLY = Hint(
    "matrix-only-product",
    "torch.mm and torch.addmm take 2-D matrices only, but x may have any number of "
    "leading dimensions (or none): section 1, A batch of samples, shows the product "
    "that takes them all.")
NOT_CONTIGUOUS = Hint(
    "view-on-noncontiguous",
    "view() fails on a tensor that is not contiguous, such as a transpose (x here, "
    "or a weight W = lin.weight.T): the layer itself needs no reshaping at all "
    "(01_tensor_ops on view and reshape; section 1 on batches).")
ELEMENTWISE = Hint(
    "elementwise-not-matmul",
    "the shapes did not broadcast: the layer is the matrix product x @ W, of shape "
    "(..., out), plus b, of shape (out,). * multiplies entry by entry, and W @ x "
    "multiplies in the wrong order.")
ONE_BATCH_DIM = Hint(
    "assumed-one-batch-dim",
    "x may be a single sample of shape (in,), or have several leading dimensions: "
    "a loop over the rows of x assumes exactly one (section 1, A batch of samples).")

LINEAR_FORWARD_HINTS = {
    "cannot be multiplied": SHAPE_MISMATCH,
    "size mismatch": SHAPE_MISMATCH,
    "must be a matrix": MATRIX_ONLY,
    "view size is not compatible": NOT_CONTIGUOUS,
    "must match the size": ELEMENTWISE,
    "same device": Hint("tensor-made-on-cpu",
                        "a tensor made inside the function landed on the CPU while the inputs are on "
                        "another device (a new tensor goes where its device= says; the CPU by default)."),
    "at least 1D": ONE_BATCH_DIM,
}

CHANGED_INPUT = Hint(
    "modified-input",
    "linear_forward changed its input {name} (an in-place operation such as "
    "{name}.add_(...) or {name} += ...): the exercise's Aliasing asks for a new tensor, "
    "the inputs left as they were.")

# (x, W, b) with x (..., in), W (in, out), b (out,); each arrives again transposed (W = lin.weight.T
# is a transpose view), at an offset, and expanded where its values repeat (see `layouts`)
LINEAR_FORWARD_CASES = [
    ([[1.0, 2.0, -1.0], [0.5, 0.0, 2.0]], [[1.0, -1.0], [2.0, 0.5], [0.0, 3.0]], [0.5, -2.0]),
    ([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0], [0.0, 1.0, -2.0]],                        # square: in == out == batch
     [[1.0, 2.0, 0.0], [-1.0, 0.5, 1.0], [2.0, 0.0, -1.0]], [1.0, -2.0, 3.0]),
    ([1.0, -2.0, 0.5, 3.0], [[1.0, 0.0], [2.0, 1.0], [-1.0, 0.5], [0.0, -2.0]], [0.25, 1.0]),  # 1-D x
    ([[[1.0, 2.0], [3.0, -1.0], [0.5, 0.5]], [[-2.0, 1.0], [0.0, 0.0], [1.0, 4.0]]],             # (2, 3, 2)
     [[1.0, -1.0, 2.0, 0.5], [0.5, 2.0, -1.0, 1.0]], [1.0, 0.0, -1.0, 2.0]),
    ([[2.0]], [[-1.5]], [0.5]),                                                      # 1 x 1
    ([[[1.0, 2.0, -1.0]], [[0.0, 1.0, 3.0]]], [[2.0], [-1.0], [0.5]], [1.0]),        # (2, 1, 3) -> (2, 1, 1)
    ([[1.0, -1.0], [2.0, 0.5], [0.0, 3.0], [1.5, -2.0], [-1.0, 1.0]],
     [[1.0, 2.0, -1.0], [0.5, 0.0, 3.0]], [0.0, 1.0, -0.5]),
    ([[[1.0, -1.0, 0.5], [2.0, 0.5, 1.0], [0.0, 3.0, -2.0]],                        # x (2, 3, 3)
      [[1.5, -2.0, 0.0], [-1.0, 1.0, 2.5], [0.5, 0.5, -0.5]]],
     [[1.0, 0.5], [-1.0, 2.0], [0.5, 0.0]], [2.0, -1.0]),
    ([[1.0, -2.0, 0.5], [1.0, -2.0, 0.5]], [[1.0, -1.0], [1.0, -1.0], [1.0, -1.0]],   # repeated values: x, W and b
     [0.5, 0.5]),                                                                     # arrive expanded (stride 0) too
]


@st.composite
def linear_inputs(draw):
    """(x, W, b) as nested lists: x (..., in) with 0 to 3 leading dimensions, W (in, out), b (out,)."""
    n_in, n_out = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    batch = draw(st.lists(st.integers(1, 3), min_size=0, max_size=3))
    x = draw(shaped((*batch, n_in), quarters(-4, 4)))
    w = draw(matrices(shape=(n_in, n_out), values=quarters(-4, 4)))
    b = draw(st.lists(quarters(-4, 4), min_size=n_out, max_size=n_out))
    return x, w, b


LINEAR_INPUTS = linear_inputs()

FORWARD_MISTAKES = [  # typical wrong forward passes, of x (..., in), W (in, out), b (out,)
    Mistake(lambda x, W, b: x @ W.T + b, TRANSPOSED_W, when=lambda x, W, b: W.shape[0] == W.shape[1],
            slug=TRANSPOSED_W.slug),
    Mistake(lambda x, W, b: x @ W, NO_BIAS, slug=NO_BIAS.slug),
    Mistake(lambda x, W, b: x.reshape(-1, W.shape[0]) @ W + b, FLATTENED, when=lambda x, W, b: x.dim() != 2,
            slug=FLATTENED.slug),
    Mistake(lambda x, W, b: (x @ W + b).squeeze(), SQUEEZED, when=lambda x, W, b: 1 in (x @ W + b).shape,
            slug=SQUEEZED.slug),
    Mistake(lambda x, W, b: x @ W + b[:, None], BIAS_COLUMN, slug=BIAS_COLUMN.slug),
    Mistake(lambda x, W, b: x @ W - b, "you subtracted b; the layer adds it: x @ W + b.", slug="subtracted-bias"),
]


def left_alone(name):
    """What it means when linear_forward's input `name` changed (see `Trial.expect_untouched`)."""
    changed = CHANGED_INPUT.format(name=name)
    return {"values": changed, "version": changed}


A.tensor_function(
    "linear_forward", "def linear_forward(x, W, b)", cases=LINEAR_FORWARD_CASES, strategy=LINEAR_INPUTS,
    reference=lambda x, W, b: x @ W + b, mistakes=FORWARD_MISTAKES, raises=LINEAR_FORWARD_HINTS,
    tolerance=tolerances.COPIES, untouched={0: left_alone("x"), 1: left_alone("W"), 2: left_alone("b")},
)


# =============================================================================================
# my_linear
# =============================================================================================

SUPER_FIRST = Hint(
    "super-init-not-first",
    "a Parameter (or a Module) was assigned before nn.Module's own set-up ran: nn.Module "
    "needs super().__init__() first in __init__, where it makes the tables that register "
    "parameters and submodules. Plain ints may come before it (section 3).")
PLAIN_TENSORS = Hint(
    "plain-tensor-parameters",
    "W and b are plain tensors, not nn.Parameter: module.parameters() does not list "
    "them, so an optimiser built from it trains nothing, and .to(device) leaves them "
    "behind (section 4, A plain tensor is not a parameter).")
OUT_IN = Hint(
    "weight-out-in-layout",
    "W has shape (output_dim, input_dim), nn.Linear's layout for its weight. MyLinear's W is "
    "(input_dim, output_dim), so that forward computes x @ W + b with no transpose.")
OWN_PARAMETERS = Hint(
    "wrapped-nn-linear",
    "MyLinear must hold its own two parameters W and b, not a submodule such as an "
    "nn.Linear (section 4 makes parameters of a module's own).")
FORWARD_MISSING = Hint(
    "forward-misnamed",
    "nn.Module's __call__ runs a method named exactly `forward`: it is missing or "
    "misspelt (foward, Forward, ...).")
UNINITIALISED = Hint(
    "uninitialised-memory",
    "torch.FloatTensor(n, m) and torch.empty(n, m) return uninitialised memory: the "
    "tensor holds whatever bytes were there before, not values drawn from U(-k, k), "
    "k = 1/sqrt(input_dim) (section 4, Uninitialised memory).")
NO_GRAD = Hint(
    "output-detached",
    "the output does not depend on W and b through autograd, so training could not update "
    "them: forward used .data, .detach(), torch.no_grad() or copied values into a new tensor "
    "(torch.tensor(...)), and autograd records nothing through those (02_autograd).")
MOVED_HINT = Hint(
    "tensor-not-moved",
    "forward uses a tensor that .to(device) did not move: a plain tensor attribute, or a "
    "tensor made in forward on the CPU (section 4, A plain tensor is not a parameter).")
FORWARD_CHANGED = Hint(
    "params-changed-in-forward",
    "calling the module changed {name}: forward must only compute, never "
    "create, replace or modify the parameters (those belong in __init__).")
NO_GRADIENT = Hint(NO_GRAD.slug, "after out.sum().backward(), {name}.grad is None: no gradient reached {name}."
                   + likely_line(NO_GRAD))

CONSTRUCT_HINTS = {
    "before Module.__init__() call": SUPER_FIRST,
    "unexpected keyword argument": Hint("wrong-argument-names", "MyLinear's two arguments are named input_dim and output_dim."),
    "required positional argument": Hint("missing-defaults", "the arguments have defaults: MyLinear(input_dim=3, output_dim=2)."),
    "cannot assign": PLAIN_TENSORS,
    "has no attribute": Hint("attribute-name-typo", "an attribute is read before it was set, or under another name (a typo?)."),
}
FORWARD_HINTS = {
    'missing the required "forward" function': FORWARD_MISSING,
    "cannot be multiplied": Hint("transposed-weight",
                                 "x has shape (..., input_dim) and W (input_dim, output_dim), but the "
                                 "product met them in another order: a transposed W, or W stored "
                                 "(output_dim, input_dim)?"),
    "must be a matrix": MATRIX_ONLY,
    "same device": MOVED_HINT,
    "expected m1 and m2 to have the same dtype": MOVED_HINT,
    "expected both": MOVED_HINT,
    "has no attribute": Hint("attribute-name-typo",
                             "forward reads an attribute that __init__ did not set (a typo in its name?)."),
}

NOT_DEFINED = ("MyLinear is not defined: the solution cell of my_linear must define "
               "`class MyLinear(nn.Module)` (with this exact name).")


def construct(t, ctx, *args, **kwargs):
    """The student's MyLinear(*args, **kwargs), as the candidate describes it."""
    cls = t.beside("MyLinear")
    if cls is None:
        t.fail(ctx, NOT_DEFINED, mistake="not-defined")
    return t.call(*args, target=cls, context=ctx, hints=CONSTRUCT_HINTS, **kwargs)


def structure_problem(m, n_in, n_out):
    """None when `m` (described) is a module with exactly the parameters W (n_in, n_out) and b
    (n_out,), floating, requiring grad; else what is wrong with it."""
    if not isinstance(m, SeenModule):
        made = f"a tensor of shape {fmt_shape(m.shape)}" if isinstance(m, SeenTensor) else said(m)  # a subclass too
        return Hint("not-a-module", f"it should create an nn.Module, but it made {made}. MyLinear must be a class that "
                                    "subclasses nn.Module.")
    named = [name for name, _ in m.named_parameters]
    plain = [name for name in m.tensor_attributes if name in ("W", "b")]
    if any("." in name for name in named):
        return Hint(OWN_PARAMETERS.slug, f"its parameters are {', '.join(named)}. {OWN_PARAMETERS}")
    if plain:
        return Hint(PLAIN_TENSORS.slug,
                    f"it has no parameter {' or '.join(plain)}, but a plain tensor attribute of that name. {PLAIN_TENSORS}")
    if m.parameters.get("b", 0) is None or m.parameters.get("W", 0) is None:
        return Hint("parameter-is-none", "a parameter is None: W and b must both hold tensors.")
    if sorted(named) != ["W", "b"]:
        hint = names_hint(m, named)
        text = f"its parameters are {', '.join(named) or 'none'}; it must have exactly two, named W and b." + hint
        return Hint(hint.slug, text) if slug_of(hint) else text
    W, b = m.parameters["W"], m.parameters["b"]
    for name, p in (("W", W), ("b", b)):
        if p.kind != "parameter":
            return Hint("not-a-parameter", f"{name} is a {p.type_name}, not an nn.Parameter.")
    if W.shape != (n_in, n_out):
        if W.shape == (n_out, n_in):
            return Hint(OUT_IN.slug, f"W has shape {fmt_shape(W.shape)}, expected {fmt_shape((n_in, n_out))}. {OUT_IN}")
        return f"W has shape {fmt_shape(W.shape)}, expected (input_dim, output_dim) = {fmt_shape((n_in, n_out))}."
    if b.shape != (n_out,):
        extra = (" b is one number per output, a 1-D tensor: torch.rand(output_dim), not "
                 "(1, output_dim) or (output_dim, 1).") if b.numel == n_out else ""
        text = f"b has shape {fmt_shape(b.shape)}, expected (output_dim,) = {fmt_shape((n_out,))}.{extra}"
        return Hint("bias-not-1d", text) if extra else text
    for name, p in (("W", W), ("b", b)):
        if p.dtype is None or not p.dtype.is_floating_point:
            return Hint("integer-parameters",
                        f"{name} has dtype {p.dtype_name}; parameters must be floating point (float32 by default).")
        if not p.requires_grad:
            return Hint("frozen-parameter",
                        f"{name} does not require grad, so no gradient reaches it and training would not "
                        "change it: nn.Parameter(tensor) requires grad by default; do not pass "
                        "requires_grad=False.")
    return None


def names_hint(m, named):
    """Why the parameters are not named W and b, when it shows."""
    if not named and m.tensor_attributes:
        return Hint(PLAIN_TENSORS.slug, f" It has plain tensor attributes {', '.join(m.tensor_attributes)}. {PLAIN_TENSORS}")
    if {"weight", "bias"} & set(named):
        return Hint("nn-linear-names", " nn.Linear calls them weight and bias; the contract names MyLinear's W and b.")
    for want in ("W", "b"):
        near = near_name(want, named)
        if want not in named and near:
            return Hint("parameter-name-typo", f" Names are case-sensitive and exact: {near!r} is not {want!r}.")
    return ""


def build(t, args, kwargs, n_in, n_out):
    """MyLinear(*args, **kwargs), which must make the module the contract says: (it, ctx)."""
    ctx = t.context(call=call_text("MyLinear", *args, **kwargs))
    m = construct(t, ctx, *args, **kwargs)
    problem = structure_problem(m, n_in, n_out)
    if problem:
        t.fail(ctx, problem)
    t.expect_int_attribute(m, "input_dim", n_in, ctx)
    t.expect_int_attribute(m, "output_dim", n_out, ctx)
    return m, ctx


def scale_guess(bound, n_in, n_out):
    """What a student's scale probably was, from the largest |value| seen (None: no idea)."""
    guesses = [
        (1 / math.sqrt(n_out), Hint("fan-in-from-output-dim",
                                    "k computed from output_dim (1/sqrt(output_dim)). nn.init.kaiming_uniform_ "
                                    "(nn.Linear's own recipe) reads the fan-in from dimension 1 of the tensor, "
                                    "which for W (input_dim, output_dim) is output_dim: it fits nn.Linear's "
                                    "(out, in) weight, not W")),
        (1.0, Hint("unscaled-uniform", "no scale at all: U(-1, 1)")),
        (1 / n_in, Hint("k-not-square-rooted", "k = 1/input_dim instead of 1/sqrt(input_dim)")),
        (math.sqrt(6 / (n_in + n_out)), Hint("xavier-bound", "Xavier/Glorot's bound (xavier_uniform_), sqrt(6/(in+out))")),
        (math.sqrt(n_in), Hint("k-not-inverted", "sqrt(input_dim) instead of 1/sqrt(input_dim)")),
        (2 / math.sqrt(n_in), Hint("range-not-centred", "U(-2k, 2k): torch.rand(...) * 2 * k without subtracting k")),
        (0.5 / math.sqrt(n_in), Hint("half-range", "U(-k/2, k/2)")),
    ]
    for value, text in guesses:
        if abs(bound / value - 1) < 0.03:
            return text
    return None


def init_problem(name, values, n_in, n_out, many):
    """None if `values` look drawn from U(-k, k), k = 1/sqrt(n_in); else what the first symptom
    found says. `many`: enough values (thousands) for statistics; otherwise only range, sign and
    spread."""
    k, v = 1 / math.sqrt(n_in), values.detach().to(torch.float64).flatten()
    a, shown = v.abs(), fmt(v[:6])
    bound, outside = a.max().item(), (a > k * (1 + 1e-6)).double().mean().item()
    guess = scale_guess(bound * (1 + 2 / v.numel()), n_in, n_out) if many else None
    quarters_of_range = torch.histc(v, bins=4, min=-k, max=k) / v.numel()
    spread = ", ".join(f"{q:.0%}" for q in quarters_of_range.tolist())
    rule = (f"Expected values from U(-k, k) with k = 1/sqrt(input_dim) = 1/sqrt({n_in}) = {k:.4g}, "
            f"as nn.Linear draws them")
    seen = f"{name} ranges over [{v.min().item():.4g}, {v.max().item():.4g}]"
    why_not_zeros = ("the contract draws b from U(-k, k) too, as nn.Linear does" if name == "b" else
                     "the contract draws W at random, as nn.Linear does (section 4 on why weights "
                     "start random)")
    symptoms = [  # (found?, what it says), in this order
        (not torch.isfinite(v).all(),
         Hint(UNINITIALISED.slug, f"{name} holds NaN or infinite values ({shown} ...). {UNINITIALISED}")),
        ((v == 0).all(),
         Hint("zero-init",
              f"{name} is all zeros: {why_not_zeros}. Expected values from U(-k, k), k = 1/sqrt(input_dim). "
              f"(If you never filled it: uninitialised memory, from torch.FloatTensor(n, m) or "
              f"torch.empty, often reads as zeros.)")),
        ((a > 1e3).any() or ((a > 0) & (a < 1e-30)).any(),
         Hint(UNINITIALISED.slug, f"{name} holds garbage ({shown} ...): memory left uninitialised. {UNINITIALISED}")),
        ((v == v[0]).all(),
         Hint("constant-init",
              f"every entry of {name} is {fmt(v[0].item())}: a constant, not values drawn at random "
              f"(or memory left uninitialised, holding leftovers). Expected values drawn from U(-k, k), "
              f"k = 1/sqrt(input_dim) = {k:.4g}.")),
        (v.min() >= 0,
         Hint("one-sided-init-range",
              f"{seen}: no negative values. {rule}. torch.rand draws from U(0, 1), which has none "
              "(section 4, Hint 2 of the exercise).")),
        (outside > 0 and guess,
         guess and Hint(guess.slug, f"{seen}: {outside:.0%} of its values lie outside [-k, k]. {rule}."
                        + likely_line(f"{guess}."))),
        (outside > 0,
         Hint("wrong-init-range",
              f"{seen}: {outside:.0%} of its values lie outside [-k, k]. {rule}. torch.randn draws "
              "from a normal distribution (unbounded), torch.rand from U(0, 1) (section 4, How "
              "nn.Linear initialises its weights).")),
        (v.max() <= 0, Hint("one-sided-init-range", f"{seen}: no positive values. {rule}.")),
        (many and bound < 0.97 * k,
         Hint(guess.slug, f"{seen}, well inside [-k, k]: the scale is too small. {rule}." + likely_line(f"{guess}."))
         if guess else Hint("init-scale-too-small", f"{seen}, well inside [-k, k]: the scale is too small. {rule}.")),
        (many and ((quarters_of_range < 0.19).any() or (quarters_of_range > 0.31).any()),
         Hint("not-uniform-init",
              f"{name}'s values are not spread evenly over [-k, k]: the four quarters of the "
              f"range hold {spread} of them (about 25% each for U(-k, k)). {rule}.")),
        (not many and bound < 0.3 * k,
         Hint("init-scale-too-small", f"{seen}, far inside [-k, k]: the scale is too small. {rule}.")),
    ]
    return next((says for found, says in symptoms if found), None)


# (input_dim, output_dim): thousands of weights; in != out, in > out and in < out
INIT_SHAPES = [(100, 30), (25, 120)]
# (arguments, keyword arguments, input_dim, output_dim)
CONSTRUCTIONS = [((), {}, 3, 2), ((4, 3), {}, 4, 3), ((2, 5), {}, 2, 5), ((), {"input_dim": 5, "output_dim": 4}, 5, 4),
                 ((1, 1), {}, 1, 1), ((3, 3), {}, 3, 3)]


def construction(t):
    """How MyLinear is built and initialised does not depend on the trial: checked on the CPU in float32 only."""
    if t.device.type == "cpu" and t.dtype == torch.float32:
        for args, kwargs, n_in, n_out in CONSTRUCTIONS:
            build(t, args, kwargs, n_in, n_out)
        for n_in, n_out in INIT_SHAPES:
            check_init(t, n_in, n_out)


def check_init(t, n_in, n_out):
    """Values from U(-k, k), not uninitialised memory, different for different seeds."""
    drawn = {}
    for seed in (1, 2):
        t.op("seed", seed)
        t.op("uninitialised_reads_nan", True)
        try:
            m, ctx = build(t, (n_in, n_out), {}, n_in, n_out)
        finally:
            t.op("uninitialised_reads_nan", False)
        ctx += f" (after torch.manual_seed({seed}))"
        for name, many in (("W", True), ("b", False)):
            problem = init_problem(name, m.parameters[name].values, n_in, n_out, many)
            if problem:
                t.fail(ctx, problem)
        drawn[seed] = m.parameters
    for name in ("W", "b"):
        if torch.equal(drawn[1][name].values, drawn[2][name].values):
            t.fail(ctx, f"{name} is the same after torch.manual_seed(1) and torch.manual_seed(2): it "
                        f"is not drawn at random.",
                   likely=Hint(UNINITIALISED.slug, f"memory left uninitialised (torch.FloatTensor(n, m), "
                                                   f"torch.empty), or a fixed pattern. {UNINITIALISED}"))


# (input_dim, output_dim, input shapes): x (..., input_dim) with 0, 1 and 2 leading dimensions
FORWARD_CASES = [
    (4, 3, [(2, 4), (4,), (2, 3, 4), (1, 4)]),
    (3, 3, [(3, 3), (2, 1, 3)]),          # square: a transposed W fits the shapes
    (2, 5, [(5, 2), (2,)]),
    (1, 1, [(3, 1), (1, 1)]),
]


@st.composite
def forward_examples(draw):
    """(input_dim, output_dim, x as nested lists of shape (..., input_dim), a seed)."""
    n_in, n_out = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    batch = draw(st.lists(st.integers(1, 3), min_size=0, max_size=2))
    x = draw(shaped((*batch, n_in), quarters(-4, 4)))
    return n_in, n_out, x, draw(st.integers(0, 1000))


FORWARD_EXAMPLES = forward_examples()


def x_values(shape, salt=0):
    """Inputs of `shape` with distinct entries, multiples of 1/4 in [-4, 4]."""
    n = math.prod(shape)
    flat = [((7 * i + 3 * salt) % 33 - 16) / 4 for i in range(n)]
    return torch.tensor(flat, dtype=torch.float64).reshape(shape)


def expect_forward(t, m, x, both=True):
    """m(x) (and m.forward(x)) equal x @ W + b, with the module's own W and b, and leave them as they were."""
    W, b = (m.parameters[name].values.to(torch.float64) for name in ("W", "b"))
    xs = t.tensor(x)
    ctx = t.context(call="module(x)", x=x) + "\n  (W and b: the module's own parameters)"
    calls = [(m, ctx), ((m, "forward"), ctx.replace("module(x)", "module.forward(x)", 1))]
    outs = []
    for target, call_ctx in calls if both else calls[:1]:
        outs.append(t.call(xs, target=target, context=call_ctx, hints=FORWARD_HINTS))
        t.expect_parameters_kept(m, ("W", "b"), call_ctx, FORWARD_CHANGED)
        t.expect(outs[-1], x @ W + b, call_ctx, mistakes=lambda: Mistake.on(FORWARD_MISTAKES, x, W, b))
    return outs[0]


def expect_gradients(t, m, out, x, n_in, n_out):
    """The output is differentiable with respect to W and b: sum(out) gives the known gradients."""
    ctx = t.context(call=f"out = MyLinear({n_in}, {n_out})(x)", x=x)
    t.backward(out, context=ctx, what="out.sum().backward()", hints={"": NO_GRAD})  # any error: the likely mistake
    rows = x.reshape(-1, n_in)
    t.expect_grads(m, {"W": rows.sum(0)[:, None].expand(-1, n_out),
                       "b": torch.full((n_out,), float(len(rows)), dtype=torch.float64)}, ctx, NO_GRADIENT)


def moved_module(t, n_in, n_out, seed=None):
    """MyLinear(n_in, n_out) (after torch.manual_seed(seed)), checked, then moved to the trial's device and dtype."""
    if seed is not None:
        t.op("seed", seed)
    m, ctx = build(t, (n_in, n_out), {}, n_in, n_out)
    return t.moved_parameters(m, ("W", "b"), ctx, PLAIN_TENSORS)


@A.exercise("my_linear", "class MyLinear(nn.Module)", cases=FORWARD_CASES, strategy=FORWARD_EXAMPLES,
            before=construction, tolerance=tolerances.COPIES)
def my_linear(t, case):
    if len(case) == 4:  # drawn: (input_dim, output_dim, x, seed)
        n_in, n_out, x, seed = case
        expect_forward(t, moved_module(t, n_in, n_out, seed), torch.tensor(x, dtype=torch.float64), both=False)
        return
    n_in, n_out, shapes = case
    m = moved_module(t, n_in, n_out, seed=10 * n_in + n_out)
    for salt, shape in enumerate(shapes):
        expect_forward(t, m, x_values(shape, salt))
    fresh = moved_module(t, n_in, n_out)  # the generator goes on from m's seed
    x = x_values(shapes[0], 5)
    expect_gradients(t, fresh, expect_forward(t, fresh, x, both=False), x, n_in, n_out)


# =============================================================================================
# load_from_nn_linear
# =============================================================================================

REPLACED = Hint(
    "replaced-parameter",
    "my.W and my.b must stay the same Parameter objects (an optimiser built from "
    "my.parameters() before the call holds those): you replaced them, as my.W = "
    "nn.Parameter(...) does (section 5, Copying weights from one layout to the other).")
NO_TRANSPOSE = Hint(
    "weight-not-transposed",
    "you copied ref.weight without transposing it: nn.Linear stores its weight as (out, "
    "in) and computes x @ weight.T + bias, while my.W is (in, out) (section 5).")
RESHAPED = Hint(
    "reshape-not-transpose",
    "you reshaped (or viewed) ref.weight to (in, out): that keeps the entries in their "
    "memory order, which is not a transpose (01_tensor_ops on reshape; section 5).")
SHARED = Hint(
    "shares-memory",
    "my's parameters share memory with ref's: a later change to ref (training it, say) would "
    "change my too. `my.W.data = ref.weight.T` makes W a view of ref's weight, and so does "
    ".contiguous() of a tensor that already is (section 5, Copying weights from one layout "
    "to the other).")
OUTSIDE_NO_GRAD = Hint(
    "copy-outside-no-grad",
    "my.W is a leaf that requires grad, and autograd forbids writing into it in "
    "place while it records, outside torch.no_grad() (section 5, Copying weights "
    "from one layout to the other).")
SIZE_CHECK = Hint(
    "missing-size-check",
    "the exercise's Errors: sizes that do not match raise ValueError, before anything "
    "is changed. ref's sizes are ref.in_features and ref.out_features, my's are "
    "my.input_dim and my.output_dim.")

LOAD_HINTS = {
    "a leaf Variable that requires grad": OUTSIDE_NO_GRAD,
    "must match the size": NO_TRANSPOSE,
    "cannot assign": Hint("assigned-plain-tensor",
                          "my.W must stay an nn.Parameter: assigning a plain tensor to it is refused "
                          "(section 8, Common errors; section 5, Copying weights)."),
    "must be Tensor, not NoneType": Hint("bias-none-not-handled",
                                         "ref.bias is None when nn.Linear was made with bias=False, and "
                                         "then my.b must become zeros (the exercise's Effect)."),
    "'NoneType' object has no attribute": Hint("bias-none-not-handled",
                                               "ref.bias is None when nn.Linear was made with "
                                               "bias=False, and then my.b must become zeros."),
    "Error(s) in loading state_dict": Hint("state-dict-keys-differ",
                                           "nn.Linear's state_dict keys are weight and bias, MyLinear's "
                                           "are W and b; and the weight needs a transpose."),
}

KEEPS_DTYPE = "(my's dtype): my's parameters keep their dtype and device when values are copied into them."
ZEROS_DTYPE = ("(my's dtype). torch.zeros(n) is float32 on the CPU whatever my is: a new tensor does "
               "not take my's dtype and device, the existing parameter has them.")
BIAS_KEPT = Hint("bias-none-not-handled", "ref has no bias (ref.bias is None): my.b must become zeros, not keep its values.")
SIZES_MATCH = "But these sizes match: ref.weight is (out, in) = {ref}, my.W is (in, out) = {my}."
SIZE_CHECK_UNTRANSPOSED = Hint(
    "size-check-untransposed",
    "comparing ref.weight.shape with my.W.shape, which differ by a transpose "
    "when the sizes match.")


def fresh_pair(t, n_in, n_out, weight, bias, my_dims=None, transposed=False):
    """(my, ref, ctx): the student's MyLinear and an nn.Linear with these values, both moved to
    the trial's device and dtype; `transposed`: ref.weight is not contiguous (its values stored
    (in, out) and seen through .T, as after `ref.weight = nn.Parameter(W.T)`)."""
    my_in, my_out = my_dims or (n_in, n_out)
    ref_text = f"nn.Linear({n_in}, {n_out}{', bias=False' if bias is None else ''})"
    layout = ", not contiguous: a transpose of an (in, out) tensor" if transposed else ""
    ctx = (t.context(call="load_from_nn_linear(my, ref)") + f", my = MyLinear({my_in}, {my_out}), ref = {ref_text}"
           f"\n  ref.weight = {fmt(weight)}  (shape {fmt_shape(weight.shape)}{layout})"
           f"\n  ref.bias = {fmt(bias) if bias is not None else 'None'}")
    t.op("seed", 7 * my_in + my_out)
    build_ctx = t.context(call=f"MyLinear({my_in}, {my_out})")
    my = construct(t, build_ctx, my_in, my_out)
    problem = structure_problem(my, my_in, my_out)
    if problem:
        t.fail(ctx, f"load_from_nn_linear is checked with your own MyLinear, and MyLinear({my_in}, "
                    f"{my_out}) is not right yet: {problem} Fix my_linear first.")
    my = t.moved_parameters(my, ("W", "b"), build_ctx, PLAIN_TENSORS)
    ref_weight, ref_bias = weight, bias
    if t.device.type == "cpu":  # ref's weight and bias in memory the judge maps (`judge.shared`)
        ref_weight = (TensorInput(weight.T.contiguous().to(t.dtype), view=[("transpose", 0, 1)], share=True)
                      if transposed else TensorInput(weight.to(t.dtype), share=True))
        ref_bias = None if bias is None else TensorInput(bias.to(t.dtype), share=True)
    made = t.make(Spec("linear", **{"in": n_in, "out": n_out, "bias": bias is not None, "weight": ref_weight,
                                    "bias_values": ref_bias, "weight_transposed": transposed}))
    ref = t.moved(made, ctx)
    ref.shared = made.shared or {}
    return my, ref, ctx


def check_load(t, n_in, n_out, weight, bias, transposed=False):
    """load_from_nn_linear(my, ref) for an nn.Linear(n_in, n_out) with these values (bias None:
    bias=False; `transposed`: a weight that is not contiguous)."""
    weight = torch.as_tensor(weight, dtype=torch.float64)
    bias = None if bias is None else torch.as_tensor(bias, dtype=torch.float64)
    my, ref, ctx = fresh_pair(t, n_in, n_out, weight, bias, transposed=transposed)
    answer = t.attempt(my, ref, context=ctx, after=True)
    if isinstance(answer, Raised) and answer.is_a("ValueError"):
        t.fail(ctx, f"It raised {answer.type_name}: {answer.message.strip()}\n"
                    + SIZES_MATCH.format(ref=fmt_shape(weight.shape), my=fmt_shape(my.parameters["W"].shape)),
               likely=SIZE_CHECK_UNTRANSPOSED)
    if isinstance(answer, Raised):
        said_ = t.raised_message(answer, ctx, LOAD_HINTS)
        raise CheckFailed(said_, slug_of(said_))
    result, (mine, theirs) = answer
    if not isinstance(result, SeenModule) or result.ref != my.ref:
        what = "another module, not my" if isinstance(result, SeenModule) else said(result)
        t.fail(ctx, f"It returned {what}: load_from_nn_linear copies into my, then returns my.", mistake="returned-not-my")
    for name in ("W", "b"):
        p = mine.parameters.get(name)
        if p is None:
            t.fail(ctx, f"my.{name} is gone (or None) after the call: it must stay the same Parameter, "
                        f"and hold zeros for a reference without bias.", mistake="parameter-removed")
        if p.ref != my.parameters[name].ref:
            t.fail(ctx, f"my.{name} is a different object after the call. {REPLACED}", mistake=REPLACED.slug)
        if not p.requires_grad or not p.is_leaf or p.grad_fn is not None:
            t.fail(ctx, f"after the call my.{name} has requires_grad={p.requires_grad}, is_leaf={p.is_leaf}"
                        f": it must still be a leaf that requires grad, so that it can be trained.",
                   likely=Hint("requires-grad-left-off", f"switching requires_grad off to copy outside no_grad (and "
                                                         f"not back on); {OUTSIDE_NO_GRAD}"))
    W_before, b_before = (my.parameters[name].values.to(torch.float64) for name in ("W", "b"))
    t.expect(mine.parameters["W"], weight.T, ctx, what="my.W after the call", dtype_reason=KEEPS_DTYPE, mistakes=[
        (weight if n_in == n_out else None, NO_TRANSPOSE), (weight.reshape(n_in, n_out), RESHAPED),
        (W_before, Hint("nothing-copied", "my.W was not changed by the call."))])
    if bias is None:
        b, b_unchanged, b_dtype = torch.zeros(n_out, dtype=torch.float64), BIAS_KEPT, ZEROS_DTYPE
    else:
        b, b_unchanged, b_dtype = bias, Hint("nothing-copied", "my.b was not changed by the call."), KEEPS_DTYPE
    t.expect(mine.parameters["b"], b, ctx, what="my.b after the call", dtype_reason=b_dtype,
             mistakes=[(b_before, b_unchanged)])
    for name in ("W", "b"):
        for ref_name, theirs_p in theirs.parameters.items():
            if shares_memory(mine.parameters[name], theirs_p):
                t.fail(ctx, f"my.{name} shares memory with ref.{ref_name} (the same storage). {SHARED}",
                       mistake=SHARED.slug)
    for field, ref_name in (("weight", "weight"), ("bias_values", "bias")):  # the judge's own memory first
        memory = ref.shared.get(field)
        if memory is not None and memory.changed():
            t.fail(ctx, f"ref.{ref_name} changed: load_from_nn_linear must read ref, never modify it (the call "
                        f"wrote into its memory).\n  before: {fmt(memory.before())}\n  after:  {fmt(memory.now())}",
                   mistake="modified-ref")
    ref_weight = theirs.parameters.get("weight")
    if ref_weight is None or ref_weight.values is None or ref_weight.shape != tuple(weight.shape) \
            or not torch.equal(ref_weight.values.to(torch.float64), weight):
        t.fail(ctx, "ref.weight changed: load_from_nn_linear must read ref, never modify it.", mistake="modified-ref")
    for shape in ((2, n_in), (n_in,)):
        x = x_values(shape, n_out)
        x_ctx = t.context(call="my(x) after load_from_nn_linear(my, ref)", x=x) + "\n" + ctx.split("\n", 1)[0]
        xs = t.tensor(x, layout=False)  # an input of MyLinear's forward, not of load_from_nn_linear
        out = t.call(xs, target=mine, context=x_ctx, hints=FORWARD_HINTS)
        t.expect(out, x @ weight.T + b, x_ctx, what="my(x), which must equal ref(x),")
    expect_no_sharing(t, ref, mine, ctx, x_values((2, n_in), n_out), weight, b)


def expect_no_sharing(t, ref, mine, ctx, x, weight, b):
    """my shares no memory with ref, judged from outside: the judge writes values of its own
    choosing into ref's weight (then bias) memory, calls my(x), and puts the values back. A copy
    is unaffected; a parameter on ref's memory shows the write in my(x). The candidate's
    description of storages (checked before) can be rewritten by student code; forward computes
    with the memory itself, so hiding it means computing with a copy, which is solving it."""
    chance = random.SystemRandom()
    xs = t.tensor(x, layout=False)
    x_ctx = t.context(call="my(x) after load_from_nn_linear(my, ref)", x=x) + "\n" + ctx.split("\n", 1)[0]
    for field, ref_name, my_name in (("weight", "weight", "W"), ("bias_values", "bias", "b")):
        memory = ref.shared.get(field)
        if memory is None:
            continue
        for _ in range(20):  # other values, which move my(x) well beyond the tolerance
            delta = torch.tensor([chance.choice((-1, 1)) * chance.randint(4, 32) / 4
                                  for _ in range(memory.base.numel())], dtype=torch.float64)
            delta = delta.reshape(weight.shape if field == "weight" else b.shape)
            moved = x @ delta.T if field == "weight" else delta.expand(x.shape[0], -1)
            if moved.abs().max() >= 1:
                break
        original = weight if field == "weight" else b
        memory.overwrite(original + delta)
        try:
            out = t.call(xs, target=mine, context=x_ctx, hints=FORWARD_HINTS)
        finally:
            memory.restore()
        try:
            t.expect(out, x @ weight.T + b, x_ctx, what="my(x)")
        except Tampering:
            raise
        except CheckFailed:
            t.fail(ctx, f"my.{my_name} shares memory with ref.{ref_name}: after the call the judge wrote other "
                        f"values into ref.{ref_name}'s memory, and my(x) changed with them (a copy would not). "
                        f"{SHARED}", mistake=SHARED.slug)


def check_mismatch(t, my_dims, ref_dims, with_bias):
    """load_from_nn_linear(my, ref) for sizes that do not match: it must raise ValueError."""
    n_in, n_out = ref_dims
    weight = x_values((n_out, n_in), 1)
    bias = x_values((n_out,), 2) if with_bias else None
    my, ref, ctx = fresh_pair(t, n_in, n_out, weight, bias, my_dims=my_dims)
    answer = t.attempt(my, ref, context=ctx)
    if isinstance(answer, Raised) and answer.is_a("ValueError"):
        return
    if isinstance(answer, Raised):
        t.fail(ctx, f"It raised {answer.type_name}: {answer.message.strip()}\nThe sizes do not match, and the "
                    f"contract asks for a ValueError: {SIZE_CHECK}", mistake=SIZE_CHECK.slug)
    W = t.describe(my).parameters.get("W")
    extra = ""
    if ref_dims == my_dims[::-1] and W is not None and W.values is not None and torch.equal(
            W.values.to(torch.float64), weight.to(W.values.dtype).to(torch.float64)):
        extra = (f" It copied ref.weight as it is: ref.weight has shape (out, in) = "
                 f"{fmt_shape(weight.shape)}, the shape of my.W, only because the sizes are swapped. "
                 f"{NO_TRANSPOSE}")
    t.fail(ctx, f"It returned {said(answer)} without raising ValueError, but the sizes do not "
                f"match: my is MyLinear{tuple(my_dims)}, ref is nn.Linear{tuple(ref_dims)}.{extra} {SIZE_CHECK}",
           mistake=NO_TRANSPOSE.slug if extra else SIZE_CHECK.slug)


# (my's sizes, ref's sizes, bias?): every way the sizes can fail to match
MISMATCHES = [
    ((3, 2), (4, 2), True),    # in differs
    ((3, 2), (3, 4), True),    # out differs
    ((3, 2), (2, 3), True),    # swapped: ref.weight has my.W's shape, untransposed
    ((2, 2), (2, 3), False),   # no bias, out differs
    ((4, 1), (1, 4), True),    # swapped, with a dimension of 1
]
# (in, out, weight (out, in), bias (out,) or None, weight not contiguous?): non-square both ways, square
# (a missing transpose is silent), ones; an nn.Linear may hold a weight that is not contiguous (one
# assigned as nn.Parameter(W.T)), whose .T is contiguous already: .contiguous() of it copies nothing
LOAD_CASES = [(n_in, n_out, x_values((n_out, n_in), n_in), x_values((n_out,), n_out + 1) if with_bias else None,
               transposed)
              for n_in, n_out, with_bias, transposed in [
                  (4, 3, True, False), (3, 3, True, False), (2, 5, True, False), (1, 1, True, False),
                  (3, 2, False, False), (3, 3, False, False), (1, 4, True, False), (4, 3, True, True),
                  (3, 3, False, True)]]


@st.composite
def linear_layers(draw):
    """(input_dim, output_dim, weight (out, in), bias (out,) or None, weight not contiguous?) of an nn.Linear."""
    n_in, n_out = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    weight = draw(matrices(shape=(n_out, n_in), values=quarters(-4, 4)))
    has_bias = draw(st.booleans())
    bias = draw(st.lists(quarters(-4, 4), min_size=n_out, max_size=n_out)) if has_bias else None
    return n_in, n_out, weight, bias, draw(st.booleans())


LINEAR_LAYERS = linear_layers()


@A.exercise("load_from_nn_linear", "def load_from_nn_linear(my, ref)", depends=("my_linear",),
            cases=LOAD_CASES + MISMATCHES, strategy=LINEAR_LAYERS, tolerance=tolerances.COPIES)
def load_from_nn_linear(t, case):
    if isinstance(case[0], tuple):  # (my's sizes, ref's sizes, bias?)
        check_mismatch(t, *case)
    else:
        check_load(t, *case)

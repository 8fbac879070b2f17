"""03_linear_layer: linear_forward, my_linear (class MyLinear), load_from_nn_linear.

linear_forward is a function of tensors, checked on hand-picked inputs (square and non-square
weights, a 1-D input, several batch dimensions, a weight that is a transpose view, as
`lin.weight.T` is) and on property-based ones.

my_linear looks at the module the student's class builds: exactly two registered parameters W
(input_dim, output_dim) and b (output_dim,), the ints input_dim and output_dim, values drawn
from U(-k, k) with k = 1/sqrt(input_dim) (not uninitialised memory, not zeros, not another
scale, different for different seeds), `.to()` moving both, `forward` and `__call__` on batched
inputs, and gradients reaching W and b.

load_from_nn_linear (defined in terms of MyLinear: it is checked with the student's own class)
must copy an nn.Linear's weight, transposed, and bias into the very same Parameter objects,
still requiring grad, sharing no memory with the reference, zeros for a reference without
bias, and raise ValueError when the sizes do not match.
"""

import difflib
import math

import torch
from hypothesis import strategies as st

from ..channel import Missing, Raised, Spec
from ..compare import CheckFailed, fmt, fmt_shape, same_device
from ..declare import Assignment, Mistake
from ..properties import matrices, quarters
from ..seen import SeenModule, SeenTensor

A = Assignment("03_linear_layer")

F32 = (1e-5, 1e-5)
TOLERANCE = {torch.float32: F32, torch.float64: (1e-9, 1e-12)}


def kind_of(value):
    """What a candidate's answer is, in a few words, for a message."""
    if value is None:
        return "None"
    if isinstance(value, SeenTensor):
        return f"a tensor of shape {fmt_shape(value.shape)}"
    name = getattr(value, "type_name", type(value).__name__)
    return f"a {str(name).rsplit('.', 1)[-1]}"


# =============================================================================================
# linear_forward
# =============================================================================================

TRANSPOSED_W = ("you multiplied by W.T (F.linear(x, W, b) does that too): here W already has "
                "shape (in, out), so x @ W needs no transpose. nn.Linear stores its weight as "
                "(out, in), which is why it computes x @ weight.T.")
NO_BIAS = "you left out the bias: add b (shape (out,)), which broadcasts over the batch."
FLATTENED = ("the batch dimensions were flattened into one: the result must keep x's leading "
             "dimensions, shape (..., out). x @ W works on any number of them (so does "
             "torch.matmul); reshape back if you flattened.")
SQUEEZED = ("a squeeze() removed a dimension of size 1: keep the shape (..., out), even when "
            "out or a batch size is 1.")
BIAS_COLUMN = ("b was added as a column (b[:, None] or b.reshape(-1, 1)): it has one entry per "
               "output, so it must line up with the last dimension of x @ W; add b as it is.")
SHAPE_MISMATCH = ("x @ W needs x's last dimension (in) to equal W's first: W has shape (in, out) "
                  "here. Did you transpose W (nn.Linear's (out, in) layout) or write W @ x?")
MATRIX_ONLY = ("torch.mm and torch.addmm take 2-D matrices only, but x may have any number of "
               "leading dimensions (or none): use x @ W (torch.matmul), which handles them.")
NOT_CONTIGUOUS = ("view() fails on a tensor that is not contiguous, such as a transpose (x here, "
                  "or a weight W = lin.weight.T): use reshape, or x @ W directly, which needs no "
                  "reshaping at all.")
ELEMENTWISE = ("the shapes did not broadcast: the layer is the matrix product x @ W, of shape "
               "(..., out), plus b, of shape (out,). * multiplies entry by entry, and W @ x "
               "multiplies in the wrong order.")
ONE_BATCH_DIM = ("x may be a single sample of shape (in,), or have several leading dimensions: "
                 "a loop over the rows of x assumes exactly one. x @ W + b handles every case.")

LINEAR_FORWARD_HINTS = {
    "cannot be multiplied": SHAPE_MISMATCH,
    "size mismatch": SHAPE_MISMATCH,
    "must be a matrix": MATRIX_ONLY,
    "view size is not compatible": NOT_CONTIGUOUS,
    "must match the size": ELEMENTWISE,
    "same device": "a tensor you create lands on the CPU unless you pass device=x.device.",
    "at least 1D": ONE_BATCH_DIM,
}

# (x, W, b, which of x and W arrives as a transpose view, or None) with x (..., in), W (in, out), b (out,)
LINEAR_FORWARD_CASES = [
    ([[1.0, 2.0, -1.0], [0.5, 0.0, 2.0]], [[1.0, -1.0], [2.0, 0.5], [0.0, 3.0]], [0.5, -2.0], None),
    ([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0], [0.0, 1.0, -2.0]],                        # square: in == out == batch
     [[1.0, 2.0, 0.0], [-1.0, 0.5, 1.0], [2.0, 0.0, -1.0]], [1.0, -2.0, 3.0], None),
    ([1.0, -2.0, 0.5, 3.0], [[1.0, 0.0], [2.0, 1.0], [-1.0, 0.5], [0.0, -2.0]], [0.25, 1.0], None),  # 1-D x
    ([[[1.0, 2.0], [3.0, -1.0], [0.5, 0.5]], [[-2.0, 1.0], [0.0, 0.0], [1.0, 4.0]]],             # (2, 3, 2)
     [[1.0, -1.0, 2.0, 0.5], [0.5, 2.0, -1.0, 1.0]], [1.0, 0.0, -1.0, 2.0], None),
    ([[2.0]], [[-1.5]], [0.5], None),                                                # 1 x 1
    ([[[1.0, 2.0, -1.0]], [[0.0, 1.0, 3.0]]], [[2.0], [-1.0], [0.5]], [1.0], None),  # (2, 1, 3) -> (2, 1, 1)
    ([[1.0, -1.0], [2.0, 0.5], [0.0, 3.0], [1.5, -2.0], [-1.0, 1.0]],                # W a transpose view
     [[1.0, 2.0, -1.0], [0.5, 0.0, 3.0]], [0.0, 1.0, -0.5], "W"),
    ([[[1.0, -1.0, 0.5], [2.0, 0.5, 1.0], [0.0, 3.0, -2.0]],                        # x (2, 3, 3): a transpose
      [[1.5, -2.0, 0.0], [-1.0, 1.0, 2.5], [0.5, 0.5, -0.5]]],                       # of its first two dims
     [[1.0, 0.5], [-1.0, 2.0], [0.5, 0.0]], [2.0, -1.0], "x"),
]


@st.composite
def linear_inputs(draw):
    """(x, W, b) as nested lists: x (..., in) with 0 to 3 leading dimensions, W (in, out), b (out,)."""
    n_in, n_out = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    batch = draw(st.lists(st.integers(1, 3), min_size=0, max_size=3))
    values = quarters(-4, 4)
    size = math.prod(batch) * n_in
    flat = draw(st.lists(values, min_size=size, max_size=size))
    x = torch.tensor(flat, dtype=torch.float64).reshape(*batch, n_in).tolist()
    w = draw(matrices(shape=(n_in, n_out), values=values))
    b = draw(st.lists(values, min_size=n_out, max_size=n_out))
    return x, w, b


LINEAR_INPUTS = linear_inputs()


def forward_mistakes(x, W, b):
    """Typical wrong forward passes, as (values, explanation), for x (..., in), W (in, out)."""
    n_in, n_out = W.shape
    flat = (x.reshape(-1, n_in) @ W + b) if x.dim() != 2 else None
    mistakes = [
        Mistake(lambda: x @ W.T + b, TRANSPOSED_W, when=lambda: n_in == n_out),
        Mistake(lambda: x @ W, NO_BIAS),
        Mistake(lambda: flat, FLATTENED, when=lambda: flat is not None),
        Mistake(lambda: (x @ W + b).squeeze(), SQUEEZED, when=lambda: 1 in (x @ W + b).shape),
        Mistake(lambda: x @ W + b[:, None], BIAS_COLUMN),
        Mistake(lambda: x @ W - b, "you subtracted b; the layer adds it: x @ W + b."),
    ]
    return [(m.values(), m.explanation) for m in mistakes]


@A.exercise("linear_forward", "def linear_forward(x, W, b)", strategies=[LINEAR_INPUTS])
def linear_forward(t):
    rtol, atol = TOLERANCE[t.dtype]

    def sent(values, transposed):
        if transposed:  # sent as its transpose, turned back by a transpose in the candidate: not contiguous
            base = torch.tensor(values, dtype=torch.float64).transpose(0, 1).contiguous()
            return t.tensor(base, view=[("transpose", 0, 1)])
        return t.tensor(values)

    def case(x, w, b, transposed=None):
        xs, ws, bs = sent(x, transposed == "x"), sent(w, transposed == "W"), t.tensor(b)
        x64, w64, b64 = (v.local().to(torch.float64) for v in (xs, ws, bs))
        ctx = t.context(x=x, W=w, b=b)
        if transposed == "W":
            ctx += "\n  (W is not contiguous: a transpose, as W = lin.weight.T would be)"
        elif transposed == "x":
            ctx += "\n  (x is not contiguous: a transpose of its first two dimensions)"
        with torch.no_grad():
            expected = x64 @ w64 + b64
        out, after = t.call(xs, ws, bs, context=ctx, hints=LINEAR_FORWARD_HINTS, after=True)
        t.expect(out, expected, ctx, rtol=rtol, atol=atol, mistakes=forward_mistakes(x64, w64, b64))
        for name, was, now in zip(("x", "W", "b"), (x64, w64, b64), after):
            values = getattr(now, "values", None)
            if values is None or values.shape != was.shape or not torch.equal(values.to(torch.float64), was):
                t.fail(ctx, f"linear_forward changed its input {name} (an in-place operation such as "
                            f"{name}.add_(...) or {name} += ...): compute a new tensor and leave the inputs as they were.")

    for x, w, b, transposed in LINEAR_FORWARD_CASES:
        case(x, w, b, transposed)
    t.for_all(LINEAR_INPUTS, lambda example: case(*example))


# =============================================================================================
# my_linear
# =============================================================================================

SUPER_FIRST = ("call super().__init__() first in __init__: nn.Module sets up the tables that "
               "register parameters and submodules there, so a Parameter (or a Module) cannot be "
               "assigned before it. Plain ints may be.")
PLAIN_TENSORS = ("W and b are plain tensors, not nn.Parameter: module.parameters() does not list "
                 "them, so an optimiser built from it trains nothing, and .to(device) leaves them "
                 "behind. Wrap them: self.W = nn.Parameter(...).")
OUT_IN = ("W has shape (output_dim, input_dim), nn.Linear's layout for its weight. MyLinear's W is "
          "(input_dim, output_dim), so that forward computes x @ W + b with no transpose.")
OWN_PARAMETERS = ("MyLinear must hold its own two parameters W and b, not a submodule such as an "
                  "nn.Linear: write them with nn.Parameter.")
FORWARD_MISSING = ("nn.Module's __call__ runs a method named exactly `forward`: it is missing or "
                   "misspelt (foward, Forward, ...).")
UNINITIALISED = ("torch.FloatTensor(n, m) and torch.empty(n, m) return uninitialised memory: the "
                 "tensor holds whatever bytes were there before. Fill it: e.g. "
                 "nn.init.uniform_(W, -k, k), or (torch.rand(n, m) * 2 - 1) * k, with "
                 "k = 1 / math.sqrt(input_dim).")
NO_GRAD = ("the output does not depend on W and b through autograd, so training could not update "
           "them: forward used .data, .detach(), torch.no_grad() or copied values into a new tensor "
           "(torch.tensor(...)). Compute x @ self.W + self.b directly.")
MOVED_HINT = ("forward uses a tensor that .to(device) did not move (a plain tensor attribute, or a "
              "tensor made in forward without device=x.device): keep W and b as nn.Parameter and "
              "compute from them.")
MARKER = 98765.0  # what `scribble` leaves in freed memory before a module is built

CONSTRUCT_HINTS = {
    "before Module.__init__() call": SUPER_FIRST,
    "unexpected keyword argument": "MyLinear's two arguments are named input_dim and output_dim.",
    "required positional argument": "the arguments have defaults: MyLinear(input_dim=3, output_dim=2).",
    "cannot assign": PLAIN_TENSORS,
    "has no attribute": "an attribute is read before it was set, or under another name (a typo?).",
}
FORWARD_HINTS = {
    'missing the required "forward" function': FORWARD_MISSING,
    "cannot be multiplied": ("x has shape (..., input_dim) and W (input_dim, output_dim): forward "
                             "computes x @ W. Did you transpose W, or store it (output_dim, input_dim)?"),
    "must be a matrix": MATRIX_ONLY,
    "same device": MOVED_HINT,
    "expected m1 and m2 to have the same dtype": MOVED_HINT,
    "expected both": MOVED_HINT,
    "has no attribute": "forward reads an attribute that __init__ did not set (a typo in its name?).",
}


def call_my_linear(t, args, kwargs, ctx):
    """The student's MyLinear(*args, **kwargs), as the candidate describes it."""
    try:
        return t.candidate.call("MyLinear", *args, **kwargs)
    except Raised as exc:
        raise CheckFailed(t.raised_message(exc, ctx, CONSTRUCT_HINTS)) from None
    except Missing:
        pass
    # The instructor's notebook hands hidden_tests one function: find MyLinear where that
    # function finds its globals (in a graded candidate both share one namespace anyway).
    try:
        cls = t.candidate.call((t.exercise.name, "__globals__", "get"), "MyLinear")
    except (Raised, Missing):
        cls = None
    if cls is None or getattr(cls, "ref", None) is None:
        t.fail(ctx, "MyLinear is not defined: the solution cell of my_linear must define "
                    "`class MyLinear(nn.Module)` (with this exact name).")
    try:
        return t.candidate.call(cls, *args, **kwargs)
    except Raised as exc:
        raise CheckFailed(t.raised_message(exc, ctx, CONSTRUCT_HINTS)) from None


def shown_call(args, kwargs):
    parts = [str(a) for a in args] + [f"{k}={v}" for k, v in kwargs.items()]
    return f"MyLinear({', '.join(parts)})"


def structure_problem(t, m, n_in, n_out):
    """None when `m` (described) is a module with exactly the parameters W (n_in, n_out) and b
    (n_out,), floating, requiring grad; else what is wrong with it."""
    if not isinstance(m, SeenModule):
        return (f"it should create an nn.Module, but it made {kind_of(m)}. MyLinear must be a class "
                "that subclasses nn.Module.")
    named = [name for name, _ in m.named_parameters]
    own = {name: p for name, p in m.parameters.items()}
    plain = [name for name in m.tensor_attributes if name in ("W", "b")]
    if any("." in name for name in named):
        return f"its parameters are {', '.join(named)}. {OWN_PARAMETERS}"
    if plain:
        return f"it has no parameter {' or '.join(plain)}, but a plain tensor attribute of that name. {PLAIN_TENSORS}"
    if own.get("b", 0) is None or own.get("W", 0) is None:
        return "a parameter is None: W and b must both hold tensors."
    if sorted(named) != ["W", "b"]:
        found = ", ".join(named) if named else "none"
        extra = ""
        for want in ("W", "b"):
            near = [n for n in named if n != want and n.lower() == want.lower()]
            near += difflib.get_close_matches(want, [n for n in named if n not in ("W", "b")], 1, 0.6)
            if want not in named and near:
                extra = f" Names are case-sensitive and exact: {near[0]!r} is not {want!r}."
                break
        if {"weight", "bias"} & set(named):
            extra = (" nn.Linear calls them weight and bias; the contract names MyLinear's W and b.")
        if not named and m.tensor_attributes:
            extra = f" It has plain tensor attributes {', '.join(m.tensor_attributes)}. {PLAIN_TENSORS}"
        return f"its parameters are {found}; it must have exactly two, named W and b.{extra}"
    W, b = own.get("W"), own.get("b")
    for name, p in (("W", W), ("b", b)):
        if p.kind != "parameter":
            return f"{name} is a {p.type_name}, not an nn.Parameter."
    if W.shape != (n_in, n_out):
        if W.shape == (n_out, n_in):
            return f"W has shape {fmt_shape(W.shape)}, expected {fmt_shape((n_in, n_out))}. {OUT_IN}"
        return f"W has shape {fmt_shape(W.shape)}, expected (input_dim, output_dim) = {fmt_shape((n_in, n_out))}."
    if b.shape != (n_out,):
        extra = (" b is one number per output, a 1-D tensor: torch.rand(output_dim), not "
                 "(1, output_dim) or (output_dim, 1).") if b.numel == n_out else ""
        return f"b has shape {fmt_shape(b.shape)}, expected (output_dim,) = {fmt_shape((n_out,))}.{extra}"
    for name, p in (("W", W), ("b", b)):
        if p.dtype is None or not p.dtype.is_floating_point:
            return f"{name} has dtype {p.dtype_name}; parameters must be floating point (float32 by default)."
        if not p.requires_grad:
            return (f"{name} does not require grad, so no gradient reaches it and training would not "
                    "change it: nn.Parameter(tensor) requires grad by default; do not pass "
                    "requires_grad=False.")
    return None


def check_ints(t, m, n_in, n_out, ctx):
    """input_dim and output_dim are stored as plain ints."""
    for attr, want in (("input_dim", n_in), ("output_dim", n_out)):
        try:
            got = t.candidate.get(m, attr)
        except (Raised, Missing):
            got = None
            names = []
            try:
                found = t.candidate.get(m, "__dict__")
                names = [k for k in found if isinstance(k, str)]
            except (Raised, Missing):
                pass
            near = difflib.get_close_matches(attr, [n for n in names if n != attr], 1, 0.8)
            if near:
                t.fail(ctx, f"It has no attribute {attr}, but it has {near[0]!r}: a typo such as "
                            f"`self.{near[0]} = {attr}` silently creates a new attribute with the "
                            f"misspelt name. Store self.{attr} = {attr}.")
            t.fail(ctx, f"It has no attribute {attr}: store the int in __init__ (self.{attr} = {attr}).")
        if type(got) is not int:
            t.fail(ctx, f"{attr} is {kind_of(got)}, expected the int {want} (store the argument as it is).")
        if got != want:
            t.fail(ctx, f"{attr} is {got}, expected {want}.")


def build_module(t, args, kwargs, n_in, n_out):
    ctx = t.context(call=shown_call(args, kwargs))
    m = call_my_linear(t, args, kwargs, ctx)
    problem = structure_problem(t, m, n_in, n_out)
    if problem:
        t.fail(ctx, problem)
    check_ints(t, m, n_in, n_out, ctx)
    return m, ctx


# --- initialisation ----------------------------------------------------------------------------

def scale_guess(bound, n_in, n_out):
    """What a student's scale probably was, from the largest |value| seen (None: no idea)."""
    guesses = [
        (1 / math.sqrt(n_out), "k computed from output_dim (1/sqrt(output_dim)). nn.init.kaiming_uniform_ "
                               "(nn.Linear's own recipe) reads the fan-in from dimension 1 of the tensor, "
                               "which for W (input_dim, output_dim) is output_dim: it fits nn.Linear's "
                               "(out, in) weight, not W"),
        (1.0, "no scale at all: U(-1, 1)"),
        (1 / n_in, "k = 1/input_dim instead of 1/sqrt(input_dim)"),
        (math.sqrt(6 / (n_in + n_out)), "Xavier/Glorot's bound (xavier_uniform_), sqrt(6/(in+out))"),
        (math.sqrt(n_in), "sqrt(input_dim) instead of 1/sqrt(input_dim)"),
        (2 / math.sqrt(n_in), "U(-2k, 2k): torch.rand(...) * 2 * k without subtracting k"),
        (0.5 / math.sqrt(n_in), "U(-k/2, k/2)"),
    ]
    for value, text in guesses:
        if abs(bound / value - 1) < 0.03:
            return text
    return None


def init_problem(name, values, k, n_in, n_out, many):
    """None if `values` look drawn from U(-k, k); else the message. `many`: enough values
    (thousands) for statistics; otherwise only range, sign and spread."""
    v = values.detach().to(torch.float64).flatten()
    shown = fmt(v[:6])
    if not torch.isfinite(v).all():
        return f"{name} holds NaN or infinite values ({shown} ...). {UNINITIALISED}"
    if (v == 0).all():
        why = ("the contract draws b from U(-k, k) too, as nn.Linear does" if name == "b" else
               "a layer whose weights all start equal (torch.zeros) cannot learn different features")
        return (f"{name} is all zeros: {why}. Initialise it from U(-k, k), k = 1/sqrt(input_dim). "
                f"(If you never filled it: uninitialised memory, from torch.FloatTensor(n, m) or "
                f"torch.empty, often reads as zeros.)")
    a = v.abs()
    if (v == MARKER).any() or (a > 1e3).any() or ((a > 0) & (a < 1e-30)).any():
        return f"{name} holds garbage ({shown} ...): memory left uninitialised. {UNINITIALISED}"
    if (v == v[0]).all():
        return (f"every entry of {name} is {fmt(v[0].item())}: a constant, not values drawn at random "
                f"(or memory left uninitialised, holding leftovers). Draw from U(-k, k), "
                f"k = 1/sqrt(input_dim) = {k:.4g}.")
    bound = a.max().item()
    outside = (a > k * (1 + 1e-6)).double().mean().item()
    rule = (f"Expected values from U(-k, k) with k = 1/sqrt(input_dim) = 1/sqrt({n_in}) = {k:.4g}, "
            f"as nn.Linear draws them")
    seen = f"{name} ranges over [{v.min().item():.4g}, {v.max().item():.4g}]"
    if v.min() >= 0:
        return (f"{seen}: no negative values. {rule}. torch.rand draws from U(0, 1): shift and scale "
                "it, (torch.rand(...) * 2 - 1) * k.")
    if outside > 0:
        guess = scale_guess(bound * (1 + 2 / v.numel()), n_in, n_out) if many else None
        if guess:
            return f"{seen}: {outside:.0%} of its values lie outside [-k, k]. {rule}. Likely mistake: {guess}."
        return (f"{seen}: {outside:.0%} of its values lie outside [-k, k]. {rule}. torch.randn draws "
                "from a normal distribution (unbounded), torch.rand from U(0, 1): use "
                "nn.init.uniform_(W, -k, k) or (torch.rand(...) * 2 - 1) * k.")
    if v.max() <= 0:
        return f"{seen}: no positive values. {rule}."
    if many:
        if bound < 0.97 * k:
            guess = scale_guess(bound * (1 + 2 / v.numel()), n_in, n_out)
            return (f"{seen}, well inside [-k, k]: the scale is too small. {rule}."
                    + (f" Likely mistake: {guess}." if guess else ""))
        quarters_of_range = torch.histc(v, bins=4, min=-k, max=k) / v.numel()
        if (quarters_of_range < 0.19).any() or (quarters_of_range > 0.31).any():
            spread = ", ".join(f"{q:.0%}" for q in quarters_of_range.tolist())
            return (f"{name}'s values are not spread evenly over [-k, k]: the four quarters of the "
                    f"range hold {spread} of them (about 25% each for U(-k, k)). {rule}.")
    elif bound < 0.3 * k:
        return f"{seen}, far inside [-k, k]: the scale is too small. {rule}."
    return None


# (input_dim, output_dim): thousands of weights; in != out, in > out and in < out
INIT_SHAPES = [(100, 30), (25, 120)]


def check_init(t):
    """Values from U(-k, k), not uninitialised memory, different for different seeds."""
    for n_in, n_out in INIT_SHAPES:
        k = 1 / math.sqrt(n_in)
        seen = []
        for seed in (1, 2):
            for shape in ((n_in, n_out), (n_out,), (n_out, n_in)):
                t.op("scribble", shape, MARKER)
            t.op("seed", seed)
            m, ctx = build_module(t, (n_in, n_out), {}, n_in, n_out)
            ctx += f" (after torch.manual_seed({seed}))"
            W, b = m.parameters["W"], m.parameters["b"]
            for name, p, many in (("W", W, True), ("b", b, False)):
                problem = init_problem(name, p.values, k, n_in, n_out, many)
                if problem:
                    t.fail(ctx, problem)
            seen.append((W.values, b.values, ctx))
        (w1, b1, _), (w2, b2, ctx) = seen
        for name, one, two in (("W", w1, w2), ("b", b1, b2)):
            if torch.equal(one, two):
                t.fail(ctx, f"{name} is the same after torch.manual_seed(1) and torch.manual_seed(2): it "
                            f"is not drawn at random. Likely mistake: memory left uninitialised "
                            f"(torch.FloatTensor(n, m), torch.empty), or a fixed pattern. {UNINITIALISED}")


# --- forward -----------------------------------------------------------------------------------

def move(t, m, ctx):
    """m.to(device) and m.to(dtype); both parameters must have followed."""
    before = {name: p.ref for name, p in m.parameters.items()}
    for where in (t.device, t.dtype):
        try:
            m = t.op("module_to", m, where)
        except Raised as exc:
            raise CheckFailed(t.raised_message(exc, f"{ctx}\n(calling .to({where}))")) from None
    for name in ("W", "b"):
        p = m.parameters.get(name)
        if p is None or p.ref != before.get(name):
            t.fail(ctx, f"after .to(), {name} is no longer the same Parameter: .to() moves a "
                        "module's registered parameters in place.")
        if not same_device(p.device, t.device) or p.dtype != t.dtype:
            t.fail(ctx, f"after .to({t.device}) and .to({t.dtype}), {name} is on {p.device} with "
                        f"dtype {p.dtype_name}: .to() moves and converts registered parameters only. "
                        f"{PLAIN_TENSORS}")
    return m


def run_forward(t, m, target, x, ctx):
    try:
        return t.candidate.call(target, x)
    except Raised as exc:
        if 'missing the required "forward" function' in exc.message:  # not the stub's NotImplementedError
            t.fail(ctx, f"It raised {exc.type_name}: {exc.message.strip()}\nLikely mistake: {FORWARD_MISSING}")
        raise CheckFailed(t.raised_message(exc, ctx, FORWARD_HINTS)) from None


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
    size = math.prod(batch) * n_in
    flat = draw(st.lists(quarters(-4, 4), min_size=size, max_size=size))
    x = torch.tensor(flat, dtype=torch.float64).reshape(*batch, n_in).tolist()
    return n_in, n_out, x, draw(st.integers(0, 1000))


FORWARD_EXAMPLES = forward_examples()


def x_values(shape, salt=0):
    """Inputs of `shape` with distinct entries, multiples of 1/4 in [-4, 4]."""
    n = math.prod(shape)
    flat = [((7 * i + 3 * salt) % 33 - 16) / 4 for i in range(n)]
    return torch.tensor(flat, dtype=torch.float64).reshape(shape)


def expect_forward(t, m, x, ctx, both=True):
    """m(x) (and m.forward(x)) equal x @ W + b, with the module's own W and b."""
    rtol, atol = TOLERANCE[t.dtype]
    W = m.parameters["W"].values.to(torch.float64)
    b = m.parameters["b"].values.to(torch.float64)
    xs = t.tensor(x)
    x64 = xs.local().to(torch.float64)
    expected = x64 @ W + b
    call_ctx = t.context(call="module(x)", x=x64) + "\n  (W and b: the module's own parameters)"
    out = run_forward(t, m, m, xs, call_ctx)
    unchanged(t, m, call_ctx)
    t.expect(out, expected, call_ctx, rtol=rtol, atol=atol, mistakes=forward_mistakes(x64, W, b))
    if both:
        fwd_ctx = call_ctx.replace("module(x)", "module.forward(x)", 1)
        direct = run_forward(t, m, (m, "forward"), xs, fwd_ctx)
        unchanged(t, m, fwd_ctx)
        t.expect(direct, expected, fwd_ctx, rtol=rtol, atol=atol, mistakes=forward_mistakes(x64, W, b))
    return out


def unchanged(t, m, ctx):
    """Calling the module left its parameters as they were (same objects, same values)."""
    after = t.describe(m)
    for name in ("W", "b"):
        p, was = after.parameters.get(name), m.parameters[name]
        if p is None or p.ref != was.ref or p.values is None or not torch.equal(p.values, was.values):
            t.fail(ctx, f"calling the module changed {name}: forward must only compute, never "
                        "create, replace or modify the parameters (those belong in __init__).")


def expect_gradients(t, m, out, x, ctx):
    """The output is differentiable with respect to W and b: sum(out) gives the known gradients."""
    try:
        t.op("sum_backward", out)
    except Raised as exc:
        t.fail(ctx, f"out.sum().backward() raised {exc.type_name}: {exc.message.strip()}\nLikely mistake: {NO_GRAD}")
    after = t.describe(m)
    x64 = x.reshape(-1, x.shape[-1])
    n_out = m.parameters["b"].shape[0]
    rtol, atol = TOLERANCE[t.dtype]
    want = {"W": x64.sum(0)[:, None].expand(-1, n_out), "b": torch.full((n_out,), float(x64.shape[0]),
                                                                        dtype=torch.float64)}
    for name in ("W", "b"):
        grad = after.parameters[name].grad
        if grad is None:
            t.fail(ctx, f"after out.sum().backward(), {name}.grad is None: no gradient reached {name}. "
                        f"Likely mistake: {NO_GRAD}")
        t.expect(grad, want[name], ctx, rtol=rtol, atol=atol, what=f"{name}.grad after out.sum().backward()")


@A.exercise("my_linear", "class MyLinear(nn.Module)", strategies=[FORWARD_EXAMPLES])
def my_linear(t):
    if t.device.type == "cpu" and t.dtype == torch.float32:  # construction does not depend on the trial
        for args, kwargs, n_in, n_out in [((), {}, 3, 2), ((4, 3), {}, 4, 3), ((2, 5), {}, 2, 5),
                                          ((), {"input_dim": 5, "output_dim": 4}, 5, 4),
                                          ((1, 1), {}, 1, 1), ((3, 3), {}, 3, 3)]:
            build_module(t, args, kwargs, n_in, n_out)
        check_init(t)

    for n_in, n_out, shapes in FORWARD_CASES:
        t.op("seed", 10 * n_in + n_out)
        m, ctx = build_module(t, (n_in, n_out), {}, n_in, n_out)
        m = move(t, m, ctx)
        for salt, shape in enumerate(shapes):
            x = x_values(shape, salt)
            out = expect_forward(t, m, x, ctx)
        grad_module, _ = build_module(t, (n_in, n_out), {}, n_in, n_out)
        grad_module = move(t, grad_module, ctx)
        x = x_values(shapes[0], 5)
        out = expect_forward(t, grad_module, x, ctx, both=False)
        expect_gradients(t, grad_module, out, x, t.context(call=f"out = MyLinear({n_in}, {n_out})(x)", x=x))

    def example(case):
        n_in, n_out, x, seed = case
        t.op("seed", seed)
        m, ctx = build_module(t, (n_in, n_out), {}, n_in, n_out)
        m = move(t, m, ctx)
        expect_forward(t, m, torch.tensor(x, dtype=torch.float64), ctx, both=False)

    t.for_all(FORWARD_EXAMPLES, example)


# =============================================================================================
# load_from_nn_linear
# =============================================================================================

REPLACED = ("my.W and my.b must stay the same Parameter objects (an optimiser built from "
            "my.parameters() before the call holds those): you replaced them (my.W = "
            "nn.Parameter(...)). Copy into them instead: with torch.no_grad(): my.W.copy_(ref.weight.T).")
NO_TRANSPOSE = ("you copied ref.weight without transposing it: nn.Linear stores its weight as (out, "
                "in) and computes x @ weight.T + bias, while my.W is (in, out). Copy ref.weight.T.")
RESHAPED = ("you reshaped (or viewed) ref.weight to (in, out): that keeps the entries in their "
            "memory order, which is not a transpose. Copy ref.weight.T.")
SHARED = ("my's parameters share memory with ref's: a later change to ref (training it, say) would "
          "change my too. `my.W.data = ref.weight.T` makes W a view of ref's weight. Copy the values: "
          "with torch.no_grad(): my.W.copy_(ref.weight.T).")
OUTSIDE_NO_GRAD = ("my.W is a leaf that requires grad, and autograd forbids writing into it in "
                   "place while it records: copy inside `with torch.no_grad():` (my.W.copy_(...)).")
SIZE_CHECK = ("check the sizes before copying, and raise ValueError when they differ: compare "
              "ref.in_features and ref.out_features with my.input_dim and my.output_dim (or "
              "ref.weight.T.shape with my.W.shape).")

LOAD_HINTS = {
    "a leaf Variable that requires grad": OUTSIDE_NO_GRAD,
    "must match the size": NO_TRANSPOSE,
    "cannot assign": ("my.W must stay an nn.Parameter: assigning a plain tensor to it is refused. "
                      "Copy into it: with torch.no_grad(): my.W.copy_(ref.weight.T)."),
    "must be Tensor, not NoneType": ("ref.bias is None when nn.Linear was made with bias=False: "
                                     "then set my.b to zeros (with torch.no_grad(): my.b.zero_())."),
    "'NoneType' object has no attribute": ("ref.bias is None when nn.Linear was made with "
                                           "bias=False: then set my.b to zeros."),
    "Error(s) in loading state_dict": ("nn.Linear's state_dict keys are weight and bias, MyLinear's "
                                       "are W and b; and the weight needs a transpose."),
}


def ref_spec(n_in, n_out, weight, bias):
    fields = {"in": n_in, "out": n_out, "bias": bias is not None, "weight": weight}
    if bias is not None:
        fields["bias_values"] = bias
    return Spec("linear", **fields)


def fresh_pair(t, n_in, n_out, weight, bias, my_dims=None):
    """(my, ref, ctx): the student's MyLinear and an nn.Linear with these values, both moved to
    the trial's device and dtype."""
    my_in, my_out = my_dims or (n_in, n_out)
    ref_text = f"nn.Linear({n_in}, {n_out}{', bias=False' if bias is None else ''})"
    ctx = t.context(call=f"load_from_nn_linear(my, ref)") + f", my = MyLinear({my_in}, {my_out}), ref = {ref_text}"
    ctx += f"\n  ref.weight = {fmt(weight)}  (shape {fmt_shape(weight.shape)})"
    ctx += f"\n  ref.bias = {fmt(bias) if bias is not None else 'None'}"
    t.op("seed", 7 * my_in + my_out)
    build_ctx = t.context(call=f"MyLinear({my_in}, {my_out})")
    my = call_my_linear(t, (my_in, my_out), {}, build_ctx)
    problem = structure_problem(t, my, my_in, my_out)
    if problem:
        t.fail(ctx, f"load_from_nn_linear is checked with your own MyLinear, and MyLinear({my_in}, "
                    f"{my_out}) is not right yet: {problem} Fix my_linear first.")
    my = move(t, my, build_ctx)
    ref = t.make(ref_spec(n_in, n_out, weight, bias))
    for where in (t.device, t.dtype):
        ref = t.op("module_to", ref, where)
    return my, ref, ctx


def spans_overlap(a, b):
    if a is None or b is None or a.storage is None or b.storage is None:
        return False
    (a0, an), (b0, bn) = a.storage, b.storage
    return a0 < b0 + bn and b0 < a0 + an and an > 0 and bn > 0


def call_load(t, my, ref, ctx):
    try:
        return t.candidate.call("load_from_nn_linear", my, ref, after=True)
    except Raised as exc:
        if exc.is_a("ValueError"):
            t.fail(ctx, f"It raised {exc.type_name}: {exc.message.strip()}\nBut these sizes match: "
                        f"ref.weight is (out, in) = {fmt_shape(ref.parameters['weight'].shape)}, "
                        f"my.W is (in, out) = {fmt_shape(my.parameters['W'].shape)}. Likely mistake: "
                        "comparing ref.weight.shape with my.W.shape without the transpose; compare "
                        "ref.weight.T.shape, or in_features/out_features with input_dim/output_dim.")
        raise CheckFailed(t.raised_message(exc, ctx, LOAD_HINTS)) from None
    except Missing as exc:
        t.fail(ctx, f"{exc}: the exercise's solution cell must define it (with this exact name).")


def check_load(t, n_in, n_out, weight, bias):
    my, ref, ctx = fresh_pair(t, n_in, n_out, weight, bias)
    before = {name: p for name, p in my.parameters.items()}
    result, (my_after, ref_after) = call_load(t, my, ref, ctx)
    if not isinstance(result, SeenModule) or result.ref != my.ref:
        what = ("another module, not my" if isinstance(result, SeenModule) else kind_of(result))
        t.fail(ctx, f"It returned {what}: copy into my, then return my.")
    for name in ("W", "b"):
        p = my_after.parameters.get(name)
        if p is None:
            t.fail(ctx, f"my.{name} is gone (or None) after the call: copy the values into the "
                        f"existing Parameter; for a reference without bias, my.b becomes zeros.")
        if p.ref != before[name].ref:
            t.fail(ctx, f"my.{name} is a different object after the call. {REPLACED}")
        if not p.requires_grad or not p.is_leaf or p.grad_fn is not None:
            t.fail(ctx, f"after the call my.{name} has requires_grad={p.requires_grad}, is_leaf={p.is_leaf}"
                        f": it must still be a leaf that requires grad, so that it can be trained. "
                        f"Likely mistake: switching requires_grad off to copy outside no_grad (and "
                        f"not back on); {OUTSIDE_NO_GRAD}")
    rtol, atol = TOLERANCE[t.dtype]
    W_ref = weight.to(torch.float64)
    expected_W = W_ref.T
    W_mistakes = [(W_ref, NO_TRANSPOSE) if n_in == n_out else (None, ""),
                  (W_ref.reshape(n_in, n_out), RESHAPED),
                  (before["W"].values.to(torch.float64), "my.W was not changed: copy ref.weight.T into it.")]
    t.expect(my_after.parameters["W"], expected_W, ctx, rtol=rtol, atol=atol, what="my.W after the call",
             mistakes=[m for m in W_mistakes if m[0] is not None],
             dtype_reason="(my's dtype): copy_ into the existing parameter keeps its dtype and device.")
    if bias is None:
        expected_b = torch.zeros(n_out, dtype=torch.float64)
        b_mistakes = [(before["b"].values.to(torch.float64),
                       "ref has no bias (ref.bias is None): my.b must become zeros, not keep its values.")]
        reason = ("(my's dtype). torch.zeros(n) is float32 on the CPU whatever my is: zero the existing "
                  "parameter in place (with torch.no_grad(): my.b.zero_()).")
    else:
        expected_b = bias.to(torch.float64)
        b_mistakes = [(before["b"].values.to(torch.float64), "my.b was not changed: copy ref.bias into it.")]
        reason = "(my's dtype): copy_ into the existing parameter keeps its dtype and device."
    t.expect(my_after.parameters["b"], expected_b, ctx, rtol=rtol, atol=atol, what="my.b after the call",
             mistakes=b_mistakes, dtype_reason=reason)
    for name in ("W", "b"):
        mine = my_after.parameters[name]
        for theirs_name, theirs in ref_after.parameters.items():
            if spans_overlap(mine, theirs):
                t.fail(ctx, f"my.{name} shares memory with ref.{theirs_name} (the same storage). {SHARED}")
    ref_weight = ref_after.parameters.get("weight")
    if ref_weight is None or ref_weight.values is None or not torch.equal(
            ref_weight.values.to(torch.float64), W_ref) or ref_weight.shape != tuple(W_ref.shape):
        t.fail(ctx, "ref.weight changed: load_from_nn_linear must read ref, never modify it.")
    for shape in ((2, n_in), (n_in,)):
        x = x_values(shape, n_out)
        xs = t.tensor(x)
        x_ctx = t.context(call="my(x) after load_from_nn_linear(my, ref)", x=x) + "\n" + ctx.split("\n", 1)[0]
        out = run_forward(t, my_after, my_after, xs, x_ctx)
        want = x @ expected_W + expected_b
        t.expect(out, want, x_ctx, rtol=rtol, atol=atol, what="my(x), which must equal ref(x),")


# (my's sizes, ref's sizes, bias?): every way the sizes can fail to match
MISMATCHES = [
    ((3, 2), (4, 2), True),    # in differs
    ((3, 2), (3, 4), True),    # out differs
    ((3, 2), (2, 3), True),    # swapped: ref.weight has my.W's shape, untransposed
    ((2, 2), (2, 3), False),   # no bias, out differs
    ((4, 1), (1, 4), True),    # swapped, with a dimension of 1
]


def check_mismatch(t, my_dims, ref_dims, with_bias):
    n_in, n_out = ref_dims
    weight = x_values((n_out, n_in), 1)
    bias = x_values((n_out,), 2) if with_bias else None
    my, ref, ctx = fresh_pair(t, n_in, n_out, weight, bias, my_dims=my_dims)
    try:
        result = t.candidate.call("load_from_nn_linear", my, ref)
    except Raised as exc:
        if exc.is_a("ValueError"):
            return
        t.fail(ctx, f"It raised {exc.type_name}: {exc.message.strip()}\nThe sizes do not match, and the "
                    f"contract asks for a ValueError: {SIZE_CHECK}")
    except Missing as exc:
        t.fail(ctx, f"{exc}: the exercise's solution cell must define it (with this exact name).")
    after = t.describe(my)
    W = after.parameters.get("W")
    extra = ""
    if ref_dims == my_dims[::-1] and W is not None and W.values is not None and torch.equal(
            W.values.to(torch.float64), weight.to(W.values.dtype).to(torch.float64)):
        extra = (f" It copied ref.weight as it is: ref.weight has shape (out, in) = "
                 f"{fmt_shape(weight.shape)}, the shape of my.W, only because the sizes are swapped. "
                 f"{NO_TRANSPOSE}")
    t.fail(ctx, f"It returned {kind_of(result)} without raising ValueError, but the sizes do not "
                f"match: my is MyLinear{tuple(my_dims)}, ref is nn.Linear{tuple(ref_dims)}.{extra} {SIZE_CHECK}")


@st.composite
def linear_layers(draw):
    """(input_dim, output_dim, weight (out, in), bias (out,) or None) of an nn.Linear."""
    n_in, n_out = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    weight = draw(matrices(shape=(n_out, n_in), values=quarters(-4, 4)))
    has_bias = draw(st.booleans())
    bias = draw(st.lists(quarters(-4, 4), min_size=n_out, max_size=n_out)) if has_bias else None
    return n_in, n_out, weight, bias


LINEAR_LAYERS = linear_layers()

# (in, out, with bias?): non-square both ways, square (a missing transpose is silent), ones
LOAD_CASES = [(4, 3, True), (3, 3, True), (2, 5, True), (1, 1, True), (3, 2, False), (3, 3, False), (1, 4, True)]


@A.exercise("load_from_nn_linear", "def load_from_nn_linear(my, ref)", depends=("my_linear",),
            strategies=[LINEAR_LAYERS])
def load_from_nn_linear(t):
    for n_in, n_out, with_bias in LOAD_CASES:
        weight = x_values((n_out, n_in), n_in)
        bias = x_values((n_out,), n_out + 1) if with_bias else None
        check_load(t, n_in, n_out, weight, bias)
    for my_dims, ref_dims, with_bias in MISMATCHES:
        check_mismatch(t, my_dims, ref_dims, with_bias)

    def example(case):
        n_in, n_out, weight, bias = case
        check_load(t, n_in, n_out, torch.tensor(weight, dtype=torch.float64),
                   None if bias is None else torch.tensor(bias, dtype=torch.float64))

    t.for_all(LINEAR_LAYERS, example)

"""02_autograd: grad_of, relu_out_of_place, sgd_step, numerical_grad.

These checks look at what the student's code does to the autograd state, not only at the
values it returns. Every input is made and kept in the candidate (`t.make`), described before
the call and again after it, so the judge sees the caller's tensor exactly as the call left it:
its values, `requires_grad`, `.grad` (None must stay None) and version counter `_version` (an
in-place write bumps it, even when the values are put back). Functions to differentiate are
sent as expression trees (`Spec("function")`, see `autograder.protocol.fixtures`) and the
references are computed here, with torch.autograd in float64, from the very same trees.

Readings of the contract (see curriculum.md):
- "x is left exactly as it was" / "x unchanged" (grad_of, numerical_grad; relu_out_of_place
  says so outright): same values, same `requires_grad`, same `.grad` (None stays None, a
  gradient keeps its values) and the same version counter: modifying x in place and writing
  the old values back is a change (a caller whose x was saved for backward would get an error).
- grad_of's and numerical_grad's x may or may not require grad, and may already hold a .grad;
  inputs are contiguous tensors of any shape, 0-d included.
- sgd_step: "left unchanged" for a tensor whose .grad is None means its values, and its .grad
  still None; a reset gradient is None or all zeros; the function must return None.
- numerical_grad with a large eps (1e-3 and up) is compared with the central-difference formula
  itself, computed here in float64 (rtol 1e-7, atol 1e-10); with eps 1e-6 (the default) with the
  analytic gradient (rtol 1e-5, atol 1e-8), on functions whose values stay small enough for that
  to hold.
"""

import torch
from hypothesis import strategies as st

from ..declare import Assignment, Spec
from ..compare import close, dtype_name, fmt, fmt_shape, require_tensor
from ..channel import Raised
from ..seen import SeenTensor
from ..properties import quarters

A = Assignment("02_autograd")

TOL = {torch.float32: (1e-4, 1e-5), torch.float64: (1e-7, 1e-10)}   # gradients from autograd


# =============================================================================================
# Functions to differentiate: expression trees (build.FUNCTION_OPS), written with constants
# ("const", nested list) that become tensors of the trial's dtype (candidate) or float64 (judge)
# =============================================================================================

def _const(values):
    return ("const", values)


def function_expr(kind, consts):
    """The expression tree of function `kind` (constants from `consts`)."""
    c = _const(consts.get("C")) if "C" in consts else None
    return {
        "sin_x2": ["sum", ["mul", ["sin", "x"], ["pow", "x", 2]]],
        "cube": ["div", ["sum", ["pow", "x", 3]], 3],
        "logsumexp": ["logsumexp", "x"],
        "tanh_weighted": ["mean", ["tanh", ["mul", "x", c]]],
        "linear_exp": ["add", ["dot", "x", c], ["div", ["sum", ["exp", "x"]], 4]],
        "softplus_sigmoid": ["sum", ["sub", ["softplus", "x"], ["mul", ["sigmoid", "x"], "x"]]],
        "matmul_tanh": ["sum", ["square", ["tanh", ["matmul", "x", c]]]],
        "quadratic": ["dot", "x", ["matmul", c, "x"]],
    }[kind]


FORMULAS = {
    "sin_x2": "sum(sin(x) * x ** 2)",
    "cube": "sum(x ** 3) / 3",
    "logsumexp": "logsumexp(x) = log(sum(exp(x)))",
    "tanh_weighted": "mean(tanh(x * C))",
    "linear_exp": "sum(x * C) + sum(exp(x)) / 4",
    "softplus_sigmoid": "sum(softplus(x) - sigmoid(x) * x)",
    "matmul_tanh": "sum(tanh(x @ W) ** 2)",
    "quadratic": "x @ (A @ x)",
}
ANY_SHAPE = ("sin_x2", "cube", "logsumexp", "tanh_weighted", "linear_exp", "softplus_sigmoid")


def kinds_for(shape):
    """The functions that make sense for an x of this shape."""
    if len(shape) == 2:
        return ANY_SHAPE + ("matmul_tanh",)
    if len(shape) == 1:
        return ANY_SHAPE + ("quadratic",)
    return ANY_SHAPE


def const_shape(kind, shape):
    if kind in ("tanh_weighted", "linear_exp"):
        return tuple(shape)
    if kind == "matmul_tanh":
        return (shape[1], 2 if shape[1] != 2 else 3)   # W (m, k), k != m: a non-square product
    if kind == "quadratic":
        return (shape[0], shape[0])
    return None


def _tree(expr, dtype):
    if isinstance(expr, tuple) and expr and expr[0] == "const":
        return {"tensor": torch.tensor(expr[1], dtype=dtype)}
    if isinstance(expr, list):
        return [expr[0], *(_tree(a, dtype) for a in expr[1:])]
    return expr


def function_spec(kind, consts, dtype):
    return Spec("function", expr=_tree(function_expr(kind, consts), dtype))


def reference_function(kind, consts):
    """The function, built here exactly as the candidate builds it, in float64."""
    return function_spec(kind, consts, torch.float64).here()


def describe_function(kind, consts):
    text = f"  f(x) = {FORMULAS[kind]}"
    if "C" in consts:
        name = {"matmul_tanh": "W", "quadratic": "A"}.get(kind, "C")
        text += f"  with {name} = {fmt(consts['C'])}"
    return text


def analytic_grad(kind, consts, x):
    """df/dx at x (float64), by autograd in this process."""
    f = reference_function(kind, consts)
    x = torch.as_tensor(x, dtype=torch.float64).detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(f(x), x)
    return g


def f_value(kind, consts, x, dtype=torch.float64):
    f = function_spec(kind, consts, dtype).here()
    with torch.no_grad():
        return f(torch.as_tensor(x, dtype=dtype))


# =============================================================================================
# Shared: inputs of a given shape, the caller's tensor left as it was, calls and operations
# =============================================================================================

@st.composite
def shaped(draw, shape, values):
    """Nested lists of `shape` (a float for shape ())."""
    n = int(torch.Size(shape).numel())
    flat = draw(st.lists(values, min_size=n, max_size=n))
    return torch.tensor(flat, dtype=torch.float64).reshape(shape).tolist()


SHAPES = [(), (1,), (4,), (2, 3), (3, 2), (3, 3), (2, 1, 3)]


def _state_text(requires_grad, grad):
    if not requires_grad:
        return "  (x does not require grad; x.grad is None)"
    if grad is None:
        return "  (x is a leaf with requires_grad=True; x.grad is None)"
    return f"  (x is a leaf with requires_grad=True; x.grad = {fmt(grad)} before the call)"


def expect_untouched(t, before, after, ctx, name="x", hints=None):
    """`after` (the caller's tensor as the call left it) is exactly `before`."""
    hints = hints or {}
    if after is None or not hasattr(after, "values"):
        return
    require_tensor(after, name, ctx)

    def fail(problem, key):
        hint = hints.get(key)
        t.fail(ctx, problem + (f"\nLikely mistake: {hint}" if hint else ""))

    if after.shape != before.shape or not torch.equal(after.values, before.values):
        fail(f"{name} was modified: its values changed during the call.\n"
             f"  before: {fmt(before.values)}\n  after:  {fmt(after.values)}", "values")
    if after.version != before.version:
        fail(f"{name} was modified in place during the call: its version counter {name}._version "
             f"went from {before.version} to {after.version}, even if its values are the same "
             f"now.", "version")
    if after.requires_grad != before.requires_grad:
        fail(f"{name}.requires_grad was {before.requires_grad} before the call and is "
             f"{after.requires_grad} after it.", "requires_grad")
    if before.grad is None and after.grad is not None:
        fail(f"{name}.grad was None before the call, and the call left a gradient in it: "
             f"{fmt(after.grad.values) if after.grad.values is not None else '(a tensor)'}.", "grad_left")
    if before.grad is not None and after.grad is None:
        fail(f"{name}.grad held {fmt(before.grad.values)} before the call, and the call set it "
             "to None.", "grad_cleared")
    if before.grad is not None and (after.grad.values is None or after.grad.shape != before.grad.shape
                                    or not torch.equal(after.grad.values, before.grad.values)):
        fail(f"{name}.grad changed during the call.\n  before: {fmt(before.grad.values)}\n"
             f"  after:  {fmt(after.grad.values)}", "grad_changed")


def call(t, *args, ctx, hints, **kwargs):
    """The exercise called with `args`; (result, the arguments as the call left them)."""
    return t.call(*args, context=ctx, hints=hints, after=True, **kwargs)


def op(t, ctx, what, name, *args):
    """A fixed operation on the candidate's objects; what it raised, explained."""
    try:
        return t.op(name, *args)
    except Raised as exc:
        t.fail(ctx, f"{what} raised {exc.type_name}: {exc.message.strip()}")


def values_of(out):
    """The values of a plain tensor the candidate returned, else None."""
    if isinstance(out, SeenTensor) and out.kind != "subclass" and out.values is not None \
            and out.dtype is not None and out.dtype.is_floating_point:
        return out.values
    return None


def matches(got, values, rtol, atol):
    return values is not None and close(got, values, rtol, atol)


def name_mistake(got, candidates):
    """The explanation of the first (values, explanation, rtol, atol) that `got` matches."""
    if got is None:
        return None
    for values, explanation, rtol, atol in candidates:
        if values is not None and tuple(values.shape) == tuple(got.shape) and matches(got, values, rtol, atol):
            return explanation
    return None


IN_PLACE_ON_LEAF = ("a leaf Variable that requires grad is being used in an in-place operation",
                    "a view of a leaf Variable that requires grad is being used in an in-place")


# =============================================================================================
# grad_of
# =============================================================================================

LEFT_IN_X = ("you ran backward() through the caller's x, so autograd stored the gradient in "
             "x.grad (backward() fills the .grad of the leaves it reaches). grad_of must leave x as "
             "it was: "
             "differentiate a copy, x2 = x.detach().clone().requires_grad_(True), and return "
             "x2.grad (or use torch.autograd.grad(f(x2), x2)).")
GRAD_OF_HINTS = {
    "grad_left": "a gradient left in x.grad by grad_of: " + LEFT_IN_X,
    "grad_changed": ("backward() adds (accumulates) into x.grad, and x already held a gradient: "
                     "calling backward() through the caller's x changed its .grad. Differentiate a "
                     "copy, x.detach().clone().requires_grad_(True), whose .grad starts empty."),
    "grad_cleared": ("you set x.grad = None (or zeroed it) to make room for your gradient; "
                     "the caller's gradient is lost. Work on x.detach().clone().requires_grad_(True) "
                     "and leave x.grad alone."),
    "requires_grad": ("you called x.requires_grad_() (or set x.requires_grad) on the caller's "
                      "tensor. Work on a copy: x.detach().clone().requires_grad_(True)."),
    "values": "grad_of must not write into x; differentiate a copy of it.",
    "version": "grad_of must not write into x (not even to put its values back); differentiate a copy.",
}
GRAD_OF_RAISES = {
    "does not require grad and does not have a grad_fn": (
        "f(x) was computed from a tensor that does not require grad (or inside torch.no_grad()), "
        "so autograd recorded nothing to differentiate. Make the copy you pass to f require grad: "
        "x2 = x.detach().clone().requires_grad_(True), and call f(x2) with gradients enabled."),
    "grad can be implicitly created only for scalar": (
        "backward() without a gradient needs a 0-d output; f(x) is 0-d here, so call backward() "
        "on f(x2) itself, not on something else."),
    "Mismatch in shape": (
        "f(x) is 0-d: call f(x2).backward() with no gradient (or with torch.ones(()) of f's shape, "
        "not x's shape)."),
    "a leaf Variable that requires grad": (
        "you wrote into a tensor that requires grad; never modify x, work on a copy."),
    "unsupported operand": ("the gradient you read is None: x2.grad is only filled for a leaf "
                            "that requires grad; use x2 = x.detach().clone().requires_grad_(True)."),
}
GRAD_REPLACED = ("x.grad now holds the gradient of f alone: you set x.grad = None (or zeroed it) "
                 "and ran backward() through x, so the caller's gradient was replaced. Leave "
                 "x.grad alone: differentiate x.detach().clone().requires_grad_(True).")
NONE_RESULT_GRAD_IN_X = (
    "It returned None, and the gradient went into the caller's x.grad instead.\n"
    "Likely mistake: x2 = x.clone().requires_grad_() (clone without detach) is not a leaf when x "
    "requires grad: the graph runs through x2 back to x, so backward() fills x.grad, and x2.grad "
    "stays None. Detach first: x2 = x.detach().clone().requires_grad_(True).")
RESULT_REQUIRES_GRAD = (
    "the returned gradient requires grad (it has grad_fn={fn}): it is still part of a graph. "
    "Likely mistake: torch.autograd.grad(..., create_graph=True), or returning a tensor computed "
    "from x2. Return a plain gradient: x2.grad, or torch.autograd.grad(f(x2), x2)[0] (add "
    ".detach() if you built it yourself).")

GRAD_OF_CASES = [  # (x, function kind, constants, requires_grad, grad before)
    ([[1.0, -2.0, 0.5], [0.25, 1.5, -1.0]], "cube", {}, False, None),
    ([[0.5, -1.0], [1.5, 0.25], [-2.0, 1.0]], "sin_x2", {}, True,
     [[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]]),                                # backward() would accumulate
    ([0.5, -1.0, 2.0, 1.25], "sin_x2", {}, True, None),                  # a gradient left in x.grad shows
    ([[1.0, -0.5, 0.25], [2.0, 0.75, -1.25], [0.5, 0.5, -2.0]], "matmul_tanh",
     {"C": [[0.5, -1.0], [1.0, 0.25], [-0.75, 1.5]]}, False, None),       # square x, non-square W
    ([[0.5, -0.25, 1.0], [1.5, -1.0, 0.75]], "matmul_tanh",
     {"C": [[1.0, -0.5], [0.25, 0.5], [-1.0, 0.75]]}, True, None),         # non-square x
    ([1.0, -2.0, 0.5], "quadratic", {"C": [[1.0, 2.0, 0.0], [-1.0, 0.5, 1.0], [0.0, 3.0, -2.0]]},
     False, None),                                                         # A not symmetric
    (0.75, "softplus_sigmoid", {}, True, -2.0),                            # a 0-d x, with a .grad
    ([[1.5, -0.5, 0.25, 2.0]], "logsumexp", {}, False, None),
    ([[[0.5, -1.0, 2.0]], [[1.0, 0.25, -0.5]]], "linear_exp",
     {"C": [[[1.0, -2.0, 0.5]], [[0.25, 1.5, -1.0]]]}, True, [[[0.5, 0.5, 0.5]], [[0.5, 0.5, 0.5]]]),
    ([-1.0, 2.0, 0.5], "tanh_weighted", {"C": [2.0, -0.5, 1.5]}, False, None),
]


@st.composite
def autograd_inputs(draw, shapes=SHAPES, values=quarters(-2, 2), with_state=True):
    """(x, kind, consts, requires_grad, grad): x of a drawn shape, a function that fits it,
    its constants, and the autograd state x arrives in."""
    shape = draw(st.sampled_from(shapes))
    x = draw(shaped(shape, values))
    kind = draw(st.sampled_from(kinds_for(shape)))
    consts = {}
    cshape = const_shape(kind, shape)
    if cshape is not None:
        consts["C"] = draw(shaped(cshape, quarters(-2, 2)))
    if not with_state:
        return x, kind, consts
    state = draw(st.sampled_from(["plain", "requires_grad", "with_grad"]))
    grad = draw(shaped(shape, quarters(-4, 4))) if state == "with_grad" else None
    return x, kind, consts, state != "plain", grad


GRAD_OF_INPUTS = autograd_inputs()


@A.exercise("grad_of", "def grad_of(f, x)", strategies=[GRAD_OF_INPUTS])
def grad_of(t):
    rtol, atol = TOL[t.dtype]

    def case(example):
        values, kind, consts, requires_grad, grad = example
        x_in = t.tensor(values, requires_grad=requires_grad,
                        grad=None if grad is None else torch.tensor(grad, dtype=t.dtype))
        ctx = "\n".join([t.context("grad_of(f, x)", x=values), describe_function(kind, consts),
                         _state_text(requires_grad, grad)])
        x = t.make(x_in)
        out, args = call(t, function_spec(kind, consts, t.dtype), x, ctx=ctx, hints=GRAD_OF_RAISES)
        after = args[1]
        if out is None and after.grad is not None and (
                x.grad is None or not torch.equal(after.grad.values, x.grad.values)):
            t.fail(ctx, NONE_RESULT_GRAD_IN_X)
        local = torch.as_tensor(values, dtype=torch.float64)
        expected = analytic_grad(kind, consts, local)
        hints = GRAD_OF_HINTS
        if grad is not None and getattr(after, "grad", None) is not None and after.grad.values is not None \
                and after.grad.shape == tuple(local.shape) and matches(after.grad.values, expected, rtol, atol):
            hints = dict(GRAD_OF_HINTS, grad_changed=GRAD_REPLACED)   # not added to: replaced
        expect_untouched(t, x, after, ctx, hints=hints)
        got = values_of(out)
        hint = name_mistake(got, [
            (f_value(kind, consts, local) if local.dim() else None,
             "that is f(x), the function's value, not its gradient df/dx.", 1e-4, 1e-5),
            (expected + torch.tensor(grad, dtype=torch.float64) if grad is not None else None,
             "this is the gradient plus what x.grad held before: backward() adds (accumulates) "
             "into .grad. Differentiate a fresh copy, x.detach().clone().requires_grad_(True).",
             rtol, atol),
        ])
        if hint is None and got is not None and got.shape == tuple(local.shape) and not got.dtype.is_complex \
                and matches(got, expected, 1e-2, 1e-3) and not matches(got, expected, rtol, atol):
            hint = ("the values are close but not within tolerance: did you estimate the gradient "
                    "with finite differences? grad_of must use autograd, which is exact up to rounding.")
        if hint is None and got is not None and got.shape == tuple(local.shape) and matches(got, -expected, rtol, atol):
            hint = "the sign is flipped: return df/dx, not -df/dx."
        out = t.expect(out, expected, ctx, rtol=rtol, atol=atol,
                       mistakes=[(got, hint)] if hint else [], what="the gradient")
        if out.requires_grad or out.grad_fn is not None:
            t.fail(ctx, RESULT_REQUIRES_GRAD.format(fn=out.grad_fn))

    for example in GRAD_OF_CASES:
        case(example)
    t.for_all(GRAD_OF_INPUTS, case)


# =============================================================================================
# relu_out_of_place
# =============================================================================================

RELU_IN_PLACE = ("relu_ / clamp_ / F.relu(x, inplace=True) / nn.ReLU(inplace=True) / "
                 "x[x < 0] = 0 write into x itself (in place). Build a new tensor instead: "
                 "x.clamp(min=0), torch.relu(x), torch.where(x > 0, x, 0) or x * (x > 0).")
RELU_HINTS = {
    "values": "you changed x in place: " + RELU_IN_PLACE,
    "version": "you wrote into x in place (its version counter moved): " + RELU_IN_PLACE,
    "requires_grad": "relu_out_of_place must not change x.requires_grad.",
    "grad_left": "relu_out_of_place must not run backward() itself.",
    "grad_changed": "relu_out_of_place must not run backward() itself.",
    "grad_cleared": "relu_out_of_place must not touch x.grad.",
}
RELU_RAISES = {
    "leaf Variable that requires grad is being used in an in-place": (
        "torch.relu_(x), x.relu_(), x.clamp_(...), F.relu(x, inplace=True), "
        "nn.ReLU(inplace=True) and x[x < 0] = 0 modify x in place, which autograd forbids on a "
        "leaf that requires grad. Build a new tensor: x.clamp(min=0), torch.where(x > 0, x, 0) "
        "or x * (x > 0)."),
    "Can't call numpy() on Tensor that requires grad": (
        "going through NumPy leaves autograd behind: .numpy() refuses a tensor that requires "
        "grad (and x.detach().numpy() would cut the gradient). Stay in torch: x.clamp(min=0)."),
    "can't convert cuda": ("NumPy works on the CPU only, and leaves autograd behind: stay in "
                           "torch (x.clamp(min=0))."),
}
NO_FLOW = ("gradients do not flow from the result back to x: {why}\n"
           "Likely mistake: .detach(), torch.no_grad(), .numpy() or torch.tensor(...) cut the "
           "result off from x's graph. Compute it from x with torch operations: x.clamp(min=0), "
           "torch.where(x > 0, x, 0) or x * (x > 0).")

RELU_CASES = [  # (x, requires_grad, weights of the backward pass)
    ([[1.0, -2.0, 3.0], [-0.5, 4.0, -6.0]], True, None),
    ([[1.0, -2.0, 3.0], [-0.5, 4.0, -6.0]], False, None),
    ([[-1.5, 2.0, 0.25], [3.0, -0.75, -2.0], [0.5, 1.0, -4.0]], True, [[1.0, -2.0, 0.5], [3.0, 1.5, -1.0], [2.0, 0.25, 4.0]]),
    ([-3.0, 2.5, -0.25, 7.0, 1.0], True, [2.0, -1.0, 3.0, 0.5, -2.0]),
    ([[0.5], [-1.0], [2.0]], False, None),
    ([[[-1.0, 2.0], [3.0, -4.0]], [[5.0, -6.0], [-7.0, 8.0]]], True, None),
    ([-2.0, -1.0, -0.5], True, None),                    # all negative: the gradient is all 0
    ([4.0, 0.5], False, None),                           # all positive: relu changes nothing
]

NONZERO = quarters(-10, 10).filter(lambda v: v != 0)


@st.composite
def relu_inputs(draw):
    shape = draw(st.sampled_from([(1,), (5,), (2, 3), (3, 2), (3, 3), (2, 2, 2)]))
    x = draw(shaped(shape, NONZERO))
    requires_grad = draw(st.booleans())
    weights = draw(shaped(shape, quarters(-4, 4))) if requires_grad and draw(st.booleans()) else None
    return x, requires_grad, weights


RELU_INPUTS = relu_inputs()


@A.exercise("relu_out_of_place", "def relu_out_of_place(x)", strategies=[RELU_INPUTS])
def relu_out_of_place(t):
    rtol, atol = (1e-6, 1e-7)

    def case(example):
        values, requires_grad, weights = example
        local = torch.as_tensor(values, dtype=torch.float64)
        ctx = t.context(x=values) + ("\n  (x is a leaf with requires_grad=True)" if requires_grad else "")
        x = t.make(t.tensor(values, requires_grad=requires_grad))
        out, (after,) = call(t, x, ctx=ctx, hints=RELU_RAISES)
        expect_untouched(t, x, after, ctx, hints=RELU_HINTS)
        if getattr(out, "ref", None) == x.ref:
            t.fail(ctx, "It returned x itself, not a new tensor. Likely mistake: " + RELU_IN_PLACE)
        expected = local.clamp(min=0)
        mask = (local > 0).to(torch.float64)
        out = t.expect(out, expected, ctx, rtol=rtol, atol=atol, mistakes=[
            (mask, "this is the mask x > 0 (the derivative of relu), not relu itself: keep x where "
                   "it is positive, e.g. x * (x > 0) or torch.where(x > 0, x, 0)."),
            (local.clamp(max=0), "this is min(x, 0) (clamp(max=0)): relu keeps the positive "
                                 "entries, clamp(min=0)."),
            (local.abs(), "this is |x|: relu sets the negative entries to 0."),
            (local, "these are x's values unchanged: the negative entries must become 0."),
            (-local.clamp(max=0), "this is relu(-x): relu keeps the positive entries of x."),
        ])
        if not requires_grad:
            return
        if not out.requires_grad:
            t.fail(ctx, NO_FLOW.format(why="x requires grad, but the result does not."))
        if out.is_leaf:
            t.fail(ctx, NO_FLOW.format(why="the result is a new leaf tensor (it requires grad but "
                                           "has no grad_fn), so backward() stops at it and never "
                                           "reaches x (.detach().requires_grad_() or "
                                           "torch.tensor(..., requires_grad=True) make such a leaf)."))
        if weights is None:
            w = torch.ones_like(local)
            op(t, ctx, "relu_out_of_place(x).sum().backward()", "sum_backward", out)
            what = "x.grad after relu_out_of_place(x).sum().backward()"
        else:
            w = torch.as_tensor(weights, dtype=torch.float64)
            op(t, ctx, "relu_out_of_place(x).backward(g)", "backward", out, t.tensor(weights))
            what = f"x.grad after relu_out_of_place(x).backward(g) with g = {fmt(weights)}"
        now = t.describe(x)
        if now.grad is None:
            t.fail(ctx, NO_FLOW.format(why=f"{what} is None."))
        t.expect(now.grad, w * mask, ctx, rtol=rtol, atol=atol, what=what, mistakes=[
            (w, "the gradient is passed through everywhere, also where x < 0: the result is "
                "computed so that autograd sees the identity (a .detach() trick, or x plus a "
                "detached correction). The gradient of relu is 0 where x < 0."),
        ])

    for example in RELU_CASES:
        case(example)
    t.for_all(RELU_INPUTS, case)


# =============================================================================================
# sgd_step
# =============================================================================================

SGD_RAISES = {
    "leaf Variable that requires grad is being used in an in-place": (
        "the update ran outside torch.no_grad(): autograd refuses to record an in-place change "
        "of a leaf that requires grad. Wrap the update: with torch.no_grad(): p -= lr * p.grad."),
    "unsupported operand type(s) for *: 'float' and 'NoneType'": (
        "some tensors have .grad None (they took no part in the loss): skip them, "
        "`if p.grad is None: continue`."),
    "unsupported operand type": (
        "some tensors have .grad None (they took no part in the loss): skip them, "
        "`if p.grad is None: continue`."),
    "'NoneType' object has no attribute": (
        "some tensors have .grad None: skip them (`if p.grad is not None:`) before zeroing."),
    "has no len()": ("params may be a generator (such as model.parameters()), which has no "
                     "len(): loop over it with `for p in params:`."),
    "is not subscriptable": ("params may be a generator (such as model.parameters()), which "
                             "cannot be indexed: loop over it with `for p in params:`."),
    "out=... arguments don't support automatic differentiation": (
        "the update ran outside torch.no_grad(): wrap it, with torch.no_grad(): p -= lr * p.grad."),
}
REBOUND = ("p's values did not change. Likely mistake: `p = p - lr * p.grad` makes a new tensor "
           "and rebinds the loop variable p to it; the tensor the caller holds is never updated "
           "(the same goes for params[i] = ...). Update in place: "
           "with torch.no_grad(): p -= lr * p.grad (or p.sub_(lr * p.grad)).")
RESET_FIRST = ("p's values did not change and its gradient was reset: did you zero the gradient "
               "before using it? Update first (p -= lr * p.grad), then reset p.grad.")
NOT_RESET = ("p.grad still holds the gradient after the step. Likely mistake: forgetting to "
             "reset it (zero_grad): the next backward() would add to it. After updating p, set "
             "p.grad = None (or p.grad.zero_()).")
ONCE = (" With a generator (such as model.parameters()), a second loop over params sees nothing: "
        "a generator can be iterated only once. Update and reset in one loop, or first take "
        "params = list(params).")
KINDS = {"list": "a list", "generator": "a generator (p for p in [...])",
         "parameters_of": "module.parameters() (a generator of nn.Parameters)"}

SGD_CASES = [  # (params: [(values, grad or None)], lr, how they are passed)
    ([([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], [[0.5, -1.0, 2.0], [1.0, 0.25, -0.5]]),
      ([1.0, -1.0, 0.5], [2.0, 4.0, -2.0]),
      ([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], None)], 0.5, "list"),
    ([([[1.0, -2.0], [0.5, 3.0]], [[1.0, 1.0], [-2.0, 0.5]]), ([2.0, -4.0], [1.0, -1.0])], 0.25, "generator"),
    ([([[1.0, -2.0, 0.5], [0.25, 3.0, -1.0]], [[1.0, 2.0, -1.0], [0.5, 0.5, 2.0]]),
      ([0.5, -0.5], [4.0, 2.0]), ([3.0, 1.0], None)], 0.5, "parameters_of"),
    ([(2.0, -3.0), ([1.0, 2.0, 3.0, 4.0], None)], 1.0, "list"),               # a 0-d tensor
    ([([[1.5, -2.5, 0.5]], [[0.25, 1.0, -1.0]])], 0.1, "generator"),
]


@st.composite
def sgd_inputs(draw):
    shapes = draw(st.lists(st.sampled_from([(), (3,), (2, 3), (3, 2), (2, 2)]), min_size=1, max_size=4))
    params = []
    for shape in shapes:
        values = draw(shaped(shape, quarters(-10, 10)))
        grad = draw(st.one_of(st.none(), shaped(shape, quarters(-10, 10))))
        params.append((values, grad))
    if all(g is None for _, g in params):
        params[0] = (params[0][0], draw(shaped(shapes[0], quarters(-10, 10))))
    lr = draw(st.sampled_from([1.0, 0.5, 0.25, 0.1, 0.01]))
    kind = draw(st.sampled_from(["list", "generator", "parameters_of"]))
    return params, lr, kind


SGD_INPUTS = sgd_inputs()


@A.exercise("sgd_step", "def sgd_step(params, lr)", strategies=[SGD_INPUTS])
def sgd_step(t):
    rtol, atol = {torch.float32: (1e-5, 1e-6), torch.float64: (1e-12, 1e-12)}[t.dtype]

    def case(example):
        params, lr, kind = example
        lines = [f"sgd_step(params, lr={lr}) on {t.device}, {dtype_name(t.dtype)}, with params {KINDS[kind]} of leaf tensors with requires_grad=True:"]
        for i, (values, grad) in enumerate(params):
            lines.append(f"  params[{i}] = {fmt(values)}  (shape {fmt_shape(torch.tensor(values).shape)}), "
                         f".grad = {'None' if grad is None else fmt(grad)}")
        ctx = "\n".join(lines)
        made = []
        if kind == "parameters_of":
            module = t.make(Spec("module", parameters=[[f"p{i}", t.tensor(v), True]
                                                        for i, (v, _) in enumerate(params)]))
            for i, (_, grad) in enumerate(params):
                p = module.parameters[f"p{i}"]
                if grad is not None:
                    op(t, ctx, "setting up the gradients", "backward", p, t.tensor(grad))
                made.append(t.describe(p))
            arg = Spec("parameters_of", module=module)
        else:
            for values, grad in params:
                made.append(t.make(t.tensor(values, requires_grad=True,
                                            grad=None if grad is None else torch.tensor(grad, dtype=t.dtype))))
            arg = made if kind == "list" else Spec("generator", items=made)
        returned = t.call(arg, lr, context=ctx, hints=SGD_RAISES)

        for i, ((values, grad), before) in enumerate(zip(params, made)):
            now = t.describe(before)
            name = f"params[{i}]"
            require_tensor(now, name, ctx)
            old = torch.as_tensor(values, dtype=torch.float64)
            if grad is None:
                if now.values is None or not torch.equal(now.values.to(torch.float64), old) or now.grad is not None:
                    t.fail(ctx, f"{name} had .grad None, so it must be left unchanged, but it now holds "
                                f"{fmt(now.values)} with .grad "
                                f"{'None' if now.grad is None else fmt(now.grad.values)}.\n"
                                "Likely mistake: a tensor whose .grad is None took no part in the "
                                "loss; skip it (`if p.grad is None: continue`).")
                continue
            g = torch.as_tensor(grad, dtype=torch.float64)
            if now.grad_fn is not None or not now.is_leaf:
                t.fail(ctx, f"{name} has autograd history after the step (grad_fn={now.grad_fn}, "
                            f"is_leaf={now.is_leaf}): the update was recorded in the graph.\n"
                            "Likely mistake: updating outside torch.no_grad(). Write "
                            "with torch.no_grad(): p -= lr * p.grad.")
            if not now.requires_grad:
                t.fail(ctx, f"{name} no longer requires grad after the step, so the next backward() "
                            "would not compute its gradient.\nLikely mistake: p.requires_grad_(False) "
                            "(or p.requires_grad = False) left behind; use torch.no_grad() "
                            "instead: it stops recording without changing requires_grad.")
            expected = old - lr * g
            reset = now.grad is None or (now.grad.values is not None and not now.grad.values.any())
            if now.values is not None and now.shape == tuple(old.shape) and torch.equal(now.values.to(torch.float64), old) \
                    and not torch.equal(expected, old):
                t.fail(ctx, f"{name} = {fmt(now.values)} after the step, unchanged; expected "
                            f"{fmt(expected)} (p - lr * p.grad).\n"
                            + ("Likely mistake: " + RESET_FIRST if reset else REBOUND))
            got = now.values
            hint = name_mistake(got, [
                (old + lr * g, "the update went up the gradient (p + lr * p.grad): "
                               "gradient descent subtracts, p -= lr * p.grad.", rtol, atol),
                (old - g, "lr is missing: the step is p - lr * p.grad.", rtol, atol),
                (old - 2 * lr * g, "the update was applied twice (two loops, or -= twice?).", rtol, atol),
            ])
            t.expect(now, expected, ctx, rtol=rtol, atol=atol, what=f"{name} after the step",
                     mistakes=[(got, hint)] if hint else [],
                     dtype_reason="(its dtype before the step): update p in place, keeping its dtype.")
            if not reset:
                same = now.grad.values is not None and torch.equal(now.grad.values.to(torch.float64), g)
                t.fail(ctx, f"{name}.grad = {fmt(now.grad.values)} after the step; expected None or "
                            "zeros (the gradient reset).\n"
                            + (NOT_RESET + (ONCE if kind != "list" else "") if same else
                               "Likely mistake: p.grad was changed, but not reset: set p.grad = None "
                               "or call p.grad.zero_()."))
        if returned is not None:
            kind_name = getattr(returned, "type_name", type(returned).__name__).rsplit(".", 1)[-1]
            t.fail(ctx, f"sgd_step returned a {kind_name}; it must return None: it updates the "
                        "caller's tensors in place (like optimizer.step()), so there is nothing to "
                        "return.")

    for example in SGD_CASES:
        case(example)
    t.for_all(SGD_INPUTS, case)


# =============================================================================================
# numerical_grad
# =============================================================================================

def central(kind, consts, x, eps, dtype=torch.float64, step=None):
    """(f(x + eps e_i) - f(x - eps e_i)) / (2 eps), element by element, here (step: 'forward',
    'backward', 'half' for dividing by eps, 'all' for moving every entry at once)."""
    f = function_spec(kind, consts, dtype).here()
    x = torch.as_tensor(x, dtype=dtype)
    flat = x.reshape(-1)
    out = torch.empty_like(flat)
    with torch.no_grad():
        if step == "all":
            d = (f(x + eps) - f(x - eps)) / (2 * eps)
            return torch.full_like(x, float(d))
        for i in range(flat.numel()):
            e = torch.zeros_like(flat)
            e[i] = eps
            up, down = f((flat + e).reshape(x.shape)), f((flat - e).reshape(x.shape))
            mid = f(x)
            if step == "forward":
                out[i] = (up - mid) / eps
            elif step == "backward":
                out[i] = (mid - down) / eps
            elif step == "half":
                out[i] = (up - down) / eps
            else:
                out[i] = (up - down) / (2 * eps)
    return out.reshape(x.shape)


NUMERICAL_HINTS = {
    "values": ("numerical_grad must not change x: build x + eps * e_i as a new tensor (or perturb "
               "a clone), and never write into x."),
    "version": ("you wrote into x in place (x[i] += eps, then back), so x's version counter moved "
                "even if its values were restored (and x + eps - eps is not always x in floating "
                "point). Perturb a copy, x.clone(), or build x + eps * e_i as a new tensor."),
    "requires_grad": "numerical_grad must not change x.requires_grad.",
    "grad_left": "numerical_grad needs no backward(): it only evaluates f.",
    "grad_changed": "numerical_grad needs no backward(): it only evaluates f.",
    "grad_cleared": "numerical_grad must not touch x.grad.",
}
NUMERICAL_RAISES = {
    "leaf Variable that requires grad is being used in an in-place": (
        "you perturbed x in place (x[i] += eps) and x requires grad. Never write into x: "
        "perturb a clone made under torch.no_grad(), or build x + eps * e_i as a new tensor."),
    "view size is not compatible": "use reshape(-1) (or flatten()) rather than view(-1).",
    "a Tensor with": "f(x) is a 0-d tensor; compare whole tensors, or use .item() on f's result only.",
}
FLOAT32 = ("eps = 1e-6 is too small for float32: with about 7 significant digits, "
           "f(x + eps e_i) - f(x - eps e_i) is mostly rounding error. numerical_grad works in x's "
           "float64: no .float(), and no torch.tensor(...) of Python floats without dtype=x.dtype.")

NUMERICAL_CASES = [  # (x, kind, consts, eps or None for the default, requires_grad)
    ([[1.0, -0.5, 0.25], [2.0, 0.75, -1.25]], "cube", {}, None, False),
    ([[1.0, -0.5, 0.25], [2.0, 0.75, -1.25]], "cube", {}, 0.1, False),       # one-sided shows
    ([0.5, -1.0, 1.5, 0.25], "sin_x2", {}, 1e-2, False),
    ([0.5, -1.0, 1.5, 0.25], "sin_x2", {}, None, True),                     # x requires grad
    ([[0.5, -1.0], [1.5, 0.25], [-0.5, 1.0]], "matmul_tanh", {"C": [[1.0, -0.5, 0.25], [0.5, 1.0, -1.0]]}, None, False),
    (-0.75, "softplus_sigmoid", {}, None, False),                           # 0-d x
    ([1.0, -0.5, 0.25], "quadratic", {"C": [[1.0, 2.0, 0.0], [-1.0, 0.5, 1.0], [0.0, 1.5, -2.0]]}, 1e-3, False),
    ([[[0.5, -1.0], [0.25, 1.5]]], "logsumexp", {}, 1e-6, True),             # eps passed positionally
]


@st.composite
def numerical_inputs(draw):
    x, kind, consts = draw(autograd_inputs(shapes=[(), (1,), (3,), (2, 3), (3, 2), (2, 2)], with_state=False))
    eps = draw(st.sampled_from([None, 1e-6, 1e-2, 1e-3, 0.1]))
    return x, kind, consts, eps, draw(st.booleans())


NUMERICAL_INPUTS = numerical_inputs()


@A.exercise("numerical_grad", "def numerical_grad(f, x, eps=1e-6)", dtypes=(torch.float64,),
            strategies=[NUMERICAL_INPUTS])
def numerical_grad(t):
    def case(example):
        values, kind, consts, eps, requires_grad = example
        local = torch.as_tensor(values, dtype=torch.float64)
        shown = "numerical_grad(f, x)" if eps is None else f"numerical_grad(f, x, eps={eps:g})"
        ctx = "\n".join([t.context(shown, x=values), describe_function(kind, consts)]
                        + (["  (x is a leaf with requires_grad=True)"] if requires_grad else []))
        x = t.make(t.tensor(values, requires_grad=requires_grad))
        f = function_spec(kind, consts, t.dtype)
        if eps is None:
            out, args = call(t, f, x, ctx=ctx, hints=NUMERICAL_RAISES)
        elif eps == 1e-6:   # passed positionally
            out, args = call(t, f, x, eps, ctx=ctx, hints=NUMERICAL_RAISES)
        else:
            out, args = call(t, f, x, ctx=ctx, hints=NUMERICAL_RAISES, eps=eps)
        expect_untouched(t, x, args[1], ctx, hints=NUMERICAL_HINTS)

        h = 1e-6 if eps is None else eps
        analytic = analytic_grad(kind, consts, local)
        if h >= 1e-3:
            expected, rtol, atol, against = central(kind, consts, local, h), 1e-7, 1e-10, \
                f"the central difference with eps={h:g}"
        else:
            expected, rtol, atol, against = analytic, 1e-5, 1e-8, "the analytic gradient"
        got = values_of(out)
        loose = (1e-6, 1e-9) if h >= 1e-3 else (1e-3, 1e-6)
        hint = name_mistake(got, [
            (central(kind, consts, local, h, step="forward"),
             "a one-sided (forward) difference (f(x + eps e_i) - f(x)) / eps: its error shrinks "
             "only like eps, the central difference's like eps**2. Use (f(x + eps e_i) - "
             "f(x - eps e_i)) / (2 * eps).", *loose),
            (central(kind, consts, local, h, step="backward"),
             "a one-sided (backward) difference (f(x) - f(x - eps e_i)) / eps; use the central "
             "difference (f(x + eps e_i) - f(x - eps e_i)) / (2 * eps).", *loose),
            (central(kind, consts, local, h, step="half"),
             "twice the central difference: divide by 2 * eps, the distance between x + eps e_i "
             "and x - eps e_i.", *loose),
            (central(kind, consts, local, h, step="all") if local.numel() > 1 else None,
             "you moved every entry of x at once (x + eps), which gives one directional derivative; "
             "move one entry at a time, x + eps * e_i, for each i.", *loose),
            (analytic if h >= 1e-3 else None,
             f"this is the exact gradient, not the central difference with eps={h:g}: the eps "
             "argument was ignored (a fixed step inside the function, or autograd instead of "
             "differences). Use the eps you are given.", 1e-5, 1e-8),
        ])
        if got is not None and hint is None and got.shape == tuple(local.shape) and not got.dtype.is_complex:
            scale = float(f_value(kind, consts, local).abs().max()) + 1.0
            err = float((got.to(torch.float64) - expected).abs().max())
            if not matches(got, expected, rtol, atol) and err <= 50 * 1.2e-7 * scale / h:
                hint = "the errors are the size float32 rounding gives. " + FLOAT32
        if hint is None and got is not None and got.numel() == local.numel() and got.shape != tuple(local.shape):
            hint = "the result must have x's shape: reshape it back (out.reshape(x.shape))."
        out = t.expect(out, expected, ctx, rtol=rtol, atol=atol, what=f"the estimate (compared with {against})",
                       mistakes=[(got, hint)] if hint else [], dtype_reason="(x's dtype). " + FLOAT32)
        if out.requires_grad:
            t.fail(ctx, "the result requires grad (grad_fn=" + str(out.grad_fn) + "): it was computed "
                        "from x, which requires grad, with autograd recording.\nLikely mistake: "
                        "evaluate f under torch.no_grad() (or on x.detach()), so that the estimate is "
                        "a plain tensor.")

    for example in NUMERICAL_CASES:
        case(example)
    t.for_all(NUMERICAL_INPUTS, case)

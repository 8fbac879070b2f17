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
  x has any shape, 0-d included. A plain x (no autograd state) of grad_of or relu_out_of_place
  also arrives in the other layouts (`layouts`), and so does numerical_grad's: a transposed x,
  a slice with a step or an offset, an expanded x. A perturbation written into
  `x.clone().reshape(-1)` is lost when x is not contiguous (the clone keeps x's strides, so
  reshape copies): the estimate is then all zeros, which `estimate_mistakes` names.
- sgd_step: "left unchanged" for a tensor whose .grad is None means its values, and its .grad
  still None; a reset gradient is None or all zeros; the function must return None.
- numerical_grad with a large eps (1e-3 and up) is compared with the central-difference formula
  itself, computed here in float64 (rtol 1e-7, atol 1e-10); with eps 1e-6 (the default) with the
  analytic gradient (rtol 1e-5, atol 1e-8), on functions whose values stay small enough for that
  to hold.
"""

import torch

from ..compare import likely_line
from ..declare import (
    Assignment,
    Hint,
    Spec,
    close,
    fmt,
    fmt_shape,
    layouts,
    quarters,
    require_tensor,
    shaped,
    st,
    tolerances,
    type_name,
)

A = Assignment("02_autograd")


# =============================================================================================
# functions to differentiate (grad_of, numerical_grad)
# =============================================================================================

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
TREES = {  # their expression trees (fixtures.FUNCTION_OPS), given the tree of the constant c
    "sin_x2": lambda c: ["sum", ["mul", ["sin", "x"], ["pow", "x", 2]]],
    "cube": lambda c: ["div", ["sum", ["pow", "x", 3]], 3],
    "logsumexp": lambda c: ["logsumexp", "x"],
    "tanh_weighted": lambda c: ["mean", ["tanh", ["mul", "x", c]]],
    "linear_exp": lambda c: ["add", ["dot", "x", c], ["div", ["sum", ["exp", "x"]], 4]],
    "softplus_sigmoid": lambda c: ["sum", ["sub", ["softplus", "x"], ["mul", ["sigmoid", "x"], "x"]]],
    "matmul_tanh": lambda c: ["sum", ["square", ["tanh", ["matmul", "x", c]]]],
    "quadratic": lambda c: ["dot", "x", ["matmul", c, "x"]],
}
CONSTANTS = {  # the functions with a constant: its name in the formula, its shape for an x of shape s
    "tanh_weighted": ("C", lambda s: s), "linear_exp": ("C", lambda s: s),
    "matmul_tanh": ("W", lambda s: (s[1], 2 if s[1] != 2 else 3)),  # W (m, k), k != m: a non-square product
    "quadratic": ("A", lambda s: (s[0], s[0])),
}
DIFFERENCES = {  # f, x, a step e = eps * e_i -> the estimate of df/dx_i: the formula, and the usual mistakes
    "central": lambda f, x, e, eps: (f(x + e) - f(x - e)) / (2 * eps),
    "forward": lambda f, x, e, eps: (f(x + e) - f(x)) / eps,
    "backward": lambda f, x, e, eps: (f(x) - f(x - e)) / eps,
    "half": lambda f, x, e, eps: (f(x + e) - f(x - e)) / eps,
    "all": lambda f, x, e, eps: (f(x + eps) - f(x - eps)) / (2 * eps),  # every entry moved at once
}
ANY_SHAPE = ("sin_x2", "cube", "logsumexp", "tanh_weighted", "linear_exp", "softplus_sigmoid")
SHAPES = [(), (1,), (4,), (2, 3), (3, 2), (3, 3), (2, 1, 3)]


def kinds_for(shape):
    """The functions that make sense for an x of this shape."""
    return ANY_SHAPE + {1: ("quadratic",), 2: ("matmul_tanh",)}.get(len(shape), ())


class Function:
    """f(x) = FORMULAS[kind], with its constant consts["C"] if it has one: sent to the candidate
    as an expression tree (`spec`), and built here from the very same tree, in float64 (`here`),
    for the references: its gradient by autograd, finite differences."""

    def __init__(self, kind, consts):
        self.kind, self.constant = kind, consts.get("C")
        self.here = self.spec(torch.float64).here()

    def spec(self, dtype):
        """f as the candidate builds it, its constant in `dtype`."""
        c = None if self.constant is None else {"tensor": torch.tensor(self.constant, dtype=dtype)}
        return Spec("function", expr=TREES[self.kind](c))

    def __str__(self):
        """The line of a message that says what f is."""
        constant = "" if self.constant is None else f"  with {CONSTANTS[self.kind][0]} = {fmt(self.constant)}"
        return f"  f(x) = {FORMULAS[self.kind]}{constant}"

    def grad(self, x):
        """df/dx at x, by autograd."""
        x = x.detach().clone().requires_grad_(True)
        return torch.autograd.grad(self.here(x), x)[0]

    def differences(self, x, eps, formula="central"):
        """`formula` (DIFFERENCES) at x, one entry at a time: x + eps * e_i for each i."""
        steps = (eps * torch.eye(x.numel(), dtype=torch.float64)).reshape(-1, *x.shape)
        return torch.stack([DIFFERENCES[formula](self.here, x, e, eps) for e in steps]).reshape(x.shape)


@st.composite
def autograd_inputs(draw, shapes=SHAPES, with_state=True):
    """(x, kind, consts, requires_grad, grad): x of a drawn shape, a function that fits it,
    its constants, and the autograd state x arrives in."""
    shape = draw(st.sampled_from(shapes))
    x = draw(shaped(shape, quarters(-2, 2)))
    kind = draw(st.sampled_from(kinds_for(shape)))
    consts = {"C": draw(shaped(CONSTANTS[kind][1](shape), quarters(-2, 2)))} if kind in CONSTANTS else {}
    if not with_state:
        return x, kind, consts
    state = draw(st.sampled_from(["plain", "requires_grad", "with_grad"]))
    grad = draw(shaped(shape, quarters(-4, 4))) if state == "with_grad" else None
    return x, kind, consts, state != "plain", grad


# =============================================================================================
# grad_of
# =============================================================================================

GRAD_OF_HINTS = {
    "grad_left": Hint("differentiated-caller-x",
                      "a gradient left in x.grad by grad_of: the backward pass ran through the caller's x, "
                      "and backward() fills the .grad of every leaf it reaches. grad_of must leave x as "
                      "it was, so the tensor it differentiates cannot be x itself (02_autograd, sections "
                      "3 and 6)."),
    "grad_changed": Hint("grad-accumulated-into-x",
                         "backward() adds (accumulates) into x.grad, and x already held a gradient: the "
                         "backward pass ran through the caller's x and changed its .grad (02_autograd, "
                         "section 5)."),
    "grad_cleared": Hint("caller-grad-cleared",
                         "the caller's gradient in x.grad is gone: x.grad was set to None (or zeroed), "
                         "as if to make room for this gradient. grad_of must leave x.grad as it was "
                         "(02_autograd, section 5)."),
    "requires_grad": Hint("requires-grad-on-caller-x",
                          "the caller's x had its requires_grad switched: x.requires_grad_() (or "
                          "x.requires_grad = ...) was called on the caller's tensor itself, which grad_of "
                          "must leave as it was (02_autograd, section 6)."),
    "values": Hint("modified-input-x", "the caller's x was written into: grad_of only reads x (02_autograd, section 7)."),
    "version": Hint("modified-input-x",
                    "the caller's x was written into in place (its version counter moved, even if its "
                    "values are back): grad_of only reads x (02_autograd, section 7)."),
}
GRAD_OF_RAISES = {
    "does not require grad and does not have a grad_fn": Hint(
        "no-graph-recorded",
        "f's result has no graph: the tensor passed to f did not require grad, or f ran inside "
        "torch.no_grad(), so autograd recorded nothing to differentiate (02_autograd, section 6)."),
    "grad can be implicitly created only for scalar": Hint(
        "backward-on-non-scalar",
        "backward() without a gradient needs a 0-d output, and the tensor it was called on is not "
        "0-d; f(x) itself is 0-d (02_autograd, section 4)."),
    "Mismatch in shape": Hint(
        "backward-gradient-wrong-shape",
        "the gradient passed to backward() has x's shape, but f(x) is 0-d: backward(gradient=...) "
        "takes a tensor shaped like the output (02_autograd, section 4)."),
    "a leaf Variable that requires grad": Hint(
        "modified-input-x",
        "something wrote in place into a leaf that requires grad; grad_of only reads x "
        "(02_autograd, section 7)."),
    "unsupported operand": Hint("grad-read-from-non-leaf",
                                "the gradient read back was None: .grad is filled only for a leaf that "
                                "requires grad, and the tensor read was not one (02_autograd, section 3)."),
}
GRAD_REPLACED = Hint(
    "caller-grad-replaced",
    "x.grad now holds the gradient of f alone: x.grad was set to None (or zeroed) "
    "and the backward pass ran through x, so the caller's gradient was replaced "
    "(02_autograd, section 5).")
NONE_RESULT_GRAD_IN_X = "It returned None, and the gradient went into the caller's x.grad instead."
CLONE_NOT_DETACHED = Hint(
    "clone-not-detached",
    "a clone without detach (x.clone().requires_grad_()) is not a leaf when x "
    "requires grad: the graph runs through the clone back to x, so backward() fills x.grad and "
    "the clone's .grad stays None (02_autograd, sections 3 and 6).")
RESULT_REQUIRES_GRAD = "the returned gradient requires grad (it has grad_fn={fn}): it is still part of a graph."
GRADIENT_IN_GRAPH = Hint(
    "gradient-still-in-graph",
    "torch.autograd.grad(..., create_graph=True), or a result computed from the "
    "tensor that was differentiated, with recording on (02_autograd, section 6).")

GRAD_OF_CASES = [  # (x, function kind, constants, requires_grad, grad before)
    ([[1.0, -2.0, 0.5], [0.25, 1.5, -1.0]], "cube", {}, False, None),
    # backward() would accumulate
    ([[0.5, -1.0], [1.5, 0.25], [-2.0, 1.0]], "sin_x2", {}, True, [[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]]),
    ([0.5, -1.0, 2.0, 1.25], "sin_x2", {}, True, None),                  # a gradient left in x.grad shows
    ([[1.0, -0.5, 0.25], [2.0, 0.75, -1.25], [0.5, 0.5, -2.0]], "matmul_tanh",
     {"C": [[0.5, -1.0], [1.0, 0.25], [-0.75, 1.5]]}, False, None),       # square x, non-square W
    ([[0.5, -0.25, 1.0], [1.5, -1.0, 0.75]], "matmul_tanh",
     {"C": [[1.0, -0.5], [0.25, 0.5], [-1.0, 0.75]]}, True, None),         # non-square x
    # A not symmetric
    ([1.0, -2.0, 0.5], "quadratic", {"C": [[1.0, 2.0, 0.0], [-1.0, 0.5, 1.0], [0.0, 3.0, -2.0]]}, False, None),
    (0.75, "softplus_sigmoid", {}, True, -2.0),                            # a 0-d x, with a .grad
    ([[1.5, -0.5, 0.25, 2.0]], "logsumexp", {}, False, None),
    ([[[0.5, -1.0, 2.0]], [[1.0, 0.25, -0.5]]], "linear_exp",
     {"C": [[[1.0, -2.0, 0.5]], [[0.25, 1.5, -1.0]]]}, True, [[[0.5, 0.5, 0.5]], [[0.5, 0.5, 0.5]]]),
    ([-1.0, 2.0, 0.5], "tanh_weighted", {"C": [2.0, -0.5, 1.5]}, False, None),
]


def state_text(requires_grad, grad):
    """The line of a message that says the autograd state x arrived in."""
    if not requires_grad:
        return "  (x does not require grad; x.grad is None)"
    if grad is None:
        return "  (x is a leaf with requires_grad=True; x.grad is None)"
    return f"  (x is a leaf with requires_grad=True; x.grad = {fmt(grad)} before the call)"


@A.exercise("grad_of", "def grad_of(f, x)", cases=GRAD_OF_CASES, strategy=autograd_inputs(),
            tolerance=tolerances.GRADIENTS)
def grad_of(t, case):
    values, kind, consts, requires_grad, grad = case
    f, local = Function(kind, consts), torch.tensor(values, dtype=torch.float64)
    ctx = "\n".join([t.context("grad_of(f, x)", x=values), str(f), state_text(requires_grad, grad)])
    x = t.make(t.tensor(values, requires_grad=requires_grad, grad=grad))
    # x as the call left it, checked here rather than by t.call: a None result explains it first
    out, (_, after) = t.call(f.spec(t.dtype), x, context=ctx, hints=GRAD_OF_RAISES, after=True, untouched={})
    grad_in_x = after.grad is not None and (x.grad is None or not torch.equal(after.grad.values, x.grad.values))
    if out is None and grad_in_x:  # the gradient went into the caller's x.grad instead
        t.fail(ctx, NONE_RESULT_GRAD_IN_X, likely=CLONE_NOT_DETACHED)
    expected = f.grad(local)
    # x.grad changed: the caller's gradient replaced by f's (not added to) is a mistake of its own
    replaced = grad is not None and after.grad is not None and after.grad.values is not None \
        and close(after.grad.values, expected, *t.tol)
    t.expect_untouched(x, after, ctx, hints=dict(GRAD_OF_HINTS, grad_changed=GRAD_REPLACED) if replaced
                       else GRAD_OF_HINTS)
    out = t.expect(out, expected, ctx, what="the gradient", mistakes=lambda: [
        (f.here(local) if local.dim() else None,
         Hint("value-not-gradient", "that is f(x), the function's value, not its gradient df/dx."), 1e-4, 1e-5),
        (None if grad is None else expected + torch.tensor(grad, dtype=torch.float64),
         Hint(GRAD_OF_HINTS["grad_changed"].slug,
              "this is the gradient plus what x.grad held before: backward() adds (accumulates) "
              "into .grad, and it ran through the caller's x (02_autograd, section 5).")),
        (out.values if close(out.values, expected, 1e-2, 1e-3) else None,
         Hint("finite-differences-not-autograd",
              "the values are close but not within tolerance: did you estimate the gradient "
              "with finite differences? grad_of must use autograd, which is exact up to rounding.")),
        (-expected, Hint("sign-flipped", "the sign is flipped: return df/dx, not -df/dx.")),
    ])
    if out.requires_grad or out.grad_fn is not None:
        t.fail(ctx, RESULT_REQUIRES_GRAD.format(fn=out.grad_fn), likely=GRADIENT_IN_GRAPH)


# =============================================================================================
# relu_out_of_place
# =============================================================================================

RELU_IN_PLACE = Hint(
    "relu-in-place",
    "relu_ / clamp_ / F.relu(x, inplace=True) / nn.ReLU(inplace=True) / "
    "x[x < 0] = 0 write into x itself (in-place operations), and relu_out_of_place must "
    "return a new tensor and leave x as it was (02_autograd, section 7: 'relu_, "
    "inplace=True and x[mask] = 0').")
RELU_HINTS = {
    "values": Hint(RELU_IN_PLACE.slug, "you changed x in place: " + RELU_IN_PLACE),
    "version": Hint(RELU_IN_PLACE.slug, "you wrote into x in place (its version counter moved): " + RELU_IN_PLACE),
    "requires_grad": Hint("changed-requires-grad", "relu_out_of_place must not change x.requires_grad."),
    "grad_left": Hint("ran-backward-inside", "relu_out_of_place must not run backward() itself."),
    "grad_changed": Hint("ran-backward-inside", "relu_out_of_place must not run backward() itself."),
    "grad_cleared": Hint("touched-x-grad", "relu_out_of_place must not touch x.grad."),
}
RELU_RAISES = {
    "leaf Variable that requires grad is being used in an in-place": Hint(
        RELU_IN_PLACE.slug,
        "torch.relu_(x), x.relu_(), x.clamp_(...), F.relu(x, inplace=True), "
        "nn.ReLU(inplace=True) and x[x < 0] = 0 modify x in place, which autograd forbids on a "
        "leaf that requires grad (02_autograd, section 7, rule 1)."),
    "Can't call numpy() on Tensor that requires grad": Hint(
        "numpy-round-trip",
        "going through NumPy leaves autograd behind: .numpy() refuses a tensor that requires "
        "grad, and a detached copy would cut the gradient (02_autograd, section 8)."),
    "can't convert cuda": Hint("numpy-round-trip", "NumPy works on the CPU only, and leaves autograd behind "
                                                   "(02_autograd, section 8)."),
}
PASSED_THROUGH = Hint(
    "identity-gradient",
    "the gradient is passed through everywhere, also where x < 0: the result is "
    "computed so that autograd sees the identity (a .detach() trick, or x plus a "
    "detached correction). The gradient of relu is 0 where x < 0.")
NO_FLOW = "gradients do not flow from the result back to x: {why}"
CUT_OFF = Hint("result-cut-from-graph",
               ".detach(), torch.no_grad(), .numpy() or torch.tensor(...) cut the "
               "result off from x's graph (02_autograd, section 6); section 7's last demo makes the "
               "result from x with operations autograd records.")

RELU_CASES = [  # (x, requires_grad, weights of the backward pass)
    ([[1.0, -2.0, 3.0], [-0.5, 4.0, -6.0]], True, None),
    ([[1.0, -2.0, 3.0], [-0.5, 4.0, -6.0]], False, None),
    ([[-1.5, 2.0, 0.25], [3.0, -0.75, -2.0], [0.5, 1.0, -4.0]], True, [[1.0, -2.0, 0.5], [3.0, 1.5, -1.0], [2.0, 0.25, 4.0]]),
    ([-3.0, 2.5, -0.25, 7.0, 1.0], True, [2.0, -1.0, 3.0, 0.5, -2.0]),
    ([[0.5], [-1.0], [2.0]], False, None),
    ([[[-1.0, 2.0], [3.0, -4.0]], [[5.0, -6.0], [-7.0, 8.0]]], True, None),
    ([-2.0, -1.0, -0.5], True, None),                    # all negative: the gradient is all 0
    ([4.0, 0.5], False, None),                           # all positive: relu changes nothing
    (-1.5, True, None),                                  # 0-d x
    (2.5, False, None),
]


@st.composite
def relu_inputs(draw):
    """(x, requires_grad, weights): no entry of x is 0, where relu has no derivative."""
    shape = draw(st.sampled_from([(), (1,), (5,), (2, 3), (3, 2), (3, 3), (2, 2, 2)]))
    x = draw(shaped(shape, quarters(-10, 10).filter(lambda v: v != 0)))
    requires_grad = draw(st.booleans())
    weights = draw(shaped(shape, quarters(-4, 4))) if requires_grad and draw(st.booleans()) else None
    return x, requires_grad, weights


@A.exercise("relu_out_of_place", "def relu_out_of_place(x)", cases=RELU_CASES, strategy=relu_inputs(),
            tolerance=tolerances.NEAR_EXACT, untouched={0: RELU_HINTS})
def relu_out_of_place(t, case):
    values, requires_grad, weights = case
    local = torch.tensor(values, dtype=torch.float64)
    ctx = t.context(x=values) + ("\n  (x is a leaf with requires_grad=True)" if requires_grad else "")
    x = t.make(t.tensor(values, requires_grad=requires_grad))
    out = t.call(x, context=ctx, hints=RELU_RAISES)
    if getattr(out, "ref", None) == x.ref:
        t.fail(ctx, "It returned x itself, not a new tensor.", likely=RELU_IN_PLACE)
    mask = (local > 0).to(torch.float64)
    out = t.expect(out, local.clamp(min=0), ctx, mistakes=[
        (mask, Hint("derivative-mask-not-relu", "this is the mask x > 0 (the derivative of relu), not relu "
                                                "itself, which keeps x's own values where x is positive.")),
        (local.clamp(max=0), Hint("min-not-max", "this is min(x, 0) (clamp(max=0)): relu keeps the positive "
                                                 "entries and zeroes the negative ones.")),
        (local.abs(), Hint("abs-not-relu", "this is |x|: relu sets the negative entries to 0.")),
        (local, Hint("negatives-kept", "these are x's values unchanged: the negative entries must become 0.")),
        (-local.clamp(max=0), Hint("relu-of-negated-x", "this is relu(-x): relu keeps the positive entries of x.")),
    ])
    if requires_grad:
        expect_gradient_flows(t, x, out, mask, weights, ctx)


def expect_gradient_flows(t, x, out, mask, weights, ctx):
    """The result is part of x's graph, and backward() through it (a sum, or weights g) gives x
    the gradient of relu: g where x > 0, 0 where x < 0."""
    if not out.requires_grad:
        t.fail(ctx, NO_FLOW.format(why="x requires grad, but the result does not."), likely=CUT_OFF)
    if out.is_leaf:
        t.fail(ctx, NO_FLOW.format(why="the result is a new leaf tensor (it requires grad but "
                                       "has no grad_fn), so backward() stops at it and never "
                                       "reaches x (.detach().requires_grad_() or "
                                       "torch.tensor(..., requires_grad=True) make such a leaf)."),
               likely=CUT_OFF)
    g = torch.ones_like(mask) if weights is None else torch.tensor(weights, dtype=torch.float64)
    backward = "relu_out_of_place(x).sum().backward()" if weights is None else "relu_out_of_place(x).backward(g)"
    what = f"x.grad after {backward}" + ("" if weights is None else f" with g = {fmt(weights)}")
    none = Hint(CUT_OFF.slug, NO_FLOW.format(why=f"{what} is None.") + likely_line(CUT_OFF))
    t.expect_grad_of(out, x, weights, g * mask, ctx, what=what, none=none,
                     backward_what=backward, mistakes=[(g, PASSED_THROUGH)])


# =============================================================================================
# sgd_step
# =============================================================================================

SGD_RAISES = {
    "leaf Variable that requires grad is being used in an in-place": Hint(
        "update-outside-no-grad",
        "the update ran outside torch.no_grad(): autograd refuses to record an in-place change "
        "of a leaf that requires grad (02_autograd, section 8, 'Updating parameters')."),
    "unsupported operand type(s) for *: 'float' and 'NoneType'": Hint(
        "grad-none-not-skipped",
        "some tensors have .grad None (they took no part in the loss): the contract says to skip "
        "them, leaving them unchanged."),
    "unsupported operand type": Hint(
        "grad-none-not-skipped",
        "some tensors have .grad None (they took no part in the loss): the contract says to skip "
        "them, leaving them unchanged."),
    "'NoneType' object has no attribute": Hint(
        "grad-none-not-skipped",
        "some tensors have .grad None: the contract says to skip them, and None has no zero_()."),
    "has no len()": Hint("generator-used-as-list", "params may be a generator (such as model.parameters()), "
                                                   "which has no len() and can be looped over only once."),
    "is not subscriptable": Hint("generator-used-as-list", "params may be a generator (such as model.parameters()), "
                                                           "which cannot be indexed and can be looped over only once."),
    "out=... arguments don't support automatic differentiation": Hint(
        "update-outside-no-grad",
        "the update ran outside torch.no_grad(), so autograd tried to record it "
        "(02_autograd, section 8, 'Updating parameters')."),
}
REBOUND_TEXT = "p's values did not change: the step went into another tensor."
REBOUND = Hint("update-not-in-place",
               "`p = p - lr * p.grad` makes a new tensor and rebinds the loop variable p to it (the same "
               "goes for params[i] = ...), or the step was written into a copy (reshape of a tensor "
               "that is not contiguous); the tensor the caller holds is never updated "
               "(02_autograd, section 8, 'Updating parameters').")
RESET_FIRST = Hint(
    "grad-reset-before-step",
    "p's values did not change and its gradient was reset. Either the gradient was "
    "zeroed before it was used (did you zero the gradient before using it? The step "
    "needs the gradient, the reset comes after it), or the step was written into a copy "
    "of p: reshape(-1) of a p that is not contiguous (a transpose) is a copy, and the "
    "caller's p never sees the write (01_tensor_ops, views and copies).")
NOT_RESET_TEXT = "p.grad still holds the gradient after the step."
NOT_RESET = Hint(
    "grad-not-reset",
    "forgetting to reset it (zero_grad): the next backward() would add to it "
    "(02_autograd, section 5).")
ONCE = (" With a generator (such as model.parameters()), a second loop over params sees nothing: "
        "a generator can be iterated only once.")
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
    """(params, lr, kind): one to four tensors, at least one of them with a gradient."""
    shapes = draw(st.lists(st.sampled_from([(), (3,), (2, 3), (3, 2), (2, 2)]), min_size=1, max_size=4))
    params = [(draw(shaped(s, quarters(-10, 10))), draw(st.one_of(st.none(), shaped(s, quarters(-10, 10)))))
              for s in shapes]  # (values, grad or None)
    if all(g is None for _, g in params):
        params[0] = (params[0][0], draw(shaped(shapes[0], quarters(-10, 10))))
    lr = draw(st.sampled_from([1.0, 0.5, 0.25, 0.1, 0.01]))
    return params, lr, draw(st.sampled_from(["list", "generator", "parameters_of"]))


def sgd_context(t, params, lr, kind):
    """The first lines of a message: the call, where, and every tensor of params with its .grad."""
    lines = [(f"sgd_step(params, lr={lr}) on {t.where}, with params {KINDS[kind]} of leaf tensors "
              "with requires_grad=True:")]
    for i, (values, grad) in enumerate(params):
        lines.append(f"  params[{i}] = {fmt(values)}  (shape {fmt_shape(torch.tensor(values).shape)}), "
                     f".grad = {'None' if grad is None else fmt(grad)}")
    return "\n".join(lines)


def made_params(t, params, kind, ctx):
    """The tensors of `params`, made in the candidate as the caller holds them, and the argument
    that passes them: a list, a generator over them, or module.parameters()."""
    if kind != "parameters_of":
        made = [t.make(t.tensor(values, requires_grad=True, grad=grad)) for values, grad in params]
        return made, made if kind == "list" else Spec("generator", items=made)
    module = t.make(Spec("module", parameters=[[f"p{i}", t.tensor(v), True] for i, (v, _) in enumerate(params)]))
    made = [module.parameters[f"p{i}"] for i in range(len(params))]
    for p, (_, grad) in zip(made, params):
        if grad is not None:
            t.backward(p, t.tensor(grad, layout=False), context=ctx, what="setting up the gradients")
    return [t.describe(p) for p in made], Spec("parameters_of", module=module)


def equal(got, values):
    """The values of a described tensor (None when it has none) are exactly `values`."""
    return got is not None and torch.equal(got.to(torch.float64), values)


@A.exercise("sgd_step", "def sgd_step(params, lr)", cases=SGD_CASES, strategy=sgd_inputs(),
            tolerance=tolerances.UPDATES, layouts=layouts.WRITABLE)  # p is updated in place: never expanded
def sgd_step(t, case):
    params, lr, kind = case
    ctx = sgd_context(t, params, lr, kind)
    made, arg = made_params(t, params, kind, ctx)
    returned = t.call(arg, lr, context=ctx, hints=SGD_RAISES)
    for i, ((values, grad), before) in enumerate(zip(params, made)):
        name = f"params[{i}]"
        now = require_tensor(t.describe(before), name, ctx)
        old = torch.tensor(values, dtype=torch.float64)
        if grad is not None:
            expect_stepped(t, now, name, old, torch.tensor(grad, dtype=torch.float64), lr, kind, ctx)
        elif not equal(now.values, old) or now.grad is not None:
            t.fail(ctx, f"{name} had .grad None, so it must be left unchanged, but it now holds "
                        f"{fmt(now.values)} with .grad "
                        f"{'None' if now.grad is None else fmt(now.grad.values)}.",
                   likely=Hint("stepped-param-without-grad", "a tensor whose .grad is None took no part in the "
                                                             "loss, and the contract says to leave it alone."))
    if returned is not None:
        t.fail(ctx, f"sgd_step returned a {type_name(returned)}; it must return None: it updates the "
                    "caller's tensors in place (like optimizer.step()), so there is nothing to "
                    "return.", mistake="returned-a-value")


def expect_stepped(t, now, name, old, g, lr, kind, ctx):
    """p (as the step left it) is p - lr * g, updated in place: still a leaf that requires grad,
    with no autograd history, its gradient reset."""
    if now.grad_fn is not None or not now.is_leaf:
        t.fail(ctx, f"{name} has autograd history after the step (grad_fn={now.grad_fn}, "
                    f"is_leaf={now.is_leaf}): the update was recorded in the graph.",
               likely=Hint("update-outside-no-grad", "updating outside torch.no_grad(), so p is no longer a leaf "
                                                     "(02_autograd, section 8, 'Updating parameters')."))
    if not now.requires_grad:
        t.fail(ctx, f"{name} no longer requires grad after the step, so the next backward() "
                    "would not compute its gradient.",
               likely=Hint("requires-grad-turned-off", "p.requires_grad_(False) "
                           "(or p.requires_grad = False) left behind; torch.no_grad() stops recording "
                           "without changing requires_grad (02_autograd, section 6)."))
    expected = old - lr * g
    reset = now.grad is None or (now.grad.values is not None and not now.grad.values.any())
    if equal(now.values, old) and not torch.equal(expected, old):
        t.fail(ctx, f"{name} = {fmt(now.values)} after the step, unchanged; expected "
                    f"{fmt(expected)} (p - lr * p.grad)." + ("" if reset else "\n" + REBOUND_TEXT),
               likely=RESET_FIRST if reset else REBOUND)
    t.expect(now, expected, ctx, what=f"{name} after the step",
             dtype_reason="(its dtype before the step): update p in place, keeping its dtype.", mistakes=[
                 (old + lr * g, Hint("ascent-not-descent", "the update went up the gradient (p + lr * p.grad): "
                                                           "gradient descent moves against it.")),
                 (old - g, Hint("missing-lr", "lr is missing: the step is p - lr * p.grad.")),
                 (old - 2 * lr * g, Hint("update-applied-twice", "the update was applied twice (two loops, or "
                                                                 "-= twice?).")),
             ])
    if not reset:
        t.fail(ctx, f"{name}.grad = {fmt(now.grad.values)} after the step; expected None or "
                    "zeros (the gradient reset)." + ("\n" + NOT_RESET_TEXT if equal(now.grad.values, g) else ""),
               likely=Hint(NOT_RESET.slug, NOT_RESET + (ONCE if kind != "list" else "")) if equal(now.grad.values, g)
               else Hint("grad-changed-not-reset", "p.grad was changed, but not reset to None or zeros."))


# =============================================================================================
# numerical_grad
# =============================================================================================

NUMERICAL_HINTS = {
    "values": Hint(
        "perturbed-x-in-place",
        "numerical_grad changed the caller's x: the perturbation was written into x itself "
        "(02_autograd, section 7)."),
    "version": Hint(
        "perturbed-x-in-place",
        "you wrote into x in place (x[i] += eps, then back), so x's version counter moved "
        "even if its values were restored (and x + eps - eps is not always x in floating "
        "point): 02_autograd, section 7, the version counter."),
    "requires_grad": Hint("changed-requires-grad", "numerical_grad changed x.requires_grad; it only evaluates f."),
    "grad_left": Hint("backward-not-needed",
                      "numerical_grad left a gradient in x.grad: it needs no backward(), it only evaluates f."),
    "grad_changed": Hint("backward-not-needed", "numerical_grad changed x.grad: it needs no backward(), it only evaluates f."),
    "grad_cleared": Hint("touched-x-grad", "numerical_grad cleared x.grad, which it must leave alone."),
}
NUMERICAL_RAISES = {
    "leaf Variable that requires grad is being used in an in-place": Hint(
        "perturbed-x-in-place",
        "you perturbed x in place (x[i] += eps) and x requires grad: autograd forbids it, and "
        "numerical_grad must leave x as it was (02_autograd, section 7, rule 1)."),
    "view size is not compatible": Hint(
        "view-on-noncontiguous",
        "x is not contiguous here (a transpose, or a slice with a step), and tensors made like it "
        "(zeros_like(x), x.clone()) keep its strides: view(-1) cannot flatten such a tensor "
        "without a copy (01_tensor_ops, views)."),
    "a Tensor with": Hint("tensor-used-as-number",
                          "f(x) is a 0-d tensor; a comparison or .item() was applied to a tensor of several values."),
}
FLOAT32 = Hint(
    "float32-rounding",
    "eps = 1e-6 is too small for float32: with about 7 significant digits, "
    "f(x + eps e_i) - f(x - eps e_i) is mostly rounding error (02_autograd, section 9). "
    "Something turned x's float64 into float32: .float(), or torch.tensor(...) of Python "
    "floats, whose default dtype is float32.")
WRONG_ESTIMATES = {  # the estimates of the usual mistakes (Function.differences), and what each was
    "forward": Hint(
        "one-sided-difference",
        "a one-sided (forward) difference (f(x + eps e_i) - f(x)) / eps: its error shrinks "
        "only like eps, the central difference's like eps**2 (02_autograd, section 9)."),
    "backward": Hint(
        "one-sided-difference",
        "a one-sided (backward) difference (f(x) - f(x - eps e_i)) / eps, not the central "
        "difference of the statement (02_autograd, section 9)."),
    "half": Hint(
        "divided-by-eps-not-2eps",
        "twice the central difference: divide by 2 * eps, the distance between x + eps e_i "
        "and x - eps e_i."),
    "all": Hint(
        "moved-all-entries",
        "you moved every entry of x at once (x + eps), which gives one directional derivative, "
        "not the derivative with respect to each entry."),
}
NUMERICAL_CASES = [  # (x, kind, consts, eps or None for the default, requires_grad)
    ([[1.0, -0.5, 0.25], [2.0, 0.75, -1.25]], "cube", {}, None, False),
    ([[1.0, -0.5, 0.25], [2.0, 0.75, -1.25]], "cube", {}, 0.1, False),       # one-sided shows
    ([0.5, -1.0, 1.5, 0.25], "sin_x2", {}, 1e-2, False),
    ([0.5, -1.0, 1.5, 0.25], "sin_x2", {}, None, True),                     # x requires grad
    ([[0.5, -1.0], [1.5, 0.25], [-0.5, 1.0]], "matmul_tanh", {"C": [[1.0, -0.5, 0.25], [0.5, 1.0, -1.0]]}, None, False),
    (-0.75, "softplus_sigmoid", {}, None, False),                           # 0-d x
    (1.25, "sin_x2", {}, 0.1, True),                                        # 0-d x that requires grad
    ([[0.5, -1.0, 1.5], [0.25, 2.0, -0.5]], "linear_exp",
     {"C": [[1.0, -0.5, 0.25], [2.0, 0.5, -1.0]]}, None, False),            # (2, 3): transposed, offset
    ([1.0, -0.5, 0.25], "quadratic", {"C": [[1.0, 2.0, 0.0], [-1.0, 0.5, 1.0], [0.0, 1.5, -2.0]]}, 1e-3, False),
    ([[[0.5, -1.0], [0.25, 1.5]]], "logsumexp", {}, 1e-6, True),             # eps passed positionally
]


@st.composite
def numerical_inputs(draw):
    """(x, kind, consts, eps, requires_grad): eps None stands for the default."""
    x, kind, consts = draw(autograd_inputs(shapes=[(), (1,), (3,), (2, 3), (3, 2), (2, 2)], with_state=False))
    eps = draw(st.sampled_from([None, 1e-6, 1e-2, 1e-3, 0.1]))
    return x, kind, consts, eps, draw(st.booleans())


@A.exercise("numerical_grad", "def numerical_grad(f, x, eps=1e-6)", cases=NUMERICAL_CASES,
            strategy=numerical_inputs(), dtypes=(torch.float64,), untouched={1: NUMERICAL_HINTS},
            layouts=layouts.ALL)  # x of any layout: a copy made by reshape must not swallow the steps
def numerical_grad(t, case):
    values, kind, consts, eps, requires_grad = case
    f, local = Function(kind, consts), torch.tensor(values, dtype=torch.float64)
    h = 1e-6 if eps is None else eps  # the step the estimate takes
    shown = "numerical_grad(f, x)" if eps is None else f"numerical_grad(f, x, eps={eps:g})"
    state = ["  (x is a leaf with requires_grad=True)"] if requires_grad else []
    ctx = "\n".join([t.context(shown, x=values), str(f), *state])
    x = t.make(t.tensor(values, requires_grad=requires_grad))
    args = [f.spec(t.dtype), x] + ([eps] if eps == 1e-6 else [])  # the default's value, passed positionally
    kwargs = {} if eps in (None, 1e-6) else {"eps": eps}            # any other by name
    got = t.call(*args, context=ctx, hints=NUMERICAL_RAISES, **kwargs)
    if h >= 1e-3:  # a large step: compared with the formula itself
        expected, rtol, atol, against = f.differences(local, h), 1e-7, 1e-10, f"the central difference with eps={h:g}"
    else:
        expected, rtol, atol, against = f.grad(local), 1e-5, 1e-8, "the analytic gradient"
    out = t.expect(got, expected, ctx, rtol=rtol, atol=atol, what=f"the estimate (compared with {against})",
                   mistakes=lambda: estimate_mistakes(f, local, h, got.values, expected),
                   dtype_reason="(x's dtype). " + FLOAT32)
    if out.requires_grad:
        t.fail(ctx, "the result requires grad (grad_fn=" + str(out.grad_fn) + "): it was computed "
                    "from x, which requires grad, with autograd recording, so the estimate is part "
                    "of a graph (02_autograd, section 6).", mistake="estimate-in-graph")


def estimate_mistakes(f, x, h, got, expected):
    """The usual wrong estimates (told apart within their own tolerances), then two mistakes
    only `got` itself shows: the size of its errors, and its shape."""
    loose = (1e-6, 1e-9) if h >= 1e-3 else (1e-3, 1e-6)
    estimates = [(f.differences(x, h, formula), text, *loose) for formula, text in WRONG_ESTIMATES.items()
                 if formula != "all" or x.numel() > 1]  # with one entry, moving all is the central difference
    return estimates + [
        (f.grad(x) if h >= 1e-3 else None,
         Hint("eps-ignored",
              f"this is the exact gradient, not the central difference with eps={h:g}: the eps "
              "argument was ignored (a fixed step inside the function, or autograd instead of "
              "differences). Use the eps you are given."), 1e-5, 1e-8),
        (got if got.shape == x.shape and not got.any() and expected.any() else None,
         Hint("step-lost-in-copy",
              "the estimate is 0 everywhere: f(x + eps e_i) and f(x - eps e_i) came out equal, so the "
              "steps never reached the tensor f was called on. When x is not contiguous (a transpose, "
              "a slice with a step), x.clone() keeps its strides and reshape(-1) of it is a copy: a "
              "step written into that copy is lost (01_tensor_ops, views and copies)."), 0.0, 0.0),
        (got if rounded_in_float32(f, x, h, got, expected) else None,
         Hint(FLOAT32.slug, "the errors are the size float32 rounding gives. " + FLOAT32)),
        (got if got.numel() == x.numel() and got.shape != x.shape else None,
         Hint("wrong-result-shape", "the result must have x's shape; this one has x's entries in another shape.")),
    ]


def rounded_in_float32(f, x, h, got, expected):
    """Errors no larger than float32's rounding of f's values gives, over the step."""
    if got.shape != x.shape or got.dtype.is_complex:
        return False
    scale = float(f.here(x).abs().max()) + 1.0
    return float((got.to(torch.float64) - expected).abs().max()) <= 50 * 1.2e-7 * scale / h

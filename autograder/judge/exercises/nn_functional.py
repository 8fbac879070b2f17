"""06_nn_functional: functional_net, cross_entropy, conv1d_output_length, tiny_cnn.

- `functional_net`: 04's TwoLayerNet table (the same builds, inputs, forward and mistakes), with
  the children checked exactly: fc1 and fc2 and nothing else (an nn.ReLU child is the mistake
  the exercise is about).
- `cross_entropy`: the loss (0-d, the logits' dtype and device) against F.cross_entropy computed
  here in float64, then its gradient with respect to the logits (out.backward()) against
  autograd's, within the contract's rtol=1e-4, atol=1e-5, for logits up to 30 in magnitude
  (hand-picked, then Hypothesis); then logits of magnitude 1e4: the loss and the gradient must be
  finite. The large cases come in an order that tells the two instabilities apart: first all
  logits large and close (a softmax without max-subtraction overflows: inf / inf), then a target
  logit far below the row's maximum (log of a softmax that underflowed to 0).
- `conv1d_output_length`: ints, on the CPU only (no tensor is involved). Every setting of a small
  exhaustive grid whose output is at least 1 (lengths 1-6, kernels 1-3, strides 1-2, padding 0-1,
  dilation 1-2), hand-picked ones (up to length 16000) and Hypothesis draws
  (lengths up to 2000), each passed positionally, by keyword or with defaults, compared with
  the formula and with what F.conv1d (nn.Conv1d's forward) gives on zeros here (the two must agree, or the
  judge itself is wrong). A wrong answer is diagnosed by asking the student's function about a
  few more settings and finding the usual wrong formula that agrees with all of them.
- `tiny_cnn`: a module table: `state_dict` keys in the contract's order, shapes, children
  (features an nn.Sequential, fc1, fc2 nn.Linear), forward on a batch of two and a batch of one
  (one build, called twice, and forward called directly) against the
  reference computed here from the weights the module reported, gradients reaching every
  parameter. Its messages show weight shapes, not values (165,000 numbers). No Hypothesis and
  no other layouts: every build sends all its weights back and forth, and an exercise's check
  must finish in seconds.

Readings of the contract: cross_entropy's tolerance is the contract's for float32 and float64
alike; for |logits| up to 1e4 only finiteness is required, as the contract says. The values of
conv1d_output_length must be ints (not bool, float, NumPy integers or tensors).
"""

import functools
import math

import torch
import torch.nn.functional as F

from ..declare import (
    LINEAR,
    Assignment,
    Build,
    Hint,
    Mistake,
    answers,
    fmt,
    fmt_shape,
    require_tensor,
    st,
    tolerances,
)
from . import nn_module as m04

A = Assignment("06_nn_functional")


# =============================================================================================
# functional_net
# =============================================================================================

FUNCTIONAL_CONSTRUCT_HINTS = {k: Hint(v.slug, v.replace("TwoLayerNet", "FunctionalNet")) for k, v in m04.CONSTRUCT_HINTS.items()}

A.module_class(
    "functional_net", "class FunctionalNet(nn.Module)",
    cases=m04.NET_BUILDS, strategy=m04.NET_CASES, example=m04.net_example,
    parameters=lambda i, h, o: {"fc1.weight": (h, i), "fc1.bias": (h,), "fc2.weight": (o, h), "fc2.bias": (o,)},
    children=lambda *sizes: {"fc1": LINEAR, "fc2": LINEAR}, only_children=True,
    forward=m04._net, mistakes=lambda w, x: Mistake.on(m04.FORWARD_MISTAKES, w, x),
    shapes_problem=m04.shapes_problem,
    construct_hints=FUNCTIONAL_CONSTRUCT_HINTS, forward_hints=m04.FORWARD_HINTS,
    tolerance=tolerances.LAYERS, grad_tolerance=tolerances.SUMS,
)


# =============================================================================================
# cross_entropy
# =============================================================================================

CE_TOL = {torch.float32: (1e-4, 1e-5), torch.float64: (1e-4, 1e-5)}  # the contract's, both dtypes

SOFTMAX_FIRST = ("softmax was applied to the logits before the loss: cross-entropy takes raw "
                 "logits and applies log-softmax itself, so a softmax first squashes them into "
                 "[0, 1] and the loss (and its gradient) comes out wrong (section 3).")
SUMMED = "the per-sample losses were summed; the contract asks for their mean (divide by N, or use .mean())."
PER_SAMPLE = ("it returned one loss per sample (shape (N,)); return their mean, a 0-d tensor "
              "(like F.cross_entropy's default reduction='mean').")
ONE_ELEMENT = ("the result has shape (1,), a 1-element tensor; the loss must be 0-d (shape ()): "
               "a keepdim=True, a reshape(1) or torch.stack([...]) of a single value left a dimension.")
ALL_CLASSES = ("this is the mean of -log_softmax over every entry, every class: only the target "
               "class of each row counts (pick log_probs[i, target[i]]).")
TARGET_MATRIX = ("log_probs[:, target] picks the target columns for every row (an (N, N) "
                 "matrix); pick one entry per row: log_probs[torch.arange(N), target] "
                 "(or log_probs.gather(1, target[:, None])).")
NO_LOG = ("the probabilities of the targets were averaged without the log: cross-entropy is "
          "the mean of -log p[i, target[i]].")
SIGN = "the sign is flipped: the loss is the mean of MINUS log p[i, target[i]] (it is never negative)."
DIM0 = ("the softmax ran over dim 0, the batch: each row (one sample) is normalised over its "
        "classes, dim=1.")
DIVIDED_BY_C = "the sum was divided by the number of classes C; the mean is over the N samples."
NAIVE_OVERFLOW = Hint("no-max-subtraction",
                      "the loss or its gradient is not finite for large logits: exp(x) overflows "
                      "(exp(1e4) is inf in float32 and float64, and inf / inf is nan). Subtract each "
                      "row's maximum before exp, the log-sum-exp trick (section 3): the softmax is the "
                      "same, and no exp exceeds 1.")
LOG_OF_SOFTMAX = Hint("log-of-softmax",
                      "the loss or its gradient is not finite when a target's logit is far below its "
                      "row's maximum: the softmax of that class underflows to 0, and log(0) is -inf. "
                      "Compute log-probabilities directly, x - max - log(sum(exp(x - max))) (log-sum-"
                      "exp, section 3), or F.log_softmax, never log(softmax(x)).")
NO_GRAD = Hint("loss-detached",
               "the loss does not require grad, so no gradient can reach the logits: .item(), "
               "float(...), torch.tensor(...), .detach() or NumPy cut it off from the graph. Compute "
               "it with torch operations on the logits and return the tensor.")
CE_RAISES = {
    "one_hot is only applicable to index tensor": Hint("target-cast-to-float",
                                                       "target is int64 already: F.one_hot(target, C) takes it as it is."),
    "out of bounds": Hint("bad-target-indexing", "an index is out of range: target[i] is a class index in [0, C), and the rows "
                                                 "are 0..N-1 (torch.arange(N), N = logits.shape[0])."),
    "Can't call numpy() on Tensor that requires grad": NO_GRAD,
    "expected scalar type Long": Hint("target-cast-to-float", "target holds class indices (int64): do not convert it to float."),
    "must be Long": Hint("target-cast-to-float", "target holds class indices (int64): do not convert it to float."),
}


def _log_probs(x):
    return torch.log_softmax(x, dim=1)


def _picked(lp, target):
    return lp[torch.arange(lp.shape[0]), target]


CE_MISTAKES = [
    Mistake(lambda x, t: F.cross_entropy(torch.softmax(x, 1), t), SOFTMAX_FIRST, slug="softmax-before-loss"),
    Mistake(lambda x, t: F.cross_entropy(x, t, reduction="none"), PER_SAMPLE, slug="no-reduction"),
    Mistake(lambda x, t: F.cross_entropy(x, t).reshape(1), ONE_ELEMENT, slug="loss-not-0d"),
    Mistake(lambda x, t: F.cross_entropy(x, t, reduction="sum"), SUMMED, when=lambda x, t: len(t) > 1, slug="summed-not-mean"),
    Mistake(lambda x, t: -_log_probs(x).mean(), ALL_CLASSES, when=lambda x, t: x.shape[1] > 1,
            slug="all-classes-averaged"),
    Mistake(lambda x, t: -_log_probs(x)[:, t].mean(), TARGET_MATRIX, when=lambda x, t: len(t) > 1,
            slug="target-column-indexing"),
    Mistake(lambda x, t: -_picked(torch.softmax(x, 1), t).mean(), NO_LOG, slug="log-forgotten"),
    Mistake(lambda x, t: _picked(_log_probs(x), t).mean(), SIGN, slug="sign-flipped"),
    Mistake(lambda x, t: -_picked(torch.log_softmax(x, 0), t).mean(), DIM0, when=lambda x, t: len(t) > 1,
            slug="softmax-over-batch"),
    Mistake(lambda x, t: F.cross_entropy(x, t, reduction="sum") / x.shape[1], DIVIDED_BY_C,
            when=lambda x, t: x.shape[1] != len(t), slug="divided-by-classes"),
]

CE_CASES = [  # (logits, target)
    ([[2.0, 1.0, 0.25], [0.5, 2.5, -1.0]], [0, 1]),
    ([[1.0, -1.0], [0.0, 3.0], [2.0, 2.0]], [1, 1, 0]),                     # (3, 2): more rows than classes
    ([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0], [0.0, 0.5, -0.5]], [2, 0, 1]),       # square: index slips keep the shape
    ([[0.25, -3.0, 1.5, 0.0]], [2]),                                         # a batch of one
    ([[30.0, -30.0, 0.0], [-30.0, 29.5, 30.0]], [1, 0]),                     # the contract's largest "ordinary" logits
    ([[-4.0, 6.0, 0.5, 2.0, -1.0], [3.0, 3.0, 3.0, 3.0, 3.0]], [4, 2]),      # a row of ties
]
# logits up to 1e4 in magnitude: (logits, target, the likely mistake when not finite)
CE_LARGE = [
    ([[1e4, 9998.0, 9999.0], [9998.0, 1e4, 9999.5]], [0, 2], NAIVE_OVERFLOW),  # large and close
    ([[-1e4, -9999.0, -9999.5]], [1], NAIVE_OVERFLOW),                          # large negative: 0 / 0
    ([[1e4, -1e4, 0.0], [-1e4, 1e4, 5e3]], [1, 0], LOG_OF_SOFTMAX),              # the target far below the max
]


@st.composite
def ce_inputs(draw):
    n, c = draw(st.integers(1, 5)), draw(st.integers(2, 6))
    logits = draw(st.lists(st.lists(st.integers(-120, 120).map(lambda k: k / 4), min_size=c, max_size=c),
                           min_size=n, max_size=n))
    target = draw(st.lists(st.integers(0, c - 1), min_size=n, max_size=n))
    return logits, target


def _finite(seen):
    return seen is not None and getattr(seen, "values", None) is not None and bool(torch.isfinite(seen.values).all())


IN_PLACE = Hint("logits-changed-in-place",
                "cross_entropy changed logits in place (a -=, sub_ or exp_ on them, or a write into "
                "them): the caller's logits must stay as they were. Every step of the computation can "
                "make a new tensor instead (section 3, the stable log-sum-exp).")
CE_UNTOUCHED = {"values": IN_PLACE, "version": IN_PLACE}
CE_RAISES["leaf Variable that requires grad is being used in an in-place"] = IN_PLACE


def _ce_call(t, logits, target, ctx, requires_grad=False):
    x = t.make(t.tensor(logits, requires_grad=requires_grad))
    untouched = {} if requires_grad else {0: CE_UNTOUCHED}
    out = t.call(x, t.tensor(target, dtype=torch.int64), context=ctx, hints=CE_RAISES, untouched=untouched)
    if type(out) is float:
        t.fail(ctx, f"It returned a Python float ({out!r}); return the 0-d tensor itself (no .item() or "
                    "float(...)): the loss must stay a tensor so that backward() can reach the logits.",
               mistake=NO_GRAD.slug)
    return x, out


@A.exercise("cross_entropy", "def cross_entropy(logits, target)",
            cases=[(*case, "hand-picked") for case in CE_CASES] + [("large",)],
            strategy=ce_inputs(), tolerance=CE_TOL)
def cross_entropy(t, case):
    if case == ("large",):
        return expect_finite(t)
    logits, target, *hand = case
    local, tl = torch.tensor(logits, dtype=torch.float64), torch.tensor(target)
    ctx = t.context(logits=logits, target=target) + "  (target: int64)"
    expected = F.cross_entropy(local, tl)
    if hand:  # plain logits (in every layout, and left untouched), then a leaf for the gradient
        _, out = _ce_call(t, logits, target, ctx)
        t.expect(out, expected, ctx, what="the loss", mistakes=lambda: Mistake.on(CE_MISTAKES, local, tl))
    x, out = _ce_call(t, logits, target, ctx, requires_grad=True)
    t.expect(out, expected, ctx, what="the loss", mistakes=lambda: Mistake.on(CE_MISTAKES, local, tl))
    if not getattr(out, "requires_grad", False):
        t.fail(ctx, NO_GRAD)
    leaf = local.clone().requires_grad_(True)
    F.cross_entropy(leaf, tl).backward()
    t.expect_grad_of(out, x, None, leaf.grad, ctx, what="logits.grad after cross_entropy(logits, target).backward()",
                     none=Hint(NO_GRAD.slug, "logits.grad is None after backward(): " + NO_GRAD), backward_what="loss.backward()")


def expect_finite(t):
    for logits, target, hint in CE_LARGE:
        ctx = t.context(logits=logits, target=target) + "  (target: int64)"
        _, out = _ce_call(t, logits, target, ctx)
        out = require_tensor(out, "the loss", ctx)
        if out.shape != ():
            t.fail(ctx, f"the loss has shape {fmt_shape(out.shape)}, expected () (a 0-d tensor).")
        reference = F.cross_entropy(torch.tensor(logits, dtype=torch.float64), torch.tensor(target)).item()
        if not _finite(out):
            t.fail(ctx, f"the loss is {fmt(out.values)}, expected a finite number "
                        f"(F.cross_entropy gives {reference:.6g}).", likely=hint)
        x, out = _ce_call(t, logits, target, ctx, requires_grad=True)
        if not getattr(out, "requires_grad", False):
            t.fail(ctx, NO_GRAD)
        t.backward(out, context=ctx, what="loss.backward()")
        grad = t.describe(x).grad
        if grad is None:
            t.fail(ctx, "logits.grad is None after backward(): " + NO_GRAD, mistake=NO_GRAD.slug)
        if not _finite(grad):
            t.fail(ctx, f"logits.grad after loss.backward() is {fmt(grad.values)}: not finite.", likely=hint)


# =============================================================================================
# conv1d_output_length
# =============================================================================================

def conv_length(length, kernel_size, stride=1, padding=0, dilation=1):
    return (length + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1


@functools.cache
def conv_length_by_torch(length, kernel_size, stride=1, padding=0, dilation=1):
    """What nn.Conv1d's forward (F.conv1d) gives on zeros of that length (microseconds; a meta
    tensor would import sympy into every judge)."""
    x, w = torch.zeros(1, 1, length), torch.zeros(1, 1, kernel_size)
    return F.conv1d(x, w, stride=stride, padding=padding, dilation=dilation).shape[-1]


LENGTH_MISTAKES = [  # (wrong formula, explanation)
    (lambda L, k, s, p, d: (L + 2 * p - k) // s + 1,
     Hint("dilation-ignored", "dilation is left out: a kernel of size k with dilation d spans d * (k - 1) + 1 inputs, "
                              "not k (section 4).")),
    (lambda L, k, s, p, d: (L + 2 * p - d * k) // s + 1,
     Hint("dilated-span-d-times-k",
          "the span of a dilated kernel is d * (k - 1) + 1, not d * k (the gaps sit between the k taps).")),
    (lambda L, k, s, p, d: (L + p - d * (k - 1) - 1) // s + 1,
     Hint("padding-counted-once",
          "padding is counted once; nn.Conv1d pads both ends, so the padded length is length + 2 * padding.")),
    (lambda L, k, s, p, d: (L + 2 * p - d * (k - 1) - 1) // s,
     Hint("plus-one-missing",
          "the + 1 is missing: the first window counts too (a kernel as long as the input still gives one output).")),
    (lambda L, k, s, p, d: (L + 2 * p - d * (k - 1)) // s + 1,
     Hint("minus-one-missing",
          "the - 1 is missing: the windows that fit number (padded length - span) // stride + 1, with span = "
          "d * (k - 1) + 1.")),
    (lambda L, k, s, p, d: math.ceil((L + 2 * p - d * (k - 1) - 1) / s) + 1,
     Hint("rounded-up", "the division rounds up (math.ceil); a window that would run past the end is dropped, so it rounds "
                        "down: integer division //.")),
    (lambda L, k, s, p, d: round((L + 2 * p - d * (k - 1) - 1) / s) + 1,
     Hint("rounded-to-nearest",
          "the division is rounded to the nearest integer; a window that would run past the end is dropped, "
          "so it rounds down: integer division //.")),
    (lambda L, k, s, p, d: L + 2 * p - d * (k - 1),
     Hint("stride-ignored",
          "the stride is left out: with stride s the window moves s steps at a time, so the count is divided by s.")),
    (lambda L, k, s, p, d: (L + 2 * p - d * (k - 1) - 1) // s + 1 - 2 * p,
     Hint("padding-subtracted", "padding adds positions to the input: it makes the output longer, not shorter.")),
]
LENGTH_ANSWER = answers.integer(
    "the length",
    tensor_hint=Hint("length-as-tensor",
                     "compute with Python ints (// keeps ints); do not run a convolution and return a tensor or a size."),
    float_hint="/ always gives a float, even 8 / 2 = 4.0: use integer division //",
    numpy_hint="NumPy's functions give NumPy numbers: use Python's // on the ints (or int(...))")

NAMES = ("length", "kernel_size", "stride", "padding", "dilation")
# the probes a wrong answer is explained with: each formula of LENGTH_MISTAKES differs somewhere
PROBES = [(10, 3, 1, 0, 1), (10, 3, 2, 1, 1), (11, 3, 2, 0, 2), (9, 2, 3, 1, 1), (12, 4, 3, 2, 2),
          (7, 1, 2, 0, 1), (16, 5, 4, 3, 1), (20, 3, 3, 0, 3), (5, 5, 1, 0, 1), (13, 2, 5, 2, 3)]


def length_call(case):
    """How a setting is passed: (args, kwargs). Defaults are left out where a setting equals them."""
    (L, k, s, p, d), how = case[:5], (case[5] if len(case) > 5 else "positional")
    if how == "keywords":
        return (), dict(zip(NAMES, (L, k, s, p, d)))
    if how == "defaults":
        kwargs = {n: v for n, v, default in zip(NAMES[2:], (s, p, d), (1, 0, 1)) if v != default}
        return (L, k), kwargs
    return (L, k, s, p, d), {}


def call_text(args, kwargs):
    return "conv1d_output_length(" + ", ".join([*map(repr, args), *(f"{k}={v!r}" for k, v in kwargs.items())]) + ")"


def diagnose_length(t):
    """The mistake whose formula agrees with the student's answers on every probe, or None."""
    got = []
    for probe in PROBES:
        answer = t.attempt(*probe)
        if type(answer) is not int:
            return None
        got.append(answer)
    for wrong, explanation in LENGTH_MISTAKES:
        if all(wrong(*probe) == g for probe, g in zip(PROBES, got)):
            return explanation
    return None


def expect_length(t, setting, how="positional"):
    L, k, s, p, d = setting
    expected = conv_length(L, k, s, p, d)
    by_torch = conv_length_by_torch(L, k, s, p, d)
    assert expected == by_torch, (setting, expected, by_torch)  # the judge's own consistency
    args, kwargs = length_call((*setting, how))
    ctx = call_text(args, kwargs) + ("" if how == "keywords" else
                                     f" (length={L}, kernel_size={k}, stride={s}, padding={p}, dilation={d})")
    got = LENGTH_ANSWER(t, t.call(*args, context=ctx, **kwargs), ctx)
    if got != expected:
        hint = diagnose_length(t)
        t.fail(ctx, f"It returned {got}, expected {expected} (nn.Conv1d with these settings gives "
                    f"{by_torch} outputs).", likely=hint)


def grid():
    """Every small setting whose output length is at least 1."""
    return [(L, k, s, p, d) for L in range(1, 7) for k in range(1, 4) for s in range(1, 3)
            for p in range(0, 2) for d in range(1, 3) if conv_length(L, k, s, p, d) >= 1]


LENGTH_CASES = [  # (length, kernel_size, stride, padding, dilation, how it is passed)
    (10, 3, 1, 0, 1, "defaults"),
    (28, 5, 1, 2, 1, "defaults"),        # "same" padding
    (10, 3, 2, 1, 1, "positional"),
    (11, 3, 2, 0, 2, "keywords"),
    (12, 4, 3, 2, 2, "positional"),
    (5, 5, 1, 0, 1, "defaults"),          # the kernel as long as the input: one output
    (1, 3, 1, 1, 1, "defaults"),          # padding makes a too-short input fit
    (7, 1, 2, 0, 1, "defaults"),
    (100, 7, 4, 3, 2, "keywords"),
    (16000, 400, 160, 0, 1, "defaults"),  # audio frames: 25 ms windows every 10 ms at 16 kHz
    ("grid",),
]


@st.composite
def length_settings(draw):
    k, d = draw(st.integers(1, 12)), draw(st.integers(1, 6))
    s, p = draw(st.integers(1, 8)), draw(st.integers(0, 10))
    span = d * (k - 1) + 1
    L = draw(st.integers(max(1, span - 2 * p), 2000))
    return L, k, s, p, d, draw(st.sampled_from(["positional", "keywords", "defaults"]))


@A.exercise("conv1d_output_length", "def conv1d_output_length(length, kernel_size, stride=1, padding=0, dilation=1)",
            cases=LENGTH_CASES, strategy=length_settings(), devices="cpu", dtypes=(torch.float32,), layouts=())
def conv1d_output_length(t, case):
    if case == ("grid",):
        for setting in grid():
            expect_length(t, setting)
        return
    expect_length(t, case[:5], case[5])


# =============================================================================================
# tiny_cnn
# =============================================================================================

SEQUENTIAL = "torch.nn.modules.container.Sequential"
CNN_KEYS = ["features.0.weight", "features.0.bias", "features.2.weight", "features.2.bias",
            "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
CNN_SHAPES = dict(zip(CNN_KEYS, [(20, 1, 5, 5), (20,), (64, 20, 5, 5), (64,), (128, 1024), (128,), (10, 128), (10,)]))


def _conv_features(w, x, last_relu=True):
    h = torch.relu(F.conv2d(x, w["features.0.weight"], w["features.0.bias"]))
    h = F.conv2d(h, w["features.2.weight"], w["features.2.bias"])
    return torch.relu(h) if last_relu else h


def _head(w, h, act=torch.relu):
    h = act(h @ w["fc1.weight"].T + w["fc1.bias"])
    return h @ w["fc2.weight"].T + w["fc2.bias"]


def _cnn(w, x):
    return _head(w, _conv_features(w, x).flatten(1))


SOFTMAX_END = ("a softmax is applied at the end: TinyCNN returns logits, fc2's output as it is. "
               "nn.CrossEntropyLoss / F.cross_entropy apply log-softmax themselves (section 3).")
LOG_SOFTMAX_END = ("a log-softmax is applied at the end: TinyCNN returns logits, fc2's output as it "
                   "is (the loss applies log-softmax itself).")
RELU_LAST = ("a ReLU is applied after fc2: logits may be negative; the only ReLU of the head is "
             "between fc1 and fc2.")
NO_HEAD_RELU = "there is no ReLU between fc1 and fc2: forward is features, flatten, fc1, ReLU, fc2."
NO_LAST_FEATURE_RELU = ("the features end without a ReLU after the second Conv2d: features = "
                        "nn.Sequential(Conv2d(1, 20, 5), ReLU(), Conv2d(20, 64, 5), ReLU()).")
CHANNELS_LAST = ("the features were flattened in another order (channels last): flatten each "
                 "sample's (64, 4, 4) as it is, x.flatten(1) or x.view(x.shape[0], -1), without "
                 "permuting or transposing first.")
BATCH_OF_ONE = ("for a batch of one the output must keep its batch dimension, shape (1, 10): "
                "flatten each sample (x.flatten(1), x.view(x.shape[0], -1)), not the whole "
                "tensor, and do not squeeze.")
SIGMOID_HEAD = "the activation between fc1 and fc2 is a sigmoid, not a ReLU."

CNN_MISTAKES = [
    Mistake(lambda w, x: torch.softmax(_cnn(w, x), -1), SOFTMAX_END, slug="softmax-on-logits"),
    Mistake(lambda w, x: torch.log_softmax(_cnn(w, x), -1), LOG_SOFTMAX_END, slug="log-softmax-on-logits"),
    Mistake(lambda w, x: torch.relu(_cnn(w, x)), RELU_LAST, slug="relu-on-logits"),
    Mistake(lambda w, x: _head(w, _conv_features(w, x).flatten(1), lambda h: h), NO_HEAD_RELU, slug="missing-head-relu"),
    Mistake(lambda w, x: _head(w, _conv_features(w, x, False).flatten(1)), NO_LAST_FEATURE_RELU, slug="missing-last-conv-relu"),
    Mistake(lambda w, x: _head(w, _conv_features(w, x).permute(0, 2, 3, 1).flatten(1)), CHANNELS_LAST,
            slug="channels-last-flatten"),
    Mistake(lambda w, x: _head(w, _conv_features(w, x).transpose(2, 3).flatten(1)), CHANNELS_LAST, slug="channels-last-flatten"),
    Mistake(lambda w, x: _cnn(w, x).reshape(-1), BATCH_OF_ONE, when=lambda w, x: x.shape[0] == 1, slug="batch-dim-dropped"),
    Mistake(lambda w, x: _head(w, _conv_features(w, x).flatten(1), torch.sigmoid), SIGMOID_HEAD, slug="wrong-activation"),
]

FLATTEN = Hint("sample-not-flattened",
               "fc1 got an input it cannot take: the features of a batch have shape (N, 64, 4, 4), "
               "and nn.Linear(1024, 128) needs (N, 1024). Flatten each sample between the features "
               "and fc1 (section 6), keeping the batch dimension.")
CNN_FORWARD_HINTS = {
    'missing the required "forward" function': m04.FORWARD_HINT,
    "cannot be multiplied": FLATTEN,
    "size mismatch": FLATTEN,
    "is invalid for input of size": Hint("flatten-view-wrong", "a view or reshape does not fit: the features of N samples hold "
                                                               "N * 64 * 4 * 4 numbers; view(x.shape[0], -1) keeps the batch."),
    "Expected 3D (unbatched) or 4D (batched) input": Hint("conv-input-reshaped",
                                                          "Conv2d takes (N, C, H, W) (or (C, H, W)): pass "
                                                          "x to the features as it is."),
    "expected input[": Hint("conv-channels-wrong",
                            "a Conv2d got the wrong number of channels: the first takes 1 channel and "
                            "makes 20, the second takes 20 and makes 64 (ReLUs between them keep the shape)."),
}
CNN_CONSTRUCT_HINTS = {
    "before Module.__init__() call": m04.SUPER_HINT,
    "positional argument": Hint("wrong-argument-count", "TinyCNN() takes no arguments: the sizes are fixed by the contract."),
}


def cnn_keys_problem(keys, expected):
    if any(k.startswith(("conv", "features.1.", "features.3.")) for k in keys) or (
            not any(k.startswith("features.") for k in keys) and keys):
        return Hint("features-not-sequential",
                    "features must be one nn.Sequential(nn.Conv2d(1, 20, 5), nn.ReLU(), nn.Conv2d(20, 64, 5), "
                    "nn.ReLU()), assigned as self.features: the ReLUs hold no parameters but take positions "
                    "1 and 3, so the convolutions' keys are features.0 and features.2.")
    if sorted(keys) == sorted(expected):
        return Hint("layers-assigned-out-of-order",
                    "state_dict lists parameters in the order the layers are assigned in __init__: "
                    "self.features first, then self.fc1, then self.fc2.")
    return None


def cnn_shapes_problem(shapes, want, args):
    if shapes.get("fc1.weight") != want["fc1.weight"]:
        return Hint("fc1-input-size", "12 - 5 + 1 = 8 after the first convolution and 8 - 5 + 1 = 4 after the second, with 64 "
                                      "channels: fc1 takes 64 * 4 * 4 = 1024 inputs, nn.Linear(64 * 4 * 4, 128).")
    return Hint("wrong-layer-sizes", "the layers are Conv2d(1, 20, 5), Conv2d(20, 64, 5), Linear(1024, 128), Linear(128, 10) "
                                     "(Conv2d's weight has shape (out_channels, in_channels, k, k)).")


def cnn_inputs(n, seed):
    """n images (1, 12, 12) with entries k/8 in [-1, 1] (exact in float32), from a seed."""
    g = torch.Generator().manual_seed(seed)
    return (torch.randint(-8, 9, (n, 1, 12, 12), generator=g) / 8).tolist()


# a batch of two and a batch of one; no Hypothesis: each build sends 165,000 weights back and
# forth, and the seeds and batch sizes here already vary all there is to vary
CNN_BUILDS = [
    Build((), 2000, [cnn_inputs(2, 1), cnn_inputs(1, 2)], twice=True, method=True, gradients=True),
]


A.module_class(
    "tiny_cnn", "class TinyCNN(nn.Module)",
    cases=CNN_BUILDS, layouts=(),
    parameters=lambda: dict(CNN_SHAPES), keys_in_order=True,
    children=lambda: {"features": SEQUENTIAL, "fc1": LINEAR, "fc2": LINEAR},
    forward=_cnn, mistakes=lambda w, x: Mistake.on(CNN_MISTAKES, w, x),
    keys_problem=cnn_keys_problem, shapes_problem=cnn_shapes_problem,
    construct_hints=CNN_CONSTRUCT_HINTS, forward_hints=CNN_FORWARD_HINTS,
    tolerance=tolerances.LAYERS, grad_tolerance=tolerances.SUMS, show_weights=False,
)

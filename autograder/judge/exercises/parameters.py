"""05_parameters: Standardize, ScaleShift, RunningMean, classify_tensors.

The checks inspect registration, not only outputs. They read the module as the candidate
describes it (`SeenModule`: its own parameters and buffers with their persistence,
`named_parameters`, `named_buffers`, `state_dict` keys, plain tensor attributes), move it with
the candidate's fixed operations (to the trial's dtype and device, and to the meta device, where
nothing is computed: a stand-in for a GPU on any machine) and read where each tensor went, run
`forward` in training and in eval mode, and call backward with a gradient chosen here, to see
how the output depends on `x`.

Every registration mistake gets its own message (a plain tensor attribute or a Parameter where
a buffer belongs, a buffer where a Parameter belongs, persistent=False, a name that is missing),
and so do the wrong formulas students write.
"""

import torch

from ..compare import likely_line
from ..declare import (
    RELU,
    Assignment,
    Hint,
    Spec,
    TensorInput,
    answers,
    bn,
    call_text,
    fmt,
    holding,
    linear,
    matrices,
    moves_to_meta,
    quarters,
    seq,
    st,
    tolerances,
    vectors,
)

A = Assignment("05_parameters")


INIT_HINTS = {
    "before Module.__init__() call": Hint("no-super-init", "call super().__init__() first in __init__, before you assign "
                                                           "parameters, buffers or submodules."),
    "already exists": Hint("name-registered-twice", "register_buffer was given a name the module already uses (an attribute "
                                                    "assigned before it, or a second registration); section 3 shows this error."),
    "torch.nn.Parameter or None": Hint("tensor-over-parameter", "a plain tensor was assigned to a name that already holds a "
                                                                "Parameter, which accepts only a Parameter (section 1)."),
    "unexpected keyword argument": Hint("renamed-arguments", "the constructor must accept the arguments the exercise names, "
                                                             "with the same names."),
    "positional argument": Hint("wrong-argument-count", "the constructor must take exactly the arguments the exercise names."),
}
BACKWARD = "Calling backward on the output"
BACKWARD_HINTS = {
    "does not require grad": Hint("output-detached", "the output does not depend on x through autograd: was x (or the "
                                                     "result) detached, or forward run under torch.no_grad()?"),
    "second time": Hint("buffer-keeps-history", "the buffer holds autograd history from an earlier call, so backward walks "
                                                "into a freed graph (section 4, a buffer reassigned with history)."),
}


def f64(values):
    return torch.tensor(values, dtype=torch.float64)


# =============================================================================================
# standardize
# =============================================================================================

STANDARDIZE_CASES = [
    # (mean, std, x)
    ([1.0, -2.0, 0.5], [2.0, 0.5, 4.0], [[3.0, -2.0, 2.5], [1.0, 0.0, -3.5]]),   # N != F
    ([0.5, 3.0], [0.25, 2.0], [[1.0, 5.0], [0.0, -1.0]]),                            # square
    ([2.0], [4.0], [[10.0], [-2.0], [2.0]]),                                           # one feature
    ([-1.0, 0.0, 1.0, 2.0], [1.0, 2.0, 0.5, 8.0], [[0.0, 4.0, 1.5, -6.0]]),           # a batch of one
]


@st.composite
def standardize_examples(draw):
    f, n = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    mean, std = draw(vectors(size=(f, f))), draw(st.lists(quarters(0.25, 8), min_size=f, max_size=f))
    return mean, std, draw(matrices(shape=(n, f)))


STANDARDIZE_EXAMPLES = standardize_examples()


def standardize_mistakes(mean, std, x):
    batch = x.shape[0] >= 2  # the batch's own statistics need two rows
    return [
        ((x - std) / mean if bool((mean != 0).all()) else None,
         Hint("mean-std-swapped", "you swapped mean and std: subtract the mean, then divide by the standard deviation.")),
        ((x - mean) * std, Hint("multiplied-by-std", "you multiplied by std; standardizing divides by it: (x - mean) / std.")),
        (x - mean / std, Hint("operator-precedence", "operator precedence: x - mean / std divides only the mean, not the "
                                                     "difference x - mean.")),
        (x * std + mean, Hint("inverse-transform", "that is the inverse (x * std + mean undoes standardizing): compute "
                                                   "(x - mean) / std.")),
        (x - mean, Hint("std-not-divided", "you subtracted the mean but did not divide by std.")),
        ((x - mean) / std.sqrt(), Hint("sqrt-of-std", "you took the square root of std, as if it were a variance; "
                                                      "std is already a standard deviation.")),
        ((x - mean) / (std + 1e-5), Hint("eps-added", "you added an eps to std; the exercise asks for exactly "
                                                      "(x - mean) / std.")),
        ((x - x.mean(0)) / x.std(0) if batch else None,
         Hint("batch-statistics", "you standardized with the batch's own statistics (x.mean(0), x.std(0)), not "
                                  "with the stored buffers, which must be used whatever the batch.")),
        ((x - x.mean(0)) / std if batch else None,
         Hint("batch-statistics", "you subtracted the batch's own mean (x.mean(0)), not the stored buffer mean.")),
    ]


CHANGED_BUFFER = Hint("buffer-changed-in-forward",
                      "forward changed the buffer {name}: it must only read the statistics "
                      "it was given (an in-place operation on a buffer changes it).")


def standardize_moves(t):
    """.to() moves both buffers: to the meta device (a stand-in for a GPU), and to this trial's
    device when it is not the CPU, where forward must then work."""
    mean_v, std_v, x_v = STANDARDIZE_CASES[0]
    on_cpu = [TensorInput(torch.tensor(v, dtype=t.dtype), "cpu") for v in (mean_v, std_v)]
    ctx = t.context(call="Standardize(mean, std) made on the CPU, then moved", mean=mean_v, std=std_v)
    t.expect_moved(t.construct(*on_cpu, context=ctx, hints=INIT_HINTS), ["mean", "std"], "meta", ctx)
    if t.device.type != "cpu":
        seen = t.construct(*on_cpu, context=ctx, hints=INIT_HINTS)
        moved = t.moved(seen, ctx)
        for name, values in (("mean", mean_v), ("std", std_v)):
            t.expect(t.expect_registered(moved, name, "buffer", ctx), f64(values), ctx,
                     what=f"the buffer {name} after module.to({t.device})")
        out = t.call(t.tensor(x_v), target=seen, context=ctx + f"\n  forward(x) after module.to({t.device})")
        t.expect(out, (f64(x_v) - f64(mean_v)) / f64(std_v), ctx, what="the result after .to()")


@A.exercise("standardize", "class Standardize(nn.Module)", cases=STANDARDIZE_CASES, strategy=STANDARDIZE_EXAMPLES,
            after=standardize_moves, tolerance=tolerances.MODULES)
def standardize(t, case):
    mean_v, std_v, x_v = case
    mean, std, x = f64(mean_v), f64(std_v), f64(x_v)
    ctx = t.context(call="Standardize(mean, std)", mean=mean_v, std=std_v)
    seen = t.construct(t.tensor(mean_v), t.tensor(std_v), context=ctx, hints=INIT_HINTS)
    held = t.expect_holds(seen, ctx, buffers=("mean", "std"), floating=False)
    for name, values in (("mean", mean), ("std", std)):
        t.expect(held[name], values, ctx, what=f"the buffer {name}")

    fctx = t.context(call="Standardize(mean, std)(x)", mean=mean_v, std=std_v, x=x_v)
    out = t.call(t.tensor(x_v), target=seen, context=fctx)
    t.expect_kept(seen, {"mean": mean, "std": std}, fctx, CHANGED_BUFFER)
    t.expect(out, (x - mean) / std, fctx, mistakes=lambda: standardize_mistakes(mean, std, x))


# =============================================================================================
# scale_shift
# =============================================================================================

SCALE_SHIFT_CASES = [
    # (num_features, gamma, beta, x, gradient of the output)
    (3, [2.0, -1.0, 0.5], [1.0, 0.0, -3.0], [[1.0, 2.0, 3.0], [-1.0, 0.5, 4.0]],
     [[1.0, 0.5, -1.0], [2.0, 1.0, 0.25]]),
    (2, [0.5, 3.0], [-1.0, 2.0], [[1.0, -2.0], [4.0, 0.5]], [[1.0, -1.0], [0.5, 2.0]]),   # square
    (1, [4.0], [0.25], [[1.0], [2.0], [-3.0]], [[1.0], [1.0], [-2.0]]),
    (4, [1.0, 2.0, 3.0, 4.0], [0.5, -0.5, 1.5, -1.5], [[2.0, 1.0, -1.0, 0.5]], [[1.0, 2.0, -1.0, 0.5]]),
    # a batch of sequences (B, T, F): the formula broadcasts over every leading dimension
    (2, [2.0, -0.5], [1.0, 3.0], [[[1.0, 2.0], [0.0, -1.0], [3.0, 4.0]], [[-2.0, 0.5], [1.0, 1.0], [0.25, 2.0]]],
     [[[1.0, 1.0], [2.0, -1.0], [0.5, 0.5]], [[1.0, 0.0], [-1.0, 3.0], [2.0, 1.0]]]),
]


@st.composite
def scale_shift_examples(draw):
    f, n = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    gamma, beta = draw(st.lists(quarters(-4, 4), min_size=f, max_size=f)), draw(vectors(size=(f, f)))
    return f, gamma, beta, draw(matrices(shape=(n, f))), draw(matrices(shape=(n, f), values=quarters(-4, 4)))


SCALE_SHIFT_EXAMPLES = scale_shift_examples()


def scale_shift_mistakes(gamma, beta, x):
    return [
        (x * gamma, Hint("beta-forgotten", "you forgot beta: forward(x) = x * gamma + beta.")),
        (x + beta, Hint("gamma-forgotten", "you forgot gamma: forward(x) = x * gamma + beta.")),
        ((x + beta) * gamma, Hint("shift-before-scale", "you added beta before scaling: (x + beta) * gamma; scale first, then "
                                                        "shift: x * gamma + beta.")),
        (x * beta + gamma, Hint("gamma-beta-swapped",
                                "you swapped gamma and beta: gamma scales, beta shifts: x * gamma + beta.")),
        (x, Hint("new-values-ignored", "the output is x itself: did forward use the new values of gamma and beta?")),
    ]


def initial_mistakes(name, start, other, got):
    """What a gamma or beta that does not start as `start` (ones or zeros) was made as instead."""
    start_as = f"{name} must start as {'ones' if name == 'gamma' else 'zeros'}"
    return [(other, Hint("init-swapped", f"{start_as} (gamma = ones, beta = zeros: the layer starts as "
                                         "the identity); did you swap them?")),
            (start[None, :], Hint("wrong-parameter-shape", f"{name} must have shape ({len(start)},), one entry per feature.")),
            (start[:, None], Hint("wrong-parameter-shape", f"{name} must have shape ({len(start)},), one entry per feature.")),
            (got, Hint("random-init", f"{start_as}, torch.{'ones' if name == 'gamma' else 'zeros'}"
                                      "(num_features), so that a new layer is the identity "
                                      "(random values are for weights, not for a scale and shift)."))]


NOT_REACHED = Hint("parameter-detached",
                   "No gradient reached {name}: forward did not compute with the parameter itself."
                   + likely_line(".data or .detach() (or a copy) in forward cuts it out of the graph, so it "
                                 "would never be trained (section 1: backward fills a Parameter's .grad)."))
NO_GRADIENT = Hint("parameter-detached",
                   "No gradient reached gamma or beta: the output has no autograd history, so forward "
                   "computed with .data / .detach() of the parameters (or a copy, or under "
                   "torch.no_grad()), and they would never be trained (section 1: backward fills a "
                   "Parameter's .grad).")
NO_GRADIENT_HINTS = {**BACKWARD_HINTS, "does not require grad": NO_GRADIENT}


@A.exercise("scale_shift", "class ScaleShift(nn.Module)", cases=SCALE_SHIFT_CASES, strategy=SCALE_SHIFT_EXAMPLES,
            after=moves_to_meta(["gamma", "beta"], 3, hints=INIT_HINTS), tolerance=tolerances.MODULES)
def scale_shift(t, case):
    f, gamma_v, beta_v, x_v, grad_v = case
    ctx = t.context(call=f"ScaleShift({f})")
    seen = t.construct(f, context=ctx, hints=INIT_HINTS)
    initial = {"gamma": torch.ones(f, dtype=torch.float64), "beta": torch.zeros(f, dtype=torch.float64)}
    held = t.expect_holds(seen, ctx, parameters=initial)
    for (name, start), other in zip(initial.items(), reversed(initial.values())):
        p = held[name]
        t.expect(p, start, ctx, what=f"the initial {name}", dtype=p.dtype, device=p.device,
                 mistakes=initial_mistakes(name, start, other, p.values))

    # on this trial's dtype and device, with values that tell the mistakes apart
    moved = t.moved(seen, ctx)
    for name, values in (("gamma", gamma_v), ("beta", beta_v)):
        p = t.expect_registered(moved, name, "parameter", ctx)
        t.expect(p, initial[name], ctx, what=f"{name} after module.to({t.dtype}) and .to({t.device})")
        for i, v in enumerate(values):  # new values for forward to use; a patched fill only makes forward wrong
            t.op("fill", p, (i,), float(v))
    gamma, beta, x, grad = f64(gamma_v), f64(beta_v), f64(x_v), f64(grad_v)
    fctx = t.context(call=f"ScaleShift({f})(x)", gamma=gamma_v, beta=beta_v, x=x_v)
    out = t.call(t.tensor(x_v), target=seen, context=fctx)
    out = t.expect(out, x * gamma + beta, fctx, mistakes=lambda: scale_shift_mistakes(gamma, beta, x))

    # gradients reach both parameters: d(sum(G * out))/dgamma = sum(G * x), /dbeta = sum(G)
    gctx = fctx + f"\n  then out.backward(G) with G = {grad_v}"
    t.backward(out, t.tensor(grad_v), gctx, what=BACKWARD, hints=NO_GRADIENT_HINTS)
    t.expect_grads(seen, {"gamma": (grad * x).reshape(-1, f).sum(0), "beta": grad.reshape(-1, f).sum(0)}, gctx,
                 NOT_REACHED)


# =============================================================================================
# running_mean
# =============================================================================================

DETACHED = Hint("mean-detached",
                "the gradient with respect to x is G itself, as if m = x.mean(0) were a constant: m "
                "was detached (m.detach(), m.data, or computed under torch.no_grad()). Only the buffer's "
                "update needs no history; the output x - m must keep it, so that the gradient is "
                "G - G.mean(0).")
HISTORY = Hint("buffer-keeps-history",
               "`running_mean` now holds autograd history ({how}): it was computed from m = x.mean(0), "
               "which requires grad, and the update was recorded. Every later update chains onto that "
               "graph (memory grows each step, and a backward through it fails): section 4, 'A buffer "
               "reassigned with a tensor that carries autograd history'.")
STARTS_AT_ZERO = Hint("not-zero-init", "running_mean must start as zeros of shape (num_features,).")
REQUIRES_GRAD = Hint("buffer-requires-grad",
                     "`running_mean` requires grad: a buffer holds a statistic, which nothing should "
                     "differentiate, and register_buffer keeps the requires_grad of the tensor it is "
                     "given (section 3).")
FORWARD_HINTS = {
    "leaf Variable that requires grad": Hint("x-changed-in-place", "forward changed x in place (x -= m, x.sub_(m)): "
                                                                   "return a new tensor, x - m."),
    "must match the size": Hint("mean-over-features", "the mean of each feature over the batch, m = x.mean(0), has "
                                                      "shape (num_features,) and broadcasts against x; a mean over "
                                                      "dim=1 has shape (N,) and does not."),
}


# (num_features, momentum or None for the default, training batches, eval batch[, momentum given by
# position (not by keyword), a batch after .train() again]): a drawn example has the first four
RUNNING_MEAN_CASES = [
    (3, None, [[[1.0, 2.0, 3.0], [3.0, -2.0, 5.0]], [[0.0, 1.0, -1.0], [2.0, 3.0, 1.0], [4.0, 2.0, 0.0]]],
     [[1.0, 1.0, 1.0], [-2.0, 0.5, 4.0]], False, [[2.0, 0.0, -2.0], [4.0, 2.0, 2.0]]),
    (2, 0.25, [[[1.0, 5.0], [3.0, -1.0]], [[2.0, 2.0], [-4.0, 6.0]]], [[1.0, 2.0], [3.0, 4.0]]),  # square
    (1, 0.5, [[[2.0], [4.0], [9.0]], [[-1.0]]], [[3.0], [5.0]]),                                   # N = 1
    (4, 1.0, [[[1.0, 2.0, 3.0, 4.0], [3.0, 2.0, 1.0, 0.0]], [[8.0, -8.0, 0.5, 1.0]]], [[1.0, 0.0, 0.0, 2.0]], True),
    (2, 0.0, [[[1.0, 3.0], [5.0, 7.0]]], [[2.0, 2.0]]),                                            # never moves
]


def gradient_for(shape):
    """The gradient G each batch is sent back with: distinct entries, not symmetric."""
    return f64(range(1, 1 + shape[0] * shape[1])).reshape(shape) * f64([1.0, -0.5, 2.0, 0.25])[:shape[1]]


MOMENTA = st.sampled_from([None, 0.0, 0.1, 0.25, 0.5, 0.75, 1.0])


@st.composite
def running_mean_examples(draw):
    f = draw(st.integers(1, 4))
    batches = [draw(matrices(rows=(1, 5), cols=(f, f))) for _ in range(2)]
    return f, draw(MOMENTA), batches, draw(matrices(rows=(1, 4), cols=(f, f)))


RUNNING_MEAN_EXAMPLES = running_mean_examples()


def update_mistakes(rm, m, momentum):
    return [(0.9 * rm + 0.1 * m if momentum != 0.1 else None,
             Hint("momentum-hardcoded", f"you used momentum 0.1 whatever the module was given; "
                                        f"this one was made with momentum={momentum:g}: use self.momentum.")),
            (rm, Hint("not-updated-in-training", "running_mean did not change in training mode: update it in every forward call "
                                                 "while module.training is True.")),
            (m, Hint("replaced-not-blended", f"running_mean became the batch mean itself: blend it with the old value, "
                                             f"(1 - momentum) * running_mean + momentum * m (momentum = {momentum:g}).")),
            (momentum * rm + (1 - momentum) * m,
             Hint("momentum-weights-swapped", "the two weights are swapped: the new value is (1 - momentum) * running_mean + "
                                              "momentum * m (momentum weighs the new batch, as in BatchNorm).")),
            (rm + momentum * m, Hint("old-value-not-decayed", "you added momentum * m without decaying the old value: "
                                                              "(1 - momentum) * running_mean + momentum * m."))]


def output_mistakes(x, m, rm_before, rm_after):
    square = x.shape[0] == x.shape[1]  # only then does a mean over the features broadcast
    return [(x - x.mean(1, keepdim=True) if square else None,
             Hint("mean-over-features", "you averaged over the features (dim=1); average over the batch, dim=0.")),
            (x - x.mean(1) if square else None,
             Hint("mean-over-features", "you averaged over the features (dim=1); average over the batch, dim=0.")),
            (x - rm_after, Hint("running-mean-in-training",
                                "in training mode you returned x - running_mean; training mode returns "
                                "x - m, with m = x.mean(0), the batch's own mean.")),
            (x - rm_before, Hint("running-mean-in-training",
                                 "in training mode you returned x - running_mean; training mode returns "
                                 "x - m, with m = x.mean(0), the batch's own mean.")),
            (x - x.mean(), Hint("mean-of-all-entries", "you subtracted the mean of all entries (x.mean()); subtract the mean of "
                                                       "each feature over the batch, x.mean(0).")),
            (x, Hint("x-returned-unchanged", "the output is x unchanged: return x - m."))]


def expect_as_made(t, seen, f, momentum, ctx):
    """A new RunningMean: a buffer of zeros, the momentum it was given, no parameters, in training mode."""
    rm = t.expect_holds(seen, ctx, buffers=("running_mean",), buffer_grad=REQUIRES_GRAD)["running_mean"]
    zeros = torch.zeros(f, dtype=torch.float64)
    t.expect(rm, zeros, ctx, what="the initial running_mean", dtype=rm.dtype, device=rm.device,
             mistakes=[(zeros[None, :], Hint("wrong-buffer-shape", f"running_mean must have shape ({f},).")),
                       (rm.values, STARTS_AT_ZERO)])
    t.expect_number(seen, "momentum", momentum, ctx)
    if not seen.training:
        t.fail(ctx, "A new module must be in training mode (module.training True), as every "
                    "nn.Module is: did __init__ call self.eval() or set self.training?", mistake="eval-in-init")


def expect_training_step(t, seen, call, step, x_v, rm, momentum):
    """forward in training mode returns x - m and blends m into the buffer, which keeps no history;
    the gradient flows through m. The running mean after it."""
    x = f64(x_v)
    m = x.mean(0)
    rm_next = (1 - momentum) * rm + momentum * m
    ctx = (f"{call} on {t.where}, in training mode, batch {step}:\n  running_mean before = {fmt(rm)}\n"
           f"  x = {fmt(x_v)}  (shape {tuple(x.shape)}, a leaf that requires grad)")
    xs = t.make(t.tensor(x_v, requires_grad=True))
    out = t.call(xs, target=seen, context=ctx, hints=FORWARD_HINTS)
    out = t.expect(out, x - m, ctx, what="the result (x - x.mean(0))", mistakes=output_mistakes(x, m, rm, rm_next))
    rm_seen = t.expect_registered(t.describe(seen), "running_mean", "buffer", ctx)
    if rm_seen.grad_fn is not None or not rm_seen.is_leaf:
        t.fail(ctx, "After forward in training mode, " + HISTORY.format(how=f"grad_fn={rm_seen.grad_fn}"),
               mistake=HISTORY.slug)
    if rm_seen.requires_grad:
        t.fail(ctx, REQUIRES_GRAD)
    t.expect(rm_seen, rm_next, ctx, what="running_mean after the update", mistakes=update_mistakes(rm, m, momentum))
    gradient = gradient_for(x.shape)
    t.expect_grad_of(out, xs, gradient, gradient - gradient.mean(0), ctx + f"\n  then out.backward(G) with G = "
                     f"{fmt(gradient)}", what="x.grad (the gradient of x - x.mean(0) is G - G.mean(0))",
                     none=Hint("output-detached",
                               "x.grad is None after backward: the output does not depend on x through autograd."),
                     mistakes=[(gradient, DETACHED)], backward_what=BACKWARD, hints=BACKWARD_HINTS)
    return rm_next


def expect_eval_step(t, seen, call, x_v, rm, momentum):
    """forward in eval mode returns x - running_mean and leaves the buffer alone."""
    x = f64(x_v)
    ctx = f"{call} on {t.where}, after .eval():\n  running_mean = {fmt(rm)}\n  x = {fmt(x_v)}  (shape {tuple(x.shape)})"
    xs = t.make(t.tensor(x_v, requires_grad=True))
    out = t.call(xs, target=seen, context=ctx)
    rm_seen = t.expect_registered(t.describe(seen), "running_mean", "buffer", ctx)
    t.expect(rm_seen, rm, ctx, what="running_mean after forward in eval mode", mistakes=[
        ((1 - momentum) * rm + momentum * x.mean(0),
         Hint("updated-in-eval", "you updated running_mean in eval mode: update it only when self.training is True; in "
                                 "eval mode the running statistics are frozen."))])
    out = t.expect(out, x - rm, ctx, what="the result in eval mode (x - running_mean)", mistakes=[
        (x - x.mean(0), Hint("batch-mean-in-eval", "in eval mode you subtracted the batch mean; eval mode returns "
                                                   "x - running_mean (check self.training to tell the modes apart)."))])
    gradient = gradient_for(x.shape)
    t.expect_grad_of(out, xs, gradient, gradient, ctx, what="x.grad in eval mode (G)",
                     none=Hint("output-detached", "x.grad is None after backward: the output must depend on x."),
                     backward_what=BACKWARD, hints=BACKWARD_HINTS)
    if rm_seen.requires_grad or rm_seen.grad_fn is not None:
        t.fail(ctx, "In eval mode, " + HISTORY.format(how=f"grad_fn={rm_seen.grad_fn}"), mistake=HISTORY.slug)


@A.exercise("running_mean", "class RunningMean(nn.Module)", cases=RUNNING_MEAN_CASES, strategy=RUNNING_MEAN_EXAMPLES,
            after=moves_to_meta(["running_mean"], 3, hints=INIT_HINTS), tolerance=tolerances.MODULES)
def running_mean(t, case):
    f, momentum, batches, eval_x, positional, again = (*case, False, None)[:6]  # the last two are optional
    args = (f, momentum) if positional else (f,)
    kwargs = {} if positional or momentum is None else {"momentum": momentum}
    call = call_text("RunningMean", *args, **kwargs)
    ctx = t.context(call=call)
    seen = t.construct(*args, context=ctx, hints=INIT_HINTS, **kwargs)
    momentum = 0.1 if momentum is None else momentum
    expect_as_made(t, seen, f, momentum, ctx)
    t.moved(seen, ctx)
    rm = torch.zeros(f, dtype=torch.float64)
    for step, x_v in enumerate(batches, 1):
        rm = expect_training_step(t, seen, call, step, x_v, rm, momentum)
    t.op("train", seen, False)
    expect_eval_step(t, seen, call, eval_x, rm, momentum)
    if again:  # back to training mode: it updates again
        t.op("train", seen, True)
        x = f64(again)
        ctx = (f"{call} on {t.device}, after .eval() and then .train() again:\n  running_mean "
               f"before = {fmt(rm)}\n  x = {fmt(again)}")
        out = t.call(t.tensor(again), target=seen, context=ctx)
        t.expect(out, x - x.mean(0), ctx, what="the result in training mode",
                 mistakes=[(x - rm, Hint("own-training-flag", "after .train() the module must be in training mode "
                                                              "again: use self.training, which train()/eval() set."))])
        rm_seen = t.expect_registered(t.describe(seen), "running_mean", "buffer", ctx)
        t.expect(rm_seen, (1 - momentum) * rm + momentum * x.mean(0), ctx, what="running_mean after the update",
                 mistakes=[(rm, Hint("own-training-flag", "running_mean did not change after .train(): read "
                                                          "self.training, which train() and eval() set."))])


# =============================================================================================
# classify_tensors
# =============================================================================================

SUBMODULES = Hint("submodule-tensors-counted",
                  "you counted tensors of the submodules ({keys}): named_parameters() and "
                  "named_buffers() walk the whole tree by default; only what the module holds itself "
                  "counts (section 1: where each kind lives).")
NONES = Hint("none-slots-counted",
             "{keys} is registered as None (register_parameter(name, None) or a layer made with "
             "bias=False): there is no tensor there, so leave it out.")
IN_CONTAINERS = Hint("container-items-counted",
                     "{keys}: tensors inside a list or dict attribute are not held by the module as "
                     "tensors (it does not even see them); do not count them.")
NON_PERSISTENT_MISSING = Hint("buffers-from-state-dict",
                              "{keys} is a buffer registered with persistent=False, so state_dict() "
                              "leaves it out; it is still a buffer, so state_dict() cannot tell "
                              "you every buffer (section 3).")
FROZEN = Hint("kind-by-requires-grad",
              "{keys}: a parameter with requires_grad=False (frozen) is still a parameter; "
              "requires_grad does not tell a frozen parameter from a buffer (section 1: registration).")
PLAIN_MISSING = Hint("plain-tensors-missed",
                     "{keys} is a plain tensor attribute, missing from your result: it is neither a "
                     "parameter nor a buffer, so it is in neither of those tables (section 1: where "
                     "an ordinary attribute lives).")
UNDERSCORE = Hint("underscore-names-skipped",
                  "{keys}: a plain tensor attribute whose name starts with an underscore is still a "
                  "tensor the module holds; the module's own tables (_parameters, _buffers, "
                  "_modules) are dicts, not tensors, so a name starting with _ is no reason to skip.")
WHAT_IT_IS = {
    "buffer": Hint("buffer-mislabelled", " A buffer is a tensor registered with register_buffer, whether or not it is "
                                        "persistent (section 3)."),
    "tensor": Hint("plain-tensor-mislabelled", " A plain tensor attribute is neither a parameter nor a buffer (section 2)."),
}
KINDS = ("parameter", "buffer", "tensor")


@st.composite
def module_layouts(draw):
    """What a module holds, as plain data: [(name, kind, shape)] in the order it is built."""
    pool = ["w", "b", "scale", "shift", "stat", "cache", "mask", "alpha", "gamma", "fc", "inner",
            "history", "table", "_hidden", "count"]
    names = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=8, unique=True))
    kinds = ["parameter", "frozen", "none_parameter", "buffer", "non_persistent", "none_buffer",
             "tensor", "list", "child_linear", "child_module"]
    layout = []
    for name in names:
        kind = draw(st.sampled_from(kinds))
        layout.append((name, kind, draw(st.integers(1, 3))))
    return layout


MODULE_LAYOUTS = module_layouts()
CLASSIFY_CASES = [
    [("w", "parameter", 3), ("frozen", "frozen", 2), ("gone", "none_parameter", 1),
     ("stat", "buffer", 3), ("cache", "non_persistent", 2), ("empty", "none_buffer", 1),
     ("scale", "tensor", 2), ("_private", "tensor", 1), ("history", "list", 2),
     ("fc", "child_linear", 3), ("inner", "child_module", 2)],
    [("scale", "tensor", 2), ("history", "list", 1)],
    [("fc", "child_linear", 2), ("inner", "child_module", 1)],   # only submodules: {}
    [],                                                            # nothing at all: {}
]
LAYERS = [
    ("nn.Linear(3, 2)", linear(3, 2)),
    ("nn.Linear(2, 2, bias=False) (its bias is registered as None)", linear(2, 2, bias=False)),
    ("nn.BatchNorm1d(3)", bn(3)),
    ("nn.Sequential(nn.Linear(2, 3), nn.ReLU())", seq(linear(2, 3), RELU)),
]


def odd_tensors(t):
    """Tensors not of the trial's floating dtype, or of no size: a 0-d int64 step counter, an
    empty tensor and a bool mask as plain attributes, a 0-d buffer and an int64 buffer. A solution
    that keeps only floating tensors, or only tensors with entries, misses some of them."""
    return ("a module holding plain tensor attributes count (0-d, int64), cache (empty) and mask "
            "(bool), a 0-d buffer scale and an int64 buffer steps",
            Spec("module", tensors=[["count", t.tensor(3, dtype=torch.int64)], ["cache", t.tensor(torch.zeros(0))],
                                    ["mask", t.tensor([True, False], dtype=torch.bool)]],
                 buffers=[["scale", t.tensor(2.0), True], ["steps", t.tensor([1, 2], dtype=torch.int64), True]]))


def classify_reference(module):
    """The answer, from the module built here (judge side) the way the candidate builds it."""
    out = {name: "parameter" for name, p in module._parameters.items() if p is not None}
    out.update({name: "buffer" for name, b in module._buffers.items() if b is not None})
    out.update({name: "tensor" for name, value in vars(module).items() if isinstance(value, torch.Tensor)})
    return out


def classify_mismatch(got, expected, module):
    """What is wrong with `got`: each key explained by the likely mistake (a `Hint`, named by the
    first mistake it recognises)."""
    inner = {f"{prefix}.{n}" for prefix, child in module.named_children()
             for n, _ in list(child.named_parameters()) + list(child.named_buffers())}
    inner |= {f"{prefix}.{n}" for prefix, child in module.named_modules() if prefix
              for n, v in vars(child).items() if isinstance(v, torch.Tensor)}
    nones = {n for n, p in list(module._parameters.items()) + list(module._buffers.items()) if p is None}
    lists = {n for n, v in vars(module).items() if isinstance(v, (list, tuple, dict)) and not n.startswith("_")}
    frozen = {n for n, p in module._parameters.items() if p is not None and not p.requires_grad}
    extra = [k for k in got if k not in expected]
    missing = [k for k in expected if k not in got]
    wrong = [k for k in expected if k in got and got[k] != expected[k]]
    dotted = [k for k in extra if isinstance(k, str) and "." in k]
    in_list = [k for k in extra if isinstance(k, str) and any(k.startswith((f"{n}[", f"{n}.")) for n in lists)]
    explained_by = [  # (the keys a mistake explains, the mistake)
        ([k for k in extra if k in inner or k in dotted], SUBMODULES),
        ([k for k in extra if k in nones], NONES),
        ([k for k in extra if k in lists or k in in_list], IN_CONTAINERS),
        ([k for k in missing if k in module._non_persistent_buffers_set], NON_PERSISTENT_MISSING),
        ([k for k in missing + wrong if k in frozen], FROZEN),
        ([k for k in missing if expected[k] == "tensor" and not k.startswith("_")], PLAIN_MISSING),
        ([k for k in missing if expected[k] == "tensor" and k.startswith("_")], UNDERSCORE)]
    lines = [why.format(keys=", ".join(repr(k) for k in sorted(keys, key=str))) for keys, why in explained_by if keys]
    explained = " ".join(lines)
    lines += [f"{k!r} is not a tensor the module holds itself." for k in extra if repr(k) not in explained]
    lines += [f"{k!r} ({expected[k]}) is missing." for k in missing if repr(k) not in explained]
    by_pair = {}
    for k in wrong:
        if repr(k) not in explained:
            by_pair.setdefault((expected[k], got[k]), []).append(repr(k))
    for (want, said), keys in by_pair.items():
        one = len(keys) == 1
        lines.append(f"{', '.join(keys)} {'is a' if one else 'are'} {want}{'' if one else 's'}, not {said!r}."
                     + WHAT_IT_IS.get(want, ""))
    head = (f"It returned {dict(sorted(got.items(), key=lambda kv: str(kv[0])))},\n"
            f"expected   {dict(sorted(expected.items()))}.")
    # named by the first mistake recognised; lines that only say what differs are no likely mistake
    known = [why for keys, why in explained_by if keys] + [WHAT_IT_IS[want] for want, _ in by_pair if want in WHAT_IT_IS]
    if not known:
        return "\n".join([head, *lines])
    return Hint(known[0].slug, head + likely_line("\n".join(lines)))


A.module_function(
    "classify_tensors", "def classify_tensors(module)",
    # the modules' tensors are of the trial's dtype and on its device
    models=lambda t: [holding(t, layout) for layout in CLASSIFY_CASES] + [odd_tensors(t)] + LAYERS,
    strategy=MODULE_LAYOUTS, example=holding,
    reference=classify_reference, answer=answers.label_dict(KINDS, near=("param", "parameters", "buffers", "tensors")),
    mismatch=classify_mismatch, move="device",
    describe=lambda t, call, label, module: f"classify_tensors(module) on {t.where}, with\n  module = {label}",
)

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
from hypothesis import strategies as st

from ..channel import Raised, Spec, TensorInput
from ..declare import Assignment
from ..properties import matrices, quarters, vectors
from ..compare import dtype_name, fmt
from ..seen import SeenModule, SeenTensor

A = Assignment("05_parameters")

TOLERANCE = {torch.float32: (1e-5, 1e-5), torch.float64: (1e-9, 1e-10)}

INIT_HINTS = {
    "before Module.__init__() call": "call super().__init__() first in __init__, before you assign "
                                     "parameters, buffers or submodules.",
    "already exists": "register_buffer(name, tensor) needs a name that is not taken yet: do not "
                      "also assign self.<name> = tensor (before or after), register it once.",
    "torch.nn.Parameter or None": "a name that holds a Parameter only accepts a Parameter: wrap the "
                                  "tensor in nn.Parameter(...) (or register it once, as what it is).",
    "unexpected keyword argument": "the constructor must accept the arguments the exercise names, "
                                   "with the same names.",
    "positional argument": "the constructor must take exactly the arguments the exercise names.",
}
BACKWARD_HINTS = {
    "does not require grad": "the output does not depend on x through autograd: was x (or the "
                             "result) detached, or forward run under torch.no_grad()?",
    "second time": "the buffer holds autograd history from an earlier call: update it under "
                   "torch.no_grad() (or from detached values) so it keeps no graph.",
}

# --- what each registration mistake means ----------------------------------------------------

TENSOR_FOR_BUFFER = (
    "`{name}` is a plain tensor attribute (self.{name} = tensor): the module does not know it "
    "holds it, so it is not in state_dict (not saved with the model) and .to(device) leaves it "
    "behind. Register it: self.register_buffer('{name}', tensor).")
PARAMETER_FOR_BUFFER = (
    "`{name}` is registered as an nn.Parameter: parameters() lists it, so an optimiser would "
    "change it (and it gets gradients, unless requires_grad=False) although it is a statistic, "
    "not something to learn. A buffer is saved and moved like a parameter but never trained: "
    "self.register_buffer('{name}', tensor).")
NON_PERSISTENT = (
    "`{name}` is a buffer registered with persistent=False: it is then left out of state_dict, "
    "so it is not saved with the model. Register it with the default, persistent=True.")
TENSOR_FOR_PARAMETER = (
    "`{name}` is a plain tensor attribute (self.{name} = tensor): parameters() does not list it, "
    "so an optimiser never trains it, and it is neither saved nor moved by .to(). Wrap it: "
    "self.{name} = nn.Parameter(tensor).")
BUFFER_FOR_PARAMETER = (
    "`{name}` is a buffer: buffers are saved and moved, but they get no gradient and "
    "parameters() does not list them, so an optimiser never trains them. It must be learned: "
    "self.{name} = nn.Parameter(tensor).")
NONE_REGISTERED = "`{name}` is registered, but holds None."


def kind_of(seen, name):
    """What `seen` holds under `name`: parameter, buffer, non-persistent buffer, tensor (a plain
    attribute), None parameter, None buffer, or None (nothing)."""
    if name in seen.parameters:
        return "parameter" if seen.parameters[name] is not None else "None parameter"
    if name in seen.buffers:
        if seen.buffers[name] is None:
            return "None buffer"
        return "buffer" if seen.persistent[name] else "non-persistent buffer"
    if name in seen.tensor_attributes:
        return "tensor"
    return None


def holdings(seen):
    """What the module holds, in words, for a message."""
    parts = []
    if seen.parameters:
        parts.append("parameters " + ", ".join(seen.parameters))
    if seen.buffers:
        parts.append("buffers " + ", ".join(
            n + ("" if seen.persistent[n] else " (persistent=False)") for n in seen.buffers))
    if seen.tensor_attributes:
        parts.append("plain tensor attributes " + ", ".join(seen.tensor_attributes))
    if seen.children:
        parts.append("submodules " + ", ".join(seen.children))
    return "; ".join(parts) if parts else "no tensors at all"


def expect_registered(t, seen, name, want, ctx):
    """`seen` holds `name` as `want` ('buffer', persistent, or 'parameter'); returns the tensor."""
    kind = kind_of(seen, name)
    if kind == want:
        return seen.buffers[name] if want == "buffer" else seen.parameters[name]
    explain = {
        ("buffer", "tensor"): TENSOR_FOR_BUFFER, ("buffer", "parameter"): PARAMETER_FOR_BUFFER,
        ("buffer", "non-persistent buffer"): NON_PERSISTENT,
        ("parameter", "tensor"): TENSOR_FOR_PARAMETER, ("parameter", "buffer"): BUFFER_FOR_PARAMETER,
        ("parameter", "non-persistent buffer"): BUFFER_FOR_PARAMETER,
    }.get((want, kind))
    if kind in ("None parameter", "None buffer"):
        explain = NONE_REGISTERED
    if explain is None:
        explain = (f"It holds no tensor named `{name}` ({holdings(seen)}). The {want} must be "
                   f"named exactly `{name}`, held by the module itself (not in a list, a dict or a "
                   "submodule).")
    article = "a buffer" if want == "buffer" else "an nn.Parameter"
    t.fail(ctx, f"`{name}` must be registered as {article}.\nLikely mistake: "
                + explain.format(name=name))


def expect_saved(t, seen, names, ctx):
    if seen.state_dict is None:
        t.fail(ctx, f"module.state_dict() raised {seen.state_dict_error}.")
    missing = [n for n in names if n not in seen.state_dict]
    if missing:
        t.fail(ctx, f"state_dict() has keys {seen.state_dict}, without {', '.join(missing)}: "
                    "those tensors would not be saved with the model.")


def expect_no_parameters(t, seen, ctx, cls, stats=()):
    if not seen.named_parameters:
        return
    names = [n for n, _ in seen.named_parameters]
    text = f"{cls} must have no parameters, but parameters() gives {', '.join(names)}."
    statistic = next((n for n in names if n in stats), None)
    if statistic:
        text += "\nLikely mistake: " + PARAMETER_FOR_BUFFER.format(name=statistic)
    t.fail(ctx, text)


def expect_no_buffers(t, seen, ctx, cls):
    if seen.named_buffers:
        names = [n for n, _ in seen.named_buffers]
        text = f"{cls} must have no buffers, but named_buffers() gives {', '.join(names)}."
        learned = next((n for n in names if n in ("gamma", "beta")), None)
        if learned:
            text += "\nLikely mistake: " + BUFFER_FOR_PARAMETER.format(name=learned)
        t.fail(ctx, text)


def require_module(t, got, ctx, cls):
    if isinstance(got, SeenModule):
        if got.state_dict is None:
            t.fail(ctx, f"state_dict() of the {cls} raised {got.state_dict_error}.")
        return got
    kind = getattr(got, "type_name", type(got).__name__).rsplit(".", 1)[-1]
    t.fail(ctx, f"{cls}(...) should make an nn.Module, but it gave a {kind}. The class must "
                f"subclass nn.Module: class {cls}(nn.Module).")


def construct(t, ctx, cls, *args, **kwargs):
    return require_module(t, t.call(*args, context=ctx, hints=INIT_HINTS, **kwargs), ctx, cls)


def call_module(t, module, x, ctx, hints=None):
    return t.call(x, target=module, context=ctx, hints=hints)


def backward(t, out, gradient, ctx, hints=None):
    """out.backward(gradient) in the candidate; what it raised, explained."""
    try:
        t.op("backward", out, gradient)
    except Raised as exc:
        t.fail(ctx, t.raised_message(exc, "", {**BACKWARD_HINTS, **(hints or {})})
               .replace("It raised", "Calling backward on the output raised"))


def expect_moved(t, module, names, device, ctx, cls):
    """module.to(device), then every tensor in `names` must be there (meta: no values needed)."""
    try:
        where = t.op("module_to_devices", module, str(device), list(names))
    except Raised as exc:
        t.fail(ctx, f"{cls}.to({str(device)!r}) raised {exc.type_name}: {exc.message.strip()}")
    for name in names:
        found = where.get(name) if isinstance(where, dict) else None
        if found is None or torch.device(found).type != torch.device(device).type:
            t.fail(ctx, f"After module.to({str(device)!r}), `{name}` is on {found}, not on "
                        f"{device}" + (" (the meta device stands in for a GPU: it has shapes and "
                                       "dtypes but no data)" if str(device) == "meta" else "")
                   + ". .to() moves the registered parameters and buffers only.\nLikely mistake: "
                   + "a plain tensor attribute, or a tensor kept somewhere the module cannot see.")


def momentum_of(t, module, ctx):
    try:
        value = t.candidate.get(module, "momentum")
    except Raised as exc:
        t.fail(ctx, f"Reading module.momentum raised {exc.type_name}: {exc.message.strip()}\n"
                    "Likely mistake: store the argument as an attribute: self.momentum = momentum.")
    if isinstance(value, SeenTensor) and value.values is not None and value.numel == 1:
        return float(value.values.reshape(()).item())
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    t.fail(ctx, f"module.momentum is {getattr(value, 'type_name', type(value).__name__)}, not the "
                "number given: store it as it comes, self.momentum = momentum.")


def expect_values(t, tensor, expected, ctx, what, mistakes=(), dtype=None, device=None):
    rtol, atol = TOLERANCE[t.dtype]
    return t.expect(tensor, expected, ctx, rtol=rtol, atol=atol, mistakes=mistakes, what=what,
                    dtype=dtype, device=device)


def f64(values):
    return torch.tensor(values, dtype=torch.float64)


def where(t):
    """'on cpu, float32': where a trial runs, for the first line of a message."""
    return f"on {t.device}, {dtype_name(t.dtype)}"


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
    f = draw(st.integers(1, 5))
    n = draw(st.integers(1, 5))
    mean = draw(vectors(size=(f, f)))
    std = draw(st.lists(quarters(0.25, 8), min_size=f, max_size=f))
    return mean, std, draw(matrices(shape=(n, f)))


STANDARDIZE_EXAMPLES = standardize_examples()


def standardize_mistakes(mean, std, x):
    n = x.shape[0]
    out = [
        ((x - std) / mean if bool((mean != 0).all()) else None,
         "you swapped mean and std: subtract the mean, then divide by the standard deviation."),
        ((x - mean) * std, "you multiplied by std; standardizing divides by it: (x - mean) / std."),
        (x - mean / std, "operator precedence: x - mean / std divides only the mean. Write "
                         "(x - self.mean) / self.std."),
        (x * std + mean, "that is the inverse (x * std + mean undoes standardizing): compute "
                         "(x - mean) / std."),
        (x - mean, "you subtracted the mean but did not divide by std."),
        ((x - mean) / std.sqrt(), "you took the square root of std, as if it were a variance; "
                                  "std is already a standard deviation."),
        ((x - mean) / (std + 1e-5), "you added an eps to std; the exercise asks for exactly "
                                    "(x - mean) / std."),
    ]
    if n >= 2:
        out.append(((x - x.mean(0)) / x.std(0),
                    "you standardized with the batch's own statistics (x.mean(0), x.std(0)); use "
                    "the stored buffers self.mean and self.std, whatever the batch."))
        out.append(((x - x.mean(0)) / std,
                    "you subtracted the batch's own mean (x.mean(0)); use the stored buffer self.mean."))
    return out


def standardize_registration(t, seen, ctx, mean, std):
    for name, values in (("mean", mean), ("std", std)):
        tensor = expect_registered(t, seen, name, "buffer", ctx)
        expect_values(t, tensor, values, ctx, what=f"the buffer {name}")
        if tensor.requires_grad:
            t.fail(ctx, f"The buffer {name} requires grad: a buffer holds a fixed statistic.")
    expect_no_parameters(t, seen, ctx, "Standardize", stats=("mean", "std"))
    expect_saved(t, seen, ["mean", "std"], ctx)


@A.exercise("standardize", "class Standardize(nn.Module)", strategies=[STANDARDIZE_EXAMPLES])
def standardize(t):
    def case(values):
        mean_v, std_v, x_v = values
        mean, std = f64(mean_v), f64(std_v)
        ctx = t.context(call="Standardize(mean, std)", mean=mean_v, std=std_v)
        seen = construct(t, ctx, "Standardize", t.tensor(mean_v), t.tensor(std_v))
        standardize_registration(t, seen, ctx, mean, std)

        x = f64(x_v)
        fctx = t.context(call="Standardize(mean, std)(x)", mean=mean_v, std=std_v, x=x_v)
        out = call_module(t, seen, t.tensor(x_v), fctx)
        after = t.describe(seen)
        for name, values in (("mean", mean), ("std", std)):
            tensor = after.buffers.get(name)
            if not isinstance(tensor, SeenTensor) or tensor.values is None or not torch.allclose(
                    tensor.values.to(torch.float64), values, rtol=1e-6, atol=1e-6):
                t.fail(fctx, f"forward changed the buffer {name}: it must only read the statistics "
                             "it was given (no in-place operation on self.mean or self.std).")
        expect_values(t, out, (x - mean) / std, fctx, "the result",
                      mistakes=standardize_mistakes(mean, std, x))

    for values in STANDARDIZE_CASES:
        case(values)
    t.for_all(STANDARDIZE_EXAMPLES, case)

    # .to() moves both buffers: to the meta device (a stand-in for a GPU), and to this trial's
    # device when it is not the CPU, where forward must then work
    mean_v, std_v, x_v = STANDARDIZE_CASES[0]
    on_cpu = [TensorInput(torch.tensor(v, dtype=t.dtype), "cpu") for v in (mean_v, std_v)]
    ctx = t.context(call="Standardize(mean, std) made on the CPU, then moved", mean=mean_v, std=std_v)
    expect_moved(t, construct(t, ctx, "Standardize", *on_cpu), ["mean", "std"], "meta", ctx, "Standardize")
    if t.device.type != "cpu":
        seen = construct(t, ctx, "Standardize", *on_cpu)
        moved = t.op("module_to", seen, t.device)
        for name, values in (("mean", mean_v), ("std", std_v)):
            expect_values(t, expect_registered(t, moved, name, "buffer", ctx), f64(values), ctx,
                          what=f"the buffer {name} after module.to({t.device})")
        out = call_module(t, seen, t.tensor(x_v), ctx + f"\n  forward(x) after module.to({t.device})")
        expect_values(t, out, (f64(x_v) - f64(mean_v)) / f64(std_v), ctx, "the result after .to()")


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
    f = draw(st.integers(1, 5))
    n = draw(st.integers(1, 5))
    gamma = draw(st.lists(quarters(-4, 4), min_size=f, max_size=f))
    beta = draw(vectors(size=(f, f)))
    return f, gamma, beta, draw(matrices(shape=(n, f))), draw(matrices(shape=(n, f), values=quarters(-4, 4)))


SCALE_SHIFT_EXAMPLES = scale_shift_examples()


def scale_shift_mistakes(gamma, beta, x):
    return [
        (x * gamma, "you forgot beta: forward(x) = x * gamma + beta."),
        (x + beta, "you forgot gamma: forward(x) = x * gamma + beta."),
        ((x + beta) * gamma, "you added beta before scaling: (x + beta) * gamma; scale first, then "
                             "shift: x * gamma + beta."),
        (x * beta + gamma, "you swapped gamma and beta: gamma scales, beta shifts: x * gamma + beta."),
        (x, "the output is x itself: did forward use the new values of gamma and beta?"),
    ]


NO_GRADIENT = ("No gradient reached gamma or beta: the output has no autograd history, so forward "
               "computed with self.gamma.data / self.gamma.detach() (or a copy, or under "
               "torch.no_grad()). Compute with the parameters themselves, x * self.gamma + self.beta, "
               "or they would never be trained.")


def reduce_to(grad, f):
    return grad.reshape(-1, f).sum(0)


@A.exercise("scale_shift", "class ScaleShift(nn.Module)", strategies=[SCALE_SHIFT_EXAMPLES])
def scale_shift(t):
    def case(values):
        f, gamma_v, beta_v, x_v, grad_v = values
        ctx = t.context(call=f"ScaleShift({f})")
        seen = construct(t, ctx, "ScaleShift", f)
        initial = {"gamma": torch.ones(f, dtype=torch.float64), "beta": torch.zeros(f, dtype=torch.float64)}
        for name, start in initial.items():
            p = expect_registered(t, seen, name, "parameter", ctx)
            if not p.requires_grad:
                t.fail(ctx, f"The parameter {name} has requires_grad=False: it is frozen, so it gets "
                            "no gradient and no optimiser trains it. nn.Parameter(tensor) requires "
                            "grad by default.")
            other = initial["beta" if name == "gamma" else "gamma"]
            start_as = f"{name} must start as {'ones' if name == 'gamma' else 'zeros'}"
            expect_values(t, p, start, ctx, what=f"the initial {name}", dtype=p.dtype or t.dtype,
                          device=p.device, mistakes=[
                              (other, f"{start_as} (gamma = ones, beta = zeros: the layer starts as "
                                      "the identity); did you swap them?"),
                              (start[None, :], f"{name} must have shape ({f},), one entry per feature."),
                              (start[:, None], f"{name} must have shape ({f},), one entry per feature."),
                              (p.values, f"{start_as}, torch.{'ones' if name == 'gamma' else 'zeros'}"
                                         "(num_features), so that a new layer is the identity "
                                         "(random values are for weights, not for a scale and shift).")])
            if p.dtype is None or not p.dtype.is_floating_point:
                t.fail(ctx, f"The parameter {name} has dtype {p.dtype_name}: use a floating dtype.")
        expect_no_buffers(t, seen, ctx, "ScaleShift")
        expect_saved(t, seen, ["gamma", "beta"], ctx)

        # on this trial's dtype and device, with values that tell the mistakes apart
        moved = t.op("module_to", seen, t.dtype)
        moved = t.op("module_to", seen, t.device)
        gamma, beta = f64(gamma_v), f64(beta_v)
        for name, vals in (("gamma", gamma_v), ("beta", beta_v)):
            p = expect_registered(t, moved, name, "parameter", ctx)
            expect_values(t, p, initial[name], ctx, what=f"{name} after module.to({t.dtype}) and .to({t.device})")
            for i, v in enumerate(vals):
                t.op("fill", p, (i,), float(v))
        x = f64(x_v)
        fctx = t.context(call=f"ScaleShift({f})(x)", gamma=gamma_v, beta=beta_v, x=x_v)
        out = call_module(t, seen, t.tensor(x_v), fctx)
        out = expect_values(t, out, x * gamma + beta, fctx, "the result",
                            mistakes=scale_shift_mistakes(gamma, beta, x))

        # gradients reach both parameters: d(sum(G * out))/dgamma = sum(G * x), /dbeta = sum(G)
        grad = f64(grad_v)
        gctx = fctx + f"\n  then out.backward(G) with G = {grad_v}"
        backward(t, out, t.tensor(grad_v), gctx, hints={"does not require grad": NO_GRADIENT})
        after = t.describe(seen)
        for name, want in (("gamma", reduce_to(grad * x, f)), ("beta", reduce_to(grad, f))):
            p = after.parameters.get(name)
            if p is None or p.grad is None:
                t.fail(gctx, f"No gradient reached {name}: forward must compute with the parameter "
                             f"itself. Likely mistake: self.{name}.data or self.{name}.detach() (or a "
                             "copy) in forward cuts it out of the graph, so it would never be trained.")
            expect_values(t, p.grad, want, gctx, what=f"{name}.grad")

    for values in SCALE_SHIFT_CASES:
        case(values)
    t.for_all(SCALE_SHIFT_EXAMPLES, case)

    ctx = t.context(call="ScaleShift(3), then moved")
    expect_moved(t, construct(t, ctx, "ScaleShift", 3), ["gamma", "beta"], "meta", ctx, "ScaleShift")


# =============================================================================================
# running_mean
# =============================================================================================

DETACHED = ("the gradient with respect to x is G itself, as if m = x.mean(0) were a constant: m "
            "was detached (m.detach(), m.data, or computed under torch.no_grad()). Only the buffer's "
            "update needs no history; the output x - m must keep it, so that the gradient is "
            "G - G.mean(0).")
HISTORY = ("`running_mean` now holds autograd history ({how}): it was computed from m = x.mean(0), "
           "which requires grad, outside torch.no_grad(). Every later update chains onto that graph "
           "(memory grows each step, and a backward through it fails). Update it under "
           "torch.no_grad(), or from m.detach().")

REQUIRES_GRAD = ("`running_mean` requires grad: a buffer holds a statistic, which nothing should "
                 "differentiate. Make it with torch.zeros(num_features) (requires_grad False).")

# (num_features, momentum or None for the default, training batches, eval batch)
RUNNING_MEAN_CASES = [
    (3, None, [[[1.0, 2.0, 3.0], [3.0, -2.0, 5.0]], [[0.0, 1.0, -1.0], [2.0, 3.0, 1.0], [4.0, 2.0, 0.0]]],
     [[1.0, 1.0, 1.0], [-2.0, 0.5, 4.0]]),
    (2, 0.25, [[[1.0, 5.0], [3.0, -1.0]], [[2.0, 2.0], [-4.0, 6.0]]], [[1.0, 2.0], [3.0, 4.0]]),  # square
    (1, 0.5, [[[2.0], [4.0], [9.0]], [[-1.0]]], [[3.0], [5.0]]),                                   # N = 1
    (4, 1.0, [[[1.0, 2.0, 3.0, 4.0], [3.0, 2.0, 1.0, 0.0]], [[8.0, -8.0, 0.5, 1.0]]],
     [[1.0, 0.0, 0.0, 2.0]]),
    (2, 0.0, [[[1.0, 3.0], [5.0, 7.0]]], [[2.0, 2.0]]),                                            # never moves
]
# the gradient each training batch is sent back with: distinct entries, not symmetric
GRADIENT_OF = lambda shape: (torch.arange(1.0, 1.0 + shape[0] * shape[1], dtype=torch.float64)  # noqa: E731
                             .reshape(shape) * torch.tensor([1.0, -0.5, 2.0, 0.25], dtype=torch.float64)[:shape[1]])

MOMENTA = st.sampled_from([None, 0.0, 0.1, 0.25, 0.5, 0.75, 1.0])


@st.composite
def running_mean_examples(draw):
    f = draw(st.integers(1, 4))
    batches = [draw(matrices(rows=(1, 5), cols=(f, f))) for _ in range(2)]
    return f, draw(MOMENTA), batches, draw(matrices(rows=(1, 4), cols=(f, f)))


RUNNING_MEAN_EXAMPLES = running_mean_examples()


def update_mistakes(rm, m, momentum):
    out = [(rm, "running_mean did not change in training mode: update it in every forward call "
                "while module.training is True."),
           (m, f"running_mean became the batch mean itself: blend it with the old value, "
               f"(1 - momentum) * running_mean + momentum * m (momentum = {momentum:g})."),
           (momentum * rm + (1 - momentum) * m,
            "the two weights are swapped: the new value is (1 - momentum) * running_mean + "
            "momentum * m (momentum weighs the new batch, as in BatchNorm)."),
           (rm + momentum * m, "you added momentum * m without decaying the old value: "
                               "(1 - momentum) * running_mean + momentum * m.")]
    if momentum != 0.1:
        out.insert(0, (0.9 * rm + 0.1 * m, f"you used momentum 0.1 whatever the module was given; "
                                           f"this one was made with momentum={momentum:g}: use self.momentum."))
    return out


def output_mistakes(x, m, rm_before, rm_after):
    out = [(x - rm_after, "in training mode you returned x - running_mean; training mode returns "
                          "x - m, with m = x.mean(0), the batch's own mean."),
           (x - rm_before, "in training mode you returned x - running_mean; training mode returns "
                           "x - m, with m = x.mean(0), the batch's own mean."),
           (x - x.mean(), "you subtracted the mean of all entries (x.mean()); subtract the mean of "
                          "each feature over the batch, x.mean(0)."),
           (x, "the output is x unchanged: return x - m.")]
    if x.shape[0] == x.shape[1]:
        out.insert(0, (x - x.mean(1, keepdim=True),
                       "you averaged over the features (dim=1); average over the batch, dim=0."))
        out.insert(1, (x - x.mean(1), "you averaged over the features (dim=1); average over the batch, dim=0."))
    return out


def expect_clean_buffer(t, seen, ctx):
    """running_mean is still a registered buffer that does not require grad and has no history."""
    rm = expect_registered(t, seen, "running_mean", "buffer", ctx)
    if rm.grad_fn is not None or not rm.is_leaf:
        t.fail(ctx, "After forward in training mode, " + HISTORY.format(how=f"grad_fn={rm.grad_fn}"))
    if rm.requires_grad:
        t.fail(ctx, REQUIRES_GRAD)
    return rm


@A.exercise("running_mean", "class RunningMean(nn.Module)", strategies=[RUNNING_MEAN_EXAMPLES])
def running_mean(t):
    def case(values, positional=False):
        f, momentum, batches, eval_x = values
        if momentum is None:
            ctx = t.context(call=f"RunningMean({f})")
            seen = construct(t, ctx, "RunningMean", f)
            momentum = 0.1
        elif positional:
            ctx = t.context(call=f"RunningMean({f}, {momentum})")
            seen = construct(t, ctx, "RunningMean", f, momentum)
        else:
            ctx = t.context(call=f"RunningMean({f}, momentum={momentum})")
            seen = construct(t, ctx, "RunningMean", f, momentum=momentum)
        call = ctx.split(" on ")[0]

        # registration, as made
        rm0 = expect_registered(t, seen, "running_mean", "buffer", ctx)
        expect_values(t, rm0, torch.zeros(f, dtype=torch.float64), ctx, what="the initial running_mean",
                      dtype=rm0.dtype, device=rm0.device,
                      mistakes=[(torch.zeros(1, f, dtype=torch.float64), f"running_mean must have shape ({f},)."),
                                (rm0.values, "running_mean starts as zeros: torch.zeros(num_features).")])
        if rm0.requires_grad:
            t.fail(ctx, REQUIRES_GRAD)
        if rm0.dtype is None or not rm0.dtype.is_floating_point:
            t.fail(ctx, f"running_mean has dtype {rm0.dtype_name}: use a floating dtype (torch.zeros(n)).")
        expect_no_parameters(t, seen, ctx, "RunningMean", stats=("running_mean",))
        expect_saved(t, seen, ["running_mean"], ctx)
        got = momentum_of(t, seen, ctx)
        if abs(got - momentum) > 1e-12:
            t.fail(ctx, f"module.momentum is {got:g}, but the module was made with momentum={momentum:g}.")
        if not seen.training:
            t.fail(ctx, "A new module must be in training mode (module.training True), as every "
                        "nn.Module is: did __init__ call self.eval() or set self.training?")

        t.op("module_to", seen, t.dtype)
        t.op("module_to", seen, t.device)
        rm = torch.zeros(f, dtype=torch.float64)
        for step, x_v in enumerate(batches, 1):
            x = f64(x_v)
            m = x.mean(0)
            rm_next = (1 - momentum) * rm + momentum * m
            bctx = (f"{call} on {where(t)[3:]}, in training mode, "
                    f"batch {step}:\n  running_mean before = {fmt(rm)}\n  x = {fmt(x_v)}  (shape "
                    f"{tuple(x.shape)}, a leaf that requires grad)")
            xs = t.make(t.tensor(x_v, requires_grad=True))
            out = call_module(t, seen, xs, bctx, hints={
                "leaf Variable that requires grad": "forward changed x in place (x -= m, x.sub_(m)): "
                                                    "return a new tensor, x - m.",
                "must match the size": "the mean of each feature over the batch, m = x.mean(0), has "
                                       "shape (num_features,) and broadcasts against x; a mean over "
                                       "dim=1 has shape (N,) and does not."})
            out = expect_values(t, out, x - m, bctx, "the result (x - x.mean(0))",
                                mistakes=output_mistakes(x, m, rm, rm_next))
            after = t.describe(seen)
            rm_seen = expect_clean_buffer(t, after, bctx)
            expect_values(t, rm_seen, rm_next, bctx, what="running_mean after the update",
                          mistakes=update_mistakes(rm, m, momentum))
            gradient = GRADIENT_OF(x.shape)
            gctx = bctx + f"\n  then out.backward(G) with G = {fmt(gradient)}"
            backward(t, out, t.tensor(gradient), gctx)
            x_after = t.describe(xs)
            if x_after.grad is None:
                t.fail(gctx, "x.grad is None after backward: the output does not depend on x "
                             "through autograd.")
            expect_values(t, x_after.grad, gradient - gradient.mean(0), gctx,
                          what="x.grad (the gradient of x - x.mean(0) is G - G.mean(0))",
                          mistakes=[(gradient, DETACHED)])
            rm = rm_next

        # eval mode: subtract the running mean, leave it alone
        t.op("train", seen, False)
        x = f64(eval_x)
        ectx = (f"{call} on {where(t)[3:]}, after .eval():\n"
                f"  running_mean = {fmt(rm)}\n  x = {fmt(eval_x)}  (shape {tuple(x.shape)})")
        xs = t.make(t.tensor(eval_x, requires_grad=True))
        out = call_module(t, seen, xs, ectx)
        after = t.describe(seen)
        rm_seen = expect_registered(t, after, "running_mean", "buffer", ectx)
        expect_values(t, rm_seen, rm, ectx, what="running_mean after forward in eval mode", mistakes=[
            ((1 - momentum) * rm + momentum * x.mean(0),
             "you updated running_mean in eval mode: update it only when self.training is True; in "
             "eval mode the running statistics are frozen.")])
        out = expect_values(t, out, x - rm, ectx, "the result in eval mode (x - running_mean)", mistakes=[
            (x - x.mean(0), "in eval mode you subtracted the batch mean; eval mode returns "
                            "x - running_mean (check self.training to tell the modes apart).")])
        backward(t, out, t.tensor(GRADIENT_OF(x.shape)), ectx + "\n  then out.backward(G)")
        x_after = t.describe(xs)
        if x_after.grad is None:
            t.fail(ectx, "x.grad is None after backward: the output must depend on x.")
        expect_values(t, x_after.grad, GRADIENT_OF(x.shape), ectx, what="x.grad in eval mode (G)")
        if rm_seen.requires_grad or rm_seen.grad_fn is not None:
            t.fail(ectx, "In eval mode, " + HISTORY.format(how=f"grad_fn={rm_seen.grad_fn}"))
        return seen, rm, momentum, call

    for i, values in enumerate(RUNNING_MEAN_CASES):
        seen, rm, momentum, call = case(values, positional=(i == 3))
        if i == 0:  # back to training mode: it updates again
            t.op("train", seen, True)
            x_v = [[2.0, 0.0, -2.0], [4.0, 2.0, 2.0]]
            x = f64(x_v)
            want = (1 - momentum) * rm + momentum * x.mean(0)
            ctx = (f"{call} on {t.device}, after .eval() and then .train() again:\n  running_mean "
                   f"before = {fmt(rm)}\n  x = {fmt(x_v)}")
            out = call_module(t, seen, t.tensor(x_v), ctx)
            expect_values(t, out, x - x.mean(0), ctx, "the result in training mode",
                          mistakes=[(x - rm, "after .train() the module must be in training mode "
                                             "again: use self.training, which train()/eval() set.")])
            rm_seen = expect_registered(t, t.describe(seen), "running_mean", "buffer", ctx)
            expect_values(t, rm_seen, want, ctx, what="running_mean after the update",
                          mistakes=[(rm, "running_mean did not change after .train(): read "
                                         "self.training, which train() and eval() set.")])
    t.for_all(RUNNING_MEAN_EXAMPLES, case)

    ctx = t.context(call="RunningMean(3), then moved")
    expect_moved(t, construct(t, ctx, "RunningMean", 3), ["running_mean"], "meta", ctx, "RunningMean")


# =============================================================================================
# classify_tensors
# =============================================================================================

SUBMODULES = ("you counted tensors of the submodules ({keys}): named_parameters() and "
              "named_buffers() walk the whole tree. Count only what the module holds itself: "
              "named_parameters(recurse=False) / named_buffers(recurse=False), or module._parameters "
              "and module._buffers.")
NONES = ("{keys} is registered as None (register_parameter(name, None) or a layer made with "
         "bias=False): there is no tensor there, so leave it out.")
IN_CONTAINERS = ("{keys}: tensors inside a list or dict attribute are not held by the module as "
                 "tensors (it does not even see them); do not count them.")
NON_PERSISTENT_MISSING = ("{keys} is a buffer registered with persistent=False, so state_dict() "
                          "leaves it out; it is still a buffer: find buffers with "
                          "named_buffers(recurse=False) (or module._buffers), not with state_dict().")
FROZEN = ("{keys}: a parameter with requires_grad=False (frozen) is still a parameter; "
          "classify by registration (module._parameters / named_parameters), not by requires_grad.")
PLAIN_MISSING = ("{keys} is a plain tensor attribute: it is neither a parameter nor a buffer, so "
                 "it lives in the module's own __dict__ (vars(module)); look there for tensors "
                 "too.")
UNDERSCORE = ("{keys}: a plain tensor attribute whose name starts with an underscore is still a "
              "tensor the module holds; skip the names of the module's own tables "
              "(_parameters, _buffers, _modules: they are dicts, not tensors), not every name "
              "that starts with _.")


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


def values_for(shape, start):
    n = 1
    for s in shape:
        n *= s
    return (torch.arange(n, dtype=torch.float64) * 0.5 + start).reshape(shape)


def layout_spec(t, layout):
    """A Spec("module", ...) holding what `layout` says, its tensors of the trial's dtype and
    on its device, and a description of it in words."""
    fields = {"parameters": [], "buffers": [], "tensors": [], "containers": [], "children": []}
    words = []
    for i, (name, kind, size) in enumerate(layout):
        tensor = t.tensor(values_for((size,), i))
        if kind in ("parameter", "frozen", "none_parameter"):
            fields["parameters"].append([name, None if kind == "none_parameter" else tensor, kind != "frozen"])
            words.append({"parameter": f"a parameter {name}", "frozen": f"a frozen parameter {name} "
                          "(requires_grad=False)", "none_parameter": f"a parameter {name} = None"}[kind])
        elif kind in ("buffer", "non_persistent", "none_buffer"):
            fields["buffers"].append([name, None if kind == "none_buffer" else tensor, kind != "non_persistent"])
            words.append({"buffer": f"a buffer {name}", "non_persistent": f"a buffer {name} "
                          "(persistent=False)", "none_buffer": f"a buffer {name} = None"}[kind])
        elif kind == "tensor":
            fields["tensors"].append([name, tensor])
            words.append(f"a plain tensor attribute {name}")
        elif kind == "list":
            fields["containers"].append([name, [tensor, t.tensor(values_for((size,), -i))]])
            words.append(f"a list {name} of 2 tensors")
        elif kind == "child_linear":
            fields["children"].append([name, Spec("linear", **{"in": size, "out": 2})])
            words.append(f"a submodule {name} = nn.Linear({size}, 2)")
        else:
            fields["children"].append([name, Spec("module", parameters=[["weight", tensor, True]],
                                                  buffers=[["stat", t.tensor(values_for((2,), 1)), True]],
                                                  tensors=[["scale", t.tensor(values_for((1,), 3))]])])
            words.append(f"a submodule {name} holding a parameter weight, a buffer stat and a "
                         "plain tensor scale")
    return Spec("module", **fields), "a module holding " + ("; ".join(words) if words else "nothing")


def reference_classes(module):
    """The answer, from the module built here (judge side) the way the candidate builds it."""
    out = {}
    for name, p in module._parameters.items():
        if p is not None:
            out[name] = "parameter"
    for name, b in module._buffers.items():
        if b is not None:
            out[name] = "buffer"
    for name, value in vars(module).items():
        if isinstance(value, torch.Tensor):
            out[name] = "tensor"
    return out


def classify_problems(module, got, expected):
    """Lines saying what is wrong with `got`, each with the likely mistake."""
    inner = {f"{prefix}.{n}" for prefix, child in module.named_children()
             for n, _ in list(child.named_parameters()) + list(child.named_buffers())}
    inner |= {f"{prefix}.{n}" for prefix, child in module.named_modules() if prefix
              for n, v in vars(child).items() if isinstance(v, torch.Tensor)}
    nones = {n for n, p in module._parameters.items() if p is None} | {
        n for n, b in module._buffers.items() if b is None}
    lists = {n for n, v in vars(module).items() if isinstance(v, (list, tuple, dict))
             and not n.startswith("_")}
    non_persistent = set(module._non_persistent_buffers_set) & set(expected)
    frozen = {n for n, p in module._parameters.items() if p is not None and not p.requires_grad}
    lines = []

    def say(keys, why):
        if keys:
            lines.append(why.format(keys=", ".join(repr(k) for k in sorted(keys, key=str))))

    extra = [k for k in got if k not in expected]
    missing = [k for k in expected if k not in got]
    wrong = [k for k in expected if k in got and got[k] != expected[k]]
    say([k for k in extra if k in inner or (isinstance(k, str) and "." in k)], SUBMODULES)
    say([k for k in extra if k in nones], NONES)
    say([k for k in extra if k in lists or (isinstance(k, str) and any(
        k.startswith(f"{n}[") or k.startswith(f"{n}.") for n in lists))], IN_CONTAINERS)
    say([k for k in missing if k in non_persistent], NON_PERSISTENT_MISSING)
    say([k for k in missing + wrong if k in frozen], FROZEN)
    say([k for k in missing if expected[k] == "tensor" and not k.startswith("_")], PLAIN_MISSING)
    say([k for k in missing if expected[k] == "tensor" and k.startswith("_")], UNDERSCORE)
    explained = " ".join(lines)
    for k in extra:
        if repr(k) not in explained:
            lines.append(f"{k!r} is not a tensor the module holds itself.")
    for k in missing:
        if repr(k) not in explained:
            lines.append(f"{k!r} ({expected[k]}) is missing.")
    by_pair = {}
    for k in wrong:
        if repr(k) not in explained:
            by_pair.setdefault((expected[k], got[k]), []).append(k)
    for (want, said), keys in by_pair.items():
        names = ", ".join(repr(k) for k in keys)
        line = f"{names} {'is a' if len(keys) == 1 else 'are'} {want}{'' if len(keys) == 1 else 's'}, not {said!r}."
        if want == "buffer":
            line += (" A buffer is a tensor registered with register_buffer: it is in "
                     "named_buffers(recurse=False) (module._buffers), whether or not it is persistent.")
        elif want == "tensor":
            line += (" A plain tensor attribute is in vars(module), not in module._parameters or "
                     "module._buffers.")
        lines.append(line)
    return lines


def spelled(value):
    return isinstance(value, str) and value.strip().lower() in ("parameter", "buffer", "tensor", "param",
                                                                "parameters", "buffers", "tensors")


CLASSIFY_CASES = [
    # (spec factory, words) made per trial: see classify_cases()
    [("w", "parameter", 3), ("frozen", "frozen", 2), ("gone", "none_parameter", 1),
     ("stat", "buffer", 3), ("cache", "non_persistent", 2), ("empty", "none_buffer", 1),
     ("scale", "tensor", 2), ("_private", "tensor", 1), ("history", "list", 2),
     ("fc", "child_linear", 3), ("inner", "child_module", 2)],
    [("scale", "tensor", 2), ("history", "list", 1)],
    [("fc", "child_linear", 2), ("inner", "child_module", 1)],   # only submodules: {}
    [],                                                            # nothing at all: {}
]


def classify_cases(t):
    cases = [layout_spec(t, layout) for layout in CLASSIFY_CASES]
    cases.append((Spec("linear", **{"in": 3, "out": 2}), "nn.Linear(3, 2)"))
    cases.append((Spec("linear", **{"in": 2, "out": 2, "bias": False}), "nn.Linear(2, 2, bias=False) "
                  "(its bias is registered as None)"))
    cases.append((Spec("batchnorm1d", features=3), "nn.BatchNorm1d(3)"))
    cases.append((Spec("sequential", children=[["0", Spec("linear", **{"in": 2, "out": 3})],
                                               ["1", Spec("relu")]]),
                  "nn.Sequential(nn.Linear(2, 3), nn.ReLU())"))
    return cases


@A.exercise("classify_tensors", "def classify_tensors(module)", strategies=[MODULE_LAYOUTS])
def classify_tensors(t):
    def case(spec, words):
        ctx = f"classify_tensors(module) on {where(t)[3:]}, with\n  module = {words}"
        here = spec.here()
        expected = reference_classes(here)
        made = t.make(spec)
        t.op("module_to", made, t.device)
        got = t.call(made, context=ctx)
        if not isinstance(got, dict):
            kind = getattr(got, "type_name", type(got).__name__).rsplit(".", 1)[-1]
            t.fail(ctx, f"It should return a dict {{name: 'parameter' | 'buffer' | 'tensor'}}, but it "
                        f"returned a {kind}.")
        odd = {k: v for k, v in got.items() if not isinstance(v, str) or v not in ("parameter", "buffer", "tensor")}
        if odd:
            k, v = next(iter(odd.items()))
            hint = (" Use exactly the lower-case strings 'parameter', 'buffer' and 'tensor'."
                    if spelled(v) else " The values must be the strings 'parameter', 'buffer' or 'tensor'.")
            t.fail(ctx, f"The value for {k!r} is {v!r}.{hint}")
        if dict(got) != expected:
            problems = classify_problems(here, got, expected)
            t.fail(ctx, f"It returned {dict(sorted(got.items(), key=lambda kv: str(kv[0])))},\n"
                        f"expected   {dict(sorted(expected.items()))}.\nLikely mistake: "
                        + "\n".join(problems))

    for spec, words in classify_cases(t):
        case(spec, words)
    t.for_all(MODULE_LAYOUTS, lambda layout: case(*layout_spec(t, layout)))

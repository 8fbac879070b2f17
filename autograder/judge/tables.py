"""The kinds of exercise the curriculum has, declared as tables (`Assignment.<kind>`).

    tensor_function   a function of tensors whose answer is one tensor: cases of input values,
                      a reference, typical mistakes, hints for what it raises
    module_function   a function of a model: models built in the candidate and, alike, in the
                      judge, a reference answer, the kind of answer (`answers`), mistakes
    module_class      an nn.Module class: its constructor's arguments, the parameters (names and
                      shapes) and children it must register, its forward against a reference
                      computed from the module's own weights, and the gradients reaching them

Each builds the exercise's check from these tables and registers it; a table names the
explanations that make a message say what went wrong, never how a check is run.
"""

from dataclasses import dataclass, field

import torch

from ..protocol.signatures import argument_names, defined_name
from . import tolerances
from .compare import CheckFailed, Hint, Mistake, Tampering, dtype_name, fmt, fmt_shape, said
from .models import example_model, model_context
from .seen import SeenModule, SeenTensor

# =============================================================================================
# tensor_function
# =============================================================================================

def tensor_function(A, ex_id, signature, *, cases, reference, strategy=None, mistakes=(), raises=None,
                    tolerance=tolerances.ELEMENTWISE, **options):
    """An exercise whose answer is one tensor computed from tensors: every case (a tuple of
    nested lists, one per argument) is sent as tensors of the trial's dtype and device (and
    again in each layout, `layouts`); the result must match `reference` (same shape, dtype,
    device; values within the dtype's tolerance); a wrong one is compared with each of
    `mistakes` (`Mistake`s of the inputs, in float64) to say which it is. `raises`: hints
    for what the code raised (a substring of the message -> the likely mistake). With
    `untouched` ({position: hints}), the call must leave those inputs exactly as they were."""
    arg_names = argument_names(signature)

    def check(t, values):
        if len(arg_names) == 1 and not isinstance(values, tuple):
            values = (values,)  # a strategy that draws the one argument itself
        inputs = [t.tensor(v) for v in values]
        local = [i.local().to(torch.float64) for i in inputs]
        ctx = t.context(**dict(zip(arg_names, values)))
        with torch.no_grad():
            expected = reference(*local)
        if t.exercise.untouched:  # kept in the candidate, to see them as the call left them
            inputs = [t.make(i) for i in inputs]
        out = t.call(*inputs, context=ctx, hints=raises)
        t.expect(out, expected, ctx, mistakes=lambda: Mistake.on(mistakes, *local))

    return A.add(ex_id, signature, check, cases=cases, strategy=strategy, tolerance=tolerance, **options)


# =============================================================================================
# module_function
# =============================================================================================

@dataclass(frozen=True)
class Call:
    """One call of a module function: the arguments after the model, as sent, and what they
    mean for the reference and the mistakes (`means`, default: the arguments themselves)."""
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)
    means: tuple | None = None

    def text(self, name):
        parts = ["model"] + [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"{name}({', '.join(parts)})"

    def meaning(self):
        return self.args if self.means is None else self.means


def module_function(A, ex_id, signature, *, models, reference, answer, mistakes=(), calls=(Call(),),
                    strategy=None, example=example_model, describe=model_context, mismatch=None,
                    move="device and dtype", **options):
    """An exercise whose argument is a model. Each of `models` ((label, spec) pairs, or
    (label, spec, calls); a function of the trial that returns them, when the specs depend on
    its dtype) is built in the candidate and moved to the trial's device (and dtype, by
    `move`); the same spec builds it here, where `reference(model, *meaning)` is the answer.
    `answer(t, got, ctx)` checks the kind of what came back (`answers`) and returns it as plain
    data; a wrong answer is compared with each of `mistakes` [(fn(model, *meaning),
    explanation)], or explained by `mismatch(got, expected, model)`. `describe(t, call_text,
    label, model)` writes the first lines of a message; `example(drawn)` turns what `strategy`
    draws into (label, spec)."""

    def run(t, label, spec, these_calls):
        model = spec.here()
        made = t.make(spec)
        first = describe(t, these_calls[0].text(A.exercises[ex_id].name), label, model)
        if move == "device":
            t.op("module_to", made, t.device, context=first, what=f"module.to({str(t.device)!r})")
        else:
            t.moved(made, first)
        for call in these_calls:
            ctx = describe(t, call.text(A.exercises[ex_id].name), label, model)
            got = answer(t, t.call(made, *call.args, context=ctx, **call.kwargs), ctx)
            expected = reference(model, *call.meaning())
            if got == expected:
                continue
            if mismatch is not None:
                t.fail(ctx, mismatch(got, expected, model))
            hint = None
            for wrong, explanation in mistakes:
                try:
                    value = wrong(model, *call.meaning())
                except Exception:
                    value = None
                if value is not None and value == got:
                    hint = explanation
                    break
            t.fail(ctx, f"It returned {got}, expected {expected}.", likely=hint)

    def with_calls(case):
        return case if len(case) == 3 else (*case, calls)

    def check(t, case):
        if isinstance(case, tuple) and len(case) == 3:
            run(t, *case)
        else:
            run(t, *with_calls(example(case)))

    def cases_of(t):
        return [with_calls(case) for case in (models(t) if callable(models) else models)]

    def whole(t):
        for case in cases_of(t):
            run(t, *case)
        if strategy is not None:
            t.for_all(strategy, lambda drawn: run(t, *with_calls(example(t, drawn))))

    if callable(models):  # the models depend on the trial: one check does all
        return A.add(ex_id, signature, whole, strategies=(strategy,) if strategy is not None else (), **options)
    return A.add(ex_id, signature, check, cases=cases_of(None), strategy=strategy, **options)


# =============================================================================================
# module_class
# =============================================================================================

LINEAR = "torch.nn.modules.linear.Linear"
CONTAINER = "torch.nn.modules.container."


@dataclass
class Build:
    """One module to build and try: the constructor's arguments, the seed set before (so its
    random weights are the same on every run), the inputs of forward (tuples of nested lists),
    whether to build it with keywords (`names`: the argument names), to call it twice (its
    parameters must not change, nor its output), to call `forward` directly too, and to
    check the gradients that reach its parameters (on a fresh module built with `seed + 1000`)."""
    args: tuple
    seed: int
    inputs: list
    names: tuple = ()
    twice: bool = False
    method: bool = False
    gradients: bool = False


@dataclass
class ModuleTable:
    name: str
    parameters: object          # fn(*args) -> {state_dict key: shape}, in the module's order
    children: object            # fn(*args) -> {name: class (qualified name)}
    forward: object             # fn(weights, *inputs) -> the reference output (float64)
    mistakes: object = None     # fn(weights, *inputs) -> [(values, explanation)]
    keys_problem: object = None  # fn(keys, expected keys) -> the likely mistake, or None
    shapes_problem: object = None  # fn(shapes, want, args) -> the likely mistake
    construct_hints: dict = None
    forward_hints: dict = None
    keys_in_order: bool = False
    only_children: bool = False
    grad_tolerance: dict = field(default_factory=lambda: tolerances.SUMS)
    show_weights: bool = True   # (06) False: messages name the weights' shapes, not their values


def module_class(A, ex_id, signature, *, cases, strategy=None, example=None, parameters, children,
                 forward, mistakes=None, keys_problem=None, shapes_problem=None, construct_hints=None,
                 forward_hints=None, keys_in_order=False, only_children=False, tolerance=tolerances.LAYERS,
                 grad_tolerance=tolerances.SUMS, show_weights=True, **options):
    """An nn.Module class. Each case is a `Build` (`example(drawn)` makes one of what `strategy`
    draws): the class is built (after `torch.manual_seed(seed)`), moved to the trial's device
    and dtype, and read back: its `state_dict` keys must be `parameters(*args)`'s (in that
    order with `keys_in_order`), with those shapes, its `children(*args)` of those classes
    (and no others, with `only_children`); forward on each input must equal `forward(weights,
    *inputs)`, computed here from the weights the module reported, and a wrong output is
    compared with `mistakes(weights, *inputs)`; `keys_problem` and `shapes_problem` explain
    wrong keys and shapes; gradients must reach every parameter as autograd says. With
    `show_weights=False` (a module too large to print) messages give the weights' shapes only."""
    table = ModuleTable(defined_name(signature), parameters, children, forward, mistakes, keys_problem,
                        shapes_problem, construct_hints, forward_hints, keys_in_order, only_children,
                        grad_tolerance, show_weights)

    def check(t, case):
        build = case if isinstance(case, Build) else example(case)
        net, w, ctx = build_module(t, table, build, build.seed)
        for k, inputs in enumerate(build.inputs):
            out = expect_forward(t, table, net, w, inputs, ctx, build.args, twice=build.twice and k == 0,
                                 method=build.method and k == 0)
        if build.gradients:
            fresh, w2, ctx2 = build_module(t, table, build, build.seed + 1000)
            out = expect_forward(t, table, fresh, w2, build.inputs[0], ctx2, build.args)
            expect_gradients(t, table, fresh, w2, out, build.inputs[0], ctx2, build.args)

    return A.add(ex_id, signature, check, cases=cases, strategy=strategy, tolerance=tolerance, **options)


def build_module(t, table, build, seed):
    """Build the class as `build` says; (its description moved, its weights in float64, ctx)."""
    args = build.args
    if build.names:
        shown = ", ".join(f"{n}={a}" for n, a in zip(build.names, args))
    else:
        shown = ", ".join(str(a) for a in args)
    ctx = f"{table.name}({shown}), moved to {t.device} and {dtype_name(t.dtype)}"
    t.op("seed", seed, context=ctx)
    if build.names:
        made = t.construct(context=ctx, hints=table.construct_hints, **dict(zip(build.names, args)))
    else:
        made = t.construct(*args, context=ctx, hints=table.construct_hints)
    net, w = read_structure(t, table, made, args, ctx)
    return net, w, ctx


def and_list(items):
    """'a', 'a and b', 'a, b and c'."""
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def child_names(table, args, prefix="self."):
    return and_list(f"{prefix}{name}" for name in table.children(*args))


def keys_problem(table, keys, expected, args):
    """Why these state_dict keys are not the contract's, in a sentence."""
    if table.keys_problem is not None:
        found = table.keys_problem(keys, expected)
        if found:
            return found
    missing = [k for k in expected if k not in keys]
    extra = [k for k in keys if k not in expected]
    prefixes = sorted({k.split(".")[0] for k in extra})
    children = list(table.children(*args))
    if not keys:
        return Hint("layers-not-registered",
                    f"the module holds no parameters at all: assign the layers as attributes in "
                    f"__init__ (self.{children[0]} = nn.Linear(...)). Layers made inside forward, kept in a plain "
                    "Python list or dict, or stored as plain tensors are not registered, so nothing "
                    "would be trained or saved.")
    if missing and all(len(k.split(".")) > 2 for k in extra) and len(prefixes) == 1:
        return Hint("layers-in-container",
                    f"the layers sit inside a container ({prefixes[0]!r}: an nn.Sequential, ModuleList or "
                    "similar), so their keys are dotted paths through it. Assign them directly: "
                    + and_list(f"self.{c} = nn.Linear(...)" for c in children) + ".")
    if missing and all(k.endswith(".bias") for k in missing) and not extra:
        return Hint("bias-dropped", "a layer has no bias (bias=False): nn.Linear(in, out) has one by default; keep it.")
    if missing and extra and all(k.rsplit(".", 1)[-1] in ("weight", "bias") for k in extra):
        return Hint("layers-renamed", f"the layers are named {', '.join(prefixes)}: state_dict keys are the attribute "
                                      f"names you assign in __init__, and the contract names them {child_names(table, args)}.")
    if extra and not missing:
        return Hint("extra-parameters",
                    f"there are parameters or buffers besides {and_list(c + chr(39) + 's' for c in children)} "
                    f"({', '.join(extra)}): only {and_list(children)} may hold any. (An extra child such as "
                    "nn.ReLU() is fine: it holds none.)")
    count = {1: "one", 2: "two", 3: "three"}.get(len(children), str(len(children)))
    return Hint("wrong-layer-count", f"the module must hold exactly {count} nn.Linear layer{'s' if len(children) > 1 else ''}, "
                                     f"assigned as {child_names(table, args)}.")


def read_structure(t, table, net, args, ctx):
    """Check the built module's keys, children and shapes; its weights as float64 tensors."""
    if net.type_name.startswith(CONTAINER):
        names = child_names(table, args)
        t.fail(ctx, f"{table.name}(...) made an nn.{net.class_name}, whose layers are named by "
                    f"position ('0', '2'). Write a class, class {table.name}(nn.Module), whose __init__ "
                    f"assigns {names} and whose forward applies them.")
    net = t.moved(net, ctx)
    if net.state_dict is None:
        t.fail(ctx, f"its state_dict() raised {net.state_dict_error}")
    want = table.parameters(*args)
    keys, expected = list(net.state_dict), list(want)
    wrong = keys != expected if table.keys_in_order else sorted(keys) != sorted(expected)
    if wrong:
        t.fail(ctx, f"Its state_dict() keys are {keys}, expected exactly {expected}"
                    + (" (in this order)" if table.keys_in_order and sorted(keys) == sorted(expected) else "")
                    + ".", likely=keys_problem(table, keys, expected, args))
    kinds = table.children(*args)
    for name, kind in kinds.items():
        child = net.children.get(name)
        if not isinstance(child, SeenModule) or kind not in child.mro:
            what = "missing" if child is None else f"a {getattr(child, 'type_name', '?').rsplit('.', 1)[-1]}"
            short = kind.rsplit(".", 1)[-1]
            t.fail(ctx, f"Its submodule {name} is {what}, expected an nn.{short}: assign "
                        f"self.{name} = nn.{short}(...) in __init__.")
    if table.only_children and set(net.children) != set(kinds):
        extra = [n for n in net.children if n not in kinds]
        t.fail(ctx, f"Its children are {', '.join(net.children) or 'none'}; it must have exactly "
                    f"{', '.join(kinds)}." + (f" The activation is applied with torch.nn.functional "
                                               f"in forward, not held as a child ({', '.join(extra)})."
                                               if extra else ""),
                  mistake="activation-held-as-child" if extra else None)
    weights, shapes = {}, {}
    for key in expected:
        p = parameter_at(net, key)
        if not isinstance(p, SeenTensor):
            t.fail(ctx, f"{key} is {said(p)}, expected a Parameter.")
        if p.kind == "subclass":
            raise Tampering(f"{key} is a {p.type_name.rsplit('.', 1)[-1]}, a subclass of torch.Tensor")
        shapes[key] = p.shape
        weights[key] = p
    if shapes != {k: tuple(s) for k, s in want.items()}:
        shown = ", ".join(f"{k} {fmt_shape(s)}" for k, s in shapes.items())
        wanted = ", ".join(f"{k} {fmt_shape(s)}" for k, s in want.items())
        hint = table.shapes_problem(shapes, want, args) if table.shapes_problem else None
        t.fail(ctx, f"Its parameters have shapes {shown}; expected {wanted}.", likely=hint)
    for key, p in weights.items():
        if p.dtype != t.dtype or p.device.type != t.device.type:
            t.fail(ctx, f"after .to({t.device}) and .to({dtype_name(t.dtype)}), {key} is {p.dtype_name} "
                        f"on {p.device}: the layers must be registered submodules, so that .to() moves them.")
        if p.values is None:
            t.fail(ctx, f"{key} is too large to check.")
    return net, {k: p.values.to(torch.float64) for k, p in weights.items()}


def parameter_at(module, key):
    """The parameter (or buffer) at dotted path `key` of a described module, or None."""
    *path, name = key.split(".")
    for part in path:
        module = module.children.get(part) if isinstance(module, SeenModule) else None
    if not isinstance(module, SeenModule):
        return None
    return module.parameters.get(name, module.buffers.get(name))


def weights_text(w):
    return "\n".join(f"  net.{k} = {fmt(v)}" for k, v in w.items())


def same_values(a, b, rtol, atol):
    """Two answers agree (within the trial's tolerance: a GPU may sum in another order)."""
    return (isinstance(a, SeenTensor) and isinstance(b, SeenTensor) and a.values is not None
            and b.values is not None and a.shape == b.shape and a.values.is_floating_point()
            and torch.allclose(a.values.to(torch.float64), b.values.to(torch.float64), rtol=rtol, atol=atol))


def forward_context(ctx, inputs, w, show_weights=True):
    """ctx, then `net(x)` with its inputs and the net's own weights (their shapes only, without
    `show_weights`)."""
    names = ["x"] if len(inputs) == 1 else ["x", *(f"arg{i}" for i in range(1, len(inputs)))]
    lines = [f"{ctx}\nnet({', '.join(names)}) with"]
    for name, value in zip(names, inputs):
        shape = tuple(torch.as_tensor(value, dtype=torch.float64).shape) if not isinstance(value, str) else ()
        lines.append(f"  {name} = {fmt(value)}  (shape {fmt_shape(shape)})" if not isinstance(value, str)
                     else f"  {name} = {value!r}")
    if not show_weights:  # (06) too many values to print: their shapes
        shapes = "\n".join(f"  net.{k}: shape {fmt_shape(v.shape)}" for k, v in w.items())
        return "\n".join(lines) + f"\nand the net's own weights (as it reported them)\n{shapes}"
    return "\n".join(lines) + f"\nand the net's own weights\n{weights_text(w)}"


def expect_forward(t, table, net, w, inputs, ctx, args=(), *, twice=False, method=False):
    """net(*inputs) (and, with `method`, net.forward(*inputs)) equals `table.forward(w, *inputs)`."""
    inputs = inputs if isinstance(inputs, tuple) else (inputs,)
    sent = [t.tensor(v) if not isinstance(v, str) else v for v in inputs]
    local = [torch.as_tensor(v, dtype=torch.float64) if not isinstance(v, str) else v for v in inputs]
    fctx = forward_context(ctx, inputs, w, table.show_weights)
    with torch.no_grad():
        expected = table.forward(w, *local)

    def wrong():
        return table.mistakes(w, *local) if table.mistakes else []

    out = t.call(*sent, target=net, context=fctx, hints=table.forward_hints)
    said(out)  # a tensor subclass is tampering
    rtol, atol = t.tol
    if twice:
        again = t.call(*sent, target=net, context=fctx, hints=table.forward_hints)
        after = t.describe(net)
        now = {k: getattr(parameter_at(after, k), "values", None) for k in w}
        changed = [k for k in w if now[k] is None or not torch.equal(now[k].to(torch.float64), w[k])]
        first = next(iter(table.children(*args)))
        if changed:
            t.fail(fctx, f"Calling net(x) changed the net's parameters ({', '.join(changed)}).",
                   likely=Hint("layers-made-in-forward",
                               f"forward creates the layers (self.{first} = nn.Linear(...) inside "
                               "forward): every call draws new random weights, so nothing is ever trained. "
                               "Create the layers once, in __init__."))
        if isinstance(out, SeenTensor) and out.values is not None and out.values.is_floating_point() \
                and not same_values(out, again, rtol, atol):
            t.fail(fctx, "Two calls of net(x) on the same x gave different outputs.",
                   likely=Hint("layers-made-in-forward",
                               "forward creates new layers on every call (nn.Linear(...)(x) inside forward: new "
                               f"random weights each time, and never the registered {child_names(table, args, '')}), "
                               "or uses randomness such as dropout. Create the layers once, in __init__, and use "
                               f"{child_names(table, args)} in forward."))
    t.expect(out, expected, fctx, mistakes=wrong, what="net(x)")
    if method:
        out = t.call(*sent, target=(net, "forward"), context=fctx, hints=table.forward_hints)
        t.expect(out, expected, fctx, mistakes=wrong, what="net.forward(x)")
    return out


def expect_gradients(t, table, net, w, out, inputs, ctx, args=()):
    """out.sum().backward() fills the registered parameters' .grad as autograd says."""
    inputs = inputs if isinstance(inputs, tuple) else (inputs,)
    local = [torch.as_tensor(v, dtype=torch.float64) if not isinstance(v, str) else v for v in inputs]
    rtol, atol = table.grad_tolerance[t.dtype]
    gctx = f"{ctx}\nnet(x).sum().backward() with\n  x = {fmt(local[0])}  (shape {fmt_shape(local[0].shape)})"
    names = child_names(table, args, "")
    if not isinstance(out, SeenTensor) or not out.requires_grad:
        t.fail(gctx, f"net(x) does not require grad, so no gradient can reach {names}.",
               likely=Hint("output-detached", "forward detaches its result (.detach(), .data, torch.tensor(...)) "
                                              "or runs under torch.no_grad(); return the layers' output as it is."))
    t.backward(out, context=gctx)
    after = t.describe(net)
    leaves = {k: v.clone().requires_grad_(True) for k, v in w.items()}
    table.forward(leaves, *local).sum().backward()
    for key in w:
        p = parameter_at(after, key)
        layer = key.rsplit(".", 1)[0]
        if not isinstance(p, SeenTensor) or p.grad is None:
            t.fail(gctx, f"No gradient reached {key}.",
                   likely=Hint("registered-layer-unused", f"forward does not use the registered layer "
                                                          f"self.{layer} (a new layer made in forward, or a copy)."))
        t.expect(p.grad, leaves[key].grad, gctx, rtol=rtol, atol=atol, what=f"{key}.grad")


__all__ = ["Build", "Call", "CheckFailed", "LINEAR", "module_class", "module_function", "tensor_function"]

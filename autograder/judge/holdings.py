"""What an nn.Module registers, and how: checks a Trial makes of a module the candidate built.

A module holds tensors in three ways (a Parameter, a buffer, persistent or not, or a plain
tensor attribute), and each registration mistake has its own message: a plain tensor where a
buffer belongs (not saved, not moved), a Parameter where a buffer belongs (an optimiser would
train a statistic), a buffer where a Parameter belongs (never trained), persistent=False (not
saved). `ModuleChecks` is mixed into `Trial`: `t.expect_registered(seen, "mean", "buffer", ctx)`.
"""

import torch

from .channel import Missing, Raised
from .compare import Hint, call_text, near_name, said, slug_of
from .seen import SeenTensor

TENSOR_FOR_BUFFER = Hint(
    "plain-tensor-for-buffer",
    "`{name}` is a plain tensor attribute (self.{name} = tensor): the module does not know it "
    "holds it, so it is not in state_dict (not saved with the model) and .to(device) leaves it "
    "behind. Register it: self.register_buffer('{name}', tensor).")
PARAMETER_FOR_BUFFER = Hint(
    "parameter-for-buffer",
    "`{name}` is registered as an nn.Parameter: parameters() lists it, so an optimiser would "
    "change it (and it gets gradients, unless requires_grad=False) although it is a statistic, "
    "not something to learn. A buffer is saved and moved like a parameter but never trained: "
    "self.register_buffer('{name}', tensor).")
NON_PERSISTENT = Hint(
    "non-persistent-buffer",
    "`{name}` is a buffer registered with persistent=False: it is then left out of state_dict, "
    "so it is not saved with the model. Register it with the default, persistent=True.")
TENSOR_FOR_PARAMETER = Hint(
    "plain-tensor-for-parameter",
    "`{name}` is a plain tensor attribute (self.{name} = tensor): parameters() does not list it, "
    "so an optimiser never trains it, and it is neither saved nor moved by .to(). Wrap it: "
    "self.{name} = nn.Parameter(tensor).")
BUFFER_FOR_PARAMETER = Hint(
    "buffer-for-parameter",
    "`{name}` is a buffer: buffers are saved and moved, but they get no gradient and "
    "parameters() does not list them, so an optimiser never trains them. It must be learned: "
    "self.{name} = nn.Parameter(tensor).")
NONE_REGISTERED = Hint("registered-none", "`{name}` is registered, but holds None.")
NOT_HELD = Hint("not-held", "It holds no tensor named `{name}` ({holdings}). The {want} must be named exactly `{name}`, "
            "held by the module itself (not in a list, a dict or a submodule).")
BUFFER_REQUIRES_GRAD = Hint("buffer-requires-grad", "The buffer {name} requires grad: a buffer holds a fixed statistic.")
FROZEN_PARAMETER = Hint("frozen-parameter", "The parameter {name} has requires_grad=False: it is frozen, so it gets "
                        "no gradient and no optimiser trains it. nn.Parameter(tensor) requires grad by default.")
REGISTERED_AS = {  # (what it must be, what it is) -> the likely mistake
    ("buffer", "tensor"): TENSOR_FOR_BUFFER, ("buffer", "parameter"): PARAMETER_FOR_BUFFER,
    ("buffer", "non-persistent buffer"): NON_PERSISTENT,
    ("parameter", "tensor"): TENSOR_FOR_PARAMETER, ("parameter", "buffer"): BUFFER_FOR_PARAMETER,
    ("parameter", "non-persistent buffer"): BUFFER_FOR_PARAMETER,
    ("buffer", "None buffer"): NONE_REGISTERED, ("buffer", "None parameter"): NONE_REGISTERED,
    ("parameter", "None buffer"): NONE_REGISTERED, ("parameter", "None parameter"): NONE_REGISTERED,
}


class ModuleChecks:
    """Checks of what a described module (`SeenModule`) holds; mixed into `Trial`."""

    @staticmethod
    def held_as(seen, name):
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

    @staticmethod
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

    def expect_registered(self, seen, name, want, ctx):
        """`seen` holds `name` as `want` ('buffer', persistent, or 'parameter'); returns the tensor."""
        kind = self.held_as(seen, name)
        if kind == want:
            return seen.buffers[name] if want == "buffer" else seen.parameters[name]
        explain = REGISTERED_AS.get((want, kind), NOT_HELD)
        article = "a buffer" if want == "buffer" else "an nn.Parameter"
        self.fail(ctx, f"`{name}` must be registered as {article}.",
                  likely=explain.format(name=name, want=want, holdings=self.holdings(seen)))

    def expect_holds(self, seen, ctx, buffers=(), parameters=(), floating=True, buffer_grad=None):
        """`seen` registers each of `buffers` as a persistent buffer that does not require grad
        and each of `parameters` as a Parameter that does (of a floating dtype, unless told
        otherwise), nothing else of either kind, and saves them all in state_dict. Returns
        {name: the tensor}. `buffer_grad`: what to say of a buffer that requires grad."""
        held = {name: self.expect_registered(seen, name, "buffer", ctx) for name in buffers}
        for name in buffers:
            if held[name].requires_grad:
                self.fail(ctx, (buffer_grad or BUFFER_REQUIRES_GRAD).format(name=name))
        for name in parameters:
            held[name] = self.expect_registered(seen, name, "parameter", ctx)
            if not held[name].requires_grad:
                self.fail(ctx, FROZEN_PARAMETER.format(name=name))
        for name, tensor in held.items():
            if floating and (tensor.dtype is None or not tensor.dtype.is_floating_point):
                kind = "buffer" if name in buffers else "parameter"
                self.fail(ctx, f"The {kind} {name} has dtype {tensor.dtype_name}: use a floating dtype.")
        if not parameters:
            self.expect_no_parameters(seen, ctx, stats=tuple(buffers))
        if not buffers:
            self.expect_no_buffers(seen, ctx, learned=tuple(parameters))
        self.expect_saved(seen, list(held), ctx)
        return held

    def expect_saved(self, seen, names, ctx):
        """state_dict() holds every one of `names`."""
        if seen.state_dict is None:
            self.fail(ctx, f"module.state_dict() raised {seen.state_dict_error}.")
        missing = [n for n in names if n not in seen.state_dict]
        if missing:
            self.fail(ctx, f"state_dict() has keys {seen.state_dict}, without {', '.join(missing)}: "
                           "those tensors would not be saved with the model.")

    def expect_no_parameters(self, seen, ctx, stats=()):
        """parameters() gives nothing; `stats`: names that must be buffers, if one of them is the culprit."""
        self._expect_none(seen.named_parameters, "parameters", "parameters()", stats, PARAMETER_FOR_BUFFER, ctx)

    def expect_no_buffers(self, seen, ctx, learned=()):
        """named_buffers() gives nothing; `learned`: names that must be parameters, if one of them is the culprit."""
        self._expect_none(seen.named_buffers, "buffers", "named_buffers()", learned, BUFFER_FOR_PARAMETER, ctx)

    def _expect_none(self, named, what, listed_by, culprits, explanation, ctx):
        names = [n for n, _ in named]
        culprit = next((n for n in names if n in culprits), None)
        if names:
            self.fail(ctx, f"{self.exercise.name} must have no {what}, but {listed_by} gives {', '.join(names)}.",
                      likely=explanation.format(name=culprit) if culprit else None)

    def expect_kept(self, module, buffers, ctx, changed):
        """`module`, described now (after forward), still holds `buffers` ({name: float64 values}) with
        those values; `changed` says what it means when one changed ({name})."""
        after = self.describe(module)
        for name, values in buffers.items():
            now = after.buffers.get(name)
            if not isinstance(now, SeenTensor) or now.values is None or now.shape != tuple(values.shape) \
                    or not torch.allclose(now.values.to(torch.float64), values, rtol=1e-6, atol=1e-6):
                self.fail(ctx, changed.format(name=name), mistake=slug_of(changed))

    def expect_grads(self, module, grads, ctx, missing):
        """After backward: the parameters of `module` (described now) have the gradients `grads`
        ({name: float64 values}); `missing` says what it means when one has none ({name})."""
        after = self.describe(module)
        for name, want in grads.items():
            p = after.parameters.get(name)
            if p is None or p.grad is None:
                self.fail(ctx, missing.format(name=name), mistake=slug_of(missing))
            self.expect(p.grad, want, ctx, what=f"{name}.grad")

    def expect_number(self, module, name, value, ctx):
        """module.<name> holds the number `value` the module was made with (an int, a float, or a tensor
        of one element)."""
        try:
            got = self.get(module, name)
        except Raised as exc:
            self.fail(ctx, f"Reading module.{name} raised {exc.type_name}: {exc.message.strip()}",
                      likely=Hint("argument-not-kept", f"__init__ did not keep its argument {name} as an "
                                                       "attribute of that name."))
        if isinstance(got, SeenTensor) and got.values is not None and got.numel == 1:
            got = float(got.values.reshape(()).item())
        if not isinstance(got, (int, float)) or isinstance(got, bool):
            self.fail(ctx, f"module.{name} is {getattr(got, 'type_name', type(got).__name__)}, not the "
                           f"number given: the attribute must hold the argument as it was given.")
        if abs(got - value) > 1e-12:
            self.fail(ctx, f"module.{name} is {got:g}, but the module was made with {name}={value:g}.")

    def moved_parameters(self, module, names, context, hint=""):
        """Trial.moved, then the parameters `names` must have followed: the same Parameter objects,
        on the trial's device, of its dtype. `hint`: what it means when one did not."""
        after = self.moved(module, context)
        for name in names:
            p = after.parameters.get(name)
            if p is None or p.ref != module.parameters[name].ref:
                self.fail(context, f"after .to(), {name} is no longer the same Parameter: .to() moves a "
                                "module's registered parameters in place.", mistake="parameter-replaced")
            if p.device != self.device or p.dtype != self.dtype:
                self.fail(context, f"after .to({self.device}) and .to({self.dtype}), {name} is on {p.device} with "
                                f"dtype {p.dtype_name}: .to() moves and converts registered parameters only. "
                                f"{hint}", mistake=slug_of(hint) or "tensor-not-registered")
        return after

    def expect_parameters_kept(self, module, names, context, text):
        """`module`, described now, still holds the parameters `names` it was described with: the
        same objects, with the same values. `text`: what it means when one changed ({name})."""
        after = self.describe(module)
        for name in names:
            p, was = after.parameters.get(name), module.parameters[name]
            if p is None or p.ref != was.ref or p.values is None or not torch.equal(p.values, was.values):
                self.fail(context, text.format(name=name), mistake=slug_of(text))

    def expect_int_attribute(self, obj, name, value, context):
        """obj.<name> is the int `value`, a constructor's argument stored as it is (a misspelt
        attribute is named)."""
        try:
            got = self.get(obj, name)
        except (Raised, Missing):
            try:
                near = near_name(name, [k for k in self.get(obj, "__dict__") if isinstance(k, str)], cutoff=0.8)
            except (Raised, Missing):
                near = None
            if near:
                self.fail(context, f"It has no attribute {name}, but it has {near!r}: a typo. Assigning "
                                f"to a misspelt name (self.{near} = ...) silently creates a new attribute; "
                                f"the statement names it {name}.", mistake="attribute-name-typo")
            self.fail(context, f"It has no attribute {name}: the statement asks __init__ to keep the int "
                               f"argument {name} under that very name.", mistake="argument-not-kept")
        if type(got) is not int:
            self.fail(context, f"{name} is {said(got)}, expected the int {value} (store the argument as it is).",
                      mistake="argument-converted")
        if got != value:
            self.fail(context, f"{name} is {got}, expected {value}.")

    def expect_moved(self, module, names, device, context, cls=None):
        """module.to(device); then every tensor in `names` must be there (`meta` needs no values:
        a stand-in for a GPU on any machine)."""
        cls = cls or self.exercise.name
        try:
            where = self.op("module_to_devices", module, str(device), list(names))
        except Raised as exc:
            self.fail(context, f"{cls}.to({str(device)!r}) raised {exc.type_name}: {exc.message.strip()}")
        for name in names:
            found = where.get(name) if isinstance(where, dict) else None
            if found is None or torch.device(found).type != torch.device(device).type:
                self.fail(context, f"After module.to({str(device)!r}), `{name}` is on {found}, not on "
                                   f"{device}" + (" (the meta device stands in for a GPU: it has shapes and "
                                                  "dtypes but no data)" if str(device) == "meta" else "")
                          + ". .to() moves the registered parameters and buffers only.",
                          likely=Hint("tensor-not-registered",
                                      "a plain tensor attribute, or a tensor kept somewhere the module cannot see."))


def moves_to_meta(names, *args, hints=None):
    """An `after` check of a module class: made with `args` on the CPU, then moved to the meta
    device (a stand-in for a GPU: shapes and dtypes, no data), it takes every tensor in `names`
    along."""
    def after(t):
        ctx = t.context(call=f"{call_text(t.exercise.name, *args)}, then moved")
        t.expect_moved(t.construct(*args, context=ctx, hints=hints), names, "meta", ctx)
    return after

"""A `Trial`: one run of a check (one exercise, one candidate, one device, one dtype), and the
vocabulary checks are written in.

    inputs      tensor (in the trial's dtype, device and current layout), make (kept in the
                candidate, passed back by reference; a CPU tensor in memory the judge maps
                too, `judge.shared`: its side effects are seen from outside), describe, get
    calls       call (the exercise, or anything the candidate returned), method, construct (a
                class that must make an nn.Module), op (a fixed operation: backward, move...),
                backward, moved (module.to the trial's device and dtype)
    verdicts    expect (a tensor, against a reference, with known mistakes), expect_untouched
                (an argument left as the caller had it), expect_moved (where .to() put what),
                fail, tampering
    messages    context (the call and its inputs), where, tol (the exercise's tolerance)

What the student's code raised becomes a `CheckFailed` that says what it raised and, when one
of the `hints` (a substring of the message -> an explanation) matches, the likely mistake.
"""

import torch

from ..protocol.signatures import argument_names
from . import layouts
from .channel import Missing, Raised, TensorInput
from .compare import (
    CheckFailed,
    Hint,
    Tampering,
    dtype_name,
    expect_tensor,
    fmt,
    fmt_shape,
    likely_line,
    said,
    slug_of,
    type_name,
)
from .holdings import ModuleChecks
from .properties import for_all
from .seen import SeenModule, SeenTensor

NOT_DONE = Hint("not-done", "It raised NotImplementedError: the exercise is not done yet (replace "
                "`raise NotImplementedError()` with your code).")
NOT_DEFINED = "not-defined"  # the solution cell does not define the exercise's name
NO_FORWARD = 'missing the required "forward" function'  # nn.Module's own NotImplementedError
MODULE = "torch.nn.modules.module.Module"


class Trial(ModuleChecks):
    def __init__(self, exercise, candidate, device, dtype):
        self.exercise, self.candidate, self.device, self.dtype = exercise, candidate, device, dtype
        self.layout, self.arranged, self.fits = None, False, set()

    # --- running cases --------------------------------------------------------------------
    def run_case(self, check, case, layouts_to_try=()):
        """check(self, case) with contiguous inputs, then again in each layout one of its
        inputs takes; a failure in a layout says which."""
        self.layout, self.fits = None, set()
        check(self, case)
        for layout in [name for name in layouts_to_try if name in self.fits]:
            self.layout, self.arranged = layout, False
            try:
                check(self, case)
            except CheckFailed as exc:
                if self.arranged and not isinstance(exc, Tampering):
                    exc.args = (f"{exc.args[0]}\n{layouts.NOTES[layout]}",)
                raise
            finally:
                self.layout = None

    def for_all(self, strategy, case):
        for_all(strategy, case)

    # --- inputs ----------------------------------------------------------------------------
    def tensor(self, values, dtype=None, view=(), requires_grad=False, grad=None, layout=True):
        """An input tensor with `values` (nested lists or a tensor), of the trial's dtype and
        on its device unless told otherwise; `view` ops make it non-contiguous; `grad`: values
        for its .grad. Without view ops and autograd state, it arrives in the trial's current
        layout (`layout=False`: always contiguous)."""
        dtype = dtype or self.dtype
        base = values.detach().to(dtype) if isinstance(values, torch.Tensor) else torch.tensor(values, dtype=dtype)
        if grad is not None and not isinstance(grad, torch.Tensor):
            grad = torch.tensor(grad, dtype=dtype)
        if layout and not view and not requires_grad and grad is None:
            if self.layout is None:
                self.fits |= {name for name in layouts.ALL if layouts.arrange(name, base) is not None}
            else:
                arranged = layouts.arrange(self.layout, base)
                if arranged is not None:
                    base, view = arranged
                    self.arranged = True
        return TensorInput(base, self.device, view, requires_grad, grad)

    def make(self, value):
        """Send an input or a fixture (`Spec`) to be built and kept in the candidate; its
        description (pass it back to refer to the very same object)."""
        return self.candidate.make(value)

    def describe(self, obj):
        """`obj` (something the candidate described) as it is now."""
        return self.candidate.describe(obj)

    def get(self, obj, attr):
        """The attribute `attr` of `obj` in the candidate (Raised or Missing if it has none)."""
        return self.candidate.get(obj, attr)

    # --- calling the student's code ----------------------------------------------------------
    def call(self, *args, target=None, context="", hints=None, after=False, untouched=None, **kwargs):
        """The exercise's function (or `target`: something the candidate returned, or a pair
        (object, attribute)) called with `args`. With `after`, also the arguments as the call
        left them. `untouched`: {position: hints}, arguments (made with `make`) the call must
        leave exactly as they were (see `expect_untouched`; default: the exercise's own)."""
        untouched = self.exercise.untouched if untouched is None else untouched
        try:
            answer = self.candidate.call(target or self.exercise.name, *args,
                                         after=after or bool(untouched), **kwargs)
        except Raised as exc:
            said_ = self.raised_message(exc, context, hints)
            raise CheckFailed(said_, slug_of(said_)) from None
        except Missing as exc:
            raise CheckFailed(f"{context}\n{exc}: the exercise's solution cell must define it "
                              "(with this exact name).".lstrip(), NOT_DEFINED) from None
        if not untouched:
            return answer
        out, left = answer
        for position, position_hints in untouched.items():
            self.expect_untouched(args[position], left[position] if position < len(left) else None, context,
                                  hints=position_hints, name=self.arg_name(position))
        return answer if after else out

    def arg_name(self, position):
        names = argument_names(self.exercise.signature)
        return names[position] if position < len(names) else f"argument {position + 1}"

    def attempt(self, *args, context="", target=None, **kwargs):
        """t.call, for a call whose contract may be to raise: what the student's code raised comes
        back (a `Raised`), for the check to judge, instead of failing the check."""
        try:
            return self.candidate.call(target or self.exercise.name, *args, **kwargs)
        except Raised as exc:
            return exc
        except Missing as exc:
            self.fail(context, f"{exc}: the exercise's solution cell must define it (with this exact name).",
                      mistake=NOT_DEFINED)

    def beside(self, name):
        """`name` as the candidate defines it, to pass as a `target`: beside the exercise's solution or,
        since hidden_tests in the instructor's notebook hands over the one function, among that
        function's globals. None where neither has it."""
        try:
            self.get(name, "__class__")
            return name
        except (Raised, Missing):
            pass
        try:
            found = self.candidate.call((self.exercise.name, "__globals__", "get"), name)
        except (Raised, Missing):
            return None
        return found if getattr(found, "ref", None) is not None else None

    def method(self, obj, name, *args, context="", hints=None, after=False, **kwargs):
        """`obj.name(*args)` in the candidate (obj: something it returned)."""
        return self.call(*args, target=(obj, name), context=context, hints=hints, after=after, **kwargs)

    def construct(self, *args, context="", hints=None, cls=None, **kwargs):
        """The exercise's class (or `cls`) called with `args`: it must make an nn.Module whose
        state_dict() works; its description."""
        cls = cls or self.exercise.name
        made = self.call(*args, target=cls, context=context, hints=hints, untouched={}, **kwargs)
        if not isinstance(made, SeenModule) or MODULE not in made.mro:
            said(made)  # a tensor subclass is tampering
            self.fail(context, f"{cls}(...) should make an nn.Module, but it gave a {type_name(made)}.",
                      likely=Hint("not-a-module", f"{cls} must be a class that subclasses nn.Module: "
                                                  f"class {cls}(nn.Module): ..."))
        if made.state_dict is None:
            self.fail(context, f"state_dict() of the {cls} raised {made.state_dict_error}.")
        return made

    def op(self, name, *args, context=None, what=None, hints=None, **kwargs):
        """One of the candidate's fixed operations (`autograder.candidate.operations.OPS`) on
        its objects. With a `context`, what the student's code made it raise fails the check
        (`what` raised ...); without, it comes back as `Raised`, for the check to explain."""
        try:
            return self.candidate.op(name, *args, **kwargs)
        except Raised as exc:
            if context is None:
                raise
            line = f"{what or name.replace('_', ' ')} raised {exc.type_name}: {exc.message.strip()}"
            hint = next((text for needle, text in (hints or {}).items() if needle in exc.message), None)
            self.fail(context, line, likely=hint)

    def backward(self, out, gradient=None, context="", what=None, hints=None):
        """out.backward(gradient) in the candidate (out.sum().backward() without a gradient)."""
        if gradient is None:
            return self.op("sum_backward", out, context=context, what=what or "backward()", hints=hints)
        return self.op("backward", out, gradient, context=context, what=what or "backward(gradient)",
                       hints=hints)

    def expect_grad_of(self, out, leaf, gradient, expected, context, *, what, none, mistakes=(),
                       backward_what=None, hints=None):
        """out.backward(gradient) (with `gradient`: nested lists or a tensor, sent in the trial's
        dtype; None: out.sum().backward()), then `leaf` (made with requires_grad) must hold
        `expected` in its .grad; `none` says what a missing gradient means."""
        sent = None if gradient is None else self.tensor(gradient, layout=False)
        self.backward(out, sent, context, what=backward_what, hints=hints)
        grad = self.describe(leaf).grad
        if grad is None:
            self.fail(context, none)
        return self.expect(grad, expected, context, what=what, mistakes=mistakes)

    def moved(self, module, context=""):
        """`module` (built on the CPU) moved to the trial's device, then dtype; its description."""
        if self.device.type != "cpu":
            self.op("module_to", module, self.device, context=context, what=f"module.to({str(self.device)!r})")
        return self.op("module_to", module, self.dtype, context=context,
                       what=f"module.to({dtype_name(self.dtype)})")

    def raised_message(self, exc, context, hints=None):
        """What the student's code raised, in words: a `Hint` (with the matching hint's slug)
        when a hint, or the stub's NotImplementedError, explains it."""
        if exc.is_a("NotImplementedError") and NO_FORWARD not in exc.message:
            return Hint(NOT_DONE.slug, f"{context}\n{NOT_DONE}".lstrip())
        lines = [context, f"It raised {exc.type_name}: {exc.message.strip()}"]
        hint = next((explanation for needle, explanation in (hints or {}).items() if needle in exc.message), None)
        text = "\n".join(line for line in lines if line) + likely_line(hint)
        return Hint(hint.slug, text) if slug_of(hint) else text

    # --- comparing ---------------------------------------------------------------------------
    @property
    def tol(self):
        """(rtol, atol) of the exercise's tolerance for this trial's dtype (exact without one)."""
        return (self.exercise.tolerance or {}).get(self.dtype, (0.0, 0.0))

    def expect(self, got, expected, context, *, rtol=None, atol=None, mistakes=(), what="the result",
               dtype=None, device=None, **kwargs):
        """`got` is a plain tensor like `expected`, of the trial's dtype and device (unless
        told otherwise), with the same values within rtol/atol (default: `tol`). `mistakes`:
        see `compare.expect_tensor` (a function: computed only when `got` is wrong)."""
        default_rtol, default_atol = self.tol
        return expect_tensor(got, expected, context=context, dtype=dtype or self.dtype,
                             device=device or self.device,
                             rtol=default_rtol if rtol is None else rtol,
                             atol=default_atol if atol is None else atol,
                             mistakes=mistakes, what=what, **kwargs)

    def expect_untouched(self, before, after, context, name="x", hints=None):
        """`after` (an argument as the call left it) is exactly `before` (as it was made): same
        values, version counter, requires_grad and .grad. `hints`: {values, version,
        requires_grad, grad_left, grad_changed, grad_cleared: the likely mistake}.

        An input made in shared memory (`before.shared`, see `judge.shared`) is first read in
        the judge's own mapping, whatever the candidate reports (nothing the student's code
        rewrites in its process can hide a change there); the candidate's report is checked
        next, for what exists only inside it (the version counter, .grad, requires_grad)."""
        hints = hints or {}

        def fail(problem, key):
            self.fail(context, problem, likely=hints.get(key))

        shared = getattr(before, "shared", None)
        if shared is not None and shared.changed():
            was, now = shared.before(), shared.now()
            if torch.equal(was, now):
                fail(f"{name} was modified: the call wrote into its memory (what {name} shows compares equal "
                     "to what it was: a -0.0 for a 0.0, another NaN, or elements outside those it shows).",
                     "values")
            fail(f"{name} was modified: its values changed during the call.\n"
                 f"  before: {fmt(was)}\n  after:  {fmt(now)}", "values")
        if after is None or not hasattr(after, "values"):
            return
        if not isinstance(after, SeenTensor):
            self.fail(context, f"{name} should still be a torch.Tensor, but it is {said(after)}")
        said(after)  # a subclass is tampering

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

    def fail(self, context, text, likely=None, mistake=None):
        """Fail the check: `context`, then `text`; `likely` (a `Hint`, or plain words) ends the
        message as the likely mistake. The failure is named by `mistake` (a slug), else by the
        slug of `likely`, else by that of `text` (a message that is a `Hint` itself)."""
        raise CheckFailed(f"{context}\n{text}".lstrip() + likely_line(likely),
                          mistake or slug_of(likely) or slug_of(text))

    def tampering(self, what):
        raise Tampering(what)

    # --- messages ----------------------------------------------------------------------------
    @property
    def where(self):
        """'cpu, float32': where this trial runs."""
        return f"{self.device}, {dtype_name(self.dtype)}"

    def context(self, call=None, **inputs):
        """The first lines of a message: the call, where, and its inputs."""
        args = ", ".join(inputs)
        lines = [f"{call or f'{self.exercise.name}({args})'} on {self.where}, with"]
        for name, values in inputs.items():
            shape = values.shape if isinstance(values, torch.Tensor) else _shape(values)
            lines.append(f"  {name} = {fmt(values)}  (shape {fmt_shape(shape)})")
        return "\n".join(lines) if inputs else lines[0][:-len(", with")]


def _shape(values):
    shape = []
    while isinstance(values, (list, tuple)):
        shape.append(len(values))
        values = values[0] if values else None
    return tuple(shape)

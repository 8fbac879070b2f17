"""Checks for the visible tests of 02_autograd: what a function did to the autograd state.

A function can return the right numbers and still break its caller: leave a gradient in
`x.grad`, switch `requires_grad` on, write into `x` in place, return a tensor still attached to
a graph, or cut the graph where gradients should flow. `state(t)` takes a snapshot of what may
change; the `expect_*` checks compare, and raise `course.checks.CheckError` (an AssertionError)
with a message that says what changed. Like `course.checks`, these are for learning: the
hidden tests that decide the grade do not use them.
"""

import warnings

import torch

from .checks import CheckError, _show


def _grad(t):
    """t.grad, without torch's warning about reading the .grad of a non-leaf."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return t.grad


def state(t):
    """A snapshot of `t`: its values, requires_grad, .grad (a copy, or None) and version counter."""
    grad = _grad(t)
    return {"values": t.detach().clone(), "requires_grad": t.requires_grad,
            "grad": None if grad is None else grad.detach().clone(), "version": t._version}


def _raise(name, problem, hint=None):
    raise CheckError(f"{name}: {problem}" + (f"\n  hint: {hint}" if hint else ""))


def expect_state_unchanged(t, before, name="x", hint=None):
    """`t` is as `before = state(t)` found it: same values, requires_grad, .grad and version."""
    now = state(t)
    if now["values"].shape != before["values"].shape or not torch.equal(now["values"], before["values"]):
        gap = ""
        if now["values"].shape == before["values"].shape and now["values"].is_floating_point():
            gap = f"\n  (largest change: {(now['values'] - before['values']).abs().max().item():.3g})"
        _raise(name, f"its values changed\n  before: {_show(before['values'])}\n  after:  "
                     f"{_show(now['values'])}{gap}", hint)
    if now["version"] != before["version"]:
        _raise(name, f"it was modified in place (its version counter went from {before['version']} "
                     f"to {now['version']}), even if its values are the same now", hint)
    if now["requires_grad"] != before["requires_grad"]:
        _raise(name, f"requires_grad was {before['requires_grad']} before the call and is "
                     f"{now['requires_grad']} after it", hint)
    if before["grad"] is None and now["grad"] is not None:
        _raise(name, f".grad was None before the call and holds a gradient after it: "
                     f"{_show(now['grad'])}", hint)
    if before["grad"] is not None and (now["grad"] is None or not torch.equal(now["grad"], before["grad"])):
        _raise(name, f".grad changed during the call\n  before: {_show(before['grad'])}\n  after:  "
                     f"{_show(now['grad'])}", hint)


def expect_no_history(t, name="result", hint=None):
    """`t` is a plain tensor, outside any graph: requires_grad False, no grad_fn."""
    if not isinstance(t, torch.Tensor):
        _raise(name, f"expected a torch.Tensor, got {type(t).__name__}: {t!r}", hint)
    if t.requires_grad or t.grad_fn is not None:
        _raise(name, f"it requires grad (grad_fn={type(t.grad_fn).__name__ if t.grad_fn else None}): "
                     "it is still part of a graph", hint)


def expect_gradient_flows(out, x, name="result", hint=None):
    """`out` was computed from `x` (a tensor that requires grad) inside autograd's graph."""
    if not isinstance(out, torch.Tensor):
        _raise(name, f"expected a torch.Tensor, got {type(out).__name__}", hint)
    if not out.requires_grad:
        _raise(name, "x requires grad but the result does not: gradients cannot flow back to x", hint)
    if out.grad_fn is None:
        _raise(name, "the result is a new leaf (requires grad, no grad_fn): backward() stops at it "
                     "and never reaches x", hint)


def expect_grad(t, expected, name="x.grad", rtol=1e-5, atol=1e-6, hint=None):
    """`t.grad` holds `expected` (values within rtol/atol, same shape)."""
    grad = _grad(t)
    if grad is None:
        _raise(name, "it is None: no gradient reached this tensor", hint)
    expected = torch.as_tensor(expected, dtype=grad.dtype, device=grad.device)
    if grad.shape != expected.shape or not torch.allclose(grad, expected, rtol=rtol, atol=atol):
        _raise(name, f"wrong values\n  expected: {_show(expected)}\n  got:      {_show(grad)}", hint)


def expect_leaf(p, name="p", hint=None):
    """`p` is still a leaf that requires grad, with no autograd history."""
    if p.grad_fn is not None or not p.is_leaf:
        _raise(name, f"it has autograd history (grad_fn={type(p.grad_fn).__name__}): it is no "
                     "longer a leaf", hint)
    if not p.requires_grad:
        _raise(name, "it no longer requires grad", hint)


def expect_grad_reset(p, name="p.grad", hint=None):
    """`p.grad` is None or all zeros."""
    grad = _grad(p)
    if grad is not None and bool(grad.detach().ne(0).any()):
        _raise(name, f"expected None or zeros after the step, got {_show(grad)}", hint)


def expect_none(value, name="result", hint=None):
    if value is not None:
        _raise(name, f"expected None, got a {type(value).__name__}", hint)

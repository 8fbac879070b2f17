"""Friendly checks for the visible tests in the notebooks.

Each `expect_*` raises an AssertionError whose message shows what was expected and what came
back, and returns quietly when all is well. They are for learning, not for grading: the hidden
tests that decide the grade do not use them.
"""

import torch


class CheckError(AssertionError):
    """A visible test found a difference; the message says which."""


def _show(value):
    if isinstance(value, torch.Tensor):
        body = repr(value.detach().cpu())
        return f"{body}  (shape {tuple(value.shape)}, {value.dtype}, on {value.device})"
    return repr(value)


def _fail(name, problem, expected, got, hint=None):
    lines = [f"{name}: {problem}", f"  expected: {_show(expected)}", f"  got:      {_show(got)}"]
    if hint:
        lines.append(f"  hint: {hint}")
    raise CheckError("\n".join(lines))


def expect_tensor(got, name="result"):
    if not isinstance(got, torch.Tensor):
        raise CheckError(f"{name}: expected a torch.Tensor, got a {type(got).__name__}: {got!r}")


def expect_shape(got, shape, name="result"):
    expect_tensor(got, name)
    if tuple(got.shape) != tuple(shape):
        _fail(name, "wrong shape", tuple(shape), tuple(got.shape))


def expect_dtype(got, dtype, name="result"):
    expect_tensor(got, name)
    if got.dtype != dtype:
        _fail(name, "wrong dtype", dtype, got.dtype)


def same_device(a, b):
    """`cuda` and `cuda:0` (or `cpu` and `cpu:0`) name the same device."""
    a, b = torch.device(a), torch.device(b)
    return a.type == b.type and (a.index or 0) == (b.index or 0)


def expect_device(got, device, name="result"):
    expect_tensor(got, name)
    if not same_device(got.device, device):
        _fail(name, "wrong device", torch.device(device), got.device)


def expect_close(got, expected, rtol=1e-5, atol=1e-6, name="result", hint=None):
    """Same shape, dtype and device as `expected`, and values within rtol/atol."""
    expected = torch.as_tensor(expected)
    expect_shape(got, expected.shape, name)
    expect_dtype(got, expected.dtype, name)
    expect_device(got, expected.device, name)
    if not torch.allclose(got.detach(), expected, rtol=rtol, atol=atol, equal_nan=True):
        _fail(name, "wrong values", expected, got, hint)


def expect_equal(got, expected, name="result", hint=None):
    """Exactly equal values (for integers and indices), same shape, dtype and device."""
    expected = torch.as_tensor(expected)
    expect_shape(got, expected.shape, name)
    expect_dtype(got, expected.dtype, name)
    expect_device(got, expected.device, name)
    if not torch.equal(got.detach(), expected):
        _fail(name, "wrong values", expected, got, hint)


def expect_shares_memory(got, base, name="result"):
    """`got` is a view of `base`: writing through one changes the other."""
    expect_tensor(got, name)
    if got.numel() == 0 or base.numel() == 0:
        raise CheckError(f"{name}: empty tensors share no memory to test; use a non-empty input")
    if got.untyped_storage().data_ptr() != base.untyped_storage().data_ptr():
        raise CheckError(f"{name}: expected a view that shares memory with the input, "
                         "got a copy (did you call .clone() or build a new tensor?)")


def ok(message="all visible checks passed"):
    """Say so when a visible test cell got through all its checks."""
    print(f"✓ {message}")

"""Compare a submission's tensors with references held as plain Python numbers.

References are computed in plain Python (float64 arithmetic on `float`, which no student code
can patch) and submissions' tensors are read through `genuine`; so a check cannot be fooled by a
patched `torch.allclose`, a patched `Tensor.__eq__` or a tensor subclass. Every failure raises
`CheckFailed` with the input, the expected and the returned value, and, when the returned value
matches a known mistake, what that mistake was.
"""

from . import genuine as g
from .errors import CheckFailed, Tampering

globals().update(g.B)  # builtins looked up here are the genuine ones pinned at import

DTYPE_NAMES = {g.float32: "float32", g.float64: "float64", g.int64: "int64"}


def dtype_name(dtype):
    return DTYPE_NAMES.get(dtype, str(dtype).replace("torch.", ""))


def shape_of_values(values):
    """Shape of a nested list of numbers (a 0-d value has shape ())."""
    shape = []
    while isinstance(values, list):
        shape.append(len(values))
        values = values[0] if values else None
    return tuple(shape)


def flatten(values):
    if not isinstance(values, list):
        return [values]
    out = []
    for item in values:
        out.extend(flatten(item))
    return out


def fmt(values, digits=4):
    """Nested numbers printed like a tensor's values, short enough for a message."""
    if isinstance(values, list):
        inner = ", ".join(fmt(v, digits) for v in values)
        return f"[{inner}]"
    if isinstance(values, bool) or isinstance(values, int):
        return str(values)
    if values != values:
        return "nan"
    text = f"{values:.{digits}g}"
    return text


def fmt_shape(shape):
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def all_close(got, expected, rtol, atol):
    got, expected = flatten(got), flatten(expected)
    if len(got) != len(expected):
        return False
    for a, b in zip(got, expected):
        if a != a or abs(a - b) > atol + rtol * abs(b):
            return False
    return True


def require_tensor(obj, what, context=""):
    """`obj` must be a plain torch.Tensor: other types and tensor subclasses are rejected."""
    if g.is_tensor(obj):
        return
    if isinstance(obj, g.TB):
        raise Tampering(f"{what} is a {g.type_(obj).__name__}, a subclass of torch.Tensor, "
                        "not a plain tensor")
    prefix = f"{context}\n" if context else ""
    raise CheckFailed(f"{prefix}{what} should be a torch.Tensor, but it is a "
                      f"{g.type_(obj).__name__}: {_short_repr(obj)}")


def _short_repr(obj):
    try:
        text = repr(obj)
    except Exception as exc:  # student objects may fail to print
        return f"<unprintable: {g.type_(exc).__name__}>"
    return text if len(text) <= 200 else text[:200] + "..."


SAME_DTYPE = ("(the dtype of the input). Avoid creating tensors with a fixed dtype or converting "
              "with .float()/.double().")


def expect_tensor(got, expected, *, context, dtype, device, rtol, atol, mistakes=(),
                  what="the result", dtype_reason=SAME_DTYPE):
    """Check `got` against nested `expected` values: type, shape, dtype, device, values.

    `mistakes` is a sequence of (values, explanation) pairs: if `got` matches one of them (shape
    and values), the explanation is added to the message.
    """
    require_tensor(got, what, context)
    exp_shape = shape_of_values(expected)
    got_shape = g.shape_of(got)
    got_values = g.to_list(got)
    if got_shape != exp_shape:
        problem = (f"{what} has shape {fmt_shape(got_shape)}, expected {fmt_shape(exp_shape)}")
        raise CheckFailed(_message(context, problem, expected, got_values,
                                   _diagnose(got_values, mistakes, 1e-4, 1e-4)))
    if g.dtype_of(got) != dtype:
        raise CheckFailed(f"{context}\n{what} has dtype {dtype_name(g.dtype_of(got))}, expected "
                          f"{dtype_name(dtype)} {dtype_reason}")
    if g.device_of(got) != device:
        raise CheckFailed(f"{context}\n{what} is on {g.device_of(got)}, expected {device} (the "
                          "device of the input). Create new tensors with device=x.device, or "
                          "compute from the inputs directly.")
    if not all_close(got_values, expected, rtol, atol):
        raise CheckFailed(_message(context, f"{what} has the wrong values", expected, got_values,
                                   _diagnose(got_values, mistakes, rtol, atol)))


def _diagnose(got_values, mistakes, rtol, atol):
    for values, explanation in mistakes:
        if shape_of_values(values) == shape_of_values(got_values) and all_close(got_values, values, rtol, atol):
            return explanation
    return None


def _message(context, problem, expected, got, hint):
    lines = [context, f"{problem}.", f"  expected: {fmt(expected)}", f"  got:      {fmt(got)}"]
    if hint:
        lines.append(f"Likely mistake: {hint}")
    return "\n".join(lines)

"""Compare what a candidate returned with the judge's reference, and say what went wrong.

The judge's process never runs student code, so references are plain torch in float64 on the
CPU and comparisons are torch's own. Every failure raises `CheckFailed` with the input, the
expected and the returned value, and, when the returned value matches one of the exercise's
known mistakes, what that mistake was.
"""

import difflib
import re

import torch

from .seen import SeenDict, SeenList, SeenModule, SeenTensor, SeenTuple

SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
MAX_SLUG = 40


def check_slug(slug):
    """`slug` if it can name a mistake (lowercase words joined by '-', at most 40 characters)."""
    if not isinstance(slug, str) or len(slug) > MAX_SLUG or not SLUG.fullmatch(slug):
        raise ValueError(f"a mistake's slug is lowercase words joined by '-' (at most {MAX_SLUG} "
                         f"characters), not {slug!r}")
    return slug


class Hint(str):
    """The likely mistake behind a wrong answer: the words a message shows (it is that str
    everywhere), and the short `slug` that names it in the instructor's misconception report
    (as `<exercise id>/<slug>`), declared where the mistake is."""

    def __new__(cls, slug, text):
        hint = super().__new__(cls, text)
        hint.slug = check_slug(slug)
        return hint

    def format(self, *args, **kwargs):
        return Hint(self.slug, str.format(self, *args, **kwargs))


def slug_of(hint):
    """The slug a hint was declared with, or None (plain words, or no hint)."""
    return getattr(hint, "slug", None)


def likely_line(hint):
    """The line a message ends with when the likely mistake is known ('' when not)."""
    return f"\nLikely mistake: {hint}" if hint else ""


class Mistake:
    """A typical wrong solution, as a function of the inputs, and what to tell its author;
    `slug` names it in the misconception report.

    `when(*inputs)` limits it to the inputs where it is told apart by its values alone (a
    missing keepdim only on a square matrix)."""

    def __init__(self, wrong, explanation, when=None, *, slug=None):
        self.wrong, self.when = wrong, when
        self.explanation = Hint(slug, explanation) if slug is not None else explanation

    @property
    def slug(self):
        return slug_of(self.explanation)

    def values(self, *inputs):
        if self.when is not None and not self.when(*inputs):
            return None
        try:
            with torch.no_grad():
                return self.wrong(*inputs)
        except Exception:  # this mistake would have raised on these inputs
            return None

    @staticmethod
    def on(mistakes, *inputs):
        """[(values, explanation)] of each of `mistakes` on these inputs, for `expect_tensor`."""
        return [(m.values(*inputs), m.explanation) for m in mistakes]


class CheckFailed(AssertionError):
    """The submission's behaviour is wrong; the message says which input, what was expected,
    what came back, and the likely misconception. `mistake` names that misconception: a `Hint`
    (its slug) or a slug; plain words or None leave it unnamed (the report counts it apart)."""

    def __init__(self, message="", mistake=None):
        super().__init__(message)
        if isinstance(mistake, Hint) or not isinstance(mistake, str):
            self.mistake = slug_of(mistake)
        else:
            self.mistake = mistake if SLUG.fullmatch(mistake) and len(mistake) <= MAX_SLUG else None


class Tampering(CheckFailed):
    """The submission answered with something only a cheat would send (a tensor subclass that
    agrees with anything, a forged answer): no points for the exercise."""

    def __init__(self, what):
        super().__init__(f"Tampering detected: {what}. The grader does not accept it as an "
                         "answer, so this exercise gets no points.")


DTYPE_NAMES = {torch.float32: "float32", torch.float64: "float64", torch.int64: "int64",
               torch.float16: "float16", torch.bfloat16: "bfloat16", torch.int32: "int32",
               torch.bool: "bool"}


def dtype_name(dtype):
    return DTYPE_NAMES.get(dtype, str(dtype).replace("torch.", ""))


def fmt(values, digits=4):
    """Nested numbers (or a tensor) printed like a tensor's values, short enough for a message."""
    if isinstance(values, torch.Tensor):
        values = values.tolist()
    if isinstance(values, (list, tuple)):
        return "[" + ", ".join(fmt(v, digits) for v in values) + "]"
    if isinstance(values, bool) or isinstance(values, int):
        return str(values)
    if isinstance(values, float):
        if values != values:
            return "nan"
        return f"{values:.{digits}g}"
    return str(values)


def fmt_shape(shape):
    shape = tuple(shape)
    return "(" + ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def as_tensor(values):
    return values if isinstance(values, torch.Tensor) else torch.tensor(values, dtype=torch.float64)


def close(got, expected, rtol, atol):
    """Same shape and values within tolerance (float64 comparison; NaN never matches)."""
    got, expected = as_tensor(got), as_tensor(expected)
    if tuple(got.shape) != tuple(expected.shape):
        return False
    if not got.dtype.is_floating_point and not expected.dtype.is_floating_point and not got.is_complex():
        return bool(torch.equal(got.to(torch.int64), expected.to(torch.int64)))
    return bool(torch.allclose(got.to(torch.float64), expected.to(torch.float64), rtol=rtol, atol=atol))


def require_tensor(got, what, context=""):
    """`got` must be a plain tensor as the candidate described it."""
    prefix = f"{context}\n" if context else ""
    if isinstance(got, SeenTensor):
        if got.kind == "subclass":
            raise Tampering(f"{what} is a {got.type_name.rsplit('.', 1)[-1]}, a subclass of "
                            "torch.Tensor, not a plain tensor")
        if got.values is None:
            raise CheckFailed(f"{prefix}{what} is too large to check ({fmt_shape(got.shape)}).")
        return got
    kind = getattr(got, "type_name", type(got).__name__)
    raise CheckFailed(f"{prefix}{what} should be a torch.Tensor, but it is a "
                      f"{kind.rsplit('.', 1)[-1]}: {short(got)}")


def short(value):
    text = repr(value.values.tolist()) if isinstance(value, SeenTensor) else repr(value)
    return text if len(text) <= 200 else text[:200] + "..."


SAME_DTYPE = ("(the dtype of the input). Avoid creating tensors with a fixed dtype or converting "
              "with .float()/.double().")
SAME_DEVICE = ("(the device of the input). Create new tensors with device=x.device (or "
               "torch.zeros_like(x), x.new_zeros(...)), or compute from the inputs directly.")


def expect_tensor(got, expected, *, context, dtype, device, rtol=0.0, atol=0.0, mistakes=(),
                  what="the result", dtype_reason=SAME_DTYPE):
    """Check `got` (decoded) against `expected` (a judge-side tensor or nested numbers):
    a plain tensor, then shape, dtype, device and values, in that order.

    `mistakes` are (values, explanation) pairs, or (values, explanation, rtol, atol) with a
    tolerance of their own, or a function that returns them (called only when `got` is wrong):
    when `got` matches one (shape and values), its explanation is added to the message."""
    got = require_tensor(got, what, context)
    expected = as_tensor(expected)
    if callable(mistakes):
        if got.shape == tuple(expected.shape) and got.dtype == dtype and same_device(got.device, device) \
                and close(got.values, expected, rtol, atol):
            return got
        mistakes = mistakes()
    if got.shape != tuple(expected.shape):
        problem = f"{what} has shape {fmt_shape(got.shape)}, expected {fmt_shape(expected.shape)}"
        hint = diagnose(got.values, mistakes, 1e-4, 1e-4)
        raise CheckFailed(message(context, problem, expected, got.values, hint), hint)
    if got.dtype != dtype:
        raise CheckFailed(f"{context}\n{what} has dtype {got.dtype_name}, expected "
                          f"{dtype_name(dtype)} {dtype_reason}", "wrong-dtype")
    if not same_device(got.device, device):
        raise CheckFailed(f"{context}\n{what} is on {got.device}, expected {device} {SAME_DEVICE}", "wrong-device")
    if not close(got.values, expected, rtol, atol):
        hint = diagnose(got.values, mistakes, rtol, atol)
        raise CheckFailed(message(context, f"{what} has the wrong values", expected, got.values, hint), hint)
    return got


def same_device(a, b):
    a, b = torch.device(a), torch.device(b)
    return a.type == b.type and (a.index or 0) == (b.index or 0)


def diagnose(got_values, mistakes, rtol, atol):
    """The explanation of the first mistake whose values `got_values` matches, or None."""
    for mistake in mistakes:
        values, explanation = mistake[0], mistake[1]
        tol = mistake[2:4] if len(mistake) == 4 else (rtol, atol)
        if values is not None and explanation and close(got_values, values, *tol):
            return explanation
    return None


def message(context, problem, expected, got, hint=None):
    lines = [context, f"{problem}.", f"  expected: {fmt(expected)}", f"  got:      {fmt(got)}"]
    return "\n".join(line for line in lines if line) + likely_line(hint)


# --- answers that are not tensors ---------------------------------------------------------------

def said(value):
    """What a candidate's answer is, in words, for a message (a tensor subclass is tampering)."""
    if isinstance(value, SeenTensor):
        if value.kind == "subclass":
            raise Tampering(f"it returned a {value.type_name.rsplit('.', 1)[-1]}, a subclass of "
                            "torch.Tensor")
        return f"a tensor of shape {fmt_shape(value.shape)}" + (
            f" ({fmt(value.values)})" if value.values is not None and value.numel <= 12 else "")
    if isinstance(value, SeenModule):
        return f"a module ({value.class_name})"
    if value is None:
        return "None"
    if type(value) in (bool, int, float, str):
        return f"a {type(value).__name__} ({value!r})"
    if isinstance(value, (SeenList, SeenTuple, SeenDict)):
        return f"a {value.type_name.rsplit('.', 1)[-1]} ({short(value)})"
    name = getattr(value, "type_name", type(value).__name__)
    return f"an object of type {name} ({short(value)})"


def type_name(value):
    """The short name of the type of an answer: 'list', 'Tensor', 'generator'..."""
    return getattr(value, "type_name", type(value).__name__).rsplit(".", 1)[-1]


def call_text(name, *args, **kwargs):
    """How a call with these arguments is written: 'RunningMean(3, momentum=0.25)'."""
    return f"{name}({', '.join([*map(repr, args), *(f'{k}={v!r}' for k, v in kwargs.items())])})"


def near_name(want, names, cutoff=0.6):
    """The name among `names` that looks like a misspelling of `want` (the same letters in
    another case, or close by difflib's measure), or None."""
    others = [n for n in names if n != want]
    near = [n for n in others if n.lower() == want.lower()] + difflib.get_close_matches(want, others, 1, cutoff)
    return near[0] if near else None


def shares_memory(a, b):
    """Two described tensors whose storages overlap."""
    if a is None or b is None or a.storage is None or b.storage is None:
        return False
    (a0, an), (b0, bn) = a.storage, b.storage
    return a0 < b0 + bn and b0 < a0 + an and an > 0 and bn > 0

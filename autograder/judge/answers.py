"""Kinds of answer that are not tensors: each checks what a candidate returned and gives it
back as plain data (or fails saying what it is instead). An exercise passes one, with its own
explanations, to a table (`A.module_function(answer=...)`) or calls it in its check.

    integer(...)      a Python int (not a tensor, a float, a NumPy integer or a bool)
    name_list(...)    a list of str (not a tuple, a generator, or a list of modules)
    label_dict(...)   a dict whose values are among given labels ('parameter', 'buffer', ...)
"""

from .compare import fmt, fmt_shape, said, short, slug_of, type_name
from .seen import SeenList, SeenModule, SeenObject, SeenTensor, SeenTuple


def integer(what="the count", tensor_hint="", float_hint="", numpy_hint=""):
    """An answer that must be a Python int; the hints say why a tensor, a float or a NumPy
    integer came back instead."""
    def check(t, got, ctx):
        if isinstance(got, SeenTensor):
            said(got)  # a subclass is tampering
            shown = fmt(got.values) if got.values is not None and got.numel <= 12 else "..."
            t.fail(ctx, f"It returned a tensor ({shown}, shape {fmt_shape(got.shape)}); return a Python int.",
                   likely=tensor_hint)
        if type(got) is bool or type(got) is not int:
            name = getattr(got, "type_name", "")
            hint = (float_hint if type(got) is float else numpy_hint if name.startswith("numpy.") else "") or ""
            t.fail(ctx, f"It returned {said(got)}; {what} must be an int" + (f" ({hint})." if hint else "."),
                   mistake=slug_of(hint) or ("float-not-int" if type(got) is float else "not-an-int"))
        return got
    return check


def name_list(modules_hint=""):
    """An answer that must be a list of names (str); `modules_hint`: how to get names, for a
    list of modules."""
    def check(t, got, ctx):
        if isinstance(got, SeenTuple):
            t.fail(ctx, f"It returned a tuple ({short(got)}); return a list.", mistake="tuple-not-list")
        if isinstance(got, SeenObject) and "generator" in got.type_name:
            t.fail(ctx, "It returned a generator; return a list (wrap it: list(...)).", mistake="generator-not-list")
        if not isinstance(got, SeenList):
            t.fail(ctx, f"It returned {said(got)}; expected a list of names (str).")
        if any(isinstance(item, SeenModule) for item in got):
            t.fail(ctx, "The list holds modules; return their names (str)" + (f", {modules_hint}" if modules_hint else "."))
        bad = [item for item in got if type(item) is not str]
        if bad:
            t.fail(ctx, f"The list holds {said(bad[0])}; every item must be a name (str).")
        return list(got)
    return check


def label_dict(labels, near=()):
    """An answer (see `answers`) that must be a dict whose values are among `labels` (str); `near`:
    other spellings of them (besides capitals and spaces), for which the message asks for the exact ones."""
    quoted = [repr(label) for label in labels]

    def check(t, got, ctx):
        if not isinstance(got, dict):
            t.fail(ctx, f"It should return a dict {{name: {' | '.join(quoted)}}}, but it returned a {type_name(got)}.")
        for k, v in got.items():
            if not isinstance(v, str) or v not in labels:
                spelled = isinstance(v, str) and v.strip().lower() in (*labels, *near)
                t.fail(ctx, f"The value for {k!r} is {v!r}." + (
                    f" Use exactly the lower-case strings {', '.join(quoted[:-1])} and {quoted[-1]}." if spelled
                    else f" The values must be the strings {', '.join(quoted[:-1])} or {quoted[-1]}."))
        return dict(got)
    return check

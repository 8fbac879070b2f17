"""Friendly checks for the visible tests in the notebooks, and helpers for their demos.

Each `expect_*` raises an AssertionError whose message shows what was expected and what came
back, and returns quietly when all is well. They are for learning, not for grading: the hidden
tests that decide the grade do not use them.

`show_error` prints an error a demo causes on purpose, in full; `try_puzzle` is the ungraded
self-check of the practice puzzles (it prints, it never raises). For modules (05_parameters):
`expect_registered`, `expect_no_parameters`, `expect_no_history`, `expect_moves`,
`expect_dict`, and `probe_tensors`, which finds out by running them what backward, an optimiser
step, `state_dict()` and `.to()` do to each tensor a module holds.
"""

import ast
import contextlib
import copy
import inspect
import textwrap

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


def expect_shape(got, shape, name="result", hint=None):
    expect_tensor(got, name)
    if tuple(got.shape) != tuple(shape):
        _fail(name, "wrong shape", tuple(shape), tuple(got.shape), hint)


def expect_dtype(got, dtype, name="result", hint=None):
    expect_tensor(got, name)
    if got.dtype != dtype:
        _fail(name, "wrong dtype", dtype, got.dtype, hint)


def same_device(a, b):
    """`cuda` and `cuda:0` (or `cpu` and `cpu:0`) name the same device."""
    a, b = torch.device(a), torch.device(b)
    return a.type == b.type and (a.index or 0) == (b.index or 0)


def expect_device(got, device, name="result", hint=None):
    expect_tensor(got, name)
    if not same_device(got.device, device):
        _fail(name, "wrong device", torch.device(device), got.device, hint)


def expect_close(got, expected, rtol=1e-5, atol=1e-6, name="result", hint=None):
    """Same shape, dtype and device as `expected`, and values within rtol/atol. The hint, if
    any, is shown with whichever of these fails."""
    expected = torch.as_tensor(expected)
    expect_shape(got, expected.shape, name, hint)
    expect_dtype(got, expected.dtype, name, hint)
    expect_device(got, expected.device, name, hint)
    if not torch.allclose(got.detach(), expected, rtol=rtol, atol=atol, equal_nan=True):
        _fail(name, "wrong values", expected, got, hint)


def expect_equal(got, expected, name="result", hint=None):
    """Exactly equal values (for integers and indices), same shape, dtype and device."""
    expected = torch.as_tensor(expected)
    expect_shape(got, expected.shape, name, hint)
    expect_dtype(got, expected.dtype, name, hint)
    expect_device(got, expected.device, name, hint)
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


def expect_pair(got, name="result", parts=("first", "second"), hint=None):
    """`got` is a tuple (a plain or a named tuple) of two tensors; returns it."""
    if isinstance(got, torch.Tensor):
        lines = [f"{name}: expected a pair ({parts[0]}, {parts[1]}), got one tensor: {_show(got)}"]
        if hint:
            lines.append(f"  hint: {hint}")
        raise CheckError("\n".join(lines))
    if not isinstance(got, tuple) or len(got) != 2:
        size = f" of length {len(got)}" if isinstance(got, (list, tuple)) else ""
        raise CheckError(f"{name}: expected a tuple ({parts[0]}, {parts[1]}), got a "
                         f"{type(got).__name__}{size}: {got!r}")
    for part, value in zip(parts, got):
        expect_tensor(value, f"{name}: {part}")
    return got


def expect_unchanged(got, before, name="the input"):
    """`got` still holds exactly the values of `before` (a clone taken before the call)."""
    if not torch.equal(got, before):
        _fail(name, "it was modified", before, got,
              "return a new tensor and leave the input as it is (no in-place ops such as /= on it)")


SENTINEL = -12345.0


def expect_writes_through(got, base, name="result", hint=None):
    """Writing into `got` changes `base`: `got` is a view of `base`, not a copy.

    The check writes a sentinel into `got`, looks at `base`, and puts `base` back as it was.
    """
    expect_tensor(got, name)
    saved = base.clone()
    try:
        got.fill_(SENTINEL)
        changed = bool((base == SENTINEL).any())
    except RuntimeError as exc:
        raise CheckError(f"{name}: writing into the result failed: {exc}") from None
    finally:
        base.copy_(saved)
    if not changed:
        lines = [f"{name}: expected a view that shares memory with the input, got a copy: "
                 f"writing into the result did not change the input"]
        if hint:
            lines.append(f"  hint: {hint}")
        raise CheckError("\n".join(lines))


DEVICE_HINT = ("a tensor you create (torch.zeros, torch.ones, torch.arange, torch.tensor, ...) "
               "lands on the CPU unless you say otherwise: pass device=x.device (and "
               "dtype=x.dtype), or use torch.zeros_like(x)")


def expect_device_follows(fn, *inputs, name=None):
    """Run `fn` on copies of `inputs` on the `meta` device; its tensors must come back there.

    The meta device records shapes and dtypes but holds no data, so it stands in for a GPU on any
    machine: a function that builds a tensor without `device=` puts it on the CPU, which fails
    here as it would on a GPU. A function that reads values in Python (`.item()`, `if t > 0`,
    `.tolist()`) cannot run on meta; then the check is skipped, with a note.
    """
    name = name or getattr(fn, "__name__", "result")
    meta = [t.to("meta") if isinstance(t, torch.Tensor) else t for t in inputs]
    try:
        out = fn(*meta)
    except (RuntimeError, NotImplementedError) as exc:
        text = str(exc)
        if "expected device" in text or "same device" in text:
            raise CheckError(f"{name}: it mixes devices when its inputs are not on the CPU "
                             f"(here: on the meta device, a stand-in for a GPU):\n"
                             f"  {type(exc).__name__}: {text}\n  hint: {DEVICE_HINT}") from None
        if "meta" in text:
            print(f"  (device check of {name} skipped: it reads tensor values in Python, which "
                  f"the meta device cannot do)")
            return
        raise
    for i, t in enumerate(out if isinstance(out, tuple) else (out,)):
        if isinstance(t, torch.Tensor) and t.device.type != "meta":
            where = f"{name}[{i}]" if isinstance(out, tuple) else name
            _fail(f"{where} with inputs on the meta device (a stand-in for a GPU)",
                  "wrong device", torch.device("meta"), t.device, DEVICE_HINT)


def show_error(fn):
    """Call `fn()`, which must raise; print the error's type and its full message; return the message.

    Demos use it to show an error on purpose without stopping Run All. If `fn()` does not raise,
    this raises AssertionError: the claim that it fails no longer holds.
    """
    try:
        fn()
    except Exception as exc:  # noqa: BLE001  (any error is what we came to show)
        message = str(exc)
        print(f"{type(exc).__name__}: {message}")
        return message
    raise AssertionError("expected this call to raise an error, but it succeeded")


# --------------------------------------------------------------------------- puzzles (ungraded)

PUZZLE_OPS = ("arange", "where", "sum", "shape", "dtype", "device", "to")


def _brief(value):
    if isinstance(value, torch.Tensor):
        if value.numel() <= 12:
            return f"tensor({value.detach().cpu().tolist()}, dtype={value.dtype})"
        return f"<tensor of shape {tuple(value.shape)}, {value.dtype}>"
    return repr(value)


def _difference(got, expected):
    """None when `got` matches `expected` (tensors, or tuples of them), else what differs."""
    if isinstance(expected, tuple):
        if not isinstance(got, tuple) or len(got) != len(expected):
            return f"expected a tuple of {len(expected)}, got {_brief(got)}"
        for i, (g, e) in enumerate(zip(got, expected)):
            problem = _difference(g, e)
            if problem:
                return f"element {i}: {problem}"
        return None
    if not isinstance(got, torch.Tensor):
        return f"expected a tensor, got {_brief(got)}"
    for what in ("shape", "dtype", "device"):
        if getattr(got, what) != getattr(expected, what):
            return f"{what} {getattr(got, what)}, expected {getattr(expected, what)}"
    if expected.is_floating_point():
        same = torch.allclose(got, expected, rtol=1e-5, atol=1e-6)
    else:
        same = torch.equal(got, expected)
    return None if same else f"got {_brief(got)}, expected {_brief(expected)}"


def _attributes_used(fn):
    """Names of the attributes `fn`'s source reads (torch.eye, x.flip, ...), or None if unknown."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return None
    return {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}


def try_puzzle(fn, reference, cases, only=None):
    """Ungraded self-check: compare `fn(*case)` with `reference(*case)` for every case.

    Prints `✓` when all agree, `…` while `fn` raises NotImplementedError, or `✗` and the first
    case that differs; never raises, so Run All goes on. `only`: the torch functions and tensor
    attributes `fn` may use (dtypes are always allowed), checked in its source code.
    """
    name = getattr(fn, "__name__", "your function")
    for args in cases:
        args = args if isinstance(args, tuple) else (args,)
        shown = ", ".join(_brief(a) for a in args)
        try:
            got = fn(*args)
        except NotImplementedError:
            print(f"… {name}: not written yet")
            return
        except Exception as exc:  # noqa: BLE001  (a puzzle's error is feedback, not a crash)
            print(f"✗ {name}({shown}) raised {type(exc).__name__}: {exc}")
            return
        problem = _difference(got, reference(*args))
        if problem:
            print(f"✗ {name}({shown}): {problem}")
            return
    used = _attributes_used(fn) if only is not None else None
    if used is not None:
        banned = sorted(a for a in used
                        if a not in only and not isinstance(getattr(torch, a, None), torch.dtype))
        if banned:
            print(f"✗ {name} gives the right answers but uses {', '.join(banned)}; this puzzle "
                  f"allows only {', '.join(only)}, indexing, arithmetic and comparisons")
            return
    print(f"✓ {name}: {len(cases)} cases agree with the reference")


# --------------------------------------------------------------------------- modules and plain values

def _a(noun):
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


def expect_same(got, expected, name="result", hint=None):
    """`got` equals `expected` and has exactly its type (an int is not a bool, a float or a
    tensor; a list is not a tuple). For counts, names and lists of names."""
    if type(got) is not type(expected):
        lines = [f"{name}: expected {_a(type(expected).__name__)}, got {_a(type(got).__name__)}: {_show(got)}"]
        if hint:
            lines.append(f"  hint: {hint}")
        raise CheckError("\n".join(lines))
    if got != expected:
        _fail(name, "wrong value", expected, got, hint)


def expect_keys(got, expected, name="keys", hint=None):
    """The names in `got` (a state_dict, a list of names...) are exactly those of `expected`,
    in any order; the message lists what is missing and what is extra."""
    got, expected = list(got), list(expected)
    missing = [k for k in expected if k not in got]
    extra = [k for k in got if k not in expected]
    if missing or extra:
        lines = [f"{name}: expected exactly {expected}", f"  got:      {got}"]
        if missing:
            lines.append(f"  missing: {missing}")
        if extra:
            lines.append(f"  extra:   {extra}")
        if hint:
            lines.append(f"  hint: {hint}")
        raise CheckError("\n".join(lines))


def expect_module(got, cls=torch.nn.Module, name="result", hint=None):
    """`got` is an instance of `cls` (nn.Module by default)."""
    if not isinstance(got, cls):
        lines = [f"{name}: expected {_a(cls.__name__)}, got {_a(type(got).__name__)}: {_show(got)}"]
        if hint:
            lines.append(f"  hint: {hint}")
        raise CheckError("\n".join(lines))


def _plain_difference(got, expected):
    """None when `got` equals `expected` (plain values, or tensors as `_difference` compares
    them), else what differs."""
    if isinstance(expected, torch.Tensor) or isinstance(got, torch.Tensor):
        return _difference(got, expected)
    if type(got) is not type(expected):
        return f"expected {_a(type(expected).__name__)} ({expected!r}), got {_a(type(got).__name__)} ({got!r})"
    return None if got == expected else f"got {got!r}, expected {expected!r}"


def try_practice(fn, reference, cases):
    """Ungraded self-check for practice exercises whose answers are plain values (ints, strings,
    lists, dicts) or tensors: compare `fn(*case)` with `reference(*case)` for every case, each
    on its own deep copy of the case (so a function that changes a module in place is
    compared fairly). Prints `✓`, `…` (not written yet) or `✗` and the first case that
    differs; never raises."""
    import copy

    name = getattr(fn, "__name__", "your function")
    for args in cases:
        args = args if isinstance(args, tuple) else (args,)
        shown = ", ".join(_brief(a) if isinstance(a, torch.Tensor) else
                          (type(a).__name__ if isinstance(a, torch.nn.Module) else repr(a)) for a in args)
        expected = reference(*copy.deepcopy(args))
        try:
            got = fn(*copy.deepcopy(args))
        except NotImplementedError:
            print(f"… {name}: not written yet")
            return
        except Exception as exc:  # noqa: BLE001  (an exercise's error is feedback, not a crash)
            print(f"✗ {name}({shown}) raised {type(exc).__name__}: {exc}")
            return
        problem = _plain_difference(got, expected)
        if problem:
            print(f"✗ {name}({shown}): {problem}")
            return
    print(f"✓ {name}: {len(cases)} cases agree with the reference")


def ok(message="all visible checks passed"):
    """Say so when a visible test cell got through all its checks."""
    print(f"✓ {message}")


# --------------------------------------------------------------------------- modules and parameters

def expect_parameters(module, shapes, name="module", hint=None):
    """`module` has exactly the parameters `shapes` ({name: shape}, named as `named_parameters()`
    names them), each an `nn.Parameter` that requires grad. When the names differ, the message
    also lists the module's plain tensor attributes: tensors that are not registered parameters."""
    if not isinstance(module, torch.nn.Module):
        raise CheckError(f"{name}: expected an nn.Module, got a {type(module).__name__}: {module!r}")
    found = {n: tuple(p.shape) for n, p in module.named_parameters()}
    want = {n: tuple(s) for n, s in shapes.items()}
    if set(found) != set(want):
        lines = [f"{name}: wrong parameters (names and shapes)", f"  expected: {want}", f"  got:      {found}"]
        plain = [k for k, v in vars(module).items()
                 if isinstance(v, torch.Tensor) and not isinstance(v, torch.nn.Parameter)]
        if plain:
            lines.append(f"  plain tensor attributes, not parameters: {', '.join(plain)}")
        if hint:
            lines.append(f"  hint: {hint}")
        raise CheckError("\n".join(lines))
    params = dict(module.named_parameters())
    for n, shape in want.items():
        if found[n] != shape:
            _fail(f"{name}.{n}", "wrong shape", shape, found[n], hint)
        if not params[n].requires_grad:
            lines = [f"{name}.{n}: expected a parameter that requires grad, got requires_grad=False"]
            if hint:
                lines.append(f"  hint: {hint}")
            raise CheckError("\n".join(lines))


def expect_init_range(t, bound, name="result", hint=None, reach=0.5):
    """Values a fresh layer could start from: finite, not all zero, not all equal, inside
    [-bound, bound]; with 100 entries or more, also reaching past `reach * bound` on both sides
    (values drawn from U(-bound, bound) do, almost surely)."""
    expect_tensor(t, name)
    v = t.detach().to("cpu", torch.float64).flatten()
    problem = None
    if not torch.isfinite(v).all():
        problem = "it holds NaN or infinite values (uninitialised memory?)"
    elif v.numel() and (v == 0).all():
        problem = "it is all zeros"
    elif v.numel() > 1 and (v == v[0]).all():
        problem = f"every entry is {v[0].item():g}"
    elif v.numel() and v.abs().max() > bound * (1 + 1e-6):
        problem = f"it ranges over [{v.min().item():.4g}, {v.max().item():.4g}], outside [-{bound:.4g}, {bound:.4g}]"
    elif v.numel() >= 100 and (v.min() > -reach * bound or v.max() < reach * bound):
        problem = (f"it ranges over [{v.min().item():.4g}, {v.max().item():.4g}] only: values from "
                   f"U(-{bound:.4g}, {bound:.4g}) would spread over nearly all of it")
    if problem:
        lines = [f"{name}: not initialised as expected: {problem}",
                 f"  expected: values spread over [-{bound:.4g}, {bound:.4g}]",
                 f"  got:      {_show(t)}"]
        if hint:
            lines.append(f"  hint: {hint}")
        raise CheckError("\n".join(lines))


def expect_raises(error, fn, name="the call", hint=None):
    """`fn()` raises `error` (or a subclass); returns the message. Anything else fails."""
    try:
        fn()
    except error as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001  (the wrong error is what we report)
        lines = [f"{name}: raised the wrong error", f"  expected: {error.__name__}",
                 f"  got:      {type(exc).__name__}: {exc}"]
    else:
        lines = [f"{name}: expected it to raise {error.__name__}, but it returned without raising",
                 f"  expected: {error.__name__}", "  got:      no error"]
    if hint:
        lines.append(f"  hint: {hint}")
    raise CheckError("\n".join(lines))


def expect_same_object(got, expected, name="result", hint=None):
    """`got` is `expected` itself (the very same Python object), not an equal copy."""
    if got is not expected:
        lines = [f"{name}: expected the very same object, got a different one",
                 f"  expected: {type(expected).__name__} at id {id(expected):#x}",
                 f"  got:      {type(got).__name__} at id {id(got):#x}"]
        if hint:
            lines.append(f"  hint: {hint}")
        raise CheckError("\n".join(lines))


def expect_no_shared_memory(got, other, name="result", hint=None):
    """`got` and `other` do not share memory: writing into one can never change the other.
    (Skipped on the meta device, which has no memory.)"""
    expect_tensor(got, name)
    if "meta" in (got.device.type, other.device.type):
        return
    if got.untyped_storage().data_ptr() == other.untyped_storage().data_ptr():
        lines = [f"{name}: expected its own memory, got memory shared with the other tensor",
                 f"  expected: a storage other than {other.untyped_storage().data_ptr():#x}",
                 f"  got:      the same storage, {got.untyped_storage().data_ptr():#x}"]
        if hint:
            lines.append(f"  hint: {hint}")
        raise CheckError("\n".join(lines))


def expect_attributes(obj, values, name="object", hint=None):
    """`obj` has every attribute of `values` ({name: value}), equal to that value and of its type.
    A missing one is reported with the attribute names that look like a misspelling of it: a typo
    such as `self.outpu_dim = ...` silently creates a new attribute instead of an error."""
    import difflib
    own = list(vars(obj))
    if isinstance(obj, torch.nn.Module):
        own += [n for n, _ in obj.named_parameters()] + [n for n, _ in obj.named_children()]
    for attr, want in values.items():
        try:
            got = getattr(obj, attr)
        except AttributeError:
            near = difflib.get_close_matches(attr, [n for n in own if n != attr], n=3, cutoff=0.8)
            lines = [f"{name}: it has no attribute {attr!r}",
                     f"  expected: {attr} = {want!r}",
                     "  got:      no such attribute" + (f"; similar names: {', '.join(near)} (a typo?)" if near else "")]
            if hint:
                lines.append(f"  hint: {hint}")
            raise CheckError("\n".join(lines)) from None
        if type(got) is not type(want) or got != want:
            _fail(f"{name}.{attr}", "wrong value", want, got, hint)


def expect_different(got, other, name="result", hint=None):
    """`got` and `other` hold different values (e.g. weights drawn after two different seeds)."""
    expect_tensor(got, name)
    if got.shape == other.shape and torch.equal(got.detach().cpu(), other.detach().cpu()):
        lines = [f"{name}: expected different values, got the same ones twice",
                 f"  expected: anything but {_show(other)}", f"  got:      {_show(got)}"]
        if hint:
            lines.append(f"  hint: {hint}")
        raise CheckError("\n".join(lines))


@contextlib.contextmanager
def uninitialised_reads_nan():
    """Inside, memory a tensor is given without being filled (`torch.empty`,
    `torch.FloatTensor(n, m)`, `new_empty`) reads NaN (integers: their largest value), whatever
    the allocator hands out: a layer that forgets to initialise its weights shows it every time,
    never by chance leftovers that look like valid values. Filled tensors are not affected.

    It is torch's own switch for this (deterministic algorithms fill uninitialised memory), on
    only for the block: warn-only, so no operation is refused, and put back as it was after."""
    was_on, was_warn_only = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    was_filling = torch.utils.deterministic.fill_uninitialized_memory
    torch.utils.deterministic.fill_uninitialized_memory = True
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was_on, warn_only=was_warn_only)
        torch.utils.deterministic.fill_uninitialized_memory = was_filling


def poison_free_memory(*shapes, dtype=torch.float32, device="cpu"):
    """Allocate NaN-filled tensors of these shapes and free them at once, so that a tensor made
    next without being filled will likely read NaN. Only likely: the allocator may hand out other
    memory. Kept for notebooks released with it; `uninitialised_reads_nan()` is certain."""
    blocks = [torch.full(tuple(shape), float("nan"), dtype=dtype, device=device) for shape in shapes for _ in range(2)]
    while blocks:
        blocks.pop()


def _observed(module, name):
    """How `module` treats its attribute `name`, in words (for messages), from what its public
    API does with that tensor: whether `parameters()` or `buffers()` yields that very object, and
    whether `state_dict()` has the name."""
    try:
        value = getattr(module, name)
    except AttributeError:
        return "nothing (no attribute of that name)"
    if isinstance(value, torch.nn.Module):
        return "a submodule"
    if value is None:
        return "None"
    if not isinstance(value, torch.Tensor):
        return f"no tensor (a value of type {type(value).__name__})"
    if any(p is value for p in module.parameters()):
        return "an nn.Parameter"
    if any(b is value for b in module.buffers()):
        return "a buffer" if name in module.state_dict() else "a buffer with persistent=False"
    return "a plain tensor attribute"


_WANTED = {"parameter": "an nn.Parameter", "buffer": "a buffer",
           "non-persistent buffer": "a buffer with persistent=False"}


_CONSEQUENCES = {
    "a plain tensor attribute": "a plain tensor attribute is not in parameters() (never trained), "
                                "not in state_dict() (not saved) and not moved by .to()",
    "an nn.Parameter": "a Parameter is listed by parameters(), so an optimiser changes it",
    "a buffer": "a buffer gets no gradient and no optimiser sees it",
    "a buffer with persistent=False": "a buffer with persistent=False is left out of state_dict(), "
                                      "so it is not saved with the model",
}


def expect_registered(module, name, kind, hint=None, trainable=None):
    """`module` holds `name` as `kind`: "parameter" (an nn.Parameter), "buffer" (registered with
    register_buffer, saved in state_dict) or "non-persistent buffer". The message says how it is
    held instead, and what that changes. With `trainable`, a parameter's requires_grad must be
    that too (False: frozen)."""
    want, held = _WANTED[kind], _observed(module, name)
    lines = []
    if held != want:
        lines = [f"{type(module).__name__}.{name}: expected {want}, got {held}"]
        if held in _CONSEQUENCES:
            lines.append(f"  ({_CONSEQUENCES[held]})")
    elif trainable is not None and getattr(module, name).requires_grad != trainable:
        lines = [f"{type(module).__name__}.{name}: expected requires_grad={trainable}, got "
                 f"requires_grad={not trainable}" + ("  (frozen: it gets no gradient, so it is never "
                                                     "trained)" if trainable else "")]
    if not lines:
        return
    if hint:
        lines.append(f"  hint: {hint}")
    raise CheckError("\n".join(lines))


def expect_no_parameters(module, name=None, hint=None):
    """`module` (and its submodules) hold no parameter at all."""
    found = [n for n, _ in module.named_parameters()]
    if found:
        lines = [f"{name or type(module).__name__}: expected no parameters, got {', '.join(found)} "
                 "(parameters() lists them, so an optimiser would change them)"]
        if hint:
            lines.append(f"  hint: {hint}")
        raise CheckError("\n".join(lines))


def expect_no_history(t, name="result", hint=None):
    """`t` carries no autograd history: requires_grad False and no grad_fn."""
    expect_tensor(t, name)
    if t.requires_grad or t.grad_fn is not None:
        lines = [f"{name}: expected a tensor without autograd history, got requires_grad="
                 f"{t.requires_grad}, grad_fn={type(t.grad_fn).__name__ if t.grad_fn else None}"]
        if hint:
            lines.append(f"  hint: {hint}")
        raise CheckError("\n".join(lines))


def expect_moves(module, names, device="meta", hint=None):
    """Move `module` to `device` (in place, as .to() does) and check that every tensor in `names`
    went with it. The meta device holds shapes and dtypes but no data: a stand-in for a GPU on
    any machine. The module's values are gone afterwards: use it last."""
    module.to(device)
    for name in names:
        value = getattr(module, name, None)
        where = value.device if isinstance(value, torch.Tensor) else None
        if where is None or where.type != torch.device(device).type:
            lines = [f"{type(module).__name__}.{name} after .to({str(device)!r}): expected it on "
                     f"{device}, got it on {where} ({_observed(module, name)}: .to() moves "
                     "registered parameters and buffers only)"]
            if hint:
                lines.append(f"  hint: {hint}")
            raise CheckError("\n".join(lines))


def expect_dict(got, expected, name="result", hint=None):
    """`got` is a dict equal to `expected`; the message lists the keys missing, the keys too
    many and the values that differ."""
    if not isinstance(got, dict):
        raise CheckError(f"{name}: expected a dict, got a {type(got).__name__}: {got!r}")
    if got == expected:
        return
    lines = [f"{name}: wrong dict", f"  expected: {expected!r}", f"  got:      {got!r}"]
    missing = [k for k in expected if k not in got]
    extra = [k for k in got if k not in expected]
    different = [k for k in expected if k in got and got[k] != expected[k]]
    if missing:
        lines.append(f"  missing: {', '.join(map(repr, missing))}")
    if extra:
        lines.append(f"  not expected: {', '.join(map(repr, extra))}")
    for k in different:
        lines.append(f"  {k!r}: expected {expected[k]!r}, got {got[k]!r}")
    if hint:
        lines.append(f"  hint: {hint}")
    raise CheckError("\n".join(lines))


PROBES = ("gets a gradient", "changed by optimizer.step()", "saved in state_dict()", "moved by .to()")


def probe_tensors(module, names, inputs, device="meta", lr=0.1):
    """Find out, by running each operation, what happens to the tensors `module` holds under
    `names`: {name: {probe: bool}} for each probe of PROBES.

    Each operation runs on its own deep copy of `module` (which is left as it was): a forward
    on `inputs` and a backward of the output's sum of squares (gets a gradient?), one step of
    torch.optim.SGD over parameters() (changed by it?), state_dict() (saved?), and
    .to(device) (moved?). Nothing is typed by hand: change the module and the answers follow.
    """
    found = {name: {} for name in names}
    trained = copy.deepcopy(module)
    loss = trained(*inputs).pow(2).sum()
    if loss.requires_grad:  # nothing to differentiate when the module holds no parameter
        loss.backward()
    before = {name: getattr(trained, name).detach().clone() for name in names}
    params = list(trained.parameters())
    if params:
        torch.optim.SGD(params, lr=lr).step()
    for name in names:
        tensor = getattr(trained, name)
        found[name]["gets a gradient"] = tensor.grad is not None
        found[name]["changed by optimizer.step()"] = not torch.equal(before[name], tensor.detach())
    saved = module.state_dict()
    moved = copy.deepcopy(module).to(device)
    for name in names:
        found[name]["saved in state_dict()"] = name in saved
        found[name]["moved by .to()"] = getattr(moved, name).device.type == torch.device(device).type
    return found

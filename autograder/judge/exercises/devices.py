"""08_devices: available_devices, best_device, module_device, to_numpy, move_to.

- `available_devices` and `best_device` are graded on any machine by simulation: the candidate
  calls the student's function while torch's own queries (`torch.cuda.is_available`,
  `torch.cuda.device_count`, `torch.backends.mps.is_available`) answer for a machine the judge
  chooses (`on_machine`, a fixed operation of the candidate), one machine after another, after
  a first call on the real machine. An answer read once (at import, in a default argument, in a
  cache) stays what it was and is named as such.
- `module_device`: modules built in the candidate from specs whose parameters and buffers sit on
  the trial's device, on `meta` (a device with shapes and no data: a stand-in for a GPU, so that
  mixed modules exist on a CPU-only grader) or on the CPU; only buffers, nothing at all, mixed.
- `to_numpy`: tensors of every dtype NumPy has, requiring grad, not contiguous (the usual
  layouts), 0-d and empty, on the trial's device; the array must have the values, shape and
  dtype, and the tensor must be left exactly as it was.
- `move_to`: nested dicts, lists and tuples holding tensors (of several dtypes), numbers,
  strings, None, a module and a function, moved to `meta` (where a move shows on any machine)
  and to the trial's device (where values and dtypes are compared); containers keep their type,
  dicts their keys and order, and everything that is not a tensor comes back as the very same
  object, a module not moved.

Readings of the contract: `cuda` counts as `cuda:0` and `mps` as `mps:0` wherever a device is
compared (a `cpu` index too); answers must be `torch.device` objects (a string is named as the
slip it is). module_device looks at every parameter and buffer of the module and its
submodules, non-persistent buffers included; raising anything but ValueError (an assert, a
StopIteration) where ValueError is due fails. to_numpy's values must be exactly the tensor's.
"""

import numpy
import torch

from ..compare import CheckFailed, slug_of
from ..declare import (
    Assignment,
    Hint,
    Missing,
    Raised,
    SeenArray,
    SeenDict,
    SeenList,
    SeenModule,
    SeenObject,
    SeenTensor,
    SeenTuple,
    Spec,
    TensorInput,
    bn,
    fmt,
    fmt_shape,
    linear,
    said,
    st,
)

A = Assignment("08_devices")

ONE = (torch.float32,)  # the dtypes these checks use are chosen case by case


def key(device):
    """A device as (type, index), `cuda` as `cuda:0`, `mps` as `mps:0`, `cpu` as `cpu:0`."""
    device = torch.device(device)
    return device.type, device.index or 0


def shown(device):
    return f"device(type='{device.type}'" + (f", index={device.index})" if device.index is not None else ")")


def machine_text(machine):
    n, mps = machine
    gpus = "no CUDA GPU" if n == 0 else "1 CUDA GPU" if n == 1 else f"{n} CUDA GPUs"
    return (f"a simulated machine with {gpus} and {'MPS' if mps else 'no MPS'}: torch.cuda.is_available() "
            f"-> {n > 0}, torch.cuda.device_count() -> {n}, torch.backends.mps.is_available() -> {mps}")


def real_machine():
    """The machine the judge (and its candidate) runs on, as (CUDA GPUs, MPS)."""
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    mps = getattr(torch.backends, "mps", None)
    return n, bool(mps is not None and mps.is_available())


def function_ref(t):
    """The student's function, kept in the candidate, to pass to `on_machine`."""
    try:
        return t.get(t.exercise.name, "__call__")
    except (Raised, Missing) as exc:
        t.fail("", f"{exc}: the exercise's solution cell must define {t.exercise.name} (with this exact name).")


STRING = Hint("string-for-device", "it returned strings ({got}), not torch.device objects. A string is not a device: "
                                   "torch.device('cuda:0') == 'cuda:0' is False, and 'cuda' is not even the same text as "
                                   "'cuda:0'. Return torch.device(...) objects.")
STRING_ONE = Hint("string-for-device",
    "it returned the string {got!r}, not a torch.device. A string never equals a device "
    "(torch.device('cuda:0') == 'cuda:0' is False) and 'cuda' is not the same text as 'cuda:0': "
    "return torch.device({got!r}).")
STALE = Hint("queries-read-once", "the answer is the one for the machine the code runs on, not for the machine of this call: "
                                  "the queries were read once (a variable set when the cell ran, a default argument, or a cache "
                                  "such as functools.cache). Call torch.cuda.is_available(), torch.cuda.device_count() and "
                                  "torch.backends.mps.is_available() inside the function, every time it is called.")
STALE_BEFORE = Hint("answer-cached-across-calls",
    "the answer is the one for the machine of the call before this one: it was kept from an "
    "earlier call (a cache such as functools.cache, or a global set on the first call). "
    "Ask torch's queries again on every call.")
NOT_CALLED = Hint("query-not-called", "{what} is used without calling it: a function object is always true, so `if "
                                      "{what}:` never sees a machine without it. Call it: {what}().")
RAISE_HINTS = {
    "Torch not compiled with CUDA": Hint("cuda-used-beyond-queries",
        "it asked CUDA itself for something beyond the three queries (a "
        "device name, memory, a tensor on the GPU): listing or choosing "
        "devices needs only torch.cuda.is_available(), "
        "torch.cuda.device_count() and torch.backends.mps.is_available()."),
    "Found no NVIDIA driver": Hint("cuda-used-beyond-queries",
        "it asked CUDA itself for something beyond the three queries (a device "
        "name, a tensor on the GPU): listing or choosing devices needs only "
        "torch.cuda.is_available(), torch.cuda.device_count() and "
        "torch.backends.mps.is_available()."),
}


def call_on(t, fn, machine, ctx):
    """The student's function called on `machine` ((GPUs, MPS); None: the real one)."""
    what = f"{t.exercise.name}()"
    if machine is None:
        return t.call(context=ctx, hints=RAISE_HINTS)
    return t.op("on_machine", {"cuda": machine[0], "mps": machine[1]}, fn, context=ctx, what=what,
                hints=RAISE_HINTS)


def expect_devices(t, got, ctx, one):
    """`got` is a list of torch.device (or, `one`, a torch.device); the keys."""
    if one:
        if isinstance(got, str):
            t.fail(ctx, f"It returned {got!r}.", likely=STRING_ONE.format(got=got))
        if not isinstance(got, torch.device):
            t.fail(ctx, f"It returned {said(got)}; expected one torch.device.")
        return key(got)
    if isinstance(got, SeenTuple):
        t.fail(ctx, f"It returned a tuple {tuple(got)}; return a list.")
    if not isinstance(got, SeenList):
        t.fail(ctx, f"It returned {said(got)}; expected a list of torch.device.")
    strings = [g for g in got if isinstance(g, str)]
    if strings:
        t.fail(ctx, f"It returned {list(got)}.", likely=STRING.format(got=", ".join(map(repr, strings))))
    other = [g for g in got if not isinstance(g, torch.device)]
    if other:
        t.fail(ctx, f"The list holds {said(other[0])}; every item must be a torch.device.")
    return [key(g) for g in got]


def as_text(keys):
    """cpu, cuda:1, mps (a list of them in brackets)."""
    if isinstance(keys, tuple):
        return keys[0] if keys[0] in ("cpu", "mps") and keys[1] == 0 else f"{keys[0]}:{keys[1]}"
    return "[" + ", ".join(as_text(k) for k in keys) + "]"


class Machines:
    """What one trial's calls saw: the expected answers of the real machine and of the last call,
    and the student's function (to ask it again on another machine)."""

    def __init__(self):
        self.real = None
        self.last = None
        self.fn = None
        self.real_machine = None


def stale(t, got, answer, machine):
    """`got` is `answer`, the right one for `machine` (the real one, or the last call's): is it because
    the function never looks again? Ask it on a machine unlike that one (two more GPUs, MPS
    flipped); the same answer there means yes."""
    machines = machines_of(t)
    if answer is None or got != answer or machines.fn is None:
        return False
    n, mps = machine
    try:
        again = t.candidate.op("on_machine", {"cuda": n + 2, "mps": not mps}, machines.fn)
    except (Raised, Missing):
        return False
    if isinstance(again, torch.device):
        return key(again) == got
    if isinstance(again, SeenList) and all(isinstance(g, torch.device) for g in again):
        return [key(g) for g in again] == got
    return False


def machines_of(t):
    if not hasattr(t, "machines"):
        t.machines = Machines()
    return t.machines


# =============================================================================================
# available_devices
# =============================================================================================

def devices_reference(machine):
    n, mps = machine
    return [("cpu", 0)] + [("cuda", i) for i in range(n)] + ([("mps", 0)] if mps else [])


NO_INDEX = Hint("gpu-index-missing", "every GPU was listed as torch.device('cuda'), which means cuda:0: the second GPU is "
                                     "cuda:1. Give each its index: torch.device('cuda', i) or f'cuda:{i}'.")
OFF_BY_ONE = Hint("gpus-numbered-from-one",
    "the GPUs are numbered from 0: cuda:0 ... cuda:{last}, for range(torch.cuda.device_count()).")
ONE_GPU = Hint("only-one-gpu-listed",
    "only one GPU is listed, but torch.cuda.device_count() is {n}: list cuda:0 ... cuda:{last}, "
    "one per visible GPU.")
CPU_MISSING = Hint("cpu-missing", "the CPU is missing: it is always there, and comes first.")
ORDER = Hint("devices-out-of-order", "the devices are right but not in order: cpu first, then cuda:0, cuda:1, ..., then mps.")
MPS_MISSING = Hint("mps-missing", "mps is missing, though torch.backends.mps.is_available() is True: check it with "
                                  "torch.backends.mps.is_available() (not is_built(), and not only when there is no GPU).")
MPS_EXTRA = Hint("mps-listed-unavailable", "mps is listed, though torch.backends.mps.is_available() is False.")
CUDA_MISSING = Hint("cuda-missing", "the CUDA GPUs are missing, though torch.cuda.is_available() is True.")
CUDA_EXTRA = Hint("cuda-listed-unavailable", "CUDA devices are listed, though torch.cuda.is_available() is False and "
                                             "torch.cuda.device_count() is 0.")
ONLY_BEST = Hint("only-best-device",
    "only one device is listed: list every available device, the CPU first, not only the best one.")


def diagnose_list(t, got, expected, machine):
    """The likely mistake behind a wrong list of devices."""
    machines = machines_of(t)
    n, mps = machine
    cudas = [i for kind, i in got if kind == "cuda"]
    if stale(t, got, machines.real, machines.real_machine):
        return STALE
    if machines.last is not None and stale(t, got, machines.last[1], machines.last[0]):
        return STALE_BEFORE
    if n > 1 and cudas == [0] * n:
        return NO_INDEX
    if n and cudas == list(range(1, n + 1)):
        return OFF_BY_ONE.format(last=n - 1)
    if sorted(got) == sorted(expected):
        return ORDER
    if ("cpu", 0) not in got:
        return ONLY_BEST if len(got) == 1 and len(expected) > 1 else CPU_MISSING
    if n > 1 and len(cudas) == 1:
        return ONE_GPU.format(n=n, last=n - 1)
    if mps and ("mps", 0) not in got:
        return MPS_MISSING
    if not mps and ("mps", 0) in got:
        return Hint(MPS_EXTRA.slug,
                    MPS_EXTRA + (" " + NOT_CALLED.format(what="torch.backends.mps.is_available") if n == 0 else ""))
    if n and not cudas:
        return CUDA_MISSING
    if not n and cudas:
        return Hint(CUDA_EXTRA.slug, CUDA_EXTRA + " " + NOT_CALLED.format(what="torch.cuda.is_available"))
    return None


def expect_answer(t, got, expected, ctx, machine, one):
    keys = expect_devices(t, got, ctx, one)
    if keys != expected:
        hint = (diagnose_one if one else diagnose_list)(t, keys, expected, machine)
        t.fail(ctx, f"It returned {as_text(keys)}, expected {as_text(expected)}"
                    + (" (cuda counts as cuda:0, mps as mps:0)" if not one else "") + ".", likely=hint)
    machines_of(t).last = (machine, expected)


def real_call(reference, one):
    """A `before` check: the function on the machine it runs on, whose answer is remembered."""
    def before(t):
        machine = real_machine()
        expected = reference(machine)
        ctx = f"{t.exercise.name}() on the machine the grader runs on ({machine_text(machine).split(': ', 1)[1]})"
        got = call_on(t, None, None, ctx)
        machines = machines_of(t)
        machines.real, machines.last, machines.real_machine = None, None, machine
        machines.fn = function_ref(t)
        expect_answer(t, got, expected, ctx, machine, one)
        machines.real = expected
    return before


def simulated(reference, one):
    def check(t, machine):
        machine = (int(machine[0]), bool(machine[1]))
        ctx = f"{t.exercise.name}() on {machine_text(machine)}"
        got = call_on(t, function_ref(t), machine, ctx)
        expect_answer(t, got, reference(machine), ctx, machine, one)
    return check


# one machine after another, each unlike the one before (and the first unlike a CPU-only machine)
MACHINES = [(1, False), (0, False), (2, False), (0, True), (3, True), (1, False), (4, False), (0, True),
            (0, False), (8, False)]
MACHINE_DRAWS = st.tuples(st.integers(0, 8), st.booleans())

A.exercise("available_devices", "def available_devices()", cases=MACHINES, strategy=MACHINE_DRAWS,
           before=real_call(devices_reference, False), devices="cpu", dtypes=ONE, layouts=())(
    simulated(devices_reference, False))


# =============================================================================================
# best_device
# =============================================================================================

def best_reference(machine):
    n, mps = machine
    return ("cuda", 0) if n else ("mps", 0) if mps else ("cpu", 0)


MPS_FIRST = Hint("mps-before-cuda",
    "CUDA comes first: cuda:0 when torch.cuda.is_available(), and mps only when there is no CUDA GPU.")
LAST_GPU = Hint("last-gpu-picked", "it picked the last GPU; the best device is the first one, cuda:0.")
NO_MPS = Hint("mps-not-considered",
    "when CUDA is not available but MPS is (torch.backends.mps.is_available()), the answer is mps.")
NO_CUDA = Hint("cuda-not-considered", "when torch.cuda.is_available() is True, the answer is cuda:0.")


def diagnose_one(t, got, expected, machine):
    machines = machines_of(t)
    n, mps = machine
    if stale(t, got, machines.real, machines.real_machine):
        return STALE
    if machines.last is not None and stale(t, got, machines.last[1], machines.last[0]):
        return STALE_BEFORE
    if got == ("cuda", n - 1) and n > 1:
        return LAST_GPU
    if got == ("mps", 0) and n and mps:
        return MPS_FIRST
    if got[0] == "cuda" and not n:
        return NOT_CALLED.format(what="torch.cuda.is_available")
    if got == ("mps", 0) and not mps:
        return NOT_CALLED.format(what="torch.backends.mps.is_available")
    if got == ("cpu", 0) and expected == ("mps", 0):
        return NO_MPS
    if got == ("cpu", 0) and n:
        return NO_CUDA
    return None


BEST_MACHINES = [(1, False), (0, False), (0, True), (3, False), (2, True), (0, False), (1, True), (0, True),
                 (4, False)]

A.exercise("best_device", "def best_device()", cases=BEST_MACHINES, strategy=MACHINE_DRAWS,
           before=real_call(best_reference, True), devices="cpu", dtypes=ONE, layouts=())(
    simulated(best_reference, True))


# =============================================================================================
# module_device
# =============================================================================================
# A module to try is a tree: ("holder", [(name, kind, where)], [(child name, tree)]) with kind
# "parameter", "frozen", "buffer", "non_persistent", or ("layer", "linear" | "nobias" | "bn" |
# "relu", where); where is "here" (the trial's device), "meta" or "cpu".

LAYER_TENSORS = {
    "linear": [("weight", "parameter"), ("bias", "parameter")],
    "nobias": [("weight", "parameter")],
    "bn": [("weight", "parameter"), ("bias", "parameter"), ("running_mean", "buffer"),
           ("running_var", "buffer"), ("num_batches_tracked", "buffer")],
    "relu": [],
}
LAYER_SPECS = {"linear": lambda: linear(3, 2), "nobias": lambda: linear(2, 2, bias=False), "bn": lambda: bn(3),
               "relu": lambda: Spec("relu")}
LAYER_TEXT = {"linear": "nn.Linear(3, 2)", "nobias": "nn.Linear(2, 2, bias=False)", "bn": "nn.BatchNorm1d(3)",
              "relu": "nn.ReLU()"}


def place(t, where):
    return str(t.device) if where == "here" else where


def tree_spec(t, tree):
    if tree[0] == "layer":
        _, kind, where = tree
        return Spec("moved", module=LAYER_SPECS[kind](), device=place(t, where))
    _, entries, children = tree
    fields = {"parameters": [], "buffers": [], "children": [[name, tree_spec(t, child)] for name, child in children]}
    for i, (name, kind, where) in enumerate(entries):
        values = TensorInput(torch.arange(2.0, dtype=torch.float32) + i, place(t, where))
        if kind in ("parameter", "frozen"):
            fields["parameters"].append([name, values, kind == "parameter"])
        else:
            fields["buffers"].append([name, values, kind == "buffer"])
    return Spec("module", **fields)


def tensors_of(t, tree, prefix=""):
    """[(qualified name, 'parameter' | 'buffer', device text, own: held by the root itself, persistent)],
    parameters first (in named_parameters() order), then buffers (named_buffers() order)."""
    params, buffers = [], []

    def walk(node, path):
        own = path == ""
        dotted = f"{path}." if path else ""
        if node[0] == "layer":
            _, kind, where = node
            for name, what in LAYER_TENSORS[kind]:
                (params if what == "parameter" else buffers).append(
                    (dotted + name, what, place(t, where), own, True))
            return
        _, entries, children = node
        for name, kind, where in entries:
            if kind in ("parameter", "frozen"):
                params.append((dotted + name, "parameter", place(t, where), own, True))
            else:
                buffers.append((dotted + name, "buffer", place(t, where), own, kind == "buffer"))
        for child_name, child in children:
            walk(child, dotted + child_name)

    walk(tree, prefix)
    return params, buffers


def tree_text(t, tree, depth=0):
    pad = "    " * (depth + 1)
    if tree[0] == "layer":
        _, kind, where = tree
        return f"{LAYER_TEXT[kind]} on {place(t, where)}"
    _, entries, children = tree
    lines = ["an nn.Module holding"] if depth == 0 else ["a submodule holding"]
    words = {"parameter": "a parameter", "frozen": "a frozen parameter (requires_grad=False)", "buffer": "a buffer",
             "non_persistent": "a buffer registered with persistent=False"}
    for name, kind, where in entries:
        lines.append(f"{pad}{words[kind]} {name} on {place(t, where)}")
    for name, child in children:
        lines.append(f"{pad}the submodule {name}: {tree_text(t, child, depth + 1)}")
    if not entries and not children:
        lines.append(f"{pad}nothing at all")
    return "\n".join(lines)


def module_context(t, label, tree):
    return f"module_device(module) on {t.device} with\n  module = {label}:\n  {tree_text(t, tree)}"


NO_TENSORS = Hint("default-device-when-empty",
    "the module has no parameters and no buffers, so it is on no device: raise ValueError "
    "(do not fall back on a default such as the CPU).")
MIXED = Hint("mixed-devices-not-raised", "the module's tensors are on more than one device ({where}): raise ValueError.")
RAISE_VALUE_ERROR = Hint("wrong-exception-type",
    "raise ValueError (raise ValueError('...')), not {kind}: an assert is for bugs in your own "
    "code and disappears under python -O, and a caller catching ValueError would miss it.")
STOP_ITERATION = Hint("next-on-empty-parameters",
    "next(module.parameters()) raised StopIteration: this module has no parameters{more}. "
    "next(...) on an empty iterator raises StopIteration, not a helpful error; look at the "
    "parameters and the buffers, and raise ValueError yourself when there is none.")
BUFFERS_ONLY = Hint("buffers-ignored", "it looked at the parameters only: this module has no parameters, but buffers on {device} "
                                       "(BatchNorm's running statistics are buffers too). A module's device is where its "
                                       "parameters and its buffers are.")
FIRST_ONLY = Hint("first-parameter-only",
    "only the first parameter was looked at (next(module.parameters()).device assumes everything "
    "is on one device): look at every parameter and buffer.")
PARAMS_ONLY = Hint("buffers-ignored",
    "the buffers were not looked at: the parameters are all on {device}, but buffers are on {other}. "
    "Look at module.buffers() too.")
OWN_ONLY = Hint("submodules-ignored", "only the module's own tensors were looked at (recurse=False or _parameters/_buffers): the "
                                      "submodules' tensors count too; parameters() and buffers() walk the whole tree.")
STATE_DICT = Hint("state-dict-for-tensors", "the tensors were taken from state_dict(), which leaves out buffers registered with "
                                            "persistent=False: use module.parameters() and module.buffers().")
NOT_A_DEVICE = "It returned {what}; expected one torch.device (the module's tensors are all on {device})."
A_SET = Hint("returned-set-of-devices",
    "It returned {what}: the set of devices. When it has exactly one device, return that device (a "
    "torch.device), else raise ValueError.")


def module_mistakes(params, buffers):
    """[(what a wrong solution finds: a set of device texts, or 'stop' for StopIteration; the mistake)]."""
    out = [({p[2] for p in params}, "params_only")]
    own = [x for x in params + buffers if x[3]]
    out.append(({x[2] for x in own}, OWN_ONLY))
    out.append(({params[0][2]}, FIRST_ONLY) if params else ("stop", None))
    out.append(({x[2] for x in params + buffers if x[4]}, STATE_DICT))
    return out


def module_case(t, case):
    label, tree = case
    ctx = module_context(t, label, tree)
    params, buffers = tensors_of(t, tree)
    where = {x[2] for x in params + buffers}
    made = t.make(tree_spec(t, tree))
    got = t.attempt(made, context=ctx)
    if isinstance(got, Raised) and got.is_a("NotImplementedError"):
        said_ = t.raised_message(got, ctx)  # the stub: not done yet, as every other exercise says
        raise CheckFailed(said_, slug_of(said_))
    if len(where) == 1:
        expected = next(iter(where))
        if isinstance(got, Raised):
            if got.is_a("StopIteration"):
                t.fail(ctx, f"It raised StopIteration, expected {expected}.",
                       likely=STOP_ITERATION.format(more=f" (only buffers, on {expected})" if not params else ""))
            if not params and got.is_a("ValueError"):
                t.fail(ctx, f"It raised ValueError: {got.message}, expected {expected}.",
                       likely=BUFFERS_ONLY.format(device=expected))
            if got.is_a("ValueError") and not any(x[3] for x in params + buffers):
                t.fail(ctx, f"It raised ValueError: {got.message}, expected {expected}.", likely=OWN_ONLY)
            t.fail(ctx, f"It raised {got.type_name}: {got.message}, expected {expected}.")
        expect_device_answer(t, got, expected, ctx, params, buffers)
        return
    problem = NO_TENSORS if not where else MIXED.format(where=", ".join(sorted(where)))
    if isinstance(got, Raised):
        if got.is_a("ValueError"):
            return
        if got.is_a("StopIteration") and not where:
            t.fail(ctx, "It raised StopIteration.", likely=Hint(
                STOP_ITERATION.slug, STOP_ITERATION.format(more=" and no buffers") + " " + problem))
        kind = "AssertionError" if got.is_a("AssertionError") else got.type_name
        t.fail(ctx, f"It raised {got.type_name}: {got.message}, expected ValueError.",
               likely=Hint(RAISE_VALUE_ERROR.slug, RAISE_VALUE_ERROR.format(kind=kind) + " " + problem))
    if isinstance(got, torch.device) and where:
        hint = mixed_mistake(key(got), params, buffers)
        t.fail(ctx, f"It returned {got}, expected it to raise ValueError: {problem}", likely=hint,
               mistake=None if hint else slug_of(problem))
    t.fail(ctx, f"It returned {said(got)}, expected it to raise ValueError: {problem}", mistake=slug_of(problem))


def mixed_mistake(got, params, buffers):
    for found, hint in module_mistakes(params, buffers):
        if found == "stop" or len(found) != 1 or key(next(iter(found))) != got or hint is None:
            continue
        if hint == "params_only":
            others = sorted({b[2] for b in buffers} - found)
            return PARAMS_ONLY.format(device=next(iter(found)), other=", ".join(others))
        return hint
    return None


def expect_device_answer(t, got, expected, ctx, params, buffers):
    if isinstance(got, str):
        t.fail(ctx, f"It returned {got!r}.", likely=STRING_ONE.format(got=got))
    if isinstance(got, (SeenList, SeenTuple)) or (isinstance(got, SeenObject) and "set" in got.type_name):
        t.fail(ctx, A_SET.format(what=said(got)))
    if not isinstance(got, torch.device):
        t.fail(ctx, NOT_A_DEVICE.format(what=said(got), device=expected))
    if key(got) != key(expected):
        t.fail(ctx, f"It returned {got}, expected {expected}.")


def h(name, kind="parameter", where="here"):
    return (name, kind, where)


def layer(kind, where="here"):
    return ("layer", kind, where)


def holder(entries=(), children=()):
    return ("holder", list(entries), list(children))


def seq_of(*layers):
    return holder(children=[(str(i), x) for i, x in enumerate(layers)])


MODULE_CASES = [
    ("nn.Linear(3, 2)", layer("linear")),
    ("nn.Linear(3, 2) moved to meta", layer("linear", "meta")),
    ("nn.BatchNorm1d(3): parameters and buffers", layer("bn")),
    ("a module with only buffers (no parameters)", holder([h("running", "buffer"), h("count", "buffer")])),
    ("a module with only buffers, on meta", holder([h("stat", "buffer", "meta")])),
    ("a module with only a non-persistent buffer", holder([h("cache", "non_persistent", "meta")])),
    ("a module with nothing at all", holder()),
    ("nn.ReLU(): no tensors", layer("relu")),
    ("a Sequential of ReLUs: no tensors anywhere", seq_of(layer("relu"), layer("relu"))),
    ("a Sequential whose first Linear is on meta", seq_of(layer("linear", "meta"), layer("relu"), layer("linear"))),
    ("a Sequential whose second Linear is on meta", seq_of(layer("linear"), layer("relu"), layer("nobias", "meta"))),
    ("parameters here, a buffer on meta", holder([h("w"), h("b"), h("stat", "buffer", "meta")])),
    ("parameters on meta, a non-persistent buffer here",
     holder([h("w", where="meta"), h("cache", "non_persistent")])),
    ("a frozen parameter on meta beside a parameter here", holder([h("w"), h("frozen", "frozen", "meta")])),
    ("own parameter here, a submodule on meta",
     holder([h("scale")], [("inner", holder([h("w", where="meta")]))])),
    ("no own tensors, everything in submodules", holder(children=[("a", layer("linear")), ("b", layer("bn"))])),
    ("a deep tree on meta", holder(children=[("a", holder(children=[("b", holder([h("w", where="meta")]))]))])),
    ("a Sequential with a buffers-only block on meta",
     seq_of(layer("linear"), holder([h("stat", "buffer", "meta")]))),
    ("on the CPU and on this trial's device (mixed only on a GPU)", holder([h("w", where="cpu"), h("b")])),
]


@st.composite
def module_trees(draw):
    kinds = st.sampled_from(["parameter", "frozen", "buffer", "non_persistent"])
    where = st.sampled_from(["here", "meta"])
    entries = st.lists(st.tuples(kinds, where), max_size=3)
    own = [(f"t{i}", kind, place_) for i, (kind, place_) in enumerate(draw(entries))]
    children = []
    for i in range(draw(st.integers(0, 2))):
        if draw(st.booleans()):
            children.append((f"c{i}", layer(draw(st.sampled_from(list(LAYER_TENSORS))), draw(where))))
        else:
            inner = [(f"u{j}", kind, place_) for j, (kind, place_) in enumerate(draw(entries))]
            children.append((f"c{i}", holder(inner)))
    return ("a random module", holder(own, children))


A.exercise("module_device", "def module_device(module)", cases=MODULE_CASES, strategy=module_trees(),
           dtypes=ONE, layouts=())(module_case)


# =============================================================================================
# to_numpy
# =============================================================================================

NUMPY_OF = {torch.float32: "float32", torch.float64: "float64", torch.float16: "float16", torch.int64: "int64",
            torch.int32: "int32", torch.int16: "int16", torch.int8: "int8", torch.uint8: "uint8",
            torch.bool: "bool", torch.complex64: "complex64", torch.complex128: "complex128"}
DTYPE_BY_NAME = {v: k for k, v in NUMPY_OF.items()}

REQUIRES_GRAD = Hint("numpy-without-detach",
    "it called .numpy() on a tensor that requires grad: NumPy cannot follow autograd, so torch "
    "refuses. Take the values out of autograd first (detach()), on the CPU (cpu()).")
ON_GPU = Hint("numpy-on-gpu-tensor",
    "it called .numpy() on a tensor on {device}: a NumPy array lives in CPU memory, so the tensor "
    "must come to the CPU first.")
NUMPY_HINTS = {
    "Can't call numpy() on Tensor that requires grad": REQUIRES_GRAD,
    "Can't detach views in-place": Hint("detach-in-place", "t.detach_() changed the caller's tensor (and torch refuses it on a "
                                                           "view): t.detach() returns a new tensor and leaves t as it was."),
    "can't convert": ON_GPU,
}
UNTOUCHED = {
    "requires_grad": Hint("detach-in-place", "t.requires_grad_(False) or t.detach_() changed the caller's tensor: it no longer "
                                             "requires grad, so the caller's training breaks. t.detach() returns a new tensor "
                                             "and leaves t as it was."),
    "version": Hint("input-modified", "t was changed in place: to_numpy must only read it."),
    "values": Hint("input-modified", "t was changed: to_numpy must only read it."),
}
TOLIST = Hint("tolist-not-array", "it returned a Python list (.tolist()): return a NumPy array (numpy.ndarray), which keeps the "
                                  "dtype and shape.")
ITEM = Hint("item-not-array", "it returned a Python number (.item() or float(t)): for a 0-d tensor, the array has shape (): "
                              "return a numpy.ndarray.")
TENSOR = Hint("returned-tensor", "it returned a tensor: convert it to a numpy.ndarray.")
DTYPE_WRONG = Hint("dtype-changed", "the dtype changed from {want} to {got}: {why} The array must have the tensor's own dtype "
                                    "(torch.{want} -> numpy.{want}).")
WHY = {
    "float64": "Python floats (.tolist(), np.array(..., dtype=float)) and .double() give float64.",
    "float32": ".float() (or dtype=np.float32) turned it into float32.",
    "int64": "Python ints (.tolist()) and .long() give int64.",
    "complex128": "Python complex numbers (.tolist()) give complex128.",
}
SHAPE_WRONG = Hint("shape-changed",
    "the shape changed from {want} to {got}: keep the tensor's shape (no flatten, squeeze or reshape).")
STORAGE_ORDER = Hint("raw-storage-order",
    "the values are in another order: the tensor is not contiguous, so its storage (data_ptr, "
    "untyped_storage, np.frombuffer) does not hold them in row-major order. Let torch convert "
    "the tensor itself.")


def values_for(dtype, shape, start=0):
    n = 1
    for s in shape:
        n *= s
    base = torch.arange(n, dtype=torch.float64).reshape(shape)
    if dtype == torch.bool:
        return (base + start) % 3 == 0
    if dtype in (torch.complex64, torch.complex128):
        return torch.complex(base * 0.5 - 1, 2 - base * 0.25).to(dtype)
    if dtype == torch.uint8:
        return ((base * 7 + start) % 250).to(dtype)
    if dtype.is_floating_point:
        return (base * 0.75 - 2.5 + start).to(dtype)
    return ((base * 5 + start) % 97 - 40).to(dtype)


# (dtype, shape, requires_grad, view): view "t" sends a transpose (not contiguous)
NUMPY_CASES = [
    ("float32", (2, 3), False, ""), ("float64", (3, 2), False, ""), ("float32", (2, 3), True, ""),
    ("float64", (4,), True, ""), ("float32", (3, 2), True, "t"), ("float16", (2, 2), False, ""),
    ("int64", (2, 3), False, ""), ("int32", (5,), False, ""), ("int16", (2, 2), False, "t"),
    ("int8", (3,), False, ""), ("uint8", (2, 3), False, "t"), ("bool", (2, 3), False, ""),
    ("complex64", (2,), False, ""), ("complex128", (2, 2), True, ""), ("float32", (), True, ""),
    ("int64", (), False, ""), ("float64", (0, 3), False, ""), ("float32", (2, 1, 3), False, ""),
    ("float64", (1, 1), True, ""), ("bool", (3, 1), False, "t"),
]


def numpy_case(t, case):
    dtype_name_, shape, requires_grad, view = case
    dtype = DTYPE_BY_NAME[dtype_name_]
    if t.device.type == "mps" and dtype in (torch.float64, torch.complex128):
        return
    values = values_for(dtype, tuple(shape))
    if view == "t":
        base = values.transpose(0, 1).contiguous()
        sent = t.tensor(base, dtype=dtype, view=(("transpose", 0, 1),), requires_grad=requires_grad)
    else:
        small_int = dtype in (torch.int8, torch.uint8, torch.bool)  # the layouts' filler does not fit them
        sent = t.tensor(values, dtype=dtype, requires_grad=requires_grad, layout=not small_int)
    expected = values.numpy()
    made = t.make(sent)
    notes = [dtype_name_, f"shape {fmt_shape(shape)}"] + (["requires grad"] if requires_grad else []) + (
        ["not contiguous (a transpose)"] if view == "t" else [])
    ctx = (f"to_numpy(t) on {t.device}, with\n  t = {fmt(values.tolist()) if values.numel() else 'an empty tensor'}"
           f"  ({', '.join(notes)})")
    hints = {**NUMPY_HINTS, "can't convert": ON_GPU.format(device=t.device)}
    got = t.call(made, context=ctx, hints=hints, untouched={0: UNTOUCHED})
    expect_array(t, got, expected, ctx)


def expect_array(t, got, expected, ctx):
    if isinstance(got, SeenList):
        t.fail(ctx, f"It returned {said(got)}.", likely=TOLIST)
    if type(got) in (int, float, bool):
        t.fail(ctx, f"It returned {said(got)}.", likely=ITEM)
    if isinstance(got, SeenTensor):
        said(got)
        t.fail(ctx, f"It returned {said(got)}.", likely=TENSOR)
    if not isinstance(got, SeenArray):
        t.fail(ctx, f"It returned {said(got)}; expected a numpy.ndarray.")
    if got.shape != expected.shape:
        t.fail(ctx, "The array is wrong.", likely=SHAPE_WRONG.format(want=fmt_shape(expected.shape), got=fmt_shape(got.shape)))
    if got.np_dtype != expected.dtype:
        want, have = expected.dtype.name, got.np_dtype.name
        t.fail(ctx, f"The array has dtype {have}, expected {want}.",
               likely=DTYPE_WRONG.format(want=want, got=have, why=WHY.get(have, "")))
    if got.values is None or not numpy.array_equal(got.values, expected):
        shown_got = fmt(got.values.tolist()) if got.values is not None else "(not sent)"
        hint = STORAGE_ORDER if got.values is not None and sorted(got.values.ravel().tolist(), key=repr) == sorted(
            expected.ravel().tolist(), key=repr) else None
        t.fail(ctx, f"The array has the wrong values.\n  expected: {fmt(expected.tolist())}\n  got:      {shown_got}",
               likely=hint)


@st.composite
def numpy_inputs(draw):
    dtype = draw(st.sampled_from(list(DTYPE_BY_NAME)))
    shape = tuple(draw(st.lists(st.integers(1, 3), max_size=3)))
    grad = DTYPE_BY_NAME[dtype].is_floating_point or DTYPE_BY_NAME[dtype].is_complex
    requires_grad = draw(st.booleans()) if grad else False
    view = draw(st.sampled_from(["", "t"])) if len(shape) >= 2 else ""
    return dtype, shape, requires_grad, view


A.exercise("to_numpy", "def to_numpy(t)", cases=NUMPY_CASES, strategy=numpy_inputs(), dtypes=ONE)(numpy_case)


# =============================================================================================
# move_to
# =============================================================================================
# An object to move is plain data: ("dict", [(key, node)]), ("list", [node]), ("tuple", [node]),
# ("tensor", dtype name, shape), ("module",), ("function",), or a plain value (int, float,
# str, bool, None).

DICT_ORDER = Hint("dict-keys-reordered",
    "the dict's keys are right but not in their order ({got} instead of {want}): build the new "
    "dict in obj's own order ({{k: ... for k, v in obj.items()}}), without sorting.")
DICT_KEYS = Hint("dict-keys-changed", "the dict's keys changed ({got} instead of {want}): keep every key as it is.")
TUPLE_LOST = Hint("container-type-lost", "a tuple came back as a {got}: keep each container's type (a tuple stays a tuple, "
                                         "tuple(...) of the moved items).")
LIST_LOST = Hint("container-type-lost", "a list came back as a {got}: keep each container's type (a list stays a list).")
NOT_RECURSED = Hint("nested-not-recursed",
    "a tensor inside a nested container was not moved ({where} is on {device}): recurse into "
    "every dict, list and tuple, however deep.")
NOT_MOVED = Hint("tensor-not-moved", "a tensor was not moved ({where} is on {device}, expected {target}).")
MODULE_MOVED = Hint("module-moved", "the module inside was moved (its parameters are now on {device}): a module is not a "
                                    "tensor, so move_to returns it as it is, without calling .to() on it. (A Module's .to() "
                                    "moves it in place: the caller's model would move too.)")
NOT_SAME = Hint("object-not-returned-as-is",
    "{where} is not the very object that was passed in: anything that is not a tensor, a dict, a "
    "list or a tuple is returned as it is (the same object, not a copy or a conversion).")
CONVERTED = Hint("non-tensor-converted",
    "{where} was {was} and came back as {got}: only tensors are moved; numbers, strings and None "
    "are returned as they are.")
DTYPE_CHANGED = Hint("dtype-changed", "{where} changed dtype from {want} to {got}: move it with .to(device) only (no dtype, "
                                      "no .float()), so it keeps its dtype.")
STRING_SPLIT = Hint("string-recursed", "{where}, a str, came back as {got}: a str is a sequence too, but it is not a container "
                                       "to recurse into. Test for dict, list and tuple (isinstance(obj, (list, tuple))), not for "
                                       "any sequence.")
MOVE_HINTS = {
    "maximum recursion depth": Hint("string-recursed",
        "the recursion never ends: a one-character str is a sequence of itself. "
        "Recurse into dict, list and tuple only, and return anything else as it is."),
    "has no attribute 'to'": Hint("to-on-non-tensor", "only tensors have .to(device) here: return anything else as it is."),
    "has no attribute 'items'": Hint("items-on-non-dict", "only dicts have .items(): test the type before you recurse."),
    "Cannot copy out of meta tensor": Hint("values-copied-not-moved",
        "a tensor on the meta device has no values: did the code copy values "
        "(tolist, numpy, item) instead of moving the tensor with .to()?"),
}


def tensor_values(dtype_name, shape, seed):
    return values_for(DTYPE_BY_NAME[dtype_name], tuple(shape), seed)


def build_obj(t, node, source, seed=0):
    """What to send for `node` (TensorInputs, Specs, plain values), tensors made on `source`."""
    if isinstance(node, tuple) and node and node[0] in ("dict", "list", "tuple", "tensor", "module", "function"):
        kind = node[0]
        if kind == "dict":
            return {k: build_obj(t, v, source, seed + i + 1) for i, (k, v) in enumerate(node[1])}
        if kind in ("list", "tuple"):
            items = [build_obj(t, v, source, seed + i + 1) for i, v in enumerate(node[1])]
            return items if kind == "list" else tuple(items)
        if kind == "tensor":
            return TensorInput(tensor_values(node[1], node[2], seed), source)
        if kind == "module":
            return linear(2, 2)
        return Spec("function", expr=["mul", "x", 2])
    return node


def node_text(node):
    if isinstance(node, tuple) and node and node[0] in ("dict", "list", "tuple", "tensor", "module", "function"):
        kind = node[0]
        if kind == "dict":
            return "{" + ", ".join(f"{k!r}: {node_text(v)}" for k, v in node[1]) + "}"
        if kind == "list":
            return "[" + ", ".join(node_text(v) for v in node[1]) + "]"
        if kind == "tuple":
            inner = ", ".join(node_text(v) for v in node[1])
            return "(" + inner + ("," if len(node[1]) == 1 else "") + ")"
        if kind == "tensor":
            return f"<{node[1]} tensor {fmt_shape(node[2])}>"
        return "<nn.Linear(2, 2)>" if kind == "module" else "<a function>"
    return repr(node)


def expect_moved_like(t, node, made, got, target, where, ctx, compare_values, seed=0):
    """`got` (what came back at `where`) is `node` moved to `target`; `made` is the input as described."""
    if isinstance(node, tuple) and node and node[0] in ("dict", "list", "tuple"):
        kind = node[0]
        want = {"dict": SeenDict, "list": SeenList, "tuple": SeenTuple}[kind]
        if not isinstance(got, want) or got.type_name != f"builtins.{kind}":
            name = getattr(got, "type_name", type(got).__name__).rsplit(".", 1)[-1]
            hint = TUPLE_LOST if kind == "tuple" else LIST_LOST if kind == "list" else None
            t.fail(ctx, f"{where[0].upper()}{where[1:]} should be a {kind}, but it is {said(got)}.",
                   likely=hint.format(got=name) if hint else None)
        if kind == "dict":
            want_keys, got_keys = [k for k, _ in node[1]], list(got)
            if got_keys != want_keys:
                hint = DICT_ORDER if sorted(map(repr, got_keys)) == sorted(map(repr, want_keys)) else DICT_KEYS
                t.fail(ctx, f"{where} has keys {got_keys}, expected {want_keys}.",
                       likely=hint.format(got=got_keys, want=want_keys))
            for i, (k, v) in enumerate(node[1]):
                expect_moved_like(t, v, made[k], got[k], target, f"{where}[{k!r}]", ctx, compare_values, seed + i + 1)
            return
        if len(got) != len(node[1]):
            t.fail(ctx, f"{where} has {len(got)} items, expected {len(node[1])}.")
        for i, v in enumerate(node[1]):
            expect_moved_like(t, v, made[i], got[i], target, f"{where}[{i}]", ctx, compare_values, seed + i + 1)
        return
    if isinstance(node, tuple) and node and node[0] == "tensor":
        if not isinstance(got, SeenTensor):
            t.fail(ctx, f"{where} should be a tensor, but it is {said(got)}.")
        said(got)  # a subclass is tampering
        if key(got.device) != key(target):
            nested = where.count("[") > 1
            hint = (NOT_RECURSED if nested else NOT_MOVED).format(where=where, device=got.device, target=target)
            t.fail(ctx, f"{where} is on {got.device}, expected {target}.", likely=hint)
        want_dtype = DTYPE_BY_NAME[node[1]]
        if got.dtype != want_dtype:
            t.fail(ctx, f"{where} has dtype {got.dtype_name}, expected {node[1]}.",
                   likely=DTYPE_CHANGED.format(where=where, want=node[1], got=got.dtype_name))
        if got.shape != tuple(node[2]):
            t.fail(ctx, f"{where} has shape {fmt_shape(got.shape)}, expected {fmt_shape(node[2])}.")
        if compare_values:
            expected = tensor_values(node[1], node[2], seed)
            if got.values is None or not torch.equal(got.values, expected):
                t.fail(ctx, f"{where} has the wrong values.\n  expected: {fmt(expected)}\n  got:      "
                            f"{fmt(got.values) if got.values is not None else '(not sent)'}")
        return
    if isinstance(node, tuple) and node and node[0] == "module":
        if not isinstance(got, SeenModule) or got.ref != made.ref:
            t.fail(ctx, f"{where} is {said(got)}.", likely=NOT_SAME.format(where=where))
        moved = {str(p.device) for _, p in got.named_parameters}
        if moved != {"cpu"}:
            t.fail(ctx, f"{where}, the nn.Linear(2, 2) made on the CPU, has its parameters on "
                        f"{', '.join(sorted(moved))} after the call.",
                   likely=MODULE_MOVED.format(device=", ".join(sorted(moved))))
        return
    if isinstance(node, tuple) and node and node[0] == "function":
        if getattr(got, "ref", None) != made.ref:
            t.fail(ctx, f"{where} is {said(got)}.", likely=NOT_SAME.format(where=where))
        return
    if type(got) is not type(node) or got != node:
        if isinstance(node, str) and isinstance(got, (SeenList, SeenTuple)):
            t.fail(ctx, f"{where} is {said(got)}.", likely=STRING_SPLIT.format(where=where, got=said(got)))
        t.fail(ctx, f"{where} is {said(got)}, expected {node!r}.",
               likely=CONVERTED.format(where=where, was=repr(node), got=said(got)))


MIXED_DICT = ("dict", [("weights", ("tensor", "float32", (2, 3))), ("step", 7), ("name", "batch"),
                       ("labels", ("tensor", "int64", (3,))), ("mask", ("tensor", "bool", (3,))),
                       ("extra", None)])
MOVE_CASES = [
    ("tensor", "float32", (2, 3)),
    ("tensor", "float64", (3,)),
    ("tuple", [("tensor", "float32", (2, 2)), ("tensor", "int64", (2,))]),  # an (x, y) batch
    ("list", [("tensor", "float64", (2,)), 3, "text", ("tensor", "float32", ())]),
    MIXED_DICT,
    ("dict", [("z", ("tensor", "float32", (2,))), ("a", ("tensor", "float64", (1,))), ("m", 1.5)]),  # not sorted
    ("dict", [("model", ("module",)), ("x", ("tensor", "float32", (2, 2))), ("f", ("function",))]),
    ("dict", [("batch", ("tuple", [("tensor", "float32", (2, 2)), ("list", [("tensor", "int64", (2,)), "id"])])),
              ("meta", ("dict", [("lr", 0.1), ("sizes", ("tuple", [2, 3])), ("inner", ("dict", [
                  ("deep", ("tensor", "float64", (2,)))]))]))]),
    ("tuple", [("tuple", [("tensor", "float32", (1,))]), ("list", []), ("tuple", []), ("dict", [])]),
    ("list", [("module",), ("tensor", "complex64", (2,)), True, None]),
    ("dict", [(3, ("tensor", "int32", (2,))), (1, "one"), ("key", ("list", [("tensor", "float16", (2,))]))]),
    "just a string",
    42,
    None,
    ("module",),
]


def move_case(t, node):
    ctx_obj = node_text(node)
    for target, source, compare in ((torch.device("meta"), t.device, False), (t.device, "cpu", True)):
        if t.device.type == "mps" and "64" in repr(node) and "float64" in repr(node):
            continue
        ctx = f"move_to(obj, {shown(target)}) with obj made on {source}:\n  obj = {ctx_obj}"
        made = t.make(build_obj(t, node, source))
        got = t.call(made, target, context=ctx, hints=MOVE_HINTS)
        expect_moved_like(t, node, made, got, target, "the result", ctx, compare)
    # the device as a string, as code often passes it
    ctx = f"move_to(obj, 'meta') with obj made on {t.device}:\n  obj = {ctx_obj}"
    made = t.make(build_obj(t, node, t.device))
    got = t.call(made, "meta", context=ctx, hints=MOVE_HINTS)
    expect_moved_like(t, node, made, got, torch.device("meta"), "the result", ctx, False)


def _leaves():
    tensors = st.tuples(st.just("tensor"), st.sampled_from(["float32", "float64", "int64", "bool"]),
                        st.lists(st.integers(1, 3), max_size=2).map(tuple))
    plain = st.one_of(st.integers(-5, 5), st.sampled_from(["a", "xy", ""]), st.none(), st.booleans())
    return st.one_of(tensors, tensors, plain, st.just(("module",)))


def _containers(children):
    keys = st.lists(st.sampled_from(["x", "y", "b", "a", "label", "k2"]), max_size=3, unique=True)
    return st.one_of(
        st.tuples(st.just("list"), st.lists(children, max_size=3)),
        st.tuples(st.just("tuple"), st.lists(children, max_size=3)),
        keys.flatmap(lambda ks: st.tuples(st.just("dict"), st.tuples(*[st.tuples(st.just(k), children) for k in ks])
                                          .map(list))),
    )


MOVE_OBJECTS = st.recursive(_leaves(), _containers, max_leaves=6)

A.exercise("move_to", "def move_to(obj, device)", cases=MOVE_CASES, strategy=MOVE_OBJECTS, dtypes=ONE,
           layouts=())(move_case)

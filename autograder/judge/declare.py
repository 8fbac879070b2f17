"""How an exercise is declared: once, in one place, with everything the grader derives from it.

    A = Assignment("01_tensor_ops")

    A.tensor_function(
        "row_normalize", "def row_normalize(x)",
        cases=[([[1.0, 2.0], [3.0, 5.0]],), ...],          # hand-picked inputs, one tuple per call
        strategy=POSITIVE_MATRICES,                        # property-based inputs (Hypothesis)
        reference=lambda x: x / x.sum(1, keepdim=True),    # torch, in the judge, in float64
        mistakes=[Mistake(lambda x: x / x.sum(0, keepdim=True), "you divided by the column sums ...")],
        raises={"must match the size": NO_KEEPDIM},        # hints for errors the code raises
        tolerance={torch.float32: (1e-5, 1e-6), torch.float64: (1e-9, 1e-12)},
    )

    @A.exercise("batch_flatten", "def batch_flatten(x)")   # anything a table cannot say
    def batch_flatten(t):                                   # t: a Trial (one device, one dtype)
        ...

From the declarations come the list of checks (`registry.EXERCISES`), the strategies whose
examples the judge server records before forking judges, the curriculum table the pipeline
tests compare with the shared contract, and the exercises the tampering gallery attacks.

A check runs in the judge, against a `Candidate` (see `candidate`): every input it sends is
built here from the declaration, every answer is decoded and compared here, and a wrong answer
raises `CheckFailed` with a message that names the input, the expected and returned values and
the likely mistake.
"""

import torch

from .candidate import Missing, Raised, Spec, TensorInput  # noqa: F401  (Spec: for exercises)
from .compare import CheckFailed, Tampering, dtype_name, expect_tensor, fmt, fmt_shape
from .properties import for_all

FLOATS = (torch.float32, torch.float64)
REGISTRY = {}  # assignment -> {exercise id: Exercise}, in declaration order

NOT_DONE = ("It raised NotImplementedError: the exercise is not done yet (replace "
            "`raise NotImplementedError()` with your code).")


def devices_here():
    """The CPU, then every CUDA GPU, then MPS: the devices this process can use."""
    found = [torch.device("cpu")]
    if torch.cuda.is_available():
        found += [torch.device("cuda", i) for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append(torch.device("mps", 0))
    return found


class Mistake:
    """A typical wrong solution, as a function of the inputs, and what to tell its author.

    `when(*inputs)` limits it to the inputs where it is told apart by its values alone (a
    missing keepdim only on a square matrix)."""

    def __init__(self, wrong, explanation, when=None):
        self.wrong, self.explanation, self.when = wrong, explanation, when

    def values(self, *inputs):
        if self.when is not None and not self.when(*inputs):
            return None
        try:
            with torch.no_grad():
                return self.wrong(*inputs)
        except Exception:  # this mistake would have raised on these inputs
            return None


class Exercise:
    """One graded exercise: its contract (assignment, id, signature), its check, its inputs."""

    def __init__(self, assignment, ex_id, signature, check, dtypes=FLOATS, strategies=(),
                 depends=(), devices="all"):
        self.assignment, self.id, self.signature = assignment, ex_id, signature
        self.check, self.dtypes, self.strategies = check, tuple(dtypes), tuple(strategies)
        self.depends, self.devices = tuple(depends), devices
        self.name = signature.split()[1].split("(")[0].rstrip(":")

    def trials(self, devices):
        """(device, dtype) pairs to check on: every device, float64 too except on MPS."""
        chosen = devices if self.devices == "all" else [torch.device("cpu")]
        for device in chosen:
            for dtype in self.dtypes:
                if device.type == "mps" and dtype == torch.float64:
                    continue
                yield device, dtype

    def run(self, candidate, devices):
        """Raise CheckFailed unless the candidate behaves as the contract says everywhere."""
        for device, dtype in self.trials(devices):
            self.check(Trial(self, candidate, device, dtype))

    def __repr__(self):
        return f"<exercise {self.assignment}/{self.id}>"


class Assignment:
    """Declares the exercises of one assignment, in the order the notebook has them."""

    def __init__(self, name):
        self.name = name
        self.exercises = REGISTRY.setdefault(name, {})

    def exercise(self, ex_id, signature, **options):
        """Decorator: `check(trial)` is the exercise's check, run once per device and dtype."""
        def register(check):
            self.exercises[ex_id] = Exercise(self.name, ex_id, signature, check, **options)
            return check
        return register

    def tensor_function(self, ex_id, signature, *, cases, reference, strategy=None, mistakes=(),
                        raises=None, tolerance=None, **options):
        """An exercise whose answer is one tensor computed from tensors: every case (a tuple of
        nested lists, one per argument) is sent as tensors of the trial's dtype and device;
        the result must match `reference` (same shape, dtype, device; values within the dtype's
        tolerance); a wrong one is compared with each of `mistakes` to say which it is."""
        tolerance = tolerance or {torch.float32: (1e-5, 1e-6), torch.float64: (1e-9, 1e-12)}
        arg_names = [a.strip() for a in signature.split("(", 1)[1].rsplit(")", 1)[0].split(",") if a.strip()]
        strategies = (strategy,) if strategy is not None else ()

        def check(t):
            rtol, atol = tolerance[t.dtype]

            def case(values):
                inputs = [t.tensor(v) for v in values]
                local = [i.value.to(torch.float64) for i in inputs]
                ctx = t.context(**dict(zip(arg_names, values)))
                with torch.no_grad():
                    expected = reference(*local)
                wrong = [(m.values(*local), m.explanation) for m in mistakes]
                out = t.call(*inputs, context=ctx, hints=raises)
                t.expect(out, expected, ctx, rtol=rtol, atol=atol, mistakes=wrong)

            for values in cases:
                case(values)
            if strategy is not None:  # it draws one argument, or a tuple of them
                t.for_all(strategy, case if len(arg_names) > 1 else lambda v: case((v,)))

        self.exercises[ex_id] = Exercise(self.name, ex_id, signature, check,
                                         strategies=strategies, **options)
        return self.exercises[ex_id]


class Trial:
    """One run of a check: an exercise, a candidate, one device and one dtype, and the helpers
    a check is written with."""

    def __init__(self, exercise, candidate, device, dtype):
        self.exercise, self.candidate, self.device, self.dtype = exercise, candidate, device, dtype

    # --- inputs ----------------------------------------------------------------------------
    def tensor(self, values, dtype=None, view=(), requires_grad=False, grad=None):
        """An input tensor with `values` (nested lists or a tensor), of the trial's dtype and
        on its device unless told otherwise; `view` ops make it non-contiguous."""
        dtype = dtype or self.dtype
        base = values.detach().to(dtype) if isinstance(values, torch.Tensor) else torch.tensor(values, dtype=dtype)
        return TensorInput(base, self.device, view, requires_grad, grad)

    # --- calling the student's code ----------------------------------------------------------
    def call(self, *args, target=None, context="", hints=None, after=False, **kwargs):
        """The exercise's function (or `target`) called with `args`; what the student's code
        raised becomes a CheckFailed that says so, with a hint when one of `hints` (substring
        of the message -> explanation) matches."""
        try:
            return self.candidate.call(target or self.exercise.name, *args, after=after, **kwargs)
        except Raised as exc:
            raise CheckFailed(self.raised_message(exc, context, hints)) from None
        except Missing as exc:
            raise CheckFailed(f"{context}\n{exc}: the exercise's solution cell must define it "
                              "(with this exact name).".lstrip()) from None

    def method(self, obj, name, *args, context="", hints=None, after=False, **kwargs):
        """`obj.name(*args)` in the candidate (obj: something it returned)."""
        return self.call(*args, target=(obj, name), context=context, hints=hints, after=after, **kwargs)

    def make(self, value):
        """Send an input or a fixture (`Spec`) to be built and kept in the candidate; its
        description (pass it back to refer to the very same object)."""
        return self.candidate.make(value)

    def op(self, name, *args, **kwargs):
        """One of the candidate's fixed operations (`autograder.candidate.build.OPS`) on its
        objects; what it raised comes back as `Raised`, for the check to explain."""
        return self.candidate.op(name, *args, **kwargs)

    def describe(self, obj):
        """`obj` (something the candidate described) as it is now."""
        return self.candidate.describe(obj)

    def raised_message(self, exc, context, hints=None):
        if exc.is_a("NotImplementedError"):
            return f"{context}\n{NOT_DONE}".lstrip()
        lines = [context, f"It raised {exc.type_name}: {exc.message.strip()}"]
        for needle, explanation in (hints or {}).items():
            if needle in exc.message:
                lines.append(f"Likely mistake: {explanation}")
                break
        return "\n".join(line for line in lines if line)

    # --- comparing ---------------------------------------------------------------------------
    def expect(self, got, expected, context, *, rtol=0.0, atol=0.0, mistakes=(), what="the result",
               dtype=None, device=None, **kwargs):
        """`got` is a plain tensor like `expected`, of the trial's dtype and device (unless
        told otherwise), with the same values within rtol/atol."""
        return expect_tensor(got, expected, context=context, dtype=dtype or self.dtype,
                             device=device or self.device, rtol=rtol, atol=atol,
                             mistakes=mistakes, what=what, **kwargs)

    def fail(self, context, text):
        raise CheckFailed(f"{context}\n{text}".lstrip())

    def tampering(self, what):
        raise Tampering(what)

    def for_all(self, strategy, case):
        for_all(strategy, case)

    def context(self, call=None, **inputs):
        """The first lines of a message: the call, where, and its inputs."""
        args = ", ".join(inputs)
        lines = [f"{call or f'{self.exercise.name}({args})'} on {self.device}, {dtype_name(self.dtype)}, with"]
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

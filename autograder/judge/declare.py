"""How an exercise is declared: the one front door of the judge, for `exercises/<topic>.py`.

    from ..declare import *        # or name what you use

    A = Assignment("01_tensor_ops")

    A.tensor_function(                                      # a function of tensors: a table
        "row_normalize", "def row_normalize(x)",
        cases=[([[1.0, 2.0], [3.0, 5.0]],), ...],           # hand-picked inputs, one tuple per call
        strategy=POSITIVE_MATRICES,                         # property-based inputs (Hypothesis)
        reference=lambda x: x / x.sum(1, keepdim=True),     # torch, in the judge, in float64
        mistakes=[Mistake(lambda x: x / x.sum(0, keepdim=True), "you divided by the column sums ...",
                          slug="column-sums")],             # named in the misconception report
        raises={"must match the size": NO_KEEPDIM},         # hints for errors the code raises
    )

    @A.exercise("batch_flatten", "def batch_flatten(x)", cases=CASES, strategy=SHAPES)
    def batch_flatten(t, case):                             # anything a table cannot say:
        x = t.tensor(case.values)                           # t is a Trial (one device, one dtype)
        out = t.call(x, context=t.context(x=case.values))
        t.expect(out, reference(x.local()), ctx, mistakes=[(wrong, Hint("a-slug", "what that mistake was"))])
        t.fail(ctx, "what is wrong", likely=Hint("its-slug", "the likely mistake"))

The other tables: `A.module_function` (a function of a model: count_parameters),
`A.module_class` (an nn.Module class: TwoLayerNet). A check runs in the judge against a
candidate (the student's code, in another process): every input is built here from the
declaration, sent, and every answer is decoded and compared here; a wrong answer raises
`CheckFailed` with a message that names the input, the expected and returned values and the
likely mistake. Every likely mistake is a `Hint` (a `Mistake` makes one from its `slug`): its
words end the message, its slug names it in the instructor's misconception report
(`<exercise id>/<slug>`); a failure no hint explains is counted there as unexplained, the
instructor's cue to declare one. Hand-picked cases run again in the other layouts a tensor can have
(`layouts`); the examples a strategy draws are recorded once by the judge server.

From the declarations come the checks, the curriculum the notebooks and the shared contract
are checked against (`exercises.curriculum`), and the tampering gallery.
"""

from hypothesis import strategies as st

from . import answers, layouts, tolerances
from .channel import Missing, Raised, Spec, TensorInput
from .compare import (
                      CheckFailed,
                      Hint,
                      Mistake,
                      Tampering,
                      call_text,
                      close,
                      dtype_name,
                      fmt,
                      fmt_shape,
                      near_name,
                      require_tensor,
                      said,
                      shares_memory,
                      short,
                      type_name,
)
from .exercise import FLOATS, REGISTRY, Assignment, devices_here
from .holdings import moves_to_meta
from .models import (
                      MODEL_TREES,
                      MODELS,
                      RELU,
                      bn,
                      conv,
                      example_model,
                      frozen,
                      holder,
                      holding,
                      linear,
                      mdict,
                      mlist,
                      model_context,
                      same,
                      seq,
                      tied,
)
from .properties import matrices, quarters, shaped, vectors
from .seen import SeenArray, SeenDict, SeenList, SeenModule, SeenObject, SeenTensor, SeenTuple
from .tables import LINEAR, Build, Call
from .trial import NOT_DONE, Trial

__all__ = [
    # declaring
    "Assignment", "Mistake", "Hint", "Build", "Call", "FLOATS", "REGISTRY", "devices_here", "answers", "layouts",
    "tolerances",
    # inputs and fixtures
    "Spec", "TensorInput", "MODELS", "MODEL_TREES", "RELU", "bn", "conv", "frozen", "holder", "linear",
    "mdict", "mlist", "same", "seq", "tied", "example_model", "model_context", "holding", "moves_to_meta", "LINEAR",
    # property-based inputs
    "st", "matrices", "quarters", "shaped", "vectors",
    # what went wrong
    "CheckFailed", "Tampering", "Raised", "Missing", "NOT_DONE",
    # what the candidate said, and saying it
    "SeenArray", "SeenDict", "SeenList", "SeenModule", "SeenObject", "SeenTensor", "SeenTuple",
    "call_text", "close", "dtype_name", "fmt", "fmt_shape", "near_name", "require_tensor", "said", "shares_memory",
    "short", "type_name",
    "Trial",
]

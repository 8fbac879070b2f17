"""01_tensor_ops: row_normalize, outer_sum, pairwise_sq_dists, batch_flatten, max_per_row.

Each check runs hand-picked inputs that expose the mistakes students make (a square matrix for
a reduction without keepdim, a transpose for view, a negative row for a max that starts at 0),
then property-based inputs.
"""

import random

import torch

from ..declare import Assignment, Hint, Mistake, matrices, quarters, st, tolerances
from ..seen import SeenTensor

A = Assignment("01_tensor_ops")


def square(x, *rest):
    return x.shape[0] == x.shape[-1]


# --- row_normalize -------------------------------------------------------------------------

NO_KEEPDIM = Hint(
    "missing-keepdim",
    "the row sums have shape (n,), and as a row they broadcast along the last "
    "dimension: entry (i, j) was divided by the sum of row j, which is silently wrong on "
    "a square matrix (notebook section 6, the silent keepdim bug).")

POSITIVE_MATRICES = matrices(values=quarters(0.25, 10))

A.tensor_function(
    "row_normalize", "def row_normalize(x)",
    cases=[
        ([[1.0, 2.0, 3.0], [4.0, 5.0, 7.0]],),
        ([[1.0, 2.0, 1.0], [3.0, 3.0, 6.0], [2.0, 0.5, 1.5]],),  # square: a missing keepdim is silent
        ([[2.0, 6.0]],),
        ([[4.0], [0.5]],),
        ([[-1.0, 3.0, 2.0], [5.0, -2.0, 1.0]],),
    ],
    strategy=POSITIVE_MATRICES,
    reference=lambda x: x / x.sum(1, keepdim=True),
    mistakes=[
        Mistake(lambda x: x / x.sum(1), NO_KEEPDIM, when=square, slug=NO_KEEPDIM.slug),
        Mistake(lambda x: x / x.sum(0, keepdim=True),
                "you divided by the column sums (a reduction over dim 0, which collapses the rows), "
                "not by each row's sum (notebook section 5).", slug="column-sums"),
        Mistake(lambda x: x / x.sum(),
                "you divided by the sum of all entries (a reduction with no dim), not by each "
                "row's sum (notebook section 5).", slug="total-sum"),
        Mistake(lambda x: x / x.max(1, keepdim=True).values,
                "you divided by the row maximum, not by the row sum.", slug="row-max-not-sum"),
        Mistake(lambda x: x / x.abs().sum(1, keepdim=True),
                "you divided by the sum of absolute values (an L1 norm, as F.normalize(x, p=1) "
                "does); that differs from the row sum when a row has negative entries.", slug="abs-value-sum"),
    ],
    raises={"must match the size": NO_KEEPDIM},
)


# --- outer_sum -----------------------------------------------------------------------------

ELEMENTWISE = Hint(
    "elementwise-not-pairs",
    "a + b on two 1-D tensors adds them elementwise (or fails when the lengths "
    "differ): one sum per position, not one for every pair (notebook section 6, "
    "broadcasting).")

VECTOR_PAIRS = st.tuples(st.lists(quarters(-10, 10), min_size=1, max_size=6),
                         st.lists(quarters(-10, 10), min_size=1, max_size=6))

A.tensor_function(
    "outer_sum", "def outer_sum(a, b)",
    cases=[
        ([1.0, 2.0], [10.0, 20.0, 30.0]),
        ([1.0, 2.0, 3.0], [10.0, 20.0, 40.0]),  # square: a transposed result has the right shape
        ([5.0], [1.0, 2.0, 3.0]),
        ([1.0, -2.0, 3.0], [4.0]),
    ],
    strategy=VECTOR_PAIRS,
    reference=lambda a, b: a[:, None] + b[None, :],
    mistakes=[
        Mistake(lambda a, b: b[:, None] + a[None, :],
                "the result is transposed: shape (m, n) with out[j, i] = a[i] + b[j], where row i "
                "must belong to a[i] (notebook section 6).", slug="transposed-result"),
        Mistake(lambda a, b: a[:, None] * b[None, :], "you multiplied (an outer product) instead of adding.",
                slug="multiplied-not-added"),
        Mistake(lambda a, b: a + b, ELEMENTWISE, when=lambda a, b: len(a) == len(b), slug=ELEMENTWISE.slug),
        Mistake(lambda a, b: (a[:, None] + b[None, :]).squeeze(),
                "a squeeze() dropped a size-1 dimension of the (n, m) result: it has fewer than two "
                "dimensions when n or m is 1 (notebook section 6, squeeze).", when=lambda a, b: len(a) == 1 or len(b) == 1,
                slug="squeeze-dropped-dim"),
    ],
    raises={"must match the size": ELEMENTWISE},
)


# --- pairwise_sq_dists ---------------------------------------------------------------------

ROWWISE = Hint(
    "rowwise-not-pairs",
    "a - b subtracts row i of b from row i of a only (and fails when n != m): each point "
    "met one point, not every point of the other set (notebook section 6; outer_sum is "
    "the same idea).")


@st.composite
def point_sets(draw):
    d = draw(st.integers(1, 4))
    a = draw(matrices(rows=(1, 5), cols=(d, d)))
    b = draw(matrices(rows=(1, 5), cols=(d, d)))
    return a, b


def _diffs(a, b):
    return a[:, None, :] - b[None, :, :]


A.tensor_function(
    "pairwise_sq_dists", "def pairwise_sq_dists(a, b)",
    cases=[
        ([[0.0, 0.0], [1.0, 2.0]], [[1.0, 0.0], [0.0, 0.0], [3.0, 4.0]]),
        ([[1.0, 2.0], [-1.0, 0.5]], [[0.0, 1.0], [2.0, -3.0]]),  # square: a transpose keeps the shape
        ([[3.0], [-1.0], [0.5]], [[1.0], [2.0]]),
        ([[10.0, -10.0, 10.0]], [[-10.0, 10.0, -10.0], [10.0, -10.0, 9.5]]),
        ([[1.0, 2.0], [3.0, 4.0], [-1.0, 0.0]], [[0.5, -0.5]]),  # m == 1: the result is still (n, 1)
    ],
    strategy=point_sets(),
    reference=lambda a, b: (_diffs(a, b) ** 2).sum(-1),
    mistakes=[
        Mistake(lambda a, b: (_diffs(a, b) ** 2).sum(-1).sqrt(),
                "these are Euclidean distances (with a square root, like torch.cdist); the "
                "exercise asks for squared distances.", slug="euclidean-not-squared"),
        Mistake(lambda a, b: _diffs(a, b).abs().sum(-1),
                "you summed absolute differences (the L1 distance), not squared differences.",
                slug="l1-distance"),
        Mistake(lambda a, b: _diffs(a, b).sum(-1), "you summed the differences without squaring them.",
                slug="differences-not-squared"),
        Mistake(lambda a, b: (_diffs(a, b) ** 2).sum(-1).T,
                "the result is transposed: shape (m, n). Row i must hold the distances from a[i].",
                slug="transposed-result"),
        Mistake(lambda a, b: a @ b.T,
                "these are the dot products of every pair (a @ b.T), not squared distances.",
                slug="dot-products"),
        Mistake(lambda a, b: (a * a).sum(1)[:, None] + (b * b).sum(1)[None] - a @ b.T,
                "the expansion |a|^2 + |b|^2 - 2 a.b is missing its factor 2.", slug="missing-factor-two"),
        Mistake(lambda a, b: ((a - b) ** 2).sum(-1), ROWWISE, when=lambda a, b: len(a) == len(b), slug=ROWWISE.slug),
    ],
    raises={"must match the size": ROWWISE},
    tolerance=tolerances.SUMS,  # the contract's: the |a|^2 + |b|^2 - 2a.b expansion passes
)


# --- batch_flatten -------------------------------------------------------------------------

# (shape of the tensor built, how it is made non-contiguous, or None)
BATCH_FLATTEN_CASES = [
    ((2, 3, 4), ()),
    ((1, 3, 2), ()),             # batch of one: squeeze() would drop it
    ((3, 4), ()),
    ((2, 1, 3, 1), ()),          # size-1 dimensions
    ((2, 4, 3), (("transpose", 1, 2),)),
    ((4, 2, 3), (("transpose", 0, 1),)),
    ((2, 6, 2), (("slice", 1, None, None, 2),)),
    ((3, 2), (("transpose", 0, 1),)),
    ((2, 3, 2, 2), (("permute", (0, 3, 1, 2)),)),
    ((4, 2, 3), (("slice", 0, None, None, 2),)),   # every other sample: not contiguous, still viewable
    ((1, 3, 4), (("expand", [2, 3, 4]),)),         # stride 0 along the batch: one sample stored once
]
# The contract admits any dtype: integers too (a float conversion of an int64 input is wrong).
BATCH_FLATTEN_DTYPES = (torch.float32, torch.float64, torch.int64)

NOT_CONTIGUOUS = Hint(
    "view-on-noncontiguous",
    "view() cannot reshape this x: it is not contiguous (a transpose or a "
    "permutation, say), and no strides walk each sample's values in row-major order "
    "over its memory, so no view of it has this shape (notebook section 7, view and "
    "reshape).")
_UNPREDICTABLE = random.SystemRandom()  # where the judge writes, and what: the candidate cannot guess
COPY_NOT_VIEW = Hint("copy-not-view", "the result is a copy (from .clone(), torch.tensor(...), a new tensor "
                                      "filled in a loop, or .contiguous() on a copy) (notebook section 7, "
                                      "views and copies).")


@A.exercise("batch_flatten", "def batch_flatten(x)", cases=BATCH_FLATTEN_CASES, dtypes=BATCH_FLATTEN_DTYPES)
def batch_flatten(t, case):
    shape, view = case
    base = torch.arange(float(torch.tensor(shape).prod())).reshape(shape) + 0.5
    x = t.tensor(base, view=view)
    local = x.local()
    expected = local.reshape(local.shape[0], -1)
    ctx = t.context(x=local)
    if view:
        ctx += f"\n  (x is not contiguous: made with {view[0][0]})"
    made = t.make(x)  # kept in the candidate (in memory the judge shares), to check the view property after
    out = t.call(made, context=ctx, hints={"view size is not compatible": NOT_CONTIGUOUS})
    hint = None
    got_shape = getattr(out, "shape", None)
    if shape[0] == 1 and got_shape is not None and got_shape != expected.shape and (
            not got_shape or got_shape[0] != 1):
        hint = Hint("dropped-batch-dim", "squeeze() removed the batch dimension of size 1 before (or while) "
                    "flattening: the result must keep dim 0 whatever its size (notebook section 6, squeeze).")
    elif got_shape == (local.numel(),):
        hint = (Hint("dropped-batch-dim", "the batch dimension of size 1 is gone: squeeze(), or a flatten() of "
                     "every dimension, drops it (notebook sections 6 and 7).") if shape[0] == 1 else
                Hint("flattened-batch-dim", "you flattened the batch dimension too: one vector for the whole "
                     "batch, not one per sample (notebook section 7, flatten and start_dim)."))
    elif getattr(out, "values", None) is not None and out.values.numel() == expected.numel():
        got_sorted = out.values.flatten().sort().values.to(torch.float64)
        if torch.equal(got_sorted, expected.flatten().sort().values.to(torch.float64)):
            hint = Hint("wrong-flatten-order", "the values are all there but not in row-major order: did you "
                        "transpose or permute before flattening, or flatten with the sizes swapped?")
    mistakes = [(out.values, hint)] if hint and getattr(out, "values", None) is not None else []
    out = t.expect(out, expected, ctx, mistakes=mistakes)
    if local.is_contiguous():  # the judge's own copy says so, not the candidate
        expect_view(t, out, made, ctx)


def expect_view(t, out, x, ctx):
    """The result of a contiguous input must be a view of it: the judge writes a value of its
    own choosing into x's memory (shared with the candidate, `judge.shared`), at the element
    result[b, k] must alias, and the result, described again, must show it. Nothing the
    candidate performs decides it: a copy cannot show a write it never saw (a candidate that
    rewrites its describing code to show it must read x's memory at each description: that is
    computing the view it was asked for). Where the memory is not shared (a GPU trial), the
    CPU trial has decided it."""
    if x.shared is None:
        return
    rows, cols = out.shape
    b, k = _UNPREDICTABLE.randrange(rows), _UNPREDICTABLE.randrange(cols)
    sentinel = -float(_UNPREDICTABLE.randrange(1, 1 << 20))  # exact in every dtype of the exercise; x holds none
    x.shared.write(int(x.shared.positions().reshape(rows, cols)[b, k]), sentinel)
    expected = x.shared.now().reshape(rows, cols)
    after = t.describe(out)
    if not isinstance(after, SeenTensor) or after.values is None or after.values.shape != expected.shape \
            or not torch.equal(after.values, expected):
        t.fail(ctx, "x is contiguous, so the result must be a view of x that shares its memory: the grader "
                    "wrote a new value into x's memory, and the result did not show it.", likely=COPY_NOT_VIEW)


# --- max_per_row ---------------------------------------------------------------------------

EXTRA_KEEPDIM = Hint("extra-keepdim", "keepdim=True kept the reduced dimension: shape (n, 1), not (n,).")
MAX_PER_ROW_CASES = [
    [[1.0, 5.0, 2.0], [7.0, 3.0, 4.0]],
    [[3.0, 1.0, 2.0], [0.0, 5.0, 4.0], [6.0, 8.0, 7.0]],  # square: column maxima fit the shape
    [[2.5]],                                               # 1x1: a stray squeeze() shows
    [[1.0], [3.0]],
    [[-3.0, -1.0, -2.0], [-0.5, -4.0, -6.0]],              # all negative: a running max must not start at 0
]
DISTINCT_ROW_MATRICES = matrices(values=quarters(-10, 10), unique_rows=True)


@A.exercise("max_per_row", "def max_per_row(x)", cases=MAX_PER_ROW_CASES, strategy=DISTINCT_ROW_MATRICES)
def max_per_row(t, x):
    xt = t.tensor(x)
    local = torch.tensor(x, dtype=torch.float64)
    n = local.shape[0]
    ctx = t.context(x=x)
    result = t.call(xt, context=ctx)
    if hasattr(result, "shape") and not isinstance(result, tuple):
        t.fail(ctx, f"It returned one tensor of shape {tuple(result.shape)}, but it must return "
                    "a pair (values, indices).",
               likely=Hint("one-tensor-not-pair", "argmax gives only the indices, and a max with no dim one "
                                                  "number for the whole tensor (notebook section 5)."))
    if not isinstance(result, tuple) or len(result) != 2:
        kind = getattr(result, "type_name", type(result).__name__).rsplit(".", 1)[-1]
        length = f" of length {len(result)}" if isinstance(result, (list, tuple)) else ""
        t.fail(ctx, f"It must return a tuple (values, indices), but it returned a {kind}{length}."
               + (" A list is not a tuple: return (values, indices)." if isinstance(result, list) else ""),
               mistake="list-not-tuple" if isinstance(result, list) else None)
    values, indices = result
    if getattr(values, "dtype", None) == torch.int64 and getattr(indices, "dtype", None) != torch.int64:
        t.fail(ctx, "The pair is in the wrong order: it returned (indices, values), and the "
                    "values come first.", mistake="pair-order-swapped")
    row_max, row_arg = local.max(1)
    squeeze = Hint("squeeze-dropped-dim", "values has shape () for an input with one row: squeeze() (or .item()) dropped "
               "the row dimension, which must stay, shape (n,) (notebook section 6, squeeze).")
    t.expect(values, row_max, ctx, what="values (the row maxima)", mistakes=[
        (local.max(0).values, Hint("column-maxima", "these are the column maxima (a reduction over dim=0), not "
                                                    "the row maxima (notebook section 5).")),
        (row_max[:, None], EXTRA_KEEPDIM),
        (row_max.clamp(min=0), Hint("running-max-from-zero", "your running maximum starts at 0, so rows whose "
                                                             "entries are all negative come out as 0.")),
        (local.max(), squeeze if n == 1 else Hint("max-without-dim", "x.max() with no dim is the maximum of the "
                                                                     "whole tensor, not one per row (notebook "
                                                                     "section 5).")),
    ])
    t.expect(indices, row_arg, ctx, what="indices (the column of each maximum)", dtype=torch.int64,
             dtype_reason="(indices are integers: max and argmax with a dim return them as int64).",
             mistakes=[
                 (local.argmax(0), Hint("column-maxima", "these are the row index of each column's maximum "
                                                         "(argmax over dim=0), not the column of each row's maximum.")),
                 (row_arg[:, None], EXTRA_KEEPDIM),
                 (local.argmax(), Hint("max-without-dim", "x.argmax() with no dim gives one index into the "
                                                          "flattened tensor, not one column index per row "
                                                          "(notebook section 5).")
                                  if n > 1 else Hint(squeeze.slug, squeeze.replace("values", "indices"))),
             ])

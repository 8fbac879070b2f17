"""Hidden checks for 01_tensor_ops: row_normalize, outer_sum, pairwise_sq_dists, batch_flatten,
max_per_row (see shared curriculum).

Each check first runs hand-picked inputs that expose the mistakes students make (a square
matrix for a reduction without keepdim, a transpose for view, a negative row for a max that
starts at 0), then property-based inputs. References are plain-Python arithmetic.
"""

from hypothesis import strategies as st

from .. import genuine as g
from ..compare import (CheckFailed, all_close, expect_tensor, flatten, fmt, fmt_shape,
                       require_tensor, shape_of_values, dtype_name)
from ..devices import dtypes_on
from ..properties import for_all, matrices, quarters
from ..runner import call

globals().update(g.B)  # builtins looked up here are the genuine ones pinned at import

TOL = {g.float32: (1e-5, 1e-6), g.float64: (1e-9, 1e-12)}


def context(call_text, device, dtype, **inputs):
    lines = [f"{call_text} on {device}, {dtype_name(dtype)}, with"]
    for name, values in inputs.items():
        lines.append(f"  {name} = {fmt(values)}  (shape {fmt_shape(shape_of_values(values))})")
    return "\n".join(lines)


def transpose(rows):
    return [list(col) for col in zip(*rows)]


# --- row_normalize ---------------------------------------------------------------------------

ROW_NORMALIZE_CASES = [
    [[1.0, 2.0, 3.0], [4.0, 5.0, 7.0]],
    [[1.0, 2.0, 1.0], [3.0, 3.0, 6.0], [2.0, 0.5, 1.5]],  # square: a missing keepdim is silent
    [[2.0, 6.0]],
    [[4.0], [0.5]],
    [[-1.0, 3.0, 2.0], [5.0, -2.0, 1.0]],
]

NO_KEEPDIM = ("the row sums x.sum(1) have shape (n,), and without keepdim=True they broadcast "
              "along the last dimension: entry (i, j) is divided by the sum of row j, which is "
              "silently wrong on a square matrix. Use x.sum(dim=1, keepdim=True) (or .unsqueeze(1)).")


def check_row_normalize(fn, device):
    for dtype in dtypes_on(device):
        rtol, atol = TOL[dtype]

        def case(x):
            row_sums = [sum(row) for row in x]
            col_sums = [sum(col) for col in transpose(x)]
            total = sum(row_sums)
            expected = [[v / s for v in row] for row, s in zip(x, row_sums)]
            mistakes = [
                ([[v / col_sums[j] for j, v in enumerate(row)] for row in x],
                 "you divided by the column sums (x.sum(0), reducing over dim 0); a row's entries "
                 "run along dim 1, so sum over dim=1."),
                ([[v / total for v in row] for row in x],
                 "you divided by the sum of all entries (x.sum() with no dim); sum each row with dim=1."),
                ([[v / max(row) for v in row] for row in x],
                 "you divided by the row maximum; divide by the row sum."),
                ([[v / sum(abs(u) for u in row) for v in row] for row in x],
                 "you divided by the sum of absolute values (an L1 norm, as F.normalize(x, p=1) "
                 "does); that differs from the row sum when a row has negative entries."),
            ]
            if len(x) == len(x[0]):
                mistakes.insert(0, ([[v / row_sums[j] for j, v in enumerate(row)] for row in x], NO_KEEPDIM))
            ctx = context("row_normalize(x)", device, dtype, x=x)
            out = call(fn, (g.tensor(x, dtype, device),), ctx,
                       hints=[("must match the size", NO_KEEPDIM)])
            expect_tensor(out, expected, context=ctx, dtype=dtype, device=device, rtol=rtol,
                          atol=atol, mistakes=mistakes)

        for x in ROW_NORMALIZE_CASES:
            case(x)
        for_all(POSITIVE_MATRICES, case)


# --- outer_sum -------------------------------------------------------------------------------

OUTER_SUM_CASES = [
    ([1.0, 2.0], [10.0, 20.0, 30.0]),
    ([1.0, 2.0, 3.0], [10.0, 20.0, 40.0]),  # square: a transposed result has the right shape
    ([5.0], [1.0, 2.0, 3.0]),
    ([1.0, -2.0, 3.0], [4.0]),
]

ELEMENTWISE = ("a + b on two 1-D tensors adds them elementwise (or fails when the lengths "
               "differ). To add every pair, make a a column so it broadcasts against b: "
               "a[:, None] + b (or a.unsqueeze(1) + b).")


def check_outer_sum(fn, device):
    for dtype in dtypes_on(device):
        rtol, atol = TOL[dtype]

        def case(ab):
            a, b = ab
            expected = [[ai + bj for bj in b] for ai in a]
            mistakes = [
                ([[ai + bj for ai in a] for bj in b],
                 "the result is transposed: shape (m, n) with out[j, i] = a[i] + b[j]. Put a's "
                 "dimension first: a[:, None] + b[None, :]."),
                ([[ai * bj for bj in b] for ai in a],
                 "you multiplied (an outer product) instead of adding."),
            ]
            if len(a) == len(b):
                mistakes.append(([ai + bi for ai, bi in zip(a, b)], ELEMENTWISE))
            ctx = context("outer_sum(a, b)", device, dtype, a=a, b=b)
            out = call(fn, (g.tensor(a, dtype, device), g.tensor(b, dtype, device)), ctx,
                       hints=[("must match the size", ELEMENTWISE)])
            expect_tensor(out, expected, context=ctx, dtype=dtype, device=device, rtol=rtol,
                          atol=atol, mistakes=mistakes)

        for ab in OUTER_SUM_CASES:
            case(ab)
        for_all(VECTOR_PAIRS, case)


# --- pairwise_sq_dists -----------------------------------------------------------------------

PAIRWISE_CASES = [
    ([[0.0, 0.0], [1.0, 2.0]], [[1.0, 0.0], [0.0, 0.0], [3.0, 4.0]]),
    ([[1.0, 2.0], [-1.0, 0.5]], [[0.0, 1.0], [2.0, -3.0]]),  # square: a transpose keeps the shape
    ([[3.0], [-1.0], [0.5]], [[1.0], [2.0]]),
    ([[10.0, -10.0, 10.0]], [[-10.0, 10.0, -10.0], [10.0, -10.0, 9.5]]),
]

PAIRWISE_TOL = {g.float32: (1e-4, 1e-4), g.float64: (1e-9, 1e-9)}

ROWWISE = ("a - b subtracts row i of b from row i of a only (and fails when n != m). Insert "
           "dimensions so that every pair meets: a[:, None, :] - b[None, :, :] has shape (n, m, d); "
           "then square and sum over the last dimension.")


@st.composite
def point_sets(draw):
    d = draw(st.integers(1, 4))
    a = draw(matrices(rows=(1, 5), cols=(d, d)))
    b = draw(matrices(rows=(1, 5), cols=(d, d)))
    return a, b


def check_pairwise_sq_dists(fn, device):
    for dtype in dtypes_on(device):
        rtol, atol = PAIRWISE_TOL[dtype]

        def case(ab):
            a, b = ab
            diffs = [[[ai - bj for ai, bj in zip(p, q)] for q in b] for p in a]
            expected = [[sum(d * d for d in pair) for pair in row] for row in diffs]
            mistakes = [
                ([[v ** 0.5 for v in row] for row in expected],
                 "these are Euclidean distances (with a square root, like torch.cdist); the "
                 "exercise asks for squared distances."),
                ([[sum(abs(d) for d in pair) for pair in row] for row in diffs],
                 "you summed absolute differences (L1 distance); square the differences instead."),
                ([[sum(pair) for pair in row] for row in diffs],
                 "you summed the differences without squaring them."),
                (transpose(expected),
                 "the result is transposed: shape (m, n). Row i must hold the distances from a[i]."),
                ([[sum(x * y for x, y in zip(p, q)) for q in b] for p in a],
                 "these are dot products a @ b.T; the squared distance is |a|^2 + |b|^2 - 2 a.b."),
                ([[sum(x * x for x in p) + sum(y * y for y in q) - sum(x * y for x, y in zip(p, q))
                   for q in b] for p in a],
                 "the expansion |a|^2 + |b|^2 - 2 a.b is missing its factor 2."),
            ]
            if len(a) == len(b):
                mistakes.append(([sum((x - y) ** 2 for x, y in zip(p, q)) for p, q in zip(a, b)], ROWWISE))
            ctx = context("pairwise_sq_dists(a, b)", device, dtype, a=a, b=b)
            out = call(fn, (g.tensor(a, dtype, device), g.tensor(b, dtype, device)), ctx,
                       hints=[("must match the size", ROWWISE)])
            expect_tensor(out, expected, context=ctx, dtype=dtype, device=device, rtol=rtol,
                          atol=atol, mistakes=mistakes)

        for ab in PAIRWISE_CASES:
            case(ab)
        for_all(POINT_SETS, case)


# --- batch_flatten ---------------------------------------------------------------------------

# (shape of the tensor built, how it is made non-contiguous or None)
BATCH_FLATTEN_CASES = [
    ((2, 3, 4), None),
    ((1, 3, 2), None),            # batch of one: squeeze() would drop it
    ((3, 4), None),
    ((2, 1, 3, 1), None),         # size-1 dimensions
    ((2, 4, 3), ("transpose", 1, 2)),
    ((4, 2, 3), ("transpose", 0, 1)),
    ((2, 6, 2), ("step", 1)),
    ((3, 2), ("transpose", 0, 1)),
    ((2, 3, 2, 2), ("permute", (0, 3, 1, 2))),
]

NOT_CONTIGUOUS = ("view() cannot reshape a tensor whose memory is not laid out row by row (a "
                  "transpose, permutation or strided slice). Use reshape() (or torch.flatten(x, 1)), "
                  "which returns a view when it can and a copy when it must.")
SENTINEL = 1000.0


def build(shape, how, dtype, device):
    count = 1
    for s in shape:
        count *= s
    t = g.TB.reshape(g.VF.arange(count, dtype=dtype, device=device), shape)
    t = g.TB.add(t, 0.5)
    if how is None:
        return t
    if how[0] == "transpose":
        return g.TB.transpose(t, how[1], how[2])
    if how[0] == "permute":
        return g.TB.permute(t, how[1])
    steps = [slice(None)] * len(shape)
    steps[how[1]] = slice(None, None, 2)  # every other entry along one dim
    return g.TB.__getitem__(t, tuple(steps))


def check_batch_flatten(fn, device):
    for dtype in dtypes_on(device):
        for shape, how in BATCH_FLATTEN_CASES:
            x = build(shape, how, dtype, device)
            values = g.to_list(x)
            expected = [flatten(sample) for sample in values]
            ctx = context("batch_flatten(x)", device, dtype, x=values)
            if how is not None:
                ctx += f"\n  (x is not contiguous: made with {how[0]})"
            out = call(fn, (x,), ctx, hints=[("view size is not compatible", NOT_CONTIGUOUS)])
            require_tensor(out, "the result", ctx)
            got = g.to_list(out)
            hint = None
            if g.shape_of(out) == (len(flatten(values)),) and shape[0] == 1:
                hint = ("the batch dimension of size 1 is gone: squeeze() (or flatten()) drops it. "
                        "Keep dim 0 whatever its size: x.reshape(x.shape[0], -1).")
            elif g.shape_of(out) == (len(flatten(values)),):
                hint = ("you flattened the batch dimension too; keep dim 0: "
                        "x.reshape(x.shape[0], -1) or torch.flatten(x, start_dim=1).")
            elif sorted(flatten(got)) == sorted(flatten(expected)) and flatten(got) != flatten(expected):
                hint = ("the values are all there but not in row-major order: did you transpose "
                        "or permute before flattening, or flatten with the sizes swapped?")
            mistakes = [(got, hint)] if hint else []
            expect_tensor(out, expected, context=ctx, dtype=dtype, device=device, rtol=0, atol=0,
                          mistakes=mistakes)
            if how is None:
                expect_view(out, x, ctx)


def expect_view(out, x, ctx):
    """Writing through the result of a contiguous input must change the input."""
    rows, cols = g.shape_of(out)
    b, k = rows - 1, cols - 1
    try:
        g.TB.fill_(g.TB.select(g.TB.select(out, 0, b), 0, k), SENTINEL)
    except Exception as exc:
        raise CheckFailed(f"{ctx}\nwriting into the result failed ({g.type_(exc).__name__}: {exc})") from None
    if flatten(g.to_list(x))[b * cols + k] != SENTINEL:
        raise CheckFailed(
            f"{ctx}\nx is contiguous, so the result must be a view of x that shares its memory: "
            f"writing {SENTINEL} into result[{b}, {k}] should change x, but x did not change.\n"
            "Likely mistake: the result is a copy (from .clone(), torch.tensor(...), a new tensor "
            "filled in a loop, or .contiguous() on a copy). x.reshape(x.shape[0], -1), "
            "x.view(x.shape[0], -1) and torch.flatten(x, 1) all return views here.")


# --- max_per_row -----------------------------------------------------------------------------

MAX_PER_ROW_CASES = [
    [[1.0, 5.0, 2.0], [7.0, 3.0, 4.0]],
    [[3.0, 1.0, 2.0], [0.0, 5.0, 4.0], [6.0, 8.0, 7.0]],  # square: column maxima fit the shape
    [[2.5]],
    [[1.0], [3.0]],
    [[-3.0, -1.0, -2.0], [-0.5, -4.0, -6.0]],  # all negative: a running max must not start at 0
]


def argmax(row):
    best = 0
    for j, v in enumerate(row):
        if v > row[best]:
            best = j
    return best


def check_max_per_row(fn, device):
    for dtype in dtypes_on(device):

        def case(x):
            ctx = context("max_per_row(x)", device, dtype, x=x)
            result = call(fn, (g.tensor(x, dtype, device),), ctx)
            if g.is_tensor(result):
                raise CheckFailed(f"{ctx}\nIt returned one tensor, {fmt(g.to_list(result))}, but it "
                                  "must return a pair (values, indices). Likely mistake: x.argmax(1) "
                                  "or x.max() gives only one of them; x.max(dim=1) gives both.")
            if not isinstance(result, tuple) or len(result) != 2:
                raise CheckFailed(f"{ctx}\nIt must return a tuple (values, indices), but it returned "
                                  f"a {g.type_(result).__name__}"
                                  + (f" of length {len(result)}" if isinstance(result, (list, tuple)) else "")
                                  + ".")
            values, indices = result[0], result[1]
            require_tensor(values, "values (the first element)", ctx)
            require_tensor(indices, "indices (the second element)", ctx)
            if g.dtype_of(values) == g.int64 and g.dtype_of(indices) != g.int64:
                raise CheckFailed(f"{ctx}\nThe pair is in the wrong order: it returned (indices, "
                                  "values); return (values, indices), as x.max(dim=1) does.")
            cols = transpose(x)
            col_best = [argmax(c) for c in cols]
            expect_tensor(values, [max(r) for r in x], context=ctx, dtype=dtype, device=device,
                          rtol=0, atol=0, what="values (the row maxima)", mistakes=[
                              ([max(c) for c in cols], "these are the column maxima (dim=0); the "
                               "maximum of each row is over dim=1."),
                              ([[max(r)] for r in x], "keepdim=True keeps shape (n, 1); return "
                               "shape (n,)."),
                              ([max(0.0, max(r)) for r in x], "your running maximum starts at 0, "
                               "so rows whose entries are all negative come out as 0."),
                              (max(max(r) for r in x), "x.max() with no dim is the maximum of the "
                               "whole tensor; use dim=1."),
                          ])
            expect_tensor(indices, [argmax(r) for r in x], context=ctx, dtype=g.int64,
                          device=device, rtol=0, atol=0, what="indices (the column of each maximum)",
                          dtype_reason="(indices are integers: x.max(dim=1) and x.argmax(dim=1) "
                                       "return int64).",
                          mistakes=[
                              (col_best, "these are the row index of each column's maximum "
                               "(argmax over dim=0); use dim=1."),
                              ([[j] for j in (argmax(r) for r in x)], "keepdim=True keeps shape "
                               "(n, 1); return shape (n,)."),
                          ])

        for x in MAX_PER_ROW_CASES:
            case(x)
        for_all(DISTINCT_ROW_MATRICES, case)


# Strategies are built once, at import, so later changes to hypothesis.strategies don't reach them.
POSITIVE_MATRICES = matrices(values=quarters(0.25, 10))
VECTOR_PAIRS = st.tuples(st.lists(quarters(-10, 10), min_size=1, max_size=6),
                         st.lists(quarters(-10, 10), min_size=1, max_size=6))
POINT_SETS = point_sets()
DISTINCT_ROW_MATRICES = matrices(values=quarters(-10, 10), unique_rows=True)
STRATEGIES = [POSITIVE_MATRICES, VECTOR_PAIRS, POINT_SETS, DISTINCT_ROW_MATRICES]

CHECKS = {
    "row_normalize": check_row_normalize,
    "outer_sum": check_outer_sum,
    "pairwise_sq_dists": check_pairwise_sq_dists,
    "batch_flatten": check_batch_flatten,
    "max_per_row": check_max_per_row,
}

"""Gallery for the hidden checks of 01_tensor_ops (autograder/judge/exercises/tensor_ops.py).

1. Alternative correct solutions, written the ways students write them: every one must pass.
2. Wrong solutions of the kinds students write: every one must fail (not as tampering: an
   honest mistake is not cheating), and the message must name the mistake.
3. Answers only a cheat sends (tensor subclasses that agree with anything, look-alikes).

Inputs are never built here: the judge generates them (hand-picked cases, then Hypothesis).
Every test runs twice: with Hypothesis drawing the examples, and with the examples recorded
once and replayed (as in the judge server's forks); both must agree. Attacks on the grader
itself run against real processes in test_tampering.py.
"""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn  # noqa: F401

from autograder.judge import properties
from autograder.judge.exercises import strategies

from judging import AlwaysEqual, PosesAsTensor, cases, failure_of, gallery_tests, rows, stub

# =============================================================================================
# row_normalize
# =============================================================================================

def rn_keepdim(x):
    return x / x.sum(dim=1, keepdim=True)


def rn_unsqueeze(x):
    return x / x.sum(1).unsqueeze(1)


def rn_none_index(x):
    return x / x.sum(1)[:, None]


def rn_stack_rows(x):
    return torch.stack([row / row.sum() for row in x])


def rn_einsum(x):
    return x / torch.einsum("ij->i", x).unsqueeze(-1)


def rn_expand_as(x):
    return x / x.sum(-1, keepdim=True).expand_as(x)


def rn_double_transpose(x):
    return (x.T / x.sum(1)).T


def rn_reciprocal(x):
    return x * x.sum(1, keepdim=True).reciprocal()


def rn_torch_div_view(x):
    return torch.div(x, x.sum(1).view(-1, 1))


def rn_matmul_ones(x):
    ones = torch.ones(x.shape[1], 1, dtype=x.dtype, device=x.device)
    return x / (x @ ones)


ROW_NORMALIZE_OK = [
    ("sum_keepdim", rn_keepdim),
    ("sum_unsqueeze1", rn_unsqueeze),
    ("sum_none_index", rn_none_index),
    ("loop_rows_torch_stack", rn_stack_rows),
    ("einsum_row_sums", rn_einsum),
    ("expand_as", rn_expand_as),
    ("double_transpose", rn_double_transpose),
    ("times_reciprocal", rn_reciprocal),
    ("torch_div_view_column", rn_torch_div_view),
    ("matmul_with_ones_column", rn_matmul_ones),
]


def rn_no_keepdim(x):
    return x / x.sum(1)


def rn_no_keepdim_unsqueeze0(x):
    return x / x.sum(1).unsqueeze(0)


def rn_column_sums(x):
    return x / x.sum(0)


def rn_column_sums_keepdim(x):
    return x / x.sum(dim=0, keepdim=True)


def rn_total_sum(x):
    return x / x.sum()


def rn_row_max(x):
    return x / x.max(1, keepdim=True).values


def rn_float(x):
    return (x / x.sum(1, keepdim=True)).float()


def rn_l1_normalize(x):
    # divides by the sum of |x|: wrong on rows with negative entries
    return F.normalize(x, p=1, dim=1)


def rn_nested_list(x):
    return [[v / sum(row) for v in row] for row in x.tolist()]


ROW_NORMALIZE_WRONG = [
    ("no_keepdim", rn_no_keepdim, "keepdim"),
    ("no_keepdim_unsqueeze0", rn_no_keepdim_unsqueeze0, "keepdim"),
    ("column_sums", rn_column_sums, "column sums"),
    ("column_sums_keepdim", rn_column_sums_keepdim, "column sums"),
    ("sum_of_everything", rn_total_sum, "sum of all entries"),
    ("row_max", rn_row_max, "row maximum"),
    ("dot_float_on_float64", rn_float, "dtype float32, expected float64"),
    ("F_normalize_p1_abs_sums", rn_l1_normalize, "wrong values"),
    ("returns_nested_list", rn_nested_list, "should be a torch.Tensor"),
    ("stub", stub, "NotImplementedError"),
]


# =============================================================================================
# outer_sum
# =============================================================================================

def os_none_index(a, b):
    return a[:, None] + b


def os_unsqueeze(a, b):
    return a.unsqueeze(1) + b.unsqueeze(0)


def os_view(a, b):
    return a.view(-1, 1) + b.view(1, -1)


def os_expand(a, b):
    return a.unsqueeze(1).expand(-1, len(b)) + b.expand(len(a), -1)


def os_expand_as(a, b):
    col = a[:, None].expand(a.shape[0], b.shape[0])
    return col + b.expand_as(col)


def os_stack_rows(a, b):
    return torch.stack([ai + b for ai in a])


def os_einsum(a, b):
    return (torch.einsum("i,j->ij", a, torch.ones_like(b))
            + torch.einsum("i,j->ij", torch.ones_like(a), b))


def os_loop_fill(a, b):
    out = torch.empty(len(a), len(b), dtype=a.dtype, device=a.device)
    for i in range(len(a)):
        for j in range(len(b)):
            out[i, j] = a[i] + b[j]
    return out


def os_repeat(a, b):
    return a.reshape(-1, 1).repeat(1, len(b)) + b.repeat(len(a), 1)


def os_torch_add(a, b):
    return torch.add(a[:, None], b[None, :])


OUTER_SUM_OK = [
    ("none_index", os_none_index),
    ("unsqueeze_both", os_unsqueeze),
    ("view_column_and_row", os_view),
    ("explicit_expand", os_expand),
    ("expand_as", os_expand_as),
    ("loop_rows_torch_stack", os_stack_rows),
    ("einsum_with_ones", os_einsum),
    ("loop_fill_empty_like_dtype", os_loop_fill),
    ("repeat", os_repeat),
    ("torch_add", os_torch_add),
]


def os_elementwise(a, b):
    return a + b


def os_both_rows(a, b):
    return a.unsqueeze(0) + b.unsqueeze(0)


def os_transposed(a, b):
    return b[:, None] + a


def os_transposed_row_col(a, b):
    return a[None, :] + b[:, None]


def os_product(a, b):
    return a[:, None] * b


def os_torch_outer(a, b):
    return torch.outer(a, b)


def os_zeros_default_dtype(a, b):
    out = torch.zeros(len(a), len(b))  # float32 whatever the inputs are
    for i in range(len(a)):
        out[i] = a[i] + b
    return out


def os_squeezed(a, b):
    return (a[:, None] + b[None, :]).squeeze()  # drops a dimension of size 1


OUTER_SUM_WRONG = [
    ("a_plus_b", os_elementwise, "elementwise"),
    ("both_unsqueezed_to_rows", os_both_rows, "elementwise"),
    ("transposed", os_transposed, "transposed"),
    ("transposed_row_col", os_transposed_row_col, "transposed"),
    ("product_not_sum", os_product, "multiplied"),
    ("torch_outer", os_torch_outer, "multiplied"),
    ("zeros_default_float32", os_zeros_default_dtype, "dtype float32, expected float64"),
    ("squeeze_drops_a_size_one_dimension", os_squeezed, "a squeeze() dropped a size-1 dimension"),
    ("stub", stub, "NotImplementedError"),
]


# =============================================================================================
# pairwise_sq_dists
# =============================================================================================

def pd_broadcast(a, b):
    return ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)


def pd_unsqueeze_pow(a, b):
    return (a.unsqueeze(1) - b.unsqueeze(0)).pow(2).sum(dim=2)


def pd_cdist_squared(a, b):
    return torch.cdist(a, b) ** 2


def pd_expansion_keepdim(a, b):
    return (a ** 2).sum(1, keepdim=True) + (b ** 2).sum(1) - 2 * a @ b.T


def pd_expansion_mm(a, b):
    return a.pow(2).sum(1).unsqueeze(1) + b.pow(2).sum(1).unsqueeze(0) - 2 * torch.mm(a, b.t())


def pd_expansion_einsum(a, b):
    aa = torch.einsum("id,id->i", a, a)
    bb = torch.einsum("jd,jd->j", b, b)
    return aa[:, None] + bb[None, :] - 2 * torch.einsum("id,jd->ij", a, b)


def pd_expansion_addmm_clamped(a, b):
    norms = (a * a).sum(-1)[:, None] + (b * b).sum(-1)[None, :]
    return torch.addmm(norms, a, b.T, alpha=-2).clamp_min(0)


def pd_loop_rows(a, b):
    return torch.stack([((b - p) ** 2).sum(1) for p in a])


def pd_einsum_diff(a, b):
    diff = a[:, None] - b[None]
    return torch.einsum("ijk,ijk->ij", diff, diff)


def pd_norm_squared(a, b):
    return torch.linalg.vector_norm(a[:, None] - b[None], dim=-1) ** 2


PAIRWISE_OK = [
    ("broadcast_none_index", pd_broadcast),
    ("unsqueeze_pow", pd_unsqueeze_pow),
    ("cdist_squared", pd_cdist_squared),
    ("expansion_keepdim_matmul", pd_expansion_keepdim),
    ("expansion_unsqueeze_mm", pd_expansion_mm),
    ("expansion_einsum", pd_expansion_einsum),
    ("expansion_addmm_clamp", pd_expansion_addmm_clamped),
    ("loop_rows_torch_stack", pd_loop_rows),
    ("einsum_of_differences", pd_einsum_diff),
    ("vector_norm_squared", pd_norm_squared),
]


def pd_cdist(a, b):
    return torch.cdist(a, b)


def pd_cdist_l1(a, b):
    return torch.cdist(a, b, p=1)


def pd_abs_diffs(a, b):
    return (a[:, None] - b[None]).abs().sum(-1)


def pd_no_factor_2(a, b):
    return (a ** 2).sum(1, keepdim=True) + (b ** 2).sum(1) - a @ b.T


def pd_transposed(a, b):
    return ((b[:, None] - a[None]) ** 2).sum(-1)


def pd_dot_products(a, b):
    return a @ b.T


def pd_rowwise(a, b):
    return ((a - b) ** 2).sum(1)


def pd_not_squared(a, b):
    return (a[:, None] - b[None]).sum(-1)


def pd_float(a, b):
    return (torch.cdist(a, b) ** 2).float()


def pd_squeeze_last(a, b):
    # drops the last dimension when b holds one point: (n,) instead of (n, 1)
    return ((a[:, None] - b[None]) ** 2).sum(-1).squeeze(-1)


PAIRWISE_WRONG = [
    ("cdist_without_square", pd_cdist, "square root"),
    ("cdist_p1", pd_cdist_l1, "L1"),
    ("abs_differences", pd_abs_diffs, "L1"),
    ("expansion_missing_factor_2", pd_no_factor_2, "factor 2"),
    ("transposed", pd_transposed, "transposed"),
    ("dot_products_only", pd_dot_products, "dot products"),
    ("rowwise_a_minus_b", pd_rowwise, "a - b subtracts row i"),
    ("differences_not_squared", pd_not_squared, "without squaring"),
    ("dot_float_on_float64", pd_float, "dtype float32, expected float64"),
    ("squeeze_last_dim_drops_m_equal_1", pd_squeeze_last, "has shape (3,), expected (3, 1)"),
    ("stub", stub, "NotImplementedError"),
]


# =============================================================================================
# batch_flatten
# =============================================================================================

def bf_torch_flatten(x):
    return torch.flatten(x, 1)


def bf_method_flatten(x):
    return x.flatten(start_dim=1)


def bf_contiguous_view(x):
    return x.contiguous().view(x.size(0), -1)


def bf_reshape_len(x):
    return x.reshape(len(x), -1)


def bf_reshape_prod(x):
    return x.reshape(x.shape[0], math.prod(x.shape[1:]))


def bf_reshape_numel(x):
    return torch.reshape(x, (x.shape[0], x[0].numel()))


def bf_nn_flatten(x):
    return nn.Flatten()(x)


def bf_view_if_contiguous(x):
    if x.is_contiguous():
        return x.view(x.size(0), -1)
    return x.reshape(x.size(0), -1)


def bf_view_numel(x):
    return x.contiguous().view(-1, x.numel() // x.shape[0])


BATCH_FLATTEN_OK = [
    ("torch_flatten_1", bf_torch_flatten),
    ("flatten_start_dim", bf_method_flatten),
    ("contiguous_then_view", bf_contiguous_view),
    ("reshape_len_x", bf_reshape_len),
    ("reshape_math_prod", bf_reshape_prod),
    ("torch_reshape_first_numel", bf_reshape_numel),
    ("nn_Flatten", bf_nn_flatten),
    ("view_if_contiguous_else_reshape", bf_view_if_contiguous),
    ("contiguous_view_minus1_rows", bf_view_numel),
]


def bf_view(x):
    return x.view(x.size(0), -1)


def bf_clone(x):
    return x.reshape(len(x), -1).clone()


def bf_loop_stack(x):
    # a new tensor built sample by sample: right values, but not a view of x
    return torch.stack([sample.reshape(-1) for sample in x])


def bf_torch_tensor_copy(x):
    return torch.tensor(x.tolist(), dtype=x.dtype, device=x.device).reshape(x.shape[0], -1)


def bf_full_flatten(x):
    return x.flatten()


def bf_squeeze(x):
    return x.reshape(x.size(0), -1).squeeze()


def bf_swapped_last_dims(x):
    return x.transpose(-1, -2).reshape(x.shape[0], -1)


def bf_sizes_swapped(x):
    return x.reshape(-1, x.shape[0])


def bf_float(x):
    return x.reshape(len(x), -1).float()


def bf_floats_only(x):
    # right for float inputs; turns an integer input into float32 (the contract admits any dtype)
    return x.reshape(len(x), -1).to(x.dtype if x.is_floating_point() else torch.float32)


BATCH_FLATTEN_WRONG = [
    ("view_on_non_contiguous", bf_view, "view() cannot reshape"),
    ("clone_copy", bf_clone, "must be a view of x"),
    ("loop_torch_stack_copy", bf_loop_stack, "must be a view of x"),
    ("torch_tensor_copy", bf_torch_tensor_copy, "must be a view of x"),
    ("flattens_batch_too", bf_full_flatten, "flattened the batch dimension too"),
    ("squeeze_drops_batch_of_one", bf_squeeze, "has shape (6,), expected (1, 6)"),
    ("transposed_before_flatten", bf_swapped_last_dims, "not in row-major order"),
    ("reshape_sizes_swapped", bf_sizes_swapped, "has shape (12, 2), expected (2, 12)"),
    ("dot_float_on_float64", bf_float, "dtype float32, expected float64"),
    ("int64_input_made_float", bf_floats_only, "dtype float32, expected int64"),
    ("stub", stub, "NotImplementedError"),
]


# =============================================================================================
# max_per_row
# =============================================================================================

def mx_torch_max(x):
    return torch.max(x, 1)


def mx_method_dim_kw(x):
    return x.max(dim=-1)


def mx_values_argmax_tuple(x):
    return (x.max(1).values, x.argmax(1))


def mx_tuple_of_namedtuple(x):
    values, indices = x.max(1)
    return values, indices


def mx_sort(x):
    values, indices = x.sort(dim=1, descending=True)
    return values[:, 0], indices[:, 0]


def mx_topk(x):
    values, indices = x.topk(1, dim=1)
    return values.squeeze(1), indices.squeeze(1)


def mx_gather(x):
    idx = x.argmax(1)
    return x.gather(1, idx[:, None]).squeeze(1), idx


def mx_fancy_index(x):
    idx = torch.argmax(x, dim=1)
    return x[torch.arange(len(x), device=x.device), idx], idx


def mx_manual_loop(x):
    values, indices = [], []
    for row in x.tolist():
        best = max(row)
        values.append(best)
        indices.append(row.index(best))
    return (torch.tensor(values, dtype=x.dtype, device=x.device),
            torch.tensor(indices, device=x.device))


def mx_stack_rows(x):
    return torch.stack([row.max() for row in x]), torch.stack([row.argmax() for row in x])


MAX_PER_ROW_OK = [
    ("torch_max_dim1", mx_torch_max),
    ("method_max_dim_minus1", mx_method_dim_kw),
    ("values_and_argmax_plain_tuple", mx_values_argmax_tuple),
    ("unpacked_namedtuple", mx_tuple_of_namedtuple),
    ("sort_descending_first_column", mx_sort),
    ("topk_1_squeeze1", mx_topk),
    ("argmax_then_gather", mx_gather),
    ("argmax_then_fancy_index", mx_fancy_index),
    ("manual_row_loop_torch_tensor", mx_manual_loop),
    ("loop_rows_torch_stack", mx_stack_rows),
]


def mx_dim0(x):
    return x.max(0)


def mx_argmax_only(x):
    return x.argmax(1)


def mx_whole_max(x):
    return x.max()


def mx_swapped(x):
    values, indices = x.max(1)
    return indices, values


def mx_keepdim(x):
    return x.max(1, keepdim=True)


def mx_running_max_from_zero(x):
    values, indices = [], []
    for row in x.tolist():
        best, where = 0.0, 0
        for j, v in enumerate(row):
            if v > best:
                best, where = v, j
        values.append(best)
        indices.append(where)
    return (torch.tensor(values, dtype=x.dtype, device=x.device),
            torch.tensor(indices, device=x.device))


def mx_float_indices(x):
    values, indices = x.max(1)
    return values, indices.float()


def mx_argmax_dim0(x):
    return x.max(1).values, x.argmax(0)


def mx_list_pair(x):
    values, indices = x.max(1)
    return [values, indices]


def mx_float_values(x):
    values, indices = x.max(1)
    return values.float(), indices


MAX_PER_ROW_WRONG = [
    ("max_over_dim0", mx_dim0, "column maxima"),
    ("argmax_only", mx_argmax_only, "must return a pair"),
    ("max_of_everything", mx_whole_max, "must return a pair"),
    ("swapped_pair", mx_swapped, "wrong order"),
    ("keepdim_true", mx_keepdim, "keepdim"),
    ("running_max_starts_at_0", mx_running_max_from_zero, "starts at 0"),
    ("float_indices", mx_float_indices, "indices are integers"),
    ("argmax_over_dim0", mx_argmax_dim0, "argmax over dim=0"),
    ("list_instead_of_tuple", mx_list_pair, "must return a tuple"),
    ("dot_float_on_float64", mx_float_values, "dtype float32, expected float64"),
    ("stub", stub, "NotImplementedError"),
]


# =============================================================================================
# 1 and 2: the gallery (tests/judging.py defines the tests every gallery has)
# =============================================================================================

CORRECT = (rows("row_normalize", ROW_NORMALIZE_OK) + rows("outer_sum", OUTER_SUM_OK)
           + rows("pairwise_sq_dists", PAIRWISE_OK) + rows("batch_flatten", BATCH_FLATTEN_OK)
           + rows("max_per_row", MAX_PER_ROW_OK))
WRONG = (rows("row_normalize", ROW_NORMALIZE_WRONG) + rows("outer_sum", OUTER_SUM_WRONG)
         + rows("pairwise_sq_dists", PAIRWISE_WRONG) + rows("batch_flatten", BATCH_FLATTEN_WRONG)
         + rows("max_per_row", MAX_PER_ROW_WRONG))

gallery_tests(globals(), "01_tensor_ops", CORRECT, WRONG)


def test_recorded_examples_are_the_ones_hypothesis_draws():
    properties.forget()
    properties.record(strategies())
    for strategy in strategies():
        seen = []
        properties._hypothesis(strategy, seen.append)
        assert properties.recorded(strategy) == seen
    properties.forget()


@pytest.mark.parametrize(
    "exercise, fn, call_text",
    cases([
        ("row_normalize", "row_normalize", rn_column_sums,
         "row_normalize(x) on cpu, float32, with"),
        ("outer_sum", "outer_sum", os_transposed, "outer_sum(a, b) on cpu, float32, with"),
        ("pairwise_sq_dists", "pairwise_sq_dists", pd_cdist,
         "pairwise_sq_dists(a, b) on cpu, float32, with"),
        ("batch_flatten", "batch_flatten", bf_clone, "batch_flatten(x) on cpu, float32, with"),
        ("max_per_row", "max_per_row", mx_swapped, "max_per_row(x) on cpu, float32, with"),
    ]),
)
def test_message_names_the_input(exercise, fn, call_text):
    message = failure_of(exercise, fn)["message"]
    assert message.startswith(call_text), message
    assert "\n  x = [" in message or "\n  a = [" in message, message


def test_message_shows_expected_and_got_values():
    message = failure_of("row_normalize", rn_column_sums)["message"]
    assert "  expected: [" in message and "  got:      [" in message, message


# =============================================================================================
# 3. Answers only a cheat sends
# =============================================================================================


class LookAlike:
    """Not a tensor at all, but has the attributes a naive check would read."""
    shape = (2, 3)
    dtype = torch.float32
    device = torch.device("cpu")

    def __eq__(self, other):
        return True

    def __array__(self, *args, **kwargs):
        raise TypeError("no")


@pytest.mark.parametrize(
    "exercise, fn",
    cases([
        ("row_normalize_always_equal", "row_normalize",
         lambda x: (x / x.sum()).as_subclass(AlwaysEqual)),
        ("row_normalize_always_equal_correct_values", "row_normalize",
         lambda x: (x / x.sum(1, keepdim=True)).as_subclass(AlwaysEqual)),
        ("row_normalize_poses_as_tensor", "row_normalize",
         lambda x: (x / x.sum(0)).as_subclass(PosesAsTensor)),
        ("outer_sum_always_equal", "outer_sum",
         lambda a, b: torch.zeros(len(a), len(b), dtype=a.dtype).as_subclass(AlwaysEqual)),
        ("pairwise_always_equal", "pairwise_sq_dists",
         lambda a, b: torch.cdist(a, b).as_subclass(AlwaysEqual)),
        ("batch_flatten_always_equal_view", "batch_flatten",
         lambda x: x.reshape(len(x), -1).as_subclass(AlwaysEqual)),
        ("max_per_row_always_equal_pair", "max_per_row",
         lambda x: (x.max(0).values.as_subclass(AlwaysEqual),
                    x.argmax(0).as_subclass(AlwaysEqual))),
    ]),
)
def test_tensor_subclass_results_are_rejected(exercise, fn):
    result = failure_of(exercise, fn)
    assert result["status"] == "tampering", result["message"]
    assert "subclass of torch.Tensor" in result["message"]


def test_max_per_row_returning_one_fake_tensor_is_rejected():
    result = failure_of("max_per_row", lambda x: x.max(1).values.as_subclass(AlwaysEqual))
    assert "must return a pair" in result["message"] or result["status"] == "tampering", result


def test_look_alike_object_is_rejected():
    result = failure_of("row_normalize", lambda x: LookAlike())
    assert "should be a torch.Tensor, but it is a LookAlike" in result["message"], result


# =============================================================================================
# Hypothesis's own failure modes still end in a failure
# =============================================================================================

def rn_two_bugs(x):
    """Passes every hand-picked case; wrong in two different ways on larger inputs."""
    out = x / x.sum(1, keepdim=True)
    if x.shape[0] >= 4:
        return out[:-1]   # wrong shape
    if x.shape[1] >= 4:
        return out * 2    # wrong values
    return out


def make_flaky():
    calls = [0]

    def rn_flaky(x):
        calls[0] += 1
        out = x / x.sum(1, keepdim=True)
        return out * 2 if calls[0] % 7 == 0 and x.shape[0] >= 3 else out
    return rn_flaky


def test_two_distinct_failures_still_raise_checkfailed():
    failure_of("row_normalize", rn_two_bugs)


def test_flaky_submission_still_raises_checkfailed():
    failure_of("row_normalize", make_flaky())

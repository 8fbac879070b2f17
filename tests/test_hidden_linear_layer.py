"""Gallery for the hidden checks of 03_linear_layer (autograder/judge/exercises/linear_layer.py).

1. Alternative correct solutions, written the ways students write them: every one must pass.
2. Wrong solutions of the kinds students write: every one must fail (not as tampering: an
   honest mistake is not cheating), and the message must name the mistake.
3. Answers only a cheat sends (tensor subclasses that agree with anything, look-alikes).

Inputs and fixtures are never built here: the judge generates them (hand-picked cases, then
Hypothesis) and asks the candidate to build modules. Every test runs twice: with Hypothesis
drawing the examples, and with the examples recorded once and replayed (as in the judge
server's forks); both must agree. load_from_nn_linear is defined in terms of MyLinear, so its
solutions are judged with a correct MyLinear beside them (and once with a wrong one).
"""

import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from autograder.judge import hidden_tests
from autograder.judge.compare import CheckFailed

from judging import AlwaysEqual, PosesAsTensor, failure_of, gallery_tests, rows, stub, verdict

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # .grad of a non-leaf, read when described


def uniform(*shape, k):
    return (torch.rand(*shape) * 2 - 1) * k


# =============================================================================================
# linear_forward
# =============================================================================================

LINEAR_FORWARD_OK = [
    ("matmul_operator", lambda x, W, b: x @ W + b),
    ("torch_matmul", lambda x, W, b: torch.matmul(x, W) + b),
    ("bias_first", lambda x, W, b: b + x @ W),
    ("einsum_ellipsis", lambda x, W, b: torch.einsum("...i,io->...o", x, W) + b),
    ("F_linear_with_W_T", lambda x, W, b: F.linear(x, W.T, b)),
    ("tensordot", lambda x, W, b: torch.tensordot(x, W, dims=1) + b),
    ("broadcast_multiply_sum", lambda x, W, b: (x.unsqueeze(-1) * W).sum(-2) + b),
    ("flatten_then_restore", lambda x, W, b: (x.reshape(-1, W.shape[0]) @ W + b).reshape(*x.shape[:-1], W.shape[1])),
    ("contiguous_view_then_restore", lambda x, W, b: (x.contiguous().view(-1, W.shape[0]) @ W + b).view(*x.shape[:-1], -1)),
    ("addmm_on_flattened", lambda x, W, b: torch.addmm(b, x.reshape(-1, W.shape[0]), W).reshape(*x.shape[:-1], -1)),
    ("column_by_column", lambda x, W, b: torch.stack([(x * W[:, j]).sum(-1) for j in range(W.shape[1])], -1) + b),
    ("expand_bias", lambda x, W, b: x @ W + b.expand(*x.shape[:-1], -1)),
    ("out_then_in_place_bias", lambda x, W, b: (x @ W).add_(b)),
]

LINEAR_FORWARD_WRONG = [
    ("W_transposed", lambda x, W, b: x @ W.T + b, "transpose"),
    ("F_linear_as_is", lambda x, W, b: F.linear(x, W, b), "transpose"),
    ("no_bias", lambda x, W, b: x @ W, "left out the bias"),
    ("minus_bias", lambda x, W, b: x @ W - b, "subtracted b"),
    ("torch_mm", lambda x, W, b: torch.mm(x, W) + b, "2-D matrices only"),
    ("torch_addmm", lambda x, W, b: torch.addmm(b, x, W), "2-D matrices only"),
    ("W_at_x", lambda x, W, b: W @ x + b, "wrong order"),
    ("flattened_batch", lambda x, W, b: x.reshape(-1, W.shape[0]) @ W + b, "flattened"),
    ("squeezed", lambda x, W, b: (x @ W + b).squeeze(), "squeeze()"),
    ("dot_float", lambda x, W, b: (x @ W + b).float(), "dtype float32, expected float64"),
    ("elementwise", lambda x, W, b: (x * W).sum(-1) + b, "entry by entry"),
    ("bias_as_column", lambda x, W, b: x @ W + b[:, None], "as a column"),
    ("loop_over_rows", lambda x, W, b: torch.stack([row @ W + b for row in x]), "single sample"),
    ("view_to_flatten", lambda x, W, b: (x.view(-1, W.shape[0]) @ W + b).view(*x.shape[:-1], -1), "not contiguous"),
    ("bias_changed_in_place", lambda x, W, b: x @ W + b.add_(1.0) - 1.0, "changed its input b"),
    ("x_scaled_in_place", lambda x, W, b: x.mul_(2.0) @ W / 2.0 + b, "changed its input x"),
    ("stub", stub, "NotImplementedError"),
]


# =============================================================================================
# my_linear
# =============================================================================================

class MyLinear(nn.Module):
    """The instructor's solution (also what load_from_nn_linear's solutions are judged with)."""

    def __init__(self, input_dim=3, output_dim=2):
        super().__init__()
        self.input_dim = input_dim
        self.output_dim = output_dim
        k = 1 / math.sqrt(input_dim)
        self.W = nn.Parameter(torch.empty(input_dim, output_dim).uniform_(-k, k))
        self.b = nn.Parameter(torch.empty(output_dim).uniform_(-k, k))

    def forward(self, x):
        return x @ self.W + self.b


class IntsBeforeSuper(nn.Module):
    def __init__(self, input_dim=3, output_dim=2):
        self.input_dim, self.output_dim = input_dim, output_dim  # plain ints may come first
        super().__init__()
        k = input_dim ** -0.5
        self.W = nn.Parameter(uniform(input_dim, output_dim, k=k))
        self.b = nn.Parameter(uniform(output_dim, k=k))

    def forward(self, x):
        return torch.matmul(x, self.W) + self.b


class InitUniform(nn.Module):
    def __init__(self, input_dim: int = 3, output_dim: int = 2) -> None:
        super().__init__()
        self.input_dim, self.output_dim = input_dim, output_dim
        self.W = nn.Parameter(torch.empty(input_dim, output_dim))
        self.b = nn.Parameter(torch.empty(output_dim))
        self.reset_parameters()

    def reset_parameters(self):
        k = 1 / math.sqrt(self.input_dim)
        nn.init.uniform_(self.W, -k, k)
        nn.init.uniform_(self.b, -k, k)

    def forward(self, x):
        return torch.einsum("...i,io->...o", x, self.W) + self.b


class Distribution(nn.Module):
    def __init__(self, input_dim=3, output_dim=2):
        super().__init__()
        self.input_dim, self.output_dim = input_dim, output_dim
        k = 1 / math.sqrt(input_dim)
        dist = torch.distributions.Uniform(-k, k)
        self.W = nn.Parameter(dist.sample((input_dim, output_dim)))
        self.b = nn.Parameter(dist.sample((output_dim,)))

    def forward(self, x):
        return F.linear(x, self.W.T, self.b)


class KaimingOnOutIn(nn.Module):
    """nn.Linear's own recipe, on an (out, in) tensor (where fan-in is dim 1), then transposed."""

    def __init__(self, input_dim=3, output_dim=2):
        super().__init__()
        self.input_dim, self.output_dim = input_dim, output_dim
        weight = torch.empty(output_dim, input_dim)
        nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
        self.W = nn.Parameter(weight.T.contiguous())
        k = 1 / math.sqrt(input_dim)
        self.b = nn.Parameter(torch.empty(output_dim).uniform_(-k, k))

    def forward(self, x):
        return x @ self.W + self.b


class FromNNLinear(nn.Module):
    def __init__(self, input_dim=3, output_dim=2):
        super().__init__()
        self.input_dim, self.output_dim = input_dim, output_dim
        template = nn.Linear(input_dim, output_dim)  # a local: not registered
        self.W = nn.Parameter(template.weight.detach().T.clone())
        self.b = nn.Parameter(template.bias.detach().clone())

    def forward(self, x):
        return x @ self.W + self.b


class RegisterParameter(nn.Module):
    def __init__(self, input_dim=3, output_dim=2):
        super().__init__()
        self.input_dim = int(input_dim)
        self.output_dim = int(output_dim)
        k = 1.0 / math.sqrt(self.input_dim)
        self.register_parameter("W", nn.Parameter(torch.rand(input_dim, output_dim).mul(2 * k).sub(k)))
        self.register_parameter("b", nn.Parameter(torch.rand(output_dim).mul(2 * k).sub(k)))

    def forward(self, x):
        out = x @ self.W
        return out + self.b


class NumpyRandom(nn.Module):
    """Not torch's generator (so manual_seed does not fix it): still different every time."""

    def __init__(self, input_dim=3, output_dim=2):
        super().__init__()
        self.input_dim, self.output_dim = input_dim, output_dim
        k = 1 / np.sqrt(input_dim)
        self.W = nn.Parameter(torch.from_numpy(np.random.uniform(-k, k, (input_dim, output_dim))).float())
        self.b = nn.Parameter(torch.from_numpy(np.random.uniform(-k, k, output_dim)).float())

    def forward(self, x):
        return torch.tensordot(x, self.W, dims=1) + self.b


class NoGradInPlace(nn.Module):
    def __init__(self, input_dim=3, output_dim=2):
        super().__init__()
        self.input_dim, self.output_dim = input_dim, output_dim
        self.k = 1 / math.sqrt(input_dim)
        self.W = nn.Parameter(torch.zeros(input_dim, output_dim))
        self.b = nn.Parameter(torch.zeros(output_dim))
        with torch.no_grad():
            self.W.uniform_(-self.k, self.k)
            self.b.uniform_(-self.k, self.k)

    def forward(self, x):
        return self.b + (x.unsqueeze(-1) * self.W).sum(dim=-2)


MY_LINEAR_OK = [
    ("instructor_uniform_", MyLinear),
    ("ints_before_super_rand", IntsBeforeSuper),
    ("nn_init_uniform_reset_parameters", InitUniform),
    ("distributions_uniform_F_linear", Distribution),
    ("kaiming_on_out_in_then_T", KaimingOnOutIn),
    ("copied_from_local_nn_Linear", FromNNLinear),
    ("register_parameter_mul_sub", RegisterParameter),
    ("numpy_uniform", NumpyRandom),
    ("zeros_then_uniform_in_no_grad", NoGradInPlace),
]


def my_linear_variant(W_init=None, b_init=None, forward=None, shape="in_out", names=("W", "b"),
                      wrap=True, dims=True, param_first=False):
    """A MyLinear written with one mistake (the defaults are right)."""
    def right(*shape, k):
        return uniform(*shape, k=k)

    W_init, b_init = W_init or right, b_init or right

    class Variant(nn.Module):
        def __init__(self, input_dim=3, output_dim=2):
            if param_first:
                self.W = nn.Parameter(torch.zeros(input_dim, output_dim))
            super().__init__()
            self.input_dim = input_dim
            if dims:
                self.output_dim = output_dim
            else:
                self.outpu_dim = output_dim  # the typo
            k = 1 / math.sqrt(input_dim)
            size = (input_dim, output_dim) if shape == "in_out" else (output_dim, input_dim)
            W, b = W_init(*size, k=k), b_init(output_dim, k=k)
            if wrap:
                W, b = nn.Parameter(W), nn.Parameter(b)
            setattr(self, names[0], W)
            setattr(self, names[1], b)

        def forward(self, x):
            if forward is not None:
                return forward(self, x)
            return x @ getattr(self, names[0]) + getattr(self, names[1])

    return Variant


class HoldsNNLinear(nn.Module):
    def __init__(self, input_dim=3, output_dim=2):
        super().__init__()
        self.input_dim, self.output_dim = input_dim, output_dim
        self.linear = nn.Linear(input_dim, output_dim)

    def forward(self, x):
        return self.linear(x)


class Foward(MyLinear):
    forward = nn.Module.forward  # what a class without forward gets

    def foward(self, x):
        return x @ self.W + self.b


class FrozenW(MyLinear):
    def __init__(self, input_dim=3, output_dim=2):
        super().__init__(input_dim, output_dim)
        self.W.requires_grad_(False)


class NewWeightsInForward(MyLinear):
    def forward(self, x):
        k = 1 / math.sqrt(self.input_dim)
        self.W = nn.Parameter(uniform(self.input_dim, self.output_dim, k=k).to(x))
        return x @ self.W + self.b


class TensorDims(MyLinear):
    def __init__(self, input_dim=3, output_dim=2):
        super().__init__(input_dim, output_dim)
        self.input_dim = torch.tensor(input_dim)


MY_LINEAR_WRONG = [
    ("FloatTensor_uninitialised", my_linear_variant(W_init=lambda *s, k: torch.FloatTensor(*s),
                                                    b_init=lambda *s, k: torch.FloatTensor(*s)), "uninitialised"),
    ("torch_empty_uninitialised", my_linear_variant(W_init=lambda *s, k: torch.empty(*s)), "uninitialised"),
    ("all_zeros", my_linear_variant(W_init=lambda *s, k: torch.zeros(*s)), "W is all zeros"),
    ("bias_zeros", my_linear_variant(b_init=lambda *s, k: torch.zeros(*s)), "b is all zeros"),
    ("randn", my_linear_variant(W_init=lambda *s, k: torch.randn(*s)), "normal distribution"),
    ("randn_times_k", my_linear_variant(W_init=lambda *s, k: torch.randn(*s) * k), "outside [-k, k]"),
    ("rand_0_1", my_linear_variant(W_init=lambda *s, k: torch.rand(*s)), "no negative values"),
    ("no_scale_U_minus1_1", my_linear_variant(W_init=lambda *s, k: torch.rand(*s) * 2 - 1), "no scale at all"),
    ("kaiming_on_in_out", my_linear_variant(
        W_init=lambda *s, k: nn.init.kaiming_uniform_(torch.empty(*s), a=math.sqrt(5))), "1/sqrt(output_dim)"),
    ("k_is_1_over_in", my_linear_variant(W_init=lambda *s, k: uniform(*s, k=k * k)), "1/input_dim instead"),
    ("xavier", my_linear_variant(W_init=lambda *s, k: nn.init.xavier_uniform_(torch.empty(*s))), "Xavier"),
    ("out_in_layout", my_linear_variant(shape="out_in", forward=lambda self, x: x @ self.W.T + self.b),
     "nn.Linear's layout"),
    ("plain_tensors", my_linear_variant(wrap=False), "not nn.Parameter"),
    ("named_weight_bias", my_linear_variant(names=("weight", "bias")), "named W and b"),
    ("lowercase_w", my_linear_variant(names=("w", "b")), "'w' is not 'W'"),
    ("output_dim_typo", my_linear_variant(dims=False), "'outpu_dim'"),
    ("parameter_before_super", my_linear_variant(param_first=True), "super().__init__() first"),
    ("holds_nn_Linear", HoldsNNLinear, "not a submodule"),
    ("forward_misspelt", Foward, "misspelt"),
    ("forward_without_bias", my_linear_variant(forward=lambda self, x: x @ self.W), "left out the bias"),
    ("forward_detached", my_linear_variant(forward=lambda self, x: x @ self.W.detach() + self.b.detach()),
     "does not depend on W and b through autograd"),
    ("forward_uses_data", my_linear_variant(forward=lambda self, x: x @ self.W.data + self.b),
     "no gradient reached W"),
    ("forward_flattens", my_linear_variant(forward=lambda self, x: x.reshape(-1, self.input_dim) @ self.W + self.b),
     "flattened"),
    ("forward_torch_mm", my_linear_variant(forward=lambda self, x: torch.mm(x, self.W) + self.b), "2-D matrices only"),
    ("forward_float", my_linear_variant(forward=lambda self, x: (x @ self.W + self.b).float()),
     "dtype float32, expected float64"),
    ("bias_2d", my_linear_variant(b_init=lambda n, k: uniform(1, n, k=k)), "a 1-D tensor"),
    ("W_frozen", FrozenW, "does not require grad"),
    ("new_weights_in_forward", NewWeightsInForward, "forward must only compute"),
    ("input_dim_a_tensor", TensorDims, "expected the int"),
    ("stub", stub, "NotImplementedError"),
]


# =============================================================================================
# load_from_nn_linear
# =============================================================================================

def sizes_match(my, ref):
    return (ref.in_features, ref.out_features) == (my.input_dim, my.output_dim)


def load_right(my, ref):
    if not sizes_match(my, ref):
        raise ValueError("sizes")
    with torch.no_grad():
        my.W.copy_(ref.weight.T)
        my.b.copy_(ref.bias) if ref.bias is not None else my.b.zero_()
    return my


def load_data_copy(my, ref):
    if tuple(ref.weight.T.shape) != tuple(my.W.shape):
        raise ValueError("the sizes do not match")
    my.W.data.copy_(ref.weight.data.t())
    my.b.data.copy_(ref.bias.data if ref.bias is not None else torch.zeros_like(my.b))
    return my


def load_detach_copy(my, ref):
    if ref.weight.shape != (my.output_dim, my.input_dim):
        raise ValueError(f"expected ({my.output_dim}, {my.input_dim}), got {tuple(ref.weight.shape)}")
    my.W.detach().copy_(ref.weight.detach().T)
    if ref.bias is None:
        my.b.detach().fill_(0)
    else:
        my.b.detach().copy_(ref.bias.detach())
    return my


def load_data_clone(my, ref):
    if ref.in_features != my.W.shape[0] or ref.out_features != my.W.shape[1]:
        raise ValueError("size mismatch")
    my.W.data = ref.weight.detach().T.clone()
    my.b.data = ref.bias.detach().clone() if ref.bias is not None else torch.zeros_like(my.b)
    return my


def load_state_dict_renamed(my, ref):
    if not sizes_match(my, ref):
        raise ValueError("sizes")
    bias = ref.bias if ref.bias is not None else torch.zeros_like(my.b)
    my.load_state_dict({"W": ref.weight.T, "b": bias})
    return my


def load_slice_assign(my, ref):
    if my.W.shape != ref.weight.T.shape:
        raise ValueError("shapes differ")
    with torch.no_grad():
        my.W[:] = ref.weight.T
        my.b[:] = 0 if ref.bias is None else ref.bias
    return my


@torch.no_grad()
def load_decorated(my, ref):
    if ref.weight.t().shape != my.W.shape:
        raise ValueError("shapes differ")
    for mine, theirs in ((my.W, ref.weight.t()), (my.b, ref.bias)):
        if theirs is None:
            mine.zero_()
        else:
            mine.copy_(theirs)
    return my


def load_vector_to_parameters(my, ref):
    if not sizes_match(my, ref):
        raise ValueError("sizes")
    bias = ref.bias if ref.bias is not None else torch.zeros(my.output_dim, dtype=my.b.dtype, device=my.b.device)
    flat = torch.cat([ref.weight.detach().T.reshape(-1), bias.detach()])
    nn.utils.vector_to_parameters(flat, [my.W, my.b])
    return my


def load_contiguous_then_copy(my, ref):
    if (ref.in_features, ref.out_features) != (my.input_dim, my.output_dim):
        raise ValueError("sizes")
    weight_t = ref.weight.detach().t().contiguous()
    with torch.no_grad():
        my.W.copy_(weight_t)
        my.b.copy_(ref.bias.detach()) if ref.bias is not None else my.b.fill_(0.0)
    return my


LOAD_OK = [
    ("no_grad_copy_", load_right),
    ("data_copy_", load_data_copy),
    ("detach_copy_", load_detach_copy),
    ("data_assigned_a_clone", load_data_clone),
    ("load_state_dict_renamed_keys", load_state_dict_renamed),
    ("slice_assign_in_no_grad", load_slice_assign),
    ("decorated_no_grad_loop", load_decorated),
    ("vector_to_parameters", load_vector_to_parameters),
    ("contiguous_then_copy", load_contiguous_then_copy),
]


def lw_no_transpose(my, ref):
    if not sizes_match(my, ref):
        raise ValueError("sizes")
    with torch.no_grad():
        my.W.copy_(ref.weight)
        my.b.copy_(ref.bias) if ref.bias is not None else my.b.zero_()
    return my


def lw_reshape(my, ref):
    if not sizes_match(my, ref):
        raise ValueError("sizes")
    with torch.no_grad():
        my.W.copy_(ref.weight.reshape(my.input_dim, my.output_dim))
        my.b.copy_(ref.bias) if ref.bias is not None else my.b.zero_()
    return my


def lw_replaced(my, ref):
    if not sizes_match(my, ref):
        raise ValueError("sizes")
    my.W = nn.Parameter(ref.weight.detach().T.clone())
    my.b = nn.Parameter(ref.bias.detach().clone() if ref.bias is not None else torch.zeros_like(my.b))
    return my


def lw_shared(my, ref):
    if not sizes_match(my, ref):
        raise ValueError("sizes")
    my.W.data = ref.weight.T
    if ref.bias is not None:
        my.b.data = ref.bias
    else:
        my.b.data.zero_()
    return my


def lw_data_contiguous(my, ref):
    """Right for a contiguous ref.weight; for one that is a transpose, .T is contiguous already and
    .contiguous() returns it: my.W shares ref.weight's memory."""
    if not sizes_match(my, ref):
        raise ValueError("sizes")
    my.W.data = ref.weight.detach().T.contiguous()
    my.b.data = ref.bias.detach().clone() if ref.bias is not None else torch.zeros_like(my.b)
    return my


def lw_shared_bias_only(my, ref):
    if not sizes_match(my, ref):
        raise ValueError("sizes")
    with torch.no_grad():
        my.W.copy_(ref.weight.T)
    if ref.bias is not None:
        my.b.data = ref.bias.data
    else:
        my.b.data.zero_()
    return my


def lw_outside_no_grad(my, ref):
    if not sizes_match(my, ref):
        raise ValueError("sizes")
    my.W.copy_(ref.weight.T)
    my.b.copy_(ref.bias) if ref.bias is not None else my.b.zero_()
    return my


def lw_requires_grad_off(my, ref):
    if not sizes_match(my, ref):
        raise ValueError("sizes")
    my.W.requires_grad_(False)
    my.b.requires_grad_(False)
    my.W.copy_(ref.weight.detach().T)
    my.b.copy_(ref.bias.detach()) if ref.bias is not None else my.b.zero_()
    return my


def lw_bias_none_copied(my, ref):
    if not sizes_match(my, ref):
        raise ValueError("sizes")
    with torch.no_grad():
        my.W.copy_(ref.weight.T)
        my.b.copy_(ref.bias)
    return my


def lw_bias_left(my, ref):
    if not sizes_match(my, ref):
        raise ValueError("sizes")
    with torch.no_grad():
        my.W.copy_(ref.weight.T)
        if ref.bias is not None:
            my.b.copy_(ref.bias)
    return my


def lw_bias_cpu_zeros(my, ref):
    if not sizes_match(my, ref):
        raise ValueError("sizes")
    with torch.no_grad():
        my.W.copy_(ref.weight.T)
    my.b.data = ref.bias.detach().clone() if ref.bias is not None else torch.zeros(my.output_dim)
    return my


def lw_bias_set_to_none(my, ref):
    if not sizes_match(my, ref):
        raise ValueError("sizes")
    with torch.no_grad():
        my.W.copy_(ref.weight.T)
        if ref.bias is None:
            my.b = None
        else:
            my.b.copy_(ref.bias)
    return my


def lw_no_return(my, ref):
    load_right(my, ref)


def lw_no_size_check(my, ref):
    with torch.no_grad():
        my.W.copy_(ref.weight.T)
        my.b.copy_(ref.bias) if ref.bias is not None else my.b.zero_()
    return my


def lw_checks_untransposed(my, ref):
    if ref.weight.shape != my.W.shape:
        raise ValueError("shapes differ")
    return lw_no_size_check(my, ref)


def lw_assert(my, ref):
    assert sizes_match(my, ref), "sizes"
    return lw_no_size_check(my, ref)


def lw_state_dict_as_is(my, ref):
    my.load_state_dict(ref.state_dict())
    return my


def lw_new_module(my, ref):
    fresh = type(my)(ref.in_features, ref.out_features)
    return load_right(fresh, ref)


def lw_transposes_ref(my, ref):
    if not sizes_match(my, ref):
        raise ValueError("sizes")
    ref.weight.data = ref.weight.data.T.contiguous()
    with torch.no_grad():
        my.W.copy_(ref.weight)
        my.b.copy_(ref.bias) if ref.bias is not None else my.b.zero_()
    return my


def lw_plain_tensor_assigned(my, ref):
    if not sizes_match(my, ref):
        raise ValueError("sizes")
    my.W = ref.weight.detach().T.clone()
    return my


def lw_swapped_no_transpose_check(my, ref):
    """Checks nothing; copies ref.weight reshaped: wrong, and accepts swapped sizes."""
    with torch.no_grad():
        my.W.copy_(ref.weight.reshape(my.W.shape))
        my.b.copy_(ref.bias) if ref.bias is not None else my.b.zero_()
    return my


LOAD_WRONG = [
    ("weight_not_transposed", lw_no_transpose, "without transposing"),
    ("weight_reshaped", lw_reshape, "not a transpose"),
    ("parameters_replaced", lw_replaced, "same Parameter objects"),
    ("data_shares_memory", lw_shared, "shares memory"),
    ("bias_data_shares_memory", lw_shared_bias_only, "my.b shares memory with ref.bias"),
    ("data_contiguous_shares_a_transposed_weight", lw_data_contiguous, "my.W shares memory with ref.weight"),
    ("copy_outside_no_grad", lw_outside_no_grad, "no_grad"),
    ("requires_grad_switched_off", lw_requires_grad_off, "still be a leaf that requires grad"),
    ("bias_None_copied", lw_bias_none_copied, "ref.bias is None"),
    ("bias_left_as_it_was", lw_bias_left, "must become zeros"),
    ("bias_cpu_float32_zeros", lw_bias_cpu_zeros, "torch.zeros(n) is float32"),
    ("bias_set_to_None", lw_bias_set_to_none, "is gone (or None)"),
    ("returns_None", lw_no_return, "It returned None"),
    ("no_size_check", lw_no_size_check, "asks for a ValueError"),
    ("checks_untransposed_shape", lw_checks_untransposed, "But these sizes match"),
    ("assert_instead_of_ValueError", lw_assert, "It raised AssertionError"),
    ("state_dict_as_is", lw_state_dict_as_is, "state_dict keys"),
    ("returns_a_new_module", lw_new_module, "another module, not my"),
    ("modifies_ref", lw_transposes_ref, "never modify it"),
    ("plain_tensor_assigned", lw_plain_tensor_assigned, "must stay an nn.Parameter"),
    ("reshape_no_check", lw_swapped_no_transpose_check, "not a transpose"),
    ("stub", stub, "NotImplementedError"),
]


# =============================================================================================
# 1 and 2: the gallery (tests/judging.py defines the tests every gallery has)
# =============================================================================================

# Their messages show what the uninitialised memory held, which differs from run to run: they
# are judged on their own (below), not in the gallery's drawn-versus-replayed comparison.
UNINITIALISED = [row for row in MY_LINEAR_WRONG if "uninitialised" in row[0]]

CORRECT = (rows("linear_forward", LINEAR_FORWARD_OK) + rows("my_linear", MY_LINEAR_OK)
           + rows("load_from_nn_linear", LOAD_OK))
WRONG = (rows("linear_forward", LINEAR_FORWARD_WRONG)
         + rows("my_linear", [row for row in MY_LINEAR_WRONG if row not in UNINITIALISED])
         + rows("load_from_nn_linear", LOAD_WRONG))

gallery_tests(globals(), "03_linear_layer", CORRECT, WRONG, needs={"load_from_nn_linear": ["my_linear"]})


@pytest.mark.parametrize("fn, phrase", [pytest.param(fn, phrase, id=name) for name, fn, phrase in UNINITIALISED])
def test_uninitialised_weights_fail_and_say_so(fn, phrase):
    result = failure_of("my_linear", fn)
    assert result["status"] == "fail" and phrase in result["message"], result


NAMESPACE = {"load_from_nn_linear": {"MyLinear": MyLinear}}


def judged(exercise, fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return verdict(exercise, fn, **NAMESPACE.get(exercise, {}))


@pytest.mark.parametrize("exercise, fn, call_text", [
    ("linear_forward", lambda x, W, b: x @ W, "linear_forward(x, W, b) on cpu, float32, with\n  x = ["),
    ("my_linear", my_linear_variant(shape="out_in"), "MyLinear() on cpu, float32"),
    ("my_linear", my_linear_variant(forward=lambda self, x: x @ self.W), "module(x) on cpu, float32, with\n  x = ["),
    ("load_from_nn_linear", lw_shared, "load_from_nn_linear(my, ref) on cpu, float32, my = MyLinear(4, 3), "
                                       "ref = nn.Linear(4, 3)\n  ref.weight = ["),
])
def test_message_names_the_call_and_its_inputs(exercise, fn, call_text):
    message = judged(exercise, fn)["message"]
    assert message.startswith(call_text), message


def test_message_shows_expected_and_got_values():
    message = judged("linear_forward", lambda x, W, b: x @ W - b)["message"]
    assert "  expected: [" in message and "  got:      [" in message, message


# =============================================================================================
# load_from_nn_linear is defined in terms of MyLinear
# =============================================================================================

def test_load_is_checked_with_the_students_own_my_linear():
    wrong_class = my_linear_variant(shape="out_in", forward=lambda self, x: x @ self.W.T + self.b)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = verdict("load_from_nn_linear", load_right, MyLinear=wrong_class)
    assert result["status"] == "fail"
    assert "checked with your own MyLinear" in result["message"] and "Fix my_linear first" in result["message"]


def test_load_without_my_linear_says_so():
    scope = {}  # a function whose globals hold no MyLinear either
    exec("def load_from_nn_linear(my, ref):\n    return my\n", scope)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = verdict("load_from_nn_linear", scope["load_from_nn_linear"])
    assert result["status"] == "fail" and "MyLinear is not defined" in result["message"]


def test_hidden_tests_in_the_notebook_find_my_linear_beside_the_function():
    """In the instructor's notebook hidden_tests gets only load_from_nn_linear: MyLinear is
    found in that function's globals (here: this module's)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hidden_tests("load_from_nn_linear", load_right)
        with pytest.raises(CheckFailed, match="shares memory"):
            hidden_tests("load_from_nn_linear", lw_shared)


# =============================================================================================
# 3. Answers only a cheat sends
# =============================================================================================


class CheatingForward(MyLinear):
    def forward(self, x):
        return torch.zeros(*x.shape[:-1], self.output_dim, dtype=x.dtype).as_subclass(AlwaysEqual)


class LookAlike:
    shape = (2, 3)

    def __eq__(self, other):
        return True

    def __call__(self, *args, **kwargs):
        return self


@pytest.mark.parametrize("exercise, fn", [
    pytest.param("linear_forward", lambda x, W, b: (x @ W).as_subclass(AlwaysEqual), id="forward_always_equal"),
    pytest.param("linear_forward", lambda x, W, b: (x @ W + b).as_subclass(PosesAsTensor), id="forward_poses"),
    pytest.param("my_linear", CheatingForward, id="module_forward_always_equal"),
])
def test_tensor_subclass_results_are_rejected(exercise, fn):
    result = judged(exercise, fn)
    assert result["status"] == "tampering", result["message"]
    assert "subclass of torch.Tensor" in result["message"]


@pytest.mark.parametrize("fn", [
    pytest.param(lambda *args, **kwargs: LookAlike(), id="look_alike"),
    pytest.param(lambda *args, **kwargs: torch.zeros(3, 3).as_subclass(AlwaysEqual), id="a_tensor"),
    pytest.param(lambda *args, **kwargs: None, id="none"),
])
def test_my_linear_that_is_not_a_module_gets_nothing(fn):
    result = judged("my_linear", fn)
    assert result["status"] in ("fail", "tampering") and "should create an nn.Module" in result["message"], result


def test_load_returning_a_look_alike_gets_nothing():
    result = judged("load_from_nn_linear", lambda my, ref: LookAlike())
    assert result["status"] == "fail" and "copies into my, then returns my" in result["message"], result

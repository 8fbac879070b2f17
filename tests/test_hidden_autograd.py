"""Gallery for the hidden checks of 02_autograd (autograder/judge/exercises/autograd.py).

1. Alternative correct solutions, written the ways students write them: every one must pass.
2. Wrong solutions of the kinds students write: every one must fail (not as tampering: an
   honest mistake is not cheating), and the message must name the mistake.
3. Answers only a cheat sends (tensor subclasses).

Inputs are never built here: the judge generates them (hand-picked cases, then Hypothesis), and
reads back what the code did to the caller's tensors (values, requires_grad, .grad, version).
Every test runs twice: with Hypothesis drawing the examples, and with the examples recorded
once and replayed (as in the judge server's forks); both must agree.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from autograder.judge import properties
from autograder.judge.exercises import REGISTRY
from autograder.judge.exercises import autograd as judged

from judging import AlwaysEqual, failure_of, gallery_tests, rows, stub

# describing a non-leaf result reads its .grad, which makes torch warn (candidate/values.py)
pytestmark = pytest.mark.filterwarnings("ignore:The .grad attribute of a Tensor that is not a leaf")

EXERCISES = ("grad_of", "relu_out_of_place", "sgd_step", "numerical_grad")


# =============================================================================================
# grad_of
# =============================================================================================

def go_autograd_grad(f, x):
    x2 = x.detach().clone().requires_grad_(True)
    return torch.autograd.grad(f(x2), x2)[0]


def go_backward(f, x):
    x2 = x.detach().clone()
    x2.requires_grad = True
    y = f(x2)
    y.backward()
    return x2.grad


def go_detach_only(f, x):
    x2 = x.detach().requires_grad_()
    f(x2).backward()
    return x2.grad


def go_enable_grad(f, x):
    with torch.enable_grad():
        x2 = x.detach().clone().requires_grad_(True)
        (g,) = torch.autograd.grad(f(x2), [x2])
    return g


def go_save_and_restore(f, x):
    # works on the caller's own leaf, then puts everything back as it was
    had, old = x.requires_grad, x.grad
    x.grad = None
    x.requires_grad_(True)
    f(x).backward()
    grad = x.grad
    x.grad = old
    x.requires_grad_(had)
    return grad


def go_functional(f, x):
    return torch.func.grad(f)(x.detach())


def go_jacobian(f, x):
    return torch.autograd.functional.jacobian(f, x.detach())


def go_new_tensor(f, x):
    x2 = torch.tensor(x.tolist(), dtype=x.dtype, device=x.device, requires_grad=True)
    f(x2).backward()
    return x2.grad.detach()


def go_grad_outputs(f, x):
    x2 = x.detach().clone().requires_grad_()
    y = f(x2)
    y.backward(gradient=torch.ones_like(y))
    return x2.grad.clone()


def go_vjp(f, x):
    _, g = torch.autograd.functional.vjp(f, x.detach())
    return g


GRAD_OF_OK = [
    ("autograd_grad", go_autograd_grad),
    ("backward_on_a_clone", go_backward),
    ("detach_without_clone", go_detach_only),
    ("enable_grad", go_enable_grad),
    ("save_and_restore_x", go_save_and_restore),
    ("torch_func_grad", go_functional),
    ("autograd_functional_jacobian", go_jacobian),
    ("new_tensor_from_list", go_new_tensor),
    ("backward_with_ones", go_grad_outputs),
    ("autograd_functional_vjp", go_vjp),
]


def go_on_x(f, x):
    x.requires_grad_(True)
    f(x).backward()
    return x.grad


def go_on_x_restores_flag(f, x):
    had = x.requires_grad
    x.requires_grad_(True)
    f(x).backward()
    x.requires_grad_(had)
    return x.grad.clone()


def go_on_x_clears_grad(f, x):
    x.requires_grad_(True)
    f(x).backward()
    g = x.grad.clone()
    x.grad = None
    return g


def go_clone_without_detach(f, x):
    x2 = x.clone().requires_grad_()
    f(x2).backward()
    return x2.grad


def go_backward_when_needed(f, x):
    if not x.requires_grad:
        x = x.detach().requires_grad_()
    f(x).backward()
    return x.grad


def go_zero_then_backward(f, x):
    if not x.requires_grad:
        x = x.detach().requires_grad_()
    x.grad = None
    f(x).backward()
    return x.grad


def go_create_graph(f, x):
    x2 = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(f(x2), x2, create_graph=True)
    return g


def go_no_grad(f, x):
    with torch.no_grad():
        x2 = x.detach().clone().requires_grad_(True)
        y = f(x2)
    return torch.autograd.grad(y, x2)[0]


def go_without_requires_grad(f, x):
    return torch.autograd.grad(f(x), x)[0]


def go_float(f, x):
    x2 = x.detach().float().requires_grad_()
    f(x2).backward()
    return x2.grad


def go_finite_differences(f, x):
    eps = 1e-3
    x = x.detach()
    g = torch.zeros_like(x).reshape(-1)
    for i in range(x.numel()):
        e = torch.zeros_like(g)
        e[i] = eps
        g[i] = (f(x + e.reshape(x.shape)) - f(x - e.reshape(x.shape))) / (2 * eps)
    return g.reshape(x.shape)


def go_returns_value(f, x):
    return f(x.detach())


def go_backward_ones_like_x(f, x):
    x2 = x.detach().clone().requires_grad_()
    f(x2).backward(torch.ones_like(x2))
    return x2.grad


GRAD_OF_WRONG = [
    ("backward_on_x", go_on_x, "requires_grad was False before the call"),
    ("backward_on_x_restores_flag", go_on_x_restores_flag, "a gradient left in x.grad"),
    ("backward_on_x_clears_grad", go_on_x_clears_grad, "requires_grad_()"),
    ("clone_without_detach", go_clone_without_detach, "clone without detach"),
    ("backward_on_x_when_it_requires_grad", go_backward_when_needed, "accumulates"),
    ("zeroes_x_grad_first", go_zero_then_backward, "x.grad was set to None (or zeroed)"),
    ("create_graph", go_create_graph, "create_graph=True"),
    ("f_under_no_grad", go_no_grad, "torch.no_grad()"),
    ("x_without_requires_grad", go_without_requires_grad, "does not require grad"),
    ("converts_to_float32", go_float, "dtype float32, expected float64"),
    ("finite_differences", go_finite_differences, "finite differences"),
    ("returns_f_of_x", go_returns_value, "the function's value"),
    ("backward_with_ones_like_x", go_backward_ones_like_x, "Mismatch in shape"),
    ("stub", stub, "NotImplementedError"),
]


# =============================================================================================
# relu_out_of_place
# =============================================================================================

def r_clamp(x):
    return x.clamp(min=0)


def r_torch_relu(x):
    return torch.relu(x)


def r_functional(x):
    return F.relu(x)


def r_module(x):
    return nn.ReLU()(x)


def r_where_zero(x):
    return torch.where(x > 0, x, 0.0)


def r_mask_multiply(x):
    return x * (x > 0)


def r_mask_float(x):
    return x * (x > 0).to(x.dtype)


def r_maximum(x):
    return torch.maximum(x, torch.zeros_like(x))


def r_abs_trick(x):
    return (x + x.abs()) / 2


def r_clone_then_index(x):
    out = x.clone()
    out[out < 0] = 0
    return out


def r_clone_then_relu_(x):
    return x.clone().relu_()


def r_masked_fill(x):
    return x.masked_fill(x < 0, 0.0)


RELU_OK = [
    ("clamp_min_0", r_clamp),
    ("torch_relu", r_torch_relu),
    ("F_relu", r_functional),
    ("nn_ReLU_module", r_module),
    ("where_with_python_zero", r_where_zero),
    ("multiply_by_bool_mask", r_mask_multiply),
    ("multiply_by_float_mask", r_mask_float),
    ("maximum_with_zeros_like", r_maximum),
    ("x_plus_abs_over_2", r_abs_trick),
    ("clone_then_index_assign", r_clone_then_index),
    ("clone_then_relu_", r_clone_then_relu_),
    ("masked_fill", r_masked_fill),
]


def r_relu_(x):
    return torch.relu_(x)


def r_index_assign(x):
    x[x < 0] = 0
    return x


def r_clamp_(x):
    return x.clamp_(min=0)


def r_inplace_functional(x):
    return F.relu(x, inplace=True)


def r_inplace_module(x):
    return nn.ReLU(inplace=True)(x)


def r_detach(x):
    return x.detach().clamp(min=0)


def r_no_grad(x):
    with torch.no_grad():
        return torch.relu(x)


def r_numpy(x):
    return torch.from_numpy(np.maximum(x.numpy(), 0))


def r_numpy_detached(x):
    return torch.from_numpy(np.maximum(x.detach().cpu().numpy(), 0)).to(x.device)


def r_new_leaf(x):
    return x.detach().clamp(min=0).requires_grad_(x.requires_grad)


def r_mask_only(x):
    return (x > 0).to(x.dtype)


def r_min(x):
    return x.clamp(max=0)


def r_abs(x):
    return x.abs()


def r_data_inplace(x):
    x.data.clamp_(min=0)
    return x


def r_straight_through(x):
    return x + (x.clamp(min=0) - x).detach()


RELU_WRONG = [
    ("torch_relu_", r_relu_, "in-place"),
    ("index_assign_on_x", r_index_assign, "x[x < 0] = 0"),
    ("clamp_", r_clamp_, "in-place"),
    ("F_relu_inplace", r_inplace_functional, "inplace=True"),
    ("nn_ReLU_inplace", r_inplace_module, "nn.ReLU(inplace=True)"),
    ("detach", r_detach, "gradients do not flow"),
    ("no_grad", r_no_grad, "torch.no_grad()"),
    ("through_numpy", r_numpy, "Can't call numpy()"),
    ("through_numpy_detached", r_numpy_detached, "gradients do not flow"),
    ("detached_new_leaf", r_new_leaf, "new leaf"),
    ("returns_the_mask", r_mask_only, "the mask x > 0"),
    ("min_instead_of_max", r_min, "min(x, 0)"),
    ("absolute_value", r_abs, "|x|"),
    ("clamp_through_data", r_data_inplace, "x was modified"),
    ("straight_through_gradient", r_straight_through, "passed through everywhere"),
    ("stub", stub, "NotImplementedError"),
]


# =============================================================================================
# sgd_step
# =============================================================================================

def s_no_grad_set_none(params, lr):
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p -= lr * p.grad
                p.grad = None


def s_sub_zero(params, lr):
    with torch.no_grad():
        for p in params:
            if p.grad is None:
                continue
            p.sub_(lr * p.grad)
            p.grad.zero_()


def s_add_alpha(params, lr):
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p.add_(p.grad, alpha=-lr)
                p.grad = None


def s_data(params, lr):
    for p in params:
        if p.grad is not None:
            p.data -= lr * p.grad.data
            p.grad = None


def s_data_rebind(params, lr):
    for p in params:
        if p.grad is not None:
            p.data = p.data - lr * p.grad
            p.grad = None


def s_copy(params, lr):
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p.copy_(p - lr * p.grad)
                p.grad.zero_()


def s_list_first(params, lr):
    params = [p for p in params if p.grad is not None]
    with torch.no_grad():
        for p in params:
            p -= lr * p.grad
    for p in params:
        p.grad = None


def s_optimizer(params, lr):
    optimizer = torch.optim.SGD(params, lr=lr)
    optimizer.step()
    optimizer.zero_grad()


def s_toggle_requires_grad(params, lr):
    for p in params:
        if p.grad is not None:
            p.requires_grad_(False)
            p -= lr * p.grad
            p.requires_grad_(True)
            p.grad = None


def s_foreach(params, lr):
    with_grad = [p for p in params if p.grad is not None]
    with torch.no_grad():
        torch._foreach_add_(with_grad, [p.grad for p in with_grad], alpha=-lr)
    for p in with_grad:
        p.grad = None


SGD_OK = [
    ("no_grad_then_set_none", s_no_grad_set_none),
    ("sub_and_zero_", s_sub_zero),
    ("add_with_alpha", s_add_alpha),
    ("through_data", s_data),
    ("rebind_data", s_data_rebind),
    ("copy_and_zero_", s_copy),
    ("list_first_two_loops", s_list_first),
    ("torch_optim_SGD", s_optimizer),
    ("requires_grad_off_and_on", s_toggle_requires_grad),
    ("foreach_add_", s_foreach),
]


def s_no_reset(params, lr):
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p -= lr * p.grad


def s_outside_no_grad(params, lr):
    for p in params:
        if p.grad is not None:
            p -= lr * p.grad
            p.grad = None


def s_rebind(params, lr):
    for p in params:
        if p.grad is not None:
            p = p - lr * p.grad
            p.grad = None


def s_rebind_list(params, lr):
    params = list(params)
    for i, p in enumerate(params):
        if p.grad is not None:
            params[i] = (p - lr * p.grad).detach().requires_grad_()


def s_no_none_check(params, lr):
    with torch.no_grad():
        for p in params:
            p -= lr * p.grad
            p.grad = None


def s_zero_all(params, lr):
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p -= lr * p.grad
            p.grad.zero_()


def s_plus(params, lr):
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p += lr * p.grad
                p.grad = None


def s_no_lr(params, lr):
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p -= p.grad
                p.grad = None


def s_two_loops(params, lr):
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p -= lr * p.grad
    for p in params:
        p.grad = None


def s_len(params, lr):
    with torch.no_grad():
        for i in range(len(params)):
            p = params[i]
            if p.grad is not None:
                p -= lr * p.grad
                p.grad = None


def s_zero_first(params, lr):
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p.grad.zero_()
                p -= lr * p.grad


def s_optimizer_no_zero(params, lr):
    torch.optim.SGD(params, lr=lr).step()


def s_frozen_after(params, lr):
    for p in params:
        if p.grad is not None:
            p.requires_grad_(False)
            p -= lr * p.grad
            p.grad = None


def s_returns_new(params, lr):
    return [p - lr * p.grad if p.grad is not None else p for p in params]


def s_reshape_copy(params, lr):
    # for a parameter that is not contiguous, reshape(-1) is a copy: the step goes into it
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                flat = p.reshape(-1)
                flat -= lr * p.grad.reshape(-1)
                p.grad = None


def s_zero_grads_everywhere(params, lr):
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p -= lr * p.grad
            p.grad = torch.zeros_like(p)


SGD_WRONG = [
    ("forgets_zero_grad", s_no_reset, "forgetting to reset it"),
    ("update_outside_no_grad", s_outside_no_grad, "outside torch.no_grad()"),
    ("rebinds_p", s_rebind, "p = p - lr * p.grad"),
    ("rebinds_list_items", s_rebind_list, "rebinds"),
    ("no_check_for_None", s_no_none_check, "skip them"),
    ("zero_grad_on_None", s_zero_all, "skip them"),
    ("gradient_ascent", s_plus, "up the gradient"),
    ("lr_missing", s_no_lr, "lr is missing"),
    ("two_loops_over_a_generator", s_two_loops, "iterated only once"),
    ("len_of_params", s_len, "has no len()"),
    ("zeroes_before_update", s_zero_first, "zero the gradient before using it"),
    ("optimizer_without_zero_grad", s_optimizer_no_zero, "forgetting to reset it"),
    ("requires_grad_left_off", s_frozen_after, "no longer requires grad"),
    ("returns_new_tensors", s_returns_new, "values did not change"),
    ("zeros_for_unused_params", s_zero_grads_everywhere, "must be left unchanged"),
    ("steps_a_reshaped_copy", s_reshape_copy, "written into a copy"),
    ("stub", stub, "NotImplementedError"),
]


# =============================================================================================
# numerical_grad
# =============================================================================================

def n_loop_flat(f, x, eps=1e-6):
    x = x.detach()
    flat = x.reshape(-1)
    out = torch.empty_like(flat)
    for i in range(flat.numel()):
        e = torch.zeros_like(flat)
        e[i] = eps
        out[i] = (f((flat + e).reshape(x.shape)) - f((flat - e).reshape(x.shape))) / (2 * eps)
    return out.reshape(x.shape)


def n_eye(f, x, eps=1e-6):
    x = x.detach()
    basis = torch.eye(x.numel(), dtype=x.dtype, device=x.device)
    rows = [(f(x + eps * e.reshape(x.shape)) - f(x - eps * e.reshape(x.shape))) / (2 * eps) for e in basis]
    return torch.stack(rows).reshape(x.shape)


def n_clone_perturb(f, x, eps=1e-6):
    with torch.no_grad():
        grad = torch.zeros(x.shape, dtype=x.dtype, device=x.device)
        for i in range(x.numel()):
            up, down = x.clone(memory_format=torch.contiguous_format), x.contiguous().clone()
            up.view(-1)[i] += eps
            down.view(-1)[i] -= eps
            grad.view(-1)[i] = (f(up) - f(down)) / (2 * eps)
    return grad


def n_ndindex(f, x, eps=1e-6):
    x = x.detach()
    grad = torch.zeros_like(x)
    for index in np.ndindex(*x.shape):
        e = torch.zeros_like(x)
        e[index] = eps
        grad[index] = (f(x + e) - f(x - e)) / (2 * eps)
    return grad


def n_items(f, x, eps=1e-6):
    x = x.detach()
    values = []
    for i in range(x.numel()):
        e = torch.zeros(x.numel(), dtype=x.dtype, device=x.device)
        e[i] = eps
        e = e.view(x.shape)
        values.append(((f(x + e) - f(x - e)) / (2 * eps)).item())
    return torch.tensor(values, dtype=x.dtype, device=x.device).reshape(x.shape)


def n_half_over_eps(f, x, eps=1e-6):
    with torch.no_grad():
        out = torch.zeros_like(x, memory_format=torch.contiguous_format)
        for i in range(x.numel()):
            e = torch.zeros_like(x).flatten()
            e[i] = eps
            e = e.view_as(x)
            out.view(-1)[i] = 0.5 * (f(x + e) - f(x - e)) / eps
    return out


def n_unflatten(f, x, eps=1e-6):
    x = x.detach()
    flat = x.flatten()
    grads = []
    for i in range(len(flat)):
        plus, minus = flat.clone(), flat.clone()
        plus[i] += eps
        minus[i] -= eps
        grads.append((f(plus.view_as(x)) - f(minus.view_as(x))) / (2 * eps))
    return torch.stack(grads).view_as(x)


def n_vectorised_vmap(f, x, eps=1e-6):
    x = x.detach()
    steps = (eps * torch.eye(x.numel(), dtype=x.dtype, device=x.device)).reshape(-1, *x.shape)
    values = torch.stack([f(x + s) - f(x - s) for s in steps])
    return (values / (2 * eps)).reshape(x.shape)


NUMERICAL_OK = [
    ("flat_loop", n_loop_flat),
    ("identity_basis", n_eye),
    ("clone_and_perturb", n_clone_perturb),
    ("np_ndindex", n_ndindex),
    ("item_then_tensor_with_dtype", n_items),
    ("half_times_over_eps", n_half_over_eps),
    ("flatten_clone_plus_minus", n_unflatten),
    ("stacked_steps", n_vectorised_vmap),
]


def n_forward(f, x, eps=1e-6):
    x = x.detach()
    out = torch.zeros_like(x).reshape(-1)
    for i in range(x.numel()):
        e = torch.zeros_like(out)
        e[i] = eps
        out[i] = (f(x + e.reshape(x.shape)) - f(x)) / eps
    return out.reshape(x.shape)


def n_backward(f, x, eps=1e-6):
    x = x.detach()
    out = torch.zeros_like(x).reshape(-1)
    for i in range(x.numel()):
        e = torch.zeros_like(out)
        e[i] = eps
        out[i] = (f(x) - f(x - e.reshape(x.shape))) / eps
    return out.reshape(x.shape)


def n_no_two(f, x, eps=1e-6):
    x = x.detach()
    out = torch.zeros_like(x).reshape(-1)
    for i in range(x.numel()):
        e = torch.zeros_like(out)
        e[i] = eps
        out[i] = (f(x + e.reshape(x.shape)) - f(x - e.reshape(x.shape))) / eps
    return out.reshape(x.shape)


def n_float32(f, x, eps=1e-6):
    x32 = x.detach().float()
    out = torch.zeros_like(x32).reshape(-1)
    for i in range(x32.numel()):
        e = torch.zeros_like(out)
        e[i] = eps
        out[i] = (f(x32 + e.reshape(x.shape)) - f(x32 - e.reshape(x.shape))) / (2 * eps)
    return out.reshape(x.shape).double()


def n_float32_result(f, x, eps=1e-6):
    return n_float32(f, x, eps).float()


def n_ignores_eps(f, x, eps=1e-6):
    return n_loop_flat(f, x, 1e-6)


def n_autograd(f, x, eps=1e-6):
    x2 = x.detach().clone().requires_grad_()
    return torch.autograd.grad(f(x2), x2)[0]


def n_all_at_once(f, x, eps=1e-6):
    x = x.detach()
    return ((f(x + eps) - f(x - eps)) / (2 * eps)) * torch.ones_like(x)


def n_in_place_restore(f, x, eps=1e-6):
    grad = torch.zeros_like(x)
    flat = x.view(-1)
    for i in range(x.numel()):
        old = flat[i].item()
        flat[i] = old + eps
        up = f(x)
        flat[i] = old - eps
        down = f(x)
        flat[i] = old
        grad.view(-1)[i] = (up - down) / (2 * eps)
    return grad


def n_python_floats(f, x, eps=1e-6):
    x = x.detach()
    values = []
    for i in range(x.numel()):
        e = torch.zeros_like(x).view(-1)
        e[i] = eps
        values.append(((f(x + e.view(x.shape)) - f(x - e.view(x.shape))) / (2 * eps)).item())
    return torch.tensor(values).reshape(x.shape)


def n_clone_reshape(f, x, eps=1e-6):
    # the held-out mistake: for a non-contiguous x, reshape(-1) of the clone is a copy
    with torch.no_grad():
        grad = torch.zeros(x.shape, dtype=x.dtype, device=x.device)
        for i in range(x.numel()):
            up, down = x.clone(), x.clone()
            up.reshape(-1)[i] += eps
            down.reshape(-1)[i] -= eps
            grad.reshape(-1)[i] = (f(up) - f(down)) / (2 * eps)
    return grad


def n_clone_view(f, x, eps=1e-6):
    with torch.no_grad():
        grad = torch.zeros_like(x)
        for i in range(x.numel()):
            up, down = x.clone(), x.clone()
            up.view(-1)[i] += eps
            down.view(-1)[i] -= eps
            grad.view(-1)[i] = (f(up) - f(down)) / (2 * eps)
    return grad


def n_flat_result(f, x, eps=1e-6):
    return n_loop_flat(f, x, eps).reshape(-1)


def n_records_graph(f, x, eps=1e-6):
    out = torch.zeros_like(x).reshape(-1)
    for i in range(x.numel()):
        e = torch.zeros_like(out)
        e[i] = eps
        out[i] = (f(x + e.reshape(x.shape)) - f(x - e.reshape(x.shape))) / (2 * eps)
    return out.reshape(x.shape)


NUMERICAL_WRONG = [
    ("forward_difference", n_forward, "one-sided (forward)"),
    ("backward_difference", n_backward, "one-sided (backward)"),
    ("divides_by_eps", n_no_two, "divide by 2 * eps"),
    ("float32_converted_back", n_float32, "float32 rounding"),
    ("float32_result", n_float32_result, "dtype float32, expected float64"),
    ("ignores_eps", n_ignores_eps, "eps argument was ignored"),
    ("autograd_instead", n_autograd, "exact gradient"),
    ("every_entry_at_once", n_all_at_once, "every entry of x at once"),
    ("in_place_and_restore", n_in_place_restore, "version counter"),
    ("python_floats_default_dtype", n_python_floats, "dtype float32, expected float64"),
    ("flat_result", n_flat_result, "x's shape"),
    ("perturbs_a_reshaped_clone", n_clone_reshape, "the steps never reached the tensor f was called on"),
    ("views_a_clone_of_a_transpose", n_clone_view, "view(-1) cannot flatten"),
    ("records_a_graph", n_records_graph, "requires grad"),
    ("stub", stub, "NotImplementedError"),
]


# =============================================================================================
# 1 and 2: the gallery
# =============================================================================================

CORRECT = (rows("grad_of", GRAD_OF_OK) + rows("relu_out_of_place", RELU_OK) + rows("sgd_step", SGD_OK)
           + rows("numerical_grad", NUMERICAL_OK))
WRONG = (rows("grad_of", GRAD_OF_WRONG) + rows("relu_out_of_place", RELU_WRONG) + rows("sgd_step", SGD_WRONG)
         + rows("numerical_grad", NUMERICAL_WRONG))

gallery_tests(globals(), "02_autograd", CORRECT, WRONG)


def test_every_exercise_is_declared_in_contract_order():
    assert list(REGISTRY["02_autograd"]) == list(EXERCISES)
    assert REGISTRY["02_autograd"]["numerical_grad"].dtypes == (torch.float64,)
    assert all(REGISTRY["02_autograd"][ex].dtypes == (torch.float32, torch.float64) for ex in EXERCISES[:3])


@pytest.mark.parametrize("exercise, fn, call_text", [
    pytest.param("grad_of", go_on_x, "grad_of(f, x) on cpu, float32, with", id="grad_of"),
    pytest.param("relu_out_of_place", r_mask_only, "relu_out_of_place(x) on cpu, float32, with", id="relu"),
    pytest.param("sgd_step", s_plus, "sgd_step(params, lr=0.5) on cpu, float32, with", id="sgd_step"),
    pytest.param("numerical_grad", n_forward, "numerical_grad(f, x, eps=0.1) on cpu, float64, with",
                 id="numerical_grad"),
])
def test_message_names_the_call_and_its_inputs(exercise, fn, call_text):
    message = failure_of(exercise, fn)["message"]
    assert message.startswith(call_text), message
    assert "\n  x = [" in message or "\n  params[0] = [" in message, message


def test_message_names_the_function_differentiated():
    message = failure_of("grad_of", go_on_x)["message"]
    assert "\n  f(x) = sum(x ** 3) / 3" in message, message


# --------------------------------------------------------------------------- the references

def test_the_central_difference_meets_the_contract_tolerance_on_every_input():
    """The contract's rtol=1e-5, atol=1e-8 holds for the exact formula on every input drawn."""
    strategy = REGISTRY["02_autograd"]["numerical_grad"].strategy
    properties.forget()
    properties.record([strategy])
    drawn = properties.recorded(strategy)
    properties.forget()
    for x, kind, consts, _, _ in drawn + [c for c in judged.NUMERICAL_CASES]:
        local = torch.as_tensor(x, dtype=torch.float64)
        f = judged.Function(kind, consts)
        estimate = f.differences(local, 1e-6)
        assert torch.allclose(estimate, f.grad(local), rtol=1e-5, atol=1e-8)


def test_every_function_kind_is_differentiable_on_its_shapes():
    for shape in judged.SHAPES:
        for kind in judged.kinds_for(shape):
            cshape = judged.CONSTANTS[kind][1](shape) if kind in judged.CONSTANTS else None
            consts = {} if cshape is None else {"C": torch.full(cshape, 0.5).tolist()}
            x = torch.full(shape, 0.25, dtype=torch.float64)
            f = judged.Function(kind, consts)
            assert f.here(x).shape == ()
            assert f.grad(x).shape == shape


# =============================================================================================
# 3. Answers only a cheat sends
# =============================================================================================


@pytest.mark.parametrize("exercise, fn", [
    pytest.param("grad_of", lambda f, x: torch.zeros_like(x).as_subclass(AlwaysEqual), id="grad_of"),
    pytest.param("relu_out_of_place", lambda x: x.detach().clone().as_subclass(AlwaysEqual), id="relu"),
    pytest.param("numerical_grad", lambda f, x, eps=1e-6: torch.zeros_like(x).as_subclass(AlwaysEqual),
                 id="numerical_grad"),
])
def test_tensor_subclass_results_are_rejected(exercise, fn):
    result = failure_of(exercise, fn)
    assert result["status"] == "tampering", result["message"]
    assert "subclass of torch.Tensor" in result["message"]


def test_sgd_step_cannot_swap_a_parameter_for_a_subclass():
    def swap(params, lr):
        for p in params:
            if p.grad is not None:
                p.__class__ = AlwaysEqual
    result = failure_of("sgd_step", swap)
    assert result["status"] in ("tampering", "fail"), result

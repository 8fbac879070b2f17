"""Gallery for the hidden checks of 09_training (autograder/judge/exercises/training.py).

1. Alternative correct solutions, written the ways students write them: every one must pass.
2. Wrong solutions of the kinds students write: every one must fail (not as tampering), and the
   message must name the mistake.
3. The references and the fixtures the checks rest on.

The judge builds every model, loader, loss and optimizer in the candidate from specs and runs its
own reference loop on the same construction; numpy_two_layer_grads runs with torch unavailable.
"""

import sys

import numpy as np
import pytest
import torch
from torch import nn

from autograder.candidate import operations
from autograder.judge.exercises import training as judged
from autograder.protocol import fixtures, values

from judging import gallery_tests, rows, stub

# =============================================================================================
# train_epoch
# =============================================================================================


def te_canonical(model, loader, loss_fn, optimizer):
    model.train()
    total, count = 0.0, 0
    for x, y in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(x)
        count += len(x)
    return total / count


def te_zero_at_end(model, loader, loss_fn, optimizer):
    model.train()
    total, count = 0.0, 0
    for x, y in loader:
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        total += loss.item() * x.shape[0]
        count += x.shape[0]
    return total / count


def te_model_zero_grad(model, loader, loss_fn, optimizer):
    model.train(True)
    sums, n = 0.0, 0
    for inputs, targets in loader:
        model.zero_grad()
        out = model(inputs)
        loss = loss_fn(out, targets)
        loss.backward()
        optimizer.step()
        sums += float(loss) * targets.size(0)
        n += targets.size(0)
    return sums / n


def te_tensor_total(model, loader, loss_fn, optimizer):
    model.train()
    total, n = None, 0
    for x, y in loader:
        optimizer.zero_grad(set_to_none=False)
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        part = loss.detach().double() * len(x)
        total = part if total is None else total + part
        n += len(x)
    return (total / n).item()


def te_grads_to_none(model, loader, loss_fn, optimizer):
    model.train()
    losses, sizes = [], []
    for x, y in loader:
        for p in model.parameters():
            p.grad = None
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        sizes.append(len(y))
    return float(np.average(losses, weights=sizes))


def te_enable_grad(model, loader, loss_fn, optimizer):
    model.train()
    total, count = 0.0, 0
    with torch.enable_grad():
        for batch in loader:
            x, y = batch
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(x)
            count += len(x)
    return total / count


def te_step_closure(model, loader, loss_fn, optimizer):
    model.train()
    total, count = 0.0, 0
    for x, y in loader:
        def closure(x=x, y=y):
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            return loss
        loss = optimizer.step(closure)
        total += loss.item() * len(x)
        count += len(x)
    return total / count


def te_enumerate(model, loader, loss_fn, optimizer):
    model.train()
    weighted = []
    for _i, (x, y) in enumerate(loader):
        optimizer.zero_grad()
        pred = model(x)
        loss = loss_fn(pred, y)
        loss.backward()
        optimizer.step()
        weighted.append((loss.item(), len(x)))
    return sum(v * s for v, s in weighted) / sum(s for _, s in weighted)


TRAIN_OK = [
    ("canonical", te_canonical),
    ("zero_grad_at_the_end", te_zero_at_end),
    ("model_zero_grad", te_model_zero_grad),
    ("tensor_total", te_tensor_total),
    ("grads_to_none_np_average", te_grads_to_none),
    ("enable_grad", te_enable_grad),
    ("step_with_closure", te_step_closure),
    ("enumerate_pairs", te_enumerate),
]


def tw_no_zero_grad(model, loader, loss_fn, optimizer):
    model.train()
    total, count = 0.0, 0
    for x, y in loader:
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(x)
        count += len(x)
    return total / count


def tw_step_first(model, loader, loss_fn, optimizer):
    model.train()
    total, count = 0.0, 0
    for x, y in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        optimizer.step()
        loss.backward()
        total += loss.item() * len(x)
        count += len(x)
    return total / count


def tw_step_first_no_zero(model, loader, loss_fn, optimizer):
    model.train()
    total, count = 0.0, 0
    for x, y in loader:
        loss = loss_fn(model(x), y)
        optimizer.step()
        loss.backward()
        total += loss.item() * len(x)
        count += len(x)
    return total / count


def tw_mean_of_batches(model, loader, loss_fn, optimizer):
    model.train()
    losses = []
    for x, y in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return sum(losses) / len(losses)


def tw_no_train(model, loader, loss_fn, optimizer):
    total, count = 0.0, 0
    for x, y in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(x)
        count += len(x)
    return total / count


def tw_last_loss(model, loader, loss_fn, optimizer):
    model.train()
    for x, y in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
    return loss.item()


def tw_not_divided(model, loader, loss_fn, optimizer):
    model.train()
    total = 0.0
    for x, y in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(x)
    return total


def tw_tensor_result(model, loader, loss_fn, optimizer):
    model.train()
    total, count = 0.0, 0
    for x, y in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        total = total + loss.detach() * len(x)
        count += len(x)
    return total / count


def tw_under_no_grad(model, loader, loss_fn, optimizer):
    model.train()
    total, count = 0.0, 0
    for x, y in loader:
        optimizer.zero_grad()
        with torch.no_grad():
            loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(x)
        count += len(x)
    return total / count


def tw_item_backward(model, loader, loss_fn, optimizer):
    model.train()
    total, count = 0.0, 0
    for x, y in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(x), y).item()
        loss.backward()
        optimizer.step()
        total += loss * len(x)
        count += len(x)
    return total / count


def tw_zero_before_step(model, loader, loss_fn, optimizer):
    model.train()
    total, count = 0.0, 0
    for x, y in loader:
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.zero_grad()
        optimizer.step()
        total += loss.item() * len(x)
        count += len(x)
    return total / count


TRAIN_WRONG = [
    ("no_zero_grad", tw_no_zero_grad, "never cleared"),
    ("step_before_backward", tw_step_first, "step() ran before loss.backward()"),
    ("step_before_backward_no_zero_grad", tw_step_first_no_zero, "step() ran before loss.backward()"),
    ("mean_of_batch_means", tw_mean_of_batches, "mean of the batch losses"),
    ("no_model_train", tw_no_train, "left in eval mode"),
    ("last_batch_loss", tw_last_loss, "last batch's loss"),
    ("not_divided", tw_not_divided, "not yet divided"),
    ("tensor_result", tw_tensor_result, "should be a Python float"),
    ("loss_under_no_grad", tw_under_no_grad, "computed under torch.no_grad()"),
    ("item_then_backward", tw_item_backward, "is a Python float"),
    ("zero_grad_before_step", tw_zero_before_step, "cleared between backward() and"),
    ("stub", stub, "NotImplementedError"),
]


# =============================================================================================
# evaluate
# =============================================================================================

def ev_canonical(model, loader, loss_fn):
    model.eval()
    total, correct, count = 0.0, 0, 0
    with torch.no_grad():
        for x, y in loader:
            out = model(x)
            total += loss_fn(out, y).item() * len(x)
            correct += (out.argmax(dim=1) == y).sum().item()
            count += len(x)
    return total / count, correct / count


def ev_inference_mode(model, loader, loss_fn):
    model.eval()
    total, correct, count = 0.0, 0, 0
    with torch.inference_mode():
        for x, y in loader:
            out = model(x)
            total += loss_fn(out, y).item() * x.shape[0]
            correct += int((out.argmax(1) == y).sum())
            count += x.shape[0]
    return total / count, correct / count


def ev_set_grad_enabled(model, loader, loss_fn):
    model.train(False)
    losses, hits, n = 0.0, 0.0, 0
    with torch.set_grad_enabled(False):
        for x, y in loader:
            logits = model(x)
            losses += float(loss_fn(logits, y)) * y.numel()
            hits += (logits.argmax(-1) == y).float().sum().item()
            n += y.numel()
    return losses / n, hits / n


@torch.no_grad()
def ev_decorated(model, loader, loss_fn):
    model.eval()
    total, correct, count = 0.0, 0, 0
    for x, y in loader:
        out = model(x)
        total += loss_fn(out, y).item() * len(x)
        correct += (out.max(1).indices == y).sum().item()
        count += len(x)
    return (total / count, correct / count)


def ev_concatenated(model, loader, loss_fn):
    model.eval()
    outs, ys = [], []
    with torch.no_grad():
        for x, y in loader:
            outs.append(model(x))
            ys.append(y)
        out, y = torch.cat(outs), torch.cat(ys)
        return loss_fn(out, y).item(), (out.argmax(1) == y).double().mean().item()


def ev_list_result(model, loader, loss_fn):
    model.eval()
    sizes, losses, correct = [], [], []
    with torch.no_grad():
        for x, y in loader:
            out = model(x)
            sizes.append(len(y))
            losses.append(loss_fn(out, y).item())
            correct.append((out.argmax(1) == y).sum().item())
    n = sum(sizes)
    return [sum(v * s for v, s in zip(losses, sizes)) / n, sum(correct) / n]


def ev_numpy_weights(model, loader, loss_fn):
    model.eval()
    losses, sizes, right = [], [], 0
    with torch.no_grad():
        for x, y in loader:
            out = model(x)
            losses.append(loss_fn(out, y).item())
            sizes.append(len(x))
            right += (out.argmax(1) == y).sum().item()
    return float(np.average(losses, weights=sizes)), right / sum(sizes)


def ev_eval_inside(model, loader, loss_fn):
    total, correct, count = 0.0, 0, 0
    with torch.no_grad():
        model.eval()
        for x, y in loader:
            out = model(x)
            total += loss_fn(out, y).item() * len(x)
            correct += (torch.argmax(out, dim=1) == y).sum().item()
            count += len(x)
    return total / count, correct / count


EVAL_OK = [
    ("canonical", ev_canonical),
    ("inference_mode", ev_inference_mode),
    ("set_grad_enabled_false", ev_set_grad_enabled),
    ("no_grad_decorator", ev_decorated),
    ("concatenated_outputs", ev_concatenated),
    ("list_result", ev_list_result),
    ("numpy_weights", ev_numpy_weights),
    ("eval_inside_no_grad", ev_eval_inside),
]


def ew_no_eval(model, loader, loss_fn):
    total, correct, count = 0.0, 0, 0
    with torch.no_grad():
        for x, y in loader:
            out = model(x)
            total += loss_fn(out, y).item() * len(x)
            correct += (out.argmax(dim=1) == y).sum().item()
            count += len(x)
    return total / count, correct / count


def ew_no_no_grad(model, loader, loss_fn):
    model.eval()
    total, correct, count = 0.0, 0, 0
    for x, y in loader:
        out = model(x)
        total += loss_fn(out, y).item() * len(x)
        correct += (out.argmax(dim=1) == y).sum().item()
        count += len(x)
    return total / count, correct / count


def ew_count(model, loader, loss_fn):
    model.eval()
    total, correct, count = 0.0, 0, 0
    with torch.no_grad():
        for x, y in loader:
            out = model(x)
            total += loss_fn(out, y).item() * len(x)
            correct += (out.argmax(dim=1) == y).sum().item()
            count += len(x)
    return total / count, float(correct)


def ew_percent(model, loader, loss_fn):
    model.eval()
    total, correct, count = 0.0, 0, 0
    with torch.no_grad():
        for x, y in loader:
            out = model(x)
            total += loss_fn(out, y).item() * len(x)
            correct += (out.argmax(dim=1) == y).sum().item()
            count += len(x)
    return total / count, 100.0 * correct / count


def ew_mean_of_batches(model, loader, loss_fn):
    model.eval()
    losses, correct, count = [], 0, 0
    with torch.no_grad():
        for x, y in loader:
            out = model(x)
            losses.append(loss_fn(out, y).item())
            correct += (out.argmax(dim=1) == y).sum().item()
            count += len(x)
    return sum(losses) / len(losses), correct / count


def ew_zero_grad(model, loader, loss_fn):
    model.eval()
    model.zero_grad()
    total, correct, count = 0.0, 0, 0
    with torch.no_grad():
        for x, y in loader:
            out = model(x)
            total += loss_fn(out, y).item() * len(x)
            correct += (out.argmax(dim=1) == y).sum().item()
            count += len(x)
    return total / count, correct / count


def ew_batch_accuracies(model, loader, loss_fn):
    model.eval()
    total, accs, count = 0.0, [], 0
    with torch.no_grad():
        for x, y in loader:
            out = model(x)
            total += loss_fn(out, y).item() * len(x)
            accs.append((out.argmax(dim=1) == y).float().mean().item())
            count += len(x)
    return total / count, sum(accs) / len(accs)


def ew_tensors(model, loader, loss_fn):
    model.eval()
    total, correct, count = 0.0, 0, 0
    with torch.no_grad():
        for x, y in loader:
            out = model(x)
            total = total + loss_fn(out, y) * len(x)
            correct = correct + (out.argmax(dim=1) == y).sum()
            count += len(x)
    return total / count, correct / count


def ew_argmax_dim0(model, loader, loss_fn):
    model.eval()
    total, correct, count = 0.0, 0, 0
    with torch.no_grad():
        for x, y in loader:
            out = model(x)
            total += loss_fn(out, y).item() * len(x)
            correct += (out.argmax(dim=0)[:1] == y[:1]).sum().item()
            count += len(x)
    return total / count, correct / count


EVAL_WRONG = [
    ("no_model_eval", ew_no_eval, "left in training mode"),
    ("no_no_grad", ew_no_no_grad, "built an autograd graph"),
    ("accuracy_as_count", ew_count, "number of correct samples"),
    ("accuracy_as_percent", ew_percent, "percentage"),
    ("mean_of_batch_means", ew_mean_of_batches, "mean of the batch losses"),
    ("zero_grad_in_evaluate", ew_zero_grad, ".grad changed during evaluate"),
    ("mean_of_batch_accuracies", ew_batch_accuracies, "mean of the batches' accuracies"),
    ("tensor_results", ew_tensors, "should be a Python float"),
    ("argmax_over_dim_0", ew_argmax_dim0, "the returned accuracy is wrong"),
    ("stub", stub, "NotImplementedError"),
]


# =============================================================================================
# numpy_two_layer_grads
# =============================================================================================

def ng_canonical(x, y, W1, b1, W2, b2):
    n, k = y.shape
    z = x @ W1 + b1
    h = np.maximum(z, 0)
    out = h @ W2 + b2
    dout = 2 * (out - y) / (n * k)
    dz = (dout @ W2.T) * (z > 0)
    return {"W1": x.T @ dz, "b1": dz.sum(axis=0), "W2": h.T @ dout, "b2": dout.sum(axis=0)}


def ng_mask_from_h(x, y, W1, b1, W2, b2):
    h = np.maximum(x @ W1 + b1, 0.0)
    out = h @ W2 + b2
    dout = 2.0 * (out - y) / out.size
    dh = dout @ W2.T
    dz = dh * (h > 0)
    return {"W1": x.T @ dz, "b1": np.sum(dz, axis=0), "W2": h.T @ dout, "b2": np.sum(dout, axis=0)}


def ng_where(x, y, W1, b1, W2, b2):
    z = np.dot(x, W1) + b1
    h = np.where(z > 0, z, 0)
    out = np.dot(h, W2) + b2
    d = 2 * (out - y) / np.prod(y.shape)
    dz = np.where(z > 0, np.dot(d, W2.T), 0.0)
    return dict(W1=np.dot(x.T, dz), b1=dz.sum(0), W2=np.dot(h.T, d), b2=d.sum(0))


def ng_einsum(x, y, W1, b1, W2, b2):
    z = np.einsum("nd,dh->nh", x, W1) + b1
    h = z * (z > 0)
    out = np.einsum("nh,hk->nk", h, W2) + b2
    g = 2 * (out - y) / y.size
    dz = np.einsum("nk,hk->nh", g, W2) * (z > 0)
    return {"W1": np.einsum("nd,nh->dh", x, dz), "b1": dz.sum(0),
            "W2": np.einsum("nh,nk->hk", h, g), "b2": g.sum(0)}


def ng_heaviside(x, y, W1, b1, W2, b2):
    z = x @ W1 + b1
    h = np.maximum(0, z)
    out = h @ W2 + b2
    dout = (out - y) * (2.0 / (y.shape[0] * y.shape[1]))
    dz = (dout @ W2.T) * np.heaviside(z, 0.0)
    return {"W2": h.T @ dout, "b2": dout.sum(axis=0), "W1": x.T @ dz, "b1": dz.sum(axis=0)}


def ng_masked_copy(x, y, W1, b1, W2, b2):
    z = x @ W1 + b1
    h = z.copy()
    h[h < 0] = 0
    out = h @ W2 + b2
    dout = 2 * (out - y) / (len(x) * y.shape[1])
    dz = dout @ W2.T
    dz[z <= 0] = 0
    return {"W1": x.T @ dz, "b1": dz.sum(axis=0), "W2": h.T @ dout, "b2": dout.sum(axis=0)}


def ng_keepdims(x, y, W1, b1, W2, b2):
    z = x @ W1 + b1[None, :]
    h = np.clip(z, 0, None)
    out = h @ W2 + b2[None, :]
    dout = 2 * (out - y) / (out.shape[0] * out.shape[1])
    dz = (dout @ W2.T) * (z > 0).astype(float)
    return {"W1": (x.T @ dz).reshape(W1.shape), "b1": dz.sum(axis=0, keepdims=True).reshape(-1),
            "W2": h.T @ dout, "b2": np.sum(dout, axis=0, keepdims=True)[0]}


def ng_per_sample(x, y, W1, b1, W2, b2):
    n, k = y.shape
    grads = {"W1": np.zeros_like(W1), "b1": np.zeros_like(b1), "W2": np.zeros_like(W2), "b2": np.zeros_like(b2)}
    for i in range(n):
        z = x[i] @ W1 + b1
        h = np.maximum(z, 0)
        d = 2 * (h @ W2 + b2 - y[i]) / (n * k)
        grads["W2"] += np.outer(h, d)
        grads["b2"] += d
        dz = (W2 @ d) * (z > 0)
        grads["W1"] += np.outer(x[i], dz)
        grads["b1"] += dz
    return grads


GRADS_OK = [
    ("canonical", ng_canonical),
    ("mask_from_h", ng_mask_from_h),
    ("np_where", ng_where),
    ("einsum", ng_einsum),
    ("heaviside", ng_heaviside),
    ("masked_copy", ng_masked_copy),
    ("keepdims_reshape", ng_keepdims),
    ("per_sample_loop", ng_per_sample),
]


def _wrong_grads(**options):
    def wrong(x, y, W1, b1, W2, b2):
        return judged.hand_grads(x, y, W1, b1, W2, b2, **options)
    return wrong


def nw_db1_all(x, y, W1, b1, W2, b2):
    g = ng_canonical(x, y, W1, b1, W2, b2)
    g["b1"] = g["b1"].sum()
    return g


def nw_db1_axis1(x, y, W1, b1, W2, b2):
    n, k = y.shape
    z = x @ W1 + b1
    h = np.maximum(z, 0)
    dout = 2 * (h @ W2 + b2 - y) / (n * k)
    dz = (dout @ W2.T) * (z > 0)
    return {"W1": x.T @ dz, "b1": dz.sum(axis=1), "W2": h.T @ dout, "b2": dout.sum(axis=0)}


def nw_dW1_transposed(x, y, W1, b1, W2, b2):
    g = ng_canonical(x, y, W1, b1, W2, b2)
    g["W1"] = g["W1"].T
    return g


def nw_uses_torch(x, y, W1, b1, W2, b2):
    ps = [torch.tensor(a, requires_grad=True) for a in (W1, b1, W2, b2)]
    out = torch.relu(torch.tensor(x) @ ps[0] + ps[1]) @ ps[2] + ps[3]
    ((out - torch.tensor(y)) ** 2).mean().backward()
    return {k: p.grad.numpy() for k, p in zip(("W1", "b1", "W2", "b2"), ps)}


def nw_returns_tuple(x, y, W1, b1, W2, b2):
    g = ng_canonical(x, y, W1, b1, W2, b2)
    return g["W1"], g["b1"], g["W2"], g["b2"]


GRADS_WRONG = [
    ("relu_derivative_inverted", _wrong_grads(mask="inverted"), "wrong side"),
    ("no_relu_derivative", _wrong_grads(mask="none"), "derivative is missing"),
    ("mask_without_b1", _wrong_grads(mask="no_b1"), "without b1"),
    ("missing_factor_2", _wrong_grads(scale="1/NK"), "factor 2"),
    ("mean_over_rows_only", _wrong_grads(scale="2/N"), "wrong axis"),
    ("mean_over_columns_only", _wrong_grads(scale="2/K"), "wrong axis"),
    ("sum_not_mean", _wrong_grads(scale="2"), "sum of squares"),
    ("db1_summed_over_all", nw_db1_all, "summed over the samples"),
    ("db1_summed_over_axis_1", nw_db1_axis1, "summed over the samples"),
    ("dW1_transposed", nw_dW1_transposed, "transposed"),
    ("uses_torch", nw_uses_torch, "NumPy only"),
    ("returns_a_tuple", nw_returns_tuple, "should be a dict"),
    ("stub", stub, "NotImplementedError"),
]


CORRECT = rows("train_epoch", TRAIN_OK) + rows("evaluate", EVAL_OK) + rows("numpy_two_layer_grads", GRADS_OK)
WRONG = (rows("train_epoch", TRAIN_WRONG) + rows("evaluate", EVAL_WRONG)
         + rows("numpy_two_layer_grads", GRADS_WRONG))

gallery_tests(globals(), "09_training", CORRECT, WRONG)


# =============================================================================================
# 3. The references and the fixtures
# =============================================================================================

@pytest.mark.parametrize("shape", judged.GRAD_CASES)
def test_the_hand_derived_gradients_agree_with_autograd(shape):
    arrays = judged.two_layer_inputs(*shape)
    want = judged.autograd_grads(*arrays)
    got = judged.hand_grads(*arrays)
    for key in judged.KEYS:
        assert np.allclose(got[key], want[key], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("run", judged.TRAIN_CASES, ids=repr)
def test_every_named_train_mistake_is_told_apart_from_the_right_loop(run):
    right = judged.reference_epoch(run, torch.float32)
    for how in ("no_zero_grad", "step_first", "step_first_no_zero"):
        wrong = judged.reference_epoch(run, torch.float32, how)
        if wrong is None:  # this mistake raises on this run (a step changed a weight backward needs)
            assert how == "step_first_no_zero"
            continue
        assert any(not torch.allclose(right[0][k], wrong[0][k], rtol=1e-5, atol=1e-6) for k in right[0]), how
    losses, sizes = right[2], right[3]
    assert sizes[-1] < sizes[0], "the last batch must be ragged"
    assert abs(sum(losses) / len(losses) - right[1]) > 1e-5


def test_batches_fixture_makes_a_ragged_list_and_a_dataloader():
    x = values.encode_tensor_input(torch.arange(10.0).reshape(5, 2))
    y = values.encode_tensor_input(torch.arange(5))
    as_list = fixtures.build({"$": "spec", "kind": "batches", "x": x, "y": y, "batch_size": 2})
    assert [len(b[0]) for b in as_list] == [2, 2, 1]
    loader = fixtures.build({"$": "spec", "kind": "batches", "x": x, "y": y, "batch_size": 2, "loader": "dataloader"})
    assert isinstance(loader, torch.utils.data.DataLoader)
    assert [len(b[0]) for b in loader] == [2, 2, 1]


def test_recorded_loss_notes_grad_mode_and_graph():
    loss = fixtures.build({"$": "spec", "kind": "loss", "name": "mse"})
    out = torch.ones(2, 3, requires_grad=True)
    loss(out * 2, torch.zeros(2, 3))
    with torch.no_grad():
        value = loss(out * 2, torch.zeros(2, 3))
    assert loss.log == [[True, True], [False, False]]
    assert value.item() == 4.0


def test_optimizer_and_with_grads_fixtures():
    lin = {"$": "spec", "kind": "linear", "in": 2, "out": 1}
    grads = [["weight", values.encode_tensor_input(torch.ones(1, 2))]]
    model = fixtures.build({"$": "spec", "kind": "with_grads", "module": lin, "grads": grads})
    assert torch.equal(model.weight.grad, torch.ones(1, 2)) and model.bias.grad is None
    handles = values.Handles()
    ref = handles.number(model)
    opt = fixtures.build({"$": "spec", "kind": "optimizer", "name": "sgd", "module": {"$": "ref", "ref": ref},
                          "lr": 0.5, "momentum": 0.9}, handles)
    assert isinstance(opt, torch.optim.SGD) and opt.param_groups[0]["momentum"] == 0.9
    assert len(opt.param_groups[0]["params"]) == 2
    adam = fixtures.build({"$": "spec", "kind": "optimizer", "name": "adam", "module": {"$": "ref", "ref": ref},
                           "lr": 0.1}, handles)
    assert isinstance(adam, torch.optim.Adam)


def test_ndarray_fixture_is_a_numpy_copy():
    enc = values.encode_tensor_input(torch.arange(6, dtype=torch.float64).reshape(2, 3))
    a = fixtures.build({"$": "spec", "kind": "ndarray", "tensor": enc})
    assert isinstance(a, np.ndarray) and a.dtype == np.float64 and a.shape == (2, 3)


def test_without_torch_hides_torch_for_the_call_only():
    scope = {"torch": torch, "nn": nn, "np": np}
    exec("def f():\n    import importlib\n    try:\n        importlib.import_module('torch')\n"
         "    except ImportError:\n        return 'hidden'\n    return 'visible'\n"
         "def g():\n    return torch.zeros(1)\n", scope)
    assert operations.OPS["without_torch"](scope["f"]) == "hidden"
    with pytest.raises(ImportError, match="torch is not available here"):
        operations.OPS["without_torch"](scope["g"])
    assert scope["torch"] is torch and scope["nn"] is nn and sys.modules["torch"] is torch
    assert scope["f"]() == "visible"

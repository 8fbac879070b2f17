"""The visible tests of 02_autograd mean something, and its ungraded practice checks itself.

RIGHT holds correct alternatives (each must pass its exercise's visible test), WRONG the mistakes
the notebook warns about (each must fail it, for the stated reason); `visible.visible_tests`
tries them, and the instructor's solution, the release stub and samples/solutions/02_autograd.py.
Own regressions: the folded solutions of the practice puzzles pass their self-checks, the stubs
say "not written yet" without raising, and the practice cells that use the graded functions
wait for them politely while they are stubs.
"""

import pytest

from visible import Notebook, defined_name, practice_tests, split_defs, visible_tests

NOTEBOOK = Notebook("02_autograd")
BY_ID, SOLUTIONS, STUBS, run = NOTEBOOK.by_id, NOTEBOOK.solutions, NOTEBOOK.stubs, NOTEBOOK.run


def fn(name, args, body):
    return f"def {name}({args}):\n" + "\n".join("    " + line for line in body.strip("\n").splitlines())


def go(body):
    return fn("grad_of", "f, x", body)


def relu(body):
    return fn("relu_out_of_place", "x", body)


def sgd(body):
    return fn("sgd_step", "params, lr", body)


def ng(body):
    return fn("numerical_grad", "f, x, eps=1e-6", body)


LOOP = """
x = x.detach()
out = torch.zeros_like(x).reshape(-1)
for i in range(x.numel()):
    e = torch.zeros_like(out)
    e[i] = {step}
    e = e.reshape(x.shape)
    out[i] = {formula}
return out.reshape(x.shape)"""


def ng_loop(formula, step="eps"):
    return ng(LOOP.format(formula=formula, step=step))


# (exercise, what the mistake is, the code, a phrase of the message the visible test must give)
WRONG = [
    # grad_of
    ("grad_of", "backward() on x itself", go("x.requires_grad_(True)\nf(x).backward()\nreturn x.grad"),
     "requires_grad was False before the call"),
    ("grad_of", "backward() on x, flag restored", go(
        "had = x.requires_grad\nx.requires_grad_(True)\nf(x).backward()\nx.requires_grad_(had)\nreturn x.grad.clone()"),
     ".grad was None before the call and holds a gradient"),
    ("grad_of", "clone() without detach()", go("x2 = x.clone().requires_grad_()\nf(x2).backward()\nreturn x2.grad"),
     "expected a torch.Tensor, got a NoneType"),
    ("grad_of", "backward() through x when it requires grad (accumulates)", go(
        "if not x.requires_grad:\n    x = x.detach().requires_grad_()\nf(x).backward()\nreturn x.grad"),
     "accumulated into x.grad"),
    ("grad_of", "x.grad = None, then backward() through x", go(
        "if not x.requires_grad:\n    x = x.detach().requires_grad_()\nx.grad = None\nf(x).backward()\nreturn x.grad.clone()"),
     ".grad changed during the call"),
    ("grad_of", "create_graph=True", go(
        "x2 = x.detach().clone().requires_grad_()\nreturn torch.autograd.grad(f(x2), x2, create_graph=True)[0]"),
     "still part of a graph"),
    ("grad_of", "f under torch.no_grad()", go(
        "with torch.no_grad():\n    x2 = x.detach().clone().requires_grad_()\n    y = f(x2)\nreturn torch.autograd.grad(y, x2)[0]"),
     "does not require grad and does not have a grad_fn"),
    ("grad_of", "x without requires_grad", go("return torch.autograd.grad(f(x), x)[0]"),
     "does not require grad and does not have a grad_fn"),
    ("grad_of", "converts to float32", go("x2 = x.detach().float().requires_grad_()\nf(x2).backward()\nreturn x2.grad"),
     "wrong dtype"),
    ("grad_of", "finite differences", go("""
x = x.detach()
g = torch.zeros_like(x).reshape(-1)
for i in range(x.numel()):
    e = torch.zeros_like(g)
    e[i] = 1e-3
    g[i] = (f(x + e.reshape(x.shape)) - f(x - e.reshape(x.shape))) / 2e-3
return g.reshape(x.shape)"""), "wrong values"),
    # relu_out_of_place
    ("relu_out_of_place", "torch.relu_", relu("return torch.relu_(x)"), "leaf Variable that requires grad"),
    ("relu_out_of_place", "x[x < 0] = 0", relu("x[x < 0] = 0\nreturn x"), "leaf Variable that requires grad"),
    ("relu_out_of_place", "clamp_", relu("return x.clamp_(min=0)"), "leaf Variable that requires grad"),
    ("relu_out_of_place", "F.relu(inplace=True)", relu("return torch.nn.functional.relu(x, inplace=True)"),
     "leaf Variable that requires grad"),
    ("relu_out_of_place", "nn.ReLU(inplace=True)", relu("return torch.nn.ReLU(inplace=True)(x)"),
     "leaf Variable that requires grad"),
    ("relu_out_of_place", "detach()", relu("return x.detach().clamp(min=0)"), "gradients cannot flow back"),
    ("relu_out_of_place", "torch.no_grad()", relu("with torch.no_grad():\n    return torch.relu(x)"),
     "gradients cannot flow back"),
    ("relu_out_of_place", "a new leaf", relu("return x.detach().clamp(min=0).requires_grad_(x.requires_grad)"),
     "new leaf"),
    ("relu_out_of_place", "through NumPy", relu("return torch.from_numpy(np.maximum(x.numpy(), 0))"),
     "Can't call numpy()"),
    ("relu_out_of_place", "the mask", relu("return (x > 0).to(x.dtype)"), "wrong values"),
    ("relu_out_of_place", "clamp(max=0)", relu("return x.clamp(max=0)"), "wrong values"),
    ("relu_out_of_place", "clamp_ through .data", relu("x.data.clamp_(min=0)\nreturn x"), "its values changed"),
    ("relu_out_of_place", "straight-through gradient", relu("return x + (x.clamp(min=0) - x).detach()"),
     "wrong values"),
    ("relu_out_of_place", "zeros made on the CPU", relu("return torch.maximum(x, torch.zeros(x.shape, dtype=x.dtype))"),
     "mixes devices"),
    # sgd_step
    ("sgd_step", "no reset", sgd("with torch.no_grad():\n    for p in params:\n        if p.grad is not None:\n"
                                 "            p -= lr * p.grad"), "expected None or zeros"),
    ("sgd_step", "update outside no_grad", sgd("for p in params:\n    if p.grad is not None:\n"
                                               "        p -= lr * p.grad\n        p.grad = None"),
     "leaf Variable that requires grad"),
    ("sgd_step", "p = p - lr * p.grad", sgd("for p in params:\n    if p.grad is not None:\n"
                                            "        p = p - lr * p.grad\n        p.grad = None"), "wrong values"),
    ("sgd_step", "no check for None", sgd("with torch.no_grad():\n    for p in params:\n        p -= lr * p.grad\n"
                                          "        p.grad = None"), "unsupported operand"),
    ("sgd_step", "zero_() on a None .grad", sgd("with torch.no_grad():\n    for p in params:\n"
                                                "        if p.grad is not None:\n            p -= lr * p.grad\n"
                                                "        p.grad.zero_()"), "'NoneType' object has no attribute"),
    ("sgd_step", "p + lr * p.grad", sgd("with torch.no_grad():\n    for p in params:\n        if p.grad is not None:\n"
                                        "            p += lr * p.grad\n            p.grad = None"), "wrong values"),
    ("sgd_step", "lr missing", sgd("with torch.no_grad():\n    for p in params:\n        if p.grad is not None:\n"
                                   "            p -= p.grad\n            p.grad = None"), "wrong values"),
    ("sgd_step", "two loops over a generator", sgd(
        "with torch.no_grad():\n    for p in params:\n        if p.grad is not None:\n            p -= lr * p.grad\n"
        "for p in params:\n    p.grad = None"), "expected None or zeros"),
    ("sgd_step", "len(params)", sgd("with torch.no_grad():\n    for i in range(len(params)):\n        p = params[i]\n"
                                    "        if p.grad is not None:\n            p -= lr * p.grad\n            p.grad = None"),
     "has no len()"),
    ("sgd_step", "returns new tensors", sgd("return [p - lr * p.grad if p.grad is not None else p for p in params]"),
     "expected None, got a list"),
    ("sgd_step", "requires_grad left off", sgd(
        "for p in params:\n    if p.grad is not None:\n        p.requires_grad_(False)\n        p -= lr * p.grad\n"
        "        p.grad = None"), "no longer requires grad"),
    ("sgd_step", "zeros for the unused", sgd(
        "with torch.no_grad():\n    for p in params:\n        if p.grad is not None:\n            p -= lr * p.grad\n"
        "        p.grad = torch.zeros_like(p)"), ".grad was None before the call and holds a gradient"),
    ("sgd_step", "optimizer without zero_grad", sgd("torch.optim.SGD(params, lr=lr).step()"), "expected None or zeros"),
    # numerical_grad
    ("numerical_grad", "one-sided (forward)", ng_loop("(f(x + e) - f(x)) / eps"), "wrong values"),
    ("numerical_grad", "one-sided (backward)", ng_loop("(f(x) - f(x - e)) / eps"), "wrong values"),
    ("numerical_grad", "divides by eps", ng_loop("(f(x + e) - f(x - e)) / eps"), "wrong values"),
    ("numerical_grad", "ignores eps", ng_loop("(f(x + e) - f(x - e)) / 2e-6", step="1e-6"), "wrong values"),
    ("numerical_grad", "every entry at once", ng("x = x.detach()\nreturn (f(x + eps) - f(x - eps)) / (2 * eps) * torch.ones_like(x)"),
     "wrong values"),
    ("numerical_grad", "float32, converted back", ng(LOOP.replace("x = x.detach()", "x = x.detach().float()")
                                                     .format(formula="(f(x + e) - f(x - e)) / (2 * eps)", step="eps")
                                                     + ".double()"), "wrong values"),
    ("numerical_grad", "float32 result", ng(LOOP.replace("x = x.detach()", "x = x.detach().float()")
                                            .format(formula="(f(x + e) - f(x - e)) / (2 * eps)", step="eps")),
     "wrong dtype"),
    ("numerical_grad", "torch.tensor of Python floats", ng("""
x = x.detach()
values = []
for i in range(x.numel()):
    e = torch.zeros_like(x).reshape(-1)
    e[i] = eps
    values.append(((f(x + e.reshape(x.shape)) - f(x - e.reshape(x.shape))) / (2 * eps)).item())
return torch.tensor(values).reshape(x.shape)"""), "wrong dtype"),
    ("numerical_grad", "in place into x, restored", ng("""
grad = torch.zeros_like(x)
flat = x.detach().view(-1)
for i in range(x.numel()):
    old = flat[i].item()
    flat[i] = old + eps
    up = f(x.detach())
    flat[i] = old - eps
    down = f(x.detach())
    flat[i] = old
    grad.view(-1)[i] = (up - down) / (2 * eps)
return grad"""), "modified in place"),
    ("numerical_grad", "in place into x that requires grad", ng("""
grad = torch.zeros_like(x)
for i in range(x.numel()):
    x.view(-1)[i] += eps
    up = f(x)
    x.view(-1)[i] -= 2 * eps
    down = f(x)
    x.view(-1)[i] += eps
    grad.view(-1)[i] = (up - down) / (2 * eps)
return grad"""), "its values changed"),
    ("numerical_grad", "perturbs x.clone().reshape(-1)", ng("""
with torch.no_grad():
    grad = torch.zeros(x.shape, dtype=x.dtype, device=x.device)
    for i in range(x.numel()):
        up, down = x.clone(), x.clone()
        up.reshape(-1)[i] += eps
        down.reshape(-1)[i] -= eps
        grad.reshape(-1)[i] = (f(up) - f(down)) / (2 * eps)
return grad"""), "goes into a copy"),
    ("numerical_grad", "view(-1) of a clone of a transpose", ng("""
with torch.no_grad():
    grad = torch.zeros_like(x)
    for i in range(x.numel()):
        up, down = x.clone(), x.clone()
        up.view(-1)[i] += eps
        down.view(-1)[i] -= eps
        grad.view(-1)[i] = (f(up) - f(down)) / (2 * eps)
return grad"""), "view size is not compatible"),
    ("numerical_grad", "flat result", ng_loop("(f(x + e) - f(x - e)) / (2 * eps)").replace(
        "return out.reshape(x.shape)", "return out"), "wrong shape"),
    ("numerical_grad", "recording on when x requires grad", ng(LOOP.replace("x = x.detach()\n", "").format(
        formula="(f(x + e) - f(x - e)) / (2 * eps)", step="eps")), "it requires grad"),
]

RIGHT = [
    ("grad_of", "autograd.grad on detach().clone()",
     go("x2 = x.detach().clone().requires_grad_(True)\nreturn torch.autograd.grad(f(x2), x2)[0]")),
    ("grad_of", "detach() and backward()", go("x2 = x.detach().requires_grad_()\nf(x2).backward()\nreturn x2.grad")),
    ("grad_of", "torch.func.grad", go("return torch.func.grad(f)(x.detach())")),
    ("grad_of", "save and restore x's state", go(
        "had, old = x.requires_grad, x.grad\nx.grad = None\nx.requires_grad_(True)\nf(x).backward()\n"
        "g = x.grad\nx.grad = old\nx.requires_grad_(had)\nreturn g")),
    ("relu_out_of_place", "clamp", relu("return x.clamp(min=0)")),
    ("relu_out_of_place", "where with a Python 0", relu("return torch.where(x > 0, x, 0.0)")),
    ("relu_out_of_place", "times the mask", relu("return x * (x > 0)")),
    ("relu_out_of_place", "clone, then index", relu("out = x.clone()\nout[out < 0] = 0\nreturn out")),
    ("relu_out_of_place", "F.relu", relu("return torch.nn.functional.relu(x)")),
    ("sgd_step", "no_grad around the loop", sgd("with torch.no_grad():\n    for p in params:\n"
                                                "        if p.grad is not None:\n            p -= lr * p.grad\n"
                                                "            p.grad = None")),
    ("sgd_step", "torch.optim.SGD", sgd("opt = torch.optim.SGD(params, lr=lr)\nopt.step()\nopt.zero_grad()")),
    ("sgd_step", "through .data, zero_()", sgd("for p in params:\n    if p.grad is not None:\n"
                                               "        p.data -= lr * p.grad\n        p.grad.zero_()")),
    ("sgd_step", "add_ with alpha", sgd("with torch.no_grad():\n    for p in params:\n        if p.grad is not None:\n"
                                        "            p.add_(p.grad, alpha=-lr)\n            p.grad = None")),
    ("numerical_grad", "flat loop", ng_loop("(f(x + e) - f(x - e)) / (2 * eps)")),
    ("numerical_grad", "identity basis", ng("""
x = x.detach()
basis = eps * torch.eye(x.numel(), dtype=x.dtype, device=x.device)
rows = [(f(x + e.reshape(x.shape)) - f(x - e.reshape(x.shape))) / (2 * eps) for e in basis]
return torch.stack(rows).reshape(x.shape)""")),
    ("numerical_grad", "clone and perturb under no_grad", ng("""
with torch.no_grad():
    grad = torch.zeros(x.shape, dtype=x.dtype, device=x.device)
    for i in range(x.numel()):
        up, down = x.clone(memory_format=torch.contiguous_format), x.contiguous().clone()
        up.view(-1)[i] += eps
        down.view(-1)[i] -= eps
        grad.view(-1)[i] = (f(up) - f(down)) / (2 * eps)
return grad""")),
]


visible_tests(globals(), NOTEBOOK, right=RIGHT, wrong=WRONG)


# --------------------------------------------------------------------------- ungraded practice

CONTEXT = [BY_ID["practice-setup"].source]
PRACTICE = practice_tests(globals(), NOTEBOOK, CONTEXT)


def test_the_practice_has_four_derivative_puzzles():
    names = [defined_name(check.source) for _, _, check in PRACTICE]
    assert names == ["d_x_sin", "d_sigmoid", "d_log1p_square", "d_tanh_squared"]


def test_a_wrong_derivative_is_caught():
    _, _, check = PRACTICE[1]
    _, calls = split_defs(check.source)
    out, _ = run(*CONTEXT, "def d_sigmoid(x):\n    return torch.sigmoid(x)\n", calls)
    assert "✗ d_sigmoid(" in out


@pytest.mark.parametrize("cell_id, waits_for", [("fit-line", "… write sgd_step"),
                                                ("grad-check", "… write grad_of and numerical_grad"),
                                                ("timing-demo", "… write grad_of and numerical_grad")])
def test_practice_that_uses_the_exercises_waits_for_them(cell_id, waits_for):
    out, _ = run(*STUBS.values(), "from course.graphs import plot_lines", BY_ID[cell_id].source)
    assert waits_for in out


@pytest.mark.parametrize("cell_id, says", [("fit-line", "fitted: w = "), ("grad-check", "✓ they agree")])
def test_practice_that_uses_the_exercises_works_with_the_solutions(cell_id, says):
    prelude = "from course.graphs import plot_lines\n"
    out, _ = run(*SOLUTIONS.values(), prelude, BY_ID[cell_id].source.replace("plt.show()", "plt.close('all')"))
    assert says in out

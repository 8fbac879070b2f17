"""The visible tests of 09_training mean something, and its ungraded practice checks itself.

RIGHT holds correct alternatives (each must pass its exercise's visible test), WRONG the mistakes
the notebook warns about (each must fail it, for the stated reason); `visible.visible_tests`
tries them, and the instructor's solution, the release stub and samples/solutions/09_training.py.
Own regressions: the folded solutions of the practice pass their self-checks, and the stubs the
student starts from say "not written yet" without raising.
"""

import ast

import pytest

from visible import Notebook, defined_name, visible_tests

NOTEBOOK = Notebook("09_training")
NB, BY_ID, SOLUTIONS, run = NOTEBOOK.nb, NOTEBOOK.by_id, NOTEBOOK.solutions, NOTEBOOK.run


def train(body):
    return "def train_epoch(model, loader, loss_fn, optimizer):\n" + body


def evaluate(body):
    return "def evaluate(model, loader, loss_fn):\n" + body


def grads(body):
    return "def numpy_two_layer_grads(x, y, W1, b1, W2, b2):\n" + body


TRAIN_LOOP = """    {train}
    total, count = 0.0, 0
    for x, y in loader:
        {clear}
        loss = loss_fn(model(x), y)
        {first}
        {second}
        total += loss.item() * len(x)
        count += len(x)
    return {result}
"""


def loop(train="model.train()", clear="optimizer.zero_grad()", first="loss.backward()", second="optimizer.step()",
         result="total / count"):
    return train_fn(TRAIN_LOOP.format(train=train, clear=clear, first=first, second=second, result=result))


def train_fn(body):
    return train(body)


EVAL_LOOP = """    {eval}
    total, correct, count = 0.0, 0, 0
    with {grad}:
        for x, y in loader:
            out = model(x)
            total += loss_fn(out, y).item() * len(x)
            correct += (out.argmax(dim={dim}) == y).sum().item()
            count += len(x)
    return {result}
"""


def ev(eval_="model.eval()", grad="torch.no_grad()", dim=1, result="total / count, correct / count"):
    return evaluate(EVAL_LOOP.format(eval=eval_, grad=grad, dim=dim, result=result))


GRADS = """    n, k = y.shape
    z = x @ W1 + b1
    h = np.maximum(z, 0)
    out = h @ W2 + b2
    d_out = {scale} * (out - y)
    d_z = (d_out @ W2.T) * ({mask})
    return {{"W1": {dW1}, "b1": d_z.sum(axis={axis}), "W2": h.T @ d_out, "b2": d_out.sum(axis=0)}}
"""


def gr(scale="2 / (n * k)", mask="z > 0", dW1="x.T @ d_z", axis=0):
    return grads(GRADS.format(scale=scale, mask=mask, dW1=dW1, axis=axis))


RIGHT = [
    ("train_epoch", "zero_grad at the end", loop(clear="pass", second="optimizer.step()\n        optimizer.zero_grad()")),
    ("train_epoch", "model.zero_grad()", loop(clear="model.zero_grad()")),
    ("train_epoch", "train(True)", loop(train="model.train(True)")),
    ("train_epoch", "grads set to None", loop(clear="for p in model.parameters():\n            p.grad = None")),
    ("train_epoch", "lists of losses and sizes", train(
        "    model.train()\n    losses, sizes = [], []\n    for x, y in loader:\n        optimizer.zero_grad()\n"
        "        loss = loss_fn(model(x), y)\n        loss.backward()\n        optimizer.step()\n"
        "        losses.append(loss.item())\n        sizes.append(x.shape[0])\n"
        "    return sum(l * s for l, s in zip(losses, sizes)) / sum(sizes)\n")),
    ("evaluate", "inference_mode", ev(grad="torch.inference_mode()")),
    ("evaluate", "train(False) and set_grad_enabled(False)", ev(eval_="model.train(False)",
                                                                grad="torch.set_grad_enabled(False)")),
    ("evaluate", "argmax over the last dimension", ev(dim=-1)),
    ("evaluate", "a list", ev(result="[total / count, correct / count]")),
    ("numpy_two_layer_grads", "mask from h", gr(mask="h > 0")),
    ("numpy_two_layer_grads", "mean through out.size", gr(scale="2 / out.size")),
    ("numpy_two_layer_grads", "np.where", gr(mask="np.where(z > 0, 1.0, 0.0)")),
    ("numpy_two_layer_grads", "einsum", gr(dW1='np.einsum("nd,nh->dh", x, d_z)')),
]

WRONG = [
    # train_epoch
    ("train_epoch", "no zero_grad", loop(clear="pass"), "model[0].weight after train_epoch"),
    ("train_epoch", "step before backward", loop(first="optimizer.step()", second="loss.backward()"),
     ("model[0].weight after train_epoch", "modified by an inplace operation")),
    ("train_epoch", "mean of batch means", train(
        "    model.train()\n    losses = []\n    for x, y in loader:\n        optimizer.zero_grad()\n"
        "        loss = loss_fn(model(x), y)\n        loss.backward()\n        optimizer.step()\n"
        "        losses.append(loss.item())\n    return sum(losses) / len(losses)\n"), "the mean loss per sample"),
    ("train_epoch", "no model.train()", loop(train="pass"), "model.training after train_epoch"),
    ("train_epoch", "returns a tensor", loop(result="torch.tensor(total / count)"), "type of what train_epoch"),
    ("train_epoch", "not divided", loop(result="total"), "the mean loss per sample"),
    ("train_epoch", "zero_grad between backward and step",
     loop(clear="pass", first="loss.backward()\n        optimizer.zero_grad()"), "model[0].weight after train_epoch"),
    # evaluate
    ("evaluate", "no model.eval()", ev(eval_="pass"), "model.training after evaluate"),
    ("evaluate", "no no_grad", ev(grad="torch.enable_grad()"), "did an output require grad"),
    ("evaluate", "accuracy as a count", ev(result="total / count, float(correct)"), "the accuracy from evaluate"),
    ("evaluate", "accuracy as a percentage", ev(result="total / count, 100 * correct / count"),
     "the accuracy from evaluate"),
    ("evaluate", "zero_grad in evaluate", ev(eval_="model.eval()\n    model.zero_grad()"), "every .grad left as it was"),
    ("evaluate", "mean of batch means", evaluate(
        "    model.eval()\n    losses, correct, count = [], 0, 0\n    with torch.no_grad():\n"
        "        for x, y in loader:\n            out = model(x)\n            losses.append(loss_fn(out, y).item())\n"
        "            correct += (out.argmax(1) == y).sum().item()\n            count += len(x)\n"
        "    return sum(losses) / len(losses), correct / count\n"), "the mean loss per sample from evaluate"),
    ("evaluate", "tensors returned", ev(result="torch.tensor(total / count), torch.tensor(correct / count)"),
     "types of what evaluate"),
    # numpy_two_layer_grads
    ("numpy_two_layer_grads", "ReLU derivative on the wrong side", gr(mask="z < 0"), "result['W1']"),
    ("numpy_two_layer_grads", "no ReLU derivative", gr(mask="1.0"), "result['W1']"),
    ("numpy_two_layer_grads", "mean over the rows only", gr(scale="2 / n"), "result['W1']"),
    ("numpy_two_layer_grads", "factor 2 missing", gr(scale="1 / (n * k)"), "result['W1']"),
    ("numpy_two_layer_grads", "mask without b1", gr(mask="(x @ W1) > 0"), "result['W1']"),
    ("numpy_two_layer_grads", "dW1 transposed", gr(dW1="(x.T @ d_z).T"), "result['W1'].shape"),
    ("numpy_two_layer_grads", "db1 over the wrong axis", gr(axis=1), "result['b1'].shape"),
]

visible_tests(globals(), NOTEBOOK, right=RIGHT, wrong=WRONG)


# --------------------------------------------------------------------------- ungraded practice

PRACTICE = NOTEBOOK.practice("try_practice(")
CONTEXT = [BY_ID["practice-setup"].source]


def split(source):
    """A self-check cell: (the function the student writes, everything else)."""
    tree = ast.parse(source)
    first = tree.body[0]
    rest = [ast.get_source_segment(source, n) for n in tree.body[1:]]
    return ast.get_source_segment(source, first), "\n".join(rest)


def test_the_practice_has_two_self_checking_exercises():
    assert [defined_name(check.source) for _, _, check in PRACTICE] == ["batch_sizes", "numpy_sgd"]


@pytest.mark.parametrize("cell_id, solution, check", PRACTICE, ids=[p[0] for p in PRACTICE])
def test_the_stub_says_not_written_yet(cell_id, solution, check):
    out, _ = run(*CONTEXT, check.source)
    assert "not written yet" in out and "✗" not in out, out


@pytest.mark.parametrize("cell_id, solution, check", PRACTICE, ids=[p[0] for p in PRACTICE])
def test_the_folded_solution_passes_the_self_check(cell_id, solution, check):
    _, rest = split(check.source)
    out, _ = run(*CONTEXT, solution, rest)
    assert "✓" in out and "✗" not in out, out


def test_a_wrong_practice_answer_is_caught():
    _, _, check = PRACTICE[0]
    _, rest = split(check.source)
    wrong = "def batch_sizes(n, batch_size, drop_last=False):\n    return [batch_size] * (n // batch_size)\n"
    out, _ = run(*CONTEXT, wrong, rest)
    assert "✗ batch_sizes" in out, out

"""09_training: train_epoch, evaluate, numpy_two_layer_grads.

The loops are handed what a training script has: a model (an MLP, some with dropout), a loader
(a list of (x, y) batches whose last batch is smaller, or a real torch DataLoader over a
TensorDataset), a loss (nn.MSELoss or nn.CrossEntropyLoss, batch means) and, for train_epoch,
an optimizer (SGD, SGD with momentum, Adam) over all of the model's parameters. All of it is
built in the candidate from specs (`autograder.protocol.fixtures`, block 09_training) and built
again here, the very same way, for the reference loop, which runs here on the CPU in the
trial's dtype; parameters after one epoch and the returned floats are compared within the
contract's rtol=1e-5, atol=1e-6 (accuracy within 1e-6).

What tells the mistakes apart:
- training mode: the model arrives in eval mode (train_epoch) or in training mode (evaluate)
  and the flag is read back after the call, on the model and every submodule;
- no graph in evaluate: the loss fixture notes, per call, whether the model's output required
  grad; the parameters arrive with a .grad already set, which evaluate must leave as it was;
- the mean per sample: the last batch is smaller than the others, so a mean of batch means,
  a last batch's loss or an undivided sum differ from it;
- zero_grad and the order of step and backward: their loops are run here as known mistakes,
  and parameters that match one name it.
Dropout models are compared to the reference on the CPU only, with the same seed on both
sides and a list loader (a DataLoader draws from the random generator when it starts); on
other devices only their modes are checked.

numpy_two_layer_grads runs with torch unavailable in the candidate (`without_torch`): float64
arrays in, a dict of arrays out, compared with torch.autograd's gradients computed here.
Pre-activations are kept at least 1e-3 away from 0.

Readings of the contract (see curriculum.md):
- train_epoch and evaluate return Python floats (a 0-d tensor or a NumPy scalar is not one);
  evaluate returns a tuple or a list of two. An int accuracy (0 or 1) is accepted.
- train_epoch starts with no .grad on the parameters, so clearing the gradients at the end of
  each step instead of at the start is accepted: the behaviour is the same.
"""

import numpy as np
import torch

from ..compare import CheckFailed, likely_line, slug_of
from ..declare import (
    Assignment,
    Hint,
    Missing,
    Raised,
    SeenArray,
    SeenDict,
    SeenList,
    SeenModule,
    SeenObject,
    SeenTuple,
    Spec,
    fmt,
    fmt_shape,
    linear,
    said,
    seq,
    st,
    type_name,
)

A = Assignment("09_training")

RTOL, ATOL = 1e-5, 1e-6          # the contract's, for parameters and the mean loss
ACC_ATOL = 1e-6
GRAD_RTOL, GRAD_ATOL = 1e-6, 1e-9  # numpy_two_layer_grads


def _float(v):
    return type(v) in (float, int) and not isinstance(v, bool)


def _close_float(a, b, rtol=RTOL, atol=ATOL):
    return abs(a - b) <= atol + rtol * abs(b)


# =============================================================================================
# the runs: model, data, loader, loss, optimizer
# =============================================================================================

class Run:
    """One training or evaluation run, as plain data (recorded examples compare equal)."""

    def __init__(self, n, batch, sizes, loss="mse", opt="sgd", lr=0.1, momentum=0.0, dropout=0.0,
                 loader="list", seed=0):
        self.n, self.batch, self.sizes, self.loss, self.opt = n, batch, tuple(sizes), loss, opt
        self.lr, self.momentum, self.dropout, self.loader, self.seed = lr, momentum, dropout, loader, seed

    def __repr__(self):
        return (f"Run(n={self.n}, batch={self.batch}, sizes={self.sizes}, {self.loss}, {self.opt}, "
                f"lr={self.lr}, momentum={self.momentum}, dropout={self.dropout}, {self.loader}, seed={self.seed})")

    def __eq__(self, other):
        return isinstance(other, Run) and repr(self) == repr(other)

    def __hash__(self):
        return hash(repr(self))

    # --- the pieces, as data ---
    def layers(self):
        """[(kind, ...)]: linear layers with ReLUs between them (and dropout after each ReLU)."""
        g = torch.Generator().manual_seed(1000 + self.seed)
        out = []
        for i, (a, b) in enumerate(zip(self.sizes, self.sizes[1:])):
            if i:
                out.append(("relu",))
                if self.dropout:
                    out.append(("dropout", self.dropout))
            w = (torch.rand(b, a, generator=g, dtype=torch.float64) - 0.5)
            bias = (torch.rand(b, generator=g, dtype=torch.float64) - 0.5) * 0.2
            out.append(("linear", a, b, w, bias))
        return out

    def spec(self):
        children = []
        for layer in self.layers():
            if layer[0] == "linear":
                _, a, b, w, bias = layer
                s = linear(a, b)
                s.fields.update(weight=w, bias_values=bias)
                children.append(s)
            elif layer[0] == "relu":
                children.append(Spec("relu"))
            else:
                children.append(Spec("dropout", p=layer[1]))
        return seq(*children)

    def data(self):
        g = torch.Generator().manual_seed(2000 + self.seed)
        d, k = self.sizes[0], self.sizes[-1]
        x = torch.randn(self.n, d, generator=g, dtype=torch.float64)
        if self.loss == "mse":
            y = torch.randn(self.n, k, generator=g, dtype=torch.float64)
        else:
            y = torch.randint(0, k, (self.n,), generator=g)
        return x, y

    def model_text(self):
        parts = []
        for layer in self.layers():
            parts.append(f"Linear({layer[1]}, {layer[2]})" if layer[0] == "linear" else
                         "ReLU()" if layer[0] == "relu" else f"Dropout(p={layer[1]})")
        return "nn.Sequential(" + ", ".join(parts) + ")"

    def loader_text(self):
        last = self.n % self.batch or self.batch
        count = -(-self.n // self.batch)
        kind = ("a list of (x, y) batches" if self.loader == "list" else
                f"DataLoader(TensorDataset(x, y), batch_size={self.batch})")
        return f"{kind}: {self.n} samples in {count} batches of {self.batch} (the last of {last})"

    def loss_text(self):
        return "nn.MSELoss()" if self.loss == "mse" else "nn.CrossEntropyLoss()"

    def opt_text(self):
        if self.opt == "adam":
            return f"torch.optim.Adam(model.parameters(), lr={self.lr})"
        extra = f", momentum={self.momentum}" if self.momentum else ""
        return f"torch.optim.SGD(model.parameters(), lr={self.lr}{extra})"

    # --- built here, for the reference ---
    def local(self, dtype):
        model = self.spec().here().to(dtype)
        x, y = self.data()
        x = x.to(dtype)
        size = self.batch
        batches = [(x[i:i + size], y[i:i + size]) for i in range(0, len(x), size)]
        loss = torch.nn.MSELoss() if self.loss == "mse" else torch.nn.CrossEntropyLoss()
        return model, batches, loss

    def optimizer(self, model):
        if self.opt == "adam":
            return torch.optim.Adam(model.parameters(), lr=self.lr)
        return torch.optim.SGD(model.parameters(), lr=self.lr, momentum=self.momentum)


def build(t, run, mode):
    """The run's model (moved to the trial's device and dtype, in training mode `mode`), loader and
    loss, made in the candidate."""
    ctx = context(t, run)
    model = t.make(run.spec())
    model = t.moved(model, ctx)
    t.op("train", model, mode, context=ctx)
    x, y = run.data()
    xi = t.tensor(x, layout=False)
    yi = t.tensor(y, layout=False) if run.loss == "mse" else t.tensor(y, dtype=torch.int64, layout=False)
    loader = t.make(Spec("batches", x=xi, y=yi, batch_size=run.batch, loader=run.loader))
    loss = t.make(Spec("loss", name=run.loss))
    return ctx, model, loader, loss


def context(t, run, optimizer=True):
    name = t.exercise.name
    args = "model, loader, loss_fn, optimizer" if name == "train_epoch" else "model, loader, loss_fn"
    lines = [f"{name}({args}) on {t.where}, with",
             f"  model = {run.model_text()}",
             f"  loader = {run.loader_text()}",
             f"  loss_fn = {run.loss_text()}"]
    if name == "train_epoch" and optimizer:
        lines.append(f"  optimizer = {run.opt_text()}")
    return "\n".join(lines)


def modes(seen, path="model"):
    """[(path, training flag)] of a described module and its submodules."""
    out = [(path, seen.training)]
    for name, child in seen.children.items():
        if isinstance(child, SeenModule):
            out += modes(child, f"{path}.{name}")
    return out


def params_of(seen):
    return {name: p for name, p in seen.named_parameters}


def as_float(t, got, ctx, what):
    if _float(got):
        return float(got)
    hint = None
    name = getattr(got, "type_name", "")
    if "Tensor" in str(name) or hasattr(got, "dtype_name"):
        hint = Hint("tensor-not-float", "a tensor is not a float. loss.item() gives the Python float of a "
                                        "one-element tensor (and holds no graph).")
    t.fail(ctx, f"{what} should be a Python float, but it is {said(got)}.", likely=hint)


# =============================================================================================
# train_epoch
# =============================================================================================

def reference_epoch(run, dtype, how="right"):
    """(parameters after one epoch {name: tensor}, the float the loop returns, the batches' losses
    and sizes) for the loop written `how`: right, or one of the named mistakes (no_zero_grad,
    step_first, step_first_no_zero); None for a mistake that raises on this run."""
    try:
        return _epoch(run, dtype, how)
    except RuntimeError:
        if how == "right":
            raise
        return None


def _epoch(run, dtype, how):
    model, batches, loss_fn = run.local(dtype)
    opt = run.optimizer(model)
    model.train()
    total, losses, sizes = 0.0, [], []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(run.seed)
        for x, y in batches:
            if how not in ("no_zero_grad", "step_first_no_zero"):
                opt.zero_grad()
            loss = loss_fn(model(x), y)
            if how in ("step_first", "step_first_no_zero"):
                opt.step()
                loss.backward()
            else:
                loss.backward()
                opt.step()
            losses.append(loss.item())
            sizes.append(len(x))
    total = sum(v * s for v, s in zip(losses, sizes))
    result = total / sum(sizes)
    params = {n: p.detach().clone() for n, p in model.named_parameters()}
    return params, result, losses, sizes


NO_ZERO_GRAD = Hint("grad-not-zeroed", "the gradients were never cleared (no optimizer.zero_grad()): each backward() adds "
                                       "to the .grad left by the batches before, so every step after the first uses a sum "
                                       "of old and new gradients. Clear them once per batch, before backward() (section "
                                       "\"Training in three steps\").")
STEP_FIRST = Hint("step-before-backward", "optimizer.step() ran before loss.backward(): the step used the gradients of the "
                                          "previous batch (or none at all), not those of this batch (section \"Training in three "
                                          "steps\").")
MEAN_OF_BATCHES = Hint("mean-of-batch-means", "the result is the mean of the batch losses, but the last batch is smaller: "
                                              "each batch's mean loss must count as many times as it has samples, so weight "
                                              "it by its size and divide by the number of samples (section \"A mean over "
                                              "batches of unequal size\").")
NOT_MOVED = Hint("wrong-step-order", "the parameters did not move at all: optimizer.step() ran before loss.backward() "
                                     "(so it found no gradient to use), or the gradients were cleared between backward() and "
                                     "step(). The order is: zero_grad(), forward and loss, backward(), step() (section "
                                     "\"Training in three steps\").")
LAST_BATCH = Hint("last-batch-loss", "the result is the last batch's loss, not the epoch's mean loss per sample.")
NOT_DIVIDED = Hint("sum-not-divided", "the result is the sum of loss * batch size over the batches, not yet divided by "
                                      "the number of samples.")
SUM_OF_BATCHES = Hint("sum-of-batch-losses", "the result is the sum of the batch losses, not the mean loss per sample.")
NO_TRAIN = Hint("train-mode-not-set", "the model was left in eval mode: call model.train() at the start of the epoch "
                                      "(dropout and batch norm behave differently in training; section \"model.eval() "
                                      "vs torch.no_grad()\").")

TRAIN_RAISES = {
    "element 0 of tensors does not require grad": Hint("trained-under-no-grad",
        "the loss was computed under torch.no_grad() (or from detached outputs): backward() "
        "needs the graph, so train with gradient tracking on."),
    "Trying to backward through the graph a second time": Hint("backward-twice",
        "backward() ran twice on the same graph (a loss kept from an earlier batch?)."),
    "'float' object has no attribute 'backward'": Hint("backward-on-item",
        "loss.item() is a Python float: call backward() on the loss tensor itself, and use "
        ".item() only for the running total."),
    "object is not iterable": Hint("loader-not-iterated", "loop over the loader with `for x, y in loader:`."),
    "modified by an inplace operation": STEP_FIRST,
}

TRAIN_CASES = [
    Run(10, 4, (3, 5, 2), "mse", "sgd", lr=0.1, seed=0),
    Run(7, 3, (2, 4, 3), "cross_entropy", "sgd", lr=0.5, momentum=0.9, seed=1),
    Run(9, 4, (4, 6, 3), "cross_entropy", "adam", lr=0.05, loader="dataloader", seed=2),
    Run(11, 5, (3, 4, 4, 1), "mse", "sgd", lr=0.05, momentum=0.5, loader="dataloader", seed=3),
    Run(10, 3, (2, 8, 2), "cross_entropy", "sgd", lr=0.3, dropout=0.5, seed=4),
    Run(6, 4, (5, 3, 2), "mse", "adam", lr=0.01, dropout=0.25, seed=5),
]



def drawn_runs(count, seed, losses, optimizers, dropouts=(0.0,), loaders=("list",)):
    """`count` more runs of random sizes, drawn once from a seeded generator (every one with a
    ragged last batch). A candidate's check has seconds, and each run trains a model in both
    dtypes: these stand in for property-based examples, which would cost 25 runs per dtype."""
    g = torch.Generator().manual_seed(seed)

    def pick(options):
        return options[int(torch.randint(len(options), (1,), generator=g))]

    out = []
    while len(out) < count:
        n, batch = int(torch.randint(5, 13, (1,), generator=g)), int(torch.randint(2, 5, (1,), generator=g))
        if n % batch == 0:
            continue
        sizes = tuple(int(v) for v in torch.randint(1, 7, (3,), generator=g))
        sizes = (sizes[0], sizes[1], max(sizes[2], 2))
        opt, lr, momentum = pick(optimizers)
        out.append(Run(n, batch, sizes, pick(losses), opt, lr=lr, momentum=momentum, dropout=pick(dropouts),
                       loader=pick(loaders), seed=100 + seed * 10 + len(out)))
    return out


TRAIN_CASES += drawn_runs(2, 1, ("mse", "cross_entropy"), (("sgd", 0.1, 0.0), ("sgd", 0.2, 0.9), ("adam", 0.05, 0.0)),
                          loaders=("list", "dataloader"))


@A.exercise("train_epoch", "def train_epoch(model, loader, loss_fn, optimizer)", cases=TRAIN_CASES, layouts=())
def train_epoch(t, run):
    if t.dtype == torch.float64 and run.seed % 2:
        return  # float64 on half of the runs: each run trains a model, and a check has seconds
    ctx, model, loader, loss = build(t, run, mode=False)
    opt = t.make(Spec("optimizer", name=run.opt, module=model, lr=run.lr, momentum=run.momentum))
    seeded = bool(run.dropout)
    if seeded:
        t.op("seed", run.seed, context=ctx)
    got = t.call(model, loader, loss, opt, context=ctx, hints=TRAIN_RAISES)
    after = t.describe(model)
    for path, training in modes(after):
        if not training:
            t.fail(ctx, f"after train_epoch, {path}.training is False.", likely=NO_TRAIN)
    value = as_float(t, got, ctx, "the returned mean loss")
    compare_params = not seeded or t.device.type == "cpu"
    if run.dropout and run.loader != "list":
        compare_params = False
    params, expected, losses, sizes = reference_epoch(run, t.dtype)
    if compare_params:
        seen = params_of(after)
        for name, want in params.items():
            p = seen.get(name)
            if p is None or p.values is None:
                t.fail(ctx, f"model.{name} is gone after train_epoch.")
            got_p = p.values.to(torch.float64)
            if p.shape != tuple(want.shape) or not torch.allclose(got_p, want.to(torch.float64), rtol=RTOL,
                                                                   atol=ATOL):
                hint = None
                start = dict(run.spec().here().to(t.dtype).named_parameters())[name].detach()
                if p.shape == tuple(start.shape) and torch.allclose(got_p, start.to(torch.float64)):
                    hint = NOT_MOVED
                for how, text in (("no_zero_grad", NO_ZERO_GRAD), ("step_first_no_zero", STEP_FIRST)):
                    if hint is not None:
                        break
                    wrong = (reference_epoch(run, t.dtype, how) or ({name: None},))[0][name]
                    if wrong is not None and p.shape == tuple(wrong.shape) and torch.allclose(got_p, wrong.to(torch.float64),
                                                                        rtol=RTOL, atol=ATOL):
                        hint = text
                t.fail(ctx, "\n".join([
                    f"model.{name} after one epoch has the wrong values.",
                    f"  expected: {fmt(want)}", f"  got:      {fmt(p.values)}"]), likely=hint)
    if not _close_float(value, expected):
        n = sum(sizes)
        known = [(sum(losses) / len(losses), MEAN_OF_BATCHES), (losses[-1], LAST_BATCH),
                 (expected * n, NOT_DIVIDED), (sum(losses), SUM_OF_BATCHES)]
        if compare_params:
            for how, text in (("no_zero_grad", NO_ZERO_GRAD), ("step_first_no_zero", STEP_FIRST)):
                wrong = reference_epoch(run, t.dtype, how)
                if wrong is not None:
                    known.append((wrong[1], text))
        hint = next((text for v, text in known if _close_float(value, v)), None)
        batch_means = ", ".join(f"{v:.4g} ({s} samples)" for v, s in zip(losses, sizes))
        t.fail(ctx, "\n".join([
            "the returned mean loss per sample is wrong.",
            f"  expected: {expected:.6g}", f"  got:      {value:.6g}",
            f"  (the batches' mean losses: {batch_means})"]), likely=hint)


# =============================================================================================
# evaluate
# =============================================================================================

def reference_eval(run, dtype):
    model, batches, loss_fn = run.local(dtype)
    model.eval()
    losses, sizes, correct = [], [], 0
    with torch.no_grad():
        for x, y in batches:
            out = model(x)
            losses.append(loss_fn(out, y).item())
            sizes.append(len(x))
            correct += int((out.argmax(1) == y).sum())
    n = sum(sizes)
    return sum(v * s for v, s in zip(losses, sizes)) / n, correct / n, losses, sizes, correct


NO_EVAL = Hint("eval-mode-not-set", "the model was left in training mode: call model.eval() before evaluating (dropout "
                                    "still drops units in training mode, so the loss is noisy and wrong; section "
                                    "\"model.eval() vs torch.no_grad()\").")
NO_NO_GRAD = Hint("no-grad-missing", "evaluate built an autograd graph: the model's output required grad when the loss "
                                     "was computed. Evaluate under torch.no_grad() (or torch.inference_mode()): "
                                     "model.eval() alone does not stop gradient tracking (section \"model.eval() vs "
                                     "torch.no_grad()\").")
GRAD_TOUCHED = Hint("grad-touched-in-eval", "evaluate changed the parameters' .grad: evaluation must not call backward(), "
                                            "zero_grad() or touch .grad (a training loop may be halfway through accumulating "
                                            "gradients).")
ACC_COUNT = Hint("accuracy-as-count",
    "the accuracy is the number of correct samples, not the fraction (divide by the number of samples).")
ACC_PERCENT = Hint("accuracy-as-percent", "the accuracy is a percentage: the contract asks for a fraction between 0 and 1.")
ACC_BATCHES = Hint("mean-of-batch-accuracies",
    "the accuracy is the mean of the batches' accuracies, but the last batch is smaller: "
    "count the correct samples over the whole loader and divide by the number of samples.")

EVAL_CASES = [
    Run(10, 4, (3, 5, 3), "cross_entropy", dropout=0.5, seed=10),
    Run(7, 3, (2, 4, 2), "cross_entropy", seed=11),
    Run(9, 4, (4, 6, 3), "cross_entropy", loader="dataloader", dropout=0.5, seed=12),
    Run(11, 5, (3, 4, 4, 4), "cross_entropy", loader="dataloader", seed=13),
    Run(13, 6, (2, 8, 5), "cross_entropy", dropout=0.3, seed=14),
    Run(5, 2, (4, 3, 2), "cross_entropy", dropout=0.5, seed=15),
]

EVAL_CASES += drawn_runs(3, 2, ("cross_entropy",), (("sgd", 0.1, 0.0),), dropouts=(0.0, 0.5),
                         loaders=("list", "dataloader"))

EVAL_RAISES = {
    "Expected floating point type for target": Hint("labels-converted",
        "the labels are class indices (int64): pass them to the loss as they are."),
    "Can't call numpy() on Tensor that requires grad": NO_NO_GRAD,
}


def with_grads_spec(run):
    """The run's model with a .grad already on every parameter (values evaluate must leave)."""
    model = run.spec().here()
    grads = [[name, torch.full_like(p, 0.25, dtype=torch.float64) + 0.01 * i]
             for i, (name, p) in enumerate(model.named_parameters())]
    return Spec("with_grads", module=run.spec(), grads=grads)


@A.exercise("evaluate", "def evaluate(model, loader, loss_fn)", cases=EVAL_CASES, layouts=())
def evaluate(t, run):
    ctx = context(t, run)
    model = t.moved(t.make(with_grads_spec(run)), ctx)
    t.op("train", model, True, context=ctx)
    before = params_of(t.describe(model))
    x, y = run.data()
    loader = t.make(Spec("batches", x=t.tensor(x, layout=False), y=t.tensor(y, dtype=torch.int64, layout=False),
                         batch_size=run.batch, loader=run.loader))
    loss = t.make(Spec("loss", name=run.loss))
    if run.dropout:
        t.op("seed", run.seed, context=ctx)
    got = t.call(model, loader, loss, context=ctx, hints=EVAL_RAISES)
    after = t.describe(model)
    for path, training in modes(after):
        if training:
            t.fail(ctx, f"after evaluate, {path}.training is True.", likely=NO_EVAL)
    log = t.get(loss, "log")
    if isinstance(log, SeenList) and any(isinstance(e, SeenList) and len(e) == 2 and e[1] is True for e in log):
        raise CheckFailed(ctx + likely_line(NO_NO_GRAD), NO_NO_GRAD)
    seen = params_of(after)
    for name, p in before.items():
        q = seen.get(name)
        if q is None or q.values is None or not torch.equal(q.values, p.values):
            t.fail(ctx, f"evaluate changed model.{name}: evaluation must leave the parameters as they are "
                        "(no optimizer.step()).")
        if q.grad is None or q.grad.values is None or not torch.equal(q.grad.values, p.grad.values):
            now = "None" if q.grad is None else fmt(q.grad.values)
            t.fail(ctx, f"model.{name}.grad changed during evaluate.\n  before: {fmt(p.grad.values)}\n"
                        f"  after:  {now}", likely=GRAD_TOUCHED)
    if not isinstance(got, (SeenTuple, SeenList)) or len(got) != 2:
        t.fail(ctx, f"evaluate should return a pair (mean_loss, accuracy), but it returned {said(got)}.")
    value = as_float(t, got[0], ctx, "the returned mean loss")
    acc = as_float(t, got[1], ctx, "the returned accuracy")
    expected, expected_acc, losses, sizes, correct = reference_eval(run, t.dtype)
    if not _close_float(value, expected):
        known = [(sum(losses) / len(losses), MEAN_OF_BATCHES), (losses[-1], LAST_BATCH),
                 (expected * sum(sizes), NOT_DIVIDED), (sum(losses), SUM_OF_BATCHES)]
        hint = next((text for v, text in known if _close_float(value, v)), None)
        t.fail(ctx, "\n".join([
            "the returned mean loss per sample is wrong.",
            f"  expected: {expected:.6g}", f"  got:      {value:.6g}"]), likely=hint)
    if abs(acc - expected_acc) > ACC_ATOL:
        hint = None
        n = sum(sizes)
        per_batch = batch_accuracies(run, t.dtype)
        if abs(acc - correct) <= ACC_ATOL and correct != expected_acc:
            hint = ACC_COUNT
        elif abs(acc - 100 * expected_acc) <= 1e-4 and expected_acc:
            hint = ACC_PERCENT
        elif abs(acc - sum(per_batch) / len(per_batch)) <= ACC_ATOL:
            hint = ACC_BATCHES
        t.fail(ctx, "\n".join([
            "the returned accuracy is wrong.",
            f"  expected: {expected_acc:.6g} ({correct} of {n} samples right)", f"  got:      {acc:.6g}"]),
               likely=hint)


def batch_accuracies(run, dtype):
    model, batches, _ = run.local(dtype)
    model.eval()
    with torch.no_grad():
        return [float((model(x).argmax(1) == y).double().mean()) for x, y in batches]


# =============================================================================================
# numpy_two_layer_grads
# =============================================================================================

KEYS = ("W1", "b1", "W2", "b2")


def two_layer_inputs(n, d, h, k, seed):
    """float64 arrays x, y, W1, b1, W2, b2 whose pre-activations are all at least 1e-3 from 0."""
    rng = np.random.default_rng(seed)
    while True:
        x = rng.standard_normal((n, d))
        y = rng.standard_normal((n, k))
        w1, b1 = rng.standard_normal((d, h)) * 0.7, rng.standard_normal(h) * 0.5
        w2, b2 = rng.standard_normal((h, k)) * 0.7, rng.standard_normal(k) * 0.5
        if np.abs(x @ w1 + b1).min() >= 1e-3:
            return x, y, w1, b1, w2, b2


def autograd_grads(x, y, w1, b1, w2, b2):
    """The reference: torch.autograd, here, in float64."""
    ps = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (w1, b1, w2, b2)]
    xt, yt = torch.tensor(x), torch.tensor(y)
    out = torch.relu(xt @ ps[0] + ps[1]) @ ps[2] + ps[3]
    ((out - yt) ** 2).mean().backward()
    return {key: p.grad.numpy() for key, p in zip(KEYS, ps)}


def hand_grads(x, y, w1, b1, w2, b2, mask="z", scale="2/NK", transpose=()):
    """The hand-derived gradients, and the usual slips in them (the judge's own NumPy)."""
    n, k = y.shape
    z = x @ w1 + b1
    h = np.maximum(z, 0)
    out = h @ w2 + b2
    factor = {"2/NK": 2 / (n * k), "1/NK": 1 / (n * k), "2/N": 2 / n, "2/K": 2 / k, "2": 2.0}[scale]
    dout = factor * (out - y)
    g = {"W2": h.T @ dout, "b2": dout.sum(0)}
    dh = dout @ w2.T
    m = {"z": z > 0, "inverted": z < 0, "none": np.ones_like(z, dtype=bool), "no_b1": (x @ w1) > 0}[mask]
    dz = dh * m
    g["W1"], g["b1"] = x.T @ dz, dz.sum(0)
    for key in transpose:
        g[key] = g[key].T
    return g


GRAD_MISTAKES = [
    (dict(mask="inverted"), Hint("relu-mask-inverted", "the ReLU's derivative is taken on the wrong side: it is 1 where the "
                                                       "pre-activation z = x @ W1 + b1 is positive and 0 where it is negative.")),
    (dict(mask="none"), Hint("relu-derivative-missing", "the ReLU's derivative is missing: the gradient flowing back into "
                                                        "z = x @ W1 + b1 must be zeroed where z < 0.")),
    (dict(mask="no_b1"), Hint("relu-mask-without-bias", "the ReLU mask was computed from x @ W1 without b1: the mask is where "
                                                        "the whole pre-activation x @ W1 + b1 is positive.")),
    (dict(scale="1/NK"), Hint("missing-factor-two", "the factor 2 of the derivative of the square is missing: d/d(out) of "
                                                    "mean((out - y) ** 2) is 2 * (out - y) / (N * K).")),
    (dict(scale="2/N"), Hint("mean-over-wrong-axis", "the mean is over the wrong axis: the loss averages over all N * K "
                                                     "entries, so d loss / d out = 2 * (out - y) / (N * K), not divided "
                                                     "by N only.")),
    (dict(scale="2/K"), Hint("mean-over-wrong-axis", "the mean is over the wrong axis: the loss averages over all N * K "
                                                     "entries, so d loss / d out = 2 * (out - y) / (N * K), not divided "
                                                     "by K only.")),
    (dict(scale="2"), Hint("sum-not-mean", "the gradient is that of the sum of squares: the loss is a mean over the N * K "
                                           "entries, so divide by N * K.")),
    (dict(transpose=("W1", "W2")), Hint("weight-grads-transposed", "the weight gradients are transposed: dW1 = x.T @ dz has "
                                                                   "W1's shape (D, H), and dW2 = h.T @ dout has W2's shape "
                                                                   "(H, K).")),
    (dict(transpose=("W1",)), Hint("weight-grads-transposed", "dW1 is transposed: dW1 = x.T @ dz has W1's shape (D, H).")),
    (dict(transpose=("W2",)), Hint("weight-grads-transposed", "dW2 is transposed: dW2 = h.T @ dout has W2's shape (H, K).")),
]

NUMPY_RAISES = {
    "torch is not available here": Hint("torch-used", "this exercise is NumPy only: torch is not available while it "
                                                      "is graded. Use np.maximum, @, .T, .sum(axis=...) and friends."),
    "import of torch halted": Hint("torch-used", "this exercise is NumPy only: torch is not available while it is "
                                                 "graded."),
    "matmul: Input operand": Hint("matmul-shapes-misaligned",
        "the shapes of a matrix product do not line up: check each gradient's "
        "shape against its parameter's, (D, H), (H,), (H, K), (K,) (a missing "
        "or extra transpose?)."),
    "could not be broadcast": Hint("shapes-do-not-broadcast",
        "two arrays of shapes that do not broadcast: check each intermediate's "
        "shape, (N, H) for z and h, (N, K) for out."),
}

GRAD_CASES = [(4, 3, 5, 2, 0), (1, 2, 3, 1, 1), (6, 4, 4, 4, 2), (5, 1, 2, 3, 3), (3, 3, 3, 3, 4),
              (8, 2, 6, 1, 5), (2, 5, 1, 2, 6)]
GRAD_SIZES = st.tuples(st.integers(1, 7), st.integers(1, 5), st.integers(1, 6), st.integers(1, 4),
                       st.integers(0, 100_000))


def shape_hint(key, got, want):
    if len(got) == len(want) == 2 and got == want[::-1]:
        return Hint("weight-grads-transposed", f"d{key} is transposed: it must have {key}'s shape {fmt_shape(want)}.")
    if key.startswith("b") and len(got) != 1:
        return Hint("bias-grad-wrong-axis", f"d{key} must be summed over the samples (axis 0) only, giving {key}'s shape "
                                            f"{fmt_shape(want)}.")
    if key.startswith("b"):
        return Hint("bias-grad-wrong-axis",
                    f"d{key} was summed over the wrong axis: it must be summed over the samples (axis 0).")
    return None


@A.exercise("numpy_two_layer_grads", "def numpy_two_layer_grads(x, y, W1, b1, W2, b2)", cases=GRAD_CASES,
            strategy=GRAD_SIZES, layouts=(), dtypes=(torch.float64,), devices="cpu")
def numpy_two_layer_grads(t, sizes):
    n, d, h, k, seed = sizes
    arrays = two_layer_inputs(n, d, h, k, seed)
    names = ("x", "y", "W1", "b1", "W2", "b2")
    lines = ["numpy_two_layer_grads(x, y, W1, b1, W2, b2) with float64 NumPy arrays, torch unavailable:"]
    lines += [f"  {name} = {fmt(a.tolist())}  (shape {fmt_shape(a.shape)})" for name, a in zip(names, arrays)]
    ctx = "\n".join(lines)
    sent = [t.make(Spec("ndarray", tensor=torch.from_numpy(a))) for a in arrays]
    try:
        fn = t.candidate._ask({"op": "get", "target": {"name": t.exercise.name}})
    except (Raised, Missing) as exc:
        t.fail(ctx, f"{exc}: the exercise's solution cell must define it (with this exact name).")
    try:
        got = t.candidate.op("without_torch", fn, *sent)
    except Raised as exc:
        said_ = t.raised_message(exc, "", NUMPY_RAISES)
        t.fail(ctx, said_.strip(), mistake=slug_of(said_))
    if not isinstance(got, SeenDict):
        what = (f"a {type_name(got)} of {len(got)} items" if isinstance(got, (SeenTuple, SeenList))
                else said(got))
        t.fail(ctx, f"the result should be a dict with keys 'W1', 'b1', 'W2', 'b2', but it is {what}.")
    want = autograd_grads(*arrays)
    missing = [key for key in KEYS if key not in got]
    if missing:
        t.fail(ctx, f"the result has no key {missing[0]!r} (its keys: {sorted(map(str, got))}).")
    for key in KEYS:
        value = got[key]
        if isinstance(value, SeenObject) and value.type_name.startswith("numpy.") and want[key].shape:
            hint = shape_hint(key, (), want[key].shape)
            t.fail(ctx, f"result[{key!r}] is a single number ({value.repr}), expected an array of shape "
                        f"{fmt_shape(want[key].shape)} ({key}'s shape).", likely=hint)
        if not isinstance(value, SeenArray) or value.values is None:
            t.fail(ctx, f"result[{key!r}] should be a NumPy array, but it is {said(value)}.")
        if value.shape != want[key].shape:
            hint = shape_hint(key, value.shape, want[key].shape)
            t.fail(ctx, f"result[{key!r}] has shape {fmt_shape(value.shape)}, expected {fmt_shape(want[key].shape)} "
                        f"({key}'s shape).", likely=hint)
        if value.np_dtype.kind != "f":
            t.fail(ctx, f"result[{key!r}] has dtype {value.np_dtype}, expected float64.")
        if not np.allclose(value.values.astype(np.float64), want[key], rtol=GRAD_RTOL, atol=GRAD_ATOL):
            hint = None
            for options, text in GRAD_MISTAKES:
                wrong = hand_grads(*arrays, **options)[key]
                if wrong.shape == value.shape and np.allclose(value.values, wrong, rtol=GRAD_RTOL, atol=GRAD_ATOL):
                    hint = text
                    break
            t.fail(ctx, "\n".join([
                f"result[{key!r}], the gradient of the loss with respect to {key}, has the wrong values.",
                f"  expected: {fmt(want[key].tolist())}", f"  got:      {fmt(value.values.tolist())}"]), likely=hint)

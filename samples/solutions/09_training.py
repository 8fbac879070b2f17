"""Solution cells for 09_training: correct alternatives and typical mistakes
(the instructor's own come from the source notebook: `samples.solution_cells`).

Used by the benchmark's synthetic classes and the tests. Not part of any package: the grader
never imports this file, and no sandbox can read it. Each cell runs after the notebook's setup
cell, which imports torch, `nn`, `F` and NumPy as `np`.
"""

ALTERNATIVE = {
    "train_epoch": '''def train_epoch(model, loader, loss_fn, optimizer):
    model.train()
    losses, sizes = [], []
    for inputs, targets in loader:
        out = model(inputs)
        loss = loss_fn(out, targets)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
        sizes.append(len(inputs))
    return sum(l * n for l, n in zip(losses, sizes)) / sum(sizes)''',
    "evaluate": '''def evaluate(model, loader, loss_fn):
    model.eval()
    total, correct, count = 0.0, 0, 0
    with torch.inference_mode():
        for x, y in loader:
            logits = model(x)
            total += loss_fn(logits, y).item() * y.shape[0]
            correct += (logits.argmax(1) == y).sum().item()
            count += y.shape[0]
    return total / count, correct / count''',
    "numpy_two_layer_grads": '''def numpy_two_layer_grads(x, y, W1, b1, W2, b2):
    z = x @ W1 + b1
    h = np.where(z > 0, z, 0.0)
    out = h @ W2 + b2
    g_out = 2.0 * (out - y) / out.size
    g_z = (g_out @ W2.T) * (z > 0)
    return {"W1": x.T @ g_z, "b1": g_z.sum(axis=0), "W2": h.T @ g_out, "b2": g_out.sum(axis=0)}''',
}

WRONG = {
    "train_epoch": '''def train_epoch(model, loader, loss_fn, optimizer):
    model.train()
    total, count = 0.0, 0
    for x, y in loader:
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(x)
        count += len(x)
    return total / count''',
    "evaluate": '''def evaluate(model, loader, loss_fn):
    model.eval()
    total, correct, count = 0.0, 0, 0
    for x, y in loader:
        out = model(x)
        total += loss_fn(out, y).item() * len(x)
        correct += (out.argmax(dim=1) == y).sum().item()
        count += len(x)
    return total / count, correct / count''',
    "numpy_two_layer_grads": '''def numpy_two_layer_grads(x, y, W1, b1, W2, b2):
    n, k = y.shape
    z = x @ W1 + b1
    h = np.maximum(z, 0)
    out = h @ W2 + b2
    dout = 2 * (out - y) / n
    dz = (dout @ W2.T) * (z > 0)
    return {"W1": x.T @ dz, "b1": dz.sum(axis=0), "W2": h.T @ dout, "b2": dout.sum(axis=0)}''',
}

# What the message for each WRONG solution must say (the tests check it).
WRONG_SAYS = {
    "train_epoch": "never cleared",
    "evaluate": "built an autograd graph",
    "numpy_two_layer_grads": "wrong axis",
}

# The slug of the declared mistake (Mistake(slug=...) or Hint) each WRONG solution is named with.
WRONG_MISTAKE = {
    "train_epoch": "grad-not-zeroed",
    "evaluate": "no-grad-missing",
    "numpy_two_layer_grads": "mean-over-wrong-axis",
}

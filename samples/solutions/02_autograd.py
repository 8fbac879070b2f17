"""Solution cells for 02_autograd: correct alternatives and typical mistakes
(the instructor's own come from the source notebook: `samples.solution_cells`).

Used by the tests (and by anything that builds classes from sample solutions). Not part of any
package: the grader never imports this file, and no sandbox can read it.
"""

ALTERNATIVE = {
    "grad_of": '''def grad_of(f, x):
    """Return df/dx at x (same shape, dtype and device as x), leaving x exactly as it was."""
    x2 = x.detach().requires_grad_()
    f(x2).backward()
    return x2.grad''',
    "relu_out_of_place": '''def relu_out_of_place(x):
    """Return max(x, 0) elementwise as a new tensor; never modify x."""
    return x.clamp(min=0)''',
    "sgd_step": '''def sgd_step(params, lr):
    """One step of gradient descent, in place: p <- p - lr * p.grad, then reset p.grad."""
    for p in params:
        if p.grad is not None:
            p.data.sub_(lr * p.grad)
            p.grad.zero_()''',
    "numerical_grad": '''def numerical_grad(f, x, eps=1e-6):
    """Central-difference estimate of df/dx, element by element; x is left unchanged."""
    x = x.detach()
    steps = eps * torch.eye(x.numel(), dtype=x.dtype, device=x.device)
    diffs = [f(x + s.reshape(x.shape)) - f(x - s.reshape(x.shape)) for s in steps]
    return (torch.stack(diffs) / (2 * eps)).reshape(x.shape)''',
}

WRONG = {
    "grad_of": '''def grad_of(f, x):
    """Return df/dx at x (same shape, dtype and device as x), leaving x exactly as it was."""
    x.requires_grad_(True)
    f(x).backward()
    return x.grad''',
    "relu_out_of_place": '''def relu_out_of_place(x):
    """Return max(x, 0) elementwise as a new tensor; never modify x."""
    return torch.relu_(x)''',
    "sgd_step": '''def sgd_step(params, lr):
    """One step of gradient descent, in place: p <- p - lr * p.grad, then reset p.grad."""
    with torch.no_grad():
        for p in params:
            if p.grad is not None:
                p -= lr * p.grad''',
    "numerical_grad": '''def numerical_grad(f, x, eps=1e-6):
    """Central-difference estimate of df/dx, element by element; x is left unchanged."""
    x = x.detach()
    grad = torch.zeros(x.numel(), dtype=x.dtype, device=x.device)
    for i in range(x.numel()):
        step = torch.zeros(x.numel(), dtype=x.dtype, device=x.device)
        step[i] = eps
        grad[i] = (f(x + step.reshape(x.shape)) - f(x)) / eps
    return grad.reshape(x.shape)''',
}

# What the message for each WRONG solution must say (the tests check it).
WRONG_SAYS = {
    "grad_of": "requires_grad was False before the call",
    "relu_out_of_place": "in-place",
    "sgd_step": "forgetting to reset it",
    "numerical_grad": "one-sided",
}

# The mistake each WRONG solution's verdict names (the tests check it).
WRONG_MISTAKE = {
    "grad_of": "requires-grad-on-caller-x",
    "relu_out_of_place": "relu-in-place",
    "sgd_step": "grad-not-reset",
    "numerical_grad": "one-sided-difference",
}

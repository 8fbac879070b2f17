"""Solution cells for 05_parameters: correct alternatives and typical mistakes
(the instructor's own come from the source notebook: `samples.solution_cells`).

Used by the benchmark's synthetic classes, the tampering gallery and the tests. Not part of any
package: the grader never imports this file, and no sandbox can read it. Each is the complete
source of a solution cell (the whole class or function); the notebook's setup cell has already
run `import torch` and `from torch import nn`.
"""

ALTERNATIVE = {
    "standardize": '''class Standardize(nn.Module):
    """Standardize features with fixed statistics: forward(x) = (x - mean) / std."""

    def __init__(self, mean, std):
        super().__init__()
        self.mean = nn.Buffer(mean.clone())
        self.std = nn.Buffer(std.clone())

    def forward(self, x):
        return (x - self.mean) * self.std.reciprocal()
''',
    "scale_shift": '''class ScaleShift(nn.Module):
    """A learned scale and shift per feature: forward(x) = x * gamma + beta."""

    def __init__(self, num_features):
        super().__init__()
        self.register_parameter("gamma", nn.Parameter(torch.full((num_features,), 1.0)))
        self.register_parameter("beta", nn.Parameter(torch.zeros(num_features)))

    def forward(self, x):
        return torch.addcmul(self.beta, x, self.gamma)
''',
    "running_mean": '''class RunningMean(nn.Module):
    """Center a batch on its mean while training; keep a running mean of it for eval mode."""

    def __init__(self, num_features, momentum=0.1):
        super().__init__()
        self.momentum = momentum
        self.register_buffer("running_mean", torch.zeros(num_features))

    def forward(self, x):
        if not self.training:
            return x - self.running_mean
        m = x.mean(0)
        self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * m.detach()
        return x - m
''',
    "classify_tensors": '''def classify_tensors(module):
    """{name: 'parameter' | 'buffer' | 'tensor'} for every tensor `module` holds itself."""
    kinds = {name: "parameter" for name, p in module._parameters.items() if p is not None}
    kinds.update({name: "buffer" for name, b in module._buffers.items() if b is not None})
    kinds.update({name: "tensor" for name, v in module.__dict__.items() if torch.is_tensor(v)})
    return kinds
''',
}

WRONG = {
    "standardize": '''class Standardize(nn.Module):
    """Standardize features with fixed statistics: forward(x) = (x - mean) / std."""

    def __init__(self, mean, std):
        super().__init__()
        self.mean = mean
        self.std = std

    def forward(self, x):
        return (x - self.mean) / self.std
''',
    "scale_shift": '''class ScaleShift(nn.Module):
    """A learned scale and shift per feature: forward(x) = x * gamma + beta."""

    def __init__(self, num_features):
        super().__init__()
        self.register_buffer("gamma", torch.ones(num_features))
        self.register_buffer("beta", torch.zeros(num_features))

    def forward(self, x):
        return x * self.gamma + self.beta
''',
    "running_mean": '''class RunningMean(nn.Module):
    """Center a batch on its mean while training; keep a running mean of it for eval mode."""

    def __init__(self, num_features, momentum=0.1):
        super().__init__()
        self.momentum = momentum
        self.register_buffer("running_mean", torch.zeros(num_features))

    def forward(self, x):
        m = x.mean(0)
        if self.training:
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * m
            return x - m
        return x - self.running_mean
''',
    "classify_tensors": '''def classify_tensors(module):
    """{name: 'parameter' | 'buffer' | 'tensor'} for every tensor `module` holds itself."""
    kinds = {name: "parameter" for name, _ in module.named_parameters()}
    kinds.update({name: "buffer" for name, _ in module.named_buffers()})
    kinds.update({name: "tensor" for name, v in vars(module).items() if isinstance(v, torch.Tensor)})
    return kinds
''',
}

# What the message for each WRONG solution must say (the tests check it).
WRONG_SAYS = {
    "standardize": "plain tensor attribute",
    "scale_shift": "is a buffer",
    "running_mean": "autograd history",
    "classify_tensors": "tensors of the submodules",
}

# The declared mistake each WRONG solution's verdict names (the misconception report's id, after the exercise's).
WRONG_MISTAKE = {
    "standardize": "plain-tensor-for-buffer",
    "scale_shift": "buffer-for-parameter",
    "running_mean": "buffer-keeps-history",
    "classify_tensors": "submodule-tensors-counted",
}

"""Solution cells for 03_linear_layer: correct alternatives and typical mistakes
(the instructor's own come from the source notebook: `samples.solution_cells`).

Used by the benchmark's synthetic classes and the tests. Not part of any package: the grader
never imports this file, and no sandbox can read it. The cells run after the notebook's setup
cell, which imports math, torch and nn.
"""

ALTERNATIVE = {
    "linear_forward": "def linear_forward(x, W, b):\n    return torch.matmul(x, W) + b",
    "my_linear": '''class MyLinear(nn.Module):
    def __init__(self, input_dim=3, output_dim=2):
        self.input_dim, self.output_dim = input_dim, output_dim   # ints may come first
        super().__init__()
        bound = input_dim ** -0.5
        self.W = nn.Parameter((torch.rand(input_dim, output_dim) * 2 - 1) * bound)
        self.b = nn.Parameter((torch.rand(output_dim) * 2 - 1) * bound)

    def forward(self, x):
        return torch.matmul(x, self.W) + self.b''',
    "load_from_nn_linear": '''def load_from_nn_linear(my, ref):
    if tuple(ref.weight.T.shape) != tuple(my.W.shape):
        raise ValueError("the sizes do not match")
    my.W.data.copy_(ref.weight.data.t())
    my.b.data.copy_(ref.bias.data if ref.bias is not None else torch.zeros_like(my.b))
    return my''',
}

WRONG = {
    "linear_forward": "def linear_forward(x, W, b):\n    return x @ W.T + b",
    "my_linear": '''class MyLinear(nn.Module):
    def __init__(self, input_dim=3, output_dim=2):
        super().__init__()
        self.input_dim = input_dim
        self.output_dim = output_dim
        self.W = nn.Parameter(torch.FloatTensor(input_dim, output_dim))
        self.b = nn.Parameter(torch.FloatTensor(output_dim))

    def forward(self, x):
        return x @ self.W + self.b''',
    "load_from_nn_linear": '''def load_from_nn_linear(my, ref):
    if (ref.in_features, ref.out_features) != (my.input_dim, my.output_dim):
        raise ValueError("the sizes do not match")
    my.W.data = ref.weight.T
    if ref.bias is None:
        my.b.data.zero_()
    else:
        my.b.data = ref.bias
    return my''',
}

# What the message for each WRONG solution must say (the tests check it).
WRONG_SAYS = {
    "linear_forward": "transpose",
    "my_linear": "uninitialised",
    "load_from_nn_linear": "shares memory",
}

# The mistake each WRONG solution's verdict names (the tests check it).
WRONG_MISTAKE = {
    "linear_forward": "transposed-weight",
    "my_linear": "uninitialised-memory",
    "load_from_nn_linear": "shares-memory",
}

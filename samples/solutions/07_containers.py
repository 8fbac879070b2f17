"""Solution cells for 07_containers: correct alternatives and typical mistakes
(the instructor's own come from the source notebook: `samples.solution_cells`).

Used by the benchmark's synthetic classes and the tests. Not part of any package: the grader
never imports this file, and no sandbox can read it. Each cell runs after the notebook's setup
cell, which imports torch, `nn`, `F` and `OrderedDict`.
"""

ALTERNATIVE = {
    "build_mlp": '''def build_mlp(sizes):
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
    return nn.Sequential(*layers[:-1])''',
    "repeated": '''class Repeated(nn.Module):
    def __init__(self, dim, num_layers):
        super().__init__()
        self.layers = nn.ModuleList()
        for _ in range(num_layers):
            self.layers.append(nn.Linear(dim, dim))

    def forward(self, x):
        for i in range(len(self.layers)):
            x = torch.relu(self.layers[i](x))
        return x''',
    "multi_head": '''class MultiHead(nn.Module):
    def __init__(self, in_features, heads):
        super().__init__()
        self.heads = nn.ModuleDict()
        for name, out in heads.items():
            self.heads[name] = nn.Linear(in_features, out)

    def forward(self, x, head):
        layer = self.heads[head]
        return layer(x)''',
    "named_sequential": '''def named_sequential(layers):
    pairs = layers.items() if isinstance(layers, dict) else layers
    seq = nn.Sequential()
    for name, module in pairs:
        seq.add_module(name, module)
    return seq''',
}

WRONG = {
    "build_mlp": '''def build_mlp(sizes):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)''',
    "repeated": '''class Repeated(nn.Module):
    def __init__(self, dim, num_layers):
        super().__init__()
        self.layers = [nn.Linear(dim, dim) for _ in range(num_layers)]

    def forward(self, x):
        for layer in self.layers:
            x = F.relu(layer(x))
        return x''',
    "multi_head": '''class MultiHead(nn.Module):
    def __init__(self, in_features, heads):
        super().__init__()
        self.heads = nn.ModuleDict({name: nn.Linear(in_features, out) for name, out in sorted(heads.items())})

    def forward(self, x, head):
        return self.heads[head](x)''',
    "named_sequential": '''def named_sequential(layers):
    modules = layers.values() if isinstance(layers, dict) else [m for _, m in layers]
    return nn.Sequential(*modules)''',
}

# What the message for each WRONG solution must say (the tests check it).
WRONG_SAYS = {
    "build_mlp": "ReLU after the last Linear",
    "repeated": "plain Python list",
    "multi_head": "not in the order of the dict",
    "named_sequential": "the names are lost",
}

# The slug of the declared mistake (Mistake(slug=...) or Hint) each WRONG solution is named with.
WRONG_MISTAKE = {
    "build_mlp": "relu-after-last-layer",
    "repeated": "plain-python-container",
    "multi_head": "heads-sorted",
    "named_sequential": "names-lost",
}

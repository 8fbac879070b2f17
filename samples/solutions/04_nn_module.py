"""Solution cells for 04_nn_module: correct alternatives and typical mistakes
(the instructor's own come from the source notebook: `samples.solution_cells`).

Used by the benchmark's synthetic classes and the tests. Not part of any package: the grader
never imports this file, and no sandbox can read it. Each cell runs after the notebook's setup
cell, which imports torch, `nn` and `F`.
"""

ALTERNATIVE = {
    "two_layer_net": '''class TwoLayerNet(nn.Module):
    def __init__(self, in_features, hidden_features, out_features):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.ReLU()
        self.fc2 = nn.Linear(hidden_features, out_features)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))''',
    "count_parameters": '''def count_parameters(module, trainable_only=False):
    total = 0
    for p in module.parameters():
        if trainable_only and not p.requires_grad:
            continue
        total += p.numel()
    return total''',
    "leaf_modules": '''def leaf_modules(model):
    leaves = []
    for name, module in model.named_modules():
        if next(module.children(), None) is None:
            leaves.append(name)
    return leaves''',
}

WRONG = {
    "two_layer_net": '''class TwoLayerNet(nn.Module):
    def __init__(self, in_features, hidden_features, out_features):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.fc2 = nn.Linear(hidden_features, out_features)

    def forward(self, x):
        return self.fc2(self.fc1(x))''',
    "count_parameters": '''def count_parameters(module, trainable_only=False):
    return sum(t.numel() for t in module.state_dict().values())''',
    "leaf_modules": '''def leaf_modules(model):
    return [name for name, child in model.named_children() if not list(child.children())]''',
}

# What the message for each WRONG solution must say (the tests check it).
WRONG_SAYS = {
    "two_layer_net": "no ReLU between the layers",
    "count_parameters": "size of state_dict()",
    "leaf_modules": "one level down",
}

# The declared mistake each WRONG solution's verdict names (the misconception report's id, after the exercise's).
WRONG_MISTAKE = {
    "two_layer_net": "missing-relu",
    "count_parameters": "counted-state-dict",
    "leaf_modules": "one-level-only",
}

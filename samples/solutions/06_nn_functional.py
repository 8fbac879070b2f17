"""Solution cells for 06_nn_functional: correct alternatives and typical mistakes
(the instructor's own come from the source notebook: `samples.solution_cells`).

Used by the benchmark's synthetic classes and the tests. Not part of any package: the grader
never imports this file, and no sandbox can read it. Each cell runs after the notebook's setup
cell, which imports torch, `nn` and `F`.
"""

ALTERNATIVE = {
    "functional_net": '''class FunctionalNet(nn.Module):
    def __init__(self, in_features, hidden_features, out_features):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.fc2 = nn.Linear(hidden_features, out_features)

    def forward(self, x):
        hidden = torch.relu(self.fc1(x))
        return self.fc2(hidden)''',
    "cross_entropy": '''def cross_entropy(logits, target):
    log_probs = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    picked = log_probs.gather(1, target.unsqueeze(1)).squeeze(1)
    return -picked.mean()''',
    "conv1d_output_length": '''def conv1d_output_length(length, kernel_size, stride=1, padding=0, dilation=1):
    padded = length + 2 * padding
    span = dilation * (kernel_size - 1) + 1
    count = 0
    start = 0
    while start + span <= padded:
        count += 1
        start += stride
    return count''',
    "tiny_cnn": '''class TinyCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 20, kernel_size=5),
            nn.ReLU(),
            nn.Conv2d(20, 64, kernel_size=5),
            nn.ReLU(),
        )
        self.fc1 = nn.Linear(1024, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        h = self.features(x)
        h = h.view(h.size(0), -1)
        h = F.relu(self.fc1(h))
        return self.fc2(h)''',
}

WRONG = {
    "functional_net": '''class FunctionalNet(nn.Module):
    def __init__(self, in_features, hidden_features, out_features):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(hidden_features, out_features)

    def forward(self, x):
        return self.fc2(self.relu(self.fc1(x)))''',
    "cross_entropy": '''def cross_entropy(logits, target):
    probs = torch.softmax(logits, dim=1)
    return F.cross_entropy(probs, target)''',
    "conv1d_output_length": '''def conv1d_output_length(length, kernel_size, stride=1, padding=0, dilation=1):
    return (length + 2 * padding - kernel_size) // stride + 1''',
    "tiny_cnn": '''class TinyCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 20, 5), nn.ReLU(), nn.Conv2d(20, 64, 5), nn.ReLU())
        self.fc1 = nn.Linear(64 * 4 * 4, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = self.features(x).flatten(1)
        return F.softmax(self.fc2(F.relu(self.fc1(x))), dim=1)''',
}

# What the message for each WRONG solution must say (the tests check it).
WRONG_SAYS = {
    "functional_net": "not held as a child",
    "cross_entropy": "softmax was applied to the logits before the loss",
    "conv1d_output_length": "dilation is left out",
    "tiny_cnn": "a softmax is applied at the end",
}

# The declared mistake each WRONG solution's verdict names (the misconception report's id, after the exercise's).
WRONG_MISTAKE = {
    "functional_net": "activation-held-as-child",
    "cross_entropy": "softmax-before-loss",
    "conv1d_output_length": "dilation-ignored",
    "tiny_cnn": "softmax-on-logits",
}

"""The visible tests of 06_nn_functional mean something: each passes the instructor's solution and
correct alternatives, and fails for the mistakes its section warns about (tests/visible.py).
Own regressions: no solution line appears elsewhere in the notebook, and the ungraded practice's
stubs say "not written yet" while its folded solutions pass their self-checks."""

import re

from conftest import nbgrader_meta
from visible import Notebook, practice_tests, visible_tests

NOTEBOOK = Notebook("06_nn_functional")
ALTERNATIVE = NOTEBOOK.samples["ALTERNATIVE"]


def net(forward, init=None):
    init = init or ("super().__init__()\n"
                    "        self.fc1 = nn.Linear(in_features, hidden_features)\n"
                    "        self.fc2 = nn.Linear(hidden_features, out_features)")
    return ("class FunctionalNet(nn.Module):\n"
            "    def __init__(self, in_features, hidden_features, out_features):\n"
            f"        {init}\n\n"
            "    def forward(self, x):\n"
            f"        {forward}\n")


def ce(body):
    return f"def cross_entropy(logits, target):\n    {body}\n"


def length(body):
    return f"def conv1d_output_length(length, kernel_size, stride=1, padding=0, dilation=1):\n    {body}\n"


FEATURES = "nn.Sequential(nn.Conv2d(1, 20, 5), nn.ReLU(), nn.Conv2d(20, 64, 5), nn.ReLU())"


def cnn(forward, init=None):
    init = init or (f"super().__init__()\n        self.features = {FEATURES}\n"
                    "        self.fc1 = nn.Linear(64 * 4 * 4, 128)\n        self.fc2 = nn.Linear(128, 10)")
    return ("class TinyCNN(nn.Module):\n    def __init__(self):\n"
            f"        {init}\n\n    def forward(self, x):\n        {forward}\n")


HEAD = "self.fc2(F.relu(self.fc1(h)))"
SPAN = "(length + 2 * padding - dilation * (kernel_size - 1) - 1)"

WRONG = [
    # functional_net
    ("functional_net", "an nn.ReLU child", net("return self.fc2(self.act(self.fc1(x)))",
                                               "super().__init__()\n        self.fc1 = nn.Linear(in_features, hidden_features)\n"
                                               "        self.act = nn.ReLU()\n        self.fc2 = nn.Linear(hidden_features, out_features)"),
     "net's children: wrong value"),
    ("functional_net", "no ReLU", net("return self.fc2(self.fc1(x))"), "net(x): wrong values"),
    ("functional_net", "ReLU after fc2", net("return F.relu(self.fc2(F.relu(self.fc1(x))))"), "net(x): wrong values"),
    ("functional_net", "softmax at the end", net("return F.softmax(self.fc2(F.relu(self.fc1(x))), dim=-1)"),
     "net(x): wrong values"),
    ("functional_net", "unsqueezes one sample", net("x = x if x.dim() > 1 else x[None]\n        return self.fc2(F.relu(self.fc1(x)))"),
     "one sample of shape (3,): wrong shape"),
    ("functional_net", "hard-coded float32", net("return self.fc2(F.relu(self.fc1(x))).float()"), "wrong dtype"),
    # cross_entropy
    ("cross_entropy", "softmax first", ce("return F.cross_entropy(torch.softmax(logits, 1), target)"),
     "cross_entropy(logits, target): wrong values"),
    ("cross_entropy", "naive exp", ce("p = logits.exp() / logits.exp().sum(1, keepdim=True)\n"
                                      "    return -p[torch.arange(len(target)), target].log().mean()"),
     "are finite for logits [[10000.0, 9998.0, 9999.0]]"),
    ("cross_entropy", "log of softmax", ce("p = torch.softmax(logits, 1)\n"
                                           "    return -p[torch.arange(len(target)), target].log().mean()"),
     "are finite for logits [[10000.0, -10000.0, 0.0]]"),
    ("cross_entropy", "sum", ce("return F.cross_entropy(logits, target, reduction='sum')"),
     "cross_entropy(logits, target): wrong values"),
    ("cross_entropy", "shape (1,)", ce("return F.cross_entropy(logits, target).reshape(1)"),
     "cross_entropy(logits, target): wrong shape"),
    ("cross_entropy", "target matrix", ce("return -F.log_softmax(logits, 1)[:, target].mean()"),
     "cross_entropy(logits, target): wrong values"),
    ("cross_entropy", "detached", ce("return F.cross_entropy(logits, target).detach()"), "does not require grad"),
    ("cross_entropy", "float32 always", ce("return F.cross_entropy(logits.float(), target)"), "wrong dtype"),
    # conv1d_output_length
    ("conv1d_output_length", "/", length(f"return {SPAN} / stride + 1"), "expected an int, got a float"),
    ("conv1d_output_length", "no dilation", length("return (length + 2 * padding - kernel_size) // stride + 1"),
     "wrong value"),
    ("conv1d_output_length", "padding once", length("return (length + padding - dilation * (kernel_size - 1) - 1) // stride + 1"),
     "wrong value"),
    ("conv1d_output_length", "+1 forgotten", length(f"return {SPAN} // stride"), "wrong value"),
    ("conv1d_output_length", "math.ceil", "import math\n" + length(f"return math.ceil({SPAN} / stride) + 1"),
     "wrong value"),
    ("conv1d_output_length", "a tensor", length(f"return torch.tensor({SPAN} // stride + 1)"),
     "expected an int, got a Tensor"),
    # tiny_cnn
    ("tiny_cnn", "softmax at the end", cnn(f"h = self.features(x).flatten(1)\n        return F.softmax({HEAD}, dim=1)"),
     "net(batch) of two images: wrong values"),
    ("tiny_cnn", "ReLU after fc2", cnn(f"h = self.features(x).flatten(1)\n        return F.relu({HEAD})"),
     "net(batch) of two images: wrong values"),
    ("tiny_cnn", "no flatten", cnn(f"h = self.features(x)\n        return {HEAD}"), "cannot be multiplied"),
    ("tiny_cnn", "flatten() swallows the batch", cnn(f"h = self.features(x).flatten()\n        return {HEAD}"),
     "cannot be multiplied"),
    ("tiny_cnn", "squeezes a batch of one", cnn(f"h = self.features(x).flatten(1)\n        return {HEAD}.squeeze()"),
     "a batch of one: wrong shape"),
    ("tiny_cnn", "channels-last flatten", cnn(f"h = self.features(x).permute(0, 2, 3, 1).reshape(len(x), -1)\n        return {HEAD}"),
     "net(batch) of two images: wrong values"),
    ("tiny_cnn", "head assigned first", cnn(
        f"h = self.features(x).flatten(1)\n        return {HEAD}",
        "super().__init__()\n        self.fc1 = nn.Linear(64 * 4 * 4, 128)\n        self.fc2 = nn.Linear(128, 10)\n"
        f"        self.features = {FEATURES}"), "list(net.state_dict()): wrong value"),
    ("tiny_cnn", "features without the last ReLU", cnn(
        f"h = self.features(x).flatten(1)\n        return {HEAD}",
        "super().__init__()\n        self.features = nn.Sequential(nn.Conv2d(1, 20, 5), nn.ReLU(), nn.Conv2d(20, 64, 5))\n"
        "        self.fc1 = nn.Linear(64 * 4 * 4, 128)\n        self.fc2 = nn.Linear(128, 10)"),
     "net(batch) of two images: wrong values"),
]

RIGHT = [
    ("functional_net", "the sample alternative (torch.relu)", ALTERNATIVE["functional_net"]),
    ("functional_net", "clamp", net("return self.fc2(self.fc1(x).clamp(min=0))")),
    ("functional_net", "fc2 assigned first", net(
        "return self.fc2(F.relu(self.fc1(x)))",
        "super().__init__()\n        self.fc2 = nn.Linear(hidden_features, out_features)\n"
        "        self.fc1 = nn.Linear(in_features, hidden_features)")),
    ("cross_entropy", "the sample alternative (logsumexp, gather)", ALTERNATIVE["cross_entropy"]),
    ("cross_entropy", "log_softmax and nll_loss", ce("return F.nll_loss(F.log_softmax(logits, 1), target)")),
    ("cross_entropy", "one_hot", ce("lp = logits.log_softmax(-1)\n"
                                    "    return -(F.one_hot(target, logits.shape[1]).to(lp.dtype) * lp).sum(1).mean()")),
    ("conv1d_output_length", "the sample alternative (a loop)", ALTERNATIVE["conv1d_output_length"]),
    ("conv1d_output_length", "int of a division", length(f"return int({SPAN} / stride) + 1")),
    ("conv1d_output_length", "len(range(...))",
     length("return len(range(0, length + 2 * padding - dilation * (kernel_size - 1), stride))")),
    ("tiny_cnn", "the sample alternative (view)", ALTERNATIVE["tiny_cnn"]),
    ("tiny_cnn", "view(-1, 1024)", cnn(f"h = self.features(x).view(-1, 1024)\n        return {HEAD}")),
    ("tiny_cnn", "nn.Flatten child", cnn(
        f"h = self.flat(self.features(x))\n        return {HEAD}",
        f"super().__init__()\n        self.features = {FEATURES}\n        self.fc1 = nn.Linear(64 * 4 * 4, 128)\n"
        "        self.fc2 = nn.Linear(128, 10)\n        self.flat = nn.Flatten()")),
]


visible_tests(globals(), NOTEBOOK, right=RIGHT, wrong=WRONG, mentions=(("float64",), "try float64"))

CONTEXT = [next(c.source for c in NOTEBOOK.nb.cells if c.cell_type == "code" and "import try_practice" in c.source)]
PRACTICE = practice_tests(globals(), NOTEBOOK, CONTEXT, marker="try_practice(")


def test_the_practice_has_three_exercises():
    assert len(PRACTICE) == 3


def test_solution_lines_do_not_appear_elsewhere_in_the_notebook():
    """The release check looks for solution lines anywhere in the student's notebook."""
    text = "\n".join(c.source for c in NOTEBOOK.nb.cells if not nbgrader_meta(c).get("solution"))
    for source in NOTEBOOK.solutions.values():
        for part in re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", source, re.S):
            for line in part.splitlines():
                assert len(line.strip()) <= 12 or line.strip() not in text, line

"""The visible tests of 04_nn_module mean something, and its ungraded practice checks itself.

RIGHT holds correct alternatives (each must pass its exercise's visible test), WRONG the mistakes
the notebook warns about (each must fail it, for the stated reason); `visible.visible_tests`
tries them, and the instructor's solution, the release stub and samples/solutions/04_nn_module.py.
Own regressions: no solution line appears elsewhere in the notebook, the folded solutions of
the practice pass their self-checks, and the stubs the student starts from say "not written
yet" without raising.
"""

import ast
import re

import pytest

from conftest import nbgrader_meta
from visible import Notebook, defined_name, visible_tests

NOTEBOOK = Notebook("04_nn_module")
NB, BY_ID, SOLUTIONS, run = NOTEBOOK.nb, NOTEBOOK.by_id, NOTEBOOK.solutions, NOTEBOOK.run
ALTERNATIVE = NOTEBOOK.samples["ALTERNATIVE"]


def net(forward, init=None):
    """A TwoLayerNet source with this forward body (and, optionally, this __init__ body)."""
    init = init or ("super().__init__()\n"
                    "        self.fc1 = nn.Linear(in_features, hidden_features)\n"
                    "        self.fc2 = nn.Linear(hidden_features, out_features)")
    return ("class TwoLayerNet(nn.Module):\n"
            "    def __init__(self, in_features, hidden_features, out_features):\n"
            f"        {init}\n\n"
            "    def forward(self, x):\n"
            f"        {forward}\n")


def count(body):
    return f"def count_parameters(module, trainable_only=False):\n    {body}\n"


def leaves(body):
    return f"def leaf_modules(model):\n    {body}\n"


KEEP = "p.requires_grad or not trainable_only"

# (exercise, what the mistake is, the code, a phrase of the message the visible test must give)
WRONG = [
    # two_layer_net
    ("two_layer_net", "no ReLU", net("return self.fc2(self.fc1(x))"), "net(x): wrong values"),
    ("two_layer_net", "ReLU after fc2 too", net("return F.relu(self.fc2(F.relu(self.fc1(x))))"),
     "net(x): wrong values"),
    ("two_layer_net", "ReLU only after fc2", net("return torch.relu(self.fc2(self.fc1(x)))"), "net(x): wrong values"),
    ("two_layer_net", "sigmoid instead of ReLU", net("return self.fc2(torch.sigmoid(self.fc1(x)))"),
     "net(x): wrong values"),
    ("two_layer_net", "softmax on the output", net("return F.softmax(self.fc2(F.relu(self.fc1(x))), dim=-1)"),
     "net(x): wrong values"),
    ("two_layer_net", "layers swapped in __init__", net(
        "return self.fc1(F.relu(self.fc2(x)))",
        "super().__init__()\n        self.fc1 = nn.Linear(hidden_features, out_features)\n"
        "        self.fc2 = nn.Linear(in_features, hidden_features)"), "net.fc1.weight: wrong shape"),
    ("two_layer_net", "nn.Linear's arguments reversed", net(
        "return self.fc2(F.relu(self.fc1(x)))",
        "super().__init__()\n        self.fc1 = nn.Linear(hidden_features, in_features)\n"
        "        self.fc2 = nn.Linear(out_features, hidden_features)"), "net.fc1.weight: wrong shape"),
    ("two_layer_net", "forward applies fc2 first", net("return self.fc1(F.relu(self.fc2(x)))"),
     "cannot be multiplied"),
    ("two_layer_net", "forgot super().__init__()", net(
        "return self.fc2(F.relu(self.fc1(x)))",
        "self.fc1 = nn.Linear(in_features, hidden_features)\n"
        "        self.fc2 = nn.Linear(hidden_features, out_features)"), "before Module.__init__() call"),
    ("two_layer_net", "layers in an nn.Sequential", net(
        "return self.net(x)",
        "super().__init__()\n        self.net = nn.Sequential(nn.Linear(in_features, hidden_features), nn.ReLU(), "
        "nn.Linear(hidden_features, out_features))"), "missing: ['fc1.weight'"),
    ("two_layer_net", "layers named layer1 and layer2", net(
        "return self.layer2(F.relu(self.layer1(x)))",
        "super().__init__()\n        self.layer1 = nn.Linear(in_features, hidden_features)\n"
        "        self.layer2 = nn.Linear(hidden_features, out_features)"), "extra:   ['layer1.weight'"),
    ("two_layer_net", "bias=False", net(
        "return self.fc2(F.relu(self.fc1(x)))",
        "super().__init__()\n        self.fc1 = nn.Linear(in_features, hidden_features, bias=False)\n"
        "        self.fc2 = nn.Linear(hidden_features, out_features, bias=False)"), "missing: ['fc1.bias', 'fc2.bias']"),
    ("two_layer_net", "layers in a plain list", net(
        "return self.layers[1](F.relu(self.layers[0](x)))",
        "super().__init__()\n        self.layers = [nn.Linear(in_features, hidden_features), "
        "nn.Linear(hidden_features, out_features)]"), "net.state_dict() keys"),
    ("two_layer_net", "layers created in forward", net(
        "self.fc1 = nn.Linear(self.sizes[0], self.sizes[1]).to(x.device, x.dtype)\n"
        "        self.fc2 = nn.Linear(self.sizes[1], self.sizes[2]).to(x.device, x.dtype)\n"
        "        return self.fc2(F.relu(self.fc1(x)))",
        "super().__init__()\n        self.sizes = (in_features, hidden_features, out_features)\n"
        "        self.fc1 = nn.Linear(in_features, hidden_features)\n"
        "        self.fc2 = nn.Linear(hidden_features, out_features)"), "net(x): wrong values"),
    ("two_layer_net", "a new layer at every call", net(
        "return self.fc2(F.relu(nn.Linear(self.fc1.in_features, self.fc1.out_features).to(x.device)(x)))"),
     "net(x): wrong values"),
    ("two_layer_net", "forward misspelled", net("return self.fc2(F.relu(self.fc1(x)))").replace("def forward", "def foward"),
     'missing the required "forward" function'),
    ("two_layer_net", "flattens its input", net("x = x.view(x.size(0), -1)\n        return self.fc2(F.relu(self.fc1(x)))"),
     "cannot be multiplied"),
    ("two_layer_net", "adds a batch dimension to a single sample",
     net("x = x.unsqueeze(0) if x.dim() == 1 else x\n        return self.fc2(F.relu(self.fc1(x)))"),
     "one sample of shape (3,): wrong shape"),
    ("two_layer_net", "hard-coded float32", net("return self.fc2(F.relu(self.fc1(x))).float()"), "wrong dtype"),
    # count_parameters
    ("count_parameters", "over state_dict()", count("return sum(t.numel() for t in module.state_dict().values())"),
     "count_parameters(model): wrong value"),
    ("count_parameters", "remove_duplicate=False",
     count(f"return sum(p.numel() for _, p in module.named_parameters(remove_duplicate=False) if {KEEP})"),
     "count_parameters(model): wrong value"),
    ("count_parameters", "parameter tensors", count(f"return len([p for p in module.parameters() if {KEEP}])"),
     "count_parameters(model): wrong value"),
    ("count_parameters", "modules", count("return len(list(module.modules()))"), "count_parameters(model): wrong value"),
    ("count_parameters", "ignores trainable_only", count("return sum(p.numel() for p in module.parameters())"),
     "trainable_only=True): wrong value"),
    ("count_parameters", "frozen left out by default",
     count("return sum(p.numel() for p in module.parameters() if p.requires_grad)"), "count_parameters(model): wrong value"),
    ("count_parameters", "buffers too",
     count(f"return sum(p.numel() for p in module.parameters() if {KEEP}) + sum(b.numel() for b in module.buffers())"),
     "count_parameters(model): wrong value"),
    ("count_parameters", "only the root's own parameters",
     count(f"return sum(p.numel() for p in module.parameters(recurse=False) if {KEEP})"),
     "count_parameters(model): wrong value"),
    ("count_parameters", "returns a tensor",
     count(f"return torch.tensor([p.numel() for p in module.parameters() if {KEEP}]).sum()"), "expected an int, got a Tensor"),
    ("count_parameters", "returns a float", count(f"return float(sum(p.numel() for p in module.parameters() if {KEEP}))"),
     "expected an int, got a float"),
    ("count_parameters", "sum of the sizes", count(f"return sum(sum(p.shape) for p in module.parameters() if {KEEP})"),
     "count_parameters(model): wrong value"),
    # leaf_modules
    ("leaf_modules", "every module", leaves("return [name for name, _ in model.named_modules()]"),
     "leaf_modules(model): wrong value"),
    ("leaf_modules", "named_children", leaves("return [name for name, _ in model.named_children()]"),
     "leaf_modules(model): wrong value"),
    ("leaf_modules", "leaf children one level down",
     leaves("return [n for n, c in model.named_children() if not list(c.children())]"), "leaf_modules(model): wrong value"),
    ("leaf_modules", "never the root",
     leaves("return [n for n, m in model.named_modules() if n and not list(m.children())]"),
     "leaf_modules(nn.Linear(2, 2)): wrong value"),
    ("leaf_modules", "remove_duplicate=False",
     leaves("return [n for n, m in model.named_modules(remove_duplicate=False) if not list(m.children())]"),
     "leaf_modules(model): wrong value"),
    ("leaf_modules", "has parameters",
     leaves("return [n for n, m in model.named_modules() if list(m.parameters(recurse=False))]"),
     "leaf_modules(model): wrong value"),
    ("leaf_modules", "by container type",
     leaves("return [n for n, m in model.named_modules() if not isinstance(m, (nn.Sequential, nn.ModuleList, nn.ModuleDict))]"),
     "leaf_modules(model): wrong value"),
    ("leaf_modules", "last part of the names",
     leaves("return [n.split('.')[-1] for n, m in model.named_modules() if not list(m.children())]"),
     "leaf_modules(model): wrong value"),
    ("leaf_modules", "sorted", leaves("return sorted(n for n, m in model.named_modules() if not list(m.children()))"),
     "leaf_modules(model): wrong value"),
    ("leaf_modules", "modules instead of names",
     leaves("return [m for m in model.modules() if not list(m.children())]"), "leaf_modules(model): wrong value"),
    ("leaf_modules", "a tuple", leaves("return tuple(n for n, m in model.named_modules() if not list(m.children()))"),
     "expected a list, got a tuple"),
]

RIGHT = [
    ("two_layer_net", "the sample alternative (nn.ReLU child)", ALTERNATIVE["two_layer_net"]),
    ("two_layer_net", "clamp", net("return self.fc2(self.fc1(x).clamp(min=0))")),
    ("two_layer_net", "by hand with its own weights",
     net("h = x @ self.fc1.weight.T + self.fc1.bias\n        return F.linear(torch.relu(h), self.fc2.weight, self.fc2.bias)")),
    ("two_layer_net", "fc2 assigned first", net(
        "return self.fc2(F.relu(self.fc1(x)))",
        "super().__init__()\n        self.fc2 = nn.Linear(hidden_features, out_features)\n"
        "        self.fc1 = nn.Linear(in_features, hidden_features)")),
    ("count_parameters", "the sample alternative (a loop)", ALTERNATIVE["count_parameters"]),
    ("count_parameters", "dedup by id", count(
        "seen = {}\n    for _, p in module.named_parameters(remove_duplicate=False):\n"
        f"        if {KEEP}:\n            seen[id(p)] = p.numel()\n    return sum(seen.values())")),
    ("count_parameters", "math.prod", "import math\n" + count(f"return sum(math.prod(p.shape) for p in module.parameters() if {KEEP})")),
    ("leaf_modules", "the sample alternative (next)", ALTERNATIVE["leaf_modules"]),
    ("leaf_modules", "not any", leaves("return [n for n, m in model.named_modules() if not any(True for _ in m.children())]")),
    ("leaf_modules", "dict of named_modules",
     leaves("found = dict(model.named_modules())\n    return [n for n, m in found.items() if len(list(m.children())) == 0]")),
]


visible_tests(globals(), NOTEBOOK, right=RIGHT, wrong=WRONG, mentions=(("float64", "double()"), "try float64"))


# --------------------------------------------------------------------------- the demos' classes

def test_solution_lines_do_not_appear_elsewhere_in_the_notebook():
    """The release check looks for solution lines anywhere in the student's notebook."""
    text = "\n".join(c.source for c in NB.cells if not nbgrader_meta(c).get("solution"))
    for source in SOLUTIONS.values():
        for part in re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", source, re.S):
            for line in part.splitlines():
                assert len(line.strip()) <= 12 or line.strip() not in text, line


# --------------------------------------------------------------------------- ungraded practice

PRACTICE = NOTEBOOK.practice("try_practice(")
CONTEXT = [BY_ID["s1-classes"].source, BY_ID["practice-setup"].source]


def split(source):
    """A self-check cell: (the function the student writes, everything else)."""
    tree = ast.parse(source)
    first = tree.body[0]
    rest = [ast.get_source_segment(source, n) for n in tree.body[1:]]
    return ast.get_source_segment(source, first), "\n".join(rest)


def test_the_practice_has_five_exercises():
    names = [defined_name(check.source) for _, _, check in PRACTICE]
    assert names == ["linear_names", "tree_depth", "freeze_all_but_head", "call_counts", "tree_lines"]


@pytest.mark.parametrize("cell_id, solution, check", PRACTICE, ids=[p[0] for p in PRACTICE])
def test_the_stub_says_not_written_yet(cell_id, solution, check):
    out, _ = run(*CONTEXT, check.source)
    name = defined_name(check.source)
    assert out.endswith(f"… {name}: not written yet\n"), out


@pytest.mark.parametrize("cell_id, solution, check", PRACTICE, ids=[p[0] for p in PRACTICE])
def test_the_folded_solution_passes_the_self_check(cell_id, solution, check):
    _, rest = split(check.source)
    assert defined_name(solution) == defined_name(check.source)
    out, _ = run(*CONTEXT, solution, rest)
    assert "✓" in out and "✗" not in out, out


def test_a_wrong_practice_answer_is_caught():
    _, _, check = PRACTICE[-1]
    _, rest = split(check.source)
    wrong = ("def tree_lines(model):\n    return [f\"{n}: {type(m).__name__} ({sum(p.numel() for p in m.parameters())})\"\n"
             "            for n, m in model.named_modules()]\n")
    out, _ = run(*CONTEXT, wrong, rest)
    assert "✗ tree_lines" in out, out

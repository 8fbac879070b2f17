"""The visible tests of 07_containers mean something, and its ungraded practice checks itself.

RIGHT holds correct alternatives (each must pass its exercise's visible test), WRONG the mistakes
the notebook warns about (each must fail it, for the stated reason); `visible.visible_tests`
tries them, and the instructor's solution, the release stub and samples/solutions/07_containers.py.
Own regressions: no solution line appears elsewhere in the notebook, the folded solutions of the
practice pass their self-checks.
"""

import re

from conftest import nbgrader_meta
from visible import Notebook, practice_tests, visible_tests

NOTEBOOK = Notebook("07_containers")
NB, BY_ID, SOLUTIONS = NOTEBOOK.nb, NOTEBOOK.by_id, NOTEBOOK.solutions
ALTERNATIVE = NOTEBOOK.samples["ALTERNATIVE"]


def mlp(body):
    return f"def build_mlp(sizes):\n    {body}\n"


def rep(init, forward="for layer in self.layers:\n            x = F.relu(layer(x))\n        return x"):
    return ("class Repeated(nn.Module):\n    def __init__(self, dim, num_layers):\n        super().__init__()\n"
            f"        {init}\n\n    def forward(self, x):\n        {forward}\n")


def heads(init, forward="return self.heads[head](x)"):
    return ("class MultiHead(nn.Module):\n    def __init__(self, in_features, heads):\n        super().__init__()\n"
            f"        {init}\n\n    def forward(self, x, head):\n        {forward}\n")


def ns(body):
    return f"def named_sequential(layers):\n    {body}\n"


LOOP = "layers = []\n    for i in range(len(sizes) - 1):\n        layers += [nn.Linear(sizes[i], sizes[i + 1]), nn.ReLU()]\n    "
COMPREHENSION = "self.layers = nn.ModuleList([nn.Linear(dim, dim) for _ in range(num_layers)])"
DICT = "self.heads = nn.ModuleDict({n: nn.Linear(in_features, o) for n, o in heads.items()})"

# (exercise, what the mistake is, the code, a phrase of the message the visible test must give)
WRONG = [
    ("build_mlp", "ReLU after the last Linear", mlp(LOOP + "return nn.Sequential(*layers)"), "the classes of its children"),
    ("build_mlp", "no ReLU", mlp("return nn.Sequential(*[nn.Linear(a, b) for a, b in zip(sizes, sizes[1:])])"),
     "the classes of its children"),
    ("build_mlp", "list not unpacked", mlp(LOOP + "return nn.Sequential(layers[:-1])"), "list is not a Module subclass"),
    ("build_mlp", "a list returned", mlp(LOOP + "return layers[:-1]"), "expected a Sequential"),
    ("build_mlp", "Linear's arguments reversed",
     mlp("layers = []\n    for i in range(len(sizes) - 1):\n        layers += [nn.Linear(sizes[i + 1], sizes[i]), nn.ReLU()]\n"
         "    return nn.Sequential(*layers[:-1])"), "net[0].weight: wrong shape"),
    ("build_mlp", "names of its own",
     mlp("items = []\n    for i in range(len(sizes) - 1):\n        items += [(f'fc{i}', nn.Linear(sizes[i], sizes[i + 1])), "
         "(f'relu{i}', nn.ReLU())]\n    return nn.Sequential(OrderedDict(items[:-1]))"), "the names of its children"),
    ("build_mlp", "one ReLU object shared",
     mlp("act = nn.ReLU()\n    layers = []\n    for i in range(len(sizes) - 1):\n"
         "        layers += [nn.Linear(sizes[i], sizes[i + 1]), act]\n    return nn.Sequential(*layers[:-1])"),
     "distinct module objects"),
    ("build_mlp", "[Linear, ReLU] * n for equal sizes",
     mlp("if len(set(sizes)) == 1:\n        n = sizes[0]\n        return nn.Sequential(*([nn.Linear(n, n), nn.ReLU()] * (len(sizes) - 2)), "
         "nn.Linear(n, n))\n    " + LOOP + "return nn.Sequential(*layers[:-1])"), "distinct modules in build_mlp([4, 4, 4, 4])"),
    ("build_mlp", "two sizes give a ReLU too",
     mlp("layers = [nn.Linear(sizes[0], sizes[1])]\n    for a, b in zip(sizes[1:-1], sizes[2:]):\n"
         "        layers += [nn.ReLU(), nn.Linear(a, b)]\n    return nn.Sequential(*layers, *([nn.ReLU()] if len(sizes) == 2 else []))"),
     "the children of build_mlp([2, 3])"),
    ("repeated", "plain list", rep("self.layers = [nn.Linear(dim, dim) for _ in range(num_layers)]"),
     "expected a ModuleList, got a list"),
    ("repeated", "[Linear] * n", rep("self.layers = nn.ModuleList([nn.Linear(dim, dim)] * num_layers)"),
     "distinct layers in rep.layers"),
    ("repeated", "no ReLU after the last layer",
     rep(COMPREHENSION, "for i, layer in enumerate(self.layers):\n            x = layer(x)\n"
                        "            if i < len(self.layers) - 1:\n                x = F.relu(x)\n        return x"), "rep(x): wrong values"),
    ("repeated", "each layer on the original x",
     rep(COMPREHENSION, "out = x\n        for layer in self.layers:\n            out = F.relu(layer(x))\n        return out"),
     "rep(x): wrong values"),
    ("repeated", "layers made in forward",
     rep("self.dim, self.n = dim, num_layers\n        " + COMPREHENSION,
         "for _ in range(self.n):\n            x = F.relu(nn.Linear(self.dim, self.dim)(x))\n        return x"), "rep(x): wrong values"),
    ("repeated", "hard-coded float32", rep(COMPREHENSION, "for layer in self.layers:\n            x = F.relu(layer(x.float()))\n        return x"),
     "mat1 and mat2 must have the same dtype"),
    ("multi_head", "plain dict", heads("self.heads = {n: nn.Linear(in_features, o) for n, o in heads.items()}"),
     "expected a ModuleDict, got a dict"),
    ("multi_head", "sorted heads", heads("self.heads = nn.ModuleDict({n: nn.Linear(in_features, o) for n, o in sorted(heads.items())})"),
     "the names of the heads, in order"),
    ("multi_head", "Linear's arguments reversed", heads("self.heads = nn.ModuleDict({n: nn.Linear(o, in_features) for n, o in heads.items()})"),
     "mh.heads['box'].weight: wrong shape"),
    ("multi_head", "always the first head", heads(DICT, "return next(iter(self.heads.values()))(x)"), "mh(x, 'box')"),
    ("multi_head", "getattr raises AttributeError", heads(DICT, "return getattr(self.heads, head)(x)"),
     "raised the wrong error"),
    ("multi_head", "first head for unknown names",
     heads(DICT, "return (self.heads[head] if head in self.heads else next(iter(self.heads.values())))(x)"),
     "but it returned without raising"),
    ("multi_head", "one layer per size",
     heads("made = {}\n        self.heads = nn.ModuleDict({n: made.setdefault(o, nn.Linear(in_features, o)) for n, o in heads.items()})"),
     "two heads of equal size are one object"),
    ("named_sequential", "names lost", ns("return nn.Sequential(*dict(layers).values())"), "the names of its children"),
    ("named_sequential", "a plain dict to Sequential", ns("return nn.Sequential(layers)"), "dict is not a Module subclass"),
    ("named_sequential", "dict only", ns("return nn.Sequential(OrderedDict(layers.items()))"), "no attribute 'items'"),
    ("named_sequential", "sorted names", ns("return nn.Sequential(OrderedDict(sorted(dict(layers).items())))"),
     "the names of its children"),
    ("named_sequential", "deep copies",
     "import copy\n" + ns("return nn.Sequential(OrderedDict((n, copy.deepcopy(m)) for n, m in dict(layers).items()))"),
     "expected the very same object"),
    ("named_sequential", "pairs only",
     ns("seq = nn.Sequential()\n    for name, module in layers:\n        seq.add_module(name, module)\n    return seq"),
     "values to unpack"),
]

RIGHT = [
    ("build_mlp", "the sample alternative (zip, drop the last ReLU)", ALTERNATIVE["build_mlp"]),
    ("build_mlp", "append to a Sequential",
     mlp("net = nn.Sequential(nn.Linear(sizes[0], sizes[1]))\n    for a, b in zip(sizes[1:-1], sizes[2:]):\n"
         "        net.append(nn.ReLU())\n        net.append(nn.Linear(a, b))\n    return net")),
    ("build_mlp", "pop the last ReLU", mlp(LOOP + "layers.pop()\n    return nn.Sequential(*layers)")),
    ("repeated", "the sample alternative (append, index)", ALTERNATIVE["repeated"]),
    ("repeated", "clamp", rep(COMPREHENSION, "for layer in self.layers:\n            x = layer(x).clamp(min=0)\n        return x")),
    ("multi_head", "the sample alternative (setitem)", ALTERNATIVE["multi_head"]),
    ("multi_head", "ModuleDict from pairs", heads("self.heads = nn.ModuleDict([(n, nn.Linear(in_features, o)) for n, o in heads.items()])")),
    ("named_sequential", "the sample alternative (add_module)", ALTERNATIVE["named_sequential"]),
    ("named_sequential", "dict first", ns("return nn.Sequential(OrderedDict(dict(layers)))")),
]

visible_tests(globals(), NOTEBOOK, right=RIGHT, wrong=WRONG, mentions=(("float64",), "try float64"))


def test_solution_lines_do_not_appear_elsewhere_in_the_notebook():
    """The release check looks for solution lines anywhere in the student's notebook."""
    text = "\n".join(c.source for c in NB.cells if not nbgrader_meta(c).get("solution"))
    for source in SOLUTIONS.values():
        for part in re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", source, re.S):
            for line in part.splitlines():
                assert len(line.strip()) <= 12 or line.strip() not in text, line


CONTEXT = [BY_ID["practice-setup"].source]
PRACTICE = practice_tests(globals(), NOTEBOOK, CONTEXT, marker="try_practice(")


def test_the_practice_has_three_exercises():
    assert len(PRACTICE) == 3

"""The visible tests of 05_parameters mean something, and its ungraded practice checks itself.

RIGHT holds correct alternatives (each must pass its exercise's visible test), WRONG the mistakes
the notebook warns about (each must fail it, for the stated reason); `visible.visible_tests`
tries them, and the instructor's solution, the release stub and samples/solutions/05_parameters.py.
Own regressions: every visible test uses the notebook's device, the folded solutions of the
practice pass their self-checks, and the stubs the student starts from say "not written yet"
without raising.
"""

import pytest

from visible import SOLUTION_BLOCK, Notebook, visible_tests

NOTEBOOK = Notebook("05_parameters")
NB, BY_ID, SOLUTIONS, VISIBLE, run = NOTEBOOK.nb, NOTEBOOK.by_id, NOTEBOOK.solutions, NOTEBOOK.visible, NOTEBOOK.run


def variant(exercise, old, new):
    """The instructor's solution with one piece of code replaced (a typical mistake)."""
    source = SOLUTIONS[exercise]
    assert old in source, (exercise, old)
    return source.replace(old, new)


STD_INIT = '''        self.register_buffer("mean", mean)
        self.register_buffer("std", std)'''
SS_INIT = '''        self.gamma = nn.Parameter(torch.ones(num_features))
        self.beta = nn.Parameter(torch.zeros(num_features))'''
RM_BUFFER = 'self.register_buffer("running_mean", torch.zeros(num_features))'
RM_UPDATE = '''            with torch.no_grad():
                self.running_mean.mul_(1 - self.momentum).add_(self.momentum * m)'''
CT_PARAMS = "module.named_parameters(recurse=False)"
CT_BUFFERS = "module.named_buffers(recurse=False)"

# (exercise, what the mistake is, the code, a phrase of the message the visible test must give)
WRONG = [
    # standardize
    ("standardize", "plain tensor attributes", variant("standardize", STD_INIT, "        self.mean = mean\n        self.std = std"),
     "got a plain tensor attribute"),
    ("standardize", "nn.Parameter", variant("standardize", STD_INIT, "        self.mean = nn.Parameter(mean)\n        self.std = nn.Parameter(std)"),
     "got an nn.Parameter"),
    ("standardize", "frozen nn.Parameter", variant("standardize", STD_INIT,
     "        self.mean = nn.Parameter(mean, requires_grad=False)\n        self.std = nn.Parameter(std, requires_grad=False)"),
     "got an nn.Parameter"),
    ("standardize", "persistent=False", variant("standardize", STD_INIT,
     '        self.register_buffer("mean", mean, persistent=False)\n        self.register_buffer("std", std, persistent=False)'),
     "got a buffer with persistent=False"),
    ("standardize", "swapped", variant("standardize", "(x - self.mean) / self.std", "(x - self.std) / self.mean"), "wrong values"),
    ("standardize", "operator precedence", variant("standardize", "(x - self.mean) / self.std", "x - self.mean / self.std"),
     "wrong values"),
    ("standardize", "batch statistics", variant("standardize", "(x - self.mean) / self.std", "(x - x.mean(0)) / x.std(0)"),
     "wrong values"),
    ("standardize", "multiplies by std", variant("standardize", "(x - self.mean) / self.std", "(x - self.mean) * self.std"),
     "wrong values"),
    ("standardize", ".float()", variant("standardize", STD_INIT,
     '        self.register_buffer("mean", mean.float())\n        self.register_buffer("std", std.float())'), "wrong dtype"),
    ("standardize", "forward changes a buffer", variant("standardize", "return (x - self.mean) / self.std",
     "self.std.clamp_(min=1.0)\n        return (x - self.mean) / self.std"), "the buffer std after forward"),
    # scale_shift
    ("scale_shift", "plain tensors", variant("scale_shift", SS_INIT,
     "        self.gamma = torch.ones(num_features, requires_grad=True)\n        self.beta = torch.zeros(num_features, requires_grad=True)"),
     "got a plain tensor attribute"),
    ("scale_shift", "buffers", variant("scale_shift", SS_INIT,
     '        self.register_buffer("gamma", torch.ones(num_features))\n        self.register_buffer("beta", torch.zeros(num_features))'),
     "got a buffer"),
    ("scale_shift", "requires_grad=False", variant("scale_shift", "nn.Parameter(torch.ones(num_features))",
     "nn.Parameter(torch.ones(num_features), requires_grad=False)"), "expected requires_grad=True"),
    ("scale_shift", "init swapped", variant("scale_shift", SS_INIT,
     "        self.gamma = nn.Parameter(torch.zeros(num_features))\n        self.beta = nn.Parameter(torch.ones(num_features))"),
     "the initial gamma: wrong values"),
    ("scale_shift", "shape (1, F)", variant("scale_shift", SS_INIT,
     "        self.gamma = nn.Parameter(torch.ones(1, num_features))\n        self.beta = nn.Parameter(torch.zeros(1, num_features))"),
     "wrong shape"),
    ("scale_shift", "forgot beta", variant("scale_shift", "x * self.gamma + self.beta", "x * self.gamma"), "wrong values"),
    ("scale_shift", "shift then scale", variant("scale_shift", "x * self.gamma + self.beta", "(x + self.beta) * self.gamma"),
     "wrong values"),
    ("scale_shift", "swapped in forward", variant("scale_shift", "x * self.gamma + self.beta", "x * self.beta + self.gamma"),
     "wrong values"),
    ("scale_shift", ".data in forward", variant("scale_shift", "x * self.gamma + self.beta", "x * self.gamma.data + self.beta.data"),
     "does not require grad"),
    ("scale_shift", ".detach() on gamma", variant("scale_shift", "x * self.gamma + self.beta", "x * self.gamma.detach() + self.beta"),
     "gamma.grad"),
    ("scale_shift", ".float() in forward", variant("scale_shift", "x * self.gamma + self.beta", "(x * self.gamma + self.beta).float()"),
     "wrong dtype"),
    # running_mean
    ("running_mean", "plain tensor", variant("running_mean", RM_BUFFER, "self.running_mean = torch.zeros(num_features)"),
     "got a plain tensor attribute"),
    ("running_mean", "frozen nn.Parameter", variant("running_mean", RM_BUFFER,
     "self.running_mean = nn.Parameter(torch.zeros(num_features), requires_grad=False)"), "got an nn.Parameter"),
    ("running_mean", "persistent=False", variant("running_mean", RM_BUFFER,
     'self.register_buffer("running_mean", torch.zeros(num_features), persistent=False)'), "persistent=False"),
    ("running_mean", "updates in eval mode", '''
class RunningMean(nn.Module):
    def __init__(self, num_features, momentum=0.1):
        super().__init__()
        self.momentum = momentum
        self.register_buffer("running_mean", torch.zeros(num_features))

    def forward(self, x):
        m = x.mean(0)
        with torch.no_grad():
            self.running_mean.mul_(1 - self.momentum).add_(self.momentum * m)
        return x - m if self.training else x - self.running_mean''', "running_mean after forward in eval mode"),
    ("running_mean", "rebind with history", variant("running_mean", RM_UPDATE,
     "            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * m"),
     "expected a tensor without autograd history"),
    ("running_mean", "in place with history", variant("running_mean", RM_UPDATE,
     "            self.running_mean.mul_(1 - self.momentum).add_(self.momentum * m)"),
     "expected a tensor without autograd history"),
    ("running_mean", "detached m", variant("running_mean", "m = x.mean(dim=0)", "m = x.mean(dim=0).detach()"),
     "x.grad after out.backward(G)"),
    ("running_mean", "momentum ignored", variant("running_mean", "mul_(1 - self.momentum).add_(self.momentum * m)",
     "mul_(0.9).add_(0.1 * m)"), "running_mean after one batch"),
    ("running_mean", "weights swapped", variant("running_mean", "mul_(1 - self.momentum).add_(self.momentum * m)",
     "mul_(self.momentum).add_((1 - self.momentum) * m)"), "running_mean after one batch"),
    ("running_mean", "x - running_mean in training", variant("running_mean", "            return x - m\n",
     "            return x - self.running_mean\n"), "forward in training mode"),
    ("running_mean", "batch mean in eval", variant("running_mean", "        return x - self.running_mean\n",
     "        return x - x.mean(0)\n"), "forward in eval mode"),
    ("running_mean", "float32 buffer made in forward", '''
class RunningMean(nn.Module):
    def __init__(self, num_features, momentum=0.1):
        super().__init__()
        self.momentum = momentum
        self.num_features = num_features
        self.register_buffer("running_mean", torch.zeros(num_features))

    def forward(self, x):
        if self.training:
            m = x.mean(0)
            with torch.no_grad():
                self.running_mean = (1 - self.momentum) * self.running_mean.float() + self.momentum * m.float()
            return x - m
        return x - self.running_mean''', "wrong dtype"),
    # classify_tensors
    ("classify_tensors", "submodules counted", variant("classify_tensors", CT_PARAMS, "module.named_parameters()"),
     "not expected: 'linear.weight'"),
    ("classify_tensors", "None kept", '''
def classify_tensors(module):
    kinds = {name: "parameter" for name in module._parameters}
    kinds.update({name: "buffer" for name in module._buffers})
    kinds.update({name: "tensor" for name, v in vars(module).items() if isinstance(v, torch.Tensor)})
    return kinds''', "not expected: 'bias'"),
    ("classify_tensors", "buffers from state_dict", variant("classify_tensors", CT_BUFFERS,
     "((k, None) for k in module.state_dict() if '.' not in k and k not in module._parameters)"),
     "missing: 'scratch'"),
    ("classify_tensors", "by requires_grad", '''
def classify_tensors(module):
    kinds = {}
    for name, value in list(module._parameters.items()) + list(module._buffers.items()):
        if value is not None:
            kinds[name] = "parameter" if value.requires_grad else "buffer"
    kinds.update({name: "tensor" for name, v in vars(module).items() if isinstance(v, torch.Tensor)})
    return kinds''', "'frozen': expected 'parameter', got 'buffer'"),
    ("classify_tensors", "no plain tensors", variant("classify_tensors", "        if isinstance(value, torch.Tensor):",
     "        if isinstance(value, nn.Parameter):"), "missing: 'offset', '_cache'"),
    ("classify_tensors", "skips underscore names", variant("classify_tensors", "        if isinstance(value, torch.Tensor):",
     "        if isinstance(value, torch.Tensor) and not name.startswith('_'):"), "missing: '_cache'"),
    ("classify_tensors", "list items counted", variant("classify_tensors", "    return kinds\n", '''    for name, value in vars(module).items():
        if isinstance(value, list):
            kinds.update({f"{name}[{i}]": "tensor" for i, v in enumerate(value) if isinstance(v, torch.Tensor)})
    return kinds
'''), "not expected: 'history[0]'"),
    ("classify_tensors", "a list of pairs", variant("classify_tensors", "    return kinds\n", "    return list(kinds.items())\n"),
     "expected a dict"),
]

RIGHT = [
    ("standardize", "nn.Buffer", variant("standardize", STD_INIT, "        self.mean = nn.Buffer(mean)\n        self.std = nn.Buffer(std.clone())")),
    ("standardize", "reciprocal", variant("standardize", "(x - self.mean) / self.std", "(x - self.mean) * self.std.reciprocal()")),
    ("scale_shift", "register_parameter, addcmul", variant("scale_shift", SS_INIT,
     '        self.register_parameter("gamma", nn.Parameter(torch.ones(num_features)))\n'
     '        self.register_parameter("beta", nn.Parameter(torch.zeros(num_features)))').replace(
        "x * self.gamma + self.beta", "torch.addcmul(self.beta, x, self.gamma)")),
    ("scale_shift", "nn.init", variant("scale_shift", SS_INIT,
     "        self.gamma = nn.Parameter(torch.empty(num_features))\n        self.beta = nn.Parameter(torch.empty(num_features))\n"
     "        nn.init.ones_(self.gamma)\n        nn.init.zeros_(self.beta)")),
    ("running_mean", "rebind from m.detach()", variant("running_mean", RM_UPDATE,
     "            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * m.detach()")),
    ("running_mean", "lerp_", variant("running_mean", RM_UPDATE, "            self.running_mean.lerp_(m.detach(), self.momentum)")),
    ("running_mean", "rebind under no_grad", variant("running_mean", "self.running_mean.mul_(1 - self.momentum).add_(self.momentum * m)",
     "self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * m")),
    ("classify_tensors", "own tables", '''
def classify_tensors(module):
    kinds = {name: "parameter" for name, p in module._parameters.items() if p is not None}
    kinds.update({name: "buffer" for name, b in module._buffers.items() if b is not None})
    kinds.update({name: "tensor" for name, v in module.__dict__.items() if torch.is_tensor(v)})
    return kinds'''),
    ("classify_tensors", "one loop over vars", '''
def classify_tensors(module):
    out = {}
    for name, value in vars(module).items():
        if name == "_parameters":
            out.update({n: "parameter" for n, p in value.items() if p is not None})
        elif name == "_buffers":
            out.update({n: "buffer" for n, b in value.items() if b is not None})
        elif isinstance(value, torch.Tensor):
            out[name] = "tensor"
    return out'''),
]


visible_tests(globals(), NOTEBOOK, right=RIGHT, wrong=WRONG)


def test_every_visible_test_uses_the_notebooks_device():
    for exercise, visible in VISIBLE.items():
        assert "device" in visible, f"{exercise}: the visible test must use the notebook's device"


# --------------------------------------------------------------------------- ungraded practice

PRACTICE = ["practice-make-buffer", "practice-mean-var-norm", "practice-weight-ema"]
CONTEXT = [SOLUTIONS["running_mean"], BY_ID["practice-setup"].source]   # MeanVarNorm subclasses RunningMean


def folded_solution(cell_id):
    """The solution folded in the markdown cell just above a practice cell."""
    index = NB.cells.index(BY_ID[cell_id])
    return SOLUTION_BLOCK.search(NB.cells[index - 1].source).group(1)


def test_every_practice_cell_has_a_folded_solution_above_it():
    for cell_id in PRACTICE:
        assert folded_solution(cell_id)


@pytest.mark.parametrize("cell_id", PRACTICE)
def test_the_stub_says_not_written_yet(cell_id):
    out, _ = run(*CONTEXT, BY_ID[cell_id].source)
    last = out.splitlines()[-1]
    assert last.startswith("… ") and last.endswith(": not written yet"), out


@pytest.mark.parametrize("cell_id", PRACTICE)
def test_the_folded_solution_passes_the_self_check(cell_id):
    out, _ = run(*CONTEXT, folded_solution(cell_id), _checks_only(cell_id))
    assert "✓" in out and "✗" not in out, out


def _checks_only(cell_id):
    """The practice cell without the stub's own definition (everything after the first def/class)."""
    source = BY_ID[cell_id].source
    stub_end = source.index("\ndef ", source.index("NotImplementedError"))
    return source[stub_end:]


@pytest.mark.parametrize("cell_id, wrong", [
    ("practice-make-buffer", "def make_buffer(module, name):\n    module.register_buffer(name + '_', getattr(module, name).detach())\n    return module"),
    ("practice-weight-ema", "class WeightEMA(nn.Module):\n    def __init__(self, model, decay=0.9):\n        super().__init__()\n"
                            "        for n, p in model.named_parameters():\n            self.register_buffer(n.replace('.', '_'), p.detach())\n"
                            "    def update(self, model):\n        pass"),
])
def test_the_practice_checks_catch_a_wrong_answer(cell_id, wrong):
    out, _ = run(*CONTEXT, wrong, _checks_only(cell_id))
    assert "✗" in out, out

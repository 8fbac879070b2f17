"""The visible tests of 03_linear_layer mean something, and its ungraded practice checks itself.

RIGHT holds correct alternatives (each must pass its exercise's visible test), WRONG the mistakes
the notebook warns about (each must fail it, for the stated reason); `visible.visible_tests`
tries them, and the instructor's solution, the release stub and samples/solutions/03_linear_layer.py.
load_from_nn_linear's visible test runs after the instructor's MyLinear (the contract's
`depends`). Own regressions: the folded solutions of the puzzles pass their self-checks, and the
stubs the student starts from say "not written yet" without raising.
"""

import pytest

from visible import Notebook, defined_name, split_defs, visible_tests

NOTEBOOK = Notebook("03_linear_layer")  # load_from_nn_linear's test runs after the instructor's MyLinear
BY_ID, SOLUTIONS, VISIBLE, run = NOTEBOOK.by_id, NOTEBOOK.solutions, NOTEBOOK.visible, NOTEBOOK.run


def my_linear(init_W="torch.empty(input_dim, output_dim).uniform_(-k, k)", init_b="torch.empty(output_dim).uniform_(-k, k)",
              forward="x @ self.W + self.b", before="", dims="self.input_dim, self.output_dim = input_dim, output_dim",
              wrap="nn.Parameter", names=("W", "b"), method="forward"):
    """A MyLinear written with one mistake (the defaults are right)."""
    return f'''
class MyLinear(nn.Module):
    def __init__(self, input_dim=3, output_dim=2):
        {before}
        super().__init__()
        {dims}
        k = 1 / math.sqrt(input_dim)
        self.{names[0]} = {wrap}({init_W})
        self.{names[1]} = {wrap}({init_b})

    def {method}(self, x):
        return {forward}
'''


def load(body, check="if (ref.in_features, ref.out_features) != (my.input_dim, my.output_dim):\n        raise ValueError('sizes')"):
    return f"def load_from_nn_linear(my, ref):\n    {check}\n" + "\n".join("    " + line for line in body.splitlines())


RIGHT_COPY = "with torch.no_grad():\n    my.W.copy_(ref.weight.T)\n    my.b.copy_(ref.bias) if ref.bias is not None else my.b.zero_()\nreturn my"

# (exercise, what the mistake is, the code, phrases of the message the visible test may give)
WRONG = [
    # linear_forward
    ("linear_forward", "W.T (the (out, in) layout)", "def linear_forward(x, W, b):\n    return x @ W.T + b", "cannot be multiplied"),
    ("linear_forward", "F.linear", "def linear_forward(x, W, b):\n    return torch.nn.functional.linear(x, W, b)",
     "cannot be multiplied"),
    ("linear_forward", "no bias", "def linear_forward(x, W, b):\n    return x @ W", "wrong values"),
    ("linear_forward", "torch.mm", "def linear_forward(x, W, b):\n    return torch.mm(x, W) + b", "must be a matrix"),
    ("linear_forward", "torch.addmm", "def linear_forward(x, W, b):\n    return torch.addmm(b, x, W)", "must be a matrix"),
    ("linear_forward", "flattened leading dimensions",
     "def linear_forward(x, W, b):\n    return x.reshape(-1, W.shape[0]) @ W + b", "wrong shape"),
    ("linear_forward", "a stray squeeze()", "def linear_forward(x, W, b):\n    return (x @ W + b).squeeze()", "wrong shape"),
    ("linear_forward", "hard-coded float32", "def linear_forward(x, W, b):\n    return (x @ W + b).float()", "wrong dtype"),
    ("linear_forward", "W @ x", "def linear_forward(x, W, b):\n    return W @ x + b", "must match the size"),
    ("linear_forward", "a loop over rows", "def linear_forward(x, W, b):\n    return torch.stack([r @ W + b for r in x])",
     "at least 1D"),
    ("linear_forward", "a new tensor without device", """
def linear_forward(x, W, b):
    out = torch.zeros(*x.shape[:-1], W.shape[1], dtype=x.dtype)
    return out + x @ W + b""", "mixes devices"),
    # my_linear
    ("my_linear", "torch.FloatTensor", my_linear(init_W="torch.FloatTensor(input_dim, output_dim)",
                                                 init_b="torch.FloatTensor(output_dim)"),
     ("not initialised as expected", "expected different values")),
    ("my_linear", "a bare torch.empty", my_linear(init_W="torch.empty(input_dim, output_dim)"),
     ("not initialised as expected", "expected different values")),
    ("my_linear", "zeros", my_linear(init_W="torch.zeros(input_dim, output_dim)"), "all zeros"),
    ("my_linear", "zero bias", my_linear(init_b="torch.zeros(output_dim)"), "all zeros"),
    ("my_linear", "randn", my_linear(init_W="torch.randn(input_dim, output_dim)"), "outside"),
    ("my_linear", "rand in [0, 1)", my_linear(init_W="torch.rand(input_dim, output_dim)"), "outside"),
    ("my_linear", "rand * k in [0, k)", my_linear(init_W="torch.rand(input_dim, output_dim) * k"), "only"),
    ("my_linear", "kaiming_uniform_ on (in, out)",
     my_linear(init_W="nn.init.kaiming_uniform_(torch.empty(input_dim, output_dim), a=math.sqrt(5))"), "outside"),
    ("my_linear", "W stored (out, in)", my_linear(init_W="torch.empty(output_dim, input_dim).uniform_(-k, k)",
                                                  forward="x @ self.W.T + self.b"), "wrong shape"),
    ("my_linear", "plain tensors", my_linear(wrap=""), "plain tensor attributes"),
    ("my_linear", "named weight and bias", my_linear(names=("weight", "bias"), forward="x @ self.weight + self.bias"),
     "wrong parameters"),
    ("my_linear", "a typo: outpu_dim", my_linear(dims="self.input_dim, self.outpu_dim = input_dim, output_dim"),
     "a typo?"),
    ("my_linear", "a Parameter before super().__init__()", my_linear(before="self.W = nn.Parameter(torch.zeros(1))"),
     "cannot assign parameters before Module.__init__() call"),
    ("my_linear", "forward without bias", my_linear(forward="x @ self.W"), "wrong values"),
    ("my_linear", "forward misspelt", my_linear(method="foward"), 'missing the required "forward" function'),
    ("my_linear", "forward flattens", my_linear(forward="x.reshape(-1, self.input_dim) @ self.W + self.b"),
     "wrong shape"),
    ("my_linear", "forward with torch.mm", my_linear(forward="torch.mm(x, self.W) + self.b"), "must be a matrix"),
    ("my_linear", "forward uses W.data", my_linear(forward="x @ self.W.data + self.b"), "expected a torch.Tensor"),
    ("my_linear", "forward detaches", my_linear(forward="x @ self.W.detach() + self.b.detach()"), "does not require grad"),
    ("my_linear", "W frozen", my_linear(init_W="torch.empty(input_dim, output_dim).uniform_(-k, k), requires_grad=False"),
     "requires grad"),
    ("my_linear", "b of shape (1, out)", my_linear(init_b="torch.empty(1, output_dim).uniform_(-k, k)"), "wrong shape"),
    # load_from_nn_linear
    ("load_from_nn_linear", "no transpose",
     load("with torch.no_grad():\n    my.W.copy_(ref.weight)\n    my.b.copy_(ref.bias)\nreturn my"), "must match the size"),
    ("load_from_nn_linear", "reshape, not a transpose",
     load("with torch.no_grad():\n    my.W.copy_(ref.weight.reshape(my.W.shape))\n"
          "    my.b.copy_(ref.bias) if ref.bias is not None else my.b.zero_()\nreturn my"), "wrong values"),
    ("load_from_nn_linear", "new Parameter objects",
     load("my.W = nn.Parameter(ref.weight.detach().T.clone())\nmy.b = nn.Parameter(ref.bias.detach().clone())\nreturn my"),
     "the very same object"),
    ("load_from_nn_linear", "shared memory", load("my.W.data = ref.weight.T\nmy.b.data = ref.bias\nreturn my"),
     "memory shared"),
    ("load_from_nn_linear", "copy outside no_grad", load("my.W.copy_(ref.weight.T)\nmy.b.copy_(ref.bias)\nreturn my"),
     "a leaf Variable"),
    ("load_from_nn_linear", "ref.bias None not handled",
     load("with torch.no_grad():\n    my.W.copy_(ref.weight.T)\n    my.b.copy_(ref.bias)\nreturn my"),
     "must be Tensor, not NoneType"),
    ("load_from_nn_linear", "bias left as it was",
     load("with torch.no_grad():\n    my.W.copy_(ref.weight.T)\n    if ref.bias is not None:\n        my.b.copy_(ref.bias)\nreturn my"),
     "wrong values"),
    ("load_from_nn_linear", "no return", load("with torch.no_grad():\n    my.W.copy_(ref.weight.T)\n    my.b.copy_(ref.bias)"),
     "the very same object"),
    ("load_from_nn_linear", "no size check", load(RIGHT_COPY, check="pass"), "ValueError"),
    ("load_from_nn_linear", "size check without the transpose",
     load(RIGHT_COPY, check="if ref.weight.shape != my.W.shape:\n        raise ValueError('the shapes differ')"),
     "the shapes differ"),
    ("load_from_nn_linear", "state_dict as it is", load("my.load_state_dict(ref.state_dict())\nreturn my"),
     "Error(s) in loading state_dict"),
]

RIGHT = [
    ("linear_forward", "torch.matmul", "def linear_forward(x, W, b):\n    return torch.matmul(x, W) + b"),
    ("linear_forward", "einsum", "def linear_forward(x, W, b):\n    return torch.einsum('...i,io->...o', x, W) + b"),
    ("linear_forward", "F.linear with W.T", "def linear_forward(x, W, b):\n    return torch.nn.functional.linear(x, W.T, b)"),
    ("linear_forward", "flatten and restore",
     "def linear_forward(x, W, b):\n    return (x.reshape(-1, W.shape[0]) @ W + b).reshape(*x.shape[:-1], W.shape[1])"),
    ("my_linear", "ints before super, rand", my_linear(
        before="self.input_dim, self.output_dim = input_dim, output_dim", dims="pass",
        init_W="(torch.rand(input_dim, output_dim) * 2 - 1) * k", init_b="(torch.rand(output_dim) * 2 - 1) * k")),
    ("my_linear", "nn.init.uniform_", my_linear(init_W="nn.init.uniform_(torch.empty(input_dim, output_dim), -k, k)",
                                                init_b="nn.init.uniform_(torch.empty(output_dim), -k, k)")),
    ("my_linear", "kaiming_uniform_ on (out, in), transposed", my_linear(
        init_W="nn.init.kaiming_uniform_(torch.empty(output_dim, input_dim), a=math.sqrt(5)).T.contiguous()")),
    ("my_linear", "einsum forward", my_linear(forward="torch.einsum('...i,io->...o', x, self.W) + self.b")),
    ("load_from_nn_linear", "data.copy_", load(
        "my.W.data.copy_(ref.weight.data.T)\nmy.b.data.copy_(ref.bias.data if ref.bias is not None else torch.zeros_like(my.b))\nreturn my")),
    ("load_from_nn_linear", "load_state_dict with renamed keys", load(
        "bias = ref.bias if ref.bias is not None else torch.zeros_like(my.b)\nmy.load_state_dict({'W': ref.weight.T, 'b': bias})\nreturn my")),
    ("load_from_nn_linear", "shapes compared through the transpose", load(
        RIGHT_COPY, check="if ref.weight.T.shape != my.W.shape:\n        raise ValueError('shapes')")),
]


visible_tests(globals(), NOTEBOOK, right=RIGHT, wrong=WRONG)


def test_the_release_my_linear_stub_fails_load_from_nn_linear_too():
    """With MyLinear not written yet, load_from_nn_linear's visible test stops at MyLinear."""
    with pytest.raises(NotImplementedError):
        run(NOTEBOOK.stubs["my_linear"], SOLUTIONS["load_from_nn_linear"], VISIBLE["load_from_nn_linear"])


# --------------------------------------------------------------------------- ungraded practice

PRACTICE = NOTEBOOK.practice()
CONTEXT = [BY_ID["practice-setup"].source, SOLUTIONS["linear_forward"]]


def calls_only(source):
    """A self-check cell without its function definitions: what runs the check."""
    return split_defs(source)[1]


def test_the_practice_has_four_puzzles():
    names = [defined_name(solution) for _, solution, _ in PRACTICE]
    assert names == ["linear_loop", "merge_linear", "fit_line", "many_layers"]


@pytest.mark.parametrize("cell_id, solution, check", PRACTICE, ids=[p[0] for p in PRACTICE])
def test_the_stub_says_not_written_yet(cell_id, solution, check):
    out, _ = run(*CONTEXT, check.source)
    assert out.rstrip().splitlines()[-1].startswith("… ") and out.rstrip().endswith(": not written yet"), out


@pytest.mark.parametrize("cell_id, solution, check", PRACTICE, ids=[p[0] for p in PRACTICE])
def test_the_folded_solution_passes_the_self_check(cell_id, solution, check):
    out, _ = run(*CONTEXT, check.source, solution, calls_only(check.source))
    last = out.rstrip().splitlines()[-1]
    assert last.startswith("✓") and "✗" not in out, out


def test_the_self_check_rejects_a_wrong_merge():
    _, _, check = next(p for p in PRACTICE if "merge_linear" in p[1])
    wrong = "def merge_linear(W1, b1, W2, b2):\n    return W1 @ W2, b1 + b2\n"
    out, _ = run(*CONTEXT, check.source, wrong, calls_only(check.source))
    assert out.rstrip().splitlines()[-1].startswith("✗"), out


def test_the_self_check_rejects_a_bias_that_lines_up_with_the_batch():
    _, _, check = next(p for p in PRACTICE if "many_layers" in p[1])
    wrong = "def many_layers(x, Ws, bs):\n    return x @ Ws + bs\n"
    out, _ = run(*CONTEXT, check.source, wrong, calls_only(check.source))
    assert out.rstrip().splitlines()[-1].startswith("✗"), out

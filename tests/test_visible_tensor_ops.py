"""The visible tests of 01_tensor_ops mean something, and its ungraded practice checks itself.

RIGHT holds correct alternatives (each must pass its exercise's visible test), WRONG the mistakes
the notebook warns about (each must fail it, for the stated reason); `visible.visible_tests`
tries them, and the instructor's solution, the release stub and samples/solutions/01_tensor_ops.py.
Own regressions: the folded solutions of the puzzles pass their self-checks, and the stubs the
student starts from say "not written yet" without raising.
"""


from visible import Notebook, defined_name, practice_tests, split_defs, visible_tests

NOTEBOOK = Notebook("01_tensor_ops")
BY_ID, SOLUTIONS, run = NOTEBOOK.by_id, NOTEBOOK.solutions, NOTEBOOK.run


# (exercise, what the mistake is, the code, a phrase of the message the visible test must give)
WRONG = [
    # max_per_row
    ("max_per_row", "column maxima (dim=0)", "def max_per_row(x):\n    return x.max(dim=0)", "one result per column, not per row"),
    ("max_per_row", "argmax only", "def max_per_row(x):\n    return x.argmax(dim=1)", "got one tensor"),
    ("max_per_row", "max() with no dim", "def max_per_row(x):\n    return x.max()", "got one tensor"),
    ("max_per_row", "(indices, values) order",
     "def max_per_row(x):\n    return x.argmax(1), x.max(1).values", "the wrong way round"),
    ("max_per_row", "a list", "def max_per_row(x):\n    return [x.max(1).values, x.argmax(1)]", "got a list"),
    ("max_per_row", "keepdim=True", "def max_per_row(x):\n    return x.max(dim=1, keepdim=True)", "the reduced dimension was kept"),
    ("max_per_row", "keepdim, then squeeze()",
     "def max_per_row(x):\n    v, i = x.max(dim=1, keepdim=True)\n    return v.squeeze(), i.squeeze()",
     "squeezed away"),
    ("max_per_row", "int32 indices", "def max_per_row(x):\n    return x.max(1).values, x.argmax(1).int()",
     "indices: wrong dtype"),
    ("max_per_row", "hard-coded float32", "def max_per_row(x):\n    return x.float().max(dim=1)", "torch.float32 instead of torch.float64"),
    ("max_per_row", "running maximum from 0, new tensors without dtype", """
def max_per_row(x):
    values, indices = torch.zeros(x.shape[0]), torch.zeros(x.shape[0], dtype=torch.int64)
    for i in range(x.shape[0]):
        best = 0.0
        for j in range(x.shape[1]):
            if x[i, j] > best:
                best, indices[i] = x[i, j], j
        values[i] = best
    return values, indices""", "wrong"),
    ("max_per_row", "running maximum from 0, device-aware", """
def max_per_row(x):
    values = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
    indices = torch.zeros(x.shape[0], dtype=torch.int64, device=x.device)
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            if x[i, j] > values[i]:
                values[i], indices[i] = x[i, j], j
    return values, indices""", "a running maximum that starts at 0"),
    ("max_per_row", "column numbers made on the CPU",
     "def max_per_row(x):\n    v = x.max(1).values\n    cols = torch.arange(x.shape[1])\n"
     "    return v, (cols * (x == v[:, None])).sum(1)", "mixes devices"),
    # row_normalize
    ("row_normalize", "missing keepdim", "def row_normalize(x):\n    return x / x.sum(dim=1)", "the silent keepdim bug"),
    ("row_normalize", "column sums", "def row_normalize(x):\n    return x / x.sum(dim=0, keepdim=True)",
     "its column's sum"),
    ("row_normalize", "sum of everything", "def row_normalize(x):\n    return x / x.sum()", "the sum of all entries"),
    ("row_normalize", "row maximum", "def row_normalize(x):\n    return x / x.max(dim=1, keepdim=True).values",
     "by its maximum"),
    ("row_normalize", "L1 norm (absolute values)",
     "def row_normalize(x):\n    return x / x.abs().sum(dim=1, keepdim=True)", "absolute values"),
    ("row_normalize", "F.normalize(p=1)",
     "def row_normalize(x):\n    return torch.nn.functional.normalize(x, p=1, dim=1)", "absolute values"),
    ("row_normalize", "hard-coded float32", "def row_normalize(x):\n    x = x.float()\n    return x / x.sum(1, keepdim=True)",
     "wrong dtype"),
    ("row_normalize", "torch.zeros(n, m) filled in a loop", """
def row_normalize(x):
    out = torch.zeros(x.shape[0], x.shape[1])
    for i in range(x.shape[0]):
        out[i] = x[i] / x[i].sum()
    return out""", "wrong dtype"),
    ("row_normalize", "torch.zeros(n, m) with dtype but no device",
     "def row_normalize(x):\n    return torch.zeros(x.shape, dtype=x.dtype) + x / x.sum(1, keepdim=True)",
     "mixes devices"),
    # outer_sum
    ("outer_sum", "transposed (b as the column)", "def outer_sum(a, b):\n    return b[:, None] + a[None, :]",
     "the result is transposed"),
    ("outer_sum", "elementwise a + b", "def outer_sum(a, b):\n    return a + b", "one sum per position"),
    ("outer_sum", "product", "def outer_sum(a, b):\n    return a[:, None] * b", "not sums"),
    ("outer_sum", "torch.outer", "def outer_sum(a, b):\n    return torch.outer(a, b)", "not sums"),
    ("outer_sum", "a stray squeeze()", "def outer_sum(a, b):\n    return (a[:, None] + b).squeeze()", "keeps its dimension of size 1"),
    ("outer_sum", "hard-coded float32", "def outer_sum(a, b):\n    return (a[:, None] + b).float()", "wrong dtype"),
    ("outer_sum", "torch.zeros(n, m) filled in a loop", """
def outer_sum(a, b):
    out = torch.zeros(len(a), len(b))
    for i in range(len(a)):
        for j in range(len(b)):
            out[i, j] = a[i] + b[j]
    return out""", "wrong dtype"),
    ("outer_sum", "torch.zeros(n, m) with dtype but no device",
     "def outer_sum(a, b):\n    return torch.zeros(len(a), len(b), dtype=a.dtype) + a[:, None] + b", "mixes devices"),
    # pairwise_sq_dists
    ("pairwise_sq_dists", "cdist (not squared)", "def pairwise_sq_dists(a, b):\n    return torch.cdist(a, b)",
     "with a square root"),
    ("pairwise_sq_dists", "transposed", "def pairwise_sq_dists(a, b):\n    return ((b[:, None] - a[None]) ** 2).sum(-1)",
     "the result is transposed"),
    ("pairwise_sq_dists", "row-wise a - b", "def pairwise_sq_dists(a, b):\n    return ((a - b) ** 2).sum(-1)",
     "met only point i"),
    ("pairwise_sq_dists", "not squared", "def pairwise_sq_dists(a, b):\n    return (a[:, None] - b[None]).sum(-1)",
     "not of their squares"),
    ("pairwise_sq_dists", "L1 distance", "def pairwise_sq_dists(a, b):\n    return (a[:, None] - b[None]).abs().sum(-1)",
     "L1 distance"),
    ("pairwise_sq_dists", "dot products", "def pairwise_sq_dists(a, b):\n    return a @ b.T", "dot products"),
    ("pairwise_sq_dists", "expansion without its factor 2",
     "def pairwise_sq_dists(a, b):\n    return (a ** 2).sum(1)[:, None] + (b ** 2).sum(1) - a @ b.T",
     "missing its factor 2"),
    ("pairwise_sq_dists", "hard-coded float32",
     "def pairwise_sq_dists(a, b):\n    return ((a[:, None] - b[None]) ** 2).sum(-1).float()", "wrong dtype"),
    ("pairwise_sq_dists", "torch.zeros(n, m) filled in a loop", """
def pairwise_sq_dists(a, b):
    out = torch.zeros(a.shape[0], b.shape[0])
    for i in range(a.shape[0]):
        for j in range(b.shape[0]):
            out[i, j] = ((a[i] - b[j]) ** 2).sum()
    return out""", "wrong dtype"),
    ("pairwise_sq_dists", "torch.zeros(n, m) with dtype but no device", """
def pairwise_sq_dists(a, b):
    out = torch.zeros(a.shape[0], b.shape[0], dtype=a.dtype)
    return out + ((a[:, None] - b[None]) ** 2).sum(-1)""", "mixes devices"),
    # batch_flatten
    ("batch_flatten", "a copy (.clone())", "def batch_flatten(x):\n    return x.reshape(x.shape[0], -1).clone()",
     "the result is a copy, not a view"),
    ("batch_flatten", "a copy (torch.stack)", "def batch_flatten(x):\n    return torch.stack([s.reshape(-1) for s in x])",
     "got a copy"),
    ("batch_flatten", "view on a non-contiguous input", "def batch_flatten(x):\n    return x.view(x.shape[0], -1)",
     "view size is not compatible"),
    ("batch_flatten", "flatten() with no argument", "def batch_flatten(x):\n    return x.flatten()", "the batch dimension was flattened too"),
    ("batch_flatten", "squeeze() drops a batch of one",
     "def batch_flatten(x):\n    return x.reshape(x.shape[0], -1).squeeze()", "a batch of one lost its batch dimension"),
    ("batch_flatten", "squeeze() first", "def batch_flatten(x):\n    return x.squeeze().flatten(1)", "wrong shape"),
    ("batch_flatten", "wrong order (permute)",
     "def batch_flatten(x):\n    return x.transpose(1, -1).reshape(x.shape[0], -1)", "in another order"),
    ("batch_flatten", "rows of the last dim", "def batch_flatten(x):\n    return x.reshape(-1, x.shape[-1])",
     "wrong shape"),
    ("batch_flatten", "hard-coded float32", "def batch_flatten(x):\n    return x.float().reshape(x.shape[0], -1)",
     "a conversion changed x's dtype"),
    ("batch_flatten", "a copy through Python lists",
     "def batch_flatten(x):\n    return torch.tensor(x.tolist()).reshape(x.shape[0], -1)", "got a copy"),
]

RIGHT = [
    ("max_per_row", "torch.max(x, 1)", "def max_per_row(x):\n    return torch.max(x, 1)"),
    ("max_per_row", "values and argmax", "def max_per_row(x):\n    return x.max(-1).values, x.argmax(-1)"),
    ("max_per_row", "sort", "def max_per_row(x):\n    s = x.sort(dim=1, descending=True)\n"
                            "    return s.values[:, 0], s.indices[:, 0]"),
    ("max_per_row", "a loop with device-aware tensors", """
def max_per_row(x):
    values = torch.empty(x.shape[0], dtype=x.dtype, device=x.device)
    indices = torch.empty(x.shape[0], dtype=torch.int64, device=x.device)
    for i, row in enumerate(x):
        best = 0
        for j in range(1, len(row)):
            if row[j] > row[best]:
                best = j
        values[i], indices[i] = row[best], best
    return values, indices"""),
    ("row_normalize", "indexing with None", "def row_normalize(x):\n    return x / x.sum(1)[:, None]"),
    ("row_normalize", "transposes", "def row_normalize(x):\n    return (x.T / x.sum(1)).T"),
    # allowed by the contract (the visible test prints a note instead of failing)
    ("row_normalize", "in place", "def row_normalize(x):\n    x /= x.sum(dim=1, keepdim=True)\n    return x"),
    ("row_normalize", "a loop into empty_like", """
def row_normalize(x):
    out = torch.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = x[i] / x[i].sum()
    return out"""),
    ("outer_sum", "unsqueeze", "def outer_sum(a, b):\n    return a.unsqueeze(1) + b"),
    ("outer_sum", "view", "def outer_sum(a, b):\n    return a.view(-1, 1) + b.view(1, -1)"),
    ("outer_sum", "a loop into a device-aware tensor", """
def outer_sum(a, b):
    out = torch.empty(len(a), len(b), dtype=a.dtype, device=a.device)
    for i in range(len(a)):
        out[i] = a[i] + b
    return out"""),
    ("pairwise_sq_dists", "the expansion",
     "def pairwise_sq_dists(a, b):\n    return (a ** 2).sum(1)[:, None] + (b ** 2).sum(1) - 2 * a @ b.T"),
    ("pairwise_sq_dists", "cdist squared", "def pairwise_sq_dists(a, b):\n    return torch.cdist(a, b) ** 2"),
    ("pairwise_sq_dists", "unsqueeze", "def pairwise_sq_dists(a, b):\n    return ((a.unsqueeze(1) - b.unsqueeze(0)) ** 2).sum(-1)"),
    ("batch_flatten", "torch.flatten", "def batch_flatten(x):\n    return torch.flatten(x, 1)"),
    ("batch_flatten", "flatten(start_dim=1)", "def batch_flatten(x):\n    return x.flatten(start_dim=1)"),
    ("batch_flatten", "contiguous().view", "def batch_flatten(x):\n    return x.contiguous().view(x.shape[0], -1)"),
    ("batch_flatten", "reshape with numel", "def batch_flatten(x):\n    return x.reshape(len(x), x[0].numel())"),
]


visible_tests(globals(), NOTEBOOK, right=RIGHT, wrong=WRONG)


# --------------------------------------------------------------------------- ungraded practice

CONTEXT = [BY_ID["puzzles-setup"].source, BY_ID["kmeans-loop"].source, SOLUTIONS["pairwise_sq_dists"]]
PRACTICE = practice_tests(globals(), NOTEBOOK, CONTEXT)


def test_the_practice_has_seven_puzzles_and_a_longer_exercise():
    names = [defined_name(check.source) for _, _, check in PRACTICE]
    assert names == ["eye", "triu", "diag", "cumsum", "flip", "one_hot", "count_smaller", "kmeans_step"]


def test_the_puzzle_check_rejects_the_builtin():
    _, _, check = PRACTICE[0]
    _, calls = split_defs(check.source)
    out, _ = run(*CONTEXT, "def eye(n):\n    return torch.eye(n, dtype=torch.int64)\n", calls)
    assert "✗ eye gives the right answers but uses eye" in out

"""Solution cells for 01_tensor_ops: correct alternatives and typical mistakes
(the instructor's own come from the source notebook: `samples.solution_cells`).

Used by the sample class, the benchmark's synthetic classes and the tests. Not part of any
package: the grader never imports this file, and no sandbox can read it.
"""

ALTERNATIVE = {
    "row_normalize": "def row_normalize(x):\n    return x / x.sum(-1).unsqueeze(-1)",
    "outer_sum": "def outer_sum(a, b):\n    return a.unsqueeze(1) + b",
    "pairwise_sq_dists": "def pairwise_sq_dists(a, b):\n"
                         "    return (a * a).sum(1)[:, None] + (b * b).sum(1)[None] - 2 * a @ b.T",
    "batch_flatten": "def batch_flatten(x):\n    return torch.flatten(x, 1)",
    "max_per_row": "def max_per_row(x):\n    return x.max(1).values, x.argmax(1)",
}

WRONG = {
    "row_normalize": "def row_normalize(x):\n    return x / x.sum(dim=0, keepdim=True)",
    "outer_sum": "def outer_sum(a, b):\n    return b[:, None] + a[None, :]",
    "pairwise_sq_dists": "def pairwise_sq_dists(a, b):\n    return torch.cdist(a, b)",
    "batch_flatten": "def batch_flatten(x):\n    return x.reshape(x.shape[0], -1).clone()",
    "max_per_row": "def max_per_row(x):\n    return x.max(dim=0)",
}

# What the message for each WRONG solution must say (the tests check it).
WRONG_SAYS = {
    "row_normalize": "column sums",
    "outer_sum": "transposed",
    "pairwise_sq_dists": "Euclidean distances",
    "batch_flatten": "view of x",
    "max_per_row": "column maxima",
}

# The mistake each WRONG solution's verdict names (the tests check it).
WRONG_MISTAKE = {
    "row_normalize": "column-sums",
    "outer_sum": "transposed-result",
    "pairwise_sq_dists": "euclidean-not-squared",
    "batch_flatten": "copy-not-view",
    "max_per_row": "column-maxima",
}

"""The graded core of the course, as fixed by the curriculum contract.

For every assignment: its exercise ids and the signature each solution cell must define. The
pipeline tests check the source and release notebooks against this table, and that every
exercise has a hidden check. Add an assignment here when you add it to source/.
"""

CURRICULUM = {
    "01_tensor_ops": {
        "row_normalize": "def row_normalize(x)",
        "outer_sum": "def outer_sum(a, b)",
        "pairwise_sq_dists": "def pairwise_sq_dists(a, b)",
        "batch_flatten": "def batch_flatten(x)",
        "max_per_row": "def max_per_row(x)",
    },
}

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

# Exercises defined in terms of another exercise (rule 6): the clean-process check runs the
# solution cells listed here before the exercise's own cell.
DEPENDS = {}


def defined_name(signature):
    """'def row_normalize(x)' -> 'row_normalize'; 'class MyLinear(nn.Module)' -> 'MyLinear'."""
    return signature.split()[1].split("(")[0]


def exercise_of(grade_id, assignment):
    """The exercise a test cell's grade_id belongs to (test_<exercise id>...), or None."""
    for ex_id in sorted(CURRICULUM.get(assignment, {}), key=len, reverse=True):
        if grade_id.startswith(f"test_{ex_id}"):
            return ex_id
    return None

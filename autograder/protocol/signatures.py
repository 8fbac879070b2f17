"""Reading the signatures of the curriculum: what a solution cell must define, and its arguments.

The judge server sends the curriculum (exercise id -> signature) in its hello; the command and
the judge read names from it with these, the same way.
"""


def defined_name(signature):
    """'def row_normalize(x)' -> 'row_normalize'; 'class MyLinear(nn.Module)' -> 'MyLinear'."""
    return signature.split()[1].split("(")[0].rstrip(":")


def argument_names(signature):
    """The argument names of a `def` signature: 'def f(a, b=1)' -> ['a', 'b']."""
    inside = signature.split("(", 1)[1].rsplit(")", 1)[0]
    return [a.split("=")[0].strip() for a in inside.split(",") if a.strip()]

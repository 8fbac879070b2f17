"""Solution cells for 07_containers: correct alternatives and typical mistakes
(the instructor's own come from the source notebook: `samples.solution_cells`).

TODO: each cell is the complete source of a solution cell, run after the setup cell."""


ALTERNATIVE = {
    "build_mlp": "def build_mlp(sizes): raise NotImplementedError()  # TODO",
    "repeated": "class Repeated(nn.Module): raise NotImplementedError()  # TODO",
    "multi_head": "class MultiHead(nn.Module): raise NotImplementedError()  # TODO",
    "named_sequential": "def named_sequential(layers): raise NotImplementedError()  # TODO",
}


WRONG = {
    "build_mlp": "def build_mlp(sizes): raise NotImplementedError()  # TODO",
    "repeated": "class Repeated(nn.Module): raise NotImplementedError()  # TODO",
    "multi_head": "class MultiHead(nn.Module): raise NotImplementedError()  # TODO",
    "named_sequential": "def named_sequential(layers): raise NotImplementedError()  # TODO",
}


# What the message for each WRONG solution must say (the tests check it).
WRONG_SAYS = {
    "build_mlp": "TODO",
    "repeated": "TODO",
    "multi_head": "TODO",
    "named_sequential": "TODO",
}

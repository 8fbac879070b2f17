"""Solution cells for 06_nn_functional: correct alternatives and typical mistakes
(the instructor's own come from the source notebook: `samples.solution_cells`).

TODO: each cell is the complete source of a solution cell, run after the setup cell."""


ALTERNATIVE = {
    "functional_net": "class FunctionalNet(nn.Module): raise NotImplementedError()  # TODO",
    "cross_entropy": "def cross_entropy(logits, target): raise NotImplementedError()  # TODO",
    "conv1d_output_length": "def conv1d_output_length(length, kernel_size, stride=1, padding=0, dilation=1): raise NotImplementedError()  # TODO",
    "tiny_cnn": "class TinyCNN(nn.Module): raise NotImplementedError()  # TODO",
}


WRONG = {
    "functional_net": "class FunctionalNet(nn.Module): raise NotImplementedError()  # TODO",
    "cross_entropy": "def cross_entropy(logits, target): raise NotImplementedError()  # TODO",
    "conv1d_output_length": "def conv1d_output_length(length, kernel_size, stride=1, padding=0, dilation=1): raise NotImplementedError()  # TODO",
    "tiny_cnn": "class TinyCNN(nn.Module): raise NotImplementedError()  # TODO",
}


# What the message for each WRONG solution must say (the tests check it).
WRONG_SAYS = {
    "functional_net": "TODO",
    "cross_entropy": "TODO",
    "conv1d_output_length": "TODO",
    "tiny_cnn": "TODO",
}

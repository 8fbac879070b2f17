"""Gallery for the hidden checks of 06_nn_functional (autograder/judge/exercises/nn_functional.py): correct
solutions written the ways students write them pass, typical mistakes fail naming the mistake
(tests/judging.py defines the tests every gallery has)."""

import torch  # noqa: F401
from torch import nn  # noqa: F401

from judging import gallery_tests, rows, stub

FUNCTIONAL_NET_OK = []  # TODO: (name, fn) correct solutions written other ways
FUNCTIONAL_NET_WRONG = [("stub", stub, "NotImplementedError")]  # TODO: (name, fn, phrase)

CROSS_ENTROPY_OK = []  # TODO: (name, fn) correct solutions written other ways
CROSS_ENTROPY_WRONG = [("stub", stub, "NotImplementedError")]  # TODO: (name, fn, phrase)

CONV1D_OUTPUT_LENGTH_OK = []  # TODO: (name, fn) correct solutions written other ways
CONV1D_OUTPUT_LENGTH_WRONG = [("stub", stub, "NotImplementedError")]  # TODO: (name, fn, phrase)

TINY_CNN_OK = []  # TODO: (name, fn) correct solutions written other ways
TINY_CNN_WRONG = [("stub", stub, "NotImplementedError")]  # TODO: (name, fn, phrase)

CORRECT = rows("functional_net", FUNCTIONAL_NET_OK) + rows("cross_entropy", CROSS_ENTROPY_OK) + rows("conv1d_output_length", CONV1D_OUTPUT_LENGTH_OK) + rows("tiny_cnn", TINY_CNN_OK)
WRONG = rows("functional_net", FUNCTIONAL_NET_WRONG) + rows("cross_entropy", CROSS_ENTROPY_WRONG) + rows("conv1d_output_length", CONV1D_OUTPUT_LENGTH_WRONG) + rows("tiny_cnn", TINY_CNN_WRONG)

gallery_tests(globals(), "06_nn_functional", CORRECT, WRONG)

"""Gallery for the hidden checks of 07_containers (autograder/judge/exercises/containers.py): correct
solutions written the ways students write them pass, typical mistakes fail naming the mistake
(tests/judging.py defines the tests every gallery has)."""

import torch  # noqa: F401
from torch import nn  # noqa: F401

from judging import gallery_tests, rows, stub

BUILD_MLP_OK = []  # TODO: (name, fn) correct solutions written other ways
BUILD_MLP_WRONG = [("stub", stub, "NotImplementedError")]  # TODO: (name, fn, phrase)

REPEATED_OK = []  # TODO: (name, fn) correct solutions written other ways
REPEATED_WRONG = [("stub", stub, "NotImplementedError")]  # TODO: (name, fn, phrase)

MULTI_HEAD_OK = []  # TODO: (name, fn) correct solutions written other ways
MULTI_HEAD_WRONG = [("stub", stub, "NotImplementedError")]  # TODO: (name, fn, phrase)

NAMED_SEQUENTIAL_OK = []  # TODO: (name, fn) correct solutions written other ways
NAMED_SEQUENTIAL_WRONG = [("stub", stub, "NotImplementedError")]  # TODO: (name, fn, phrase)

CORRECT = rows("build_mlp", BUILD_MLP_OK) + rows("repeated", REPEATED_OK) + rows("multi_head", MULTI_HEAD_OK) + rows("named_sequential", NAMED_SEQUENTIAL_OK)
WRONG = rows("build_mlp", BUILD_MLP_WRONG) + rows("repeated", REPEATED_WRONG) + rows("multi_head", MULTI_HEAD_WRONG) + rows("named_sequential", NAMED_SEQUENTIAL_WRONG)

gallery_tests(globals(), "07_containers", CORRECT, WRONG)

"""Gallery for the hidden checks of 08_devices (autograder/judge/exercises/devices.py): correct
solutions written the ways students write them pass, typical mistakes fail naming the mistake
(tests/judging.py defines the tests every gallery has)."""

import torch  # noqa: F401
from torch import nn  # noqa: F401

from judging import gallery_tests, rows, stub

AVAILABLE_DEVICES_OK = []  # TODO: (name, fn) correct solutions written other ways
AVAILABLE_DEVICES_WRONG = [("stub", stub, "NotImplementedError")]  # TODO: (name, fn, phrase)

BEST_DEVICE_OK = []  # TODO: (name, fn) correct solutions written other ways
BEST_DEVICE_WRONG = [("stub", stub, "NotImplementedError")]  # TODO: (name, fn, phrase)

MODULE_DEVICE_OK = []  # TODO: (name, fn) correct solutions written other ways
MODULE_DEVICE_WRONG = [("stub", stub, "NotImplementedError")]  # TODO: (name, fn, phrase)

TO_NUMPY_OK = []  # TODO: (name, fn) correct solutions written other ways
TO_NUMPY_WRONG = [("stub", stub, "NotImplementedError")]  # TODO: (name, fn, phrase)

MOVE_TO_OK = []  # TODO: (name, fn) correct solutions written other ways
MOVE_TO_WRONG = [("stub", stub, "NotImplementedError")]  # TODO: (name, fn, phrase)

CORRECT = rows("available_devices", AVAILABLE_DEVICES_OK) + rows("best_device", BEST_DEVICE_OK) + rows("module_device", MODULE_DEVICE_OK) + rows("to_numpy", TO_NUMPY_OK) + rows("move_to", MOVE_TO_OK)
WRONG = rows("available_devices", AVAILABLE_DEVICES_WRONG) + rows("best_device", BEST_DEVICE_WRONG) + rows("module_device", MODULE_DEVICE_WRONG) + rows("to_numpy", TO_NUMPY_WRONG) + rows("move_to", MOVE_TO_WRONG)

gallery_tests(globals(), "08_devices", CORRECT, WRONG)

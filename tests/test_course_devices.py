"""course.machines (08_devices): the simulated machine and expect_devices."""

import pytest
import torch

from course.checks import CheckError
from course.machines import expect_devices, simulated_machine

QUERIES = (lambda: (torch.cuda.is_available(), torch.cuda.device_count(), torch.backends.mps.is_available()))


def test_the_simulated_machine_answers_the_three_queries_and_puts_them_back():
    real = QUERIES()
    with simulated_machine(cuda=3, mps=True):
        assert QUERIES() == (True, 3, True)
        assert torch.backends.mps.is_built()
    with simulated_machine():
        assert QUERIES() == (False, 0, False)
    assert QUERIES() == real


def test_the_queries_come_back_after_an_error():
    real = QUERIES()
    with pytest.raises(KeyError), simulated_machine(cuda=2):
        raise KeyError("inside")
    assert QUERIES() == real


def test_expect_devices_counts_cuda_as_cuda0_and_mps_as_mps0():
    expect_devices([torch.device("cpu"), torch.device("cuda")], [torch.device("cpu"), torch.device("cuda", 0)])
    expect_devices(torch.device("mps"), torch.device("mps:0"))


@pytest.mark.parametrize("got, expected, phrase", [
    (["cpu"], [torch.device("cpu")], "got the string 'cpu', not a torch.device"),
    ("cuda:0", torch.device("cuda:0"), "torch.device('cuda:0') == 'cuda:0' is False"),
    ([torch.device("cuda", 1)], [torch.device("cuda")], "wrong devices"),
    ((torch.device("cpu"),), [torch.device("cpu")], "expected a list of torch.device"),
    ([torch.device("cpu")], [torch.device("cpu"), torch.device("mps")], "wrong devices"),
    ([1], [torch.device("cpu")], "expected torch.device objects"),
])
def test_expect_devices_says_what_is_wrong(got, expected, phrase):
    with pytest.raises(CheckError) as info:
        expect_devices(got, expected, name="available_devices()", hint="see section 3")
    assert phrase in str(info.value) and "hint: see section 3" in str(info.value)


def test_the_module_offers_no_function_that_lists_or_picks_devices():
    import course.machines as module
    public = {name for name in vars(module) if not name.startswith("_") and callable(getattr(module, name))}
    assert public <= {"describe_devices", "simulated_machine", "expect_devices", "contextlib", "torch"}

"""`autograder.protocol.warm`: the servers walk torch's first-use paths once, before forking,
so that no judge or candidate child imports half of torch again (1.5 s each for an optimizer)."""

import subprocess
import sys

import torch

from autograder.protocol.warm import warm_torch

FIRST_USES = """
import sys
import torch
{warm}
before = set(sys.modules)
model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Dropout(0.2), torch.nn.Linear(4, 2))
for make in (torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW):
    optimizer = make(model.parameters(), lr=0.01)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(6, 3), torch.randn(6, 2)),
                                         batch_size=4)
    for x, y in loader:
        optimizer.zero_grad()
        out = model(x)
        torch.autograd.backward(out, torch.ones_like(out))
        optimizer.step()
print(len(set(sys.modules) - before), sorted(set(sys.modules) - before)[:5])
"""


def new_modules(warm):
    code = FIRST_USES.format(warm="from autograder.protocol.warm import warm_torch; warm_torch()" if warm else "")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return int(out.stdout.split()[0]), out.stdout


def test_after_the_warm_up_a_training_step_imports_nothing():
    count, said = new_modules(warm=True)
    assert count == 0, said


def test_without_it_the_first_training_step_imports_hundreds_of_modules():
    count, said = new_modules(warm=False)  # what every forked child paid before
    assert count > 100, said


def test_the_warm_up_leaves_the_random_generator_as_it_was():
    torch.manual_seed(1234)
    before = torch.get_rng_state()
    warm_torch()
    assert torch.equal(torch.get_rng_state(), before)

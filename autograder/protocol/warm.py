"""torch's first-use work, done once in each server before it forks its children.

torch imports parts of itself on first use: the first optimizer imports `torch._dynamo` (with
sympy, about 800 modules, 1.2 s of CPU), the first `backward` given explicit gradients imports
`torch.fx.experimental.symbolic_shapes` (sympy, 0.35 s), the first DataLoader its profiler.
A forked child pays each of these again, every time: the judge and the candidate of every
train_epoch check did (2.5 of its 2.8 s of CPU). `warm_torch()` walks those paths once, in the
server, so that every child inherits them. It touches no state a check reads: the CPU's random
generator is put back as it was, no other device's generator is seeded (torch.manual_seed would
queue a CUDA seed that nothing here could undo), and nothing it makes outlives it.
"""

import torch


def warm_torch():
    with torch.random.fork_rng(devices=[]):  # the CPU generator only: nothing here seeds another device's
        model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU(), torch.nn.Dropout(0.5))
        data = torch.utils.data.TensorDataset(torch.ones(2, 2), torch.ones(2, 2))
        for make in (torch.optim.SGD, torch.optim.Adam):
            optimizer = make(model.parameters(), lr=0.1)
            for x, y in torch.utils.data.DataLoader(data, batch_size=1):
                optimizer.zero_grad()
                out = model(x) - y
                torch.autograd.backward(out, torch.ones_like(out))
                optimizer.step()

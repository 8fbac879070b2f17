"""How close a float answer must be to the judge's float64 reference: (rtol, atol) per dtype.

An exercise names one of these (`tolerance=` of its declaration) and its checks read it as
`t.tol` for the trial's dtype; `t.expect` uses it unless told otherwise. The contract fixes
some (pairwise_sq_dists: 1e-4 in float32); the others are what the computation's rounding
allows, so that a correct answer computed another way (another order of sums, a GPU) passes.
"""

import torch

F32, F64 = torch.float32, torch.float64

ELEMENTWISE = {F32: (1e-5, 1e-6), F64: (1e-9, 1e-12)}   # a few operations per entry
SUMS = {F32: (1e-4, 1e-4), F64: (1e-9, 1e-9)}          # sums of products (distance expansions, gradients of layers)
LAYERS = {F32: (1e-4, 1e-5), F64: (1e-9, 1e-10)}       # a small network's forward pass
COPIES = {F32: (1e-5, 1e-5), F64: (1e-9, 1e-12)}       # values copied or moved, then one layer applied
MODULES = {F32: (1e-5, 1e-5), F64: (1e-9, 1e-10)}      # one module's forward, its buffers and gradients
GRADIENTS = {F32: (1e-4, 1e-5), F64: (1e-7, 1e-10)}    # autograd through a composed function
UPDATES = {F32: (1e-5, 1e-6), F64: (1e-12, 1e-12)}     # one in-place update, p - lr * g
NEAR_EXACT = {F32: (1e-6, 1e-7), F64: (1e-6, 1e-7)}    # answers that are copies of input values
EXACT = {F32: (0.0, 0.0), F64: (0.0, 0.0)}

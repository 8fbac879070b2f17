"""Solution cells for 08_devices: correct alternatives and typical mistakes
(the instructor's own come from the source notebook: `samples.solution_cells`).

Used by the benchmark's synthetic classes, the tampering gallery and the tests. Not part of any
package: the grader never imports this file, and no sandbox can read it. Each is the complete
source of a solution cell (the whole function); the notebook's setup cell has already run
`import torch`, `import numpy as np` and `from torch import nn`.
"""

ALTERNATIVE = {
    "available_devices": '''def available_devices():
    """List of torch.device: cpu first, then cuda:0 … cuda:{n-1} for the n visible CUDA GPUs, then mps when available."""
    names = ["cpu"]
    if torch.cuda.is_available():
        names += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        names.append("mps:0")
    return [torch.device(name) for name in names]
''',
    "best_device": '''def best_device():
    """cuda:0 when CUDA is available, else mps when available, else cpu, as a torch.device."""
    return torch.device("cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu")
''',
    "module_device": '''def module_device(module):
    """The one device that all of the module's parameters and buffers are on, as a torch.device."""
    found = None
    for tensor in list(module.parameters()) + list(module.buffers()):
        if found is None:
            found = tensor.device
        elif tensor.device != found:
            raise ValueError(f"the module is on {found} and {tensor.device}")
    if found is None:
        raise ValueError("the module has no parameters and no buffers")
    return found
''',
    "to_numpy": '''def to_numpy(t):
    """A NumPy array with t's values, shape and matching dtype, for any tensor of a dtype NumPy has (not bfloat16)."""
    return t.numpy(force=True)
''',
    "move_to": '''def move_to(obj, device):
    """Returns obj with every tensor inside it moved to device, recursing into dicts, lists and tuples."""
    if torch.is_tensor(obj):
        return obj.to(device)
    if isinstance(obj, dict):
        return dict((key, move_to(value, device)) for key, value in obj.items())
    if isinstance(obj, list):
        return [move_to(item, device) for item in obj]
    if isinstance(obj, tuple):
        return tuple(move_to(item, device) for item in obj)
    return obj
''',
}

WRONG = {
    "available_devices": '''AT_START = [torch.device("cpu")] + [torch.device("cuda", i) for i in range(torch.cuda.device_count())]

def available_devices():
    """List of torch.device: cpu first, then cuda:0 … cuda:{n-1} for the n visible CUDA GPUs, then mps when available."""
    return AT_START
''',
    "best_device": '''def best_device():
    """cuda:0 when CUDA is available, else mps when available, else cpu, as a torch.device."""
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
''',
    "module_device": '''def module_device(module):
    """The one device that all of the module's parameters and buffers are on, as a torch.device."""
    return next(module.parameters()).device
''',
    "to_numpy": '''def to_numpy(t):
    """A NumPy array with t's values, shape and matching dtype, for any tensor of a dtype NumPy has (not bfloat16)."""
    return t.cpu().numpy()
''',
    "move_to": '''def move_to(obj, device):
    """Returns obj with every tensor inside it moved to device, recursing into dicts, lists and tuples."""
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {key: move_to(value, device) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [move_to(item, device) for item in obj]
    return obj
''',
}

# What the message for each WRONG solution must say (the tests check it).
WRONG_SAYS = {
    "available_devices": "read once",
    "best_device": "CUDA comes first",
    "module_device": "raised StopIteration",
    "to_numpy": "requires grad",
    "move_to": "a tuple came back as a list",
}

# The slug of the declared mistake (Mistake(slug=...) or Hint) each WRONG solution is named with.
WRONG_MISTAKE = {
    "available_devices": "queries-read-once",
    "best_device": "mps-before-cuda",
    "module_device": "next-on-empty-parameters",
    "to_numpy": "numpy-without-detach",
    "move_to": "container-type-lost",
}

"""Which devices this machine has, so every notebook runs unchanged on CPU, CUDA or MPS."""

import torch


def available_devices():
    """`cpu`, then every visible CUDA GPU, then Apple's `mps` when present."""
    devices = [torch.device("cpu")]
    if torch.cuda.is_available():
        devices += [torch.device("cuda", i) for i in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        devices.append(torch.device("mps", 0))
    return devices


def best_device():
    """The fastest device available: the first GPU, else MPS, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", 0)
    if torch.backends.mps.is_available():
        return torch.device("mps", 0)
    return torch.device("cpu")


def describe_devices():
    """One line per available device, e.g. for the top of a notebook."""
    lines = []
    for device in available_devices():
        if device.type == "cuda":
            lines.append(f"{device}: {torch.cuda.get_device_name(device)}")
        elif device.type == "mps":
            lines.append(f"{device}: Apple GPU (Metal)")
        else:
            lines.append(f"{device}: CPU ({torch.get_num_threads()} threads)")
    return "\n".join(lines)

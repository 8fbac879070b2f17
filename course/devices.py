"""What this machine has to compute on, in words, for the top of a notebook.

This module deliberately offers no function that returns devices: listing the available devices
and picking the best one are exercises of `08_devices`. Notebooks choose their device in one
readable line of their own setup cell:

    device = torch.device("cuda" if torch.cuda.is_available()
                          else "mps" if torch.backends.mps.is_available() else "cpu")
"""

import torch


def describe_devices():
    """A short report of this machine's compute devices, one line each, e.g.

        CPU: 8 threads
        CUDA: 1 GPU (cuda:0 NVIDIA H200)
        MPS (Apple GPU): not available
    """
    lines = [f"CPU: {torch.get_num_threads()} threads"]
    if torch.cuda.is_available():
        count = torch.cuda.device_count()
        names = ", ".join(f"cuda:{i} {torch.cuda.get_device_name(i)}" for i in range(count))
        lines.append(f"CUDA: {count} GPU{'s' if count != 1 else ''} ({names})")
    else:
        lines.append("CUDA: not available")
    mps = getattr(torch.backends, "mps", None)
    lines.append("MPS (Apple GPU): " + ("available" if mps is not None and mps.is_available()
                                       else "not available"))
    return "\n".join(lines)

"""The devices every hidden check runs on: the CPU always, then each CUDA GPU, then MPS."""

import torch


def test_devices():
    devices = [torch.device("cpu")]
    if torch.cuda.is_available():
        devices += [torch.device("cuda", i) for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append(torch.device("mps", 0))
    return devices


def dtypes_on(device):
    """float32 everywhere; float64 too except on MPS, which has no float64."""
    from .genuine import float32, float64
    return [float32] if device.type == "mps" else [float32, float64]

"""Inputs in memory the judge sees itself: side effects observed from outside the candidate.

Whether a call changed an input in place, or returned memory shared with it (a view), cannot
be decided from the candidate's own report: student code runs in the candidate before any
request and can rewrite whatever describes or writes there. So an input whose side effects a
check judges (`Trial.make` of a CPU tensor) is placed in a memfd: the judge writes its values
there, keeps a mapping of its own, and sends the descriptor with the request; the candidate
builds the tensor *on* that memory (`protocol.values.make_shared_tensor`: mmap MAP_SHARED, then
the view ops), so a view of the input stays on it and an in-place change lands in it.

After the call the judge reads its own mapping (`changed`, `now`): a change cannot be hidden
by any code in the candidate. The judge can also write into it (`write`, e.g. a sentinel at
the element a view must alias) and see whether the candidate's result follows. The memfd is
sealed against shrinking and growing, so the candidate cannot truncate it under the judge's
mapping (SIGBUS in the judge). Only CPU inputs can be shared: an input for a GPU is copied to
the device in the candidate (the CPU trial, which always runs, judges the property).
"""

import mmap
import os
import tempfile

import torch

from ..protocol.values import DTYPE_NAMES, VIEW_OPS, tensor_bytes

_SEALS = ("F_SEAL_SHRINK", "F_SEAL_GROW", "F_SEAL_SEAL")


def _memory(size):
    """A descriptor of `size` bytes of memory another process can map: a sealed memfd (Linux);
    elsewhere (the in-process `Local` candidate only) a temporary file."""
    if hasattr(os, "memfd_create"):
        import fcntl
        fd = os.memfd_create("judge-input", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        os.ftruncate(fd, size)
        seals = 0
        for name in _SEALS:
            seals |= getattr(fcntl, name, 0)
        if hasattr(fcntl, "F_ADD_SEALS"):
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, seals)
        return fd
    with tempfile.TemporaryFile() as f:
        fd = os.dup(f.fileno())
    os.ftruncate(fd, size)
    return fd


def shareable(value):
    """Whether a `TensorInput` can be sent in shared memory: a CPU tensor with values."""
    return (getattr(value, "device", None) is not None and value.device.type == "cpu"
            and value.value.numel() > 0 and value.value.dtype in DTYPE_NAMES)


class SharedInput:
    """One input tensor's memory, as the judge wrote it and as it is now.

    `base` is the contiguous tensor whose bytes were written; the candidate applies `view` to
    it, as the judge does to read it (`now`). `fd` is open until `sent()`."""

    def __init__(self, tensor_input):
        self.base = tensor_input.value.detach().cpu().contiguous()
        self.view = tuple(tensor_input.view)
        self.dtype = self.base.dtype
        self.sent_bytes = tensor_bytes(self.base)
        self.fd = _memory(len(self.sent_bytes))
        self.map = mmap.mmap(self.fd, len(self.sent_bytes), mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        self.map[:] = self.sent_bytes
        # the judge's own window on that memory (writes go through to the candidate's tensor)
        self.flat = torch.frombuffer(self.map, dtype=self.dtype, count=self.base.numel())

    def sent(self):
        """The descriptor went with the request: the judge keeps only its mapping."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def changed(self):
        """Whether any byte of the input's memory differs from what the judge wrote."""
        return self.map[:] != self.sent_bytes

    def _viewed(self, flat):
        t = flat.reshape(self.base.shape)
        for op in self.view:
            t = VIEW_OPS[op[0]](t, *op[1:])
        return t

    def before(self):
        """The input as it was sent (the judge's values, the view ops applied)."""
        return self._viewed(self.base.reshape(-1))

    def now(self):
        """The input as its memory holds it now (a copy, the view ops applied)."""
        return self._viewed(self.flat.clone())

    def positions(self):
        """The input as viewed, holding for each element its flat position in the memory."""
        return self._viewed(torch.arange(self.base.numel()))

    def write(self, position, value):
        """Write `value` at flat `position` of the input's memory (the candidate sees it)."""
        self.flat[position] = value

    def overwrite(self, values):
        """Write `values` (shaped as the input is viewed) into its memory, each where the view
        shows it: the candidate's tensor then holds them."""
        self.flat[self.positions().reshape(-1)] = values.detach().to(self.dtype).reshape(-1)

    def restore(self):
        """Put back the values the judge sent."""
        self.map[:] = self.sent_bytes

"""Plots that make the course's ideas visible (matplotlib only)."""

import matplotlib.pyplot as plt
import torch


def plot_memory(t, title=None, ax=None):
    """Draw a 2-D tensor's storage (one row of cells, in memory order) above its logical layout.

    Each logical cell is labelled with the storage offset it reads, so a transpose shows up as
    the same memory read in a different order, and a copy as new memory.
    """
    if t.dim() != 2:
        raise ValueError(f"plot_memory draws 2-D tensors; this one has shape {tuple(t.shape)}")
    storage = t.untyped_storage()
    n_storage = storage.nbytes() // t.element_size()
    base = torch.empty(0, dtype=t.dtype, device=t.device).set_(storage).cpu()
    rows, cols = t.shape
    stride0, stride1 = t.stride()
    offset = t.storage_offset()

    if ax is None:
        _, ax = plt.subplots(figsize=(max(6, 0.7 * n_storage), 1.2 + 0.7 * rows))
    ax.set_axis_off()
    ax.set_aspect("equal")
    top = rows + 1.2
    used = {offset + i * stride0 + j * stride1 for i in range(rows) for j in range(cols)}
    for k in range(n_storage):
        colour = "#cfe3ff" if k in used else "#eeeeee"
        ax.add_patch(plt.Rectangle((k, top), 1, 1, facecolor=colour, edgecolor="black"))
        ax.text(k + 0.5, top + 0.5, f"{base[k].item():g}", ha="center", va="center", fontsize=9)
        ax.text(k + 0.5, top + 1.25, str(k), ha="center", va="center", fontsize=7, color="grey")
    ax.text(-0.3, top + 0.5, "storage", ha="right", va="center", fontsize=9)
    for i in range(rows):
        for j in range(cols):
            k = offset + i * stride0 + j * stride1
            y = rows - 1 - i
            ax.add_patch(plt.Rectangle((j, y), 1, 1, facecolor="#fff3c4", edgecolor="black"))
            ax.text(j + 0.5, y + 0.6, f"{t[i, j].item():g}", ha="center", va="center", fontsize=9)
            ax.text(j + 0.5, y + 0.2, f"@{k}", ha="center", va="center", fontsize=7, color="grey")
    ax.text(-0.3, rows / 2, "tensor", ha="right", va="center", fontsize=9)
    ax.set_xlim(-2, max(n_storage, cols) + 0.5)
    ax.set_ylim(-0.5, top + 1.8)
    label = title or "tensor"
    ax.set_title(f"{label}: shape {tuple(t.shape)}, stride {t.stride()}, "
                 f"contiguous={t.is_contiguous()}", fontsize=10)
    return ax


def plot_function_and_derivative(f, x, ax=None, label="f"):
    """Plot f(x) and its derivative computed by autograd, on a 1-D grid `x`."""
    x = x.detach().clone().requires_grad_(True)
    y = f(x)
    (dy,) = torch.autograd.grad(y.sum(), x)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(x.detach(), y.detach(), label=label)
    ax.plot(x.detach(), dy, "--", label=f"d{label}/dx (autograd)")
    ax.axhline(0, color="grey", lw=0.5)
    ax.legend()
    return ax

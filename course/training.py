"""Helpers for 09_training: a small 2-D classification problem, a live loss curve and a
decision-boundary plot.

None of them trains anything or computes a loss: the training loops are the notebook's (and the
student's). `two_moons` makes data, `LiveLoss` draws the numbers it is given, and
`plot_decision_boundary` colours the plane by what a `predict` function (written by the caller)
answers.
"""

import io
import math

import matplotlib.pyplot as plt
import torch

TITLE_FONT, LABEL_FONT = 12, 10


def two_moons(n=200, noise=0.15, seed=0, dtype=torch.float32):
    """`n` points of two interleaving half circles in 2-D, with Gaussian noise: x `(n, 2)` of
    `dtype`, y `(n,)` int64 labels 0 and 1 (half of each, the first n // 2 labelled 0, then
    shuffled). Made here from a seeded generator: nothing is downloaded."""
    g = torch.Generator().manual_seed(seed)
    n0 = n // 2
    n1 = n - n0
    t0 = torch.rand(n0, generator=g, dtype=torch.float64) * math.pi
    t1 = torch.rand(n1, generator=g, dtype=torch.float64) * math.pi
    upper = torch.stack([torch.cos(t0), torch.sin(t0)], 1)
    lower = torch.stack([1 - torch.cos(t1), 0.5 - torch.sin(t1)], 1)
    x = torch.cat([upper, lower]) + noise * torch.randn(n, 2, generator=g, dtype=torch.float64)
    y = torch.cat([torch.zeros(n0, dtype=torch.int64), torch.ones(n1, dtype=torch.int64)])
    order = torch.randperm(n, generator=g)
    return x[order].to(dtype), y[order]


class LiveLoss:
    """A loss curve that redraws itself in the notebook while a loop runs.

        live = LiveLoss("Training loss", ylabel="cross-entropy")
        for step in ...:
            live.add(value)            # redraws every `every` values
        live.done()                    # the final picture stays in the output

    Outside a notebook (no IPython display) it only collects the values."""

    def __init__(self, title="Loss during training", xlabel="epoch", ylabel="loss", every=5, log=False):
        self.values, self.every, self.log = [], every, log
        self.title, self.xlabel, self.ylabel = title, xlabel, ylabel
        self.fig, self.ax = plt.subplots(figsize=(5.0, 3.2), layout="constrained")
        self.handle = None
        self.draw()  # titled and labelled from the first picture on
        try:
            from IPython import get_ipython
            from IPython.display import display
            if get_ipython() is not None:
                self.handle = display(self.picture(), display_id=True)
        except ImportError:  # pragma: no cover - IPython is part of the course environment
            self.handle = None
        plt.close(self.fig)  # shown through the handle only, never twice

    def picture(self):
        """The figure as it is now, as a PNG image for IPython's display."""
        from IPython.display import Image

        buffer = io.BytesIO()
        self.fig.savefig(buffer, format="png", dpi=80)
        return Image(data=buffer.getvalue(), format="png")

    def draw(self):
        ax = self.ax
        ax.clear()
        ax.plot(range(1, len(self.values) + 1), self.values, lw=2, gid="loss curve")
        if self.log:
            ax.set_yscale("log")
        ax.set_title(self.title, fontsize=TITLE_FONT)
        ax.set_xlabel(self.xlabel, fontsize=LABEL_FONT)
        ax.set_ylabel(self.ylabel, fontsize=LABEL_FONT)
        ax.grid(True, alpha=0.3)
        if self.handle is not None:
            self.handle.update(self.picture())

    def add(self, value):
        self.values.append(float(value))
        if len(self.values) % self.every == 0:
            self.draw()

    def done(self):
        self.draw()
        return self.values


def plot_decision_boundary(predict, x, y, ax=None, title="Decision boundary", steps=150, margin=0.5):
    """Colour the plane around the points `x` `(n, 2)` by the class `predict` gives each grid
    point (predict maps a float tensor `(m, 2)`, on the CPU, of x's dtype, to class indices
    `(m,)`), and draw the points coloured by their labels `y`. Returns the axes."""
    if ax is None:
        _, ax = plt.subplots(figsize=(4.6, 3.8), layout="constrained")
    x = x.detach().cpu()
    y = y.detach().cpu()
    lo, hi = x.min(0).values - margin, x.max(0).values + margin
    gx, gy = torch.meshgrid(torch.linspace(float(lo[0]), float(hi[0]), steps),
                            torch.linspace(float(lo[1]), float(hi[1]), steps), indexing="xy")
    grid = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1).to(x.dtype)
    classes = torch.as_tensor(predict(grid)).detach().cpu().reshape(gx.shape)
    ax.contourf(gx.numpy(), gy.numpy(), classes.numpy(), levels=[-0.5, 0.5, 1.5], colors=["#cfe0f3", "#f8d9c4"],
                alpha=0.9)
    for label, colour in ((0, "#1f77b4"), (1, "#d95f02")):
        pts = x[y == label]
        ax.scatter(pts[:, 0].numpy(), pts[:, 1].numpy(), s=12, c=colour, label=f"class {label}",
                   edgecolors="white", linewidths=0.3)
    ax.set_title(title, fontsize=TITLE_FONT)
    ax.set_xlabel("x₁", fontsize=LABEL_FONT)
    ax.set_ylabel("x₂", fontsize=LABEL_FONT)
    ax.legend(fontsize=8, loc="lower right")
    return ax

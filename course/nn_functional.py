"""Pictures and a widget for 06_nn_functional: activation functions with their derivatives, a 1-D
kernel sliding over a sequence, and a conv/pool output-shape calculator.

The calculator never uses a formula: it builds the layer (nn.Conv1d, nn.MaxPool1d, nn.AvgPool1d)
and runs it on a `meta` tensor, which has a shape but no values, so torch itself says how long
the output is (or why it cannot be computed). The notebook's exercise asks for the formula.
"""

import html

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
from matplotlib.patches import Rectangle

from .plots import NOTE_FONT, TITLE_FONT, VALUE_FONT
from .widgets import figure_png

ACTIVATIONS = {
    "ReLU": torch.nn.ReLU(),
    "LeakyReLU(0.1)": torch.nn.LeakyReLU(0.1),
    "Sigmoid": torch.nn.Sigmoid(),
    "Tanh": torch.nn.Tanh(),
    "GELU": torch.nn.GELU(),
    "Softplus": torch.nn.Softplus(),
}
LAYERS = ("Conv1d", "MaxPool1d", "AvgPool1d")


def plot_activations(names=tuple(ACTIVATIONS), lo=-4.0, hi=4.0):
    """One panel per activation: the function and its derivative, computed by autograd."""
    cols = 3
    rows = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(10, 3.0 * rows), layout="constrained", squeeze=False)
    x = torch.linspace(lo, hi, 401, requires_grad=True)
    for ax, name in zip(axes.flat, names):
        y = ACTIVATIONS[name](x)
        (dy,) = torch.autograd.grad(y.sum(), x)
        ax.plot(x.detach(), y.detach(), label=name, gid=f"f {name}")
        ax.plot(x.detach(), dy, "--", label="derivative", gid=f"df {name}")
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_title(name, fontsize=TITLE_FONT)
        ax.set_xlabel("x", fontsize=VALUE_FONT)
        ax.set_ylabel("value", fontsize=VALUE_FONT)
        ax.legend(fontsize=NOTE_FONT + 0.5)
    for ax in list(axes.flat)[len(names):]:
        ax.set_visible(False)
    fig.suptitle("Activation functions (solid) and their derivatives (dashed, autograd)", fontsize=TITLE_FONT)
    return fig


def layer_output(kind, length, kernel_size, stride=1, padding=0, dilation=1):
    """(output length, None) of `kind` (Conv1d, MaxPool1d or AvgPool1d) with these settings,
    found by running the layer on a meta tensor (1, 1, length); (None, torch's error) when
    torch refuses. AvgPool1d has no dilation (it must be 1)."""
    try:
        if kind == "Conv1d":
            layer = torch.nn.Conv1d(1, 1, kernel_size, stride=stride, padding=padding, dilation=dilation,
                                    device="meta")
        elif kind == "MaxPool1d":
            layer = torch.nn.MaxPool1d(kernel_size, stride=stride, padding=padding, dilation=dilation)
        elif kind == "AvgPool1d":
            if dilation != 1:
                return None, "AvgPool1d has no dilation setting (set dilation to 1)"
            layer = torch.nn.AvgPool1d(kernel_size, stride=stride, padding=padding)
        else:
            return None, f"unknown layer {kind!r}"
        return layer(torch.empty(1, 1, length, device="meta")).shape[-1], None
    except RuntimeError as exc:
        return None, str(exc).strip().splitlines()[0]


def windows(length, kernel_size, stride=1, padding=0, dilation=1):
    """For each output position, the padded-input positions its kernel taps (for the picture)."""
    out, error = layer_output("Conv1d", length, kernel_size, stride, padding, dilation)
    if error:
        return []
    return [[i * stride + j * dilation for j in range(kernel_size)] for i in range(out)]


def plot_sliding_kernel(length=8, kernel_size=3, stride=1, padding=0, dilation=1, ax=None, show=None):
    """The padded input as a row of cells (padding greyed), the output below, and the taps of
    the kernel for output positions `show` (default: the first two and the last)."""
    taps = windows(length, kernel_size, stride, padding, dilation)
    total = length + 2 * padding
    if ax is None:
        _, ax = plt.subplots(figsize=(max(6.0, 0.55 * total + 1.5), 3.2), layout="constrained")
    for p in range(total):
        pad = p < padding or p >= padding + length
        ax.add_patch(Rectangle((p, 2), 0.9, 0.9, facecolor="#eeeeee" if pad else "#cfe3ff", edgecolor="black",
                               gid=f"in {p}"))
        ax.text(p + 0.45, 2.45, "0" if pad else f"x{p - padding}", ha="center", va="center", fontsize=NOTE_FONT)
    for i in range(len(taps)):
        ax.add_patch(Rectangle((i, 0), 0.9, 0.9, facecolor="#d9f2d9", edgecolor="black", gid=f"out {i}"))
        ax.text(i + 0.45, 0.45, f"y{i}", ha="center", va="center", fontsize=NOTE_FONT)
    shown = show if show is not None else sorted({0, 1, len(taps) - 1} & set(range(len(taps))))
    colours = plt.get_cmap("tab10")
    for n, i in enumerate(shown):
        for j in taps[i]:
            ax.plot([i + 0.45, j + 0.45], [0.9, 2.0], color=colours(n % 10), lw=1.2, gid=f"tap {i}->{j}")
    ax.set_xlim(-0.5, max(total, len(taps)) + 0.5)
    ax.set_ylim(-0.4, 3.3)
    ax.set_yticks([0.45, 2.45], ["output", "input"], fontsize=VALUE_FONT)
    ax.set_xlabel("position along the sequence", fontsize=VALUE_FONT)
    ax.set_ylabel("row", fontsize=VALUE_FONT)
    ax.set_title(f"kernel_size={kernel_size}, stride={stride}, padding={padding}, dilation={dilation}: "
                 f"length {length} -> {len(taps)}", fontsize=TITLE_FONT)
    return ax


def shape_report(kind, length, kernel_size, stride, padding, dilation):
    """HTML: the layer as code and the output shape torch gives (or its error)."""
    extra = "" if kind == "AvgPool1d" else f", dilation={dilation}"
    first = "1, 1, " if kind == "Conv1d" else ""
    code = f"nn.{kind}({first}{kernel_size}, stride={stride}, padding={padding}{extra})"
    out, error = layer_output(kind, length, kernel_size, stride, padding, dilation)
    if error:
        return (f"<p><code>{html.escape(code)}</code> on <code>(1, 1, {length})</code>:</p>"
                f"<p style='color:#b00'><b>torch refuses:</b> {html.escape(error)}</p>")
    return (f"<p><code>{html.escape(code)}</code> on <code>(1, 1, {length})</code> gives "
            f"<b>(1, 1, {out})</b> (torch ran the layer on a meta tensor)</p>")


def shape_calculator(length=10, kernel_size=3, stride=1, padding=0, dilation=1):
    """Pick a layer and its settings: see the output length torch gives and, for Conv1d and
    MaxPool1d, which inputs each output reads."""
    style = {"description_width": "initial"}
    kind = widgets.Dropdown(options=LAYERS, value="Conv1d", description="layer:", style=style)
    sliders = {
        "length": widgets.IntSlider(value=length, min=1, max=20, description="input length:", style=style),
        "kernel_size": widgets.IntSlider(value=kernel_size, min=1, max=7, description="kernel_size:", style=style),
        "stride": widgets.IntSlider(value=stride, min=1, max=4, description="stride:", style=style),
        "padding": widgets.IntSlider(value=padding, min=0, max=3, description="padding:", style=style),
        "dilation": widgets.IntSlider(value=dilation, min=1, max=3, description="dilation:", style=style),
    }
    report = widgets.HTML()
    picture = widgets.Image(format="png")

    def update(_=None):
        values = {k: s.value for k, s in sliders.items()}
        report.value = shape_report(kind.value, **values)
        out, error = layer_output(kind.value, **values)
        if error or kind.value == "AvgPool1d" and values["dilation"] != 1:
            picture.value = b""
            picture.layout.display = "none"
            return
        ax = plot_sliding_kernel(**values)
        picture.value = figure_png(ax.figure)
        picture.layout.display = None

    kind.observe(update, names="value")
    for s in sliders.values():
        s.observe(update, names="value")
    update()
    return widgets.VBox([kind, *sliders.values(), report, picture])

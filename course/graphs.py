"""Pictures (and a widget) of what autograd does out of sight: the graph it records, the
tangent whose slope a derivative is, and curves of errors or sizes (matplotlib only).

Every figure has a title and labelled axes and needs no running kernel, so it reads the same in
JupyterLab, in the feedback HTML and on GitHub. Drawn elements carry a `gid` ("node 3",
"edge 3->5", "tangent") so tests can find them without a browser.
"""

import html

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.patches import FancyArrowPatch

from .plots import NOTE_FONT, TITLE_FONT, VALUE_FONT, plot_function_and_derivative

KIND_COLOURS = {"output": "#d9f2d9", "op": "#cfe3ff", "leaf": "#ffd6a5"}


# --------------------------------------------------------------------------- the autograd graph

def _shape(t):
    return "(" + ", ".join(str(s) for s in t.shape) + ("," if t.dim() == 1 else "") + ")"


def _tensor_name(t, names):
    for name, value in names.items():
        if value is t:
            return name
    for name, value in names.items():  # a saved tensor may be another object over the same data
        if (isinstance(value, torch.Tensor) and value.device == t.device and value.shape == t.shape
                and value.dtype == t.dtype and value.numel() > 0
                and value.untyped_storage().data_ptr() == t.untyped_storage().data_ptr()
                and value.storage_offset() == t.storage_offset()):
            return name
    return None


def _saved(node, names):
    """What `node` keeps for the backward pass, one short line per item."""
    lines = []
    for attr in sorted(a for a in dir(node) if a.startswith("_saved_")):
        what = attr[len("_saved_"):]
        try:
            value = getattr(node, attr)
        except RuntimeError:  # freed by a backward pass
            lines.append(f"{what}: (freed)")
            continue
        if isinstance(value, torch.Tensor):
            name = _tensor_name(value, names)
            if name:
                lines.append(f"{what}: {name} {_shape(value)}")
            elif value.numel() == 1 and not value.requires_grad and value.device.type != "meta":
                lines.append(f"{what}: the constant {value.item():g}")
            else:
                lines.append(f"{what}: a tensor {_shape(value)}")
        elif value is None:
            lines.append(f"{what}: not saved")
        elif what.endswith("sym_sizes") or what.endswith("_sizes"):
            lines.append(f"{what.replace('_sym_sizes', '')} size: {tuple(int(s) for s in value)}")
        elif isinstance(value, (int, float, bool)) or value is None:
            lines.append(f"{what}: {value}")
        else:
            text = repr(value)
            lines.append(f"{what}: {text if len(text) <= 20 else text[:17] + '...'}")
    return lines


def autograd_graph(output, names=None):
    """The graph autograd recorded for `output`, walked through `grad_fn.next_functions`.

    Returns (nodes, edges). `nodes` is a list of dicts with `id`, `kind` ("output", "op" or
    "leaf"), `label` (the node's class, or the leaf's name), `lines` (what it saves for the
    backward pass, or the leaf's shape) and `depth` (longest distance from the output); `edges`
    are (from id, to id) pairs, from a node to the nodes its gradient goes to. `names` maps
    names to tensors (leaves or saved tensors) so they are shown by name.
    """
    names = dict(names or {})
    nodes, edges, index = [], [], {}
    out_name = _tensor_name(output, names) or "output"
    nodes.append({"id": 0, "kind": "output", "label": f"{out_name} {_shape(output)}",
                  "lines": [f"grad_fn={type(output.grad_fn).__name__}" if output.grad_fn else "no grad_fn"],
                  "depth": 0})
    if output.grad_fn is None:
        return nodes, edges

    def visit(fn):
        key = id(fn)
        if key in index:
            return index[key]
        variable = getattr(fn, "variable", None)
        if isinstance(variable, torch.Tensor):
            name = _tensor_name(variable, names) or "leaf"
            node = {"kind": "leaf", "label": f"{name} {_shape(variable)}",
                    "lines": ["leaf (AccumulateGrad)", "gets .grad"]}
        else:
            node = {"kind": "op", "label": type(fn).__name__, "lines": _saved(fn, names)}
        node["id"], node["depth"] = len(nodes), 1
        nodes.append(node)
        index[key] = node["id"]
        for child, _ in fn.next_functions:
            if child is not None:
                edges.append((node["id"], visit(child)))
        return node["id"]

    edges.append((0, visit(output.grad_fn)))
    changed = True
    while changed:  # longest path from the output, so that every edge points down
        changed = False
        for a, b in edges:
            if nodes[b]["depth"] < nodes[a]["depth"] + 1:
                nodes[b]["depth"] = nodes[a]["depth"] + 1
                changed = True
    return nodes, edges


def plot_autograd_graph(output, names=None, title=None, ax=None):
    """Draw the graph of `output`: the output on top, the operations recorded (with what each
    saves for backward) below it, the leaves (which receive `.grad`) at the bottom. Arrows go the
    way `backward()` sends gradients. Returns the axes."""
    nodes, edges = autograd_graph(output, names)
    depth = max(n["depth"] for n in nodes)
    rows = {}
    for node in nodes:
        rows.setdefault(node["depth"], []).append(node)
    width = max(len(r) for r in rows.values())
    if ax is None:
        _, ax = plt.subplots(figsize=(max(6.0, 3.0 * width), 1.0 + 1.45 * (depth + 1)))
    where = {}
    for d, row in rows.items():
        for i, node in enumerate(row):
            where[node["id"]] = ((i + 0.5) * width / len(row), depth - d)
    boxes = {}
    for node in nodes:
        x, y = where[node["id"]]
        text = node["label"] + ("\n" + "\n".join(node["lines"]) if node["lines"] else "")
        label = ax.text(x, y, text, ha="center", va="center", fontsize=NOTE_FONT + 0.5, gid=f"node {node['id']}",
                        bbox={"boxstyle": "round,pad=0.4", "facecolor": KIND_COLOURS[node["kind"]],
                              "edgecolor": "black"}, zorder=3)
        boxes[node["id"]] = label.get_bbox_patch()
    for a, b in edges:
        # drawn after the boxes (zorder), so that each arrow is clipped at the edges of the boxes as drawn
        skips = nodes[b]["depth"] - nodes[a]["depth"] > 1   # around the rows in between
        ax.add_patch(FancyArrowPatch(where[a], where[b], arrowstyle="-|>", mutation_scale=12, color="#555555",
                                     lw=1.2, patchA=boxes[a], patchB=boxes[b], shrinkA=2, shrinkB=2, zorder=4,
                                     connectionstyle="arc3,rad=0.35" if skips else "arc3", gid=f"edge {a}->{b}"))
    ax.set_xlim(0, width)
    ax.set_ylim(-0.75, depth + 0.75)
    ax.set_xticks([])
    ax.set_yticks(range(depth + 1))
    ax.set_yticklabels([str(depth - k) for k in range(depth + 1)], fontsize=NOTE_FONT)
    ax.set_ylabel("steps from the output", fontsize=VALUE_FONT)
    ax.set_xlabel("green: the output · blue: operations recorded (and what they save)\n"
                  "orange: leaves, whose .grad backward() fills", fontsize=NOTE_FONT)
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    ax.set_title(title or "The graph autograd recorded (arrows: the way backward() goes)", fontsize=TITLE_FONT)
    return ax


# --------------------------------------------------------------------------- tangents and curves

def value_and_slope(f, x0, grid, derivative):
    """(f(x0), the derivative at x0) as floats: f evaluated at x0 (on the grid's device and
    dtype), the derivative read off its values on the grid (`derivative`, a tensor shaped like
    `grid`), linearly interpolated between the two grid points around x0."""
    grid = grid.detach()
    with torch.no_grad():
        y0 = float(f(torch.tensor(float(x0), dtype=grid.dtype, device=grid.device)))
    slope = float(np.interp(float(x0), grid.cpu().double().numpy(),
                            torch.as_tensor(derivative).detach().cpu().double().numpy()))
    return y0, slope


def plot_tangent(f, x, x0, derivative=None, ax=None, label="f", source=None):
    """f and its derivative on the grid `x` (`derivative`: its values there, computed by the
    caller; without it, differences on the grid), and the tangent at `x0`, whose slope is the
    derivative there. Returns the axes."""
    ax = plot_function_and_derivative(f, x, derivative, ax=ax, label=label, source=source)
    (dashed,) = [line for line in ax.lines if line.get_gid() == "derivative"]
    grid = x.detach().cpu()
    y0, slope = value_and_slope(f, x0, x.detach(), torch.as_tensor(dashed.get_ydata()))
    ax.plot(grid, y0 + slope * (grid - x0), ":", color="#d62728", lw=1.5,
            label=f"tangent at x = {x0:g} (slope {slope:.3g})", gid="tangent")
    ax.plot([x0], [y0], "o", color="#d62728", gid="point")
    ax.plot([x0], [slope], "s", color="#d62728", markerfacecolor="none", gid="slope")
    with torch.no_grad():
        values = f(x.detach())
    low, high = float(values.min()), float(values.max())
    margin = 0.25 * (high - low + 1.0)
    ax.set_ylim(min(low, -1.0) - margin, max(high, 1.0) + margin)
    source = dashed.get_label().split("(", 1)[1].rstrip(")")
    ax.set_title(f"{label}, its derivative ({source}) and the tangent at x = {x0:g}", fontsize=TITLE_FONT)
    ax.legend(fontsize=NOTE_FONT, loc="lower left")
    return ax


def tangent_explorer(f=torch.sin, x=None, derivative=None, lo=-3.0, hi=3.0, x0=1.0, label="sin", source=None):
    """A slider for the point x0: see the tangent of f there, and f'(x0) read off the
    derivative's values on the grid `x` (`derivative`, computed by the caller; without them,
    a grid of 201 points from lo to hi and differences on it). The slider moves from grid point
    to grid point, so the slope shown is the derivative's value there."""
    import ipywidgets as widgets

    from .widgets import figure_png

    grid = torch.linspace(lo, hi, 201, dtype=torch.float64) if x is None else x.detach()
    points = grid.cpu().double()
    lo, hi = float(points[0]), float(points[-1])
    step = (hi - lo) / max(len(points) - 1, 1)
    slider = widgets.FloatSlider(value=x0, min=lo, max=hi, step=step * max(1, (len(points) - 1) // 60),
                                 description="x0:", continuous_update=False)
    readout = widgets.HTML()
    picture = widgets.Image(format="png")

    def update(_=None):
        fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
        plot_tangent(f, grid, slider.value, derivative, ax=ax, label=label, source=source)
        (dashed,) = [line for line in ax.lines if line.get_gid() == "derivative"]
        y0, slope = value_and_slope(f, slider.value, grid, torch.as_tensor(dashed.get_ydata()))
        how = dashed.get_label().split("(", 1)[1].rstrip(")")
        readout.value = (f"<b>{html.escape(label)}({slider.value:.3g}) = {y0:.4g}</b>, "
                         f"<b>d{html.escape(label)}/dx = {slope:.4g}</b> ({html.escape(how)}): "
                         "the slope of the tangent")
        picture.value = figure_png(fig)

    slider.observe(update, names="value")
    update()
    return widgets.VBox([slider, readout, picture])


def plot_lines(x, series, title, xlabel, ylabel, log=False, ax=None):
    """One line per entry of `series` ({label: values}) against `x`; log-log when `log`."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.6), layout="constrained")
    for name, values in series.items():
        ax.plot(x, values, marker="o", markersize=3, label=name)
    if log:
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_title(title, fontsize=TITLE_FONT)
    ax.set_xlabel(xlabel, fontsize=VALUE_FONT)
    ax.set_ylabel(ylabel, fontsize=VALUE_FONT)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=NOTE_FONT + 0.5)
    return ax

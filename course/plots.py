"""Pictures that show what you normally cannot see (matplotlib only).

Every figure has a title and readable fonts and needs no running kernel, so it reads the same in
JupyterLab, in the feedback HTML and on GitHub. The widgets in `course.widgets` draw with these
same functions. Drawn elements carry a `gid` (e.g. "storage 3", "read 0->4", "a 1,2") so tests can
find them without a browser.
"""

import textwrap
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from matplotlib import font_manager
from matplotlib.patches import FancyArrowPatch, Rectangle

VALUE_FONT = 10  # numbers in cells
NOTE_FONT = 8.5  # offsets, legends
TITLE_FONT = 11

READ = "#cfe3ff"       # storage a tensor reads
UNUSED = "#eeeeee"     # storage it does not read
COPY = "#ffd6a5"       # new memory made by a copy
LOGICAL = "#fff3c4"    # the tensor as you index it
ARROW = "#7b3fa0"      # the order in which it reads storage
OFFSET = "#d62728"     # where it starts (the storage offset)
OPERAND = ("#cfe3ff", "#ffd6a5")
RESULT = "#d9f2d9"


# --------------------------------------------------------------------------- Korean in figures

# Fonts with Hangul, best first: Debian's fonts-noto-cjk and fonts-nanum, then macOS and Windows.
HANGUL_FONTS = ("Noto Sans CJK KR", "NanumGothic", "Noto Sans KR", "Apple SD Gothic Neo",
                "AppleGothic", "Malgun Gothic")
# How their files are named, for a matplotlib font cache written before the font was installed.
_HANGUL_FILES = ("notosanscjk", "nanumgothic", "notosanskr", "applesdgothicneo", "applegothic",
                 "malgun")


def korean_font():
    """The name of an installed font that has Hangul, or None.

    Looks in matplotlib's font list, then (that list is cached, and may predate the font) in the
    system's font folders for files named like one of HANGUL_FONTS, which it adds to the list.
    """
    def known():
        names = {font.name for font in font_manager.fontManager.ttflist}
        return next((name for name in HANGUL_FONTS if name in names), None)

    if known() is None:
        for path in font_manager.findSystemFonts():
            if any(Path(path).name.lower().startswith(stem) for stem in _HANGUL_FILES):
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):
                    continue
    return known()


def use_korean_font():
    """Let figures print Korean: a font with Hangul becomes the fallback of matplotlib's font
    (Latin text keeps the default font; a glyph it lacks is taken from the Hangul font).

    Call it before drawing a figure whose text has Korean. Returns the font's name, or None
    (after printing how to install one) where the machine has no font with Hangul.
    """
    name = korean_font()
    if name is None:
        print("note: no font with Hangul on this machine, Korean in figures shows as boxes "
              "(Debian/Ubuntu: apt-get install fonts-noto-cjk; see the README)")
        return None
    family = list(plt.rcParams["font.family"])
    if name not in family:
        plt.rcParams["font.family"] = family + [name]
    return name


def _fmt(value):
    return f"{value:g}" if isinstance(value, float) else str(value)


def _storage_values(t):
    """Every element of t's storage, in memory order, as Python numbers."""
    storage = t.untyped_storage()
    n = storage.nbytes() // t.element_size()
    flat = torch.empty(0, dtype=t.dtype, device=t.device).set_(storage, 0, (n,), (1,))
    return flat.cpu().tolist()


def _shares(t, base):
    return t.untyped_storage().data_ptr() == base.untyped_storage().data_ptr()


def _storage_row(ax, values, y, order, colour, gid, label):
    """One row of storage cells; `order` maps the offsets read to the position they are read in."""
    for k, v in enumerate(values):
        ax.add_patch(Rectangle((k, y), 1, 1, facecolor=colour if k in order else UNUSED,
                               edgecolor="black", gid=f"{gid} {k}"))
        ax.text(k + 0.5, y + 0.62 if k in order else y + 0.5, _fmt(v), ha="center", va="center",
                fontsize=VALUE_FONT, gid=f"{gid} value {k}")
        if k in order:
            ax.text(k + 0.5, y + 0.2, order[k], ha="center", va="center", fontsize=NOTE_FONT - 0.5,
                    color=ARROW, gid=f"{gid} order {k}")
        ax.text(k + 0.5, y + 1.25, str(k), ha="center", va="center", fontsize=NOTE_FONT,
                color="grey", gid=f"{gid} index {k}")
    ax.text(-0.3, y + 0.5, label, ha="right", va="center", fontsize=NOTE_FONT + 0.5)


def plot_memory(t, title=None, ax=None, base=None):
    """Draw a 2-D tensor's storage, the order in which it reads it, and the tensor itself.

    Top: the storage (one row of cells in memory order, each with its value and, above it in
    grey, its offset). Cells the tensor reads are blue, numbered in purple (#n) in the order the
    tensor reads them (row by row through the tensor); a red box marks the first one (the storage
    offset). Purple arrows join each cell read to the next: a contiguous tensor steps one cell
    to the right each time, a transpose jumps.
    Bottom: the tensor as you index it, each cell with its value and `@k`, the storage offset it
    reads. With `base`, a tensor that does not share `base`'s memory is drawn as a copy: `base`'s
    storage on top in grey, the copy's new storage below it in orange.
    """
    if t.dim() != 2:
        raise ValueError(f"plot_memory draws 2-D tensors; this one has shape {tuple(t.shape)}")
    values = _storage_values(t)
    rows, cols = t.shape
    s0, s1 = t.stride()
    offset = t.storage_offset()
    reads = [offset + i * s0 + j * s1 for i in range(rows) for j in range(cols)]
    copy = base is not None and not _shares(t, base)

    y_store = rows + 2.4
    top = y_store + 1.6 + (2.2 if copy else 0)
    width = max(len(values), cols, len(_storage_values(base)) if copy else 0)
    if ax is None:
        _, ax = plt.subplots(figsize=(max(6.0, 0.55 * width + 2.5), 0.5 * (top + 1.5) + 0.6),
                             layout="constrained")
    ax.set_axis_off()
    ax.set_aspect("equal")

    if copy:
        _storage_row(ax, _storage_values(base), y_store + 2.2, {}, UNUSED, "base",
                     "original's\nstorage")
    order = {}
    for n, k in enumerate(reads):
        order[k] = order.get(k, []) + [str(n)]  # a stride of 0 (expand) reads a cell again
    order = {k: "#" + ",".join(ns) for k, ns in order.items()}
    _storage_row(ax, values, y_store, order, COPY if copy else READ, "storage",
                 "new storage\n(a copy)" if copy else "storage")
    ax.add_patch(Rectangle((offset, y_store), 1, 1, fill=False, edgecolor=OFFSET, lw=2.5,
                           gid="offset"))

    for prev, nxt in zip(reads, reads[1:]):
        if prev == nxt:  # a stride of 0 (expand) reads the same cell again
            continue
        dx = nxt - prev
        depth = min(0.3 + 0.12 * abs(dx), 1.7)
        rad = (1 if dx > 0 else -1) * 2 * depth / abs(dx)
        ax.add_patch(FancyArrowPatch((prev + 0.5, y_store), (nxt + 0.5, y_store),
                                     connectionstyle=f"arc3,rad={rad:.3f}", arrowstyle="-|>",
                                     mutation_scale=9, color=ARROW, lw=1, shrinkA=1, shrinkB=1,
                                     gid=f"read {prev}->{nxt}"))

    for i in range(rows):
        for j in range(cols):
            k = offset + i * s0 + j * s1
            y = rows - 1 - i
            ax.add_patch(Rectangle((j, y), 1, 1, facecolor=LOGICAL, edgecolor="black",
                                   gid=f"cell {i},{j}"))
            ax.text(j + 0.5, y + 0.62, _fmt(t[i, j].item()), ha="center", va="center",
                    fontsize=VALUE_FONT, gid=f"value {i},{j}")
            ax.text(j + 0.5, y + 0.22, f"@{k}", ha="center", va="center", fontsize=NOTE_FONT,
                    color="grey", gid=f"at {i},{j}")
    ax.text(-0.3, rows / 2, "the tensor\n(as indexed)", ha="right", va="center",
            fontsize=NOTE_FONT + 0.5)
    ax.text(-2.6, -0.9, "purple #n and arrows: the order it reads storage (row by row through "
            f"the tensor)\nred box: its first element, at storage offset {offset};   @k: the "
            "storage cell an entry reads", ha="left", va="center", fontsize=NOTE_FONT,
            color="dimgrey", gid="legend")

    ax.set_xlim(-2.6, max(width + 0.3, 11))  # room for the legend under a small tensor
    ax.set_ylim(-1.5, top + 0.2)
    label = title or "tensor"
    ax.set_title(f"{label}: shape {tuple(t.shape)}, stride {t.stride()}, offset {offset}, "
                 f"contiguous={t.is_contiguous()}" + ("  (new memory)" if copy else ""),
                 fontsize=TITLE_FONT, loc="left")
    return ax


# --------------------------------------------------------------------------- broadcasting

def _as_2d(shape):
    shape = tuple(shape)
    if len(shape) > 2:
        raise ValueError(f"plot_broadcast draws shapes with at most 2 dimensions, not {shape}")
    return (1,) * (2 - len(shape)) + shape


def _grid(ax, values, real, colour, gid):
    rows, cols = len(values), len(values[0])
    for i in range(rows):
        for j in range(cols):
            y = rows - 1 - i
            is_real = real(i, j)
            ax.add_patch(Rectangle((j, y), 1, 1, facecolor=colour if is_real else "white",
                                   edgecolor="black" if is_real else "grey",
                                   hatch=None if is_real else "///", lw=1 if is_real else 0.8,
                                   linestyle="-" if is_real else "--",
                                   gid=f"{gid} {i},{j}" + ("" if is_real else " stretched")))
            ax.text(j + 0.5, y + 0.5, _fmt(values[i][j]), ha="center", va="center",
                    fontsize=VALUE_FONT, color="black" if is_real else "dimgrey",
                    style="normal" if is_real else "italic", gid=f"{gid} value {i},{j}",
                    bbox=None if is_real else dict(facecolor="white", edgecolor="none", pad=0.5))
    ax.set_xlim(-0.1, cols + 0.1)
    ax.set_ylim(-0.1, rows + 0.1)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_xlabel("dim -1 (columns)", fontsize=NOTE_FONT + 0.5)
    ax.set_ylabel("dim -2 (rows)", fontsize=NOTE_FONT + 0.5)


def _operand_title(name, shape, padded, result):
    text = f"{name}: {tuple(shape)}"
    if tuple(shape) != padded:
        text += f", read as {padded}"
    if padded != result:
        text += f"\nstretched to {result}"
    return text


OPS = {"+": torch.add, "-": torch.sub, "*": torch.mul, "/": torch.div}


def plot_broadcast(a, b, op="+", names=("a", "b"), title=None):
    """Draw `a op b` for tensors of at most 2 dims: each operand stretched to the result's shape,
    then the result. Real cells are coloured; cells that broadcasting stretches (the same value
    read again, no memory copied) are hatched, with the value in grey italics. When the shapes do
    not broadcast, the third panel says which dimensions clash. Returns the figure.
    """
    pa, pb = _as_2d(a.shape), _as_2d(b.shape)
    try:
        result = tuple(torch.broadcast_shapes(pa, pb))
    except RuntimeError:
        result = None
    cells = result or (max(pa[0], pb[0]), max(pa[1], pb[1]))
    if max(cells) > 10:
        raise ValueError(f"plot_broadcast draws sizes up to 10, not {cells}")
    widths = [pa[1] if result is None else result[1], pb[1] if result is None else result[1],
              max(result[1] if result else 3, 3)]
    fig, axes = plt.subplots(1, 3, figsize=(0.55 * sum(widths) + 3.2, 0.5 * max(cells[0], 2) + 1.9),
                             gridspec_kw={"width_ratios": widths}, layout="constrained")
    for ax, t, name, padded, colour in zip(axes, (a, b), names, (pa, pb), OPERAND):
        shown = t.reshape(padded) if result is None else t.reshape(padded).expand(result)
        real = (lambda i, j, p=padded, r=result:
                (r is None or p[0] == r[0] or i == 0) and (r is None or p[1] == r[1] or j == 0))
        _grid(ax, shown.tolist(), real, colour, gid=name)
        ax.set_title(_operand_title(name, t.shape, padded, result or padded), fontsize=TITLE_FONT - 1)
    if result is None:
        from .shapes import broadcast_steps
        _, steps = broadcast_steps(tuple(a.shape), tuple(b.shape))
        clash = [why for *_, r, why in steps if r is None]
        axes[2].set_axis_off()
        axes[2].text(0, 0.5, "cannot broadcast:\n" + "\n".join(clash), color="#b00000",
                     fontsize=VALUE_FONT, va="center", ha="left", wrap=True, gid="error")
        axes[2].set_title(f"{names[0]} {op} {names[1]}: error", fontsize=TITLE_FONT - 1, color="#b00000")
    else:
        out = OPS[op](a.reshape(pa), b.reshape(pb))
        _grid(axes[2], out.tolist(), lambda i, j: True, RESULT, gid="result")
        axes[2].set_title(f"{names[0]} {op} {names[1]}: {tuple(torch.broadcast_shapes(a.shape, b.shape))}",
                          fontsize=TITLE_FONT - 1)
    default = (f"{names[0]} {tuple(a.shape)} {op} {names[1]} {tuple(b.shape)}: "
               + ("hatched cells are stretched (read again, not copied)" if result is not None
                  else "these shapes do not broadcast"))
    fig.suptitle(title or default, fontsize=TITLE_FONT)
    return fig


# --------------------------------------------------------------------------- timings and functions

def plot_timings(sizes, seconds, title="Loop vs vectorised", xlabel="n"):
    """Log-log plot of seconds per call against size, one line per method ({label: [seconds]})."""
    fig, ax = plt.subplots(figsize=(5.5, 3.5), layout="constrained")
    for label, times in seconds.items():
        ax.loglog(sizes, times, marker="o", label=label)
    ax.set_xlabel(xlabel, fontsize=VALUE_FONT)
    ax.set_ylabel("seconds per call (best of 3)", fontsize=VALUE_FONT)
    ax.set_title(title, fontsize=TITLE_FONT)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=NOTE_FONT + 0.5)
    return fig


def plot_function_and_derivative(f, x, derivative=None, ax=None, label="f", source=None):
    """Plot f(x) and its derivative on a 1-D grid `x` (any device; drawn from the CPU).

    `derivative`: the derivative's values on the grid, computed by the caller (by autograd, in
    the notebook), named `source` in the legend. Without it, the plot estimates them from f's
    values on the grid alone (`torch.gradient`: differences between neighbouring grid points),
    which is what the legend then says. f is only evaluated here, never differentiated."""
    grid = x.detach()
    with torch.no_grad():
        y = f(grid).detach().cpu()
    grid = grid.cpu()
    if derivative is None:
        (dy,) = torch.gradient(y, spacing=(grid,))
        source = source or "differences on the grid"
    else:
        dy = torch.as_tensor(derivative).detach().cpu()
        source = source or "given"
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(grid, y, label=label, gid="function")
    ax.plot(grid, dy, "--", label=f"d{label}/dx ({source})", gid="derivative")
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_title(f"{label} and its derivative ({source})", fontsize=TITLE_FONT)
    ax.set_xlabel("x", fontsize=VALUE_FONT)
    ax.set_ylabel("value", fontsize=VALUE_FONT)
    ax.legend()
    return ax


# --------------------------------------------------------------------------- linear layers and fits

def plot_linear_layer(W, b, title=None, ax=None):
    """Draw the layer y = x W + b for W of shape (in, out): one node per input on the left, one
    per output on the right, an edge for every weight W[i, j] (colour: its sign, width: its size,
    with its value written on it) and each output's bias beside it. The title counts the
    parameters: in * out weights plus out biases."""
    W, b = W.detach().cpu(), b.detach().cpu()
    n_in, n_out = W.shape
    if n_in > 8 or n_out > 8:
        raise ValueError(f"plot_linear_layer draws up to 8 inputs and outputs, not {tuple(W.shape)}")
    if tuple(b.shape) != (n_out,):
        raise ValueError(f"b must have shape ({n_out},) for W of shape {tuple(W.shape)}, not {tuple(b.shape)}")
    if ax is None:
        _, ax = plt.subplots(figsize=(6.5, 0.75 * max(n_in, n_out) + 1.6), layout="constrained")
    y_in = [(n_in - 1) / 2 - i for i in range(n_in)]
    y_out = [(n_out - 1) / 2 - j for j in range(n_out)]
    biggest = float(W.abs().max()) or 1.0
    for i in range(n_in):
        for j in range(n_out):
            w = float(W[i, j])
            colour = "#c0392b" if w < 0 else "#2162a8"
            ax.plot([0, 3], [y_in[i], y_out[j]], color=colour, lw=0.6 + 3.4 * abs(w) / biggest,
                    alpha=0.75, gid=f"edge {i}->{j}", zorder=1)
            f = 0.2 + 0.5 * j / max(n_out - 1, 1)  # each output's labels at their own distance
            tx, ty = 3 * f, y_in[i] + f * (y_out[j] - y_in[i])
            ax.text(tx, ty, f"{w:.2g}", fontsize=NOTE_FONT, color=colour, ha="center", va="center",
                    bbox=dict(facecolor="white", edgecolor="none", pad=0.3), gid=f"weight {i},{j}", zorder=3)
    for i in range(n_in):
        ax.add_patch(plt.Circle((0, y_in[i]), 0.22, facecolor=OPERAND[0], edgecolor="black",
                                gid=f"input {i}", zorder=2))
        ax.text(0, y_in[i], f"x{i}", ha="center", va="center", fontsize=VALUE_FONT, zorder=4)
    for j in range(n_out):
        ax.add_patch(plt.Circle((3, y_out[j]), 0.22, facecolor=RESULT, edgecolor="black",
                                gid=f"output {j}", zorder=2))
        ax.text(3, y_out[j], f"y{j}", ha="center", va="center", fontsize=VALUE_FONT, zorder=4)
        ax.text(3.35, y_out[j], f"+ b{j} = {float(b[j]):.2g}", ha="left", va="center",
                fontsize=NOTE_FONT + 0.5, gid=f"bias {j}")
    ax.set_xlim(-0.6, 4.6)
    ax.set_ylim(-max(n_in, n_out) / 2 - 0.1, max(n_in, n_out) / 2 + 0.1)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_xlabel(f"inputs x ({n_in})  →  weights W[i, j] (blue > 0, red < 0)  →  outputs y ({n_out})",
                  fontsize=NOTE_FONT + 0.5)
    count = (f"{n_in} × {n_out} = {n_in * n_out} weights + {n_out} biases = "
             f"{n_in * n_out + n_out} parameters")
    ax.set_ylabel("one circle per input or output", fontsize=NOTE_FONT)
    ax.set_title(title or f"y = x W + b: {count}", fontsize=TITLE_FONT)
    return ax


def mse(x, y, w, b):
    """Mean squared error of the line w * x + b on the points (x, y), as a float."""
    return float(((w * x + b - y) ** 2).mean())


def plot_line_fit(x, y, w, b, ax=None, title=None):
    """The points (x, y), the line w * x + b, and each point's error (a dashed segment from the
    point to the line); the title gives the mean squared error."""
    x, y = torch.as_tensor(x).detach().cpu().double(), torch.as_tensor(y).detach().cpu().double()
    if ax is None:
        _, ax = plt.subplots(figsize=(5.0, 3.6), layout="constrained")
    for i, (xi, yi) in enumerate(zip(x.tolist(), y.tolist())):
        ax.plot([xi, xi], [yi, w * xi + b], ls="--", lw=0.8, color="#d62728", alpha=0.6, gid=f"residual {i}")
    ax.scatter(x, y, s=18, color="#2162a8", zorder=3, label="data", gid="points")
    grid = torch.linspace(float(x.min()), float(x.max()), 50, dtype=torch.float64)
    ax.plot(grid, w * grid + b, color="black", lw=2, label=f"y = {w:.2f} x {b:+.2f}", gid="line")
    ax.set_xlabel("x", fontsize=VALUE_FONT)
    ax.set_ylabel("y", fontsize=VALUE_FONT)
    ax.legend(fontsize=NOTE_FONT + 0.5, loc="best")
    ax.set_title(title or f"w = {w:.2f}, b = {b:.2f}: mean squared error {mse(x, y, w, b):.3f}",
                 fontsize=TITLE_FONT)
    return ax


def plot_loss_surface(x, y, w_range=(-5, 5), b_range=(-5, 5), ax=None, mark=None, path=None, title=None):
    """The mean squared error of the line w * x + b on (x, y), for every (w, b) in the ranges,
    as filled contours (log scale). A star marks the best line (least squares); `mark` (w, b) a
    point of your choice; `path` a list of (w, b) that training visited, joined in order."""
    x, y = torch.as_tensor(x).detach().cpu().double(), torch.as_tensor(y).detach().cpu().double()
    ws = torch.linspace(*w_range, 121, dtype=torch.float64)
    bs = torch.linspace(*b_range, 121, dtype=torch.float64)
    loss = ((ws[None, :, None] * x + bs[:, None, None] - y) ** 2).mean(-1)   # (b, w)
    if ax is None:
        _, ax = plt.subplots(figsize=(5.0, 3.8), layout="constrained")
    filled = ax.contourf(ws, bs, loss.log10(), levels=20, cmap="viridis")
    plt.colorbar(filled, ax=ax, label="log10(mean squared error)")
    design = torch.stack([x, torch.ones_like(x)], 1)
    best_w, best_b = torch.linalg.lstsq(design, y[:, None]).solution.flatten().tolist()
    ax.plot(best_w, best_b, marker="*", ms=14, color="white", mec="black", ls="none",
            label=f"best: w = {best_w:.2f}, b = {best_b:.2f}", gid="best")
    if path is not None and len(path):
        pw, pb = zip(*path)
        ax.plot(pw, pb, color="#ff7f0e", marker=".", ms=4, lw=1.2, label="training steps", gid="path")
    if mark is not None:
        ax.plot(*mark, marker="o", ms=9, color="#d62728", mec="white", ls="none",
                label=f"w = {mark[0]:.2f}, b = {mark[1]:.2f}", gid="mark")
    ax.set_xlim(*w_range)
    ax.set_ylim(*b_range)
    ax.set_xlabel("w (slope)", fontsize=VALUE_FONT)
    ax.set_ylabel("b (intercept)", fontsize=VALUE_FONT)
    ax.legend(fontsize=NOTE_FONT, loc="upper right")
    ax.set_title(title or "Mean squared error of the line w x + b", fontsize=TITLE_FONT)
    return ax


def plot_losses(curves, ax=None, title="Loss during training", xlabel="step", ylabel="mean squared error",
                log=True):
    """One line per entry of `curves` ({label: [loss at each step]}), on a log scale by default;
    lines after the first are dashed or dotted, so that curves that coincide all stay visible."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5.0, 3.4), layout="constrained")
    for k, (label, values) in enumerate(curves.items()):  # dashed after the first: equal curves both show
        ax.plot(range(len(values)), [float(v) for v in values], label=label, gid=f"curve {label}",
                ls=("-", "--", ":", "-.")[k % 4], lw=2.5 if k == 0 else 1.5)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel, fontsize=VALUE_FONT)
    ax.set_ylabel(ylabel, fontsize=VALUE_FONT)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=NOTE_FONT + 0.5)
    ax.set_title(title, fontsize=TITLE_FONT)
    return ax


# --------------------------------------------------------------------------- module trees

CONTAINER = "#dbe8f7"   # a module with children
LEAF = "#dff2df"        # a module without children
SHARED = "#eeeeee"      # a second name for a module already drawn
FROZEN = "#8a8a8a"      # text of parameters with requires_grad=False
HIGHLIGHT = "#d62728"   # the module a widget picked
EVAL = "#b35900"        # a module in eval mode


def _tree_rows(model):
    """One row per name in the tree, in named_modules() order; a module met again under a second
    name gets a row that points to its first one (its subtree is not repeated)."""
    rows, first = [], {}

    def walk(module, name, label, depth):
        if id(module) in first:
            rows.append({"name": name, "label": label, "depth": depth, "module": module,
                         "same_as": first[id(module)]})
            return
        first[id(module)] = name
        rows.append({"name": name, "label": label, "depth": depth, "module": module, "same_as": None})
        for child_name, child in module._modules.items():
            if child is not None:
                walk(child, f"{name}.{child_name}" if name else child_name, child_name, depth + 1)

    walk(model, "", type(model).__name__, 0)
    return rows


def _unique(params):
    return list({id(p): p for p in params}.values())


def _own_text(module, prefix, owners):
    """`weight (4, 3), bias (4,)` for the parameters a module holds itself; a tied one names its
    first owner and a frozen one says so."""
    parts = []
    for pname, p in module._parameters.items():
        if p is None:
            continue
        shape = "(" + ", ".join(str(s) for s in p.shape) + ("," if p.dim() == 1 else "") + ")"
        qualified = f"{prefix}{pname}"
        note = ""
        if owners.get(id(p), qualified) != qualified:
            note = f" = {owners[id(p)]}"
        elif not p.requires_grad:
            note = " frozen"
        parts.append(f"{pname} {shape}{note}")
    buffers = [b for b in module._buffers.values() if b is not None]
    if buffers:
        parts.append(f"+ {len(buffers)} buffer{'s' if len(buffers) > 1 else ''} (not parameters)")
    return ", ".join(parts)


def plot_module_tree(model, title=None, highlight=None, ax=None, count=None):
    """Draw a model's module tree: one row per module, indented under its parent, with the
    parameters it holds itself and its mode (train or eval).

    `count`, a function `count(module, trainable_only=False) -> int` (such as your own
    `count_parameters` from 04), adds a column with the number of parameter entries in each
    module's subtree as that function counts them (frozen ones shown apart) and the totals in the
    title; without it the picture counts nothing.

    Containers (modules with children) are blue, leaves green; a module that appears under a
    second name is a grey row pointing to the first (it is not counted again). `highlight`
    (a qualified name) outlines one module and tints its subtree. Returns the axes.
    """
    rows = _tree_rows(model)
    owners = {}
    for row in rows:
        if row["same_as"] is None:
            prefix = f"{row['name']}." if row["name"] else ""
            for pname, p in row["module"]._parameters.items():
                if p is not None:
                    owners.setdefault(id(p), f"{prefix}{pname}")
    texts = []
    for row in rows:
        module, name = row["module"], row["name"]
        label = f"{row['label']}: {type(module).__name__}" if name else row["label"] + " (root)"
        if row["same_as"] is not None:
            own, mode = f"the same module as '{row['same_as']}'" + (" (not counted again)" if count is not None else ""), ""
        else:
            own = _own_text(module, f"{name}." if name else "", owners)
            cell = ""
            if count is not None:
                total = count(module)
                frozen = total - count(module, trainable_only=True)
                cell = f"{total:,}" + (f" ({frozen:,} frozen)" if frozen else "")
            mode = "train" if module.training else "eval"
        texts.append((label, own, cell if row["same_as"] is None else "", mode))

    headers = ("module", "its own parameters", "entries in subtree" if count is not None else "", "mode")
    tree_w = max([3 * r["depth"] + len(t[0]) for r, t in zip(rows, texts)] + [len(headers[0])]) + 3
    own_w = max([len(t[1]) for t in texts] + [len(headers[1])]) + 3
    count_w = max([len(t[2]) for t in texts] + [len(headers[2])]) + 3
    mode_w = 6
    width = max(tree_w + own_w + count_w + mode_w, 70)
    n = len(rows)
    if ax is None:  # one unit of x is about one character
        _, ax = plt.subplots(figsize=(0.085 * width + 0.4, 0.3 * (n + 2) + 0.6), layout="constrained")
    ax.set_xlim(0, width)
    ax.set_ylim(-1.6, n + 0.4)
    ax.set_axis_off()
    columns = [(0.3, headers[0]), (tree_w, headers[1]), (tree_w + own_w, headers[2]),
               (tree_w + own_w + count_w, headers[3])]
    for x, header in columns:
        if not header:
            continue
        ax.text(x, n - 0.1, header, fontsize=NOTE_FONT + 0.5, fontweight="bold", va="center",
                gid=f"header {header.split()[0]}")

    chosen = None
    if highlight is not None:
        chosen = next((r for r in rows if r["name"] == highlight and r["same_as"] is None), None)
        if chosen is None:
            raise ValueError(f"the model has no module named {highlight!r}")
    inside = (lambda nm: chosen is not None and (chosen["name"] == "" or nm == chosen["name"]
                                                 or nm.startswith(chosen["name"] + ".")))
    parents = {}
    for i, (row, (label, own, cell, mode)) in enumerate(zip(rows, texts)):
        y = n - 1 - i
        x = 0.3 + 3 * row["depth"]
        has_children = any(True for _ in row["module"].children())
        face = SHARED if row["same_as"] is not None else CONTAINER if has_children else LEAF
        edge = HIGHLIGHT if chosen is not None and row is chosen else "none"
        ax.add_patch(Rectangle((x - 0.25, y - 0.38), len(label) + 0.5, 0.76, facecolor=face,
                               edgecolor=edge, lw=2, gid=f"box {row['name']}"))
        ax.text(x, y, label, fontsize=VALUE_FONT - 1, va="center",
                fontweight="bold" if inside(row["name"]) and chosen is not None else "normal",
                style="italic" if row["same_as"] is not None else "normal", gid=f"module {row['name']}")
        ax.text(tree_w, y, own, fontsize=NOTE_FONT, va="center",
                color=FROZEN if "frozen" in own or row["same_as"] is not None else "black",
                gid=f"own {row['name']}")
        ax.text(tree_w + own_w, y, cell, fontsize=NOTE_FONT + 0.5, va="center", gid=f"count {row['name']}")
        ax.text(tree_w + own_w + count_w, y, mode, fontsize=NOTE_FONT + 0.5, va="center",
                color=EVAL if mode == "eval" else "black", gid=f"mode {row['name']}")
        parents[row["depth"]] = (x, y)
        if row["depth"] > 0:
            px, py = parents[row["depth"] - 1]
            ax.plot([px + 0.4, px + 0.4, x - 0.3], [py - 0.4, y, y], color="grey", lw=0.8,
                    gid=f"edge {row['name']}")
    ax.text(0.3, -1.0, "blue: has children (a container);  green: no children (a leaf);\ngrey: a "
            "second name for a module drawn above (its subtree is not repeated)",
            fontsize=NOTE_FONT, color="dimgrey", va="center", gid="legend")
    summary = f"{type(model).__name__}: {len(_unique(model.modules()))} modules"
    if count is not None:
        total = count(model)
        summary += f", {total:,} parameter entries ({count(model, trainable_only=True):,} trainable)"
    ax.set_title(title or summary, fontsize=TITLE_FONT, loc="left")
    return ax


# --------------------------------------------------------------------------- yes/no tables (05)

YES, NO = "#c8ecc8", "#f6d0d0"


def plot_yes_no_table(table, row_labels=None, title="", xlabel="", ylabel=""):
    """Draw {row: {column: bool}} as a grid of ✓ (green) and ✗ (red) cells, with the columns'
    names on top and the rows' names (or `row_labels[row]`) on the left. Each cell has a gid
    "cell ROW|COLUMN yes/no". Returns the figure."""
    rows = list(table)
    columns = list(next(iter(table.values()))) if rows else []
    labels = [row_labels.get(r, r) if row_labels else r for r in rows]
    headers = [textwrap.fill(str(c), 16) for c in columns]
    width = max([len(line) for h in headers for line in h.splitlines()] + [8]) * 0.09 + 0.4
    label_width = max([len(str(t)) for t in labels] + [6]) * 0.085 + 0.4
    fig, ax = plt.subplots(figsize=(label_width + width * len(columns) + 0.6, 0.55 * len(rows) + 2.1),
                           layout="constrained")
    for i, row in enumerate(rows):
        y = len(rows) - 1 - i
        for j, column in enumerate(columns):
            yes = bool(table[row][column])
            ax.add_patch(Rectangle((j, y), 1, 1, facecolor=YES if yes else NO, edgecolor="white", lw=2,
                                   gid=f"cell {row}|{column} {'yes' if yes else 'no'}"))
            ax.text(j + 0.5, y + 0.5, "✓ yes" if yes else "✗ no", ha="center", va="center",
                    fontsize=VALUE_FONT, color="#1d5e1d" if yes else "#8b1a1a", gid=f"mark {row}|{column}")
    ax.set_xlim(0, len(columns))
    ax.set_ylim(0, len(rows))
    ax.set_xticks([j + 0.5 for j in range(len(columns))], headers, fontsize=NOTE_FONT + 0.5)
    ax.xaxis.tick_top()
    ax.xaxis.set_label_position("top")
    ax.set_yticks([len(rows) - 0.5 - i for i in range(len(rows))], labels, fontsize=NOTE_FONT + 0.5)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_xlabel(xlabel, fontsize=NOTE_FONT + 0.5)
    ax.set_ylabel(ylabel, fontsize=NOTE_FONT + 0.5)
    ax.set_title(title, fontsize=TITLE_FONT, pad=10)
    return fig

"""Pictures that show what you normally cannot see (matplotlib only).

Every figure has a title and readable fonts and needs no running kernel, so it reads the same in
JupyterLab, in the feedback HTML and on GitHub. The widgets in `course.widgets` draw with these
same functions. Drawn elements carry a `gid` (e.g. "storage 3", "read 0->4", "a 1,2") so tests can
find them without a browser.
"""

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
    ax.set_title(f"{label} and its derivative (autograd)", fontsize=TITLE_FONT)
    ax.set_xlabel("x", fontsize=VALUE_FONT)
    ax.set_ylabel("value", fontsize=VALUE_FONT)
    ax.legend()
    return ax

"""Interactive widgets (ipywidgets) for the notebooks, drawn with the same code as the static
pictures of `course.plots`.

Each builder returns the widget (the last line of a cell displays it). Its picture is an `Image`
widget holding a PNG, so its state can be read and tested without a browser.
"""

import html
import io

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch

from .plots import plot_broadcast, plot_memory
from .shapes import broadcast_steps, parse_shape

MAX_DRAWN = 8  # the broadcasting picture is drawn for sizes up to this


def figure_png(fig):
    """The figure as PNG bytes; the figure is closed (so the notebook does not show it twice)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=72)
    plt.close(fig)
    return buffer.getvalue()


def broadcast_report(text_a, text_b):
    """HTML table explaining whether shapes `text_a` and `text_b` broadcast, and why."""
    try:
        a, b = parse_shape(text_a), parse_shape(text_b)
    except ValueError as exc:
        return f"<p style='color:#b00'>{html.escape(str(exc))}</p>"
    result, rows = broadcast_steps(a, b)
    cell = lambda v: "–" if v is None else str(v)  # noqa: E731
    body = "".join(
        f"<tr><td>{cell(x)}</td><td>{cell(y)}</td><td>{cell(r)}</td><td>{html.escape(why)}</td></tr>"
        for x, y, r, why in rows
    )
    verdict = (f"<p><b>Result shape: {result}</b></p>" if result is not None
               else "<p style='color:#b00'><b>Error: these shapes do not broadcast.</b></p>")
    return ("<table><tr><th>a</th><th>b</th><th>result</th><th>rule</th></tr>"
            f"{body}</table>{verdict}")


def broadcast_picture(text_a, text_b):
    """PNG of plot_broadcast for example tensors of these shapes (a = 1, 2, 3, ...; b = 10, 20,
    30, ...), or b"" when the shapes are invalid, have more than 2 dims or sizes over MAX_DRAWN."""
    try:
        a, b = parse_shape(text_a), parse_shape(text_b)
    except ValueError:
        return b""
    if len(a) > 2 or len(b) > 2 or any(s > MAX_DRAWN or s == 0 for s in a + b):
        return b""
    ta = torch.arange(1.0, 1.0 + torch.Size(a).numel()).reshape(a)
    tb = torch.arange(10.0, 10.0 * (1 + torch.Size(b).numel()), 10.0).reshape(b)
    return figure_png(plot_broadcast(ta, tb, "+"))


def broadcasting_explorer(a="3, 1", b="4"):
    """Type two shapes: see them aligned from the right, the rule applied dimension by dimension,
    and (up to 2 dims) the stretched cells of a + b."""
    style = {"description_width": "initial"}
    box_a = widgets.Text(value=a, description="shape of a:", style=style)
    box_b = widgets.Text(value=b, description="shape of b:", style=style)
    report = widgets.HTML()
    picture = widgets.Image(format="png")
    note = widgets.HTML()

    def update(_=None):
        report.value = broadcast_report(box_a.value, box_b.value)
        picture.value = broadcast_picture(box_a.value, box_b.value)
        picture.layout.display = None if picture.value else "none"
        note.value = ("" if picture.value else
                      f"<i>(the picture is drawn for valid shapes of at most 2 dimensions, sizes "
                      f"1 to {MAX_DRAWN})</i>")

    box_a.observe(update, names="value")
    box_b.observe(update, names="value")
    update()
    return widgets.VBox([widgets.HBox([box_a, box_b]), report, picture, note])


def memory_base():
    """The 3x4 tensor the memory explorer starts from: values 10..120, distinct from offsets."""
    return (torch.arange(12.0) * 10 + 10).reshape(3, 4)


MEMORY_VIEWS = {
    "x (3x4, contiguous)": lambda x: x,
    "x.t()  (transpose: same memory)": lambda x: x.t(),
    "x.view(4, 3)": lambda x: x.view(4, 3),
    "x[1:, 1:3]  (slice with an offset)": lambda x: x[1:, 1:3],
    "x[:, ::2]  (strided slice)": lambda x: x[:, ::2],
    "x.t().reshape(2, 6)  (must copy)": lambda x: x.t().reshape(2, 6),
    "x.t().contiguous()  (copy)": lambda x: x.t().contiguous(),
    "x[:, [0, 2]]  (list index: copy)": lambda x: x[:, [0, 2]],
}


def memory_explorer():
    """Pick an operation on a 3x4 tensor `x`: see its storage, the order it reads it, its
    strides and offset, and whether it shares `x`'s memory or is a copy."""
    choice = widgets.Dropdown(options=list(MEMORY_VIEWS), description="operation:",
                              style={"description_width": "initial"},
                              layout=widgets.Layout(width="max-content"))
    verdict = widgets.HTML()
    picture = widgets.Image(format="png")

    def update(_=None):
        x = memory_base()
        t = MEMORY_VIEWS[choice.value](x)
        shares = t.untyped_storage().data_ptr() == x.untyped_storage().data_ptr()
        name = choice.value.split("  ")[0]
        verdict.value = (f"<b>{html.escape(name)}</b>: stride {t.stride()}, offset "
                         f"{t.storage_offset()}, contiguous={t.is_contiguous()}; "
                         + ("<b>shares memory with x</b> (a view)" if shares
                            else "<b>a copy: new memory</b>"))
        picture.value = figure_png(plot_memory(t, title=name, base=x).figure)

    choice.observe(update, names="value")
    update()
    return widgets.VBox([choice, verdict, picture])


# --------------------------------------------------------------------------- parameter, buffer or tensor (05)

KINDS = ("nn.Parameter", "buffer", "buffer, persistent=False", "plain tensor")


class ThreeTensors(torch.nn.Module):
    """Holds three tensors a, b, c of 3 entries, each as `kinds[name]` (one of KINDS);
    forward(x) = x * a + b * c uses every one of them."""

    def __init__(self, kinds):
        super().__init__()
        for i, name in enumerate(("a", "b", "c")):
            value = torch.full((3,), float(i + 1))
            kind = kinds[name]
            if kind == "nn.Parameter":
                self.register_parameter(name, torch.nn.Parameter(value))
            elif kind.startswith("buffer"):
                self.register_buffer(name, value, persistent="persistent=False" not in kind)
            else:
                setattr(self, name, value)

    def forward(self, x):
        return x * self.a + self.b * self.c


def kinds_table(kinds):
    """probe_tensors' answers for ThreeTensors(kinds), and the rows' labels."""
    from .checks import probe_tensors
    table = probe_tensors(ThreeTensors(kinds), ["a", "b", "c"], (torch.ones(2, 3),))
    return table, {name: f"{name}: {kind}" for name, kind in kinds.items()}


def tensor_kinds_explorer(a="nn.Parameter", b="buffer", c="plain tensor"):
    """Choose how a module holds each of three tensors; see, run for real, which of them get a
    gradient, are changed by an optimiser step, are saved in state_dict() and moved by .to()."""
    from .plots import plot_yes_no_table
    style = {"description_width": "initial"}
    choices = {name: widgets.Dropdown(options=KINDS, value=value, description=f"{name} is", style=style)
               for name, value in (("a", a), ("b", b), ("c", c))}
    picture = widgets.Image(format="png")

    def update(_=None):
        table, labels = kinds_table({name: box.value for name, box in choices.items()})
        picture.value = figure_png(plot_yes_no_table(
            table, labels, title="What each operation does to a, b and c (run, not typed)",
            xlabel="operation tried", ylabel="tensor held by the module"))

    for box in choices.values():
        box.observe(update, names="value")
    update()
    return widgets.VBox([widgets.HBox(list(choices.values())), picture])

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


# --------------------------------------------------------------------------- fitting a line by hand

def line_fit_report(x, y, w, b):
    """HTML: the line and its mean squared error on (x, y)."""
    from .plots import mse
    return (f"<b>y = {w:.2f} x {b:+.2f}</b>: mean squared error <b>{mse(x, y, w, b):.4f}</b>"
            " (the mean of the squared dashed lengths)")


def line_fit_picture(x, y, w, b, w_range=(-5, 5), b_range=(-5, 5)):
    """PNG: the line through the points, beside the loss over (w, b) with the current point."""
    from .plots import plot_line_fit, plot_loss_surface
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    plot_line_fit(x, y, w, b, ax=left)
    plot_loss_surface(x, y, w_range, b_range, ax=right, mark=(w, b))
    return figure_png(fig)


def line_fit_explorer(x, y, w=0.0, b=0.0, w_range=(-5, 5), b_range=(-5, 5)):
    """Sliders for the slope w and intercept b of a line: see it against the points (x, y), its
    mean squared error, and where (w, b) sits on the loss surface."""
    style = {"description_width": "initial"}
    slider_w = widgets.FloatSlider(value=w, min=w_range[0], max=w_range[1], step=0.05, description="w (slope)",
                                   style=style, continuous_update=False)
    slider_b = widgets.FloatSlider(value=b, min=b_range[0], max=b_range[1], step=0.05, description="b (intercept)",
                                   style=style, continuous_update=False)
    report = widgets.HTML()
    picture = widgets.Image(format="png")

    def update(_=None):
        report.value = line_fit_report(x, y, slider_w.value, slider_b.value)
        picture.value = line_fit_picture(x, y, slider_w.value, slider_b.value, w_range, b_range)

    slider_w.observe(update, names="value")
    slider_b.observe(update, names="value")
    update()
    return widgets.VBox([widgets.HBox([slider_w, slider_b]), report, picture])


# --------------------------------------------------------------------------- module trees

def _shape_text(t):
    return "(" + ", ".join(str(s) for s in t.shape) + ("," if t.dim() == 1 else "") + ")"


def module_tree_html(model, open_depth=1, count=None):
    """The module tree as nested, collapsible HTML (`<details>`): each module with its class,
    the parameters and buffers it holds itself (shape, entries, whether it requires grad) and
    its mode. Levels deeper than `open_depth` start folded. Works in a static render too.
    `count`, a function `count(module) -> int` (such as your own `count_parameters` from 04),
    adds each module's subtree count as that function gives it; without it nothing is summed."""
    seen = {}

    def node(module, name, label, depth):
        title = f"<code>{html.escape(label)}</code>: {html.escape(type(module).__name__)}"
        if id(module) in seen:
            return (f"<li>{title} <i>(the same module as '{html.escape(seen[id(module)] or 'the root')}': "
                    f"shared, shown once)</i></li>")
        seen[id(module)] = name
        own = [f"<li>parameter <code>{html.escape(k)}</code> {_shape_text(p)}: {p.numel():,} entries"
               + ("" if p.requires_grad else " <b>(frozen)</b>") + "</li>"
               for k, p in module._parameters.items() if p is not None]
        own += [f"<li>buffer <code>{html.escape(k)}</code> {_shape_text(b)}"
                + ("" if k not in module._non_persistent_buffers_set else " (not saved)") + "</li>"
                for k, b in module._buffers.items() if b is not None]
        children = [node(c, f"{name}.{k}" if name else k, k, depth + 1)
                    for k, c in module._modules.items() if c is not None]
        mode = "train" if module.training else "<b>eval</b>"
        entries = "" if count is None else f"{count(module):,} parameter entries &nbsp;·&nbsp; "
        summary = f"{title} &nbsp;·&nbsp; {entries}{mode}"
        if not own and not children:
            return f"<li>{summary}</li>"
        body = "<ul>" + "".join(own + children) + "</ul>"
        opened = " open" if depth < open_depth else ""
        return f"<li><details{opened}><summary>{summary}</summary>{body}</details></li>"

    return ("<ul style='list-style: none; padding-left: 1em'>"
            + node(model, "", "(root)", 0).replace("<ul>", "<ul style='list-style: none; padding-left: 1.5em'>")
            + "</ul>")


def parameter_table_html(module):
    """An HTML table of a module's parameters and buffers (its subtree's), one row per name."""
    rows = [(n, "parameter", _shape_text(p), f"{p.numel():,}", "yes" if p.requires_grad else "no (frozen)")
            for n, p in module.named_parameters()]
    rows += [(n, "buffer", _shape_text(b), f"{b.numel():,}", "no") for n, b in module.named_buffers()]
    if not rows:
        return "<p><i>no parameters and no buffers</i></p>"
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return ("<table><tr><th>name</th><th>kind</th><th>shape</th><th>entries</th><th>requires grad</th></tr>"
            f"{body}</table>")


def module_explorer(model, count=None):
    """Pick a module of `model`, then call .train() or .eval() on it: the picture shows the
    whole tree with every module's mode, so you can see which modules the call reached (the
    chosen one and everything under it), and the table lists the chosen module's parameters
    and buffers. It changes `model`'s modes, as those calls do. `count` is passed on to
    `plot_module_tree` (a parameter-counting function of yours, or None to count nothing)."""
    from .plots import plot_module_tree

    names = [name for name, _ in model.named_modules()]
    choice = widgets.Dropdown(options=[(n or "(root)", n) for n in names], value="",
                              description="module:", style={"description_width": "initial"})
    train = widgets.Button(description="call .train()")
    evaluate = widgets.Button(description="call .eval()")
    status = widgets.HTML()
    picture = widgets.Image(format="png")
    table = widgets.HTML()

    def update(_=None):
        chosen = model.get_submodule(choice.value)
        below = [n for n, _ in chosen.named_modules()]
        in_eval = sum(not m.training for _, m in chosen.named_modules())
        status.value = (f"<b>{html.escape(choice.value or '(root)')}</b>: {type(chosen).__name__}, "
                        f"{len(below)} module{'s' if len(below) > 1 else ''} in its subtree, "
                        f"{in_eval} of them in eval mode")
        picture.value = figure_png(plot_module_tree(model, highlight=choice.value, count=count).figure)
        table.value = parameter_table_html(chosen)

    def set_mode(mode):
        def handler(_=None):
            model.get_submodule(choice.value).train(mode)
            update()
        return handler

    choice.observe(update, names="value")
    train.on_click(set_mode(True))
    evaluate.on_click(set_mode(False))
    update()
    return widgets.VBox([widgets.HBox([choice, train, evaluate]), status, picture, table])


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

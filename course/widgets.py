"""Interactive widgets (ipywidgets) for the notebooks."""

import html

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
from IPython.display import display

from .plots import plot_memory
from .shapes import broadcast_steps, parse_shape


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


def broadcasting_explorer(a="2, 3, 3", b="3"):
    """Type two shapes; see them aligned from the right, dimension by dimension."""
    box_a = widgets.Text(value=a, description="shape a")
    box_b = widgets.Text(value=b, description="shape b")
    out = widgets.HTML()

    def update(_=None):
        out.value = broadcast_report(box_a.value, box_b.value)

    box_a.observe(update, names="value")
    box_b.observe(update, names="value")
    update()
    return widgets.VBox([widgets.HBox([box_a, box_b]), out])


MEMORY_VIEWS = {
    "x (3x4, contiguous)": lambda x: x,
    "x.t()  (transpose: same memory)": lambda x: x.t(),
    "x.view(4, 3)": lambda x: x.view(4, 3),
    "x.t().reshape(2, 6)  (must copy)": lambda x: x.t().reshape(2, 6),
    "x.t().contiguous()  (copy)": lambda x: x.t().contiguous(),
    "x[:, ::2]  (strided slice)": lambda x: x[:, ::2],
    "x[1:, 1:3]  (offset slice)": lambda x: x[1:, 1:3],
}


def memory_explorer():
    """Pick an operation on a 3x4 tensor and see its storage, strides and contiguity."""
    choice = widgets.Dropdown(options=list(MEMORY_VIEWS), description="tensor")
    out = widgets.Output()

    def update(_=None):
        x = torch.arange(12.0).reshape(3, 4)
        t = MEMORY_VIEWS[choice.value](x)
        shares = t.untyped_storage().data_ptr() == x.untyped_storage().data_ptr()
        with out:
            out.clear_output(wait=True)
            plot_memory(t, title=choice.value.split("  ")[0])
            plt.show()
            print("shares memory with x" if shares else "a copy: new memory")

    choice.observe(update, names="value")
    update()
    display(widgets.VBox([choice, out]))

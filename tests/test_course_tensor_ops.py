"""Unit tests for the helpers 01_tensor_ops added to `course`: `course.shapes` (parsing shapes,
the broadcasting rule step by step), the memory and broadcasting pictures (`plots.plot_memory`,
`plots.plot_broadcast`) and the widgets built on them.

Widgets are tested without a browser: build one, set a control, check that its state changed.
"""

import matplotlib

matplotlib.use("Agg")

import ipywidgets as widgets  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from course import plots, shapes  # noqa: E402
from course import widgets as course_widgets  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")

# --------------------------------------------------------------------------- shapes.parse_shape


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2, 3", (2, 3)),
        ("(2,3)", (2, 3)),
        (" ( 2 , 3 , 1 ) ", (2, 3, 1)),
        ("[4]", (4,)),
        ("4", (4,)),
        ("(4,)", (4,)),
        ("", ()),
        ("()", ()),
        ("   ", ()),
        ("0, 5", (0, 5)),
    ],
)
def test_parse_shape_accepted_spellings(text, expected):
    assert shapes.parse_shape(text) == expected


@pytest.mark.parametrize("text", ["a,b", "2, x", "1.5", "2;3"])
def test_parse_shape_rejects_non_integers_with_clear_message(text):
    with pytest.raises(ValueError) as info:
        shapes.parse_shape(text)
    message = str(info.value)
    assert repr(text) in message
    assert "not a shape" in message
    assert "separated by commas" in message


@pytest.mark.parametrize("text", ["-1", "2, -3", "(-2,3)"])
def test_parse_shape_rejects_negative_sizes(text):
    with pytest.raises(ValueError, match="negative size") as info:
        shapes.parse_shape(text)
    assert repr(text) in str(info.value)


def test_parse_shape_space_separated_sizes_are_not_glued_together():
    try:
        result = shapes.parse_shape("2 3")
    except ValueError:
        return  # rejecting it is fine too
    assert result == (2, 3)


# --------------------------------------------------------------------------- shapes.broadcast_steps

shape_strategy = st.lists(st.integers(min_value=1, max_value=4), min_size=0, max_size=4).map(tuple)


def _torch_broadcast(a, b):
    try:
        return tuple(torch.broadcast_shapes(a, b))
    except RuntimeError:
        return None


@settings(max_examples=300, deadline=None)
@given(a=shape_strategy, b=shape_strategy)
def test_broadcast_steps_agrees_with_torch(a, b):
    result, rows = shapes.broadcast_steps(a, b)
    expected = _torch_broadcast(a, b)
    assert result == expected
    # One row per aligned dimension, and the rows tell the same story as the verdict.
    assert len(rows) == max(len(a), len(b))
    row_sizes = tuple(r for _, _, r, _ in rows)
    if expected is None:
        assert None in row_sizes
    else:
        assert row_sizes == expected
    # The rule is symmetric.
    assert shapes.broadcast_steps(b, a)[0] == expected


@pytest.mark.parametrize(
    "a, b",
    [((0,), (1,)), ((0,), (3,)), ((2, 0), (0,)), ((0, 3), (1, 1)), ((), ()), ((), (0,))],
)
def test_broadcast_steps_zero_sizes_agree_with_torch(a, b):
    assert shapes.broadcast_steps(a, b)[0] == _torch_broadcast(a, b)


@pytest.mark.parametrize(
    "b, reasons",
    [
        ((1, 1, 3), ["one of them is 1: stretched", "one of them is 1: stretched", "equal"]),
        ((1, 3), ["missing in one: use the other's size", "one of them is 1: stretched", "equal"]),
        ((3,), ["missing in one: use the other's size", "missing in one: use the other's size", "equal"]),
    ],
)
def test_broadcast_steps_syllabus_examples_that_broadcast(b, reasons):
    result, rows = shapes.broadcast_steps((2, 3, 3), b)
    assert result == (2, 3, 3)
    assert [why for *_, why in rows] == reasons
    padded_b = (None,) * (3 - len(b)) + b
    assert [(x, y, r) for x, y, r, _ in rows] == list(zip((2, 3, 3), padded_b, (2, 3, 3)))


def test_broadcast_steps_syllabus_example_that_fails():
    result, rows = shapes.broadcast_steps((2, 3), (2,))
    assert result is None
    assert rows[0] == (2, None, 2, "missing in one: use the other's size")
    x, y, r, why = rows[1]
    assert (x, y, r) == (3, 2, None)
    assert "3" in why and "2" in why
    assert "cannot broadcast" in why


# --------------------------------------------------------------------------- plots


def _by_gid(ax, kind="texts"):
    items = ax.texts if kind == "texts" else ax.patches
    return {item.get_gid(): item for item in items if item.get_gid()}


def _reads(t):
    s0, s1 = t.stride()
    return [t.storage_offset() + i * s0 + j * s1 for i in range(t.shape[0]) for j in range(t.shape[1])]


BASE = (torch.arange(12.0) * 10 + 10).reshape(3, 4)  # values 10..120, none equal to its offset
PLOTTED = {
    "contiguous": BASE,
    "transpose": BASE.t(),
    "strided slice": BASE[:, ::2],
    "offset slice": BASE[1:, 1:3],
    "expanded": torch.arange(3.0).expand(2, 3),
    **{f"view {k}": fn(BASE) for k, fn in course_widgets.MEMORY_VIEWS.items()},
}


@pytest.mark.parametrize("name", list(PLOTTED))
def test_plot_memory_labels_every_cell_with_its_value_and_storage_offset(name):
    t = PLOTTED[name]
    ax = plots.plot_memory(t, title=name)
    assert isinstance(ax, matplotlib.axes.Axes)
    texts = _by_gid(ax)
    s0, s1 = t.stride()
    for i in range(t.shape[0]):
        for j in range(t.shape[1]):
            assert texts[f"value {i},{j}"].get_text() == f"{t[i, j].item():g}"
            assert texts[f"at {i},{j}"].get_text() == f"@{t.storage_offset() + i * s0 + j * s1}"
    title = ax.get_title(loc="left")
    assert title.startswith(name) and f"stride {t.stride()}" in title
    assert f"offset {t.storage_offset()}" in title and f"contiguous={t.is_contiguous()}" in title


@pytest.mark.parametrize("name", list(PLOTTED))
def test_plot_memory_draws_the_read_order_as_arrows_and_numbers(name):
    t = PLOTTED[name]
    ax = plots.plot_memory(t)
    reads = _reads(t)
    arrows = [p.get_gid() for p in ax.patches if (p.get_gid() or "").startswith("read ")]
    assert arrows == [f"read {a}->{b}" for a, b in zip(reads, reads[1:]) if a != b]
    texts = _by_gid(ax)
    for k in set(reads):
        assert texts[f"storage order {k}"].get_text() == "#" + ",".join(str(n) for n, r in enumerate(reads) if r == k)
    assert not any(f"storage order {k}" in texts for k in range(len(reads) + 20) if k not in reads)


def test_plot_memory_transpose_jumps_through_storage():
    ax = plots.plot_memory(BASE.t())
    arrows = [p.get_gid() for p in ax.patches if (p.get_gid() or "").startswith("read ")]
    assert arrows[:4] == ["read 0->4", "read 4->8", "read 8->1", "read 1->5"]
    assert _by_gid(ax)["storage order 1"].get_text() == "#3"  # storage cell 1 is read 4th


def test_plot_memory_values_are_not_offsets_in_the_notebook_example():
    # the issue with arange data: each value equalled its offset and the @k labels said nothing
    t = course_widgets.memory_base()
    assert all(t.flatten()[k].item() != k for k in range(t.numel()))


def test_plot_memory_marks_the_storage_offset_and_the_cells_read():
    t = BASE[1:, 1:3]
    ax = plots.plot_memory(t)
    patches = _by_gid(ax, "patches")
    assert patches["offset"].get_x() == 5 == t.storage_offset()
    assert "storage offset 5" in _by_gid(ax)["legend"].get_text()
    storage = {k: patches[f"storage {k}"] for k in range(12)}
    read = {k for k, p in storage.items() if p.get_facecolor() == matplotlib.colors.to_rgba(plots.READ)}
    assert read == {5, 6, 9, 10}
    assert [_by_gid(ax)[f"storage value {k}"].get_text() for k in range(12)] == [f"{v:g}" for v in range(10, 130, 10)]


def test_plot_memory_draws_a_copy_as_new_memory_below_the_original():
    copy = BASE.t().contiguous()
    ax = plots.plot_memory(copy, base=BASE)
    patches = _by_gid(ax, "patches")
    assert all(f"base {k}" in patches for k in range(12))  # the original's storage, drawn apart
    assert patches["base 0"].get_y() > patches["storage 0"].get_y()
    assert all(patches[f"storage {k}"].get_facecolor() == matplotlib.colors.to_rgba(plots.COPY) for k in range(12))
    assert [_by_gid(ax)[f"storage value {k}"].get_text() for k in range(4)] == ["10", "50", "90", "20"]
    assert "new memory" in ax.get_title(loc="left")
    # a view of the same base is drawn as shared memory: no second storage row
    view_ax = plots.plot_memory(BASE.t(), base=BASE)
    assert not any((p.get_gid() or "").startswith("base ") for p in view_ax.patches)
    assert "new memory" not in view_ax.get_title(loc="left")


def test_plot_memory_uses_given_axes():
    fig, ax = plt.subplots()
    assert plots.plot_memory(BASE, ax=ax) is ax
    assert len(fig.axes) == 1


@pytest.mark.parametrize("t", [torch.zeros(2, 3, 4), torch.zeros(3), torch.tensor(1.0)])
def test_plot_memory_rejects_non_2d(t):
    with pytest.raises(ValueError, match="2-D") as info:
        plots.plot_memory(t)
    assert str(tuple(t.shape)) in str(info.value)


def _grid_cells(ax, name):
    """{(i, j): (stretched?, value text)} for one operand's panel."""
    texts = _by_gid(ax)
    cells = {}
    for patch in ax.patches:
        gid = patch.get_gid() or ""
        if gid.startswith(name + " "):
            ij = gid[len(name) + 1:].split()[0]
            i, j = map(int, ij.split(","))
            cells[(i, j)] = (gid.endswith("stretched"), texts[f"{name} value {i},{j}"].get_text())
    return cells


def test_plot_broadcast_hatches_the_stretched_cells():
    col, row = torch.tensor([[1.0], [2.0], [3.0]]), torch.tensor([10.0, 20.0, 30.0, 40.0])
    fig = plots.plot_broadcast(col, row, "+", names=("col", "row"))
    ax_col, ax_row, ax_out = fig.axes
    cells = _grid_cells(ax_col, "col")
    assert len(cells) == 12
    assert all(stretched == (j > 0) and value == f"{i + 1:g}" for (i, j), (stretched, value) in cells.items())
    cells = _grid_cells(ax_row, "row")
    assert all(stretched == (i > 0) and value == f"{10 * (j + 1):g}" for (i, j), (stretched, value) in cells.items())
    result = _grid_cells(ax_out, "result")
    assert {k: v for k, (_, v) in result.items()} == {(i, j): f"{(i + 1) + 10 * (j + 1):g}" for i in range(3) for j in range(4)}
    assert not any(s for s, _ in result.values())
    assert "read as (1, 4)" in ax_row.get_title() and "stretched to (3, 4)" in ax_row.get_title()
    assert ax_out.get_title() == "col + row: (3, 4)"
    assert "stretched" in fig._suptitle.get_text()
    for ax in fig.axes:
        assert ax.get_xlabel() == "dim -1 (columns)" and ax.get_ylabel() == "dim -2 (rows)"


def test_plot_broadcast_keepdim_picture_tells_wrong_from_right():
    sq = torch.tensor([[1.0, 2.0, 3.0], [10.0, 20.0, 30.0], [100.0, 200.0, 300.0]])
    wrong = _grid_cells(plots.plot_broadcast(sq, sq.mean(1), "-", title="wrong").axes[1], "b")
    right = _grid_cells(plots.plot_broadcast(sq, sq.mean(1, keepdim=True), "-", title="right").axes[1], "b")
    assert [wrong[(i, 0)][1] for i in range(3)] == ["2", "2", "2"]       # one row, stretched down
    assert [right[(i, 0)][1] for i in range(3)] == ["2", "20", "200"]    # one column, stretched across
    assert plt.gcf()._suptitle.get_text() == "right"


def test_plot_broadcast_draws_the_failure():
    fig = plots.plot_broadcast(torch.ones(2, 3), torch.tensor([10.0, 20.0]), "+")
    error = _by_gid(fig.axes[2])["error"].get_text()
    assert "cannot broadcast" in error and "3 vs 2" in error
    assert "do not broadcast" in fig._suptitle.get_text()
    assert len(_grid_cells(fig.axes[1], "b")) == 2  # b drawn at its own size, nothing stretched


@pytest.mark.parametrize("a, b", [(torch.zeros(2, 2, 2), torch.zeros(2)), (torch.zeros(11), torch.zeros(1))])
def test_plot_broadcast_refuses_what_it_cannot_draw(a, b):
    with pytest.raises(ValueError):
        plots.plot_broadcast(a, b)


# --------------------------------------------------------------------------- widgets


def test_broadcast_report_failure():
    report = course_widgets.broadcast_report("2,3", "2")
    assert "Error" in report
    assert "Result shape" not in report
    assert "3 vs 2" in report


def test_broadcast_report_success():
    report = course_widgets.broadcast_report("2,3,3", "1,3")
    assert "Result shape: (2, 3, 3)" in report
    assert "Error" not in report
    assert report.count("<tr>") == 1 + 3  # header and one row per dimension
    assert "–" in report  # the missing dimension of b


def test_broadcast_report_scalar_shapes():
    assert "Result shape: ()" in course_widgets.broadcast_report("", "()")
    assert "Result shape: (4,)" in course_widgets.broadcast_report("[4]", "")


@pytest.mark.parametrize("bad_a, bad_b, shown", [("2,x", "3", "2,x"), ("3", "a,b", "a,b"), ("-2", "3", "-2")])
def test_broadcast_report_bad_shape(bad_a, bad_b, shown):
    report = course_widgets.broadcast_report(bad_a, bad_b)
    assert report.startswith("<p style='color:#b00'>")
    assert shown in report
    assert "<table>" not in report


def test_broadcast_report_escapes_html():
    report = course_widgets.broadcast_report("<b>", "3")
    assert "&lt;b&gt;" in report
    assert "<b>" not in report


def _find(widget, kind):
    found = [widget] if isinstance(widget, kind) else []
    for child in getattr(widget, "children", ()):
        found += _find(child, kind)
    return found


def test_broadcasting_explorer_updates_when_typing():
    box = course_widgets.broadcasting_explorer()
    assert isinstance(box, widgets.VBox)
    texts = _find(box, widgets.Text)
    report, note = _find(box, widgets.HTML)
    (picture,) = _find(box, widgets.Image)
    assert [t.value for t in texts] == ["3, 1", "4"]
    assert [t.description for t in texts] == ["shape of a:", "shape of b:"]
    assert "Result shape: (3, 4)" in report.value
    first = bytes(picture.value)
    assert first.startswith(b"\x89PNG") and note.value == ""

    texts[1].value = "2"
    assert "Result shape: (3, 2)" in report.value
    assert bytes(picture.value).startswith(b"\x89PNG") and bytes(picture.value) != first

    texts[0].value = "2, 3"
    assert "Error" in report.value and "3 vs 2" in report.value
    assert bytes(picture.value).startswith(b"\x89PNG")  # the failure is drawn too

    texts[0].value = "2, 3, 4"
    assert "Error" in report.value and bytes(picture.value) == b"" and picture.layout.display == "none"
    assert "at most 2 dimensions" in note.value
    texts[1].value = "oops"
    assert "oops" in report.value and "not a shape" in report.value and bytes(picture.value) == b""


def test_broadcast_picture_matches_plot_broadcast():
    assert course_widgets.broadcast_picture("3, 1", "4").startswith(b"\x89PNG")
    assert course_widgets.broadcast_picture("", "2").startswith(b"\x89PNG")   # a scalar
    assert course_widgets.broadcast_picture("9", "1") == b""                  # too big to draw
    assert course_widgets.broadcast_picture("0", "1") == b""
    assert not plt.get_fignums()  # figures are closed once rendered


def test_memory_views_are_2d_and_honest_about_copies():
    x = course_widgets.memory_base()
    for key, fn in course_widgets.MEMORY_VIEWS.items():
        t = fn(x)
        assert t.dim() == 2, key
        shares = t.untyped_storage().data_ptr() == x.untyped_storage().data_ptr()
        assert shares == ("copy" not in key), key


def test_memory_explorer_switches_views():
    box = course_widgets.memory_explorer()
    assert isinstance(box, widgets.VBox)
    (dropdown,) = _find(box, widgets.Dropdown)
    (verdict,) = _find(box, widgets.HTML)
    (picture,) = _find(box, widgets.Image)
    assert dropdown.description == "operation:"
    assert list(dropdown.options) == list(course_widgets.MEMORY_VIEWS)
    assert "shares memory with x" in verdict.value and "contiguous=True" in verdict.value
    seen = {bytes(picture.value)}
    for option in dropdown.options[1:]:
        dropdown.value = option
        assert ("a copy: new memory" in verdict.value) == ("copy" in option), option
        assert option.split("  ")[0] in verdict.value
        seen.add(bytes(picture.value))
    assert len(seen) == len(dropdown.options)  # a new picture for every choice
    dropdown.value = "x.t()  (transpose: same memory)"
    assert "stride (1, 4)" in verdict.value and "contiguous=False" in verdict.value
    assert not plt.get_fignums()

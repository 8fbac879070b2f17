"""Unit tests for the helpers 02_autograd added to `course`: `course.graphs` (the autograd graph,
tangents, curves, the tangent widget) and `course.autograd_checks` (visible-test checks of the
autograd state a function leaves behind).

Widgets are tested without a browser: build one, move a control, check that its state changed.
"""

import inspect
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.patches import FancyArrowPatch  # noqa: E402

from course import autograd_checks as ac  # noqa: E402
from course import graphs, plots  # noqa: E402
from course.checks import CheckError  # noqa: E402

from test_course import _all_exercise_names, _public_names  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_the_new_modules_hold_no_answer_to_a_graded_exercise():
    names = _all_exercise_names()
    assert {"grad_of", "relu_out_of_place", "sgd_step", "numerical_grad"} <= names
    for module in (graphs, ac):
        leaked = _public_names(module) & names
        assert not leaked, f"course.{module.__name__.split('.')[-1]} defines {leaked}, a graded exercise"


# --------------------------------------------------------------------------- autograd_graph

def small_graph():
    a = torch.tensor(2.0, requires_grad=True)
    b = torch.tensor(3.0, requires_grad=True)
    c = a * b
    e = c.sin() + a
    return e, {"a": a, "b": b, "c": c, "e": e}


def test_autograd_graph_walks_to_the_leaves_and_names_what_is_saved():
    e, names = small_graph()
    nodes, edges = graphs.autograd_graph(e, names)
    labels = [n["label"] for n in nodes]
    assert labels[0] == "e ()" and nodes[0]["kind"] == "output"
    assert {"AddBackward0", "SinBackward0", "MulBackward0", "a ()", "b ()"} <= set(labels)
    by_label = {n["label"]: n for n in nodes}
    assert by_label["SinBackward0"]["lines"] == ["self: c ()"]
    assert sorted(by_label["MulBackward0"]["lines"]) == ["other: b ()", "self: a ()"]
    assert [n["kind"] for n in nodes].count("leaf") == 2
    # a feeds two nodes: two edges end at its leaf node, and every edge points down
    leaf_a = by_label["a ()"]["id"]
    assert sum(1 for _, b in edges if b == leaf_a) == 2
    assert all(nodes[b]["depth"] > nodes[a]["depth"] for a, b in edges)
    assert by_label["a ()"]["depth"] == 4


def test_autograd_graph_shows_constants_unsaved_inputs_and_freed_values():
    x = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
    m = x * 2
    nodes, _ = graphs.autograd_graph(m.sum(), {"x": x})
    mul = next(n for n in nodes if n["label"] == "MulBackward0")
    assert "other: the constant 2" in mul["lines"] and "self: not saved" in mul["lines"]
    s = x.sigmoid()
    total = s.sum()
    total.backward()
    nodes, _ = graphs.autograd_graph(total, {"x": x, "s": s})
    assert "result: (freed)" in next(n for n in nodes if n["label"] == "SigmoidBackward0")["lines"]


def test_autograd_graph_of_a_tensor_outside_any_graph():
    nodes, edges = graphs.autograd_graph(torch.ones(2))
    assert len(nodes) == 1 and edges == [] and nodes[0]["lines"] == ["no grad_fn"]


def test_plot_autograd_graph_draws_a_box_per_node_and_an_arrow_per_edge():
    e, names = small_graph()
    nodes, edges = graphs.autograd_graph(e, names)
    ax = graphs.plot_autograd_graph(e, names, title="the graph")
    boxes = [t for t in ax.texts if (t.get_gid() or "").startswith("node ")]
    arrows = [p for p in ax.patches if isinstance(p, FancyArrowPatch)]
    assert len(boxes) == len(nodes) and len(arrows) == len(edges)
    assert {a.get_gid() for a in arrows} == {f"edge {a}->{b}" for a, b in edges}
    assert ax.get_title() == "the graph" and "steps from the output" in ax.get_ylabel()
    assert "leaves" in ax.get_xlabel()
    assert any("SinBackward0\nself: c ()" == t.get_text() for t in boxes)


def test_plot_autograd_graph_uses_given_axes():
    e, names = small_graph()
    _, ax = plt.subplots()
    assert graphs.plot_autograd_graph(e, names, ax=ax) is ax


# --------------------------------------------------------------------------- tangents and curves

def test_value_and_slope_reads_the_given_derivative():
    grid = torch.linspace(-2, 2, 41, dtype=torch.float64)
    y, dy = graphs.value_and_slope(torch.sin, 1.0, grid, torch.cos(grid))
    assert y == pytest.approx(torch.sin(torch.tensor(1.0, dtype=torch.float64)).item())
    assert dy == pytest.approx(torch.cos(torch.tensor(1.0, dtype=torch.float64)).item())
    _, between = graphs.value_and_slope(torch.sin, 1.05, grid, 2 * grid)     # interpolated
    assert between == pytest.approx(2.1)


def test_course_graphs_never_differentiates_a_function():
    """No part of grad_of's answer in course: the derivatives come from the caller."""
    source = inspect.getsource(graphs) + inspect.getsource(plots.plot_function_and_derivative)
    for technique in ("requires_grad_(", "requires_grad=True", "autograd.grad(", ".backward(", "torch.func"):
        assert technique not in source, technique


def test_plot_tangent_draws_the_tangent_with_the_given_slope():
    x = torch.linspace(-2, 2, 41, dtype=torch.float64)
    ax = graphs.plot_tangent(lambda t: t ** 3, x, x0=1.0, derivative=3 * x ** 2, label="cube", source="autograd")
    (tangent,) = [line for line in ax.lines if line.get_gid() == "tangent"]
    xs, ys = torch.as_tensor(tangent.get_xdata()), torch.as_tensor(tangent.get_ydata())
    torch.testing.assert_close(ys, 1.0 + 3.0 * (xs - 1.0))       # through (1, 1), slope 3
    assert "slope 3" in tangent.get_label()
    assert ax.get_title() == "cube, its derivative (autograd) and the tangent at x = 1"
    assert ax.get_xlabel() == "x" and ax.get_ylabel() == "value"


def test_plot_tangent_without_a_derivative_uses_differences_on_the_grid():
    x = torch.linspace(-2, 2, 401, dtype=torch.float64)
    ax = graphs.plot_tangent(lambda t: t ** 3, x, x0=1.0, label="cube")
    (tangent,) = [line for line in ax.lines if line.get_gid() == "tangent"]
    assert "slope 3" in tangent.get_label()
    assert ax.get_title() == "cube, its derivative (differences on the grid) and the tangent at x = 1"


def test_tangent_explorer_follows_the_slider():
    grid = torch.linspace(-3, 3, 201, dtype=torch.float64)
    box = graphs.tangent_explorer(torch.sin, grid, torch.cos(grid), x0=0.0, label="sin", source="autograd")
    slider, readout, picture = box.children
    assert "dsin/dx = 1</b> (autograd)" in readout.value and picture.value[:4] == b"\x89PNG"
    first = picture.value
    slider.value = 1.5
    assert "sin(1.5) = 0.9975" in readout.value and "dsin/dx = 0.07074" in readout.value
    assert picture.value != first


def test_tangent_explorer_without_a_derivative():
    box = graphs.tangent_explorer(torch.sin, lo=-3, hi=3, x0=0.0, label="sin")
    _, readout, _ = box.children
    assert "dsin/dx = 0.9999" in readout.value and "(differences on the grid)" in readout.value


def test_plot_lines_labels_and_scales():
    ax = graphs.plot_lines([1, 10, 100], {"a": [1, 2, 3], "b": [3, 2, 1]}, title="t", xlabel="x",
                           ylabel="y", log=True)
    assert ax.get_title() == "t" and ax.get_xlabel() == "x" and ax.get_ylabel() == "y"
    assert [line.get_label() for line in ax.lines] == ["a", "b"]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert graphs.plot_lines([1, 2], {"a": [1, 2]}, "t", "x", "y").get_yscale() == "linear"


# --------------------------------------------------------------------------- autograd_checks

def failure(fn, *args, **kwargs):
    with pytest.raises(CheckError) as info:
        fn(*args, **kwargs)
    return str(info.value)


def test_state_is_a_copy():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    x.grad = torch.ones(2)
    snap = ac.state(x)
    with torch.no_grad():
        x.add_(1)
    x.grad.add_(1)
    assert snap["values"].tolist() == [1.0, 2.0] and snap["grad"].tolist() == [1.0, 1.0]
    assert snap["version"] == 0 and snap["requires_grad"] is True


@pytest.mark.parametrize("change, phrase", [
    (lambda x: x.data.mul_(2), "its values changed"),
    (lambda x: (x.data.add_(0), x.detach().add_(0)), "modified in place (its version counter went from 0 to 1)"),
    (lambda x: x.requires_grad_(False), "requires_grad was True before the call and is False"),
    (lambda x: (x * 2).sum().backward(), ".grad was None before the call and holds a gradient"),
])
def test_expect_state_unchanged_names_each_change(change, phrase):
    x = torch.tensor([1.0, -2.0], requires_grad=True)
    before = ac.state(x)
    change(x)
    message = failure(ac.expect_state_unchanged, x, before, name="x", hint="leave x alone")
    assert message.startswith("x: ") and phrase in message and "hint: leave x alone" in message


def test_expect_state_unchanged_sees_a_changed_gradient_and_passes_an_untouched_tensor():
    x = torch.tensor([1.0, -2.0], requires_grad=True)
    x.grad = torch.ones(2)
    before = ac.state(x)
    ac.expect_state_unchanged(x, before)
    (x * 3).sum().backward()
    assert ".grad changed during the call" in failure(ac.expect_state_unchanged, x, before)


def test_expect_no_history():
    ac.expect_no_history(torch.ones(2))
    w = torch.ones(2, requires_grad=True)
    assert "grad_fn=MulBackward0" in failure(ac.expect_no_history, w * 2, name="g")
    assert "expected a torch.Tensor" in failure(ac.expect_no_history, None)


def test_expect_gradient_flows():
    x = torch.ones(2, requires_grad=True)
    ac.expect_gradient_flows(x.clamp(min=0), x)
    assert "the result does not" in failure(ac.expect_gradient_flows, x.detach() * 2, x)
    assert "new leaf" in failure(ac.expect_gradient_flows, (x * 2).detach().requires_grad_(), x)


def test_expect_grad():
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    assert "it is None" in failure(ac.expect_grad, x, [1.0, 1.0])
    (x ** 2).sum().backward()
    ac.expect_grad(x, [2.0, 4.0])
    assert "wrong values" in failure(ac.expect_grad, x, [1.0, 1.0])


def test_expect_leaf_and_grad_reset():
    p = torch.ones(2, requires_grad=True)
    ac.expect_leaf(p)
    assert "autograd history" in failure(ac.expect_leaf, p * 1)
    assert "no longer requires grad" in failure(ac.expect_leaf, torch.ones(2))
    ac.expect_grad_reset(p)
    p.grad = torch.zeros(2)
    ac.expect_grad_reset(p)
    p.grad = torch.tensor([0.0, 1.0])
    assert "expected None or zeros" in failure(ac.expect_grad_reset, p)


def test_expect_none():
    ac.expect_none(None)
    assert "expected None, got a list" in failure(ac.expect_none, [1])


def test_the_checks_read_a_non_leaf_grad_without_warning():
    x = torch.ones(2, requires_grad=True)
    y = x * 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ac.state(y)
        ac.expect_grad_reset(y)

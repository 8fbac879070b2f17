"""Unit tests for what 03_linear_layer added to the `course` package: checks for modules and
parameters, pictures of a linear layer and of fitting a line, and the line-fitting widget.

Widgets are tested without a browser: build one, move a slider, check that its state changed.
"""

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from course import checks, plots  # noqa: E402
from course import widgets as course_widgets  # noqa: E402
from course.checks import CheckError  # noqa: E402

NEW = {
    checks: ["expect_parameters", "expect_init_range", "expect_raises", "expect_same_object",
             "expect_no_shared_memory", "expect_attributes", "expect_different", "poison_free_memory",
             "uninitialised_reads_nan"],
    plots: ["plot_linear_layer", "mse", "plot_line_fit", "plot_loss_surface", "plot_losses"],
    course_widgets: ["line_fit_report", "line_fit_picture", "line_fit_explorer"],
}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _failure(fn, *args, **kwargs):
    with pytest.raises(CheckError) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert "expected" in message and "got" in message, message
    return message


class Layer(nn.Module):
    def __init__(self, n_in=4, n_out=3, wrap=True, typo=False):
        super().__init__()
        self.input_dim = n_in
        if typo:
            self.outpu_dim = n_out
        else:
            self.output_dim = n_out
        W, b = torch.rand(n_in, n_out) - 0.5, torch.rand(n_out) - 0.5
        self.W, self.b = (nn.Parameter(W), nn.Parameter(b)) if wrap else (W, b)


# --------------------------------------------------------------------------- no graded answers

def test_the_new_helpers_are_not_named_after_an_exercise():
    from test_course import _all_exercise_names
    names = _all_exercise_names()
    assert {"linear_forward", "MyLinear", "load_from_nn_linear"} <= names
    for module, added in NEW.items():
        assert all(hasattr(module, name) for name in added)
        assert not set(added) & names


def test_no_helper_computes_a_linear_layer_or_copies_weights():
    """None of the new helpers takes (x, W, b) or (my, ref) and gives the layer's output."""
    import inspect
    for module, added in NEW.items():
        for name in added:
            params = list(inspect.signature(getattr(module, name)).parameters)
            assert params[:3] != ["x", "W", "b"] and params[:2] != ["my", "ref"], name


# --------------------------------------------------------------------------- checks

def test_expect_parameters_accepts_the_right_module():
    checks.expect_parameters(Layer(), {"W": (4, 3), "b": (3,)})
    checks.expect_parameters(nn.Linear(4, 3), {"weight": (3, 4), "bias": (3,)})


def test_expect_parameters_lists_plain_tensor_attributes():
    message = _failure(checks.expect_parameters, Layer(wrap=False), {"W": (4, 3), "b": (3,)}, name="m", hint="wrap")
    assert message.startswith("m: wrong parameters") and "plain tensor attributes, not parameters: W, b" in message
    assert "got:      {}" in message and "hint: wrap" in message


def test_expect_parameters_names_shapes_and_requires_grad():
    assert "wrong parameters" in _failure(checks.expect_parameters, nn.Linear(4, 3), {"W": (4, 3), "b": (3,)})
    message = _failure(checks.expect_parameters, Layer(3, 4), {"W": (4, 3), "b": (3,)}, name="m")
    assert message.startswith("m.W: wrong shape") and "expected: (4, 3)" in message and "got:      (3, 4)" in message
    frozen = Layer()
    frozen.W.requires_grad_(False)
    with pytest.raises(CheckError, match="m.W: expected a parameter that requires grad"):
        checks.expect_parameters(frozen, {"W": (4, 3), "b": (3,)}, name="m")
    with pytest.raises(CheckError, match="expected an nn.Module, got a Tensor"):
        checks.expect_parameters(torch.zeros(2), {})


def test_expect_init_range_accepts_uniform_values():
    k = 1 / math.sqrt(256)
    checks.expect_init_range((torch.rand(256, 64) * 2 - 1) * k, k)
    checks.expect_init_range(torch.tensor([0.01, -0.02]), 0.0625)        # few values: range only
    checks.expect_init_range(nn.Linear(256, 64).weight, k)


@pytest.mark.parametrize("values, shown", [
    (torch.tensor([float("nan"), 0.1]), "NaN or infinite"),
    (torch.zeros(300), "all zeros"),
    (torch.full((300,), 0.05), "every entry is 0.05"),
    (torch.randn(300), "outside [-0.1, 0.1]"),
    (torch.rand(300) * 0.1, "only"),                                  # never negative
    ((torch.rand(300) * 2 - 1) * 0.01, "only"),                       # far too small
])
def test_expect_init_range_rejects_what_is_not_a_fresh_layer(values, shown):
    message = _failure(checks.expect_init_range, values, 0.1, name="W", hint="U(-k, k)")
    assert message.startswith("W: not initialised as expected") and shown in message and "hint: U(-k, k)" in message


def test_expect_raises():
    def fails():
        raise ValueError("sizes differ")
    assert checks.expect_raises(ValueError, fails) == "sizes differ"
    assert checks.expect_raises(Exception, fails) == "sizes differ"                # a subclass counts
    message = _failure(checks.expect_raises, ValueError, lambda: 1 / 0, name="f()", hint="check first")
    assert message.startswith("f(): raised the wrong error") and "ZeroDivisionError" in message
    assert "hint: check first" in message
    message = _failure(checks.expect_raises, ValueError, lambda: None, name="f()")
    assert "returned without raising" in message


def test_expect_same_object():
    layer = Layer()
    checks.expect_same_object(layer.W, layer.W)
    message = _failure(checks.expect_same_object, nn.Parameter(layer.W.detach().clone()), layer.W, name="W", hint="copy_")
    assert message.startswith("W: expected the very same object") and "hint: copy_" in message


def test_expect_no_shared_memory():
    w = torch.randn(3, 4)
    checks.expect_no_shared_memory(w.T.clone(), w)
    checks.expect_no_shared_memory(torch.zeros(2, device="meta"), torch.zeros(2, device="meta"))  # no memory at all
    for view in (w.T, w[1:], w.view(12)):
        message = _failure(checks.expect_no_shared_memory, view, w, name="W", hint="clone")
        assert message.startswith("W: expected its own memory") and "hint: clone" in message


def test_expect_attributes():
    checks.expect_attributes(Layer(), {"input_dim": 4, "output_dim": 3})
    message = _failure(checks.expect_attributes, Layer(), {"output_dim": 5}, name="Layer()")
    assert message.startswith("Layer().output_dim: wrong value")
    message = _failure(checks.expect_attributes, Layer(typo=True), {"output_dim": 3}, name="Layer()", hint="spell it")
    assert "it has no attribute 'output_dim'" in message and "similar names: outpu_dim (a typo?)" in message
    assert "hint: spell it" in message
    with_tensor = Layer()
    with_tensor.input_dim = torch.tensor(4)
    assert "wrong value" in _failure(checks.expect_attributes, with_tensor, {"input_dim": 4})  # a tensor is not an int


def test_expect_different():
    a = torch.rand(3)
    checks.expect_different(torch.rand(3), a)
    checks.expect_different(a[:2], a)
    message = _failure(checks.expect_different, a.clone(), a, name="W", hint="random")
    assert message.startswith("W: expected different values") and "hint: random" in message


def test_uninitialised_memory_reads_nan_inside_the_block_only_whatever_the_allocator_holds():
    leftovers = torch.empty(256, 64).uniform_(-0.1, 0.1)
    del leftovers                                    # freed memory that looks like a valid init
    torch.use_deterministic_algorithms(True, warn_only=False)
    try:
        with checks.uninitialised_reads_nan():
            assert torch.isnan(torch.empty(256, 64)).all()
            assert torch.isnan(torch.FloatTensor(3, 2)).all() and torch.isnan(torch.ones(2).new_empty(5)).all()
            assert (torch.empty(4, dtype=torch.int64) == torch.iinfo(torch.int64).max).all()
            assert not torch.isnan(torch.empty(256, 64).uniform_(-1, 1)).any()   # filled: untouched
        assert torch.are_deterministic_algorithms_enabled() and not torch.is_deterministic_algorithms_warn_only_enabled()
    finally:
        torch.use_deterministic_algorithms(False)
    with checks.uninitialised_reads_nan():
        pass
    assert not torch.are_deterministic_algorithms_enabled()          # put back as it was


def test_poison_free_memory_still_runs_for_notebooks_released_with_it():
    checks.poison_free_memory((256, 64), (64,))
    assert not torch.isnan(torch.empty(256, 64).uniform_(-1, 1)).any()


# --------------------------------------------------------------------------- plots

def _texts(ax):
    return {t.get_gid(): t for t in ax.texts if t.get_gid()}


def test_plot_linear_layer_draws_every_weight_and_bias():
    W = torch.tensor([[0.5, -0.2, 0.1], [0.3, 0.4, -0.6], [-0.1, 0.2, 0.7], [0.9, -0.8, 0.05]])
    b = torch.tensor([0.1, -0.3, 0.2])
    ax = plots.plot_linear_layer(W, b)
    edges = [line.get_gid() for line in ax.lines if (line.get_gid() or "").startswith("edge ")]
    assert sorted(edges) == sorted(f"edge {i}->{j}" for i in range(4) for j in range(3))
    texts = _texts(ax)
    for i in range(4):
        for j in range(3):
            assert texts[f"weight {i},{j}"].get_text() == f"{W[i, j].item():.2g}"
    assert [texts[f"bias {j}"].get_text() for j in range(3)] == ["+ b0 = 0.1", "+ b1 = -0.3", "+ b2 = 0.2"]
    assert "12 weights + 3 biases = 15 parameters" in ax.get_title()
    assert "inputs x (4)" in ax.get_xlabel() and "outputs y (3)" in ax.get_xlabel()
    red = [line for line in ax.lines if line.get_gid() == "edge 0->1"][0]
    blue = [line for line in ax.lines if line.get_gid() == "edge 0->0"][0]
    assert red.get_color() != blue.get_color()                       # negative and positive weights


def test_plot_linear_layer_accepts_parameters_on_any_device_and_rejects_bad_shapes():
    layer = nn.Linear(3, 2)
    plots.plot_linear_layer(layer.weight.T, layer.bias)              # requires grad: fine
    with pytest.raises(ValueError, match="up to 8"):
        plots.plot_linear_layer(torch.zeros(9, 2), torch.zeros(2))
    with pytest.raises(ValueError, match=r"b must have shape \(2,\)"):
        plots.plot_linear_layer(torch.zeros(3, 2), torch.zeros(3))


def test_mse_and_plot_line_fit():
    x, y = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 3.0, 4.0])
    assert plots.mse(x, y, 2.0, 1.0) == pytest.approx(1 / 3)
    ax = plots.plot_line_fit(x, y, 2.0, 1.0)
    residuals = [line for line in ax.lines if (line.get_gid() or "").startswith("residual ")]
    assert len(residuals) == 3
    assert list(residuals[2].get_ydata()) == [4.0, 5.0]              # from the point to the line
    assert "mean squared error 0.333" in ax.get_title()
    assert ax.get_xlabel() == "x" and ax.get_ylabel() == "y"
    assert [line.get_label() for line in ax.lines if line.get_gid() == "line"] == ["y = 2.00 x +1.00"]


def test_plot_loss_surface_marks_the_least_squares_line_the_point_and_the_path():
    x = torch.linspace(-2, 2, 20)
    y = 2 * x + 1
    ax = plots.plot_loss_surface(x, y, mark=(0.5, -1.0), path=[(0, 0), (1, 0.5), (2, 1)])
    by_gid = {line.get_gid(): line for line in ax.lines if line.get_gid()}
    assert by_gid["best"].get_xdata()[0] == pytest.approx(2.0, abs=1e-5)
    assert by_gid["best"].get_ydata()[0] == pytest.approx(1.0, abs=1e-5)
    assert list(by_gid["mark"].get_xdata()) == [0.5] and list(by_gid["path"].get_xdata()) == [0, 1, 2]
    assert ax.get_xlabel() == "w (slope)" and ax.get_ylabel() == "b (intercept)" and ax.get_title()
    assert len(ax.figure.axes) == 2                                  # the surface and its colour bar


def test_plot_losses_one_line_per_curve_all_visible():
    ax = plots.plot_losses({"mine": [4.0, 2.0, 1.0], "theirs": [4.0, 2.0, 1.0]}, title="t")
    lines = {line.get_gid(): line for line in ax.lines}
    assert set(lines) == {"curve mine", "curve theirs"}
    assert lines["curve mine"].get_linestyle() != lines["curve theirs"].get_linestyle()
    assert ax.get_yscale() == "log" and ax.get_title() == "t" and ax.get_xlabel() == "step"


# --------------------------------------------------------------------------- widget

def test_line_fit_explorer_updates_the_error_and_the_picture():
    x = torch.linspace(-2, 2, 20)
    y = 2 * x + 1
    widget = course_widgets.line_fit_explorer(x, y, w=0.0, b=0.0)
    sliders, report, picture = widget.children
    slider_w, slider_b = sliders.children
    assert f"{plots.mse(x, y, 0.0, 0.0):.4f}" in report.value and bytes(picture.value).startswith(b"\x89PNG")
    before = bytes(picture.value)
    slider_w.value, slider_b.value = 2.0, 1.0
    assert "mean squared error <b>0.0000</b>" in report.value and "y = 2.00 x +1.00" in report.value
    assert bytes(picture.value) != before
    assert slider_w.min == -5 and slider_b.max == 5

"""Unit tests for course/nn_functional.py: the activation picture, the sliding-kernel picture and
the conv/pool output-shape calculator (torch's own answer, on a meta tensor, never a formula)."""

import inspect

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from course import nn_functional as nf  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.mark.parametrize("kind", nf.LAYERS)
def test_layer_output_is_what_the_layer_gives_on_real_data(kind):
    for length in range(1, 12):
        for k in range(1, 5):
            for s in range(1, 4):
                for p in range(0, 3):
                    for d in ((1,) if kind == "AvgPool1d" else (1, 2)):
                        got, error = nf.layer_output(kind, length, k, s, p, d)
                        x = torch.zeros(1, 1, length)
                        try:
                            if kind == "Conv1d":
                                want = torch.nn.Conv1d(1, 1, k, s, p, d)(x).shape[-1]
                            elif kind == "MaxPool1d":
                                want = torch.nn.MaxPool1d(k, s, p, d)(x).shape[-1]
                            else:
                                want = torch.nn.AvgPool1d(k, s, p)(x).shape[-1]
                        except RuntimeError:
                            want = None
                        assert got == want, (kind, length, k, s, p, d, error)
                        assert (error is None) == (want is not None)


def test_the_calculator_holds_no_formula():
    """The course package never holds a graded answer: no piece of the length formula."""
    source = inspect.getsource(nf)
    assert "dilation * (kernel_size - 1)" not in source
    assert "+ 2 * padding -" not in source


def test_windows_follow_stride_and_dilation():
    assert nf.windows(8, 3, 2, 0, 2) == [[0, 2, 4], [2, 4, 6]]
    assert nf.windows(3, 5) == []


def test_sliding_kernel_picture_has_cells_taps_and_labels():
    ax = nf.plot_sliding_kernel(6, 3, 1, 1, 1)
    gids = {p.get_gid() for p in ax.patches}
    assert {"in 0", "in 7", "out 0", "out 5"} <= gids and "out 6" not in gids
    assert any(line.get_gid() == "tap 0->2" for line in ax.lines)
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()


def test_activation_picture_has_a_panel_per_function():
    fig = nf.plot_activations()
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == len(nf.ACTIVATIONS)
    for ax in visible:
        assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
        assert {line.get_gid() for line in ax.lines} >= {f"f {ax.get_title()}", f"df {ax.get_title()}"}


def test_the_calculator_reacts_to_every_control():
    w = nf.shape_calculator()
    kind, *sliders, report, picture = w.children
    for control in [kind, *sliders]:
        assert control.description
    before = report.value
    sliders[1].value = 5
    assert report.value != before and "(1, 1, 6)" in report.value
    kind.value = "AvgPool1d"
    sliders[4].value = 2
    assert "no dilation" in report.value and picture.layout.display == "none"
    sliders[4].value = 1
    assert picture.value and "(1, 1, 6)" in report.value
    sliders[0].value = 2
    assert "torch refuses" in report.value

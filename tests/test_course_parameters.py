"""Unit tests for the helpers 05_parameters added to `course`: module checks, probe_tensors, the
yes/no table picture and the parameter/buffer/tensor explorer widget (tested without a browser)."""

import matplotlib

matplotlib.use("Agg")

import inspect  # noqa: E402

import ipywidgets as widgets  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from course import checks, plots  # noqa: E402
from course import widgets as course_widgets  # noqa: E402
from course.checks import CheckError  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


class Holder(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(2))
        self.frozen = nn.Parameter(torch.ones(2), requires_grad=False)
        self.register_parameter("gone", None)
        self.register_buffer("stat", torch.zeros(2))
        self.register_buffer("cache", torch.zeros(2), persistent=False)
        self.register_buffer("empty", None)
        self.plain = torch.zeros(2)
        self.number = 3
        self.child = nn.Linear(2, 2)

    def forward(self, x):
        return x * self.weight + self.stat + self.plain


def _failure(fn, *args, **kwargs):
    with pytest.raises(CheckError) as info:
        fn(*args, **kwargs)
    return str(info.value)


# --------------------------------------------------------------------------- expect_registered

@pytest.mark.parametrize("name, kind", [("weight", "parameter"), ("frozen", "parameter"), ("stat", "buffer"),
                                        ("cache", "non-persistent buffer")])
def test_expect_registered_accepts_what_is_registered(name, kind):
    checks.expect_registered(Holder(), name, kind)


@pytest.mark.parametrize("name, kind, held", [
    ("plain", "buffer", "got a plain tensor attribute"),
    ("weight", "buffer", "got an nn.Parameter"),
    ("cache", "buffer", "got a buffer with persistent=False"),
    ("stat", "parameter", "got a buffer"),
    ("gone", "parameter", "got None"),
    ("empty", "buffer", "got None"),
    ("child", "buffer", "got a submodule"),
    ("number", "buffer", "got no tensor (a value of type int)"),
    ("missing", "parameter", "got nothing"),
])
def test_expect_registered_says_how_the_name_is_held(name, kind, held):
    message = _failure(checks.expect_registered, Holder(), name, kind, hint="the hint")
    assert message.startswith(f"Holder.{name}: expected ") and held in message, message
    assert message.endswith("  hint: the hint")


def test_expect_registered_explains_what_a_plain_attribute_misses():
    message = _failure(checks.expect_registered, Holder(), "plain", "buffer")
    assert "not in state_dict() (not saved) and not moved by .to()" in message


def test_expect_registered_checks_requires_grad_when_asked():
    checks.expect_registered(Holder(), "weight", "parameter", trainable=True)
    checks.expect_registered(Holder(), "frozen", "parameter", trainable=False)
    message = _failure(checks.expect_registered, Holder(), "frozen", "parameter", trainable=True)
    assert "expected requires_grad=True, got requires_grad=False" in message and "frozen" in message


# --------------------------------------------------------------------------- other module checks

def test_expect_no_parameters():
    checks.expect_no_parameters(nn.ReLU())
    message = _failure(checks.expect_no_parameters, Holder(), hint="buffers")
    assert "expected no parameters, got weight, frozen, child.weight, child.bias" in message
    assert message.endswith("  hint: buffers")


def test_expect_no_history():
    checks.expect_no_history(torch.zeros(2))
    x = torch.ones(2, requires_grad=True)
    message = _failure(checks.expect_no_history, x * 2, name="running_mean", hint="no_grad")
    assert message.startswith("running_mean: expected a tensor without autograd history")
    assert "requires_grad=True, grad_fn=MulBackward0" in message and "hint: no_grad" in message
    assert "grad_fn=None" in _failure(checks.expect_no_history, x)
    with pytest.raises(CheckError):
        checks.expect_no_history([1.0])


def test_expect_moves_accepts_registered_tensors_and_names_the_one_left_behind():
    checks.expect_moves(Holder(), ["weight", "stat", "cache"])
    message = _failure(checks.expect_moves, Holder(), ["weight", "plain"], hint="register it")
    assert "Holder.plain after .to('meta'): expected it on meta, got it on cpu" in message
    assert "(a plain tensor attribute: .to() moves registered parameters and buffers only)" in message
    assert "got it on None" in _failure(checks.expect_moves, Holder(), ["missing"])


def test_expect_dict():
    checks.expect_dict({"a": 1, "b": 2}, {"b": 2, "a": 1})
    message = _failure(checks.expect_dict, {"a": 1, "c": 3, "d": 4}, {"a": 2, "b": 2}, name="kinds", hint="h")
    assert message.startswith("kinds: wrong dict")
    assert "missing: 'b'" in message and "not expected: 'c', 'd'" in message
    assert "'a': expected 2, got 1" in message and message.endswith("  hint: h")
    assert "expected a dict, got a list" in _failure(checks.expect_dict, [("a", 1)], {"a": 1})


# --------------------------------------------------------------------------- probe_tensors

def test_probe_tensors_runs_each_operation():
    module = Holder()
    before = {k: v.clone() for k, v in module.state_dict().items()}
    table = checks.probe_tensors(module, ["weight", "frozen", "stat", "cache", "plain"], (torch.ones(3, 2),))
    assert list(table["weight"]) == list(checks.PROBES)
    assert all(table["weight"].values())
    assert table["frozen"] == {"gets a gradient": False, "changed by optimizer.step()": False,
                               "saved in state_dict()": True, "moved by .to()": True}
    assert table["stat"] == table["frozen"]
    assert table["cache"]["moved by .to()"] and not table["cache"]["saved in state_dict()"]
    assert not any(table["plain"].values())
    after = module.state_dict()  # the module itself is left as it was
    assert all(torch.equal(before[k], after[k]) for k in before) and module.weight.grad is None
    assert module.weight.device.type == "cpu"


def test_probe_tensors_on_a_module_without_parameters():
    class Centre(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("center", torch.ones(2))

        def forward(self, x):
            return x - self.center

    table = checks.probe_tensors(Centre(), ["center"], (torch.zeros(2),))
    assert table["center"] == {"gets a gradient": False, "changed by optimizer.step()": False,
                               "saved in state_dict()": True, "moved by .to()": True}


def test_probe_tensors_sees_a_plain_tensor_that_requires_grad_get_a_gradient_only():
    class Shift(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(2))
            self.offset = torch.zeros(2, requires_grad=True)

        def forward(self, x):
            return x * self.weight + self.offset

    table = checks.probe_tensors(Shift(), ["offset"], (torch.ones(2),))
    assert table["offset"] == {"gets a gradient": True, "changed by optimizer.step()": False,
                               "saved in state_dict()": False, "moved by .to()": False}


# --------------------------------------------------------------------------- the picture and the widget

TABLE = {"w": {"grad": True, "saved": True}, "b": {"grad": False, "saved": True}}


def test_plot_yes_no_table_draws_every_cell_with_title_and_labels():
    fig = plots.plot_yes_no_table(TABLE, {"w": "w: nn.Parameter"}, title="T", xlabel="operation", ylabel="tensor")
    (ax,) = fig.axes
    cells = {p.get_gid() for p in ax.patches if p.get_gid()}
    assert cells == {"cell w|grad yes", "cell w|saved yes", "cell b|grad no", "cell b|saved yes"}
    marks = {t.get_gid(): t.get_text() for t in ax.texts}
    assert marks["mark b|grad"] == "✗ no" and marks["mark w|saved"] == "✓ yes"
    assert ax.get_title() == "T" and ax.get_xlabel() == "operation" and ax.get_ylabel() == "tensor"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["w: nn.Parameter", "b"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["grad", "saved"]


def test_plot_yes_no_table_wraps_long_column_names():
    fig = plots.plot_yes_no_table({"x": {"changed by optimizer.step()": True}})
    assert "\n" in fig.axes[0].get_xticklabels()[0].get_text()


@pytest.mark.parametrize("kind, expected", [
    ("nn.Parameter", [True, True, True, True]),
    ("buffer", [False, False, True, True]),
    ("buffer, persistent=False", [False, False, False, True]),
    ("plain tensor", [False, False, False, False]),
])
def test_kinds_table_follows_the_kind_chosen(kind, expected):
    table, labels = course_widgets.kinds_table({"a": kind, "b": "nn.Parameter", "c": "buffer"})
    assert list(table["a"].values()) == expected
    assert labels["a"] == f"a: {kind}"


def test_kinds_table_without_any_parameter():
    table, _ = course_widgets.kinds_table({"a": "buffer", "b": "plain tensor", "c": "buffer, persistent=False"})
    assert not any(table[name]["gets a gradient"] or table[name]["changed by optimizer.step()"] for name in "abc")


def test_three_tensors_uses_all_three_in_forward():
    module = course_widgets.ThreeTensors({"a": "nn.Parameter", "b": "buffer", "c": "plain tensor"})
    assert torch.equal(module(torch.ones(1, 3)), torch.tensor([[1.0 + 2.0 * 3.0] * 3]))
    assert [n for n, _ in module.named_parameters()] == ["a"] and [n for n, _ in module.named_buffers()] == ["b"]


def _find(widget, kind):
    found = [widget] if isinstance(widget, kind) else []
    for child in getattr(widget, "children", ()):
        found += _find(child, kind)
    return found


def test_tensor_kinds_explorer_redraws_when_a_kind_changes():
    box = course_widgets.tensor_kinds_explorer()
    dropdowns = _find(box, widgets.Dropdown)
    (picture,) = _find(box, widgets.Image)
    assert [d.description for d in dropdowns] == ["a is", "b is", "c is"]
    assert [d.value for d in dropdowns] == ["nn.Parameter", "buffer", "plain tensor"]
    assert all(list(d.options) == list(course_widgets.KINDS) for d in dropdowns)
    seen = {bytes(picture.value)}
    assert next(iter(seen)).startswith(b"\x89PNG")
    dropdowns[1].value = "buffer, persistent=False"
    seen.add(bytes(picture.value))
    dropdowns[2].value = "nn.Parameter"
    seen.add(bytes(picture.value))
    assert len(seen) == 3
    assert not plt.get_fignums()


def test_expect_registered_reads_observed_behaviour_not_the_modules_tables():
    """No part of classify_tensors in `course`: the check asks the module's public API what it
    does with that one tensor (parameters(), buffers(), state_dict()), never walks its tables."""
    assert not hasattr(checks, "_held_as")
    source = inspect.getsource(checks._observed)
    assert "_parameters" not in source and "_buffers" not in source and "__dict__" not in source

"""Unit tests for the `course` helpers added for 04_nn_module: the module-tree picture, the
collapsible tree view, the module explorer widget, and the checks for plain values and modules.

Widgets are tested without a browser: build one, press a button, check that the model and the
widget's state changed.
"""

from collections import OrderedDict

import matplotlib

matplotlib.use("Agg")

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


def _texts(ax):
    return {t.get_gid(): t.get_text() for t in ax.texts if t.get_gid()}


def _patches(ax):
    return {p.get_gid(): p for p in ax.patches if p.get_gid()}


def shared_model():
    """A tree with a shared module, a frozen layer, a tied parameter, buffers and an eval branch."""
    shared = nn.Linear(4, 4)
    tail = nn.Linear(4, 4)
    model = nn.Sequential(OrderedDict(
        first=shared,
        block=nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3)),
        again=shared,
        tail=tail,
        empty=nn.Sequential(),
    ))
    model.block[0].requires_grad_(False)
    tail.weight = shared.weight                      # tied: tail.weight is first.weight
    model.block.eval()
    return model


def student_count(module, trainable_only=False):
    """A count the notebook passes in (the student's count_parameters); the helpers hold none."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


# --------------------------------------------------------------------------- plot_module_tree

def test_module_tree_has_one_row_per_name_in_named_modules_order_and_counts_with_the_given_function():
    model = shared_model()
    ax = plots.plot_module_tree(model, count=student_count)
    texts = _texts(ax)
    names = [n for n, _ in model.named_modules(remove_duplicate=False) if not n.startswith("again.")]
    rows = [gid.removeprefix("module ") for gid in texts if gid.startswith("module ")]
    assert rows == names == ["", "first", "block", "block.0", "block.1", "again", "tail", "empty"]
    assert texts["module "] == "Sequential (root)" and texts["module block.0"] == "0: Linear"
    # the root counts each Parameter once: first (20), block (12 + 3 + 6), tail's own bias (4)
    total = 20 + 21 + 4
    assert texts["count "] == f"{total} (15 frozen)"
    assert texts["count block"] == "21 (15 frozen)" and texts["count tail"] == "20"
    assert "the same module as 'first'" in texts["own again"] and texts["count again"] == ""
    assert "weight (4, 4) = first.weight" in texts["own tail"]
    assert "weight (3, 4) frozen" in texts["own block.0"]
    assert "+ 3 buffers" in texts["own block.1"]
    assert texts["count empty"] == "0"
    title = ax.get_title(loc="left")
    assert f"{total} parameter entries ({total - 15} trainable)" in title and "7 modules" in title


def test_module_tree_counts_nothing_of_its_own():
    """No part of count_parameters in `course`: without a count function there are no counts,
    and with one the picture shows exactly what that function returns (right or wrong)."""
    texts = _texts(ax := plots.plot_module_tree(shared_model()))
    assert all(texts[gid] == "" for gid in texts if gid.startswith("count "))
    assert "entries" not in ax.get_title(loc="left") and "7 modules" in ax.get_title(loc="left")
    assert "entries in subtree" not in texts.values()
    calls = []

    def wrong(module, trainable_only=False):
        calls.append((module, trainable_only))
        return 7

    texts = _texts(plots.plot_module_tree(nn.Sequential(nn.Linear(2, 2)), count=wrong))
    assert texts["count "] == texts["count 0"] == "7" and {t for _, t in calls} == {False, True}


def test_module_tree_colours_containers_leaves_and_second_names():
    ax = plots.plot_module_tree(shared_model())
    boxes = _patches(ax)
    colour = lambda name: boxes[f"box {name}"].get_facecolor()  # noqa: E731
    assert colour("") == colour("block") == matplotlib.colors.to_rgba(plots.CONTAINER)
    assert colour("first") == colour("empty") == colour("block.1") == matplotlib.colors.to_rgba(plots.LEAF)
    assert colour("again") == matplotlib.colors.to_rgba(plots.SHARED)


def test_module_tree_shows_every_modules_mode():
    texts = _texts(plots.plot_module_tree(shared_model()))
    assert texts["mode "] == "train" and texts["mode block"] == texts["mode block.1"] == "eval"
    assert texts["mode again"] == ""


def test_module_tree_is_readable_in_a_static_render():
    ax = plots.plot_module_tree(nn.Linear(2, 2), title="one layer")
    assert ax.get_title(loc="left") == "one layer"
    headers = {k: v for k, v in _texts(ax).items() if k.startswith("header")}
    assert set(headers.values()) == {"module", "its own parameters", "mode"}
    assert "leaf" in _texts(ax)["legend"] and "container" in _texts(ax)["legend"]
    assert _texts(ax)["module "] == "Linear (root)" and "weight (2, 2), bias (2,)" in _texts(ax)["own "]
    ax = plots.plot_module_tree(nn.Linear(2, 2), count=student_count)
    headers = {k: v for k, v in _texts(ax).items() if k.startswith("header")}
    assert set(headers.values()) == {"module", "its own parameters", "entries in subtree", "mode"}
    assert _texts(ax)["count "] == "6"


def test_module_tree_highlights_a_subtree_and_refuses_unknown_names():
    model = shared_model()
    ax = plots.plot_module_tree(model, highlight="block")
    boxes = _patches(ax)
    assert boxes["box block"].get_edgecolor() == matplotlib.colors.to_rgba(plots.HIGHLIGHT)
    assert boxes["box first"].get_edgecolor()[3] == 0  # no outline
    bold = {t.get_gid() for t in ax.texts if t.get_gid() and t.get_fontweight() == "bold"}
    assert {"module block", "module block.0", "module block.1"} <= bold and "module first" not in bold
    with pytest.raises(ValueError, match="no module named 'nope'"):
        plots.plot_module_tree(model, highlight="nope")


def test_module_tree_draws_an_edge_to_every_child():
    ax = plots.plot_module_tree(shared_model())
    edges = {line.get_gid() for line in ax.lines}
    assert edges == {f"edge {n}" for n in ("first", "block", "block.0", "block.1", "again", "tail", "empty")}


def test_module_tree_uses_given_axes():
    fig, ax = plt.subplots()
    assert plots.plot_module_tree(nn.ReLU(), ax=ax) is ax
    assert len(fig.axes) == 1


# --------------------------------------------------------------------------- HTML views and the widget

def test_module_tree_html_nests_and_folds():
    model = shared_model()
    text = course_widgets.module_tree_html(model, open_depth=1, count=student_count)
    assert text.count("<details open>") == 1 and text.count("<details>") >= 2
    assert "<code>(root)</code>: Sequential" in text and "45 parameter entries" in text
    plain = course_widgets.module_tree_html(model, open_depth=1)     # no count given: none shown
    assert "parameter entries" not in plain and "12 entries <b>(frozen)</b>" in plain
    assert "7 parameter entries" in course_widgets.module_tree_html(nn.Linear(2, 2), count=lambda m: 7)
    assert "the same module as &#x27;first&#x27;" in text or "the same module as 'first'" in text
    assert "parameter <code>weight</code> (3, 4): 12 entries <b>(frozen)</b>" in text
    assert "buffer <code>running_mean</code> (3,)" in text and "<b>eval</b>" in text


def test_module_tree_html_escapes_names():
    model = nn.ModuleDict({"<b>x</b>": nn.Linear(1, 1)})
    text = course_widgets.module_tree_html(model)
    assert "<b>x</b>" not in text and "&lt;b&gt;x&lt;/b&gt;" in text


def test_parameter_table_lists_parameters_and_buffers():
    text = course_widgets.parameter_table_html(nn.BatchNorm1d(3))
    assert text.count("<tr>") == 1 + 2 + 3
    assert "<td>running_var</td><td>buffer</td><td>(3,)</td>" in text
    assert course_widgets.parameter_table_html(nn.ReLU()) == "<p><i>no parameters and no buffers</i></p>"


def test_module_explorer_calls_train_and_eval_on_the_chosen_subtree():
    model = shared_model()
    model.train()
    widget = course_widgets.module_explorer(model)
    (choice, train, evaluate), status, picture, table = widget.children[0].children, *widget.children[1:]
    assert picture.value[:4] == b"\x89PNG" and "0 of them in eval mode" in status.value
    choice.value = "block"
    evaluate.click()
    assert not model.block.training and not model.block[1].training and model.training and model.first.training
    assert "3 modules in its subtree, 3 of them in eval mode" in status.value
    assert "running_mean" in table.value
    choice.value = ""
    train.click()
    assert all(m.training for m in model.modules())


# --------------------------------------------------------------------------- checks for plain values and modules

def _message(fn, *args, **kwargs):
    with pytest.raises(CheckError) as info:
        fn(*args, **kwargs)
    return str(info.value)


def test_expect_same_wants_the_type_and_the_value():
    checks.expect_same(3, 3)
    checks.expect_same(["a", ""], ["a", ""])
    assert "expected an int, got a bool" in _message(checks.expect_same, True, 1, name="n")
    assert "expected an int, got a float" in _message(checks.expect_same, 3.0, 3)
    assert "expected an int, got a Tensor" in _message(checks.expect_same, torch.tensor(3), 3)
    assert "expected a list, got a tuple" in _message(checks.expect_same, ("a",), ["a"])
    message = _message(checks.expect_same, 4, 3, name="count", hint="once each")
    assert message.startswith("count: wrong value") and "hint: once each" in message


def test_expect_keys_lists_what_is_missing_and_extra():
    checks.expect_keys({"b": 1, "a": 2}, ["a", "b"])
    message = _message(checks.expect_keys, ["a", "c"], ["a", "b"], name="keys", hint="h")
    assert "missing: ['b']" in message and "extra:   ['c']" in message and "hint: h" in message


def test_expect_module():
    checks.expect_module(nn.ReLU())
    checks.expect_module(nn.Linear(1, 1), nn.Linear)
    assert "expected a Module, got a Sequential" not in _message(checks.expect_module, nn.Sequential(), nn.Linear)
    assert "expected a Linear, got a Sequential" in _message(checks.expect_module, nn.Sequential(), nn.Linear)
    assert "expected a Module, got a function" in _message(checks.expect_module, lambda: 0)


def test_try_practice_reports_each_outcome(capsys):
    reference = lambda m: [n for n, _ in m.named_children()]  # noqa: E731
    cases = [(nn.Sequential(nn.ReLU()),), (nn.Linear(1, 1),)]

    def names(m):
        return [n for n, _ in m.named_children()]
    checks.try_practice(names, reference, cases)
    assert capsys.readouterr().out == "✓ names: 2 cases agree with the reference\n"

    def stub(m):
        raise NotImplementedError
    checks.try_practice(stub, reference, cases)
    assert capsys.readouterr().out == "… stub: not written yet\n"

    def wrong(m):
        return tuple(reference(m))
    checks.try_practice(wrong, reference, cases)
    assert "✗ wrong(Sequential): expected a list (['0']), got a tuple (('0',))" in capsys.readouterr().out

    def raises(m):
        return 1 / 0
    checks.try_practice(raises, reference, cases)
    assert "✗ raises(Sequential) raised ZeroDivisionError" in capsys.readouterr().out


def test_try_practice_gives_each_call_its_own_copy(capsys):
    model = nn.Linear(2, 2)

    def freeze(m):
        m.requires_grad_(False)
        return [n for n, p in m.named_parameters() if p.requires_grad]

    checks.try_practice(freeze, lambda m: [], [(model,)])
    assert capsys.readouterr().out.startswith("✓")
    assert all(p.requires_grad for p in model.parameters())  # the caller's model is untouched
    checks.try_practice(lambda x: x * 2, lambda x: x * 2, [(torch.ones(2),)])
    assert capsys.readouterr().out.startswith("✓")

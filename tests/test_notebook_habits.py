"""Habits every release notebook keeps, checked generically over release/*/ (whatever assignments
are there): it opens with its goals and ends with a summary and what comes next; run top to
bottom with every exercise unsolved it goes through, with no error but the stubs' (the
`raises-exception` tags); every figure it draws has a title, labelled axes and readable fonts,
Korean included; every widget's controls are labelled; a long cell shows a progress bar.

The widgets of `course.widgets` are also exercised here without a browser: every control of
every widget moves its output (tests/test_browser.py does the same in Chromium).
"""

import inspect
import json
import re
import shutil
import warnings

import ipywidgets as widgets
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import pytest  # noqa: E402
from nbclient import NotebookClient  # noqa: E402
from nbclient.exceptions import CellExecutionError  # noqa: E402

from autograder.instructor.preprocessors.tag_test_cells import TAG, is_test_cell  # noqa: E402
from course import plots  # noqa: E402
from course import widgets as course_widgets  # noqa: E402

from conftest import ASSIGNMENTS, ROOT, release_nb  # noqa: E402

MIN_FONT = 8          # points: no text in a figure smaller than this
LONG_CELL = 10.0      # CPU seconds: a cell that computes longer shows a progress bar (tqdm.auto)
HANGUL = re.compile("[\uac00-\ud7a3]")
CONTROLS = (widgets.Text, widgets.Textarea, widgets.Dropdown, widgets.IntSlider, widgets.FloatSlider,
            widgets.Checkbox, widgets.ToggleButtons, widgets.RadioButtons, widgets.SelectionSlider,
            widgets.IntText, widgets.FloatText, widgets.Select, widgets.Button, widgets.ToggleButton)


# --------------------------------------------------------------------------- shape of a notebook


def numbered_items(text):
    return re.findall(r"^\s*\d+\.\s", text, re.M)


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_notebook_opens_with_its_goals(name):
    first = release_nb(name).cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# "), "the first cell is the title"
    goals = re.split(r"^#+ .*goals.*$", first.source, flags=re.M | re.I)
    assert len(goals) == 2, "the first cell has a 'Learning goals' heading"
    items = numbered_items(re.split(r"^#+ ", goals[1], flags=re.M)[0])
    assert 4 <= len(items) <= 6, f"4 to 6 numbered learning goals, not {len(items)}"
    assert re.search(r"\*\*(Before|After) this", first.source), "say what comes before and after it"


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_notebook_ends_with_a_summary_and_what_comes_next(name):
    cells = release_nb(name).cells
    last_code = max(i for i, c in enumerate(cells) if c.cell_type == "code")
    tail = cells[last_code + 1:]
    summaries = [c.source for c in tail if c.cell_type == "markdown" and c.source.startswith("## Summary")]
    assert summaries, "after the last code cell: a markdown cell starting '## Summary'"
    summary = summaries[0]
    assert re.search(r"\*\*Next\b|what comes next", summary, re.I), "the summary says what comes next"
    goals = numbered_items(re.split(r"^#+ .*goals.*$", cells[0].source, flags=re.M | re.I)[1].split("\n#")[0])
    assert len(numbered_items(summary)) == len(goals), "the summary ticks off each learning goal"
    assert all(c.cell_type == "markdown" for c in tail)


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_every_graded_test_cell_is_tagged_raises_exception(name):
    cells = [c for c in release_nb(name).cells if is_test_cell(c)]
    assert cells
    untagged = [c.metadata["nbgrader"]["grade_id"] for c in cells if TAG not in c.metadata.get("tags", [])]
    assert not untagged, f"untagged test cells (run `make release`): {untagged}"


def test_release_pipeline_is_nbgraders_plus_the_tagging_step():
    from nbgrader.converters import GenerateAssignment
    from traitlets.config.loader import PyFileConfigLoader
    from traitlets.utils.importstring import import_item

    from autograder.instructor.preprocessors import TagTestCells
    config = PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()
    steps = [import_item(name) for name in config.GenerateAssignment.preprocessors]
    assert steps.count(TagTestCells) == 1
    default = GenerateAssignment.class_traits()["preprocessors"].make_dynamic_default()
    assert [s for s in steps if s is not TagTestCells] == list(default), "keep nbgrader's own steps, in order"


# --------------------------------------------------------------------------- the notebook, run

# Run in the kernel before the notebook: every figure that is drawn (shown inline or saved, as
# the widgets do) is checked, and so is every widget a cell displays.
CHECKER = r"""
get_ipython().run_line_magic("matplotlib", "inline")  # as in JupyterLab: shown figures are printed
import json as _json, time as _time
import torch as _torch
_torch.set_num_threads(1)  # all of a cell's torch work on the thread that is timed, none spinning
import matplotlib as _mpl
from matplotlib.backend_bases import FigureCanvasBase as _Canvas
from matplotlib.text import Text as _Text
_habits = {"figures": 0, "problems": [], "widgets": 0, "cell": None, "seconds": {}}

def _habits_figure(fig):
    where = _habits["cell"]
    _habits["figures"] += 1
    titles = [ax.get_title(loc=loc) for ax in fig.axes for loc in ("left", "center", "right")]
    if fig._suptitle is not None:
        titles.append(fig._suptitle.get_text())
    if not any(t.strip() for t in titles):
        _habits["problems"].append(f"{where}: a figure without a title")
    for ax in fig.axes:
        if hasattr(ax, "_colorbar"):  # a colorbar: its label is on its long axis only
            if not (ax.get_xlabel().strip() or ax.get_ylabel().strip()):
                _habits["problems"].append(f"{where}: a colorbar without a label")
            continue
        if ax.axison and ax.get_visible() and not (ax.get_xlabel().strip() and ax.get_ylabel().strip()):
            _habits["problems"].append(f"{where}: axes {ax.get_title(loc='left') or ax.get_title()!r} lack an axis label")
    for text in fig.findobj(_Text):
        if text.get_visible() and text.get_text().strip() and text.get_fontsize() < %(min_font)s:
            _habits["problems"].append(f"{where}: {text.get_text()[:30]!r} in {text.get_fontsize():g} pt")

_print_figure = _Canvas.print_figure
def _checked_print_figure(self, *args, **kwargs):
    _habits_figure(self.figure)
    return _print_figure(self, *args, **kwargs)
_Canvas.print_figure = _checked_print_figure

def _habits_widget(widget, where):
    import ipywidgets
    controls = [w for w in _habits_walk(widget) if isinstance(w, %(controls)s)]
    _habits["widgets"] += bool(controls)
    for w in controls:
        if not (getattr(w, "description", "") or "").strip():
            _habits["problems"].append(f"{where}: a {type(w).__name__} without a label (description)")

def _habits_walk(w):
    yield w
    for child in getattr(w, "children", ()):
        yield from _habits_walk(child)

def _habits_pre(info):
    _habits["cell"] = (info.raw_cell.strip().splitlines() or [""])[0][:60]
    # CPU seconds of the thread running the cell: what the cell computes, not how busy the
    # machine is (a process's CPU time also counts torch's worker threads spinning while they
    # wait for a core: 14 s for a 0.3 s cell under the full suite)
    _habits["start"] = _time.thread_time()

def _habits_post(result):
    import ipywidgets
    _habits["seconds"][_habits["cell"]] = _time.thread_time() - _habits.get("start", _time.thread_time())
    if isinstance(result.result, ipywidgets.Widget):
        _habits_widget(result.result, _habits["cell"])

get_ipython().events.register("pre_run_cell", _habits_pre)
get_ipython().events.register("post_run_cell", _habits_post)
""" % {"min_font": MIN_FONT,
       "controls": "(" + ", ".join(f"ipywidgets.{c.__name__}" for c in CONTROLS) + ",)"}

REPORT = 'print("HABITS " + _json.dumps({k: v for k, v in _habits.items() if k != "start"}))'


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """{assignment: (executed notebook, habits report)}: each release notebook run once."""
    results = {}
    for name in ASSIGNMENTS:
        work = tmp_path_factory.mktemp(name)
        shutil.copytree(ROOT / "release" / name, work, dirs_exist_ok=True)
        nb = release_nb(name)
        nb.cells.insert(0, nbformat.v4.new_code_cell("import ipywidgets\n" + CHECKER))
        nb.cells.append(nbformat.v4.new_code_cell(REPORT))
        # no allow_errors: a raising cell stops the run unless it is tagged raises-exception
        try:
            NotebookClient(nb, timeout=600, kernel_name="python3",
                           resources={"metadata": {"path": str(work)}}).execute()
        except CellExecutionError as err:
            pytest.fail(f"{name}: Run All stops at a cell that raises and is not tagged "
                        f"raises-exception (run `make release`; tag demos that call an exercise):\n"
                        f"{str(err)[:3000]}")
        text = "".join(o.get("text", "") for o in nb.cells[-1].outputs)
        results[name] = (nb, json.loads(text.split("HABITS ", 1)[1]))
    return results


@pytest.mark.slow
@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_unsolved_notebook_runs_through_with_only_the_stubs_errors(ran, name):
    nb, _ = ran[name]
    cells = nb.cells[1:-1]
    assert all(c.execution_count for c in cells if c.cell_type == "code"), "Run All stopped early"
    for cell in cells:
        for output in cell.get("outputs", []):
            where = cell.metadata.get("nbgrader", {}).get("grade_id") or cell.source[:60]
            if output.output_type == "error":  # a test cell, or a demo that calls an exercise
                assert output.ename == "NotImplementedError" and (is_test_cell(cell) or TAG in cell.metadata.get("tags", [])), \
                    f"{where}: {output.ename}: only the stubs' NotImplementedError may show"
            assert not (output.output_type == "stream" and output.name == "stderr"), \
                f"{where} wrote to stderr: {output.text[:300]}"
    stubs = [c for c in cells if any(o.output_type == "error" for o in c.get("outputs", []))]
    assert all(c in stubs for c in cells if is_test_cell(c)), "every test cell shows its stub's error"


@pytest.mark.slow
@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_figures_have_titles_labels_and_readable_fonts(ran, name):
    _, report = ran[name]
    assert report["figures"] > 0, "no figure was drawn: the checker saw nothing"
    assert not report["problems"], "\n".join(report["problems"])


@pytest.mark.slow
@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_long_cells_show_a_progress_bar(ran, name):
    nb, report = ran[name]
    code = [c for c in nb.cells[1:-1] if c.cell_type == "code"]
    by_first_line = {(c.source.strip().splitlines() or [""])[0][:60]: c for c in code[1:]}  # imports aside
    for first_line, seconds in report["seconds"].items():
        cell = by_first_line.get(first_line)
        if cell is None or seconds < LONG_CELL or is_test_cell(cell):
            continue
        bars = [o for o in cell.outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
                and "tqdm" in cell.source]
        assert bars, f"{first_line!r} ran {seconds:.0f} s with no progress bar (tqdm.auto)"
    progress = [c for c in nb.cells if "tqdm" in c.source]
    for cell in progress:  # where a notebook has one, it is the widget bar of tqdm.auto
        assert "from tqdm.auto import tqdm" in cell.source
        assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in cell.outputs)


# --------------------------------------------------------------------------- widgets, no browser


def builders():
    """Every public function of course.widgets that builds a widget from its defaults alone."""
    found = {}
    for name, fn in vars(course_widgets).items():
        if name.startswith("_") or not inspect.isfunction(fn) or fn.__module__ != course_widgets.__name__:
            continue
        if all(p.default is not p.empty for p in inspect.signature(fn).parameters.values()):
            if isinstance(fn(), widgets.Widget):
                found[name] = fn
    plt.close("all")
    return found


def walk(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from walk(child)


def shown(widget):
    """What the widget shows besides its controls: HTML and images."""
    return [(type(w).__name__, bytes(w.value) if isinstance(w, widgets.Image) else w.value)
            for w in walk(widget) if isinstance(w, (widgets.HTML, widgets.Image))]


def moved(control):
    """Give a control another value: the next option, a step, or a different text."""
    if isinstance(control, (widgets.Dropdown, widgets.Select, widgets.RadioButtons, widgets.ToggleButtons,
                            widgets.SelectionSlider)):
        options = list(control.options)
        control.index = (options.index(control.value) + 1) % len(options)
    elif isinstance(control, (widgets.IntSlider, widgets.FloatSlider)):
        control.value = control.max if control.value != control.max else control.min
    elif isinstance(control, (widgets.Checkbox, widgets.ToggleButton)):
        control.value = not control.value
    elif isinstance(control, (widgets.Text, widgets.Textarea)):
        control.value = "2" if control.value.strip() != "2" else "3"
    else:
        raise AssertionError(f"teach moved() to move a {type(control).__name__}")


def test_course_widgets_are_found():
    assert {"broadcasting_explorer", "memory_explorer"} <= set(builders())


@pytest.mark.parametrize("builder", sorted(builders()))
def test_every_control_of_every_widget_is_labelled_and_moves_the_output(builder):
    widget = builders()[builder]()
    controls = [w for w in walk(widget) if isinstance(w, CONTROLS)]
    assert controls, f"{builder}: a widget with nothing to move"
    for control in controls:
        assert control.description.strip(), f"{builder}: a {type(control).__name__} without a label"
        before = shown(widget)
        moved(control)
        assert shown(widget) != before, f"{builder}: moving {control.description!r} changed nothing"
    plt.close("all")


# --------------------------------------------------------------------------- Korean in figures


def test_figures_can_print_korean():
    name = plots.korean_font()
    if name is None:
        pytest.skip("no font with Hangul on this machine (make setup installs fonts-noto-cjk as root)")
    before = list(plt.rcParams["font.family"])
    try:
        assert plots.use_korean_font() == name and plt.rcParams["font.family"][-1] == name
        assert plots.use_korean_font() == name and plt.rcParams["font.family"].count(name) == 1
        fig, ax = plt.subplots()
        ax.set_title("텐서 (tensor)")
        ax.set_xlabel("차원 0")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fig.canvas.draw()
        assert not [w for w in caught if "missing from font" in str(w.message)], [str(w.message) for w in caught]
    finally:
        plt.rcParams["font.family"] = before
        plt.close("all")


def test_korean_font_is_found_when_matplotlibs_font_cache_predates_it(monkeypatch):
    if plots.korean_font() is None:
        pytest.skip("no font with Hangul on this machine (make setup installs fonts-noto-cjk as root)")
    from matplotlib import font_manager
    stale = [f for f in font_manager.fontManager.ttflist if f.name not in plots.HANGUL_FONTS]
    monkeypatch.setattr(font_manager.fontManager, "ttflist", stale)
    assert plots.korean_font() in plots.HANGUL_FONTS


def test_without_a_hangul_font_use_korean_font_says_how_to_get_one(monkeypatch, capsys):
    monkeypatch.setattr(plots, "korean_font", lambda: None)
    before = list(plt.rcParams["font.family"])
    assert plots.use_korean_font() is None
    assert "fonts-noto-cjk" in capsys.readouterr().out
    assert plt.rcParams["font.family"] == before


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_figures_that_print_korean_set_a_korean_font(name):
    """A code cell whose text puts Hangul in a figure calls use_korean_font() before it."""
    seen_font = False
    for cell in release_nb(name).cells:
        if cell.cell_type != "code":
            continue
        seen_font |= "use_korean_font()" in cell.source
        draws = re.search(r"\b(plot_\w+|set_title|set_xlabel|set_ylabel|suptitle|text)\(", cell.source)
        if draws and HANGUL.search(cell.source):
            assert seen_font, f"{cell.source[:60]!r} draws Korean without course.plots.use_korean_font()"

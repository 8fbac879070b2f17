"""What every tests/test_visible_*.py needs: one source notebook's setup cell, solutions, stubs
and visible tests (its test cells without the hidden block), run as a student's kernel would,
and the checks all of them make of each exercise's visible test."""

import contextlib
import io
import linecache
import re
import warnings

import pytest

from conftest import nbgrader_meta, release_nb, source_nb

HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS\n?", re.S)
# a folded solution of the ungraded practice, in the markdown cell above its code cell
SOLUTION_BLOCK = re.compile(r"<summary>Solution</summary>\s*```python\n(.*?)```", re.S)


class Notebook:
    """The pieces of `source/<name>`. `needs`: {exercise: [sources it builds on]}, run before
    the solution (03's load_from_nn_linear is written in terms of MyLinear)."""

    def __init__(self, name, needs=None):
        self.name = name
        self.nb = source_nb(name)
        self.by_id = {cell.id: cell for cell in self.nb.cells}
        self.setup = next(c.source for c in self.nb.cells if nbgrader_meta(c).get("grade_id") == "setup")
        self.solutions = {nbgrader_meta(c)["grade_id"]: c.source for c in self.nb.cells
                          if nbgrader_meta(c).get("solution")}
        self.stubs = {nbgrader_meta(c)["grade_id"]: c.source for c in release_nb(name).cells
                      if nbgrader_meta(c).get("solution")}
        self.visible = {nbgrader_meta(c)["grade_id"].removeprefix("test_"): HIDDEN.sub("", c.source)
                        for c in self.nb.cells if nbgrader_meta(c).get("grade")}
        self.needs = needs or {}

    def run(self, *sources, warned=None):
        """Execute the setup cell and then `sources` in one fresh namespace; return (stdout,
        namespace). Warnings are recorded, into the list `warned` when given."""
        namespace = {}
        with contextlib.redirect_stdout(io.StringIO()) as out, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                for i, source in enumerate((self.setup, *sources)):
                    filename = f"<cell {i}>"
                    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
                    exec(compile(source, filename, "exec"), namespace)
            finally:
                if warned is not None:
                    warned.extend(str(w.message) for w in caught)
        return out.getvalue(), namespace

    def run_visible(self, exercise, solution):
        return self.run(*self.needs.get(exercise, ()), solution, self.visible[exercise])[0]


def check_tables(notebook, exercises, right, wrong, mentions=(("float64",), "try float64")):
    """Every exercise has a visible test ending in ok(...) that `mentions` one of the given
    words, and correct alternatives and mistakes to try it with."""
    words, what = mentions
    assert set(notebook.visible) == set(notebook.solutions) == set(exercises)
    assert {ex for ex, *_ in wrong} == set(exercises)
    assert {ex for ex, *_ in right} == set(exercises)
    for exercise, visible in notebook.visible.items():
        assert "BEGIN HIDDEN" not in visible and visible.rstrip().endswith(f'ok("{exercise}")')
        assert any(w in visible for w in words), f"{exercise}: the visible test must {what}"


def expect_pass(notebook, exercise, source):
    assert f"✓ {exercise}" in notebook.run_visible(exercise, source)


def expect_mistake(notebook, exercise, source, phrase):
    """The visible test fails on `source`, for the stated reason (`phrase`, or one of a tuple)."""
    with pytest.raises(Exception) as info:  # noqa: PT011  (a CheckError, or the error the mistake causes)
        notebook.run_visible(exercise, source)
    assert not isinstance(info.value, (NameError, SyntaxError, ImportError)), info.value
    phrases = phrase if isinstance(phrase, tuple) else (phrase,)
    assert any(p in str(info.value) for p in phrases), \
        f"{exercise}: failed, but not for the expected reason:\n{type(info.value).__name__}: {info.value}"


def expect_stub_fails(notebook, exercise):
    with pytest.raises(NotImplementedError):
        notebook.run_visible(exercise, notebook.stubs[exercise])

"""The harness of the visible-test files (tests/test_visible_<topic>.py).

`Notebook(name)`: one source notebook's setup cell, solutions, stubs (from the release) and
visible tests (its test cells without the hidden block), run as a student's kernel would
(`run`, `run_visible`), with the instructor's solutions of the exercises one builds on run
first (the contract's `depends`: 03's load_from_nn_linear uses the student's MyLinear).

`visible_tests(globals(), notebook, right=RIGHT, wrong=WRONG)` defines the tests every
visible-test file has, so that a file holds only its tables and its own regressions:

- every declared exercise has a visible test ending in `ok("<id>")` that mentions float64 (or
  what `mentions` asks), and correct alternatives and mistakes to try it with;
- the instructor's solution and each correct alternative (`right`: [(exercise, what, source)])
  pass the visible test;
- each warned-about mistake (`wrong`: [(exercise, what, source, phrase or tuple of phrases)])
  fails it, for the stated reason (not a NameError, SyntaxError or ImportError), with a message
  that holds no line of the solution (tests/giveaway.py);
- the release's stub fails it with NotImplementedError;
- the sample solutions (`samples.solutions`): the source notebook's cells without nbgrader's
  markers and the alternatives pass it, the typical mistake fails it.
"""

import ast
import contextlib
import functools
import io
import linecache
import re
import warnings

import pytest

from autograder.instructor import samples
from autograder.instructor.curriculum import table

from conftest import nbgrader_meta, release_nb, source_nb
from giveaway import given_away

HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS\n?", re.S)
# a folded solution of the ungraded practice, in the markdown cell above its code cell
SOLUTION_BLOCK = re.compile(r"<summary>Solution</summary>\s*```python\n(.*?)```", re.S)


class Notebook:
    """The pieces of `source/<name>`. `needs`: {exercise: [sources it builds on]}, run before
    the solution; by default the instructor's solutions of the exercises the contract says it
    depends on."""

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
        self.exercises = list(table().get(name, {}))
        self.needs = needs if needs is not None else {
            ex: [self.solutions[dep] for dep in entry["depends"]] for ex, entry in table().get(name, {}).items()
            if entry["depends"]}

    @functools.cached_property
    def samples(self):
        """samples.solutions(name): {"RIGHT", "ALTERNATIVE", "WRONG", "WRONG_SAYS"}."""
        return samples.solutions(self.name)

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

    def practice(self, marker="try_puzzle("):
        """The ungraded practice: [(markdown cell id, its folded solution, the first code cell
        after it that calls `marker`, which checks itself)]."""
        found = []
        for i, cell in enumerate(self.nb.cells):
            match = SOLUTION_BLOCK.search(cell.source) if cell.cell_type == "markdown" else None
            if match:
                check = next(c for c in self.nb.cells[i + 1:] if c.cell_type == "code" and marker in c.source)
                found.append((cell.id, match.group(1), check))
        return found


def split_defs(source):
    """A cell's source: (its top-level function definitions, everything else)."""
    tree = ast.parse(source)
    defs = [ast.get_source_segment(source, n) for n in tree.body if isinstance(n, ast.FunctionDef)]
    rest = [ast.get_source_segment(source, n) for n in tree.body if not isinstance(n, ast.FunctionDef)]
    return "\n".join(defs), "\n".join(rest)


def defined_name(source):
    """The name the first statement of `source` defines (a def or a class)."""
    return ast.parse(source).body[0].name


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


def expect_fails(notebook, exercise, source):
    """The visible test fails on `source` (not because the cell does not even run); the error."""
    with pytest.raises(Exception) as info:  # noqa: PT011  (a CheckError, or the error the mistake causes)
        notebook.run_visible(exercise, source)
    assert not isinstance(info.value, (NameError, SyntaxError, ImportError)), info.value
    return info.value


def expect_mistake(notebook, exercise, source, phrase):
    """The visible test fails on `source`, for the stated reason (`phrase`, or one of a tuple)."""
    error = expect_fails(notebook, exercise, source)
    phrases = phrase if isinstance(phrase, tuple) else (phrase,)
    assert any(p in str(error) for p in phrases), \
        f"{exercise}: failed, but not for the expected reason:\n{type(error).__name__}: {error}"
    assert not given_away(str(error), notebook.name), f"{exercise}: the message hands over the solution:\n{error}"


def expect_stub_fails(notebook, exercise):
    with pytest.raises(NotImplementedError):
        notebook.run_visible(exercise, notebook.stubs[exercise])


def visible_tests(namespace, notebook, right, wrong, *, mentions=(("float64",), "try float64")):
    """Define the tests every visible-test file has (see the module docstring) in `namespace`
    (a test module's globals()).

    `right`: [(exercise, what it is, source)]; `wrong`: [(exercise, what the mistake is, source,
    a phrase of the message the visible test must give, or a tuple of phrases, one of which)];
    `mentions`: (words one of which every visible test holds, what that asks of it)."""
    exercises = sorted(notebook.exercises)

    def test_every_exercise_has_a_visible_test_and_mistakes_to_catch():
        check_tables(notebook, notebook.exercises, right, wrong, mentions)

    @pytest.mark.parametrize("exercise", exercises)
    def test_the_instructors_solution_passes_the_visible_test(exercise):
        expect_pass(notebook, exercise, notebook.solutions[exercise])

    @pytest.mark.parametrize("exercise, source", [pytest.param(e, s, id=f"{e}: {w}") for e, w, s in right])
    def test_correct_alternatives_pass_the_visible_test(exercise, source):
        expect_pass(notebook, exercise, source)

    @pytest.mark.parametrize("exercise, source, phrase",
                             [pytest.param(e, s, p, id=f"{e}: {w}") for e, w, s, p in wrong])
    def test_each_warned_about_mistake_fails_the_visible_test(exercise, source, phrase):
        expect_mistake(notebook, exercise, source, phrase)

    @pytest.mark.parametrize("exercise", exercises)
    def test_the_release_stub_fails_the_visible_test(exercise):
        expect_stub_fails(notebook, exercise)

    @pytest.mark.parametrize("exercise", exercises)
    def test_the_sample_right_solution_passes_the_visible_test(exercise):
        """samples.solutions' RIGHT (the source notebook's cell without nbgrader's markers) and
        ALTERNATIVE."""
        for kind in ("RIGHT", "ALTERNATIVE"):
            expect_pass(notebook, exercise, notebook.samples[kind][exercise])

    @pytest.mark.parametrize("exercise", exercises)
    def test_the_sample_wrong_solution_fails_the_visible_test(exercise):
        expect_fails(notebook, exercise, notebook.samples["WRONG"][exercise])

    namespace.update({f.__name__: f for f in (
        test_every_exercise_has_a_visible_test_and_mistakes_to_catch,
        test_the_instructors_solution_passes_the_visible_test, test_correct_alternatives_pass_the_visible_test,
        test_each_warned_about_mistake_fails_the_visible_test, test_the_release_stub_fails_the_visible_test,
        test_the_sample_right_solution_passes_the_visible_test, test_the_sample_wrong_solution_fails_the_visible_test)})


def practice_tests(namespace, notebook, context, marker="try_puzzle("):
    """Define, in `namespace`, the tests of ungraded practice whose self-checking cells start
    with the functions to write: each stub says it is not written yet (without raising), and the
    folded solution passes its check. `context`: sources run first (the practice's setup)."""
    practice = notebook.practice(marker)
    ids = [p[0] for p in practice]

    @pytest.mark.parametrize("cell_id, solution, check", practice, ids=ids)
    def test_the_stub_says_not_written_yet(cell_id, solution, check):
        out, _ = notebook.run(*context, check.source)
        assert out.endswith(f"… {defined_name(check.source)}: not written yet\n")

    @pytest.mark.parametrize("cell_id, solution, check", practice, ids=ids)
    def test_the_folded_solution_passes_the_self_check(cell_id, solution, check):
        defs, calls = split_defs(check.source)
        assert defined_name(solution) == defined_name(defs)
        out, _ = notebook.run(*context, solution, calls)
        assert "✓" in out and "✗" not in out, out

    namespace.update(test_the_stub_says_not_written_yet=test_the_stub_says_not_written_yet,
                     test_the_folded_solution_passes_the_self_check=test_the_folded_solution_passes_the_self_check)
    return practice

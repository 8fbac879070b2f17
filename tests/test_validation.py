"""course.validation, the hooks the student kit sets on nbgrader's Validate: the failing
exercises listed first, one short error per failing test cell, and nothing changed outside
validation (a notebook run in JupyterLab keeps its tracebacks)."""

import nbformat
import pytest

from course import validation


def cell(grade_id, error=None, graded=True):
    c = nbformat.v4.new_code_cell("check()")
    c.metadata["nbgrader"] = {"grade": graded, "grade_id": grade_id, "points": 1}
    if error:
        c.outputs = [nbformat.v4.new_output("error", ename=error[0], evalue=error[1],
                                            traceback=["\x1b[31m---\x1b[39m", "long frame"] * 20)]
    return c


def run(cells):
    validation.start_notebook(notebook=None)
    for index, c in enumerate(cells):
        if c.outputs:
            validation.shorten_failure(cell=c, cell_index=index, execute_reply={})
    return cells


def test_validate_lists_the_failing_exercises_first_and_one_line_each(monkeypatch):
    monkeypatch.setenv("NBGRADER_VALIDATING", "1")
    cells = run([cell("test_a", ("NotImplementedError", "")), cell("test_b"),
                 cell("demo", ("ValueError", "x"), graded=False),
                 cell("test_c", ("AssertionError", "c(x): expected 1, got 2"))])
    first = cells[0].outputs
    assert first[0].output_type == "stream"
    assert first[0].text.splitlines()[0] == "Not passing yet (2): a, c"
    assert first[1].traceback == ["NotImplementedError: not solved yet (the function still raises NotImplementedError)"]
    assert cells[3].outputs[0].traceback == ["AssertionError: c(x): expected 1, got 2"]
    assert len(cells[2].outputs[0].traceback) == 40, "an ungraded cell is not Validate's: left alone"
    again = run([cell("test_z", ("NotImplementedError", ""))])  # the next notebook starts afresh
    assert again[0].outputs[0].text.splitlines()[0] == "Not passing yet (1): z"


@pytest.mark.parametrize("env", [None, ""])
def test_outside_validation_nothing_changes(monkeypatch, env):
    monkeypatch.delenv("NBGRADER_VALIDATING", raising=False)
    if env is not None:
        monkeypatch.setenv("NBGRADER_VALIDATING", env)
    cells = run([cell("test_a", ("NotImplementedError", ""))])
    assert len(cells[0].outputs) == 1 and len(cells[0].outputs[0].traceback) == 40

"""Grades first, feedback after: the grade command fills the gradebook from the judge's verdicts
without running a notebook; the feedback run is its own step and never changes a score.

The autograded notebook keeps the student's own outputs, read as untrusted data; the test
cells, which nbgrader scores, show only their verdicts; the feedback says which is which.
"""

import json

import nbformat
import pytest
from nbgrader.api import Gradebook

from autograder.instructor import samples
from autograder.instructor.engine import unjudged
from autograder.instructor.grading import grade
from autograder.instructor.nbgrader_api import make_api
from autograder.instructor.outputs import RUN, SUBMITTED, apply_run, graded_test_cells, keep_submitted
from autograder.instructor.preprocessors.label_outputs import LabelOutputs, label
from autograder.instructor.rerun import run_feedback
from autograder.protocol.messages import CellResult, NotebookDone

from conftest import copy_course, release_nb

A = samples.ASSIGNMENT


def code_cell(source, outputs=(), cell_id=None, **nbgrader):
    cell = nbformat.v4.new_code_cell(source)
    cell.outputs = [nbformat.from_dict(o) for o in outputs]
    if cell_id:
        cell.id = cell_id
    if nbgrader:
        cell.metadata["nbgrader"] = nbgrader
    return cell


def stdout(text):
    return {"output_type": "stream", "name": "stdout", "text": text}


def handed_in(tmp_path, cells):
    nb = nbformat.v4.new_notebook(cells=cells)
    path = tmp_path / "handed_in.ipynb"
    nbformat.write(nb, str(path))
    return path


def cleared(cells):
    """The notebook as nbgrader's sanitize step leaves it: same cells, outputs cleared."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.from_dict(json.loads(json.dumps(c))) for c in cells])
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nb


# -- the student's outputs, read as untrusted data ------------------------------------------------

def test_the_students_own_outputs_are_kept_but_never_in_a_test_cell(tmp_path):
    cells = [code_cell("print('demo')", [stdout("my demo\n")], "demo"),
             code_cell("def f(): ...", [stdout("solved\n")], "sol", solution=True, grade=False, grade_id="f"),
             code_cell("assert f()", [stdout("✓ f: the hidden tests passed.\n"),
                                      {"output_type": "execute_result", "data": {"text/plain": "10.0"},
                                       "metadata": {}, "execution_count": 3}],
                       "test", grade=True, solution=False, grade_id="test_f", points=10)]
    nb = cleared(cells)
    nb.cells[2].metadata["autograder"] = {"status": "pass"}  # forged by the student
    assert keep_submitted(nb, handed_in(tmp_path, cells), 10_000) == []
    assert nb.cells[0].outputs == [stdout("my demo\n")] and nb.cells[1].outputs == [stdout("solved\n")]
    assert nb.cells[2].outputs == [], "a forged test-cell output would be scored by nbgrader"
    assert "autograder" not in nb.cells[2].metadata
    assert nb.metadata.autograder["outputs"] == SUBMITTED


def test_malformed_oversized_and_ambiguous_outputs_are_not_trusted(tmp_path):
    big = "x" * 5_000
    raw = {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [
        {"cell_type": "code", "id": "a", "source": "", "metadata": {}, "execution_count": "7",
         "outputs": [{"text": "no type"}, stdout("fine\n"), {"output_type": "error", "ename": 1}, "text"]},
        {"cell_type": "code", "id": "b", "source": "", "metadata": {}, "execution_count": 2,
         "outputs": [stdout(big), stdout(big), stdout(big)]},
        {"cell_type": "code", "id": "c", "source": "", "metadata": {}, "execution_count": 1,
         "outputs": [stdout("first\n")]},
        {"cell_type": "code", "id": "c", "source": "", "metadata": {}, "execution_count": 1,
         "outputs": [stdout("second\n")]}]}
    path = tmp_path / "raw.ipynb"
    path.write_text(json.dumps(raw))
    nb = cleared([code_cell("", cell_id=i) for i in "abcd"])
    violations = keep_submitted(nb, path, 12_000)
    assert violations == ["3 malformed outputs in the submitted notebook dropped"]
    assert nb.cells[0].outputs == [stdout("fine\n")] and nb.cells[0].execution_count is None
    assert len(nb.cells[1].outputs) == 3 and "output trimmed" in nb.cells[1].outputs[2].text
    assert nb.cells[2].outputs == [] and nb.cells[3].outputs == []  # which cell "c" was is unknowable
    nb = cleared([code_cell("", cell_id="a")])
    (tmp_path / "junk.ipynb").write_bytes(b"\xff{ not a notebook")
    assert keep_submitted(nb, tmp_path / "junk.ipynb", 12_000) == [] and nb.cells[0].outputs == []


def test_the_feedback_run_fills_every_cell_but_the_test_cells():
    nb = cleared([code_cell("print(1)", cell_id="a"),
                  code_cell("assert f()", cell_id="t", grade=True, solution=False, grade_id="test_f", points=1),
                  code_cell("print(2)", cell_id="b"), code_cell("print(3)", cell_id="c")])
    nb.cells[1].outputs = [nbformat.from_dict(stdout("✓ f: the hidden tests passed.\n"))]
    run = NotebookDone("k", {0: CellResult([stdout("1\n")], 1), 1: CellResult([stdout("forged\n")], 2)}, stuck=2)
    apply_run(nb, run)
    assert nb.cells[0].outputs == [stdout("1\n")]
    assert nb.cells[1].outputs == [stdout("✓ f: the hidden tests passed.\n")]
    assert nb.cells[2].outputs[0].ename == "KernelDied" and nb.cells[3].outputs[0].ename == "NotRun"
    assert nb.metadata.autograder["outputs"] == RUN and graded_test_cells(nb) == {1}


def test_a_test_cell_of_no_known_exercise_scores_nothing_without_a_run():
    nb = cleared([code_cell("assert True", cell_id="t", grade=True, solution=False, grade_id="test_mystery", points=1)])
    unjudged(nb)
    assert nb.cells[0].outputs[0].ename == "NotJudged" and "test_mystery" in nb.cells[0].outputs[0].evalue


def test_the_feedback_says_where_its_outputs_come_from():
    notes = {}
    for source in (SUBMITTED, RUN, None):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x")])
        if source:
            nb.metadata["autograder"] = {"outputs": source}
        nb, _ = LabelOutputs().preprocess(nb, {})
        assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source == label(nb) and len(nb.cells) == 2
        notes[source] = nb.cells[0].source
    assert "**your own**" in notes[SUBMITTED] and "did not run" in notes[SUBMITTED]
    assert "never changed your grade" in notes[RUN] and "your own" not in notes[RUN]
    assert len(set(notes.values())) == 3


# -- the grade command, end to end ----------------------------------------------------------------

TOP = "print('this cell ran in the grader')"
WRONG_TESTS_FORGED = {"output_type": "stream", "name": "stdout", "text": "✓ the hidden tests passed.\n"}


def submission(code, top_output, forged_tests=()):
    """A lean notebook with a top cell whose handed-in output is `top_output`, and test cells whose
    handed-in outputs are `forged_tests`."""
    nb = samples.notebook(release_nb(A), code, at_top=[TOP], lean=True)
    nb.cells[0].outputs = [nbformat.from_dict(stdout(top_output))]
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            cell.outputs = [nbformat.from_dict(o) for o in forged_tests]
    return nb


def scores(course, students):
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {s: sorted((g.name, g.score, g.max_score) for g in gb.find_submission_notebook(A, A, s).grades)
                for s in students}


def top_output(course, student):
    nb = nbformat.read(str(course / "autograded" / student / A / f"{A}.ipynb"), as_version=4)
    return "".join(o.get("text", "") for o in nb.cells[0].outputs), nb.metadata.autograder


@pytest.mark.slow
def test_grades_come_from_the_verdicts_and_the_feedback_run_changes_none(tmp_path):
    course = copy_course(tmp_path / "course")
    sols = samples.solutions()
    forged_error = {"output_type": "error", "ename": "AssertionError", "evalue": "", "traceback": []}
    students = {
        "ada": submission(sols["RIGHT"], "what ada saw\n", [forged_error]),      # right, forged failures
        "eve": submission(sols["WRONG"], "what eve saw\n", [WRONG_TESTS_FORGED,  # wrong, forged passes
                                                            {"output_type": "execute_result", "metadata": {},
                                                             "data": {"text/plain": "10.0"}, "execution_count": 9}]),
    }
    for student, nb in students.items():
        folder = course / "submitted" / student / A
        folder.mkdir(parents=True)
        nbformat.write(nb, str(folder / f"{A}.ipynb"))
    outcomes = grade(course, A, workers=2, notebook_timeout=300, progress=False)
    assert all(o.status == "graded" for o in outcomes.values()), outcomes
    graded = scores(course, students)
    assert all(score == most for _, score, most in graded["ada"]), graded["ada"]
    assert sum(score for _, score, _ in graded["eve"]) == 0, "forged passing outputs in test cells were scored"
    text, meta = top_output(course, "ada")
    assert text == "what ada saw\n" and meta["outputs"] == SUBMITTED, "the grade command ran the notebook"

    api = make_api(course)
    assert api.generate_feedback(A, student_id="ada", force=True).get("success")
    page = (course / "feedback" / "ada" / A / f"{A}.html").read_text()
    assert "Where the outputs below come from" in page and "your own" in page and "what ada saw" in page

    ran = run_feedback(course, A, workers=2, notebook_timeout=300, progress=False)
    assert {s: r.status for s, r in ran.items()} == {"ada": "run", "eve": "run"}, ran
    assert scores(course, students) == graded
    text, meta = top_output(course, "ada")
    assert text == "this cell ran in the grader\n" and meta["outputs"] == RUN
    assert api.generate_feedback(A, student_id="eve", force=True).get("success")
    page = (course / "feedback" / "eve" / A / f"{A}.html").read_text()
    assert "never changed your grade" in page and "Likely mistake" in page
    assert scores(course, students) == graded

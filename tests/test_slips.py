"""A student's structural slips cost only what they break (issue 27, items 2 and 3).

One student per slip (tests/slips.py): a copied test cell, a flag flipped in the Create
Assignment sidebar, other metadata edited, test cells reordered, a test cell's or a solution
cell's metadata stripped, a solution written in a new cell, and a student forging metadata.
Before `RestoreStructure` the first three zeroed the whole notebook (KeyError: 'grade_id',
Inconsistent checksums) and the solution ones scored 0. Fast tests run the preprocessor on
in-memory notebooks; one grading run per engine (the grade command, plain `nbgrader
autograde`) checks the scores end to end.
"""

import json

import nbformat
import pytest
import slips
from nbgrader.api import Gradebook

from autograder.instructor.curriculum import exercise_of
from autograder.instructor.preprocessors.restore_structure import Expected, RestoreStructure, defines, repairs_of, restore
from autograder.instructor.preprocessors.show_repairs import ShowRepairs
from autograder.instructor.verdicts import build_job, nbgrader_meta

from conftest import CURRICULUM, copy_course, nbgrader, release_nb, source_nb

A = slips.A
EXERCISES = list(CURRICULUM[A])
RIGHT = slips.samples.solutions(A)["RIGHT"]


def expected_from_notebooks():
    """The instructor's cells as the gradebook holds them: tests with their hidden part (source/),
    solution cells as released (the stub)."""
    released = {nbgrader_meta(c)["grade_id"]: c for c in release_nb(A).cells if nbgrader_meta(c)}
    found = []
    for cell in source_nb(A).cells:
        meta = nbgrader_meta(cell)
        if not meta:
            continue
        meta = {k: meta[k] for k in ("grade", "grade_id", "locked", "schema_version", "solution", "task")}
        meta["checksum"] = "c" * 32
        if meta["grade"]:
            meta["points"] = 2.0
        source = released[meta["grade_id"]].source if meta["solution"] else cell.source
        found.append(Expected(meta["grade_id"], cell.cell_type, source, meta))
    return found


EXPECTED = expected_from_notebooks()


def repaired(student):
    nb = slips.class_of(release_nb(A))[student]
    return nb, restore(nb, EXPECTED)


def structure(nb):
    """[(grade_id, nbgrader metadata)] of every nbgrader cell."""
    return [(nbgrader_meta(c)["grade_id"], nbgrader_meta(c)) for c in nb.cells if nbgrader_meta(c)]


def check_instructor_cells(nb):
    """Every instructor cell exactly once, with the instructor's metadata, and for locked cells
    the instructor's source."""
    found = structure(nb)
    assert sorted(g for g, _ in found) == sorted(e.name for e in EXPECTED)
    by_name = {e.name: e for e in EXPECTED}
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if meta:
            want = by_name[meta["grade_id"]]
            assert {k: v for k, v in meta.items() if k != "cell_type"} == want.meta
            if want.meta["locked"]:
                assert cell.source.endswith(want.source)


@pytest.mark.parametrize("student", list(slips.SLIPS))
def test_every_slip_leaves_one_instructor_cell_each(student):
    nb, _ = repaired(student)
    check_instructor_cells(nb)
    nbformat.validate(nb)


@pytest.mark.parametrize("student", ["dup_test", "grade_false", "flags_changed", "reordered",
                                     "test_stripped", "solution_stripped", "test_deleted", "solution_moved",
                                     "unsolved_deleted"])
def test_the_judge_gets_every_solution_the_student_wrote(student):
    nb, found = repaired(student)
    jobs, known = build_job(nb, A, {A: {ex: {"signature": "", "depends": []} for ex in EXERCISES}})
    assert not known and set(jobs) == set(EXERCISES)
    for ex in EXERCISES:
        code = dict(jobs[ex].solutions)[ex]
        assert (code.strip() == RIGHT[ex].strip()) == (ex != slips.UNSOLVED), ex
    if student != "reordered":
        assert found, "the repair must be said"


def test_a_deleted_solution_cell_comes_back_as_the_stub_and_is_named():
    nb, found = repaired("unsolved_deleted")
    assert any(slips.UNSOLVED in r and "missing" in r for r in found), found
    stub = next(c for c in nb.cells if nbgrader_meta(c).get("grade_id") == slips.UNSOLVED)
    assert "NotImplementedError" in stub.source


def test_a_moved_solution_is_named_in_the_repairs():
    for student in ("solution_moved", "solution_stripped"):
        _, found = repaired(student)
        assert any("row_normalize" in r and "solution" in r for r in found), found


def test_a_flipped_flag_and_a_copy_are_named_in_the_repairs():
    assert any("test_row_normalize" in r and "restored" in r for r in repaired("grade_false")[1])
    assert any("test_row_normalize appeared 2 times" in r for r in repaired("dup_test")[1])


def test_forged_metadata_earns_nothing():
    nb, found = repaired("hostile")
    check_instructor_cells(nb)
    jobs, known = build_job(nb, A, {A: {ex: {"signature": "", "depends": []} for ex in EXERCISES}})
    stub = dict(jobs["max_per_row"].solutions)["max_per_row"]
    assert "NotImplementedError" in stub and "not_max_per_row" not in stub
    assert not any("test_bonus" in json.dumps(c.metadata) for c in nb.cells)
    assert all(c.source != "pass" for c in nb.cells if nbgrader_meta(c).get("grade"))
    assert not any("<script>" in r or "test_bonus" in r for r in found)


def test_a_solution_cell_claimed_by_a_cell_that_does_not_define_it_is_not_stolen():
    """A cell that defines row_normalize but claims max_per_row's grade_id keeps neither
    claim for free: max_per_row is judged on its own (stub) cell."""
    nb = slips.base(release_nb(A))
    i = slips.index_of(nb, "max_per_row")
    nb.cells[i].source = slips.samples.notebook(release_nb(A), {}, lean=True).cells[i].source
    forged = nbformat.v4.new_code_cell(RIGHT["row_normalize"])
    forged.metadata["nbgrader"] = dict(nb.cells[i].metadata.nbgrader)
    nb.cells.append(forged)
    restore(nb, EXPECTED)
    jobs, _ = build_job(nb, A, {A: {ex: {"signature": "", "depends": []} for ex in EXERCISES}})
    assert "NotImplementedError" in dict(jobs["max_per_row"].solutions)["max_per_row"]


def test_last_definition_wins_and_a_stub_is_not_a_definition():
    stub = 'def f(x):\n    """Doc."""\n    # YOUR CODE HERE\n    raise NotImplementedError()'
    assert not defines(stub, "f")
    assert defines("def f(x):\n    return x", "f")
    assert not defines("def f(x):\n    return x\n" + stub, "f")
    assert defines(stub + "\ndef f(x):\n    return x", "f")
    assert not defines("class F:\n    def forward(self):\n        raise NotImplementedError", "F")
    assert defines("class F:\n    def forward(self):\n        return 1", "F")
    assert not defines("def f(:", "f") and not defines("f = lambda x: x", "f")


def test_the_feedback_lists_the_repairs_escaped_after_the_label():
    nb = nbformat.v4.new_notebook()
    label = nbformat.v4.new_markdown_cell("label")
    label.metadata["autograder"] = {"label": True}
    nb.cells = [label, nbformat.v4.new_code_cell("x = 1")]
    nb.metadata["autograder"] = {"repairs": ["Your solution to <b>f</b> was found elsewhere."]}
    nb, _ = ShowRepairs().preprocess(nb, {})
    assert nb.cells[0] is label and "&lt;b&gt;f&lt;/b&gt;" in nb.cells[1].source
    plain = nbformat.v4.new_notebook()
    assert ShowRepairs().preprocess(plain, {})[0].cells == []


def test_the_submissions_own_repairs_are_never_trusted(tmp_path):
    """A notebook the gradebook does not know is left to nbgrader, minus its forged claims."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["autograder"] = {"repairs": ["forged"]}
    db = f"sqlite:///{tmp_path / 'gradebook.db'}"
    Gradebook(db).close()
    resources = {"nbgrader": {"db_url": db, "assignment": A, "notebook": A, "student": "s"}}
    nb, _ = RestoreStructure().preprocess(nb, resources)
    assert repairs_of(nb) == []


# --- end to end: one run per engine over the class of slips ---------------------------------

LIMITS = "\nc.SafeExecute.timeout = 30\nc.VerifyExercises.time_limit = 30\n"


def slip_course(path):
    course = copy_course(path / "course")
    with open(course / "nbgrader_config.py", "a") as f:
        f.write(LIMITS)
    release = nbformat.read(str(course / "release" / A / f"{A}.ipynb"), as_version=4)
    for student, nb in slips.class_of(release).items():
        folder = course / "submitted" / student / A
        folder.mkdir(parents=True)
        nbformat.write(nb, str(folder / f"{A}.ipynb"))
    return course


def check_scores(course):
    problems = []
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student in slips.SLIPS:
            nb = gb.find_submission_notebook(A, A, student)
            got = {}
            for g in nb.grades:
                ex = exercise_of(g.name, A)
                assert ex, f"{student}: a grade {g.name!r} the assignment does not have"
                got[ex] = got.get(ex, 0) + (g.score or 0)
            if got != slips.expected(student, EXERCISES):
                problems.append(f"{student}: {got}")
            assert nb.max_score == 2 * len(EXERCISES)
    assert not problems, "\n".join(problems)


@pytest.mark.slow
def test_slips_cost_only_what_they_break_under_the_grade_command(tmp_path):
    from autograder.instructor.grading import grade
    from autograder.instructor.nbgrader_api import make_api
    course = slip_course(tmp_path)
    outcomes = grade(course, A, workers=2, notebook_timeout=300, progress=False)
    assert {s: o.status for s, o in outcomes.items()} == {s: "graded" for s in slips.SLIPS}, \
        {s: o.reason for s, o in outcomes.items()}
    check_scores(course)
    assert make_api(course).generate_feedback(A, force=True)["success"]
    for student in slips.SLIPS:  # the repairs shown, nothing of the hidden tests, nothing forged
        html = (course / "feedback" / student / A / f"{A}.html").read_text()
        assert "BEGIN HIDDEN TESTS" not in html and 'hidden_tests("' not in html, student
        assert ("What the grader repaired" in html) == (student != "reordered"), student
    html = (course / "feedback" / "solution_moved" / A / f"{A}.html").read_text()
    assert "row_normalize was found in a cell" in html
    html = (course / "feedback" / "hostile" / A / f"{A}.html").read_text()
    assert "you get full marks" not in html and "test_bonus" not in html.split("What the grader repaired")[1][:2000]
    from autograder.instructor.report import build_report
    report = build_report(course, A, tmp_path / "report").read_text()
    repaired = report.split("## Structural slips repaired")[1].split("##")[0]
    assert "| solution_moved | 01_tensor_ops |" in repaired and "| reordered |" not in repaired


@pytest.mark.slow
def test_slips_cost_only_what_they_break_under_plain_nbgrader(tmp_path):
    course = slip_course(tmp_path)
    nbgrader("generate_assignment", A, "--force", cwd=course)
    nbgrader("autograde", A, "--force", cwd=course, timeout=1800)
    check_scores(course)
    nb = nbformat.read(str(course / "autograded" / "dup_test" / A / f"{A}.ipynb"), as_version=4)
    assert repairs_of(nb) and "test_row_normalize" in repairs_of(nb)[0]


def test_an_untouched_submission_is_left_as_it_was():
    release = release_nb(A)
    nb = slips.samples.notebook(release, RIGHT)
    before = json.loads(json.dumps(nb))
    assert restore(nb, EXPECTED) == []
    drop = ("checksum", "cell_type")
    for old, new in zip(before["cells"], nb.cells, strict=True):
        assert old.get("id") == new.get("id")
        if not nbgrader_meta(new).get("locked"):  # locked cells get the instructor's, as OverwriteCells does
            assert old["source"] == new.source
        assert {k: v for k, v in old["metadata"].get("nbgrader", {}).items() if k not in drop} == \
            {k: v for k, v in nbgrader_meta(new).items() if k not in drop}


def test_a_stripped_stub_is_graded_as_the_stub_it_is():
    nb = slips.samples.notebook(release_nb(A), {})
    del nb.cells[slips.index_of(nb, "row_normalize")].metadata["nbgrader"]
    found = restore(nb, EXPECTED)
    jobs, known = build_job(nb, A, {A: {ex: {"signature": "", "depends": []} for ex in EXERCISES}})
    assert "row_normalize" in jobs and any("row_normalize" in r for r in found)


def test_malformed_cells_are_repaired_not_fatal():
    nb = nbformat.from_dict({"cells": [{"cell_type": "code", "metadata": "x", "source": ["def row_normalize(x):\n",
                                                                                      "    return x\n"]},
                                       {"metadata": {"nbgrader": "junk"}}],
                             "metadata": {}, "nbformat": 4, "nbformat_minor": 4})
    found = restore(nb, EXPECTED)
    # every instructor cell there: the one solution the notebook defines found, the others'
    # stubs and every test and read-only cell put back
    assert sorted(g for g, _ in structure(nb)) == sorted(e.name for e in EXPECTED)
    mine = next(c for c in nb.cells if nbgrader_meta(c).get("grade_id") == "row_normalize")
    assert "return x" in "".join(mine.source)
    assert all("id" not in c for c in nb.cells)  # nbformat 4.4 has no cell ids
    assert found

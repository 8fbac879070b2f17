"""The structural slips a student makes in JupyterLab, one notebook each (issue 27, items 2-3).

Every slip student solved every exercise of 01_tensor_ops but `batch_flatten` (left as the
stub), so a grade that ignores the slip shows: each must score 2 on the four solved exercises
and 0 on batch_flatten. `hostile` instead forges nbgrader metadata and must gain nothing.
"""

import copy
import json

import nbformat

from autograder.instructor import samples

A = samples.ASSIGNMENT
UNSOLVED = "batch_flatten"


def meta(cell):
    return cell.metadata.get("nbgrader", {})


def index_of(nb, grade_id):
    return next(i for i, c in enumerate(nb.cells) if meta(c).get("grade_id") == grade_id)


def base(release):
    """The release with every solution but UNSOLVED's written in its cell (no prose)."""
    right = {ex: src for ex, src in samples.solutions(A)["RIGHT"].items() if ex != UNSOLVED}
    return samples.notebook(release, right, lean=True)


def duplicated_test(nb):
    """A copy/paste of test_row_normalize right below it (same metadata, a new cell id)."""
    i = index_of(nb, "test_row_normalize")
    twin = copy.deepcopy(nb.cells[i])
    twin.id = "pasted-copy"
    nb.cells.insert(i + 1, twin)
    return nb


def grade_false(nb):
    """The Create Assignment sidebar's "Autograder tests" flipped off on one test cell."""
    nb.cells[index_of(nb, "test_row_normalize")].metadata.nbgrader["grade"] = False
    return nb


def flags_changed(nb):
    """Other nbgrader metadata edited: points, locked, solution flag, schema, checksum."""
    m = nb.cells[index_of(nb, "test_outer_sum")].metadata.nbgrader
    m.update(points=20, locked=False, schema_version=1, checksum="0" * 32)
    nb.cells[index_of(nb, "test_max_per_row")].metadata.nbgrader["solution"] = True
    return nb


def reordered(nb):
    """Test cells moved: test_outer_sum to the top, test_row_normalize to the end."""
    outer = nb.cells.pop(index_of(nb, "test_outer_sum"))
    nb.cells.insert(0, outer)
    nb.cells.append(nb.cells.pop(index_of(nb, "test_row_normalize")))
    return nb


def test_cell_stripped(nb):
    """A test cell's nbgrader metadata removed (the visible test stays, as a plain cell)."""
    del nb.cells[index_of(nb, "test_row_normalize")].metadata["nbgrader"]
    return nb


def solution_stripped(nb):
    """A (correct) solution cell's nbgrader metadata removed."""
    del nb.cells[index_of(nb, "row_normalize")].metadata["nbgrader"]
    return nb


def deleted_test(nb):
    """test_row_normalize deleted, and its solution cell's metadata stripped (nbgrader's own
    put-back then looked for the solution cell: KeyError)."""
    del nb.cells[index_of(nb, "row_normalize")].metadata["nbgrader"]
    del nb.cells[index_of(nb, "test_row_normalize")]
    return nb


def unsolved_deleted(nb):
    """The unsolved exercise's solution cell (the stub) deleted outright (nbgrader's own
    put-back then failed on the whole notebook: KeyError)."""
    del nb.cells[index_of(nb, UNSOLVED)]
    return nb


def solution_moved(nb):
    """The stub left in the solution cell, the correct solution written in a new cell below."""
    i = index_of(nb, "row_normalize")
    moved = nbformat.v4.new_code_cell(nb.cells[i].source)
    moved.id = "my-own-cell"
    release_stub = samples.notebook(RELEASE[0], {}, lean=True).cells[i].source
    nb.cells[i].source = release_stub
    nb.cells.insert(i + 1, moved)
    return nb


def hostile(nb):
    """Forged metadata: the max_per_row stub stays in its cell, but a second cell claims
    max_per_row's grade_id holding row_normalize's code, a test cell of the student's own
    claims 50 points, and a copy of test_outer_sum claims to be a solution and holds `pass`."""
    i = index_of(nb, "max_per_row")
    nb.cells[i].source = samples.notebook(RELEASE[0], {}, lean=True).cells[i].source
    forged = nbformat.v4.new_code_cell(samples.solutions(A)["RIGHT"]["row_normalize"].replace(
        "def row_normalize", "def not_max_per_row"))
    forged.metadata["nbgrader"] = copy.deepcopy(nb.cells[i].metadata.nbgrader)
    bonus = nbformat.v4.new_code_cell("print('free points')")
    bonus.metadata["nbgrader"] = {"grade": True, "grade_id": "test_bonus", "locked": True, "points": 50,
                                  "schema_version": 3, "solution": False, "task": False}
    fake = copy.deepcopy(nb.cells[index_of(nb, "test_outer_sum")])
    fake.source = "pass"
    fake.metadata.nbgrader.update(solution=True, locked=False)
    fake.id = "fake-test"
    nb.cells[i + 1:i + 1] = [forged, bonus, fake]
    nb.metadata["autograder"] = {"repairs": ["<script>alert(1)</script> you get full marks"]}
    return nb


SLIPS = {"dup_test": duplicated_test, "grade_false": grade_false, "flags_changed": flags_changed,
         "reordered": reordered, "test_stripped": test_cell_stripped, "solution_stripped": solution_stripped,
         "test_deleted": deleted_test, "unsolved_deleted": unsolved_deleted,
         "solution_moved": solution_moved, "hostile": hostile}
RELEASE = []  # the release notebook, set by `class_of`


def expected(student, exercises):
    """{exercise: points} each slip student must get."""
    want = {ex: 2.0 for ex in exercises}
    want[UNSOLVED] = 0.0
    if student == "hostile":
        want["max_per_row"] = 0.0
    return want


def class_of(release):
    """{student: notebook} for every slip."""
    RELEASE[:] = [release]
    return {name: slip(nbformat.from_dict(json.loads(json.dumps(base(release))))) for name, slip in SLIPS.items()}

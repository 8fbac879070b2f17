"""End to end through real `nbgrader autograde`, in a throwaway copy of the course.

For every assignment: the instructor's solutions get full marks, the untouched release gets
zero on every exercise (lean notebooks: the nbgrader cells alone). For 01_tensor_ops, also a partly right submission and submissions that
cheat (patching torch.allclose, editing or deleting test cells) on wrong answers.
"""

import json

import nbformat
import pytest
from nbgrader.api import Gradebook

from conftest import ASSIGNMENTS, CURRICULUM, copy_course, nbgrader, nbgrader_meta, release_nb, source_nb

pytestmark = pytest.mark.slow

from autograder.instructor import samples  # noqa: E402

RIGHT_01, WRONG_01 = samples.solutions()["ALTERNATIVE"], samples.solutions()["WRONG"]
PATCH_ALLCLOSE = samples.attacks()["COMPARISON_PATCHES"]


def lean(nb):
    """A copy of `nb` with only its nbgrader cells (setup, solutions, tests): the grading is what
    is tested here; every notebook's prose and demos run in test_notebooks, test_notebook_habits
    and the browser tests."""
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    nb.cells = [c for c in nb.cells if nbgrader_meta(c)]
    return nb


def with_solutions(nb, code):
    """A lean copy of `nb` whose solution cells hold `code[grade_id]` (others left as they are)."""
    nb = lean(nb)
    for cell in nb.cells:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if nbgrader_meta(cell).get("solution") and grade_id in code:
            cell.source = code[grade_id]
    return nb


def submissions(name):
    """Student id -> (notebook, expected score per exercise id)."""
    exercises = list(CURRICULUM[name])
    full = {ex: "full" for ex in exercises}
    zero = {ex: 0 for ex in exercises}
    subs = {"solutions": (lean(source_nb(name)), full), "untouched": (lean(release_nb(name)), zero)}
    if name != "01_tensor_ops":
        return subs
    release = release_nb(name)
    half = {k: (RIGHT_01 if i % 2 == 0 else WRONG_01)[k] for i, k in enumerate(exercises)}
    subs["alternatives"] = (with_solutions(release, RIGHT_01), full)
    subs["partly_right"] = (with_solutions(release, half),
                            {k: ("full" if i % 2 == 0 else 0) for i, k in enumerate(exercises)})

    cheat = with_solutions(release, WRONG_01)
    cheat.cells.insert(0, nbformat.v4.new_code_cell(PATCH_ALLCLOSE))
    subs["patches_allclose"] = (cheat, zero)

    edited = with_solutions(release, WRONG_01)
    for cell in edited.cells:
        if nbgrader_meta(cell).get("grade"):
            cell.source = "pass"
    subs["edits_tests"] = (edited, zero)

    deleted = with_solutions(release, WRONG_01)
    deleted.cells = [c for c in deleted.cells if not nbgrader_meta(c).get("grade")]
    subs["deletes_tests"] = (deleted, zero)
    return subs


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_autograde_end_to_end(name, tmp_path):
    course = copy_course(tmp_path)
    with open(course / "nbgrader_config.py", "a") as f:  # a kernel the patches break stops sooner
        f.write("\nc.SafeExecute.timeout = 20\nc.VerifyExercises.time_limit = 20\n")
    nbgrader("generate_assignment", name, "--force", cwd=course)
    subs = submissions(name)
    for student, (nb, _) in subs.items():
        folder = course / "submitted" / student / name
        folder.mkdir(parents=True)
        nbformat.write(nb, str(folder / f"{name}.ipynb"))
    nbgrader("autograde", name, "--force", cwd=course)

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student, (_, expected) in subs.items():
            graded = gb.find_submission_notebook(name, name, student)
            scores = {g.name: (g.score, g.max_score) for g in graded.grades}
            for ex_id, want in expected.items():
                cells = {k: v for k, v in scores.items() if k.startswith(f"test_{ex_id}")}
                got = sum(s for s, _ in cells.values())
                best = sum(m for _, m in cells.values())
                target = best if want == "full" else want
                assert got == target, f"{student}: {ex_id} scored {got}/{best}, expected {target}"

    # the feedback a student sees names the mistake
    partly = nbformat.read(str(course / "autograded" / "partly_right" / name / f"{name}.ipynb"), 4) \
        if name == "01_tensor_ops" else None
    if partly is not None:
        outputs = {nbgrader_meta(c).get("grade_id"): c.outputs for c in partly.cells if c.cell_type == "code"}
        errors = [o for o in outputs["test_outer_sum"] if o.output_type == "error"]
        assert errors and "transposed" in "\n".join(errors[0].traceback)

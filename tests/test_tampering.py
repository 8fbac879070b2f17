"""The tampering gallery: every attack in samples/attacks.py, on every declared exercise.

For each assignment the judge declares, one class is graded in one run: a student per attack
(the attack in every solution cell, or beside the untouched stubs), and two honest students.
Every attacker must get zero on every exercise, every honest student full marks, and nothing
of any student may be left running. A new exercise is covered as soon as it is declared.

Both engines: the whole gallery under the grade command; under plain `nbgrader autograde`
(the course's preprocessors, one warm judge for the run), the attacks made elsewhere in the
notebook and a rotation of the others, so that every attack runs under both.
"""

import os

import nbformat
import pytest
from nbgrader.api import Gradebook

from autograder.instructor import isolation, samples
from autograder.instructor.grading import grade
from autograder.instructor.rerun import run_feedback
from autograder.instructor.sandbox import bwrap_works

from conftest import ASSIGNMENTS, CURRICULUM, copy_course, nbgrader

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (bwrap_works() and os.geteuid() == 0),
                       reason="the attacks (kill(-1), fork bombs) are only safe with the sandbox and a uid per student"),
]

ATTACKS = samples.attacks()
SOLUTION_ATTACKS = list(ATTACKS["SOLUTION_ATTACKS"])
ELSEWHERE_ATTACKS = list(ATTACKS["ELSEWHERE_ATTACKS"])
# A check has seconds here, not the minute it has in production: the attacks that hang cost that
# much each. 6 s leaves the costliest honest check (09's train_epoch, about 1.5 s alone, which
# waits on its judge's reference loops) room on a loaded 2-core machine.
LIMITS = "\nc.SafeExecute.timeout = 5\nc.VerifyExercises.time_limit = 6\n"


def build_class(course, assignment, attackers):
    release = nbformat.read(str(course / "release" / assignment / f"{assignment}.ipynb"), as_version=4)
    sols = samples.solutions(assignment)
    curriculum = {a: {ex: {"signature": sig, "depends": []} for ex, sig in exs.items()}
                  for a, exs in CURRICULUM.items()}
    # lean notebooks (no prose or demos): the attacks and the grading are what is tested here
    students = {f"attack_{a}": samples.attack_notebook(release, assignment, curriculum, a, lean=True)
                for a in attackers}
    students["honest_right"] = samples.notebook(release, sols["RIGHT"], lean=True)
    students["honest_alt"] = samples.notebook(release, sols["ALTERNATIVE"], lean=True)
    for student, nb in students.items():
        folder = course / "submitted" / student / assignment
        folder.mkdir(parents=True)
        nbformat.write(nb, str(folder / f"{assignment}.ipynb"))
    return list(students)


def scores(course, assignment, students):
    """{student: {exercise: (score, max)}} from the gradebook."""
    out = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student in students:
            grades = gb.find_submission_notebook(assignment, assignment, student).grades
            per = {}
            for g in grades:
                ex = next((e for e in sorted(CURRICULUM[assignment], key=len, reverse=True)
                           if g.name.startswith(f"test_{e}")), None)
                if ex:
                    got, best = per.get(ex, (0, 0))
                    per[ex] = (got + (g.score or 0), best + g.max_score)
            out[student] = per
    return out


def check_scores(course, assignment, students):
    found = scores(course, assignment, students)
    problems = []
    for student, per in found.items():
        for ex, (got, best) in per.items():
            want = best if student.startswith("honest") else 0
            if got != want:
                problems.append(f"{student}: {ex} scored {got}/{best}, expected {want}"
                                f"{said_in_autograded(course, assignment, student, ex)}")
        if set(per) != set(CURRICULUM[assignment]):
            problems.append(f"{student}: exercises {sorted(per)} in the gradebook")
    assert not problems, "\n".join(problems)


def said_in_autograded(course, assignment, student, exercise):
    """What the graded copy's test cells of `exercise` say (so a failure names its reason)."""
    path = course / "autograded" / student / assignment / f"{assignment}.ipynb"
    try:
        nb = nbformat.read(str(path), as_version=4)
    except (OSError, ValueError) as exc:
        return f"\n  (no autograded copy: {exc})"
    texts = []
    for cell in nb.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "").startswith(f"test_{exercise}"):
            for out in cell.get("outputs", []):
                texts.append("".join(out.get("text", "")) or "".join(out.get("traceback", []))
                             or str(out.get("data", {}).get("text/plain", "")))
    return "\n  " + "\n  ".join(t[:1500] for t in texts if t)


def assert_nothing_left():
    left = isolation.orphans()
    assert not left, f"processes (pid: uid) outlived their grading run: {left}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_attack_earns_nothing_under_the_grade_command(assignment, tmp_path):
    course = copy_course(tmp_path / "course")
    with open(course / "nbgrader_config.py", "a") as f:
        f.write(LIMITS)
    students = build_class(course, assignment, SOLUTION_ATTACKS + ELSEWHERE_ATTACKS)
    outcomes = grade(course, assignment, workers=3, notebook_timeout=120, progress=False)
    assert all(o.status == "graded" for o in outcomes.values()), {s: o.reason for s, o in outcomes.items()}
    check_scores(course, assignment, students)
    assert_nothing_left()
    assert (course / "gradebook.db").stat().st_size > 0
    if assignment == ASSIGNMENTS[0]:  # the feedback run, where the attacks made elsewhere run too
        ran = run_feedback(course, assignment, workers=3, notebook_timeout=120, progress=False)
        assert set(ran) == set(students)
        check_scores(course, assignment, students)
        assert_nothing_left()


def rotation(assignment):
    """Attacks for the plain nbgrader run (a kernel per notebook: seconds each): those made
    elsewhere in the notebook, which do not depend on the exercises, for the first assignment;
    the solution-cell attacks spread over the assignments, so that each runs under nbgrader."""
    index = ASSIGNMENTS.index(assignment)
    share = SOLUTION_ATTACKS[index::len(ASSIGNMENTS)]
    return (ELSEWHERE_ATTACKS if index == 0 else []) + share


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_attacks_earn_nothing_under_plain_nbgrader(assignment, tmp_path):
    course = copy_course(tmp_path / "course")
    with open(course / "nbgrader_config.py", "a") as f:
        f.write(LIMITS)
    nbgrader("generate_assignment", assignment, "--force", cwd=course)
    students = build_class(course, assignment, rotation(assignment))
    nbgrader("autograde", assignment, "--force", cwd=course, timeout=1800)
    check_scores(course, assignment, students)
    assert_nothing_left()

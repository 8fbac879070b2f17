"""The sample classes shipped in samples/ are what autograder.instructor.samples generates from release/."""

import pytest

from autograder.instructor import samples

from conftest import ASSIGNMENTS, CURRICULUM, ROOT


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_shipped_samples_are_current(assignment, tmp_path):
    release = ROOT / "release" / assignment / f"{assignment}.ipynb"
    samples.write_inbox(release, tmp_path, assignment)
    fresh = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    shipped_dir = ROOT / "samples" / assignment
    shipped = {p.relative_to(shipped_dir): p.read_bytes() for p in shipped_dir.rglob("*") if p.is_file()}
    assert fresh == shipped, "samples/ is stale: run `make samples` and commit"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_sample_student_has_an_expectation_for_every_exercise(assignment):
    exercises = list(CURRICULUM[assignment])
    statuses = {"pass", "fail", "error", "tampering", "timeout", "crashed"}
    students = samples.sample_class(assignment)
    assert {"ada", "ben", "dan"} <= set(students)
    for student in students:
        verdicts = samples.expected_verdicts(student, exercises, assignment)
        assert set(verdicts) == set(exercises) and set(verdicts.values()) <= statuses

"""The sample class shipped in samples/ is what autograder.instructor.samples generates from release/."""

from autograder.instructor import samples
from conftest import ROOT


def test_shipped_samples_are_current(tmp_path):
    release = ROOT / "release" / samples.ASSIGNMENT / f"{samples.ASSIGNMENT}.ipynb"
    samples.write_inbox(release, tmp_path)
    fresh = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    shipped_dir = ROOT / "samples" / samples.ASSIGNMENT
    shipped = {p.relative_to(shipped_dir): p.read_bytes() for p in shipped_dir.rglob("*") if p.is_file()}
    assert fresh == shipped, "samples/ is stale: run `make samples` and commit"


def test_every_sample_student_has_an_expectation_for_every_exercise():
    from conftest import CURRICULUM
    exercises = list(CURRICULUM[samples.ASSIGNMENT])
    statuses = {"pass", "fail", "error", "tampering", "timeout", "crashed"}
    for student in samples.SAMPLE_CLASS:
        verdicts = samples.expected_verdicts(student, exercises)
        assert set(verdicts) == set(exercises) and set(verdicts.values()) <= statuses

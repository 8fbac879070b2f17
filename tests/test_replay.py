"""Phase 2 replays phase 1: ReplaySanitize reuses the staged notebook only for the very file
phase 1 sanitized (same digest); anything else goes through nbgrader's sanitize steps."""

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets.config import Config

from autograder.instructor.preprocessors import ReplaySanitize
from autograder.instructor.staging import file_digest


class MarkStep(NbGraderPreprocessor):
    """A stand-in sanitize step that leaves a mark."""

    def preprocess(self, nb, resources):
        nb.metadata["sanitized_here"] = True
        return nb, resources


def setup(tmp_path, digest_of=None):
    submitted = tmp_path / "submitted" / "ada" / "a1"
    submitted.mkdir(parents=True)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    nbformat.write(nb, str(submitted / "a1.ipynb"))
    staged_dir = tmp_path / "staging" / "ada" / "a1"
    staged_dir.mkdir(parents=True)
    staged = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    staged.metadata["autograder"] = {"submission_sha256": file_digest(digest_of or submitted / "a1.ipynb")}
    nbformat.write(staged, str(staged_dir / "a1.ipynb"))
    config = Config()
    config.ReplaySanitize.staging = str(tmp_path / "staging")
    config.ReplaySanitize.steps = ["test_replay.MarkStep"]
    resources = {"nbgrader": {"student": "ada", "assignment": "a1", "notebook": "a1"},
                 "metadata": {"path": str(submitted)}}
    return ReplaySanitize(config=config), nb, resources


def test_the_staged_notebook_is_reused_for_the_same_file(tmp_path):
    step, nb, resources = setup(tmp_path)
    out, _ = step.preprocess(nb, resources)
    assert "sanitized_here" not in out.metadata
    assert "submission_sha256" in out.metadata["autograder"]


def test_a_different_file_is_sanitized_as_usual(tmp_path):
    other = tmp_path / "other.ipynb"
    other.write_text("{}")
    step, nb, resources = setup(tmp_path, digest_of=other)
    out, _ = step.preprocess(nb, resources)
    assert out.metadata["sanitized_here"] is True


def test_nothing_staged_is_sanitized_as_usual(tmp_path):
    step, nb, resources = setup(tmp_path)
    (tmp_path / "staging" / "ada" / "a1" / "a1.ipynb").unlink()
    out, _ = step.preprocess(nb, resources)
    assert out.metadata["sanitized_here"] is True

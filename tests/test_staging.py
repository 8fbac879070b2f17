"""autograder.instructor.staging: where phase 1 leaves each notebook, or why it could not, for
phase 2; no name a student or a notebook has can put a file outside the staging folder."""

import json
import os

import nbformat
import pytest

from autograder.instructor.preprocessors import ReplayExecution
from autograder.instructor.staging import FAILED, NO_RESULT, Staging, component, file_digest, write_atomically

CLIMBERS = ["..", ".", "../..", "../x", "/etc/passwd", "a/../../b", "", "%2E%2E", ".hidden", "x\0y", "~"]


def files_under(folder):
    return sorted(os.path.relpath(os.path.join(root, name), folder)
                  for root, _, names in os.walk(folder) for name in names)


def test_the_layout_is_student_assignment_notebook(tmp_path):
    staging = Staging(tmp_path / "staging")
    assert staging.notebook("ada", "01_tensor_ops", "01_tensor_ops") == \
        tmp_path / "staging" / "ada" / "01_tensor_ops" / "01_tensor_ops.ipynb"
    staging.fail("bob", "01_tensor_ops", "broken")
    assert (tmp_path / "staging" / "bob" / "01_tensor_ops" / FAILED).exists()


@pytest.mark.parametrize("name", ["01_tensor_ops (1)", "Copy of 01 tensor ops", "ünïcode name", "a.b.c", "(x)"])
def test_odd_but_harmless_names_are_kept_as_they_are(tmp_path, name):
    staging = Staging(tmp_path)
    path = staging.write(name, "01_tensor_ops", name, "{}")
    assert path == tmp_path / name / "01_tensor_ops" / f"{name}.ipynb"
    assert path.read_text() == "{}"


@pytest.mark.parametrize("name", CLIMBERS)
def test_no_name_climbs_out_of_the_staging_folder(tmp_path, name):
    folder = tmp_path / "inside" / "staging"
    folder.mkdir(parents=True)
    staging = Staging(folder)
    for student, assignment, notebook in [(name, "a1", "a1"), ("ada", name, "a1"), ("ada", "a1", name)]:
        path = staging.write(student, assignment, notebook, "{}")
        assert folder.resolve() in path.resolve().parents
        assert path.parent.parent.parent == folder  # exactly three levels: no extra folders
        staging.fail(student, assignment, "why")
        assert staging.failure(student, assignment) == "why"
    assert files_under(tmp_path) == sorted(f"inside/staging/{f}" for f in files_under(folder))
    assert not (tmp_path / "inside" / "a1").exists() and not (tmp_path / "a1").exists()


def test_different_names_never_share_a_path(tmp_path):
    staging = Staging(tmp_path)
    names = CLIMBERS + ["%", "%25", "%2F", "a/b", "a%2Fb", "%00", "x%00y", "hidden", "%2Ehidden"]
    paths = {staging.notebook(n, "a1", n) for n in names}
    assert len(paths) == len(names)
    assert len({component(n) for n in names}) == len(names)


def test_a_write_replaces_the_file_whole_and_leaves_no_partial_file(tmp_path):
    staging = Staging(tmp_path)
    staging.write("ada", "a1", "a1", "first")
    path = staging.write("ada", "a1", "a1", "second ✓")
    assert path.read_text(encoding="utf-8") == "second ✓"
    assert files_under(tmp_path) == ["ada/a1/a1.ipynb"]
    write_atomically(tmp_path / "raw.bin", b"\x00\x01")
    assert (tmp_path / "raw.bin").read_bytes() == b"\x00\x01"
    assert not [p for p in tmp_path.rglob("*.partial")]


def test_copy_stages_a_file_under_its_own_name(tmp_path):
    produced = tmp_path / "autograded" / "a1 (2).ipynb"
    produced.parent.mkdir()
    produced.write_bytes(b'{"cells": []}')
    staging = Staging(tmp_path / "staging")
    path = staging.copy("ada", "a1", produced)
    assert path == staging.notebook("ada", "a1", "a1 (2)")
    assert path.read_bytes() == produced.read_bytes()
    assert file_digest(path) == file_digest(produced)


def test_the_first_reason_for_a_failure_wins(tmp_path):
    staging = Staging(tmp_path)
    assert staging.failure("ada", "a1") is None
    staging.fail("ada", "a1", "the kernel died")
    staging.fail("ada", "a1", "something later")
    assert staging.failure("ada", "a1") == "the kernel died"
    assert json.loads((tmp_path / "ada" / "a1" / FAILED).read_text()) == {"reason": "the kernel died"}
    staging.fail("bob", "a1", "")
    assert staging.failure("bob", "a1") == NO_RESULT


def graded_notebook():
    test = nbformat.v4.new_code_cell("assert f() == 1")
    test.metadata["nbgrader"] = {"grade": True, "grade_id": "test_f", "points": 1}
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("def f(): return 1"), test])


@pytest.mark.parametrize("student", ["ada", "ada lovelace (2)", "../ada"])
def test_replay_reads_what_phase_1_staged_for_that_student(tmp_path, student):
    staging = Staging(tmp_path / "staging")
    step = ReplayExecution(staging=str(staging.folder))
    resources = {"nbgrader": {"student": student, "assignment": "a1", "notebook": "a1"}}

    out, _ = step.preprocess(graded_notebook(), resources)
    assert out.metadata["autograder"] == {"error": NO_RESULT}

    staging.fail(student, "a1", "the grading servers died twice")
    out, _ = step.preprocess(graded_notebook(), resources)
    assert out.metadata["autograder"] == {"error": "the grading servers died twice"}
    assert out.cells[1].outputs[0].ename == "GradingError"

    done = graded_notebook()
    done.cells[1].outputs = [nbformat.v4.new_output("stream", name="stdout", text="✓\n")]
    done.metadata["autograder"] = {"exercises": {}}
    staging.write(student, "a1", "a1", nbformat.writes(done))
    out, _ = step.preprocess(graded_notebook(), resources)
    assert out.cells[1].outputs[0].text == "✓\n" and out.metadata["autograder"] == {"exercises": {}}

"""`python -m autograder new NN_topic`: the skeleton of a new assignment, under the naming scheme."""

import ast

import nbformat
import pytest

from autograder.instructor.scaffold import contract_exercises, new

from conftest import ROOT

CONTRACT = """# Curriculum contract

## 06_demo — a made-up assignment

| id | signature | behaviour |
|---|---|---|
| `scale` | `scale(x, factor=2)` | Returns `x * factor`. |
| `tiny_net` | `class TinyNet(nn.Module)`, `TinyNet(in_features, out_features)` | One `nn.Linear`. |

## 07_other — not this one

| id | signature | behaviour |
|---|---|---|
| `other` | `other(x)` | Nothing. |
"""


@pytest.fixture
def contract(tmp_path):
    path = tmp_path / "curriculum.md"
    path.write_text(CONTRACT)
    return path


def test_the_exercises_come_from_the_assignments_section_of_the_contract(contract):
    found = contract_exercises(contract, "06_demo")
    assert [(ex, sig, args) for ex, sig, _, args in found] == [
        ("scale", "def scale(x, factor=2)", ""), ("tiny_net", "class TinyNet(nn.Module)", "in_features, out_features")]
    assert contract_exercises(contract, "08_absent") == []


def test_new_writes_every_file_of_the_naming_scheme(tmp_path, contract):
    written = new("06_demo", tmp_path, contract=contract)
    assert sorted(map(str, written)) == sorted([
        "source/06_demo/06_demo.ipynb", "autograder/judge/exercises/demo.py", "samples/solutions/06_demo.py",
        "tests/test_hidden_demo.py", "tests/test_visible_demo.py"])
    for path in written:
        if path.suffix == ".py":
            ast.parse((tmp_path / path).read_text(), str(path))  # each one is Python


def test_the_notebook_has_a_solution_and_a_graded_test_cell_per_exercise(tmp_path, contract):
    new("06_demo", tmp_path, contract=contract)
    nb = nbformat.read(str(tmp_path / "source/06_demo/06_demo.ipynb"), as_version=4)
    nbformat.validate(nb)
    meta = {c.metadata["nbgrader"]["grade_id"]: (c, c.metadata["nbgrader"]) for c in nb.cells
            if "nbgrader" in c.metadata}
    assert set(meta) == {"setup", "scale", "test_scale", "tiny_net", "test_tiny_net"}
    assert meta["setup"][1]["locked"] and meta["scale"][1]["solution"] and meta["test_scale"][1]["grade"]
    scale, net = meta["scale"][0].source, meta["tiny_net"][0].source
    assert scale.startswith("def scale(x, factor=2):") and "### BEGIN SOLUTION" in scale
    assert net.startswith("class TinyNet(nn.Module):") and "def __init__(self, in_features, out_features):" in net
    assert 'hidden_tests("scale", scale)' in meta["test_scale"][0].source
    assert meta["test_scale"][0].source.rstrip().endswith('ok("scale")')
    headings = [c.source.splitlines()[0] for c in nb.cells if c.cell_type == "markdown"]
    assert headings[-2:] == ["## Summary", "## Glossary · 용어집"] and "Learning goals" in nb.cells[0].source


def test_a_new_declaration_fails_loudly_until_its_check_is_written(tmp_path, contract):
    new("06_demo", tmp_path, contract=contract)
    text = (tmp_path / "autograder/judge/exercises/demo.py").read_text()
    assert 'A = Assignment("06_demo")' in text
    assert text.count("raise NotImplementedError(") == 2 and text.count("@A.exercise(") == 2


def test_nothing_is_overwritten_and_bad_names_are_refused(tmp_path, contract):
    new("06_demo", tmp_path, contract=contract)
    notebook = tmp_path / "source/06_demo/06_demo.ipynb"
    notebook.write_text("mine")
    with pytest.raises(FileExistsError, match="nothing written"):
        new("06_demo", tmp_path, contract=contract)
    assert notebook.read_text() == "mine"
    for bad in ("6_demo", "06-demo", "06_Demo", "../06_demo"):
        with pytest.raises(ValueError, match="not an assignment name"):
            new(bad, tmp_path, contract=contract)
    with pytest.raises(ValueError, match="no exercises"):
        new("08_absent", tmp_path, contract=contract)


def test_exercises_can_be_given_instead_of_the_contract(tmp_path):
    written = new("09_given", tmp_path, exercises=[("twice", "def twice(x)", "Returns 2 x.", "")],
                  contract=tmp_path / "none.md")
    assert (tmp_path / written[0]).exists()


def test_every_assignment_of_the_course_follows_the_scheme():
    for source in sorted((ROOT / "source").glob("[0-9][0-9]_*")):
        topic = source.name[3:]
        for path in (f"autograder/judge/exercises/{topic}.py", f"samples/solutions/{source.name}.py",
                     f"tests/test_hidden_{topic}.py", f"tests/test_visible_{topic}.py"):
            assert (ROOT / path).exists(), path


def test_the_command_writes_the_skeleton_and_refuses_cleanly(tmp_path, contract):
    import subprocess
    import sys
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\n")
    run = [sys.executable, "-m", "autograder", "--course", str(tmp_path), "new"]
    done = subprocess.run(run + ["06_demo", "--contract", str(contract)], capture_output=True, text=True)
    assert done.returncode == 0 and "source/06_demo/06_demo.ipynb" in done.stdout, done.stderr
    again = subprocess.run(run + ["06_demo", "--contract", str(contract)], capture_output=True, text=True)
    assert again.returncode != 0 and "already has" in again.stderr and "Traceback" not in again.stderr

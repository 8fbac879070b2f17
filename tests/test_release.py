"""release/ is generated, current, free of solutions and hidden tests, and follows the contract."""

import ast
import re
import shutil

import pytest

from autograder.instructor.kit import code_lines, secrets
from autograder.judge.exercises import REGISTRY

from conftest import ASSIGNMENTS, CURRICULUM, ROOT, copy_course, nbgrader, nbgrader_meta, release_nb, source_nb

HIDDEN_BLOCK = r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS"


def graded_cells(nb, kind):
    return [c for c in nb.cells if nbgrader_meta(c).get(kind)]


@pytest.mark.slow
def test_release_is_exactly_what_nbgrader_generates(tmp_path):
    course = copy_course(tmp_path)
    shutil.rmtree(course / "release")
    for name in ASSIGNMENTS:
        nbgrader("generate_assignment", name, "--force", "--no-db", cwd=course)
    fresh = {p.relative_to(course / "release"): p.read_bytes()
             for p in (course / "release").rglob("*") if p.is_file()}
    committed = {p.relative_to(ROOT / "release"): p.read_bytes()
                 for p in (ROOT / "release").rglob("*") if p.is_file() and ".ipynb_checkpoints" not in p.parts}
    assert sorted(committed) == sorted(fresh), "release/ has missing or extra files: run `make release`"
    stale = [str(p) for p in fresh if fresh[p] != committed[p]]
    assert not stale, f"release/ is out of date for {stale}: run `make release` and commit"


def test_every_assignment_is_in_the_curriculum_table():
    assert ASSIGNMENTS, "no assignments found in source/"
    assert set(ASSIGNMENTS) <= set(CURRICULUM), "declare the new assignment's exercises in autograder/judge/exercises/"


def test_curriculum_table_matches_the_shared_contract():
    contract = ROOT.parent / "shared" / "curriculum.md"
    if not contract.exists():
        pytest.skip("the shared curriculum contract is not beside this checkout")
    text = contract.read_text(encoding="utf-8")
    for name, exercises in CURRICULUM.items():
        section = text.split(f"## {name}")[1].split("\n## ")[0]
        ids = re.findall(r"^\| `(\w+)` \|", section, flags=re.M)
        assert ids == list(exercises), f"{name}: exercise ids differ from the contract"


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_source_notebook_is_committed_without_outputs(name):
    for cell in source_nb(name).cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, "clear outputs before committing"


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_source_follows_the_contract(name):
    nb = source_nb(name)
    exercises = CURRICULUM[name]
    solutions = {nbgrader_meta(c)["grade_id"]: c for c in graded_cells(nb, "solution")}
    assert set(solutions) == set(exercises), "one solution cell per exercise, named by its id"
    tests = graded_cells(nb, "grade")
    for ex_id, signature in exercises.items():
        assert signature in solutions[ex_id].source, f"{ex_id}: the cell must define {signature}"
        mine = [c for c in tests if nbgrader_meta(c)["grade_id"].startswith(f"test_{ex_id}")]
        assert mine, f"{ex_id}: no test cell with a grade_id starting test_{ex_id}"
        assert all(nbgrader_meta(c).get("points", 0) > 0 and nbgrader_meta(c)["locked"] for c in mine)
        visible = "\n".join(re.sub(HIDDEN_BLOCK, "", c.source, flags=re.S) for c in mine)
        hidden = "\n".join("".join(re.findall(HIDDEN_BLOCK, c.source, flags=re.S)) for c in mine)
        name_used = signature.split()[1].split("(")[0]
        assert name_used in visible, f"{ex_id}: no visible check calls {name_used}"
        assert f'hidden_tests("{ex_id}"' in hidden, f"{ex_id}: hidden tests must run the hidden check"
        assert ex_id in REGISTRY[name], f"{ex_id}: not declared in autograder/judge/exercises"


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_notebook_has_a_glossary(name):
    cells = [c.source for c in source_nb(name).cells if c.cell_type == "markdown"]
    glossary = [s for s in cells if "Glossary" in s]
    assert glossary and re.search("[\uac00-\ud7a3]", glossary[0]), "an English–Korean glossary is required"


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_release_has_no_solution_and_no_hidden_test(name):
    release = release_nb(name)
    text = "\n".join(c.source for c in release.cells)
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "autograder"):
        assert marker not in text, f"release/{name} contains {marker!r}"
    # every solution region, as windows of consecutive code lines (what a notebook shows in the
    # open, a demo's `super().__init__()`, is no secret): the same check the student kit makes
    lines = code_lines(text)
    leaked = secrets(ROOT) & (set(zip(lines, lines[1:])) | {(line,) for line in lines})
    assert not leaked, f"solution code leaked into release/{name}: {sorted(leaked)}"


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_release_keeps_signature_and_docstring(name):
    release = release_nb(name)
    cells = {nbgrader_meta(c)["grade_id"]: c for c in graded_cells(release, "solution")}
    for ex_id, signature in CURRICULUM[name].items():
        source = cells[ex_id].source
        assert signature in source
        tree = ast.parse(source)
        definition = next(n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)))
        assert ast.get_docstring(definition), f"{ex_id}: the student version lost its docstring"
        assert "raise NotImplementedError()" in source

"""`RestoreStructure`: a student's structural slips cost only what they break.

Copying a test cell in JupyterLab, flipping a flag in the Create Assignment sidebar, deleting or
stripping a cell's metadata, or writing a solution in a new cell made nbgrader's own sanitize
steps fail on the whole notebook (`KeyError: 'grade_id'`, `Inconsistent checksums`) or gave
that exercise 0. This step runs before them and rebuilds the notebook's nbgrader structure from
the instructor's version in the gradebook (what nbgrader's `OverwriteCells` restores from),
trusting nothing in the submission:

- every nbgrader cell of the submission loses its metadata first; a claim (`grade_id`) only
  says which cell may receive the instructor's metadata again, never what that metadata is;
  a claim the assignment does not have is simply dropped;
- each test or read-only cell of the instructor appears exactly once, with the instructor's
  type, source and metadata: a cell claiming it (one still holding its visible source first),
  else a plain cell holding its visible source (its metadata stripped), else a copy inserted
  after the previous instructor cell (deleted); other copies stay as plain cells;
- each solution cell: the cell claiming it, if it defines the instructor's function or class
  with real code (not the stub); else the last cell anywhere that does (a solution written in
  a new cell, or whose cell lost its metadata); else the claiming cell as it is; else a cell
  holding the stub; else (the cell deleted) the release's stub put back. It gets the
  instructor's solution metadata, and no other cell does, so a cell claiming another
  exercise's grade_id gains nothing: it is judged as that exercise;
- what was repaired is said in plain words in `metadata.autograder.repairs` (names the
  instructor chose only, never text from the submission), which the feedback shows
  (`ShowRepairs`). Anything the student stored under `metadata.autograder` is dropped.

Cells keep the places the student gave them (the order of cells changes no score: each exercise
is judged on its own), and no instructor cell is left missing, so nbgrader's
`OverwriteCells.add_missing_cells` (which inserts by position, and failed when a neighbour had
lost its metadata) has nothing left to do.
"""

import ast
import copy
from dataclasses import dataclass

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.nbgraderformat import MetadataValidator
from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor
from traitlets import Bool

from ..verdicts import to_python


@dataclass
class Expected:
    """One nbgrader cell of the instructor's version (from the gradebook)."""

    name: str
    cell_type: str
    source: str
    meta: dict  # the cell's complete nbgrader metadata

    @property
    def solution(self):
        return bool(self.meta.get("solution"))

    @property
    def kind(self):
        return "test cell" if self.meta.get("grade") and not self.solution else "read-only cell"


def expected_cells(db_url, assignment, notebook):
    """The instructor's nbgrader cells of `notebook`, in the gradebook's order; None when the
    gradebook does not know the notebook (nbgrader then reports it as usual)."""
    with Gradebook(db_url) as gb:
        try:
            nb = gb.find_notebook(notebook, assignment)
        except MissingEntry:
            return None
        points = {c.name: c.max_score for c in nb.grade_cells}
        solutions = {c.name for c in nb.solution_cells}
        tasks = {c.name for c in nb.task_cells}
        found = []
        for cell in nb.source_cells:
            meta = {"grade": cell.name in points, "grade_id": cell.name, "locked": bool(cell.locked),
                    "schema_version": 3, "solution": cell.name in solutions, "task": cell.name in tasks,
                    "checksum": cell.checksum}
            if cell.name in points:
                meta["points"] = float(points[cell.name])
            found.append(Expected(cell.name, cell.cell_type, cell.source or "", meta))
        return found


def _defs(source):
    """{name: [ast node]} of the top-level functions and classes `source` defines."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        try:  # IPython syntax (magics, !shell) as the kernel would run it: slower, so only then
            tree = ast.parse(to_python(source))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return {}
    found = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            found.setdefault(node.name, []).append(node)
    return found


def _is_stub(node):
    """A definition whose code only raises NotImplementedError (the release's stub)."""
    body = [s for s in node.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
    if isinstance(node, ast.ClassDef):
        return all(isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)) and _is_stub(s) or isinstance(s, ast.Pass)
                   for s in body)
    def raises(s):
        exc = getattr(s, "exc", None)
        exc = exc.func if isinstance(exc, ast.Call) else exc
        return isinstance(s, ast.Raise) and isinstance(exc, ast.Name) and exc.id == "NotImplementedError"
    return all(raises(s) for s in body)


def defines(source, name, found=None):
    """Whether `source` defines `name` at top level with real code (its last definition, as
    Python would keep, is not the stub). `found`: `source`'s `_defs`, if already parsed."""
    nodes = (found if found is not None else _defs(source)).get(name)
    return bool(nodes) and not _is_stub(nodes[-1])


def _source(cell):
    """A cell's source as text, whatever the file held."""
    source = cell.get("source", "")
    if isinstance(source, list):
        source = "".join(s for s in source if isinstance(s, str))
    return source if isinstance(source, str) else ""


def _new_cell(nb, cell_type):
    """An empty cell for `nb` (with an id only where its nbformat version has them)."""
    cell = nbformat.v4.new_code_cell("") if cell_type == "code" else nbformat.v4.new_markdown_cell("")
    if (nb.get("nbformat"), nb.get("nbformat_minor", 0)) < (4, 5):
        cell.pop("id", None)
    return cell


def contract_name(expected):
    """The function or class the instructor's solution cell defines (its stub's first)."""
    names = list(_defs(expected.source))
    return names[0] if names else None


def visible_source(expected, config=None):
    """The source a student saw for an instructor cell (its hidden tests cleared)."""
    cell = nbformat.v4.new_code_cell(expected.source)
    ClearHiddenTests(config=config)._remove_hidden_test_region(cell)
    return cell.source.strip()


def _claim(cell):
    meta = cell.get("metadata", {}).get("nbgrader")
    if not isinstance(meta, dict):
        return None, meta is not None
    grade_id = meta.get("grade_id")
    return (grade_id if isinstance(grade_id, str) else None), True


def _give(cell, expected, keep_source):
    """Make `cell` the instructor's `expected` cell (its source too, unless `keep_source`)."""
    if cell.get("cell_type") != expected.cell_type:
        new = _new_cell({}, expected.cell_type)
        new.pop("id", None)
        new.metadata = cell.metadata
        if "id" in cell:
            new.id = cell.id
        cell.clear()
        cell.update(new)
    if not keep_source:
        cell.source = expected.source
    cell.metadata["nbgrader"] = copy.deepcopy(expected.meta)
    if expected.meta["locked"]:
        cell.metadata.update(deletable=False, editable=False)
    MetadataValidator().upgrade_cell_metadata(cell)


def restore(nb, expected, config=None):
    """Rebuild `nb`'s nbgrader cells from the instructor's `expected` cells (see the module
    docstring); returns the list of repairs, in plain words."""
    repairs, claims, forged = [], {}, 0
    by_name = {e.name: e for e in expected}
    original = {}
    for i, cell in enumerate(nb.cells):
        if not isinstance(cell.get("metadata"), dict):
            cell["metadata"] = nbformat.NotebookNode()
        grade_id, had = _claim(cell)
        if had:
            original[i] = cell.metadata.pop("nbgrader")
            if grade_id in by_name:
                claims.setdefault(grade_id, []).append(i)
            else:
                forged += 1
    if forged:
        repairs.append(f"{forged} cell{'s' if forged > 1 else ''} carried nbgrader metadata that this "
                       "assignment does not have: removed (they count as ordinary cells).")

    def changed(i, e):
        was = original.get(i) if isinstance(original.get(i), dict) else {}
        keys = ("grade", "solution", "locked", "task", "points")
        return (nb.cells[i].get("cell_type") != e.cell_type
                or any(bool(was.get(k)) != bool(e.meta.get(k)) for k in keys if k != "points")
                or (e.meta["grade"] and _points(was) != e.meta["points"]))

    owner = {}  # instructor cell name -> index in nb
    # read-only and test cells: the instructor's, exactly once
    for e in (e for e in expected if not e.solution):
        claimed = claims.get(e.name, [])
        visible = visible_source(e, config)
        if claimed:  # the copy that still looks like the instructor's, else the first
            claimed.sort(key=lambda i: _source(nb.cells[i]).strip() != visible)
            owner[e.name] = claimed[0]
            if changed(claimed[0], e):
                repairs.append(f"The nbgrader metadata of {e.kind} {e.name} was changed; the "
                               "instructor's version was restored.")
            if len(claimed) > 1:
                repairs.append(f"{e.kind.capitalize()} {e.name} appeared {len(claimed)} times; one counts "
                               "(the copies were kept as ordinary cells).")
            continue
        plain = [i for i, c in enumerate(nb.cells) if i not in original and i not in owner.values()
                 and c.get("cell_type") == e.cell_type and _source(c).strip() == visible]
        if plain:
            owner[e.name] = plain[0]
            repairs.append(f"{e.kind.capitalize()} {e.name} had lost its nbgrader metadata; the "
                           "instructor's version was restored.")
    # solution cells: the cell that holds the student's code for the exercise
    taken = set(owner.values())
    parsed = {}

    def defined(i, name):
        if not name or nb.cells[i].get("cell_type") != "code" or name not in _source(nb.cells[i]):
            return False
        if i not in parsed:
            parsed[i] = _defs(_source(nb.cells[i]))
        return defines(None, name, parsed[i])

    solutions = [e for e in expected if e.solution]
    names = {e.name: contract_name(e) for e in solutions}
    for e in solutions:  # a claiming cell that defines the exercise keeps it
        for i in claims.get(e.name, []):
            if i not in taken and defined(i, names[e.name]):
                owner[e.name] = i
                taken.add(i)
                if changed(i, e):
                    repairs.append(f"The nbgrader metadata of your solution cell for {names[e.name]} was "
                                   "changed; the instructor's version was restored.")
                break
    for e in solutions:  # else the last cell anywhere that defines it
        if e.name in owner:
            continue
        name = names[e.name]
        found = [i for i in range(len(nb.cells)) if i not in taken and defined(i, name)]
        if found:
            owner[e.name] = found[-1]
            taken.add(found[-1])
            repairs.append(f"Your solution to {name} was found in a cell not marked as its solution cell "
                           "(moved, or its nbgrader metadata removed), and graded from there.")
            continue
        claimed = [i for i in claims.get(e.name, []) if i not in taken and nb.cells[i].get("cell_type") == "code"]
        if claimed:  # graded as it is (the stub, or code that defines something else)
            owner[e.name] = claimed[0]
            taken.add(claimed[0])
            if changed(claimed[0], e):
                repairs.append(f"The nbgrader metadata of your solution cell for {name} was changed; "
                               "the instructor's version was restored.")
            continue
        stubs = [i for i in range(len(nb.cells)) if i not in taken and nb.cells[i].get("cell_type") == "code"
                 and name and name in _source(nb.cells[i]) and name in _defs(_source(nb.cells[i]))]
        if stubs:  # only the stub is left, in a cell that lost its metadata: graded as it is
            owner[e.name] = stubs[-1]
            taken.add(stubs[-1])
            repairs.append(f"The solution cell for {name} had lost its nbgrader metadata; it was "
                           "graded as it is.")
    for e in expected:
        if e.name in owner:
            _give(nb.cells[owner[e.name]], e, keep_source=e.solution)
    # instructor cells still missing (a solution cell too: its stub, which scores what a stub
    # scores): put back after the previous instructor cell
    for k, e in enumerate(expected):
        if e.name in owner:
            continue
        before = [owner[p.name] for p in expected[:k] if p.name in owner]
        at = max(before) + 1 if before else 0
        cell = _new_cell(nb, e.cell_type)
        _give(cell, e, keep_source=False)  # said in the repairs (a comment in it would break its checksum)
        nb.cells.insert(at, cell)
        owner = {n: (i + 1 if i >= at else i) for n, i in owner.items()}
        owner[e.name] = at
        if e.solution:
            repairs.append(f"The solution cell for {names[e.name] or e.name} was missing (deleted?); the "
                           "release's version was put back and graded as it is.")
        else:
            repairs.append(f"{e.kind.capitalize()} {e.name} was missing; the instructor's version was put back.")
    return repairs


def _points(meta):
    try:
        return float(meta.get("points"))
    except (TypeError, ValueError):
        return None


def repairs_of(nb):
    """The repairs `RestoreStructure` recorded in `nb` (a list of strings, possibly empty)."""
    meta = nb.metadata.get("autograder")
    found = meta.get("repairs") if isinstance(meta, dict) else None
    return [r for r in found if isinstance(r, str)] if isinstance(found, list) else []


class RestoreStructure(NbGraderPreprocessor):
    """Rebuild the submission's nbgrader cells from the instructor's version (module docstring)."""

    enabled = Bool(True).tag(config=True)

    def preprocess(self, nb, resources):
        nb.metadata.pop("autograder", None)  # only the grader writes it
        info = resources["nbgrader"]
        expected = expected_cells(info["db_url"], info["assignment"], info["notebook"])
        if expected is None:
            return nb, resources
        repairs = restore(nb, expected, self.config)
        for line in repairs:
            self.log.warning("%s: %s", info.get("student"), line)
        if repairs:
            nb.metadata["autograder"] = {"repairs": repairs}
        return nb, resources

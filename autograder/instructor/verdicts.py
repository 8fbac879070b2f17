"""From a notebook to the judge's work, and from the judge's verdicts back to the test cells.

`build_job` collects, per exercise, what its candidate loads: the instructor's setup cells
(locked cells, restored from the gradebook by nbgrader), the import lines found in the
student's other cells, and that exercise's solution cell (after those it depends on). Nothing
else the student wrote is loaded.

`apply_verdicts` rewrites each graded test cell so that nbgrader's scoring (an error output
scores 0) follows the verdict: a passing exercise keeps its outputs minus errors and stderr (no
false zeros from warnings, or from the hidden block, which cannot import the judge when graded)
and says it passed; any other verdict shows its message, never the hidden tests' code.
"""

import ast
import functools

import nbformat
from IPython.core.inputtransformer2 import TransformerManager

from ..protocol.messages import Job
from ..protocol.signatures import defined_name
from ..protocol.verdicts import Status, Verdict
from .curriculum import exercise_of

ENAMES = {Status.FAIL: "CheckFailed", Status.ERROR: "SolutionError", Status.TAMPERING: "Tampering",
          Status.TIMEOUT: "Timeout", Status.CRASHED: "Crashed"}


def nbgrader_meta(cell):
    return cell.get("metadata", {}).get("nbgrader", {})


# Most of a class's cells are the course's own, the same in every notebook: what these pure
# functions make of a short cell is kept (2048 cells of at most 8 kB each, and what was made of
# them: a few tens of MB in the worst case), a long one is worked out each time.
CACHED_CHARS = 8192


def to_python(source):
    """IPython syntax (magics, !shell) as plain Python, so a candidate can compile it."""
    return _to_python(source) if len(source) <= CACHED_CHARS else _to_python.__wrapped__(source)


@functools.lru_cache(maxsize=2048)
def _to_python(source):
    try:
        return TransformerManager().transform_cell(source)
    except Exception:
        return source


def top_level_imports(source):
    """The cell's top-level import statements, as source lines."""
    found = _imports(source) if len(source) <= CACHED_CHARS else _imports.__wrapped__(source)
    return list(found)


@functools.lru_cache(maxsize=2048)
def _imports(source):
    try:
        tree = ast.parse(to_python(source))
    except (SyntaxError, ValueError):  # ValueError: a null byte
        return ()
    return tuple(ast.unparse(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom)))


def build_job(nb, assignment, curriculum):
    """({exercise id: Job}, {exercise id: Verdict}) for `nb`: the candidates to start, and the
    verdicts already known (a missing solution cell)."""
    exercises = curriculum.get(assignment, {})
    setup, imports, solutions = [], [], {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        meta = nbgrader_meta(cell)
        if meta.get("grade"):
            continue  # test cells never run in a candidate
        if meta.get("solution") and meta.get("grade_id") in exercises:
            solutions.setdefault(meta["grade_id"], to_python(cell.source))
        elif meta.get("locked"):
            setup.append(to_python(cell.source))  # instructor's cells, restored by nbgrader
            continue
        imports += [line for line in top_level_imports(cell.source) if line not in imports]
    jobs, known = {}, {}
    for ex_id, entry in exercises.items():
        needed = [*entry.get("depends", ()), ex_id]
        missing = [cell for cell in needed if cell not in solutions]
        if missing:
            known[ex_id] = Verdict(Status.ERROR, f"the notebook has no solution cell {missing[0]!r} (its "
                                   f"nbgrader metadata was removed or changed), so "
                                   f"{defined_name(exercises[missing[0]]['signature'])} cannot be checked")
            continue
        jobs[ex_id] = Job(tuple(setup), tuple(imports), tuple((cell, solutions[cell]) for cell in needed))
    return jobs, known


def error_output(ename, message):
    return nbformat.v4.new_output("error", ename=ename, evalue=message, traceback=[f"{ename}: {message}"])


def summary_of(ex_id, verdict):
    """What the autograded notebook keeps of a verdict; a named mistake as `<exercise>/<slug>`."""
    kept = {"exercise": ex_id, **verdict.summary()}
    if kept.get("mistake"):
        kept["mistake"] = f"{ex_id}/{kept['mistake']}"
    return kept


def apply_verdicts(nb, assignment, verdicts, curriculum):
    """Make each graded test cell's outputs agree with its exercise's `Verdict`; returns a
    summary {exercise id: {exercise, status, message, violations}} that is also stored in the
    cells' metadata."""
    summary = {}
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if cell.cell_type != "code" or not meta.get("grade"):
            continue
        ex_id = exercise_of(meta.get("grade_id", ""), assignment, curriculum)
        verdict = verdicts.get(ex_id)
        if verdict is None:
            continue
        if verdict.passed:
            cell.outputs = [o for o in cell.outputs if o.output_type != "error"
                            and not (o.output_type == "stream" and o.name == "stderr")]
            cell.outputs.append(nbformat.v4.new_output(
                "stream", name="stdout", text=f"✓ {ex_id}: the hidden tests passed.\n"))
        else:
            cell.outputs = [error_output(ENAMES[verdict.status], verdict.message)]
        cell.metadata["autograder"] = summary_of(ex_id, verdict)
        summary[ex_id] = cell.metadata["autograder"]
    for ex_id, verdict in verdicts.items():  # an exercise whose test cells are all gone
        summary.setdefault(ex_id, summary_of(ex_id, verdict))
    return summary

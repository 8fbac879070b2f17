"""What a graded notebook shows in its cells besides the verdicts: the student's own outputs, or
those of the feedback run.

Grades come from the judge alone, so the grade command does not run a notebook: the autograded
notebook keeps the outputs the student submitted (`keep_submitted`), read as untrusted data:
only outputs nbformat accepts (`protocol.messages.cell_output`), at most `max_output_bytes` per
cell, and never in a graded test cell (those show their verdict, and nbgrader scores them). The
optional feedback run (`rerun`) puts the outputs of a sandboxed run in their place
(`apply_run`), again never in a graded test cell. The notebook's metadata says which
(`autograder.outputs`: "submitted" or "run"), and the feedback tells the student
(`preprocessors.LabelOutputs`).
"""

import json
from pathlib import Path

import nbformat

from ..protocol.messages import cell_outputs
from .verdicts import error_output, nbgrader_meta

SUBMITTED, RUN = "submitted", "run"


def graded_test_cells(nb):
    """Indices of the code cells nbgrader scores from their outputs (graded, not a solution)."""
    return {i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
            and nbgrader_meta(cell).get("grade") and not nbgrader_meta(cell).get("solution")}


def capped(outputs, limit):
    """`outputs` up to `limit` bytes of JSON; what is past it is replaced by one line saying so."""
    kept, used = [], 0
    for out in outputs:
        used += len(json.dumps(out))
        if used > limit:
            kept.append(nbformat.v4.new_output(
                "stream", name="stdout", text=f"\n[output trimmed: this cell's output was over {limit} bytes]\n"))
            break
        kept.append(nbformat.from_dict(out))
    return kept


def joined(value):
    """nbformat's files may store a long string as a list of lines."""
    if isinstance(value, list) and all(isinstance(line, str) for line in value):
        return "".join(value)
    return value


def as_written(out):
    """One output as the file holds it, its multi-line strings joined (anything else untouched:
    `cell_output` decides)."""
    if not isinstance(out, dict):
        return out
    out = dict(out)
    if "text" in out:
        out["text"] = joined(out["text"])
    if isinstance(out.get("data"), dict):
        out["data"] = {k: v if k.endswith("json") else joined(v) for k, v in out["data"].items()}
    return out


def submitted_cells(path):
    """({cell id: (outputs, execution_count)}, how many outputs were dropped) of the submitted
    notebook at `path`, decoded totally from its JSON: outputs nbformat would not accept are
    dropped, a cell id found twice gives nothing, an unreadable file gives ({}, 0)."""
    try:
        cells = json.loads(Path(path).read_bytes()).get("cells")
    except (OSError, ValueError, AttributeError, RecursionError):
        return {}, 0
    found, dropped, seen = {}, 0, set()
    for cell in cells if isinstance(cells, list) else []:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code" or type(cell.get("id")) is not str:
            continue
        if cell["id"] in seen:  # which of the two cells it meant is unknowable
            found.pop(cell["id"], None)
            continue
        seen.add(cell["id"])
        raw = cell.get("outputs")
        outputs, lost = cell_outputs([as_written(o) for o in raw] if isinstance(raw, list) else raw)
        count = cell.get("execution_count")
        found[cell["id"]] = (outputs, count if type(count) is int else None)
        dropped += lost
    return found, dropped


def keep_submitted(nb, path, limit):
    """Give the sanitized notebook `nb` (outputs cleared) the outputs its submitted file `path`
    had, cell by cell (matched by cell id), except in graded test cells. Returns the
    violations to report (outputs dropped as malformed)."""
    cells, dropped = submitted_cells(path)
    tests = graded_test_cells(nb)
    for i, cell in enumerate(nb.cells):
        cell.metadata.pop("autograder", None)  # only the grader writes it
        if cell.cell_type != "code" or i in tests:
            continue
        outputs, count = cells.get(cell.get("id"), ([], None))
        cell.outputs = capped(outputs, limit)
        cell.execution_count = count
    nb.metadata.setdefault("autograder", {})["outputs"] = SUBMITTED
    return [f"{dropped} malformed output{'s' if dropped > 1 else ''} in the submitted notebook dropped"] if dropped else []


def apply_run(nb, execution):
    """Put the feedback run's outputs (a NotebookDone) into every code cell but the graded test
    cells, as a kernel would have left them; the test cells keep their verdicts."""
    tests, dead_at = graded_test_cells(nb), execution.stuck
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or i in tests:
            continue
        result = execution.cells.get(i)
        if result is not None:
            cell.outputs = [nbformat.from_dict(o) for o in result.outputs]
            cell.execution_count = result.execution_count
        elif i == dead_at:
            cell.outputs = [error_output("KernelDied", "The kernel died while running this cell: "
                                         "the code called os._exit, crashed, or ran out of memory. "
                                         "Later cells did not run.")]
        else:
            reason = (f"the kernel died in cell {dead_at + 1}" if dead_at is not None
                      else execution.dead or "the notebook did not finish")
            cell.outputs = [error_output("NotRun", f"This cell did not run: {reason}.")]
    nb.metadata.setdefault("autograder", {})["outputs"] = RUN
    return nb

"""What nbgrader's Validate button shows a student: first the short list of the exercises whose
tests still fail, then one short error per failing test cell instead of its full traceback (an
unsolved notebook otherwise gives one long dialog of repeated tracebacks).

Two nbclient hooks do it; the student kit's nbgrader configuration sets them on nbgrader's
Execute step: `c.Execute.on_notebook_start = start_notebook` and `c.Execute.on_cell_error =
shorten_failure` (nbgrader's Execute keeps on_cell_executed for itself). They act only while
nbgrader validates (it sets NBGRADER_VALIDATING) and only on graded test cells, so a notebook run
in JupyterLab keeps every traceback.
"""

import os

# The notebook being validated: its failing test cells so far, and the stream output, in the
# first of them, that lists them (one validation at a time: the server runs them one by one).
_run = {"failing": [], "summary": None, "header": ""}


def exercise_name(cell, cell_index):
    grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") or f"cell {cell_index}"
    return grade_id.removeprefix("test_")


def short_error(output):
    """One line, or the check's own message: what failed, without the traceback."""
    name, value = output.get("ename", "Error"), str(output.get("evalue", "")).strip()
    if name == "NotImplementedError":
        return "NotImplementedError: not solved yet (the function still raises NotImplementedError)"
    return f"{name}: {value}" if value else name


def summary_header(failing):
    return (f"Not passing yet ({len(failing)}): {', '.join(failing)}\n"
            "Each failing test cell follows, with its error.\n\n")


def start_notebook(**_):
    """nbclient's on_notebook_start hook: a new notebook (or nbgrader's retry of the same one)."""
    _run.update(failing=[], summary=None, header="")


def shorten_failure(cell, cell_index, **_):
    """nbclient's on_cell_error hook (see the module's docstring)."""
    if not os.environ.get("NBGRADER_VALIDATING"):
        return
    errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    if not (errors and cell.get("metadata", {}).get("nbgrader", {}).get("grade")):
        return
    for output in errors:
        output["traceback"] = [short_error(output)]
    _run["failing"].append(exercise_name(cell, cell_index))
    if _run["summary"] is None:
        _run["summary"] = _stream("")
        cell["outputs"].insert(0, _run["summary"])
    summary, header = _run["summary"], summary_header(_run["failing"])
    rest = summary["text"][len(_run["header"]):]  # what nbclient may have merged in after it
    summary["text"], _run["header"] = header + rest, header


def _stream(text):
    from nbformat import NotebookNode
    return NotebookNode(output_type="stream", name="stderr", text=text)

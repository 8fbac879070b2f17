"""From a notebook to clean-process verdicts, and from verdicts back to the notebook's test cells.

`build_job` collects what the clean process needs (setup cells, import lines, solution cells),
`run_verify` runs `python -m autograder.verify` in the sandbox, and `apply_verdicts` rewrites
each graded test cell so that nbgrader's scoring (an error output scores 0) follows the verdict:
a passing exercise keeps its output minus errors and stderr (no false zeros from warnings or
from a kernel that died in another cell); a failing one shows the verdict's message, never the
hidden tests' code.
"""

import ast
import json
import os
import subprocess
import sys

import nbformat
from IPython.core.inputtransformer2 import TransformerManager

from .curriculum import CURRICULUM, exercise_of

ENAMES = {"fail": "CheckFailed", "error": "SolutionError", "tampering": "Tampering",
          "timeout": "Timeout", "crashed": "Crashed"}


def nbgrader_meta(cell):
    return cell.get("metadata", {}).get("nbgrader", {})


def to_python(source):
    """IPython syntax (magics, !shell) as plain Python, so the clean process can compile it."""
    try:
        return TransformerManager().transform_cell(source)
    except Exception:
        return source


def top_level_imports(source):
    try:
        tree = ast.parse(to_python(source))
    except SyntaxError:
        return []
    return [ast.unparse(node) for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]


def build_job(nb, assignment, time_limit=60, memory_bytes=None):
    exercises = CURRICULUM[assignment]
    setup, imports, solutions = [], [], {}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        meta = nbgrader_meta(cell)
        if meta.get("grade"):
            continue  # test cells never run in the clean process
        if meta.get("solution") and meta.get("grade_id") in exercises:
            solutions[meta["grade_id"]] = to_python(cell.source)
        elif meta.get("locked"):
            setup.append(to_python(cell.source))  # instructor's cells, restored by nbgrader
            continue
        imports += [line for line in top_level_imports(cell.source) if line not in imports]
    return {"assignment": assignment, "setup": setup, "imports": imports,
            "solutions": {ex_id: solutions.get(ex_id) for ex_id in exercises},
            "time_limit": time_limit, "memory_bytes": memory_bytes}


def run_verify(job, sandbox, timeout=None):
    """Verdicts {exercise id: {status, message}}; every exercise gets one, whatever happens."""
    missing = {k: {"status": "error", "message": f"the notebook has no solution cell {k!r}"}
               for k, v in job["solutions"].items() if v is None}
    job = dict(job, solutions={k: v for k, v in job["solutions"].items() if v is not None})
    timeout = timeout or 30 + job["time_limit"] * max(1, len(job["solutions"]))
    cmd = sandbox.wrap([sys.executable, "-m", "autograder.verify"])
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    proc = None
    try:
        proc = subprocess.run(cmd, input=json.dumps(job), capture_output=True, text=True,
                              timeout=timeout, cwd=sandbox.workdir, env=env)
        verdicts = json.loads(proc.stdout.strip().splitlines()[-1])
    except subprocess.TimeoutExpired:
        reason = f"the clean-process check took longer than {timeout} s"
        verdicts = {k: {"status": "timeout", "message": reason} for k in job["solutions"]}
    except Exception as exc:
        stderr = proc.stderr[-2000:] if proc is not None else ""
        reason = f"the clean-process check could not run ({type(exc).__name__}): {stderr}"
        verdicts = {k: {"status": "error", "message": reason} for k in job["solutions"]}
    return verdicts | missing


def in_kernel_passed(cell):
    return not any(o.output_type == "error" or (o.output_type == "stream" and o.name == "stderr")
                   for o in cell.outputs)


def error_output(ename, message):
    return nbformat.v4.new_output("error", ename=ename, evalue=message,
                                  traceback=[f"{ename}: {message}"])


def apply_verdicts(nb, assignment, verdicts):
    """Make each graded test cell's outputs agree with its exercise's verdict; returns a summary
    {exercise id: {status, message, in_kernel}} that is also stored in the cells' metadata."""
    summary = {}
    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if cell.cell_type != "code" or not meta.get("grade"):
            continue
        ex_id = exercise_of(meta.get("grade_id", ""), assignment)
        verdict = verdicts.get(ex_id)
        if verdict is None:
            continue
        kernel_ok = in_kernel_passed(cell)
        status, message = verdict["status"], verdict.get("message", "")
        caught = [o for o in cell.outputs if o.output_type == "error" and o.ename == "Tampering"]
        if caught and status != "pass":
            status = "tampering"
            message = f"{caught[0].evalue}\n(In a clean process: {message})"
        elif status == "fail" and kernel_ok:
            status = "tampering"
            message = ("Tampering suspected: this cell passed in the notebook, but the same hidden "
                       "tests failed when your solution ran in a clean process, so something in "
                       f"the notebook changed the grading environment.\n{message}")
        if status == "pass":
            cell.outputs = [o for o in cell.outputs if o.output_type != "error"
                            and not (o.output_type == "stream" and o.name == "stderr")]
            if not kernel_ok:
                cell.outputs.append(nbformat.v4.new_output(
                    "stream", name="stdout", text=f"✓ {ex_id}: the hidden tests passed when your "
                    "solution ran in a clean process (this cell failed in the notebook run).\n"))
        else:
            cell.outputs = [error_output(ENAMES[status], message)]
        cell.metadata["autograder"] = {"exercise": ex_id, "status": status,
                                       "message": message[:4000],
                                       "in_kernel": "pass" if kernel_ok else "fail"}
        summary[ex_id] = cell.metadata["autograder"]
    return summary

"""CI executes every solution notebook: top to bottom, no error, every visible check passes."""

import shutil
from datetime import datetime

import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from conftest import ASSIGNMENTS, ROOT, nbgrader_meta, source_nb

pytestmark = pytest.mark.slow

MAX_SECONDS = 60  # the notebook's own cells, on the CPU, kernel start-up not counted


def seconds_in_cells(nb):
    """Sum of the cells' execution times, from the timing nbclient records in their metadata."""
    total = 0.0
    for cell in nb.cells:
        timing = cell.metadata.get("execution", {})
        if "iopub.execute_input" in timing and "shell.execute_reply" in timing:
            start, end = (datetime.fromisoformat(timing[k].replace("Z", "+00:00"))
                          for k in ("iopub.execute_input", "shell.execute_reply"))
            total += (end - start).total_seconds()
    return total


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_solution_notebook_runs_clean(name, tmp_path):
    work = tmp_path / name
    shutil.copytree(ROOT / "source" / name, work)
    before = {p.relative_to(work) for p in work.rglob("*")}
    nb = source_nb(name)
    client = NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(work)}})
    try:
        client.execute()
    except CellExecutionError as err:
        pytest.fail(f"{name} fails when run top to bottom:\n{err}")

    for cell in nb.cells:
        meta = nbgrader_meta(cell)
        if meta.get("grade") and cell.cell_type == "code":
            text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
            stderr = [o for o in cell.outputs if o.output_type == "stream" and o.name == "stderr"]
            assert "✓" in text, f"{meta['grade_id']}: the visible checks did not report success"
            assert not stderr, f"{meta['grade_id']} wrote to stderr (nbgrader would score it 0): {stderr}"
    for cell in nb.cells:  # errors shown on purpose are caught and printed, never raised or warned
        for output in getattr(cell, "outputs", []):
            assert not (output.output_type == "stream" and output.name == "stderr"), \
                f"cell {cell.id} wrote to stderr: {output.text[:500]}"
            assert output.output_type != "error", f"cell {cell.id} raised {output.ename}"
    seconds = seconds_in_cells(nb)
    assert seconds < MAX_SECONDS, f"{name}'s cells took {seconds:.0f} s on this machine (at most {MAX_SECONDS})"
    after = {p.relative_to(work) for p in work.rglob("*")}
    assert after == before, f"running {name} left files beside it: {sorted(map(str, after - before))}"

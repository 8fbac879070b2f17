"""CI executes every solution notebook: top to bottom, no error, every visible check passes."""

import shutil

import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from conftest import ASSIGNMENTS, ROOT, nbgrader_meta, source_nb

pytestmark = pytest.mark.slow


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
    after = {p.relative_to(work) for p in work.rglob("*")}
    assert after == before, f"running {name} left files beside it: {sorted(map(str, after - before))}"

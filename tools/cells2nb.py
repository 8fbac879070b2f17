"""Build an nbgrader source notebook from a plain-text cell file (an authoring aid).

Cells are separated by header lines:
    #%% md                    markdown
    #%% code                  ordinary code (students may edit)
    #%% readonly ID           locked code cell (restored by nbgrader at grading)
    #%% solution ID           graded solution cell (grade_id = exercise id)
    #%% test ID POINTS        graded test cell (grade_id = ID, must start with test_)

Usage: python tools/cells2nb.py cells.txt source/NN_name/NN_name.ipynb
The .ipynb is what is committed and graded; keep the text file beside it only while writing.
"""

import sys

import nbformat


def nbgrader_meta(kind, grade_id, points=None):
    meta = {"grade": kind == "test", "grade_id": grade_id, "locked": kind != "solution",
            "schema_version": 3, "solution": kind == "solution", "task": False}
    if kind == "test":
        meta["points"] = points
    return {"nbgrader": meta}


def build(text):
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    blocks = text.split("\n#%% ")
    blocks[0] = blocks[0].removeprefix("#%% ")
    for block in blocks:
        header, _, body = block.partition("\n")
        parts = header.split()
        kind, body = parts[0], body.strip("\n")
        if kind == "md":
            nb.cells.append(nbformat.v4.new_markdown_cell(body))
            continue
        cell = nbformat.v4.new_code_cell(body)
        if kind in ("readonly", "solution"):
            cell.metadata = nbgrader_meta(kind, parts[1])
        elif kind == "test":
            assert parts[1].startswith("test_"), header
            cell.metadata = nbgrader_meta(kind, parts[1], int(parts[2]))
        else:
            assert kind == "code", header
        nb.cells.append(cell)
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i:03d}"
    return nb


if __name__ == "__main__":
    source, target = sys.argv[1], sys.argv[2]
    with open(source, encoding="utf-8") as f:
        nb = build(f.read())
    nbformat.validate(nb)
    nbformat.write(nb, target)

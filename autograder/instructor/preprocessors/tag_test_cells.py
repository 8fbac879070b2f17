"""`TagTestCells`, a release step: graded test cells are tagged `raises-exception`, so that
Run All goes on.

In a student's release every exercise starts as a stub that raises `NotImplementedError`, and its
test cell calls it. JupyterLab's Run All (and nbclient, and nbconvert) stops at the first cell
that raises, unless that cell carries the `raises-exception` tag: then the error is shown and the
run goes on. Tagging every graded test cell at release time means a student who runs the whole
notebook with nothing solved yet still sees every demo, plot and widget after the first exercise,
while each failing test cell still shows its error and nbgrader's Validate still reports it (the
tag changes nothing in how nbgrader validates or grades: cell checksums ignore tags).

Any other cell that calls an exercise function (a demo that uses a student's function) has no
nbgrader metadata to recognise it by: authors tag those in the source notebook (README,
"raises-exception"); the tests check that the release runs through with no error but the stubs'.
"""

from nbgrader import utils
from nbgrader.preprocessors import NbGraderPreprocessor

TAG = "raises-exception"


def is_test_cell(cell):
    """A graded code cell that is not a solution: the visible (and hidden) tests of an exercise."""
    return cell.cell_type == "code" and utils.is_grade(cell) and not utils.is_solution(cell)


class TagTestCells(NbGraderPreprocessor):
    """Add the `raises-exception` tag to every graded test cell (once; other tags are kept)."""

    def preprocess_cell(self, cell, resources, index):
        if is_test_cell(cell):
            tags = list(cell.metadata.get("tags", []))
            if TAG not in tags:
                cell.metadata["tags"] = tags + [TAG]
        return cell, resources

"""`ShowRepairs`: the feedback says which of the student's structural slips the grader repaired.

`RestoreStructure` records them while grading (`metadata.autograder.repairs`: a solution found
in another cell, a test cell restored from the instructor's version, ...). A note at the top of
the feedback lists them, so that a student knows why a cell looks different from what they
handed in, and which habit to drop.
"""

import html

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Bool

from .restore_structure import repairs_of

INTRO = ("**What the grader repaired in your notebook.** Its structure did not match the assignment's, "
         "so before grading the grader changed what is listed below; every exercise was then graded on "
         "your code as it is:")


def note(repairs):
    """The note's markdown for `repairs` (each escaped: it is shown, never run)."""
    return "\n".join([INTRO, ""] + [f"- {html.escape(r)}" for r in repairs])


class ShowRepairs(NbGraderPreprocessor):
    """A markdown cell at the top of the feedback (after the outputs' label) listing the repairs."""

    enabled = Bool(True).tag(config=True)

    def preprocess(self, nb, resources):
        repairs = repairs_of(nb)
        if not repairs:
            return nb, resources
        at = 0
        while at < len(nb.cells) and isinstance(nb.cells[at].metadata.get("autograder"), dict) \
                and nb.cells[at].metadata["autograder"].get("label"):
            at += 1
        cell = nbformat.v4.new_markdown_cell(note(repairs))
        cell.metadata["autograder"] = {"label": True, "repairs": True}
        nb.cells.insert(at, cell)
        return nb, resources

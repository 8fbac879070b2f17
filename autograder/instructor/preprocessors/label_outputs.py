"""`LabelOutputs`: the feedback says where its outputs come from.

The grade command does not run a notebook, so an autograded notebook shows the student's own
outputs as submitted, unless the feedback run (`rerun`) replaced them; the graded test cells
always show the grading. A note at the top of the feedback says which, in plain words.
"""

import nbformat
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Bool

from ..outputs import RUN, SUBMITTED

GRADED = ("Your grade comes from the hidden tests, which the grader ran on your functions alone. "
          "The outputs of the **test cells** (each says ✓, or why it lost its points) come from that grading.")
SOURCES = {
    SUBMITTED: "Every other output is **your own**, exactly as your notebook held it when you handed it in: "
               "the grader did not run those cells again.",
    RUN: "Every other output comes from the grader running your notebook from top to bottom in its "
         "sandbox (test cells skipped), after grading; it may differ from what you saw, and it never "
         "changed your grade.",
}
EXECUTED = "Every other output comes from the grader running your notebook from top to bottom."


def label(nb):
    """The note's text for `nb` (from its `autograder.outputs` metadata)."""
    meta = nb.metadata.get("autograder")
    source = meta.get("outputs") if isinstance(meta, dict) else None
    return f"**Where the outputs below come from.** {GRADED} {SOURCES.get(source, EXECUTED)}"


class LabelOutputs(NbGraderPreprocessor):
    """A markdown cell at the top of the feedback: which outputs are the student's own and
    which came from grading."""

    enabled = Bool(True).tag(config=True)

    def preprocess(self, nb, resources):
        cell = nbformat.v4.new_markdown_cell(label(nb))
        cell.metadata["autograder"] = {"label": True}
        nb.cells.insert(0, cell)
        return nb, resources

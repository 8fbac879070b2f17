"""`ReplayExecution`: the outputs of phase 1's executed copy of this very notebook (grade command).

Phase 1 ran nbgrader's own sanitize step on the same submission, so the two notebooks must have
the same cells, and the same code in each code cell (markdown may differ: the `kernel` engine
stages notebooks whose student content `SanitizeStudentContent` already made inert); anything
else is reported, never guessed. A notebook phase 1 did not stage is
graded as an error, with the reason phase 1 gave (`Staging.failure`).
"""

from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Bool, Unicode

from ..staging import NO_RESULT, Staging
from ..verdicts import error_output


class ReplayExecution(NbGraderPreprocessor):
    """Copy outputs (and the verdicts' metadata) from the staged notebook."""

    enabled = Bool(True).tag(config=True)
    staging = Unicode("", help="folder of executed notebooks: <student>/<assignment>/<nb>.ipynb, "
                      "or <student>/<assignment>/_failed.json saying why there is none").tag(config=True)

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        staging = Staging(self.staging)
        staged = staging.notebook(info["student"], info["assignment"], info["notebook"])
        reason = None
        if not staged.exists():
            reason = staging.failure(info["student"], info["assignment"]) or NO_RESULT
        else:
            done = staging.read(staged)
            if _code(done) != _code(nb):
                reason = "the executed notebook does not match the submission"
        if reason:
            for cell in nb.cells:
                if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade"):
                    cell.outputs = [error_output("GradingError", f"This notebook could not be graded: {reason}")]
                    cell.metadata["autograder"] = {"status": "error", "message": reason}
            nb.metadata["autograder"] = {"error": reason}
            return nb, resources
        for mine, theirs in zip(nb.cells, done.cells):
            if mine.cell_type == "code":
                mine.outputs = theirs.outputs
                mine.execution_count = theirs.execution_count
                if "autograder" in theirs.metadata:
                    mine.metadata["autograder"] = theirs.metadata["autograder"]
        if "autograder" in done.metadata:
            nb.metadata["autograder"] = done.metadata["autograder"]
        return nb, resources


def _code(nb):
    """Each cell's type, and its source if it is code: what the outputs belong to."""
    return [(c.cell_type, c.source if c.cell_type == "code" else None) for c in nb.cells]

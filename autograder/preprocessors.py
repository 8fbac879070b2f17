"""nbgrader preprocessors that make `nbgrader autograde` trustworthy (wired in nbgrader_config.py).

- `SafeExecute`: nbgrader's Execute with the kernel in the sandbox, a cap on each cell's output,
  and a kernel that dies (os._exit, a crash, the memory limit) costing the cells that did not
  run, not the whole submission.
- `VerifyExercises`: runs every exercise's hidden check again in a clean sandboxed process and
  makes the test cells' outputs (which nbgrader scores) agree with those verdicts.
- `ReplayExecution`: for the `grade` command's single writer: takes the outputs of a notebook
  already executed and verified by a worker, instead of executing it again.
- `HideHiddenTests`: for feedback: removes hidden-test code from the test cells students see.
"""

import hashlib
import json
import os
from pathlib import Path

import nbformat
from nbclient.exceptions import DeadKernelError
from nbgrader.preprocessors import ClearHiddenTests, Execute, NbGraderPreprocessor
from traitlets import Bool, Integer, List, Unicode
from traitlets.utils.importstring import import_item

from .curriculum import CURRICULUM
from .sandbox import (DEFAULT_MEMORY_BYTES, HIDE_ENV, Sandbox, SandboxedKernelManager,
                      warn_unsandboxed)
from .verdicts import apply_verdicts, build_job, error_output, run_verify


def hidden_paths(config, resources):
    """Folders student code must not see: the course root, the gradebook's folder, and any the
    grading command adds through AUTOGRADER_HIDE."""
    paths = []
    root = config.CourseDirectory.get("root") if "CourseDirectory" in config else None
    if root:
        paths.append(root)
    db_url = (resources or {}).get("nbgrader", {}).get("db_url", "")
    if db_url.startswith("sqlite:///"):
        paths.append(os.path.dirname(db_url[len("sqlite:///"):]))
    paths += [p for p in os.environ.get(HIDE_ENV, "").split(os.pathsep) if p]
    return [p for p in paths if p and os.path.isdir(p)]


class SafeExecute(Execute):
    """Execute in a sandboxed kernel; survive kernel death; cap output."""

    max_output_bytes = Integer(1_000_000, help="output kept per cell; the rest is dropped").tag(config=True)
    memory_bytes = Integer(DEFAULT_MEMORY_BYTES, help="address-space limit of the kernel").tag(config=True)

    def __init__(self, **kwargs):
        kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)
        super().__init__(**kwargs)

    def preprocess(self, nb, resources=None, km=None):
        self._hide = hidden_paths(self.config, resources)
        self._dead, self._output_bytes = None, {}
        return super().preprocess(nb, resources, km)

    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        if isinstance(km, SandboxedKernelManager):
            km.hide = self._hide
            km.memory_bytes = self.memory_bytes
        return km

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        if self._dead:
            cell.outputs = [error_output("NotRun", f"This cell did not run: {self._dead}.")]
            return cell, resources
        try:
            return super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._dead = f"the kernel died in cell {index + 1}"
            cell.outputs.append(error_output(
                "KernelDied", "The kernel died while running this cell: the code called os._exit, "
                "crashed, or ran out of memory. Later cells did not run."))
            return cell, resources

    def output(self, outs, msg, display_id, cell_index):
        used = self._output_bytes.get(cell_index, 0) + len(json.dumps(msg.get("content", {})))
        self._output_bytes[cell_index] = used
        if used > self.max_output_bytes:
            if used - len(json.dumps(msg.get("content", {}))) <= self.max_output_bytes:
                outs.append(nbformat.v4.new_output(
                    "stream", name="stdout",
                    text=f"\n[output truncated: this cell printed more than {self.max_output_bytes} bytes]\n"))
            return None
        return super().output(outs, msg, display_id, cell_index)


class VerifyExercises(NbGraderPreprocessor):
    """Decide every exercise in a clean sandboxed process (see autograder/verify.py)."""

    enabled = Bool(True).tag(config=True)
    time_limit = Integer(60, help="seconds allowed to one exercise's check").tag(config=True)
    memory_bytes = Integer(DEFAULT_MEMORY_BYTES, help="address-space limit of the check").tag(config=True)
    require_sandbox = Bool(False, help="refuse to grade without bubblewrap").tag(config=True)

    def preprocess(self, nb, resources):
        assignment = resources.get("nbgrader", {}).get("assignment")
        if assignment not in CURRICULUM:
            return nb, resources
        sandbox = Sandbox(resources["metadata"]["path"], hide=hidden_paths(self.config, resources),
                          memory_bytes=self.memory_bytes)
        if not sandbox.available:
            if self.require_sandbox:
                raise RuntimeError("bubblewrap is required (VerifyExercises.require_sandbox)")
            warn_unsandboxed(self.log)
        job = build_job(nb, assignment, time_limit=self.time_limit, memory_bytes=self.memory_bytes)
        summary = apply_verdicts(nb, assignment, run_verify(job, sandbox))
        nb.metadata["autograder"] = {"sandboxed": sandbox.available, "exercises": summary}
        return nb, resources


def staged_path(staging, resources):
    info = resources["nbgrader"]
    return Path(staging) / info["student"] / info["assignment"] / f"{info['notebook']}.ipynb"


def file_digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class ReplaySanitize(NbGraderPreprocessor):
    """nbgrader's sanitize step, reused from phase 1 (grade command).

    Phase 1 ran the same sanitize preprocessors (`steps`) on the same submitted file, against a
    snapshot of the same gradebook, and staged the result with the file's digest: when the
    digest matches, that notebook is the sanitized one. Otherwise the steps run here, as usual.
    """

    enabled = Bool(True).tag(config=True)
    staging = Unicode("", help="folder of phase 1's staged notebooks").tag(config=True)
    steps = List(Unicode(), help="the sanitize preprocessors to run when nothing can be reused").tag(config=True)

    def preprocess(self, nb, resources):
        staged = staged_path(self.staging, resources)
        submitted = Path(resources["metadata"]["path"]) / staged.name
        if staged.exists() and submitted.exists():
            done = nbformat.read(str(staged), as_version=4)
            if done.metadata.get("autograder", {}).get("submission_sha256") == file_digest(submitted):
                return done, resources
        for step in self.steps:
            nb, resources = import_item(step)(config=self.config).preprocess(nb, resources)
        return nb, resources


class ReplayExecution(NbGraderPreprocessor):
    """Copy outputs from the worker's executed copy of this very notebook (grade command).

    The worker ran nbgrader's own sanitize step on the same submission, so the two notebooks
    must have the same cells; anything else is reported, never guessed.
    """

    enabled = Bool(True).tag(config=True)
    staging = Unicode("", help="folder of executed notebooks: <student>/<assignment>/<nb>.ipynb, "
                      "or <student>/<assignment>/_failed.json saying why there is none").tag(config=True)

    def preprocess(self, nb, resources):
        staged = staged_path(self.staging, resources)
        reason = None
        if not staged.exists():
            failure = staged.parent / "_failed.json"
            reason = (json.loads(failure.read_text())["reason"] if failure.exists()
                      else "the worker produced no result")
        else:
            done = nbformat.read(str(staged), as_version=4)
            if [c.source for c in done.cells] != [c.source for c in nb.cells]:
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


class HideHiddenTests(ClearHiddenTests):
    """Feedback shows test cells without their hidden part (the outputs still say what failed)."""

    enforce_metadata = Bool(False).tag(config=True)

"""`ReplaySanitize`: nbgrader's sanitize step, reused from phase 1 of the grade command.

Phase 1 ran the same sanitize preprocessors (`steps`) on the same submitted file, against a
snapshot of the same gradebook, and staged the result with the file's digest: when the digest
matches, that notebook is the sanitized one. Otherwise the steps run here, as usual.
"""

from pathlib import Path

from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Bool, List, Unicode
from traitlets.utils.importstring import import_item

from ..staging import Staging, file_digest


class ReplaySanitize(NbGraderPreprocessor):
    """The staged notebook of this very file, or the sanitize `steps` run as usual."""

    enabled = Bool(True).tag(config=True)
    staging = Unicode("", help="folder of phase 1's staged notebooks").tag(config=True)
    steps = List(Unicode(), help="the sanitize preprocessors to run when nothing can be reused").tag(config=True)

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        staged = Staging(self.staging).notebook(info["student"], info["assignment"], info["notebook"])
        submitted = Path(resources["metadata"]["path"]) / f"{info['notebook']}.ipynb"
        if staged.exists() and submitted.exists():
            done = Staging(self.staging).read(staged)
            if done.metadata.get("autograder", {}).get("submission_sha256") == file_digest(submitted):
                return done, resources
        for step in self.steps:
            nb, resources = import_item(step)(config=self.config).preprocess(nb, resources)
        return nb, resources

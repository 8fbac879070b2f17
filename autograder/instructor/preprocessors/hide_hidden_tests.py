"""`HideHiddenTests`: feedback shows test cells without their hidden part (the outputs still
say what failed)."""

from nbgrader.preprocessors import ClearHiddenTests
from traitlets import Bool


class HideHiddenTests(ClearHiddenTests):
    """nbgrader's ClearHiddenTests for feedback, where cells' metadata is not enforced."""

    enforce_metadata = Bool(False).tag(config=True)

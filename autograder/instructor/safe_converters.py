"""nbgrader's two converters that copy a student's folder, made to refuse what a student planted.

nbgrader's `Autograde` (submitted/ -> autograded/) and `GenerateFeedback` (autograded/ ->
feedback/) copy every file of the folder with `shutil.copy`, following links, as whoever grades
(root), and read its `timestamp.txt` before that. `SafeAutograde` and `SafeGenerateFeedback`
ask `planted.refusal` first, before anything of the folder is read: a folder holding a link or
a special file is refused for that student (nbgrader reports it as that student's error and
removes its half-made output), and every other student is processed as usual.

nbgrader has no setting for the converter class, so `install` points its apps (`nbgrader
autograde`, `nbgrader generate_feedback`, and `NbGraderAPI`, which the formgrader and the grade
command use) at these subclasses. nbgrader_config.py calls it, so that plain nbgrader gets
them too; `nbgrader_api.make_api` calls it as well.
"""

import sys

from nbgrader.converters import Autograde, GenerateFeedback, NbGraderException

from .planted import refusal


class PlantedFiles(NbGraderException):
    """A submission folder holding a link or a special file (the message says which)."""


class _RefusesPlanted:
    _step = None  # the folder the converter copies from

    def _refuse_planted(self, assignment_id, student_id):
        reason = refusal(self.coursedir.root, self._step, student_id, assignment_id)
        if reason:
            raise PlantedFiles(reason)

    def init_destination(self, assignment_id, student_id):
        self._refuse_planted(assignment_id, student_id)  # before nbgrader reads its timestamp.txt
        return super().init_destination(assignment_id, student_id)

    def init_assignment(self, assignment_id, student_id):
        self._refuse_planted(assignment_id, student_id)  # right before the copy
        return super().init_assignment(assignment_id, student_id)


class SafeAutograde(_RefusesPlanted, Autograde):
    """nbgrader's Autograde; a submission with links or special files is refused."""

    @property
    def _step(self):
        return self.coursedir.submitted_directory


class SafeGenerateFeedback(_RefusesPlanted, GenerateFeedback):
    """nbgrader's GenerateFeedback; an autograded folder with links or special files is refused."""

    @property
    def _step(self):
        return self.coursedir.autograded_directory


_PATCHES = (("nbgrader.apps.autogradeapp", "Autograde", SafeAutograde),
            ("nbgrader.apps.generatefeedbackapp", "GenerateFeedback", SafeGenerateFeedback),
            ("nbgrader.apps.api", "Autograde", SafeAutograde),
            ("nbgrader.apps.api", "GenerateFeedback", SafeGenerateFeedback))


def install():
    """Make nbgrader's apps use SafeAutograde and SafeGenerateFeedback (see the docstring)."""
    import nbgrader.apps  # noqa: F401  (imports every app module patched below)
    for module, name, converter in _PATCHES:
        setattr(sys.modules[module], name, converter)

"""`SanitizeFeedback`: feedback HTML that is safe to open, whatever a student wrote."""

from .record_mistakes import without_mistakes
from .sanitize_student_content import SanitizeStudentContent


class SanitizeFeedback(SanitizeStudentContent):
    """Student content made inert exactly as in the stored autograded notebook
    (`SanitizeStudentContent`: no script, event handler, `javascript:` link, SVG or widget
    view reaches the page). The grader's named mistakes are dropped from the comments
    (`record_mistakes`): they are for the instructor."""

    def preprocess_cell(self, cell, resources, cell_index):
        nbgrader = cell.metadata.get("nbgrader")
        if isinstance(nbgrader, dict) and "comment" in nbgrader:
            nbgrader["comment"] = without_mistakes(nbgrader["comment"])
        return super().preprocess_cell(cell, resources, cell_index)

"""`RecordMistakes`: the mistake each wrong exercise was named with, beside the student's answer in
the formgrader.

After nbgrader's SaveAutoGrades: for every exercise whose verdict names a declared mistake
(`<exercise id>/<slug>`, in the notebook's `autograder` metadata, which the course's pipeline
writes and a submission cannot plant), the gradebook's automatic comment on that exercise's
solution cell says which, for the instructor. Feedback never shows it: `SanitizeFeedback` drops
these lines from the comments it renders (students read the mistake in words, in their test
cell's message).
"""

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Bool

PREFIX = "Autograder: "  # how the comment's line starts (SanitizeFeedback drops such lines)


def mistake_line(exercise, summary):
    return f"{PREFIX}{exercise} failed, named mistake {summary['mistake']}"


class RecordMistakes(NbGraderPreprocessor):
    enabled = Bool(True).tag(config=True)

    def preprocess(self, nb, resources):
        exercises = (nb.metadata.get("autograder") or {}).get("exercises") or {}
        named = {ex: s for ex, s in exercises.items() if isinstance(s, dict) and isinstance(s.get("mistake"), str)}
        if not named:
            return nb, resources
        info = resources["nbgrader"]
        with Gradebook(info["db_url"]) as gb:
            for ex, summary in sorted(named.items()):
                try:
                    comment = gb.find_comment(ex, info["notebook"], info["assignment"], info["student"])
                except MissingEntry:  # an exercise whose solution cell is not in the gradebook
                    continue
                kept = [line for line in (comment.auto_comment or "").splitlines() if not line.startswith(PREFIX)]
                comment.auto_comment = "\n".join([*kept, mistake_line(ex, summary)])
            gb.db.commit()
        return nb, resources

    def preprocess_cell(self, cell, resources, index):
        return cell, resources


def without_mistakes(comment):
    """A gradebook comment as a student may read it: the autograder's lines dropped."""
    if not isinstance(comment, str):
        return comment
    kept = [line for line in comment.splitlines() if not line.startswith(PREFIX)]
    return "\n".join(kept) or None

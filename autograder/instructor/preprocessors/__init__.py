"""The course's nbgrader preprocessors, one per module, as nbgrader splits its own.

nbgrader_config.py names them by this package (`autograder.instructor.preprocessors.SafeExecute`),
so each is re-exported here.

Autograde (`nbgrader autograde`, and the `kernel` engine of the grade command):
    safe_execute       SafeExecute: the kernel in the sandbox (own uid and cgroup, `python -I`, a
                       private copy of the files), output capped, kernel death survived, nothing
                       left running
    verify_exercises   VerifyExercises: every exercise decided by the judge (one warm grader per
                       nbgrader run); the test cells' outputs, which nbgrader scores, follow it
    sanitize_student_content  SanitizeStudentContent (last): student markdown, HTML and
                       outputs made inert in the stored autograded notebook, which the
                       formgrader renders, exactly as in the feedback
    record_mistakes    RecordMistakes: each wrong exercise's named mistake as the gradebook's
                       comment on its solution cell (the formgrader shows it; feedback does not)
    run_shared         RUN: what one nbgrader process shares between notebooks (uids, cgroups,
                       the warm grader)
Sanitize (before nbgrader's own steps; both engines):
    restore_structure  RestoreStructure: the submission's nbgrader cells rebuilt from the
                       instructor's version (copied, reordered, stripped or edited cells; a
                       solution written in another cell), each repair recorded
Phase 2 of the grade command, reusing what phase 1 staged instead of doing it again:
    replay_sanitize    ReplaySanitize
    replay_execution   ReplayExecution
Feedback: no hidden-test code, and nothing a student wrote can run in the reader's browser:
    hide_hidden_tests  HideHiddenTests
    label_outputs      LabelOutputs: a note saying which outputs are the student's own and
                       which came from grading
    show_repairs       ShowRepairs: a note listing what RestoreStructure repaired
    sanitize_feedback  SanitizeFeedback
Release (`nbgrader generate_assignment`):
    tag_test_cells     TagTestCells: graded test cells tagged `raises-exception`
"""

from .hide_hidden_tests import HideHiddenTests
from .label_outputs import LabelOutputs
from .record_mistakes import RecordMistakes
from .replay_execution import ReplayExecution
from .replay_sanitize import ReplaySanitize
from .restore_structure import RestoreStructure
from .safe_execute import SafeExecute, SandboxedKernelManager
from .sanitize_feedback import SanitizeFeedback
from .sanitize_student_content import SanitizeStudentContent
from .show_repairs import ShowRepairs
from .tag_test_cells import TagTestCells
from .verify_exercises import VerifyExercises

__all__ = ["HideHiddenTests", "LabelOutputs", "RecordMistakes", "ReplayExecution", "ReplaySanitize", "RestoreStructure",
           "SafeExecute", "SandboxedKernelManager", "SanitizeFeedback", "SanitizeStudentContent", "ShowRepairs", "TagTestCells",
           "VerifyExercises"]

"""nbgrader configuration: the repository root is the course root.

source/NN_name/NN_name.ipynb -> `nbgrader generate_assignment` -> release/NN_name/NN_name.ipynb
Submissions go to submitted/<student>/NN_name/, autograded copies to autograded/ and the
gradebook to gradebook.db (all three are git-ignored).
"""

import os
import sys

c = get_config()  # noqa: F821  (injected by nbgrader)

# Nothing a student planted in a submission folder is followed: nbgrader's autograde and
# generate_feedback refuse, for that student alone, a folder holding a symbolic link or a special
# file (a pipe, a device) instead of copying what it names, as root, into autograded/ and
# feedback/. autograder/instructor/safe_converters.py. (Only once nbgrader itself is loaded:
# the grade command reads this file earlier, and installs them when it loads nbgrader.)
if "nbgrader.apps" in sys.modules:
    from autograder.instructor.safe_converters import install

    install()

# nbgrader's own `collect` (from the exchange's inbound/, which each student's unix user writes)
# refuses, for that student alone, a folder holding a link, a special file or a hard link, and
# copies the others without following anything (autograder/instructor/safe_exchange.py).
c.ExchangeFactory.collect = "autograder.instructor.safe_exchange.SafeExchangeCollect"

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = "pytorch-fundamentals"
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"

# The student version keeps the signature and docstring and replaces the body with this stub.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# The release pipeline: nbgrader's own steps (its default list, in its order) plus one of ours,
# TagTestCells, which tags every graded test cell `raises-exception` so that Run All in
# JupyterLab goes through a notebook whose exercises are all unsolved (each test cell still
# shows its error, and Validate still reports it).
# autograder/instructor/preprocessors/tag_test_cells.py.
c.GenerateAssignment.preprocessors = [
    "nbgrader.preprocessors.IncludeHeaderFooter",
    "nbgrader.preprocessors.InstantiateTests",
    "nbgrader.preprocessors.LockCells",
    "nbgrader.preprocessors.ClearSolutions",
    "nbgrader.preprocessors.ClearOutput",
    "autograder.instructor.preprocessors.TagTestCells",
    "nbgrader.preprocessors.CheckCellMetadata",
    "nbgrader.preprocessors.ComputeChecksums",
    "nbgrader.preprocessors.SaveCells",
    "nbgrader.preprocessors.ClearHiddenTests",
    "nbgrader.preprocessors.ClearMarkScheme",
    "nbgrader.preprocessors.ComputeChecksums",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# Grading must not be fooled by submissions that edit or delete test cells: graded and
# read-only cells are restored from the gradebook, and deleted ones are put back.
c.OverwriteCells.add_missing_cells = True

# A student's structural slips (a copied or reordered test cell, a flag flipped in the Create
# Assignment sidebar, stripped metadata, a solution written in another cell) cost only what they
# break: RestoreStructure rebuilds the submission's nbgrader cells from the gradebook before
# nbgrader's own sanitize steps (its default list, in its order), and records each repair for
# the feedback (ShowRepairs). autograder/instructor/preprocessors/restore_structure.py.
c.Autograde.sanitize_preprocessors = [
    "nbgrader.preprocessors.ClearOutput",
    "autograder.instructor.preprocessors.RestoreStructure",
    "nbgrader.preprocessors.DeduplicateIds",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "nbgrader.preprocessors.OverwriteCells",
    "nbgrader.preprocessors.CheckCellMetadata",
]


# Never copy caches and checkpoints from source/ into release/ or from submissions.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".hypothesis", ".pytest_cache"]

# Trustworthy grading (autograder/instructor/preprocessors/): the kernel runs sandboxed
# (SafeExecute: bubblewrap, a uid of its own, a private copy of the files) with capped output
# and survives its own death; then every exercise is decided by the judge (VerifyExercises), in
# a process that never runs student code (started once per nbgrader run), and the test cells'
# outputs, which nbgrader scores, follow its verdicts. A correct solution that writes a warning
# to stderr is not scored 0 (the verdict decides). Last, once every score is saved, the
# autograded notebook's student content is made inert as the feedback's is
# (SanitizeStudentContent: markdown, HTML and outputs), so that nothing a student wrote runs
# in the formgrader, which renders that notebook.
c.Autograde.autograde_preprocessors = [
    "autograder.instructor.preprocessors.SafeExecute",
    "autograder.instructor.preprocessors.VerifyExercises",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "autograder.instructor.preprocessors.RecordMistakes",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
    "autograder.instructor.preprocessors.SanitizeStudentContent",
]
c.SafeExecute.interrupt_on_timeout = True

# Due dates and late work (autograder/instructor/deadlines.py). The course's time zone: a due
# date without one is read in it, and the formgrader shows and reads due dates in it.
c.NbGraderAPI.timezone = "UTC"  # e.g. "Asia/Seoul"
# Due dates per assignment; `grade --due` / `export --due` win over these. Either is written to
# the gradebook's due date (what `nbgrader db assignment add --duedate` sets), so plain
# `nbgrader export` and the formgrader agree. Without either, the gradebook's own is used.
c.Deadlines.due = {}  # e.g. {"01_tensor_ops": "2026-12-01 23:59"}
# A submission's time is its timestamp.txt (written by `collect` and by `nbgrader collect`);
# AssignLatePenalties (above) records a late penalty per notebook with this plugin, nbgrader's
# own ('none': no penalty, 'zero': the notebook scores 0) plus 'per_hour':
c.AssignLatePenalties.plugin_class = "autograder.instructor.deadlines.LatePenalty"
c.LatePenalty.penalty_method = "none"  # or "zero", or "per_hour" with:
c.LatePenalty.points_per_hour = 0.0  # points off per started hour late (capped at the notebook's score)
# The limits (seconds per cell and per exercise's check, memory, output kept per cell) default
# to autograder/protocol/limits.py, which the grade command and both grading servers read too.
# To change one for this course, set it here, and the grade command follows:
#   c.SafeExecute.timeout            seconds one cell may run
#   c.SafeExecute.max_output_bytes   output kept per cell
#   c.SafeExecute.memory_bytes       memory of a notebook's kernel
#   c.SafeExecute.notebook_timeout   seconds one whole notebook may run (and CPU seconds of its kernel)
#   c.VerifyExercises.time_limit     seconds of its own time one exercise's check may run
#   c.VerifyExercises.memory_bytes   memory of one exercise's candidate
# Grade on a Dask cluster (what `grade --cluster ADDRESS` does; `--cluster local` overrides it):
# phase 1 on the workers, each with its own sandboxed servers; the gradebook written here.
# c.Cluster.address = "tcp://scheduler.example.org:8786"

# Feedback shows failure messages, never the hidden tests' code, says which outputs are the
# student's own (the grade command does not run notebooks) and which came from grading, and
# nothing a student wrote (output or markdown) can run in the browser of whoever opens it.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "autograder.instructor.preprocessors.HideHiddenTests",
    "autograder.instructor.preprocessors.LabelOutputs",
    "autograder.instructor.preprocessors.ShowRepairs",
    "autograder.instructor.preprocessors.SanitizeFeedback",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]

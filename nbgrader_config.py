"""nbgrader configuration: the repository root is the course root.

source/NN_name/NN_name.ipynb -> `nbgrader generate_assignment` -> release/NN_name/NN_name.ipynb
Submissions go to submitted/<student>/NN_name/, autograded copies to autograded/ and the
gradebook to gradebook.db (all three are git-ignored).
"""

import os

c = get_config()  # noqa: F821  (injected by nbgrader)

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = "pytorch-fundamentals"
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"

# The student version keeps the signature and docstring and replaces the body with this stub.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# Grading must not be fooled by submissions that edit or delete test cells: graded and
# read-only cells are restored from the gradebook, and deleted ones are put back.
c.OverwriteCells.add_missing_cells = True

# A notebook that hangs loses time, not the whole class: each cell gets at most this long.
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True

# Never copy caches and checkpoints from source/ into release/ or from submissions.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".hypothesis", ".pytest_cache"]

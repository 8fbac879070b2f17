"""nbgrader in each user's server on the course's JupyterHub (docs/jupyterhub/jupyterhub_config.py
puts this folder on JUPYTER_CONFIG_PATH): the course's shared exchange, for the Assignments tab,
and Validate as the student kit has it (the exercises that do not pass yet first, one short error
per failing test cell)."""

import os

from course.validation import shorten_failure, start_notebook

c = get_config()  # noqa: F821  (injected by nbgrader)
c.Exchange.root = os.environ.get("COURSE_HUB_EXCHANGE", "/srv/nbgrader/exchange")
c.CourseDirectory.course_id = "pytorch-fundamentals"
c.Execute.on_notebook_start = start_notebook
c.Execute.on_cell_error = shorten_failure

"""nbgrader in the formgrader service of the course's JupyterHub (docs/jupyterhub/jupyterhub_config.py
puts this folder on its JUPYTER_CONFIG_PATH): the exchange the students use, so that Release and
Collect in the formgrader reach them. The course root's own nbgrader_config.py adds the rest."""

import os

c = get_config()  # noqa: F821  (injected by nbgrader)
c.Exchange.root = os.environ.get("COURSE_HUB_EXCHANGE", "/srv/nbgrader/exchange")
c.CourseDirectory.course_id = "pytorch-fundamentals"

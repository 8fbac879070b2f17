"""An example JupyterHub for the course: students get JupyterLab in the course's environment and
fetch assignments from nbgrader's exchange; instructors reach the formgrader as a hub service.

Run it (as root, from the course root, after `make setup`):

    .venv/bin/jupyterhub -f docs/jupyterhub/jupyterhub_config.py

- Logins: PAM (the machine's own accounts). Who may log in: COURSE_HUB_INSTRUCTORS and
  COURSE_HUB_STUDENTS (comma-separated user names, each a system user).
- Each user's server: the course environment's `jupyterhub-singleuser` (the .venv of
  `make setup`), started as that system user in their home, opening on /lab. Its Jupyter
  configuration (docs/jupyterhub/student/) keeps nbgrader's Assignments tab and Validate and
  switches off the instructor panels; nbgrader's exchange (COURSE_HUB_EXCHANGE) is shared by
  everyone, for the course `pytorch-fundamentals`: the instructor releases with
  `nbgrader release_assignment NN_name` (or the formgrader), students fetch and submit from
  the Assignments tab, `python -m autograder collect NN_name <exchange>/pytorch-fundamentals/inbound`
  collects.
- With COURSE_HUB_COPY_RELEASE=1, every spawn also copies into the user's home what is new in
  release/ (as `make my-work` does: never overwriting; copy_release.py, run as the user, through
  no link), for a class that does without the exchange (not both: nbgrader's fetch refuses a
  folder that is already there).
- The formgrader: a hub-managed service named after the course (as nbgrader requires), a
  JupyterLab on the course root, at /services/pytorch-fundamentals/ for the group
  `formgrade-pytorch-fundamentals` (the instructors) only.
- Roles: instructors may see and start or stop every user's server (the hub's admin page);
  students are plain users (their own server only).

Every setting that differs between deployments reads an environment variable (the defaults in
`SETTINGS`), so `tests/test_jupyterhub.py` runs this very file on free ports and temporary
folders. The proxy is JupyterHub's configurable-http-proxy, installed by `make setup` from
docs/jupyterhub/package-lock.json into docs/jupyterhub/node_modules/.
"""

import os
import pwd
import subprocess
import sys
from pathlib import Path

c = get_config()  # noqa: F821  (injected by JupyterHub)

HERE = Path(__file__).resolve().parent
COURSE_ID = "pytorch-fundamentals"
INSTRUCTOR_GROUP = f"formgrade-{COURSE_ID}"  # the group name nbgrader's JupyterHub support looks for
STUDENT_GROUP = f"nbgrader-{COURSE_ID}"

# {environment variable: default}
SETTINGS = {
    "COURSE_HUB_COURSE_ROOT": str(HERE.parent.parent),  # the course root (nbgrader_config.py, release/)
    "COURSE_HUB_VENV": "",  # the course environment; empty: <course root>/.venv
    "COURSE_HUB_EXCHANGE": "/srv/nbgrader/exchange",  # nbgrader's exchange, shared by every user
    "COURSE_HUB_STATE": "/srv/jupyterhub",  # the hub's database, cookie secret and proxy pid file
    "COURSE_HUB_BIND_URL": "http://:8000",  # where users connect (the proxy)
    "COURSE_HUB_HUB_PORT": "8081",  # the hub's own port, on 127.0.0.1
    "COURSE_HUB_PROXY_API_PORT": "8001",  # the proxy's REST API, on 127.0.0.1
    "COURSE_HUB_FORMGRADER_PORT": "9999",  # the formgrader service, on 127.0.0.1
    "COURSE_HUB_PROXY": str(HERE / "node_modules" / ".bin" / "configurable-http-proxy"),
    "COURSE_HUB_INSTRUCTORS": "instructor",
    "COURSE_HUB_STUDENTS": "",
    "COURSE_HUB_GRADER_USER": "",  # the system user the formgrader runs as; empty: the hub's own
    "COURSE_HUB_COPY_RELEASE": "0",  # 1: copy release/ into each user's home on spawn
}


def setting(name):
    return os.environ.get(name, SETTINGS[name])


def names(variable):
    return [name.strip() for name in setting(variable).split(",") if name.strip()]


course_root = Path(setting("COURSE_HUB_COURSE_ROOT")).resolve()
venv_bin = Path(setting("COURSE_HUB_VENV") or course_root / ".venv") / "bin"
state = Path(setting("COURSE_HUB_STATE"))
exchange = setting("COURSE_HUB_EXCHANGE")
instructors = names("COURSE_HUB_INSTRUCTORS")
students = names("COURSE_HUB_STUDENTS")
grader_user = setting("COURSE_HUB_GRADER_USER")
# nbgrader runs helpers such as `alembic` from the environment's bin/: first on every PATH.
course_path = f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '/usr/local/bin:/usr/bin:/bin')}"


def closed_to_others(path):
    """The first folder on the way to `path` (links followed) that other users cannot enter, or None."""
    real = Path(os.path.realpath(path))
    return next((folder for folder in reversed(real.parents) if not os.stat(folder).st_mode & 0o001), None)


# Students' servers run as the students: the environment's Python (a pyenv or conda Python under
# /root, say) and the course root must be open to them, or every spawn fails with "Permission denied".
for needed in (venv_bin / "python", course_root):
    if needed.exists() and (closed := closed_to_others(needed)):
        print(f"WARNING: students' servers cannot start: {needed} lies under {closed}, which other users cannot "
              "enter (build the course environment from a Python every user can run, e.g. "
              "`make clean setup PYTHON=/usr/bin/python3.11`, in a course root they can read)", file=sys.stderr)

state.mkdir(parents=True, exist_ok=True)
c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
c.JupyterHub.bind_url = setting("COURSE_HUB_BIND_URL")
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(setting("COURSE_HUB_HUB_PORT"))
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{setting('COURSE_HUB_PROXY_API_PORT')}"
c.ConfigurableHTTPProxy.command = [setting("COURSE_HUB_PROXY")]
c.ConfigurableHTTPProxy.pid_file = str(state / "jupyterhub-proxy.pid")

c.JupyterHub.authenticator_class = "pam"
c.Authenticator.allowed_users = set(instructors + students)
c.Authenticator.admin_users = set()  # instructors get the narrower role below, not the hub's admin

c.JupyterHub.spawner_class = "jupyterhub.spawner.LocalProcessSpawner"
c.Spawner.cmd = [str(venv_bin / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.notebook_dir = "~"
# A class logging in at once starts many servers together, each some seconds of CPU: wait longer
# than JupyterHub's defaults (60 s to start, 30 s to answer) before calling a spawn failed.
c.Spawner.start_timeout = 180
c.Spawner.http_timeout = 120
c.Spawner.environment = {
    "PATH": course_path,
    "JUPYTER_CONFIG_PATH": str(HERE / "student"),
    "COURSE_HUB_EXCHANGE": exchange,
}

c.JupyterHub.load_groups = {
    INSTRUCTOR_GROUP: {"users": instructors},
    STUDENT_GROUP: {"users": students},
}
c.JupyterHub.load_roles = [
    {"name": f"instructor-{COURSE_ID}", "groups": [INSTRUCTOR_GROUP],
     "scopes": ["admin-ui", "list:users", "read:users", "admin:servers", "access:servers",
                f"access:services!service={COURSE_ID}"]},
]

formgrader_port = int(setting("COURSE_HUB_FORMGRADER_PORT"))
formgrader_cmd = [str(venv_bin / "jupyterhub-singleuser"), f"--ServerApp.root_dir={course_root}"]
if not grader_user and os.getuid() == 0:
    formgrader_cmd.append("--allow-root")  # the course's grading itself runs as root (its sandbox)
formgrader = {
    "name": COURSE_ID,
    "url": f"http://127.0.0.1:{formgrader_port}",
    "command": formgrader_cmd,
    "cwd": str(course_root),
    "oauth_no_confirm": True,
    "timeout": 120,  # seconds the hub waits for it to answer (JupyterHub's default, 30, is short on a busy server)
    "environment": {
        "PATH": course_path,
        "JUPYTER_CONFIG_PATH": str(HERE / "formgrader"),
        "COURSE_HUB_EXCHANGE": exchange,
        "JUPYTERHUB_DEFAULT_URL": "/formgrader",  # JupyterHub >= 4.1 blanks it inside JupyterLab's frame
    },
}
if grader_user:
    formgrader["user"] = grader_user
c.JupyterHub.services = [formgrader]


def copy_release(spawner):
    """Before a spawn: what is new in release/ copied into the user's home (copy_release.py beside
    this file), run as the user when they are a system user and the hub is root."""
    as_user = {}
    try:
        entry = pwd.getpwnam(spawner.user.name)
    except KeyError:
        entry = None
    if entry and os.getuid() == 0:
        as_user = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
    home = getattr(spawner, "home_dir", "") or entry.pw_dir
    subprocess.run([str(venv_bin / "python"), str(HERE / "copy_release.py"), str(course_root / "release"), home],
                   cwd="/", check=True, timeout=120, **as_user)


if setting("COURSE_HUB_COPY_RELEASE") == "1":
    c.Spawner.pre_spawn_hook = copy_release

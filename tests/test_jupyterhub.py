"""The course on JupyterHub (docs/jupyterhub/jupyterhub_config.py): the example configuration
loads and says what matters (the course environment's server for every user, nbgrader's shared
exchange, the formgrader as a service for the instructors only), and a hub started from it on
localhost serves a student's JupyterLab, where the Assignments tab lists and fetches what the
instructor released into the exchange, and serves the formgrader to the instructor, not the student.

The hub runs the example file itself, with its environment variables pointed at temporary
folders and free ports, and three changes for a test machine whose users are not system users:
the dummy authenticator, SimpleLocalProcessSpawner (homes under the temporary folder) and a
service token to drive the REST API. It needs JupyterHub's proxy, which `make setup` installs
(docs/jupyterhub/node_modules/); without it the hub test is skipped, saying why, except on CI
(COURSE_REQUIRE_BROWSER=1), where it fails.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import psutil
import pytest
from traitlets.config import PyFileConfigLoader

from autograder.instructor.release import nbgrader_env

from conftest import ASSIGNMENTS, ROOT, copy_course

# each test (and the module's servers it starts) has minutes here: a hang fails in 10, not 15
pytestmark = pytest.mark.timeout(600)

HUB = ROOT / "docs" / "jupyterhub"
EXAMPLE = HUB / "jupyterhub_config.py"
PROXY = HUB / "node_modules" / ".bin" / "configurable-http-proxy"
REQUIRED = os.environ.get("COURSE_REQUIRE_BROWSER") == "1"
COURSE_ID = PyFileConfigLoader("nbgrader_config.py", str(ROOT)).load_config().CourseDirectory.course_id
SERVICE_TOKEN = "hub-test-" + os.urandom(8).hex()
STUDENT, INSTRUCTOR = "student1", "teacher1"
START_SECONDS = 120  # a busy 2-core machine; a quiet one has the hub up and a server ready in a few seconds


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_example(monkeypatch, **settings):
    """The example configuration as JupyterHub reads it, under these COURSE_HUB_* settings."""
    from jupyterhub.app import JupyterHub
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    hub = JupyterHub()
    hub.load_config_file(str(EXAMPLE))
    return hub.config


def test_the_example_runs_the_course_environment_with_the_shared_exchange(tmp_path, monkeypatch):
    config = load_example(monkeypatch, COURSE_HUB_STATE=str(tmp_path / "state"),
                          COURSE_HUB_EXCHANGE=str(tmp_path / "exchange"),
                          COURSE_HUB_INSTRUCTORS=INSTRUCTOR, COURSE_HUB_STUDENTS=f"{STUDENT}, student2")
    assert COURSE_ID == "pytorch-fundamentals"
    assert config.JupyterHub.authenticator_class == "pam"
    assert config.JupyterHub.spawner_class == "jupyterhub.spawner.LocalProcessSpawner"
    singleuser = ROOT / ".venv" / "bin" / "jupyterhub-singleuser"
    assert config.Spawner.cmd == [str(singleuser)]
    assert config.Spawner.default_url == "/lab"
    assert config.Authenticator.allowed_users == {INSTRUCTOR, STUDENT, "student2"}
    assert config.JupyterHub.db_url == f"sqlite:///{tmp_path / 'state' / 'jupyterhub.sqlite'}"
    assert (tmp_path / "state").is_dir()
    assert config.ConfigurableHTTPProxy.command == [str(PROXY)]

    environment = config.Spawner.environment
    assert environment["PATH"].split(os.pathsep)[0] == str(singleuser.parent)
    assert environment["COURSE_HUB_EXCHANGE"] == str(tmp_path / "exchange")
    monkeypatch.setenv("COURSE_HUB_EXCHANGE", environment["COURSE_HUB_EXCHANGE"])
    student = Path(environment["JUPYTER_CONFIG_PATH"])
    nbgrader_config = PyFileConfigLoader("nbgrader_config.py", str(student)).load_config()
    assert nbgrader_config.Exchange.root == str(tmp_path / "exchange")
    assert nbgrader_config.CourseDirectory.course_id == COURSE_ID
    server = json.loads((student / "jupyter_server_config.json").read_text())["ServerApp"]["jpserver_extensions"]
    assert server == {"nbgrader.server_extensions.formgrader": False, "nbgrader.server_extensions.course_list": False}
    lab = json.loads((student / "labconfig" / "page_config.json").read_text())["disabledExtensions"]
    assert "@jupyter/nbgrader:create-assignment" in lab and "@jupyter/nbgrader:assignment-list" not in lab

    (service,) = config.JupyterHub.services
    assert service["name"] == COURSE_ID, "nbgrader finds the formgrader service by the course's id"
    assert service["command"][0] == str(singleuser) and service["cwd"] == str(ROOT)
    assert f"--ServerApp.root_dir={ROOT}" in service["command"]
    assert service["environment"]["COURSE_HUB_EXCHANGE"] == str(tmp_path / "exchange")
    formgrader_config = PyFileConfigLoader("nbgrader_config.py", service["environment"]["JUPYTER_CONFIG_PATH"]).load_config()
    assert formgrader_config.Exchange.root == str(tmp_path / "exchange")

    groups = config.JupyterHub.load_groups
    assert groups[f"formgrade-{COURSE_ID}"]["users"] == [INSTRUCTOR]
    assert groups[f"nbgrader-{COURSE_ID}"]["users"] == [STUDENT, "student2"]
    granted = [role for role in config.JupyterHub.load_roles if f"access:services!service={COURSE_ID}" in role["scopes"]]
    assert [role["groups"] for role in granted] == [[f"formgrade-{COURSE_ID}"]]
    assert not config.Authenticator.admin_users
    assert "pre_spawn_hook" not in config.Spawner, "copying release/ is off unless asked for"


def test_copying_the_release_on_spawn_adds_new_notebooks_and_never_overwrites(tmp_path, monkeypatch):
    copy_release = load_example(monkeypatch, COURSE_HUB_STATE=str(tmp_path / "state"), COURSE_HUB_VENV=sys.prefix,
                                COURSE_HUB_COPY_RELEASE="1").Spawner.pre_spawn_hook
    home = tmp_path / "home"
    spawner = SimpleNamespace(home_dir=str(home), user=SimpleNamespace(name="nobody-here"))
    copy_release(spawner)
    for name in ASSIGNMENTS:
        assert (home / name / f"{name}.ipynb").read_bytes() == (ROOT / "release" / name / f"{name}.ipynb").read_bytes()
    mine = home / ASSIGNMENTS[0] / f"{ASSIGNMENTS[0]}.ipynb"
    mine.write_text("my solutions")
    (home / ASSIGNMENTS[1] / f"{ASSIGNMENTS[1]}.ipynb").unlink()
    copy_release(spawner)
    assert mine.read_text() == "my solutions"
    assert (home / ASSIGNMENTS[1] / f"{ASSIGNMENTS[1]}.ipynb").exists()


def test_copying_the_release_follows_no_link_a_student_planted(tmp_path):
    """The hook runs as the student, and even so writes through no link: a link where a folder
    or a notebook goes (into /etc, say) is left alone and nothing is written where it points."""
    sys.path.insert(0, str(HUB))
    try:
        from copy_release import copy_new
    finally:
        sys.path.remove(str(HUB))
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    elsewhere.mkdir()
    home.mkdir()
    (home / ASSIGNMENTS[0]).symlink_to(elsewhere)
    (home / ASSIGNMENTS[1]).mkdir()
    (home / ASSIGNMENTS[1] / f"{ASSIGNMENTS[1]}.ipynb").symlink_to(elsewhere / "planted.ipynb")
    copied = copy_new(ROOT / "release", home)
    assert list(elsewhere.iterdir()) == []
    assert [str(path) for path in copied] == [f"{name}/{name}.ipynb" for name in ASSIGNMENTS[2:]]


def test_the_example_warns_when_students_could_not_run_the_environment(tmp_path, monkeypatch, capsys):
    """Students' servers run as the students: an environment under a folder closed to them (a
    Python under /root, say) would fail every spawn with "Permission denied", so loading says so."""
    closed = tmp_path / "closed"
    (closed / "venv" / "bin").mkdir(parents=True)
    (closed / "venv" / "bin" / "python").touch()
    closed.chmod(0o700)
    load_example(monkeypatch, COURSE_HUB_STATE=str(tmp_path / "state"), COURSE_HUB_VENV=str(closed / "venv"))
    err = capsys.readouterr().err
    assert "students' servers cannot start" in err and str(closed / "venv" / "bin" / "python") in err


# --------------------------------------------------------------------------- a hub on localhost


class Hub:
    """The example hub, run by JupyterHub from a test configuration that loads it."""

    def __init__(self, tmp_path, course):
        self.port = free_port()
        self.exchange = tmp_path / "exchange"
        self.log = tmp_path / "jupyterhub.log"
        config = tmp_path / "jupyterhub_test_config.py"
        config.write_text(f"""
import os
c = get_config()  # noqa: F821
load_subconfig({str(EXAMPLE)!r})  # noqa: F821
c.JupyterHub.authenticator_class = "dummy"
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = {str(tmp_path / 'homes' / '{username}')!r}
c.Spawner.args = ["--allow-root"] if os.getuid() == 0 else []
c.JupyterHub.services.append({{"name": "hub-test", "api_token": {SERVICE_TOKEN!r}}})
c.JupyterHub.load_roles.append({{"name": "hub-test", "services": ["hub-test"],
    "scopes": ["admin:users", "admin:servers", "access:servers", "access:services", "tokens"]}})
""")
        (tmp_path / "hub-home").mkdir()
        env = dict(os.environ, HOME=str(tmp_path / "hub-home"), COURSE_HUB_COURSE_ROOT=str(course),
                   COURSE_HUB_VENV=sys.prefix, COURSE_HUB_EXCHANGE=str(self.exchange),
                   COURSE_HUB_STATE=str(tmp_path / "state"), COURSE_HUB_BIND_URL=f"http://127.0.0.1:{self.port}",
                   COURSE_HUB_HUB_PORT=str(free_port()), COURSE_HUB_PROXY_API_PORT=str(free_port()),
                   COURSE_HUB_FORMGRADER_PORT=str(free_port()), COURSE_HUB_INSTRUCTORS=INSTRUCTOR,
                   COURSE_HUB_STUDENTS=STUDENT)
        self.env = env
        self.proc = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", str(config)], cwd=tmp_path, env=env,
                                     stdout=open(self.log, "w"), stderr=subprocess.STDOUT, start_new_session=True)
        self.processes = []

    def request(self, path, method="GET", body=None, token=SERVICE_TOKEN):
        """(status, body) of a request through the proxy, with the test service's token or another."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/{path}", data=data, method=method,
                                         headers={"Authorization": f"token {token}"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    def wait(self, what, check):
        deadline = time.monotonic() + START_SECONDS
        while True:
            assert self.proc.poll() is None, f"the hub exited:\n{self.log.read_text()[-4000:]}"
            self.processes = self.descendants()
            try:
                if check():
                    return
            except OSError:
                pass
            assert time.monotonic() < deadline, f"{what} within {START_SECONDS} s:\n{self.log.read_text()[-4000:]}"
            time.sleep(0.3)

    def descendants(self):
        try:
            return [psutil.Process(self.proc.pid), *psutil.Process(self.proc.pid).children(recursive=True)]
        except psutil.NoSuchProcess:
            return self.processes

    def stop(self):
        """Stop the hub (it stops the proxy, the servers and the service), then anything left."""
        self.processes = self.descendants()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        gone, alive = psutil.wait_procs(self.processes, timeout=10)
        for process in alive:
            process.kill()
        psutil.wait_procs(alive, timeout=10)
        return alive


def proxy_missing():
    if PROXY.exists():
        return
    reason = f"JupyterHub's proxy is not installed ({PROXY.relative_to(ROOT)}): `make setup` installs it with npm"
    if REQUIRED:
        pytest.fail(f"the hub test must run here (COURSE_REQUIRE_BROWSER=1) but {reason}")
    pytest.skip(reason)


@pytest.mark.slow
def test_a_hub_serves_a_students_jupyterlab_with_the_released_assignments(tmp_path):
    proxy_missing()
    course = copy_course(tmp_path / "course")
    hub = Hub(tmp_path, course)
    try:
        release = subprocess.run([sys.executable, "-m", "nbgrader", "release_assignment", ASSIGNMENTS[0]], cwd=course,
                                 env=dict(nbgrader_env(), JUPYTER_CONFIG_PATH=str(HUB / "formgrader"),
                                          COURSE_HUB_EXCHANGE=str(hub.exchange)),
                                 capture_output=True, text=True, timeout=300)
        assert release.returncode == 0, release.stdout + release.stderr
        hub.wait("the hub did not answer", lambda: hub.request("hub/api/")[0] == 200)
        status, _ = hub.request(f"hub/api/users/{STUDENT}/server", method="POST", body={})
        assert status in (201, 202)
        hub.wait(f"{STUDENT}'s server was not ready",
                 lambda: json.loads(hub.request(f"hub/api/users/{STUDENT}")[1])["servers"][""]["ready"])

        status, page = hub.request(f"user/{STUDENT}/lab")
        assert status == 200 and '"appName": "JupyterLab"' in page
        assert '"@jupyter/nbgrader:create-assignment"' in page, "a student's JupyterLab has no Create Assignment"
        status, listing = hub.request(f"user/{STUDENT}/assignments?course_id={COURSE_ID}")
        listing = json.loads(listing)
        assert listing["success"], listing
        assert [(a["assignment_id"], a["status"]) for a in listing["value"]] == [(ASSIGNMENTS[0], "released")]
        status, fetched = hub.request(f"user/{STUDENT}/assignments/fetch", method="POST",
                                      body={"course_id": COURSE_ID, "assignment_id": ASSIGNMENTS[0]})
        assert status == 200 and json.loads(fetched)["value"][0]["status"] == "fetched", fetched
        status, contents = hub.request(f"user/{STUDENT}/api/contents/{ASSIGNMENTS[0]}")
        assert status == 200
        assert [item["name"] for item in json.loads(contents)["content"]] == [f"{ASSIGNMENTS[0]}.ipynb"]
        assert (tmp_path / "homes" / STUDENT / ASSIGNMENTS[0] / f"{ASSIGNMENTS[0]}.ipynb").read_bytes() == \
            (course / "release" / ASSIGNMENTS[0] / f"{ASSIGNMENTS[0]}.ipynb").read_bytes()

        for user, allowed in ((INSTRUCTOR, True), (STUDENT, False)):
            status, token = hub.request(f"hub/api/users/{user}/tokens", method="POST", body={"note": "hub test"})
            assert status == 201, token
            status, page = hub.request(f"services/{COURSE_ID}/formgrader", token=json.loads(token)["token"])
            if allowed:
                assert status == 200 and "formgrader" in page.lower(), page[:2000]
            else:
                assert status == 403, f"a student reached the formgrader: {status}"
    finally:
        left = hub.stop()
    assert not left, f"the hub left processes running: {left}"

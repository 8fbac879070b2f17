"""The student kit (`python -m autograder kit`, `make student-kit`): what students get holds no
solution, hidden test or grader code, installs into a fresh virtual environment on its own, and
runs every release notebook there with no error but the stubs'."""

import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import nbformat
import pytest

from conftest import ASSIGNMENTS, ROOT

pytestmark = pytest.mark.slow

MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS",
           "hidden_tests", "autograder")


@pytest.fixture(scope="module")
def kit_zip(tmp_path_factory):
    """The kit as the command builds it, unpacked into an empty folder: (zip path, folder)."""
    here = tmp_path_factory.mktemp("instructor")
    proc = subprocess.run([sys.executable, "-m", "autograder", "--course", str(ROOT), "kit", "--out", "dist"],
                          cwd=here, capture_output=True, text=True, timeout=300)  # a relative --out
    assert proc.returncode == 0, proc.stdout + proc.stderr
    archive = here / "dist" / "student-kit.zip"
    unpacked = tmp_path_factory.mktemp("student")
    assert not any(unpacked.iterdir())
    with zipfile.ZipFile(archive) as z:
        z.extractall(unpacked)
    return archive, unpacked / "student-kit"


def every_text(folder):
    """(name, text) of every file in the folder and of every member of every archive in it."""
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        yield str(path.relative_to(folder)), data.decode("utf-8", "replace")
        if zipfile.is_zipfile(io.BytesIO(data)):
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                for member in z.namelist():
                    yield f"{path.relative_to(folder)}!{member}", z.read(member).decode("utf-8", "replace")


def test_kit_holds_the_release_the_course_wheel_pins_and_a_readme(kit_zip):
    archive, kit = kit_zip
    with zipfile.ZipFile(archive) as z:
        assert all(name.startswith("student-kit/") for name in z.namelist())
    for name in ASSIGNMENTS:
        shipped = kit / "notebooks" / name / f"{name}.ipynb"
        assert shipped.read_bytes() == (ROOT / "release" / name / f"{name}.ipynb").read_bytes()
    (wheel,) = (kit / "wheels").glob("*.whl")
    with zipfile.ZipFile(wheel) as z:
        packages = {n.split("/")[0] for n in z.namelist()}
    dist = wheel.name.split("-")[0] + "-" + wheel.name.split("-")[1]
    assert packages == {"course", f"{dist}.dist-info", f"{dist}.data"}  # .data: the student's Jupyter config
    assert {f"course/{p.name}" for p in (ROOT / "course").glob("*.py")} <= set(zipfile.ZipFile(wheel).namelist())
    requirements = (kit / "requirements.txt").read_text()
    assert re.search(r"^torch==2\.13\.0$", requirements, re.M)
    assert re.search(r"^nbgrader==", requirements, re.M) and f"./wheels/{wheel.name}" in requirements
    pinned = [line for line in requirements.splitlines() if line and not line.startswith(("#", "-c", "./"))]
    assert all(re.fullmatch(r"[\w.-]+==[\w.]+", line) for line in pinned), pinned
    assert "+cpu" not in (kit / "constraints.txt").read_text()
    assert f"./wheels/{wheel.name}" in (kit / "environment.yml").read_text()
    readme = (kit / "README.md").read_text()
    assert "pip install -r requirements.txt" in readme and "Validate" in readme
    # the kit has no Makefile: nothing in it may send a student to `make`
    said = [name for name, text in every_text(kit) if re.search(r"\bmake (lab|test|setup)\b", text)]
    assert not said, f"the kit speaks of make commands it does not have: {said}"
    assert sorted(p.name for p in kit.iterdir()) == ["README.md", "constraints.txt", "environment.yml",
                                                     "notebooks", "requirements.txt", "wheels"]


def test_the_zip_dates_its_files_by_the_last_commit_not_years_ago(kit_zip, tmp_path):
    """Students saw every file '6y ago' (a fixed 2020 date): now the course's last commit's."""
    archive, _ = kit_zip
    stamp = int(subprocess.run(["git", "-C", str(ROOT), "log", "-1", "--format=%ct"], capture_output=True,
                               text=True, check=True).stdout)
    committed = time.gmtime(stamp)[:6]
    with zipfile.ZipFile(archive) as z:
        dates = {info.date_time for info in z.infolist()}
    assert dates == {committed[:5] + (committed[5] // 2 * 2,)}  # zip keeps even seconds
    again = tmp_path / "again"  # and the same commit gives the same zip, its wheel included
    proc = subprocess.run([sys.executable, "-m", "autograder", "--course", str(ROOT), "kit", "--out", str(again)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (again / "student-kit.zip").read_bytes() == archive.read_bytes()


def test_kit_holds_no_solution_hidden_test_or_grader_code(kit_zip):
    from autograder.instructor.kit import leaks, secrets
    _, kit = kit_zip
    assert len(secrets()) >= 5 * len(ASSIGNMENTS), "the solutions were not found"
    texts = dict(every_text(kit))
    assert any("!course/checks.py" in name for name in texts), "the wheel's files were not read"
    found = [f"{name}: {marker!r}" for name, text in texts.items() for marker in MARKERS if marker in text]
    assert not found + leaks(kit), "instructor material in the student kit:\n" + "\n".join(found + leaks(kit))
    names = [p.relative_to(kit).parts for p in kit.rglob("*")]
    assert not [n for n in names if {"autograder", "source", "samples"} & set(n)]
    assert not list(kit.rglob("gradebook.db")) and not list(kit.rglob("nbgrader_config.py"))


def test_the_kit_check_catches_a_solution(kit_zip, tmp_path):
    """The builder refuses a kit with instructor material: plant a solution line and see."""
    from autograder.instructor.kit import leaks
    _, kit = kit_zip
    assert leaks(kit) == []
    import shutil
    copy = shutil.copytree(kit, tmp_path / "kit")
    nb_path = copy / "notebooks" / ASSIGNMENTS[0] / f"{ASSIGNMENTS[0]}.ipynb"
    nb = nbformat.read(str(nb_path), as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution"))
    source = nbformat.read(str(ROOT / "source" / ASSIGNMENTS[0] / f"{ASSIGNMENTS[0]}.ipynb"), as_version=4)
    solved = next(c for c in source.cells if c.metadata.get("nbgrader", {}).get("grade_id")
                  == cell.metadata["nbgrader"]["grade_id"])
    cell.source = re.sub(r" *### (BEGIN|END) SOLUTION\n", "", solved.source)
    nbformat.write(nb, str(nb_path))
    found = leaks(copy)
    assert any("solution code" in f for f in found) and any("more than the stub" in f for f in found)


RUNNER = r"""
import json, sys, time
import nbformat
from nbclient import NotebookClient
from jupyter_client.kernelspec import KernelSpecManager
import course
report = {"course": course.__file__, "python": sys.executable, "notebooks": {}}
try:
    import autograder
    report["autograder"] = autograder.__file__
except ImportError:
    report["autograder"] = None
report["kernel_argv"] = KernelSpecManager().get_kernel_spec("python3").argv
for path in sys.argv[1:]:
    nb = nbformat.read(path, as_version=4)
    start = time.monotonic()
    # no allow_errors: nbclient stops at a raising cell unless it is tagged raises-exception
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": path.rsplit("/", 1)[0]}}).execute()
    errors = [(c.metadata.get("nbgrader", {}).get("grade_id"), c.metadata.get("tags", []), o.ename)
              for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    report["notebooks"][path] = {"errors": errors, "seconds": time.monotonic() - start,
                                 "cells_run": sum(1 for c in nb.cells if c.cell_type == "code"
                                                  and c.execution_count)}
print("REPORT " + json.dumps(report))
"""


def test_kit_installs_in_a_fresh_venv_and_runs_every_notebook(kit_zip, tmp_path):
    _, kit = kit_zip
    start = time.monotonic()
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    # As the kit's README says, plus what makes it cheap here: no bytecode compiled ahead; the
    # packages come from pip's cache (the same pinned wheels as .venv/).
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    env["JUPYTER_DATA_DIR"] = str(tmp_path / "jupyter-data")   # no kernel spec of the user's
    proc = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-compile",
                           "--disable-pip-version-check", "-r", "requirements.txt"],
                          cwd=kit, env=env, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    installed = time.monotonic() - start
    # the kit's JupyterLab is a student's: nbgrader's instructor panels off, front end and server
    env_jupyter = {**env, "JUPYTER_CONFIG_DIR": str(tmp_path / "user-config")}
    lab = subprocess.run([str(venv / "bin" / "jupyter"), "labextension", "list"], env=env_jupyter,
                         capture_output=True, text=True, timeout=300)
    disabled = lab.stdout.split("Disabled extensions:")[-1] + lab.stderr.split("Disabled extensions:")[-1]
    for plugin in ("create-assignment", "formgrader", "course-list", "assignment-list"):
        assert f"@jupyter/nbgrader:{plugin}" in disabled, lab.stdout + lab.stderr
    assert "@jupyter/nbgrader:validate-assignment" not in disabled
    server = subprocess.run([str(venv / "bin" / "jupyter"), "server", "extension", "list"], env=env_jupyter,
                            capture_output=True, text=True, timeout=300)
    states = dict(re.findall(r"(nbgrader\.server_extensions\.\w+) \S*?(enabled|disabled)",
                             re.sub(r"\x1b\[[0-9;]*m", "", server.stdout + server.stderr)))
    assert states == {"nbgrader.server_extensions.formgrader": "disabled",
                      "nbgrader.server_extensions.course_list": "disabled",
                      "nbgrader.server_extensions.assignment_list": "disabled",
                      "nbgrader.server_extensions.validate_assignment": "enabled"}, server.stdout + server.stderr
    notebooks = [str(kit / "notebooks" / n / f"{n}.ipynb") for n in ASSIGNMENTS]
    env.pop("MPLBACKEND", None)  # the kernel draws inline, as in JupyterLab
    proc = subprocess.run([str(python), "-c", RUNNER, *notebooks], cwd=kit, env=env,
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, f"a release notebook stopped in the kit's environment:\n{proc.stderr[-5000:]}"
    report = json.loads(proc.stdout.split("REPORT ", 1)[1])
    site = str(venv / "lib")
    assert report["course"].startswith(site), f"course came from {report['course']}, not the kit's wheel"
    assert report["autograder"] is None, f"the grader is importable in the kit: {report['autograder']}"
    assert report["kernel_argv"][0] in ("python", str(python)) or report["kernel_argv"][0].startswith(str(venv))
    for path, result in report["notebooks"].items():
        nb = nbformat.read(path, as_version=4)
        assert result["cells_run"] == sum(1 for c in nb.cells if c.cell_type == "code"), f"{path}: not every cell ran"
        for grade_id, tags, ename in result["errors"]:
            # a test cell, or a demo that calls an exercise: tagged, and the stubs' error only
            assert ename == "NotImplementedError" and "raises-exception" in tags, \
                f"{path}: {grade_id or 'a cell'} raised {ename}; only the stubs' NotImplementedError is expected"
    print(f"kit: fresh venv + install {installed:.0f} s; notebooks "
          + ", ".join(f"{Path(p).stem} {r['seconds']:.0f} s" for p, r in report["notebooks"].items()))


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def student_lab(kit_zip, tmp_path_factory):
    """JupyterLab as a student's environment runs it: a fresh prefix with the kit's wheel
    installed (its Jupyter configuration included) over this environment's packages (a .pth
    file: nothing downloaded), served on the kit's notebooks/. Yields (base url, token, kit)."""
    import sysconfig
    import urllib.request
    _, kit = kit_zip
    here = tmp_path_factory.mktemp("student-env")
    venv = here / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = Path(sysconfig.get_paths(vars={"base": str(venv), "platbase": str(venv)})["purelib"])
    (site / "course-env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # listed after site
    (venv / "share").symlink_to(Path(sys.prefix) / "share")  # nbgrader's lab extension, the kernel spec
    shutil.copytree(Path(sys.prefix) / "etc" / "jupyter", venv / "etc" / "jupyter")  # nbgrader's own config
    (wheel,) = (kit / "wheels").glob("*.whl")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile",
                    "--disable-pip-version-check", "--prefix", str(venv), str(wheel)], check=True, timeout=300)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "MPLBACKEND")}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env['PATH']}", JUPYTER_CONFIG_DIR=str(here / "user-config"),
               JUPYTER_DATA_DIR=str(here / "user-data"), JUPYTER_RUNTIME_DIR=str(here / "runtime"))
    port, token = free_port(), "kit-test"
    args = ["--no-browser", "--ip=127.0.0.1", f"--port={port}", f"--IdentityProvider.token={token}",
            "--ServerApp.root_dir=notebooks"] + (["--allow-root"] if os.getuid() == 0 else [])
    log = open(here / "lab.log", "wb")
    proc = subprocess.Popen([str(venv / "bin" / "python"), "-m", "jupyterlab", *args], cwd=kit, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            time.sleep(0.5)
            assert proc.poll() is None, (here / "lab.log").read_text()[-3000:]
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5).close()
                break
            except OSError:
                continue
        else:
            pytest.fail("the student's JupyterLab did not answer within 60 s")
        yield base, token, kit
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()


def test_the_kit_lab_is_a_students_no_instructor_panels_only_validate(student_lab):
    """Installing the kit disables nbgrader's Create Assignment, Formgrader, Course List and
    Assignment List (lab plugins and server extensions); Validate stays."""
    import urllib.error
    import urllib.request

    from autograder.instructor.kit import INSTRUCTOR_PLUGINS, NBGRADER
    base, token, _ = student_lab
    with urllib.request.urlopen(f"{base}/lab?token={token}", timeout=30) as page:
        html = page.read().decode()
    config = json.loads(re.search(r'<script id="jupyter-config-data" type="application/json">(.*?)</script>',
                                  html, re.S).group(1))
    disabled = set(config["disabledExtensions"])
    assert {f"{NBGRADER}:{p}" for p in INSTRUCTOR_PLUGINS} <= disabled
    assert f"{NBGRADER}:validate-assignment" not in disabled
    assert NBGRADER in {e["name"] for e in config["federated_extensions"]}
    for url in ("formgrader", "formgrader/gradebook", "courses"):
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(f"{base}/{url}?token={token}", timeout=30)
        assert error.value.code == 404, url
    with urllib.request.urlopen(f"{base}/nbgrader_version?version=0&token={token}", timeout=30) as reply:
        assert "success" in json.load(reply)  # the validate extension answers


def test_validate_in_the_kit_lists_the_failing_exercises_first_one_short_error_each(student_lab):
    """Validate on an unsolved notebook: the failing exercises first, in one line, then one
    short error per test cell, not a dialog of repeated full tracebacks."""
    import urllib.parse
    import urllib.request
    base, token, kit = student_lab
    name = ASSIGNMENTS[0]
    data = urllib.parse.urlencode({"path": f"{name}/{name}.ipynb"}).encode()
    request = urllib.request.Request(f"{base}/assignments/validate?token={token}", data=data, method="POST")
    with urllib.request.urlopen(request, timeout=600) as reply:
        result = json.load(reply)
    assert result["success"], result
    failed = result["value"]["failed"]
    nb = nbformat.read(str(kit / "notebooks" / name / f"{name}.ipynb"), as_version=4)
    exercises = [c.metadata["nbgrader"]["grade_id"].removeprefix("test_") for c in nb.cells
                 if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"]
    assert len(failed) == len(exercises)
    first = failed[0]["raw_error"].splitlines()
    assert first[0] == f"Not passing yet ({len(exercises)}): {', '.join(exercises)}"
    for cell in failed:
        assert "Traceback" not in cell["raw_error"] and "\x1b[" not in cell["raw_error"]
        assert cell["raw_error"].splitlines()[-1].startswith("NotImplementedError: not solved yet")
    errors = sum(len(cell["raw_error"]) for cell in failed)
    assert errors < 200 * len(failed), f"{errors} characters of errors for {len(failed)} cells"

"""`make lab` serves JupyterLab on my-work/, the self-learner's git-ignored copy of release/ (the
student's view), as root too; `make my-work` copies what is new in release/ and never overwrites."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from conftest import ASSIGNMENTS, ROOT, copy_course


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_make_lab_serves_the_release_notebooks(tmp_path):
    port, token = free_port(), "course-test"
    args = f"--no-browser --ip=127.0.0.1 --port={port} --IdentityProvider.token={token}"
    work = tmp_path / "work"  # not the developer's own my-work/
    proc = subprocess.Popen(["make", "-s", "lab", f"LAB_ARGS={args}", f"WORK={work}"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        listing = None
        for _ in range(120):
            time.sleep(0.5)
            assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
            try:
                url = f"http://127.0.0.1:{port}/api/contents/{ASSIGNMENTS[0]}?token={token}"
                with urllib.request.urlopen(url, timeout=5) as response:
                    listing = json.load(response)
                break
            except OSError:
                continue
        assert listing is not None, "JupyterLab did not answer within 60 s"
        names = [item["name"] for item in listing["content"]]
        assert f"{ASSIGNMENTS[0]}.ipynb" in names
        assert (work / ASSIGNMENTS[0] / f"{ASSIGNMENTS[0]}.ipynb").exists(), "lab did not serve the copy"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab?token={token}", timeout=5) as page:
            assert page.status == 200
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def make_my_work(course):
    proc = subprocess.run(["make", "-s", "my-work"], cwd=course, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_my_work_is_copied_from_release_once_and_never_overwritten(tmp_path):
    """A self-learner's work lives in my-work/, not in the tracked release/: a second run keeps
    their edits, a notebook released later appears, a deleted one comes back fresh."""
    course = tmp_path / "course"
    shutil.copytree(ROOT / "release", course / "release")
    shutil.copy(ROOT / "Makefile", course / "Makefile")
    first = make_my_work(course)
    work = course / "my-work"
    for name in ASSIGNMENTS:
        copy = work / name / f"{name}.ipynb"
        assert copy.read_bytes() == (course / "release" / name / f"{name}.ipynb").read_bytes()
        assert f"my-work/{name}/{name}.ipynb" in first
    mine = work / ASSIGNMENTS[0] / f"{ASSIGNMENTS[0]}.ipynb"
    mine.write_text("my solutions")
    (work / ASSIGNMENTS[1] / f"{ASSIGNMENTS[1]}.ipynb").unlink()
    (course / "release" / ASSIGNMENTS[0] / f"{ASSIGNMENTS[0]}.ipynb").write_text("a re-release")
    (course / "release" / "10_new").mkdir()
    (course / "release" / "10_new" / "10_new.ipynb").write_text("{}")
    second = make_my_work(course)
    assert mine.read_text() == "my solutions"
    assert (work / "10_new" / "10_new.ipynb").read_text() == "{}"
    assert (work / ASSIGNMENTS[1] / f"{ASSIGNMENTS[1]}.ipynb").exists()
    assert second.split() == [f"my-work/{ASSIGNMENTS[1]}/{ASSIGNMENTS[1]}.ipynb:", "copied", "from", "release/",
                              "my-work/10_new/10_new.ipynb:", "copied", "from", "release/"]
    assert make_my_work(course) == ""


def test_my_work_is_git_ignored_and_imports_the_course(tmp_path):
    """my-work/ is never committed by accident, and its notebooks find `course` (the editable
    install) from there, with no PYTHONPATH."""
    proc = subprocess.run(["git", "check-ignore", "-q", "--no-index", "my-work/01_tensor_ops/01_tensor_ops.ipynb"],
                          cwd=ROOT)
    assert proc.returncode == 0, "my-work/ is not git-ignored"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-c", "import course.checks, course.devices; print(course.__file__)"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.mark.slow
def test_make_release_leaves_my_work_alone(tmp_path):
    """Regenerating release/ (what `make release` runs) does not touch a self-learner's copy."""
    from autograder.instructor.release import generate
    course = copy_course(tmp_path / "course")
    shutil.copy(ROOT / "Makefile", course / "Makefile")
    make_my_work(course)
    mine = course / "my-work" / ASSIGNMENTS[0] / f"{ASSIGNMENTS[0]}.ipynb"
    mine.write_text("my solutions")
    generate([ASSIGNMENTS[0]], root=course)
    assert (course / "release" / ASSIGNMENTS[0] / f"{ASSIGNMENTS[0]}.ipynb").read_bytes() == \
        (ROOT / "release" / ASSIGNMENTS[0] / f"{ASSIGNMENTS[0]}.ipynb").read_bytes()
    make_my_work(course)
    assert mine.read_text() == "my solutions"

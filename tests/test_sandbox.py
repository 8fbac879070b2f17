"""The sandbox student code runs in: what it hides, refuses and allows."""

import subprocess
import sys

import pytest

from autograder.sandbox import Sandbox, bwrap_works
from conftest import ROOT

pytestmark = pytest.mark.skipif(not bwrap_works(), reason="bubblewrap is not available")


def run_in(sandbox, code):
    proc = subprocess.run(sandbox.wrap([sys.executable, "-c", code]), capture_output=True,
                          text=True, timeout=120)
    return proc.returncode, proc.stdout.strip(), proc.stderr


@pytest.fixture
def sandbox(tmp_path):
    course = tmp_path / "course"
    (course / "source").mkdir(parents=True)
    (course / "source" / "solutions.txt").write_text("secret")
    (course / "gradebook.db").write_text("grades")
    work = course / "autograded" / "alice" / "01"
    work.mkdir(parents=True)
    return Sandbox(work, hide=[course], memory_bytes=2 * 1024**3), course, work


def test_the_course_and_the_project_are_hidden(sandbox):
    box, course, _ = sandbox
    code = (f"import os; print(os.path.exists({str(course / 'source' / 'solutions.txt')!r}), "
            f"os.path.exists({str(course / 'gradebook.db')!r}), "
            f"os.path.exists({str(ROOT / 'source')!r}))")
    assert run_in(box, code)[1] == "False False False"


def test_python_and_the_course_packages_still_work(sandbox):
    box, _, _ = sandbox
    assert run_in(box, "import torch, course.checks, autograder; print('ok')")[1] == "ok"


def test_writes_outside_the_submission_folder_never_reach_the_disk(sandbox):
    box, course, work = sandbox
    targets = [str(work / "here.txt"), "/usr/evil.txt", str(course / "source" / "evil.txt"),
               str(course / "gradebook.db"), str(ROOT / "evil.txt")]
    code = (f"for path in {targets!r}:\n"
            "    try:\n        open(path, 'w').write('evil')\n"
            "    except OSError:\n        pass\n")
    run_in(box, code)
    assert (work / "here.txt").read_text() == "evil"
    assert (course / "gradebook.db").read_text() == "grades"
    assert not (course / "source" / "evil.txt").exists() and not (ROOT / "evil.txt").exists()


def test_no_network_no_capabilities_no_remount(sandbox):
    box, _, _ = sandbox
    code = ("import socket, subprocess\n"
            "try:\n    socket.create_connection(('127.0.0.1', 22), timeout=2); print('net')\n"
            "except OSError: print('no net')\n"
            "print(open('/proc/self/status').read().split('CapEff:')[1].split()[0])\n"
            "print(subprocess.run(['mount', '-o', 'remount,rw', '/'], capture_output=True).returncode != 0)")
    assert run_in(box, code)[1].splitlines() == ["no net", "0000000000000000", "True"]


def test_memory_is_limited(sandbox):
    box, _, _ = sandbox
    code = "import torch\ntry:\n    torch.ones(2 ** 32)\n    print('allocated')\nexcept RuntimeError:\n    print('refused')"
    assert run_in(box, code)[1] == "refused"


def test_processes_die_with_the_sandbox(sandbox):
    box, _, work = sandbox
    code = ("import subprocess, os\n"
            "subprocess.Popen(['sleep', '300'], start_new_session=True)\n"
            "print(os.getpid())")
    run_in(box, code)
    left = subprocess.run(["pgrep", "-f", "sleep 300"], capture_output=True, text=True).stdout.split()
    assert not left, "a process started in the sandbox outlived it"

"""The sandbox student code runs in: built from an allow-list, it shows only what it must."""

import os
import subprocess
import sys
import time

import pytest

from autograder.instructor.sandbox import PACKAGE, Sandbox, bwrap_works

from conftest import ROOT

pytestmark = pytest.mark.skipif(not bwrap_works(), reason="bubblewrap is not available")
STUDENT_UID = 199_999  # below the grader's own blocks: no grading run uses it


def run_in(sandbox, code, env=None):
    proc = subprocess.run(sandbox.wrap([sys.executable, "-I", "-c", code]), capture_output=True,
                          text=True, timeout=120, env=env)
    return proc.returncode, proc.stdout.strip(), proc.stderr


@pytest.fixture
def course(tmp_path):
    """A course folder, and another copy of the course elsewhere (a backup, a home folder)."""
    course = tmp_path / "course"
    (course / "source").mkdir(parents=True)
    (course / "source" / "solutions.txt").write_text("secret")
    (course / "gradebook.db").write_text("grades")
    backup = tmp_path / "backup-of-the-course" / "source"
    backup.mkdir(parents=True)
    (backup / "solutions.txt").write_text("secret")
    return course, backup


def test_only_what_student_code_needs_is_there(course):
    course, backup = course
    paths = [course / "source" / "solutions.txt", course / "gradebook.db", backup / "solutions.txt",
             ROOT / "source", ROOT / "samples", PACKAGE / "judge", PACKAGE / "instructor", "/root/.bashrc",
             "/etc/shadow"]
    code = f"import os; print([os.path.exists(p) for p in {[str(p) for p in paths]!r}])"
    assert run_in(Sandbox(), code)[1] == str([False] * len(paths))


def test_python_the_course_package_and_the_candidate_side_work():
    code = ("import torch, course.checks, autograder.candidate.respond, autograder.protocol.values\n"
            "try:\n    import autograder.judge\n    print('judge readable')\n"
            "except ImportError:\n    print('ok')")
    assert run_in(Sandbox(), code)[1] == "ok"


def test_the_judge_sandbox_reads_the_judge_and_nothing_of_the_course(course):
    course, _ = course
    code = (f"import os, autograder.judge.exercises\n"
            f"print(os.path.exists({str(course / 'gradebook.db')!r}), os.path.exists({str(ROOT / 'source')!r}))")
    assert run_in(Sandbox(judge=True), code)[1] == "False False"


def test_the_environment_is_an_allow_list():
    env = dict(os.environ, GRADER_SECRET="hunter2", AWS_SECRET_ACCESS_KEY="x")
    code = "import os; print(sorted(k for k in os.environ if 'SECRET' in k), os.environ['HOME'])"
    assert run_in(Sandbox(), code, env=env)[1] == "[] /tmp"


def test_writes_never_reach_the_disk_and_tmp_is_bounded(tmp_path):
    box = Sandbox(tmp_bytes=8 << 20)
    code = ("import os\n"
            f"for path in ['/usr/evil', {str(tmp_path / 'evil')!r}, {str(ROOT / 'evil')!r}]:\n"
            "    try:\n        open(path, 'w').write('evil'); print('wrote', path)\n"
            "    except OSError:\n        pass\n"
            "try:\n    open('/tmp/big', 'wb').write(b'x' * (64 << 20)); print('64 MB in /tmp')\n"
            "except OSError:\n    print('tmp is full')")
    lines = run_in(box, code)[1].splitlines()
    # A checkout under /tmp (a fresh clone in mktemp -d) lies inside the sandbox's own bounded
    # tmpfs, where writing is allowed and reaches nothing: what counts is the disk.
    assert lines[-1] == "tmp is full" and "wrote /usr/evil" not in lines, lines
    assert not (tmp_path / "evil").exists() and not (ROOT / "evil").exists()


def test_a_private_working_folder_holds_read_only_copies(tmp_path):
    data = tmp_path / "data.txt"
    data.write_text("submitted")
    box = Sandbox(files={"data.txt": str(data)}, workdir="/student", work_bytes=4 << 20)
    code = ("import os\nprint(os.getcwd(), open('data.txt').read())\n"
            "try:\n    open('data.txt', 'w').write('x')\nexcept OSError:\n    print('read-only')\n"
            "open('new.txt', 'w').write('mine'); print(sorted(os.listdir('.')))")
    assert run_in(box, code)[1].splitlines() == ["/student submitted", "read-only", "['data.txt', 'new.txt']"]
    assert data.read_text() == "submitted" and not (tmp_path / "new.txt").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="a uid of the student's own needs root")
def test_student_code_runs_as_its_own_uid_without_capabilities(tmp_path):
    code = ("import os, socket, subprocess\n"
            "try:\n    socket.create_connection(('127.0.0.1', 22), timeout=2); print('net')\n"
            "except OSError: print('no net')\n"
            "print(os.getuid(), os.getgid(), os.getgroups())\n"
            "print(open('/proc/self/status').read().split('CapEff:')[1].split()[0])\n"
            "print(subprocess.run(['mount', '-o', 'remount,rw', '/'], capture_output=True).returncode != 0)")
    lines = run_in(Sandbox(uid=STUDENT_UID), code)[1].splitlines()
    assert lines == ["no net", f"{STUDENT_UID} {STUDENT_UID} []", "0000000000000000", "True"]


def test_memory_is_limited():
    code = "import torch\ntry:\n    torch.ones(2 ** 32)\n    print('allocated')\nexcept RuntimeError:\n    print('refused')"
    assert run_in(Sandbox(memory_bytes=2 << 30), code)[1] == "refused"


def test_processes_die_with_the_sandbox():
    marker = f"300.{os.getpid()}{time.monotonic_ns() % 10**6}"  # only this test's sleep matches
    code = ("import subprocess, os\n"
            f"subprocess.Popen(['sleep', '{marker}'], start_new_session=True)\n"
            "print(os.getpid())")
    run_in(Sandbox(), code)
    deadline = time.monotonic() + 10  # the kernel kills the pid namespace's members as it ends
    while (left := subprocess.run(["pgrep", "-f", f"sleep {marker}"], capture_output=True, text=True).stdout.split()) \
            and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not left, "a process started in the sandbox outlived it"

"""Nothing one student's child writes is in reach of another's (issue 24).

Every child of the candidate server's zygote has a mount namespace of its own whose only
writable places are a fresh, size-limited tmpfs on its working folder and one on /dev/shm
(`confine.private_scratch`). Before, every child's folder was on the server's one /tmp, so a
child that filled it left its classmates no room; /dev/shm could not be used at all.

Graded through `Grader` (as the grade command does), an attacker beside an honest classmate.
"""

import base64
import time
from dataclasses import replace

import pytest
from test_clean_image import A, collect, graded_in_the_sandbox, printed, right_jobs, with_cell

from autograder.instructor.grader import Grader, Settings
from autograder.protocol.limits import Limits

TMP = 64 << 20  # the server's /tmp, and each child's working folder

# The attacker: a marker in /dev/shm (a plain file and a POSIX shared memory segment), its working
# folder filled to the last byte, then it waits for its classmate to look.
FILL = """
import os as _os, time as _t, mmap as _m
_fd = _os.open("/dev/shm/marker", _os.O_CREAT | _os.O_WRONLY, 0o644)
_os.write(_fd, b"x" * ({shm} - 4096)); _os.close(_fd)
_os.chmod("/dev/shm", 0o1777)
_written = 0
try:
    with open("big", "wb") as _f:
        while True:
            _f.write(b"y" * (1 << 20)); _f.flush(); _written += 1 << 20
except OSError:
    pass
assert _written >= {tmp} // 2, _written
_t.sleep(6)
"""

# The classmate, while the attacker holds its files: sees nothing of them, can write its own,
# and can write nowhere else.
LOOK = """
import os as _os
_writable = set()
for _root, _dirs, _files in _os.walk("/"):
    if _root in ("/proc", "/sys"):
        _dirs[:] = []
    elif _os.access(_root, _os.W_OK):
        _writable.add(_root)
for _p in ("/tmp", "/tmp/work", "/var/tmp", "/dev/mqueue", "/dev/shm", _os.getcwd()):
    if _os.path.isdir(_p) and _os.access(_p, _os.W_OK):
        _writable.add(_p)
if _writable != {{_os.getcwd(), "/dev/shm"}}:
    raise SystemExit(f"writable: {{sorted(_writable)}}")
if _os.listdir("/dev/shm") or _os.listdir("."):
    raise SystemExit(f"a classmate's files: {{_os.listdir('/dev/shm')}} {{_os.listdir('.')}}")
with open("mine", "wb") as _f:
    _f.write(b"z" * ({tmp} // 4))
with open("/dev/shm/mine", "wb") as _f:
    _f.write(b"z" * (1 << 20))
_os.unlink("mine")
"""


def shmem_bytes():
    with open("/proc/meminfo") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("Shmem:"))


@pytest.fixture
def grader(tmp_path):
    limits = replace(Limits(), tmp_bytes=TMP, file_bytes=TMP)
    grader = Grader(tmp_path / "servers", Settings(limits=limits, check_slots=2, notebook_slots=2,
                                                   require_sandbox=True))
    try:
        yield grader.wait_ready()
    finally:
        grader.close()


@graded_in_the_sandbox
@pytest.mark.slow
def test_a_childs_scratch_is_its_own_bounded_and_gone_with_it(grader):
    jobs = right_jobs(grader)
    exercise = next(iter(jobs))
    before = shmem_bytes()
    grader.check("filler", A, "filler", {exercise: with_cell(jobs[exercise], prefix=FILL.format(shm=TMP // 2, tmp=TMP))})
    time.sleep(2)  # the filler has filled its folder and waits
    grader.check("honest", A, "honest", {ex: with_cell(job, prefix=LOOK.format(tmp=TMP) if ex == exercise else "")
                                         for ex, job in jobs.items()})
    verdicts, _ = collect(grader, 1 + len(jobs))
    assert all(v.status.value == "pass" for v in verdicts.values()), {k: v.message for k, v in verdicts.items()}
    deadline = time.monotonic() + 20
    while shmem_bytes() > before + TMP // 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert shmem_bytes() <= before + TMP // 2, "the filler's files outlived its check"


@graded_in_the_sandbox
@pytest.mark.slow
def test_a_notebook_run_has_its_files_in_a_scratch_of_its_own(grader):
    """A notebook child's working folder is its own tmpfs too, holding the submission's files
    (copied in by the child before it takes its uid): what one run writes, a classmate's never
    sees."""
    data = base64.b64encode(b"the student's data\n").decode()
    first = ("import os\nprint(open('data/input.txt').read().strip())\n"
             "open('/dev/shm/left', 'w').write('x'); open('left.txt', 'w').write('x')\n"
             "print(sorted(os.listdir('.')), os.stat('.').st_uid == os.getuid())\n")
    grader.run_notebook("first-nb", "first", [(0, first)], [("data/input.txt", data)], [])
    _, notebooks = collect(grader, 1)
    out = printed(notebooks["first-nb"])
    assert "the student's data" in out and "['data', 'left.txt'] True" in out, out
    second = "import os\nprint('seen:', os.listdir('/dev/shm'), sorted(os.listdir('.')))\n"
    grader.run_notebook("second-nb", "second", [(0, second)], [("mine.txt", data)], [])
    _, notebooks = collect(grader, 1)
    assert printed(notebooks["second-nb"]).strip() == "seen: [] ['mine.txt']", printed(notebooks["second-nb"])

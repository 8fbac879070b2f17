"""The candidate server survives its zygote dying (issue 24).

The zygote is the biggest process of the candidate server's sandbox: the OOM killer may pick
it. Before, the server died with it and every student in flight, and every later one, got 0.
Now the server ends the children in flight as lost by the grader (an error that says so, not
a mistake of the student's), takes the spare zygote (forked by the first, never by the server,
which holds every request) and grades on.
"""

import os
import re
import signal
import time
from pathlib import Path

import pytest
from test_clean_image import (
    A,
    candidate_processes,
    collect,
    descendants,
    found_in_memory,
    graded_in_the_sandbox,
    grader,  # noqa: F401 (fixture)
    holds_sys_admin,
    marker,
    module_processes,
    planted,
    printed,
    right_jobs,
    with_cell,
)

SLOW = "import time as _t\nfor _ in range(60):\n    _t.sleep(0.5)\n"


def running_a_child(zygotes, timeout=120):
    """The one of `zygotes` that has a child (a candidate it forked)."""
    deadline = time.monotonic() + timeout
    while True:
        busy = [z for z in zygotes if len(descendants(z)) > 1]
        if busy:
            return busy[0]
        assert time.monotonic() < deadline, "no zygote started the candidate"
        time.sleep(0.1)


@graded_in_the_sandbox
@pytest.mark.slow
def test_the_run_goes_on_when_the_zygote_dies(grader):  # noqa: F811
    jobs = right_jobs(grader)
    exercise = next(iter(jobs))
    server, image, spare = candidate_processes(grader.servers["candidate"])
    value, digest = marker()
    grader.check("victim", A, "victim", {exercise: with_cell(jobs[exercise], prefix=SLOW + planted(value))})
    assert running_a_child([image]) == image  # the victim's candidate is running
    os.kill(image, signal.SIGKILL)  # as the OOM killer would
    verdicts, _ = collect(grader, 1)
    lost = verdicts["victim", exercise]
    assert lost.status.value == "error" and lost.grader_error, (lost.status, lost.message)
    assert "grader" in lost.message and "tell the instructor" in lost.message, lost.message
    # later students: graded in full, by the spare, under the same server
    grader.check("later", A, "later", jobs)
    grader.run_notebook("later-nb", "later", [(0, "print('later ran')")], [], [])
    verdicts, notebooks = collect(grader, len(jobs) + 1)
    assert all(v.status.value == "pass" for v in verdicts.values()), {k: v.message for k, v in verdicts.items()}
    assert "later ran" in printed(notebooks["later-nb"])
    now = module_processes(grader.servers["candidate"])
    assert server in now and image not in now and spare in now and len(now) == 3, (server, image, spare, now)
    for zygote in set(now) - {server}:  # the new zygote and its spare: clean, and able to confine
        assert holds_sys_admin(zygote)
        assert digest not in found_in_memory(zygote, len(value)), "a zygote holds the victim's cells"
    # the spare, now the zygote, can be lost too: its own spare takes over
    grader.check("victim2", A, "victim2", {exercise: with_cell(jobs[exercise], prefix=SLOW)})
    active = running_a_child(set(now) - {server})
    os.kill(active, signal.SIGKILL)
    grader.check("last", A, "last", jobs)
    verdicts, _ = collect(grader, 1 + len(jobs))
    assert verdicts["victim2", exercise].status.value == "error" and verdicts["victim2", exercise].grader_error
    assert all(verdicts["last", ex].status.value == "pass" for ex in jobs), verdicts
    now = module_processes(grader.servers["candidate"])
    assert server in now and active not in now and len(now) == 3, now
    # nothing of the victims left running: no live process under the sandbox but root's
    deadline = time.monotonic() + 20
    while students_left(grader.servers["candidate"].proc.pid):
        assert time.monotonic() < deadline, students_left(grader.servers["candidate"].proc.pid)
        time.sleep(0.2)


def students_left(sandbox):
    """Live processes below `sandbox` that are not root's (a student's)."""
    left = []
    for pid in descendants(sandbox):
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        state = re.search(r"^State:\s*(\S)", status, re.M).group(1)
        if state not in "ZX" and not re.search(r"^Uid:\s*0\s", status, re.M):
            left.append(pid)
    return left


def test_an_exit_read_with_an_answer_is_not_left_unseen():
    """Before: the zygote's answer and a child's exit could arrive in one read; the exit stayed
    in the reader's buffer, the socket never woke the server for it, and the run waited for good
    (two grading runs hung so in a fresh-clone `make test`)."""
    import socket

    from autograder.candidate.zygote import Zygote
    from autograder.protocol import frames
    ours, zygote = socket.socketpair()
    handle = Zygote(ours.detach(), 0)
    zygote.sendall(frames.encode({"swept": 5, "left": 0}) + frames.encode({"exited": 42, "code": 0}))
    assert handle.sweep(5) == 0
    assert handle.take_exits() == [(42, 0)]
    zygote.close()

"""What a candidate's time limit counts: its own computing, never the time its judge thinks.

A candidate answers its judge and then blocks until the next request; under load the judge is
slow, and a limit of wall-clock time (less CPU waits) charged that to the student: an honest
solution then timed out on a busy machine. A candidate is now past its limit at `limit` CPU
seconds, or at CHECK_WAITS times `limit` of its own time (one that sleeps still ends).
"""

import subprocess
import sys
import time

import pytest

from autograder.protocol.forkserver import Child, cpu_seconds
from autograder.protocol.limits import CHECK_WAITS


def process(code):
    return subprocess.Popen([sys.executable, "-c", code])


@pytest.fixture
def spawn():
    made = []

    def start(code, limit, waits):
        proc = process(code)
        made.append(proc)
        return Child(None, proc.pid, limit, waits=waits)

    yield start
    for proc in made:
        proc.kill()
        proc.wait()


def wait_for(child, seconds):
    """Whether `child` went past its limit within `seconds` (checked as the server does)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if child.over_limit(time.monotonic()):
            return True
        time.sleep(0.05)
    return False


def test_cpu_seconds_counts_computing_and_not_sleeping(spawn):
    spinner = spawn("while True: pass", None, None)
    sleeper = spawn("import time; time.sleep(60)", None, None)
    time.sleep(1.0)
    assert cpu_seconds(spinner.pid) > 0.3
    assert cpu_seconds(sleeper.pid) < 0.3
    assert cpu_seconds(999_999_999) == 0.0  # no such process: nothing counted, nothing raised


def test_a_candidate_waiting_on_its_judge_is_not_past_its_limit(spawn):
    waiting = spawn("import time; time.sleep(60)", 0.5, CHECK_WAITS)
    assert not wait_for(waiting, 0.5 * CHECK_WAITS - 0.4)  # blocked, as while its judge thinks


def test_a_candidate_that_computes_is_stopped_at_its_limit_in_cpu_time(spawn):
    spinner = spawn("while True: pass", 0.5, CHECK_WAITS)
    assert wait_for(spinner, 0.5 * CHECK_WAITS + 5)
    assert cpu_seconds(spinner.pid) >= 0.5
    assert spinner.own_seconds(time.monotonic()) < 0.5 * CHECK_WAITS  # not the rule for waiting


def test_a_candidate_that_sleeps_still_ends(spawn):
    sleeper = spawn("import time; time.sleep(60)", 0.3, CHECK_WAITS)
    started = time.monotonic()
    assert wait_for(sleeper, 0.3 * CHECK_WAITS + 2)
    assert time.monotonic() - started >= 0.3 * CHECK_WAITS - 0.1


def test_a_notebook_child_keeps_its_limit_of_own_time(spawn):
    sleeper = spawn("import time; time.sleep(60)", 0.3, None)  # a cell that sleeps is its own time
    assert wait_for(sleeper, 2)

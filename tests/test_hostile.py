"""One student can never hurt another: the engine distrusts its children, the sandbox shows
only what it must, and plain nbgrader gets the same guarantees.

Each test here failed on the engine before the judge/candidate split (each says what it did).
"""

import os
import time
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from autograder.instructor import samples
from autograder.instructor.grading import grade
from autograder.instructor.sandbox import bwrap_works
from autograder.protocol.messages import CellResult, NotebookDone

from conftest import copy_course, nbgrader

A = samples.ASSIGNMENT
SANDBOXED = bwrap_works() and os.geteuid() == 0
needs_sandbox = pytest.mark.skipif(not SANDBOXED, reason="needs bubblewrap and a uid per student (root)")


def course_with(tmp_path, notebooks, config=""):
    course = copy_course(tmp_path / "course")
    with open(course / "nbgrader_config.py", "a") as f:
        f.write("\nc.SafeExecute.timeout = 10\nc.VerifyExercises.time_limit = 10\n" + config)
    for student, nb in notebooks.items():
        folder = course / "submitted" / student / A
        folder.mkdir(parents=True)
        if isinstance(nb, str):
            (folder / f"{A}.ipynb").write_text(nb)
        else:
            nbformat.write(nb, str(folder / f"{A}.ipynb"))
    return course


def release():
    from conftest import release_nb
    return release_nb(A)


def right(*cells, top=()):
    """The instructor's solutions, lean (no prose or demos: the grading is what is tested)."""
    return samples.notebook(release(), samples.solutions()["RIGHT"], before_tests=cells, at_top=top, lean=True)


def full_marks(course, student):
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        grades = gb.find_submission_notebook(A, A, student).grades
        return sum(g.score for g in grades) == sum(g.max_score for g in grades) > 0


VANDAL = """import os, shutil
course = {course!r}
for path in [course + "/gradebook.db", course + "/source/{a}/{a}.ipynb", course + "/nbgrader_config.py"]:
    try:
        open(path, "w").write("vandalised")
    except OSError as exc:
        print("refused:", path, type(exc).__name__)
mine = course + "/autograded/{student}/{a}/{a}.ipynb"
for target in (mine, "{a}.ipynb", os.path.join(os.getcwd(), "{a}.ipynb")):
    try:
        if os.path.exists(target):
            os.remove(target)
        os.symlink(course + "/gradebook.db", target)
    except OSError as exc:
        print("no link:", target, type(exc).__name__)
open("json.py", "w").write("raise SystemExit('planted')\\n")
"""


@needs_sandbox
@pytest.mark.slow
@pytest.mark.parametrize("engine", ["fork", "nbgrader"])
def test_code_aimed_at_the_course_by_its_real_path_reaches_nothing(tmp_path, engine):
    """Before: plain nbgrader ran the kernel as root in autograded/<student>/, which nbgrader
    writes afterwards; a symlink there to gradebook.db made nbgrader overwrite the gradebook."""
    course_dir = tmp_path / "course"
    nb = right(top=[VANDAL.format(course=str(course_dir), a=A, student="vandal")])
    course = course_with(tmp_path, {"vandal": nb, "ada": right()})
    source_before = (course / "source" / A / f"{A}.ipynb").read_bytes()
    config_before = (course / "nbgrader_config.py").read_bytes()
    if engine == "fork":
        outcomes = grade(course, A, workers=2, notebook_timeout=120, progress=False, run=True)
        assert all(o.status == "graded" for o in outcomes.values()), outcomes
    else:
        nbgrader("generate_assignment", A, "--force", cwd=course)
        nbgrader("autograde", A, "--force", cwd=course)
    assert (course / "source" / A / f"{A}.ipynb").read_bytes() == source_before
    assert (course / "nbgrader_config.py").read_bytes() == config_before
    for student in ("vandal", "ada"):
        autograded = course / "autograded" / student / A / f"{A}.ipynb"
        assert not autograded.is_symlink()
        nbformat.read(str(autograded), as_version=4)  # a notebook, not the gradebook
        assert full_marks(course, student), student
    assert not (course / "json.py").exists() and not (course / "autograded" / "vandal" / A / "json.py").exists()


@pytest.mark.slow
def test_an_unreadable_notebook_first_stalls_nobody(tmp_path):
    """Before: a notebook nbgrader could not read, sorted first, left phase 1 waiting for the
    whole notebook budget with nothing in flight."""
    course = course_with(tmp_path, {"aaa_broken": "{ not json", "bob": right()})
    started = time.monotonic()
    outcomes = grade(course, A, workers=2, notebook_timeout=600, progress=False)
    assert time.monotonic() - started < 300, "grading waited on the broken notebook"
    assert outcomes["aaa_broken"].status == "error" and outcomes["bob"].status == "graded"
    assert full_marks(course, "bob")


@needs_sandbox
@pytest.mark.slow
def test_the_fork_engine_honours_the_configured_limits(tmp_path):
    """Before: the fork engine ignored SafeExecute.max_output_bytes, VerifyExercises.memory_bytes
    and require_sandbox from nbgrader_config.py."""
    loud = right("print('x' * 200_000)")
    config = "c.SafeExecute.max_output_bytes = 10_000\nc.VerifyExercises.memory_bytes = 3 * 1024**3\n"
    course = course_with(tmp_path, {"loud": loud}, config)
    grade(course, A, workers=1, notebook_timeout=120, progress=False, run=True)
    nb = nbformat.read(str(course / "autograded" / "loud" / A / f"{A}.ipynb"), as_version=4)
    printed = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
               if o.get("output_type") == "stream" and "xxxx" in o.get("text", "")]
    assert printed and all(len(o["text"]) <= 10_000 for o in printed)
    assert any("output truncated" in o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)


@pytest.mark.slow
def test_servers_lost_while_sending_are_replaced(tmp_path, monkeypatch):
    """Before: a server lost while a request was being written aborted the whole run."""
    from autograder.instructor import grader as servers
    real, lost = servers.Grader.check, []

    def check(self, *args, **kwargs):
        if not lost:
            lost.append(True)
            self.close()
            raise servers.ServerLost("lost while sending, for the test")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(servers.Grader, "check", check)
    course = course_with(tmp_path, {"ada": right()})
    outcomes = grade(course, A, workers=1, notebook_timeout=120, progress=False)
    assert lost and outcomes["ada"].status == "graded" and full_marks(course, "ada")


def test_a_stuck_heartbeat_thread_never_hangs_a_kernels_cleanup():
    """Before: after a kernel died, jupyter_client's heartbeat thread could wait forever on a
    ping, and the unbounded join in `stop_channels` hung plain nbgrader autograde for good (seen
    in the tampering tests)."""
    import threading

    import zmq.asyncio

    from autograder.instructor.isolation import remove_private
    from autograder.instructor.preprocessors.safe_execute import BoundedHBChannel, SandboxedKernelManager
    manager = SandboxedKernelManager()
    remove_private(manager._private)
    assert manager.client().hb_channel_class is BoundedHBChannel
    never = threading.Event()

    class Stuck(BoundedHBChannel):
        stop_timeout = 0.5

        def run(self):
            never.wait()  # as the ping that is never sent

    channel = Stuck(zmq.asyncio.Context(), address="ipc:///nowhere")
    channel.start()
    started = time.monotonic()
    channel.stop()
    assert time.monotonic() - started < 5 and channel.is_alive()
    never.set()


def test_a_sandboxed_kernel_is_shut_down_from_outside_never_by_a_message():
    """Before: plain nbgrader autograde hung for good in jupyter_client's shutdown request (a
    send on the control socket of a kernel that took no more messages; py-spy: Session.send
    under `_async_request_shutdown`, tampering tests, 03). Whatever nbclient asks, the kernel is
    killed; no message is sent to it."""
    import asyncio

    from autograder.instructor.isolation import remove_private
    from autograder.instructor.preprocessors.safe_execute import SandboxedKernelManager
    manager = SandboxedKernelManager()
    remove_private(manager._private)
    done = []

    async def record(what, *args, **kwargs):
        done.append(what)

    manager._async_request_shutdown = lambda *a, **k: record("asked to shut down")
    manager._async_finish_shutdown = lambda *a, **k: record("waited")
    manager._async_kill_kernel = lambda *a, **k: record("killed")
    manager._async_cleanup_resources = lambda *a, **k: record("cleaned up")
    asyncio.run(manager._async_shutdown_kernel(now=False))  # nbclient's default: graceful
    assert done == ["killed", "cleaned up"]


def test_malformed_notebook_outputs_are_dropped_not_trusted():
    """Before: outputs without an output_type (or of the wrong types) crashed the grade command."""
    frame = {"notebook_done": "x", "stuck": "3", "dead": None, "seconds": "fast",
             "cells": {"0": {"outputs": [{"text": "no type"}, {"output_type": "stream", "name": "stdout",
                                                              "text": "fine\n"},
                                         {"output_type": "error", "ename": 1, "evalue": [], "traceback": "x"},
                                         {"output_type": "display_data", "data": {"text/plain": 5}},
                                         "not even a dict"], "execution_count": "1"},
                       "x": {"outputs": []}, "1": "nothing"},
             "violations": ["one", 2]}
    execution = NotebookDone.from_wire(frame)
    assert execution.cells == {0: CellResult([{"output_type": "stream", "name": "stdout", "text": "fine\n"}], None)}
    assert execution.stuck is None and execution.seconds == 0.0
    assert any("malformed" in v for v in execution.violations)


PEEK = """import os
try:
    print("listed:", os.listdir("/tmp/work"))
except OSError as exc:
    print("cannot list the work folder:", type(exc).__name__)
for name in ("n-victim_{a}.ipynb", "n-victim_{a}_ipynb"):
    try:
        print("read:", os.listdir("/tmp/work/" + name))
    except OSError as exc:
        print("cannot read", name, type(exc).__name__)
print("uid", os.getuid(), "home", os.environ.get("HOME"), "env", sorted(os.environ))
"""


@needs_sandbox
@pytest.mark.slow
def test_students_cannot_see_each_others_work(tmp_path):
    """Before: every student uid could read every student's folder as it arrived."""
    course = course_with(tmp_path, {"peeker": right(PEEK.format(a=A)), "victim": right("import time; time.sleep(3)")})
    grade(course, A, workers=3, notebook_timeout=120, progress=False, run=True)
    nb = nbformat.read(str(course / "autograded" / "peeker" / A / f"{A}.ipynb"), as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "cannot list the work folder: PermissionError" in text, text[-2000:]
    assert "read:" not in text
    assert "'PATH'" in text and "GRADER" not in text and "SUDO" not in text


def grading_groups():
    """This process's grading cgroups, in every controller (a group with groups left in it is
    left too: it cannot be removed)."""
    top = Path("/sys/fs/cgroup")
    return {str(p) for pattern in (f"autograder-{os.getpid()}-*", f"*/autograder-{os.getpid()}-*")
            for p in top.glob(pattern)}


def assert_nothing_left(groups_before):
    from autograder.instructor import isolation
    assert not isolation.orphans(), "processes outlived their grading run"
    assert grading_groups() <= groups_before, "cgroups outlived their grading run"


PROCESSES = """import os
others = set()
for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
    try:
        uid = int(open(f"/proc/{pid}/status").read().split("Uid:")[1].split()[0])
    except (OSError, IndexError, ValueError):
        continue
    if uid != os.getuid():
        others.add(uid)
print("other uids seen:", sorted(others))
"""


@needs_sandbox
@pytest.mark.slow
def test_students_cannot_see_each_others_processes(tmp_path):
    """Before: every process forked by the candidate server shares its PID namespace, and its
    /proc showed every classmate's pid, uid and command line (no hidepid)."""
    slow = "import time; time.sleep(3)"
    course = course_with(tmp_path, {"peeker": right(PROCESSES, slow), "victim": right(slow),
                                    "zoe": right(slow)})
    groups = grading_groups()
    outcomes = grade(course, A, workers=3, notebook_timeout=120, progress=False, run=True)
    assert_nothing_left(groups)
    assert all(o.status == "graded" for o in outcomes.values()), outcomes
    nb = nbformat.read(str(course / "autograded" / "peeker" / A / f"{A}.ipynb"), as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "other uids seen: []" in text, text[-2000:]
    assert all(full_marks(course, s) for s in ("peeker", "victim", "zoe"))


# Half the cell limit (10 s here) per cell: under it with room to spare on a loaded machine (at 8 s,
# a cell whose own work took 2 s went past its limit, and the test saw a cell timeout instead).
HOOKED = "import time\nget_ipython().events.register('pre_run_cell', lambda *a: time.sleep(5))"


@needs_sandbox
@pytest.mark.slow
def test_hooks_cannot_hold_plain_nbgrader_past_the_notebook_limit(tmp_path):
    """Before: an IPython pre_run_cell hook sleeping just under the cell limit in every cell
    held plain nbgrader autograde for (cells x cell limit), ~100 minutes with the defaults: there
    was no limit on a whole notebook."""
    course = course_with(tmp_path, {"hooked": right(top=[HOOKED]), "ada": right()},
                         "c.SafeExecute.notebook_timeout = 25\n")
    groups = grading_groups()
    nbgrader("generate_assignment", A, "--force", cwd=course)
    nbgrader("autograde", A, "--force", cwd=course)
    nb = nbformat.read(str(course / "autograded" / "hooked" / A / f"{A}.ipynb"), as_version=4)
    said = ["".join(o.get("evalue", "") + o.get("text", "") for o in c.outputs)
            for c in nb.cells if c.cell_type == "code"]
    stopped = next((i for i, text in enumerate(said) if "time limit (25 s)" in text), None)
    assert stopped is not None, [text[-300:] for text in said]
    assert stopped < len(said) - 2, "the hook's 5 s per cell passed the 25 s limit well before the end"
    assert any("did not run: the notebook ran past its time limit (25 s)" in text for text in said[stopped + 1:])
    assert_nothing_left(groups)
    assert full_marks(course, "ada")


FILL = """written = 0
try:
    for i in range(400):
        with open(f"filler-{i}", "wb") as f:
            f.write(b"x" * (16 << 20))
        written += 16
except OSError as exc:
    print("stopped after", written, "MB:", type(exc).__name__)
"""


@needs_sandbox
@pytest.mark.slow
def test_a_submission_that_fills_its_folder_costs_only_itself(tmp_path):
    """Before: no size limit on the sandbox's /tmp (held until the server exited) and no file
    size limit: one submission could fill the machine's memory or disk."""
    import psutil
    config = "c.VerifyExercises.memory_bytes = 2 * 1024**3\nc.SafeExecute.memory_bytes = 2 * 1024**3\n"
    course = course_with(tmp_path, {"filler": right(FILL), "ada": right()}, config)
    free = psutil.disk_usage(str(tmp_path)).free
    grade(course, A, workers=2, notebook_timeout=120, progress=False, run=True)
    assert psutil.disk_usage(str(tmp_path)).free > free - (200 << 20), "student files reached the disk"
    assert full_marks(course, "ada") and full_marks(course, "filler")


FORGE_START = """import os, stat, struct
body = b'{"start":[0]}'
for fd in range(3, 256):
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            os.write(fd, struct.pack(">I", len(body)) + body)
    except OSError:
        pass
"""
FORGE_40_MB = """import json, os, stat, struct
body = json.dumps({"cell": 0, "outputs": [{"output_type": "stream", "name": "stdout", "text": "x" * (40 << 20)}],
                   "execution_count": 1}).encode()
for fd in range(3, 256):
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            for _ in range(2):
                os.write(fd, struct.pack(">I", len(body)) + body)
    except OSError:
        pass
"""


def with_huge_solution_cell(nb):
    """The first solution cell, with 17 MB of non-ASCII text in a comment: 102 MB as JSON."""
    cell = next(c for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution"))
    cell.source += "\n# " + "é" * (17 << 20)
    return nb


def with_big_image(nb, mib=49):
    """An honest notebook saved with a `mib` MiB image output (its file is that big)."""
    image = "A" * (mib << 20)
    nb.cells.insert(1, nbformat.v4.new_code_cell("show_the_plot = True", outputs=[
        nbformat.v4.new_output("display_data", data={"image/png": image, "text/plain": "<Figure>"})]))
    return nb


def exercise_statuses(course, student):
    nb = nbformat.read(str(course / "autograded" / student / A / f"{A}.ipynb"), as_version=4)
    return {ex: (s["status"], s["message"]) for ex, s in nb.metadata["autograder"]["exercises"].items()}


@pytest.mark.slow
def test_oversized_frames_and_requests_cost_only_their_student(tmp_path):
    """Before, each of these ended a grading server or the whole grade command, and classmates
    in the same run got 0 or were never recorded: a notebook child writing the 20-byte frame
    `{"start": [0]}` (TypeError in the candidate server), one forging two 40 MB output frames
    (the server's own NotebookDone over the frame cap), a 17 MB non-ASCII solution cell (the
    command's request over the frame cap: ValueError in the command) and an honest notebook
    saved at 49 MiB with its images (50 MiB of files is 66.7 MiB of base64)."""
    course = course_with(tmp_path, {"forger": right(FORGE_START), "flooder": right(FORGE_40_MB),
                                    "huge_cell": with_huge_solution_cell(right()),
                                    "big_honest": with_big_image(right()), "ada": right()})
    outcomes = grade(course, A, workers=2, notebook_timeout=120, progress=False, run=True)
    assert set(outcomes) == {"forger", "flooder", "huge_cell", "big_honest", "ada"}
    for student in ("forger", "flooder", "big_honest", "ada"):
        assert outcomes[student].status == "graded" and full_marks(course, student), (student, outcomes[student])
    for student in ("big_honest", "ada"):  # their feedback ran, in the same servers as the attacks
        assert outcomes[student].timings["feedback_run"] == "run", outcomes[student]
    assert any("big_honest" in v or f"{A}.ipynb" in v for v in outcomes["big_honest"].timings["violations"]
               if "left out" in v), outcomes["big_honest"].timings["violations"]
    for student in ("forger", "flooder"):  # their own run was stopped, and says why
        assert any("did not write" in v for v in outcomes[student].timings["violations"]), outcomes[student]
    statuses = exercise_statuses(course, "huge_cell")
    refused = {ex for ex, (status, message) in statuses.items() if status == "error" and "over the 64.0 MiB" in message}
    assert refused and all(statuses[ex][0] == "pass" for ex in set(statuses) - refused), statuses
    assert not full_marks(course, "huge_cell")
    assert outcomes["huge_cell"].timings["feedback_run"].startswith("not run:")
    assert "MiB" in outcomes["huge_cell"].timings["feedback_run"]


def test_outputs_no_file_can_hold_are_an_error_for_their_student_alone(tmp_path):
    """Before: outputs that no UTF-8 file can hold (a lone surrogate, from anywhere a decoder let
    one through) raised UnicodeEncodeError in the command while the feedback run wrote the
    notebook back, and ended the run for everyone. Now it is that student's error."""
    from tqdm import tqdm

    from autograder.instructor.rerun import FeedbackRun, RunOutcome
    path = tmp_path / f"{A}.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('hi')")], metadata={"autograder": {}})
    nbformat.write(nb, str(path))
    run = FeedbackRun.__new__(FeedbackRun)
    run.outcomes, run.closed, run.began, run.left = {"eve": RunOutcome("eve", "run")}, set(), {}, {"eve": 1}
    run.bar = tqdm(disable=True)
    run.grader = type("Grader", (), {"student_done": lambda self, student: 0})()
    execution = NotebookDone("eve/x", {0: CellResult([{"output_type": "stream", "name": "stdout", "text": "\ud800"}], 1)})
    run._done(("eve", path, nb), execution)
    assert run.outcomes["eve"].status == "error" and "could not be written" in run.outcomes["eve"].reason
    assert nbformat.read(str(path), as_version=4).cells[0].outputs == []  # left as it was


THIEF = '''import ctypes, itertools, os, torch


def _steal():
    """Search this process's memory for another student's row_normalize and return it."""
    class Iov(ctypes.Structure):
        _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
    libc = ctypes.CDLL(None, use_errno=True)
    libc.process_vm_readv.restype = ctypes.c_ssize_t
    buf, needle, found = ctypes.create_string_buffer(1 << 24), b"def row_" + b"normalize(", []
    for line in open("/proc/self/maps").read().splitlines():
        span, perms, *rest = line.split()
        name = (rest[3:] or [""])[0]
        if not perms.startswith("r") or ".so" in name or name.startswith("[v"):
            continue
        start, end = (int(x, 16) for x in span.split("-"))
        while start < end:
            size = min(end - start, len(buf))
            got = libc.process_vm_readv(os.getpid(), ctypes.byref(Iov(ctypes.addressof(buf), size)), 1,
                                        ctypes.byref(Iov(start, size)), 1, 0)
            if got <= 0:
                break
            data = buf.raw[:got]
            i = data.find(needle)
            while i != -1:
                found.append(data[i:i + 4000])
                i = data.find(needle, i + 1)
            start += got
    for raw in found:
        lines = raw.decode("utf-8", "ignore").replace("\\\\n", "\\n").split("\\n")
        body = [lines[0], *itertools.takewhile(lambda s: not s or s[0] in " \\t", lines[1:])]
        scope = {"torch": torch}
        try:
            exec("\\n".join(body), scope)
            scope["row_normalize"](torch.ones(2, 3))
            return scope["row_normalize"]
        except BaseException:
            continue
    return None


def _stub(x):
    raise NotImplementedError()


row_normalize = _steal() or _stub
'''


@needs_sandbox
@pytest.mark.slow
def test_a_classmates_solution_is_nowhere_in_a_candidates_memory(tmp_path):
    """Before (issue 24): a candidate was a fork of the candidate server, whose heap held the
    requests of the students graded before it (their solution cells): this thief found a
    classmate's row_normalize in its own memory, answered with it and got full marks. Now every
    candidate is forked from a clean image and reads only its own student's cells."""
    thief = samples.notebook(release(), {**samples.solutions()["RIGHT"], "row_normalize": THIEF}, lean=True)
    course = course_with(tmp_path, {"ada": right(), "zoe_thief": thief})
    outcomes = grade(course, A, workers=2, notebook_timeout=120, progress=False)
    assert outcomes["ada"].status == outcomes["zoe_thief"].status == "graded"
    assert full_marks(course, "ada")
    nb = nbformat.read(str(course / "autograded" / "zoe_thief" / A / f"{A}.ipynb"), as_version=4)
    exercises = nb.metadata["autograder"]["exercises"]
    assert exercises["row_normalize"]["status"] != "pass", "the thief answered with a classmate's solution"
    assert "NotImplementedError" in exercises["row_normalize"]["message"], exercises["row_normalize"]  # it searched
    assert all(v["status"] == "pass" for k, v in exercises.items() if k != "row_normalize"), exercises

"""Check each exercise in a clean process, where the student's notebook cannot interfere.

`python -m autograder.verify` reads a job (JSON on stdin): the assignment, the instructor's setup
cells, the import lines found in the student's other cells, and each exercise's solution cell.
It imports torch and the checks first, then, for each exercise, forks a child that runs only the
setup, those imports and that one solution cell (plain Python, no IPython hooks, no test cells),
then runs the same hidden check as the notebook. It prints one verdict per exercise (JSON).

Why this is decisive where the in-kernel tests are not: nothing the student's notebook does in
its kernel (patching torch, IPython input transformers, editing test cells) exists here; the
checks' references are captured before any student code runs; a child that crashes, exits,
hangs or exhausts memory loses only its own exercise; and an integrity check before and after
the check reports student code that changed the checks themselves as tampering.

Verdict statuses: pass, fail (wrong behaviour), error (the solution cell or check could not run),
tampering, timeout, crashed. Residual risk (documented in the threat model): code that reads
this process's memory to forge the verdict pipe's message.
"""

import json
import os
import resource
import select
import signal
import stat
import sys
import time

# Everything the checks use is imported, and its references pinned, before any student code.
import torch  # noqa: F401
import _thread
import gc

from . import genuine
from .curriculum import CURRICULUM, DEPENDS, defined_name
from .errors import CheckFailed, Tampering
from .exercises import CHECKS
from .runner import check

STATUSES = ("pass", "fail", "error", "tampering", "timeout", "crashed")


def integrity_snapshot():
    """Identity of every object the checks are made of, to detect student code that patches them."""
    modules = {name: mod for name, mod in sys.modules.items()
               if name == "autograder" or name.startswith("autograder.")}
    modules["__main__"] = sys.modules["__main__"]  # this file, when run with python -m
    watched = {name: sys.modules.get(name) for name in
               ("torch", "numpy", "hypothesis", "hypothesis.strategies", "builtins")}
    contents = {}
    for name, mod in modules.items():
        for key, value in vars(mod).items():
            code = getattr(value, "__code__", None)
            contents[(name, key)] = (value, code, getattr(value, "__defaults__", None))
    return modules, watched, contents, list(gc.callbacks)


def integrity_problem(snapshot, allow_gc_callbacks=False):
    """None when nothing the checks rely on was changed, else what was."""
    modules, watched, contents, callbacks = snapshot
    for name, mod in modules.items():
        if sys.modules.get(name) is not mod:
            return f"the module {name} was replaced"
    for name, mod in watched.items():
        if sys.modules.get(name) is not mod:
            return f"the module {name} was replaced in sys.modules"
    now = {}
    for name, mod in modules.items():
        for key, value in vars(mod).items():
            now[(name, key)] = (value, getattr(value, "__code__", None), getattr(value, "__defaults__", None))
    if now.keys() != contents.keys():
        return "names in the grading modules were added or removed"
    for key, (value, code, defaults) in contents.items():
        v2, c2, d2 = now[key]
        if v2 is not value or c2 is not code or d2 is not defaults:
            return f"{key[0]}.{key[1]} was changed"
    if sys.gettrace() is not None or sys.getprofile() is not None:
        return "a trace or profile hook was installed"
    if _thread._count() != 0:
        return "student code left threads running"
    added = [cb for cb in gc.callbacks if not any(cb is known for known in callbacks)]
    if added and not allow_gc_callbacks:  # Hypothesis adds its own while checking
        return "a garbage-collector callback was installed"
    try:
        genuine.verify()
    except Tampering as exc:
        return str(exc).split(". ")[0].removeprefix("Tampering detected: ")
    return None


class NoIPython:
    """Stands in for get_ipython() so cells with magics compile and run: magics do nothing."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def run_exercise(job, ex_id, snapshot):
    """Runs in the forked child: the verdict for one exercise as (status, message)."""
    namespace = {"__name__": "__main__", "__builtins__": __builtins__, "get_ipython": NoIPython}
    for i, source in enumerate(job["setup"]):
        exec(compile(source, f"<setup cell {i + 1}>", "exec"), namespace)
    for line in job.get("imports", []):
        try:
            exec(compile(line, "<an import from your notebook>", "exec"), namespace)
        except BaseException:  # an import that fails here failed in the notebook too
            pass
    cells = [*DEPENDS.get(ex_id, ()), ex_id]
    for cell_id in cells:
        source = job["solutions"].get(cell_id)
        if source is None:
            return "error", f"the solution cell {cell_id!r} is missing from the notebook"
        try:
            exec(compile(source, f"<solution cell {cell_id}>", "exec"), namespace)
        except BaseException as exc:  # SystemExit and KeyboardInterrupt too
            return "error", (f"running the solution cell {cell_id!r} on its own raised "
                             f"{type(exc).__name__}: {exc}. The cell must hold the whole "
                             "definition and run without the cells around it.")
    problem = integrity_problem(snapshot)
    if problem:
        return "tampering", f"Tampering detected: {problem}."
    name = defined_name(CURRICULUM[job["assignment"]][ex_id])
    candidate = namespace.get(name)
    if candidate is None:
        return "fail", f"the solution cell does not define {name}"
    try:
        check(ex_id, candidate)
        status, message = "pass", ""
    except Tampering as exc:
        status, message = "tampering", str(exc)
    except CheckFailed as exc:
        status, message = "fail", str(exc)
    except BaseException as exc:
        status, message = "error", f"the check could not run: {type(exc).__name__}: {exc}"
    problem = integrity_problem(snapshot, allow_gc_callbacks=True)
    if problem:
        return "tampering", f"Tampering detected: {problem}."
    return status, message


def close_pipes(keep):
    """Close every inherited pipe and socket but `keep`: the grader's channels and other
    children's outputs. Regular files stay open (matplotlib keeps its fonts open, and a figure
    drawn after its font's descriptor was closed, or reused, would fail or read the wrong file).
    Call it before dropping privileges: /proc/self/fd is then no longer the child's to read."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd <= 2 or fd == keep:
            continue
        try:
            mode = os.fstat(fd).st_mode
        except OSError:
            continue
        if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            os.close(fd)


def child(job, ex_id, write_fd, snapshot, uid=None):
    os.setpgid(0, 0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    close_pipes(keep=write_fd)
    limit = job.get("memory_bytes")
    if limit:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    cpu = int(job.get("time_limit", 60)) + 5  # a backstop should the parent fail to kill it
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    if uid and os.geteuid() == 0:  # an unprivileged uid of the student's own (fork server)
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    try:
        status, message = run_exercise(job, ex_id, snapshot)
    except BaseException as exc:
        status, message = "error", f"{type(exc).__name__}: {exc}"
    payload = json.dumps({"status": status, "message": message[:20000]}).encode()
    os.write(write_fd, payload)
    os._exit(0)


def wait_for(pid, read_fd, seconds):
    """Collect the child's verdict, killing it after `seconds`."""
    deadline = time.monotonic() + seconds
    chunks, timed_out = [], False
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            break
        ready, _, _ = select.select([read_fd], [], [], left)
        if not ready:
            continue
        data = os.read(read_fd, 65536)
        if not data:
            break
        chunks.append(data)
    if timed_out:
        kill(pid)
    os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    return interpret(b"".join(chunks), status, timed_out, seconds)


def kill(pid):
    """Kill a child and everything it started (its process group)."""
    for target in (lambda: os.killpg(pid, signal.SIGKILL), lambda: os.kill(pid, signal.SIGKILL)):
        try:
            target()
        except OSError:
            pass


def interpret(raw, status, timed_out, seconds):
    """The verdict from what a check child wrote and how it ended."""
    if timed_out:
        return {"status": "timeout", "message": "the check did not finish within "
                f"{seconds} s (an infinite loop, or very slow code)"}
    code = os.waitstatus_to_exitcode(status)
    if code != 0 or not raw:
        how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
        return {"status": "crashed", "message": f"the process running your code died ({how}): it "
                "called os._exit, crashed, or ran out of memory"}
    try:
        verdict = json.loads(raw)
        assert verdict["status"] in STATUSES
    except Exception:
        return {"status": "tampering", "message": "Tampering detected: the verdict channel "
                "received something the grader did not write."}
    return verdict


def fork_check(job, ex_id, snapshot, uid=None):
    """Fork the child that checks one exercise; returns (pid, read end of its verdict pipe)."""
    read_fd, write_fd = os.pipe()
    sys.stdout.flush()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        child(job, ex_id, write_fd, snapshot, uid)
    os.close(write_fd)
    return pid, read_fd


def missing_cell(ex_id):
    return {"status": "error", "message": f"the notebook has no solution cell {ex_id!r}"}


def verify(job, snapshot=None, uid=None):
    """Verdicts for every exercise in `job` ({exercise id: {status, message}})."""
    snapshot = snapshot or integrity_snapshot()
    verdicts = {}
    for ex_id, source in job["solutions"].items():
        if ex_id not in CHECKS:
            continue
        if source is None:
            verdicts[ex_id] = missing_cell(ex_id)
            continue
        pid, read_fd = fork_check(job, ex_id, snapshot, uid)
        verdicts[ex_id] = wait_for(pid, read_fd, job.get("time_limit", 60))
    return verdicts


def main():
    job = json.loads(sys.stdin.read())
    out = os.fdopen(os.dup(1), "w")
    print(json.dumps(verify(job)), file=out, flush=True)


if __name__ == "__main__":
    main()

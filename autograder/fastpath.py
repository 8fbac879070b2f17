"""Phase 1 of the grade command on a warm fork server (the default engine).

Per notebook: nbgrader's own sanitize preprocessors (test cells restored from the gradebook,
outputs cleared), then one request to the sandboxed fork server (autograder/forkserver.py),
which runs every exercise's check in its own fork and then the notebook in a fresh fork,
scheduling many notebooks at once (up to LOOKAHEAD requests are handed over, so that it can
check them ahead of running them); the executed notebook is staged for phase 2 with the same
outputs and verdicts `SafeExecute` and `VerifyExercises` would give, and `done` is called for
the student. A server that dies is replaced; the notebooks it had in hand are tried once more,
then reported as errors.
"""

import json
import os
import select
import shutil
import subprocess
import sys
import time
from collections import deque
from pathlib import Path

from .curriculum import CURRICULUM, exercise_of
from .sandbox import DEFAULT_MEMORY_BYTES, Sandbox

# nbformat, nbgrader and autograder.verdicts are imported where they are used: the grade command
# launches the fork server before it loads them, so that the two start-ups overlap.

LOOKAHEAD = 64  # notebooks handed to the server at once: it checks them ahead of running them
FIRST_UID = 200_000  # each student's code runs as a uid of its own: FIRST_UID + their index


class ServerLost(Exception):
    """The fork server died or stopped answering."""


class ForkServer:
    """A sandboxed `python -m autograder.forkserver`, talked to over its stdin and stdout."""

    def __init__(self, work_root, hide, log_path, start_timeout=300):
        self.work_root, self.hide, self.log_path = Path(work_root), list(hide), log_path
        self.start_timeout = start_timeout
        self.sandbox = Sandbox(self.work_root, hide=self.hide, keep_caps=["CAP_SETUID", "CAP_SETGID", "CAP_KILL", "CAP_SYS_NICE"])
        self.proc = None

    def launch(self):
        """Start the server's process; it then spends a few seconds importing (wait_ready)."""
        cmd = self.sandbox.wrap([sys.executable, "-m", "autograder.forkserver"])
        self.work_root.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=log, cwd=self.work_root, start_new_session=True)
        self._buffer, self.launched, self.ready_after = b"", time.monotonic(), None
        return self

    def wait_ready(self):
        if self.ready_after is None:
            try:
                ready = self._read(self.start_timeout).get("ready")
            except (OSError, ValueError, ServerLost) as exc:
                self.close()
                raise ServerLost(f"the fork server did not start ({exc})") from None
            if not ready:
                self.close()
                raise ServerLost("the fork server did not start")
            self.ready_after = time.monotonic() - self.launched
        return self

    def _read(self, timeout, poll=False):
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], max(0.0, left))[0]:
                if poll:
                    return None
                raise ServerLost(f"no answer within {timeout:.0f} s")
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise ServerLost("the fork server exited")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def send(self, request):
        try:
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            self.proc.stdin.flush()
        except OSError as exc:
            self.close()
            raise ServerLost(str(exc)) from None

    def receive(self, timeout, poll=False):
        """The next response; with `poll`, None if none has arrived within `timeout`."""
        try:
            return self._read(timeout, poll)
        except (OSError, ValueError, ServerLost) as exc:
            self.close()
            raise ServerLost(str(exc)) from None

    def finish(self, timeout=10):
        """No more requests: the server's own CPU seconds, once it has answered the rest."""
        try:
            self.proc.stdin.close()
            while True:
                message = self._read(timeout)
                if "server_cpu" in message:
                    return message["server_cpu"]
        except (OSError, ValueError, ServerLost):
            return None
        finally:
            self.close()

    def close(self):
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, 9)
            except OSError:
                self.proc.kill()
            self.proc.wait()


def launch_server(root, scratch):
    """The fork server for grading the course at `root` from the scratch folder `scratch`,
    launched (not yet ready): student code sees neither folder."""
    os.chmod(scratch, 0o755)  # student uids pass through it to their folders under work/
    return ForkServer(scratch / "work", hide=[root, scratch], log_path=scratch / "server.log").launch()


def sanitize(config, db_file, assignment, student, notebook_path):
    """The notebook nbgrader's autograde would execute: nbgrader's own sanitize preprocessors."""
    import nbformat
    from traitlets.utils.importstring import import_item
    from .grading import sanitize_steps
    nb = nbformat.read(str(notebook_path), as_version=4)
    resources = {"nbgrader": {"db_url": f"sqlite:///{db_file}", "assignment": assignment,
                              "notebook": notebook_path.stem, "student": student},
                 "metadata": {"path": str(notebook_path.parent)}}
    for step in sanitize_steps(config):
        nb, resources = import_item(step)(config=config).preprocess(nb, resources)
    return nb


def limits(config):
    def get(section, key, default):
        return config[section][key] if section in config and key in config[section] else default
    return {"cell_timeout": get("SafeExecute", "timeout", 120),
            "check_time_limit": get("VerifyExercises", "time_limit", 60),
            "memory_bytes": get("SafeExecute", "memory_bytes", DEFAULT_MEMORY_BYTES)}


def apply_execution(nb, execution):
    """Put the fork's outputs into the cells, as SafeExecute would have left them."""
    import nbformat
    from .verdicts import error_output
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    dead_at = execution.get("stuck")
    for i in code:
        cell = nb.cells[i]
        result = execution["cells"].get(str(i))
        if result is not None:
            cell.outputs = [nbformat.from_dict(o) for o in result["outputs"]]
            cell.execution_count = result["execution_count"]
        elif i == dead_at:
            cell.outputs = [error_output("KernelDied", "The kernel died while running this cell: "
                                         "the code called os._exit, crashed, or ran out of memory. "
                                         "Later cells did not run.")]
        else:
            reason = (f"the kernel died in cell {dead_at + 1}" if dead_at is not None
                      else execution.get("dead") or "the notebook did not finish")
            cell.outputs = [error_output("NotRun", f"This cell did not run: {reason}.")]
    return nb


def graded_cells(nb, assignment):
    """{cell index: exercise id} for the test cells that score an exercise."""
    from .verdicts import nbgrader_meta
    found = {}
    for i, cell in enumerate(nb.cells):
        meta = nbgrader_meta(cell)
        if cell.cell_type == "code" and meta.get("grade"):
            exercise = exercise_of(meta.get("grade_id", ""), assignment)
            if exercise in CURRICULUM[assignment]:
                found[str(i)] = exercise
    return found


def prepare(config, db_file, root, work_root, assignment, student, notebook, uid, settings):
    """The fork server's request for one notebook, and the sanitized notebook to fill in."""
    from .preprocessors import file_digest
    from .verdicts import build_job
    nb = sanitize(config, db_file, assignment, student, notebook)
    nb.metadata["autograder"] = {"submission_sha256": file_digest(notebook)}  # for ReplaySanitize
    workdir = work_root / student / assignment
    shutil.copytree(notebook.parent, workdir, dirs_exist_ok=True)
    if uid is not None:
        for path in [workdir.parent, workdir, *workdir.rglob("*")]:
            os.chown(path, uid, uid)
    job = build_job(nb, assignment, time_limit=settings["check_time_limit"],
                    memory_bytes=settings["memory_bytes"])
    request = {"id": f"{student}/{notebook.name}", "workdir": str(workdir), "uid": uid,
               "notebook_slots": settings.get("notebook_slots"), "check_slots": settings.get("check_slots"),
               "memory_bytes": settings["memory_bytes"], "cell_timeout": settings["cell_timeout"],
               "notebook_timeout": settings["notebook_timeout"], "verify": job,
               "cells": [[i, c.source] for i, c in enumerate(nb.cells) if c.cell_type == "code"],
               "graded_cells": graded_cells(nb, assignment)}
    return request, nb


def stage(nb, response, assignment, sandboxed, path):
    import nbformat
    from .verdicts import apply_verdicts
    apply_execution(nb, response["execution"])
    summary = apply_verdicts(nb, assignment, response["verdicts"])
    nb.metadata["autograder"].update(sandboxed=sandboxed, exercises=summary)
    write_atomically(path, nbformat.writes(nb))


def write_atomically(path, text):
    """Phase 2 may be reading the staging folder while phase 1 writes it: never a partial file."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text)
    os.replace(partial, path)


def run_phase1(root, scratch, assignment, students, workers, notebook_timeout, done,
               stats=None, server=None):
    """Grade `students` on one fork server (`server`, from launch_server, or a new one) with
    `workers` notebooks running at once (default: one more than the cores); calls
    `done(student, status, reason)` as each student's notebooks are staged; returns
    {student: (status, reason, seconds, timings)}."""
    return Phase1(root, scratch, assignment, students, workers, notebook_timeout, done,
                  {} if stats is None else stats).run(server)


class Phase1:
    """One grading run's phase 1: hands the notebooks to the fork server (up to LOOKAHEAD at a
    time), stages each answer for phase 2, and replaces a server that dies."""

    def __init__(self, root, scratch, assignment, students, workers, notebook_timeout, done, stats):
        from .grading import load_config
        self.root, self.scratch, self.assignment, self.done, self.stats = root, scratch, assignment, done, stats
        self.config = load_config(root)
        cores = os.cpu_count() or 1
        self.settings = dict(limits(self.config), notebook_timeout=notebook_timeout,
                             notebook_slots=workers or cores + 1, check_slots=2 * cores)
        sources = {p.name for p in (root / "source" / assignment).glob("*.ipynb")}
        self.notebooks = {s: sorted(p for p in (root / "submitted" / s / assignment).glob("*.ipynb")
                                    if p.name in sources) for s in students}
        self.uids = {s: (FIRST_UID + i if os.geteuid() == 0 else None) for i, s in enumerate(students)}
        self.todo = deque((s, nb) for s in students for nb in self.notebooks[s])
        self.left = {s: len(self.notebooks[s]) for s in students}
        self.timings = {s: {"execute": 0.0, "verify": 0.0, "queued": 0.0, "client_cpu": 0.0} for s in students}
        self.results, self.began, self.in_flight, self.attempts = {}, {}, {}, {}
        self.started, self.server = time.monotonic(), None

    def run(self, server=None):
        for student, notebooks in self.notebooks.items():
            if not notebooks:
                self._close(student, "error", "no notebook of this assignment in the submission")
        self.server = self._ready(server)
        budget = self.settings["notebook_timeout"] + self.settings["check_time_limit"] + 120
        try:
            while self.todo or self.in_flight:
                sent = self._send_next() if self.todo and len(self.in_flight) < LOOKAHEAD else False
                try:  # after a send, only collect what has arrived: the next send waits for no one
                    response = self.server.receive(0 if sent else budget, poll=sent)
                except ServerLost as exc:
                    self._server_lost(exc)
                    continue
                if response is not None:
                    self._collect(response)
            server_cpu = self.server.finish()
            if server_cpu is not None:
                self._add_stat("server_cpu", server_cpu)
        finally:
            self.server.close()
        return self.results

    def _send_next(self):
        """Prepare and send the next notebook; False if there was nothing to send."""
        student, notebook = self.todo.popleft()
        if student in self.results:
            return False
        if student not in self.began:
            self.began[student] = time.monotonic()
            self.timings[student]["sent"] = round(self.began[student] - self.started, 3)
        uid = self.uids[student] if self.server.sandbox.available else None  # else Python may be unreadable
        cpu = time.thread_time()
        try:
            request, nb = prepare(self.config, self.scratch / "base.db", self.root, self.scratch / "work",
                                  self.assignment, student, notebook, uid, self.settings)
        except Exception as exc:  # a notebook nbgrader cannot read, say
            self._close(student, "error", f"{type(exc).__name__}: {exc}")
            return False
        finally:
            self.timings[student]["client_cpu"] += time.thread_time() - cpu
        self.in_flight[request["id"]] = (student, notebook, nb)
        self.server.send(request)
        return True

    def _collect(self, response):
        student, notebook, nb = self.in_flight.pop(response["id"])
        staged = self.scratch / "staging" / student / self.assignment
        staged.mkdir(parents=True, exist_ok=True)
        cpu = time.thread_time()
        stage(nb, response, self.assignment, self.server.sandbox.available, staged / notebook.name)
        timing = self.timings[student]
        timing["client_cpu"] += time.thread_time() - cpu
        timing["execute"] += response["execution"]["seconds"]
        timing["verify"] += response["verify_seconds"]
        timing["queued"] += response["queued_seconds"]
        self.left[student] -= 1
        if self.left[student] == 0:
            self._close(student)

    def _server_lost(self, exc):
        """Every notebook the server had is tried once more on a new one, then is an error."""
        for key, (student, notebook, _) in list(self.in_flight.items()):
            self.attempts[key] = self.attempts.get(key, 0) + 1
            if self.attempts[key] > 1:
                self._close(student, "error", f"the grading server died twice while grading it ({exc})")
            else:
                self.todo.appendleft((student, notebook))
        self.in_flight.clear()
        self.server = self._ready()

    def _ready(self, server=None):
        server = (server or launch_server(self.root, self.scratch)).wait_ready()
        self._add_stat("server_start", server.ready_after)  # launch to ready, even if it overlapped
        return server

    def _add_stat(self, key, value):
        self.stats[key] = round(self.stats.get(key, 0) + value, 3)

    def _close(self, student, status="graded", reason=""):
        if student in self.results:
            return
        seconds = time.monotonic() - self.began.get(student, time.monotonic())
        self.results[student] = (status, reason, seconds, self.timings[student] if status == "graded" else {})
        shutil.rmtree(self.scratch / "work" / student, ignore_errors=True)
        self.done(student, status, reason)

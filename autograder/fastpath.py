"""Phase 1 of the grade command on warm fork servers (the default engine).

Per submission: nbgrader's own sanitize preprocessors (test cells restored from the gradebook,
outputs cleared), then one request to a sandboxed fork server (autograder/forkserver.py), which
runs the notebook in a fresh fork and every exercise's check in its own fork, and the executed
notebook is staged for phase 2 with the same outputs and verdicts `SafeExecute` and
`VerifyExercises` would give. One server per worker; a server that dies or stops answering is
killed and replaced, and costs only the submission it was grading.
"""

import json
import os
import queue
import select
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat

from .sandbox import DEFAULT_MEMORY_BYTES, Sandbox
from .verdicts import apply_verdicts, build_job, error_output

SANITIZE = ("ClearOutput", "DeduplicateIds", "OverwriteKernelspec", "OverwriteCells", "CheckCellMetadata")
FIRST_UID = 200_000  # each student's code runs as a uid of its own: FIRST_UID + their index


class ServerLost(Exception):
    """The fork server died or stopped answering."""


class ForkServer:
    """A sandboxed `python -m autograder.forkserver`, talked to over its stdin and stdout."""

    def __init__(self, work_root, hide, log_path, start_timeout=300):
        self.work_root, self.hide, self.log_path = Path(work_root), list(hide), log_path
        self.start_timeout = start_timeout
        self.sandbox = Sandbox(self.work_root, hide=self.hide, keep_caps=["CAP_SETUID", "CAP_SETGID", "CAP_KILL"])
        self.proc = None

    def start(self):
        cmd = self.sandbox.wrap([sys.executable, "-m", "autograder.forkserver"])
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=log, cwd=self.work_root, start_new_session=True)
        self._buffer = b""
        if not self._read(self.start_timeout).get("ready"):
            raise ServerLost("the fork server did not start")

    def _read(self, timeout):
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise ServerLost(f"no answer within {timeout:.0f} s")
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise ServerLost("the fork server exited")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def run(self, request, timeout):
        try:
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            self.proc.stdin.flush()
            return self._read(timeout)
        except (OSError, ValueError, ServerLost) as exc:
            self.close()
            raise ServerLost(str(exc)) from None

    def close(self):
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, 9)
            except OSError:
                self.proc.kill()
            self.proc.wait()


def sanitize(config, db_file, assignment, student, notebook_path):
    """The notebook nbgrader's autograde would execute: nbgrader's own sanitize preprocessors."""
    from nbgrader import preprocessors
    nb = nbformat.read(str(notebook_path), as_version=4)
    resources = {"nbgrader": {"db_url": f"sqlite:///{db_file}", "assignment": assignment,
                              "notebook": notebook_path.stem, "student": student},
                 "metadata": {"path": str(notebook_path.parent)}}
    for name in SANITIZE:
        nb, resources = getattr(preprocessors, name)(config=config).preprocess(nb, resources)
    return nb


def limits(config):
    def get(section, key, default):
        return config[section][key] if section in config and key in config[section] else default
    return {"cell_timeout": get("SafeExecute", "timeout", 120),
            "check_time_limit": get("VerifyExercises", "time_limit", 60),
            "memory_bytes": get("SafeExecute", "memory_bytes", DEFAULT_MEMORY_BYTES)}


def apply_execution(nb, execution):
    """Put the fork's outputs into the cells, as SafeExecute would have left them."""
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


def grade_one(server, config, db_file, root, work_root, assignment, student, uid, settings, staged):
    """Sanitize, execute and verify one student's notebooks; write them to `staged`."""
    timings = {"execute": 0.0, "verify": 0.0}
    for notebook in sorted((root / "submitted" / student / assignment).glob("*.ipynb")):
        if notebook.stem not in {p.stem for p in (root / "source" / assignment).glob("*.ipynb")}:
            continue
        nb = sanitize(config, db_file, assignment, student, notebook)
        uid = uid if server.sandbox.available else None  # outside it, Python may be unreadable to uid
        workdir = work_root / student / assignment
        shutil.copytree(notebook.parent, workdir, dirs_exist_ok=True)
        if uid is not None:
            for path in [workdir.parent, workdir, *workdir.rglob("*")]:
                os.chown(path, uid, uid)
        job = build_job(nb, assignment, time_limit=settings["check_time_limit"],
                        memory_bytes=settings["memory_bytes"])
        request = {"workdir": str(workdir), "uid": uid, "memory_bytes": settings["memory_bytes"],
                   "cells": [[i, c.source] for i, c in enumerate(nb.cells) if c.cell_type == "code"],
                   "cell_timeout": settings["cell_timeout"],
                   "notebook_timeout": settings["notebook_timeout"], "verify": job}
        budget = settings["notebook_timeout"] + settings["check_time_limit"] * (len(job["solutions"]) + 1) + 60
        response = server.run(request, timeout=budget)
        apply_execution(nb, response["execution"])
        summary = apply_verdicts(nb, assignment, response["verdicts"])
        nb.metadata["autograder"] = {"sandboxed": server.sandbox.available, "exercises": summary}
        nbformat.write(nb, str(staged / notebook.name))
        timings["execute"] += response["execution"]["seconds"]
        timings["verify"] += response["verify_seconds"]
        shutil.rmtree(work_root / student, ignore_errors=True)
    return timings


def run_phase1(root, scratch, assignment, students, workers, notebook_timeout, progress_update,
               stats=None):
    """Grade `students` on `workers` fork servers; returns {student: (status, reason, seconds, timings)}."""
    from .grading import load_config
    config = load_config(root)
    settings = dict(limits(config), notebook_timeout=notebook_timeout)
    work_root = scratch / "work"
    work_root.mkdir(parents=True, exist_ok=True)
    os.chmod(scratch, 0o755)
    uids = {s: (FIRST_UID + i if os.geteuid() == 0 else None) for i, s in enumerate(students)}
    jobs, results, starts = queue.Queue(), {}, []
    for student in students:
        jobs.put(student)

    def worker(number):
        server = ForkServer(work_root, hide=[root, scratch], log_path=scratch / f"server-{number}.log")
        started = time.monotonic()
        try:
            server.start()
        except ServerLost as exc:
            server = None
            start_error = str(exc)
        starts.append(time.monotonic() - started)
        while True:
            try:
                student = jobs.get_nowait()
            except queue.Empty:
                break
            start = time.monotonic()
            staged = scratch / "staging" / student / assignment
            staged.mkdir(parents=True, exist_ok=True)
            try:
                if server is None:
                    raise ServerLost(start_error)
                timings = grade_one(server, config, scratch / "base.db", root, work_root, assignment,
                                    student, uids[student], settings, staged)
                results[student] = ("graded", "", time.monotonic() - start, timings)
            except ServerLost as exc:
                reason = f"grading stopped: {exc}; the submission's processes were killed"
                results[student] = ("timeout" if "no answer" in str(exc) else "error", reason,
                                    time.monotonic() - start, {})
                (staged / "_failed.json").write_text(json.dumps({"reason": reason}))
                server = ForkServer(work_root, hide=[root, scratch], log_path=server.log_path if server else scratch / "server.log")
                try:
                    server.start()
                except ServerLost as exc2:
                    server, start_error = None, str(exc2)
            except Exception as exc:  # a notebook nbgrader cannot read, say
                reason = f"{type(exc).__name__}: {exc}"
                results[student] = ("error", reason, time.monotonic() - start, {})
                (staged / "_failed.json").write_text(json.dumps({"reason": reason}))
            progress_update()
        if server is not None:
            server.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(max(1, workers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if stats is not None:
        stats["server_start"] = round(sum(starts), 3)
    return results

"""Phase 2 of the grade command: the gradebook's single writer.

A thread records each submission in the gradebook as soon as phase 1 is done with it, with
nbgrader's own autograde whose sanitizing and execution replay what phase 1 staged
(`nbgrader_api.replay_config`: ReplaySanitize, ReplayExecution). One student at a time, one
writer: no 'database is locked', no lost grade; and since each student's record depends on
nothing but their own staged notebooks, the gradebook ends the same whatever order phase 1
finishes in. The thread's Gradebooks share one database engine (`gradebook_engines`).
"""

import queue
import threading
import time

from . import gradebook_engines
from .nbgrader_api import make_api, replay_config


class Recorder:
    """The recording thread of one grading run (see the module docstring)."""

    def __init__(self, root, assignment, staging):
        self.api, self.assignment = make_api(root, replay_config(root, staging.folder)), assignment
        self.submitted, self.failed, self.error, self.cpu_seconds = set(), [], None, 0.0
        self._queue, self._stopping = queue.Queue(), False
        self._thread = threading.Thread(target=self._run, name="record", daemon=True)
        self._thread.start()

    def submit(self, student):
        self.submitted.add(student)
        self._queue.put(student)

    def _run(self):
        try:
            with gradebook_engines.shared():
                while (student := self._queue.get()) is not None and not self._stopping:
                    result = self.api.autograde(self.assignment, student, force=True, create=True)
                    if not result.get("success"):
                        self.failed.append(student)
        except BaseException as exc:  # reported by finish()
            self.error = exc
        finally:
            self.cpu_seconds = round(time.thread_time(), 3)

    def finish(self):
        """Every submission is submitted: wait until all are recorded; the students nbgrader
        could not record."""
        self._queue.put(None)
        self._thread.join()
        if self.error is not None:
            raise RuntimeError(f"recording the grades failed: {self.error!r}") from self.error
        return list(self.failed)

    def stop(self):
        """Record nothing more than the submission in hand (no-op once finished)."""
        if self._thread.is_alive():
            self._stopping = True
            self._queue.put(None)
            self._thread.join()

"""Phase 1 of the grade command on a Dask cluster (`grade --cluster tcp://...`).

The instructor's `grade` process is the client: it keeps phase 2 (the `Recorder`, the one
gradebook writer) and sends phase 1, a few students per task, to the cluster's workers through
`dask.distributed`. What travels to a worker: each student's submitted notebooks of the
assignment (bytes, those named as in source/), and once per run, to every worker, the
assignment's instructor files (`Instructor`: the gradebook snapshot phase 1's sanitizing reads,
the course's nbgrader_config.py, the source notebooks' names). Never the course folder, never
the real gradebook.

Each worker runs the same `engine.Phase1` as the local path, on its own warm `Grader` (judge and
candidate servers, sandbox, uids, cgroups), started once per worker by `GraderPlugin` and driven
by one thread of its own, one batch at a time; it sends back per student the outcome and the
staged notebooks' text. The client writes those into its own `Staging` and hands the student to
the recorder, as the local path does.

A worker that dies loses no grade: the scheduler runs its tasks again on another worker (up to
`distributed.scheduler.allowed-failures` times); when it gives up, or a task fails, or a result
cannot be read, each of its students is reported by name as an error, never a silent zero; a
student is recorded once, whatever comes back twice.

Dask is imported only here, and this module only when a cluster is given: the local path never
imports it.
"""

import asyncio
import concurrent.futures
import contextlib
import functools
import hashlib
import json
import math
import queue
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from distributed import Client, WorkerPlugin, as_completed, get_worker

from . import gradelog
from .engine import Phase1
from .grader import Grader, ServerLost

STATUSES = ("graded", "error", "timeout")
MAX_BATCH = 8
CONNECT_TIMEOUT = "20s"


class ClusterUnreachable(ServerLost):
    """The Dask scheduler cannot be reached, or has no worker: nothing was graded."""


@dataclass(frozen=True)
class Instructor:
    """The assignment's instructor files, as one grading run sends them to every worker once."""
    assignment: str
    config_text: str
    base_db: bytes
    sources: tuple
    plugin: str  # the name the run's GraderPlugin is registered under
    grader: str  # the client's `grader_digest()`: a worker must grade with the very same code

    @property
    def digest(self):
        return hashlib.sha256(self.base_db + self.config_text.encode()).hexdigest()[:16]


@functools.cache
def grader_digest():
    """sha256 of this process's `autograder` package (the judge's declarations and checks live
    there): a worker whose copy differs would grade differently, so it grades nobody."""
    digest = hashlib.sha256()
    gradelog._tree_digest(gradelog.GRADER, digest)
    return digest.hexdigest()


class GraderPlugin(WorkerPlugin):
    """This worker's phase 1 for one grading run: one warm `Grader`, started when the plugin is
    registered (or the worker joins) and closed when it is unregistered (or the worker closes),
    and one `Phase1` fed by every task the worker runs. A task (`grade`) hands its batch to the
    plugin's own thread and waits; that thread adds the batch's students to the running phase 1,
    so that the servers keep judging the next batch while a looping student holds the last
    one, and answers each task once all its students are done. One thread drives the Grader:
    the servers' sandboxes die with the thread that started them (bwrap's --die-with-parent),
    so that thread lives as long as the Grader. A worker runs as many tasks at once as it has
    threads (`dask worker --nthreads`): two or more keep its servers busy."""

    def __init__(self, settings):
        self.settings = settings

    def setup(self, worker=None):
        self.scratch = Path(tempfile.mkdtemp(prefix="autograder-worker-",
                                             dir=getattr(worker, "local_directory", None)))
        self.address = getattr(worker, "address", "")
        self.inbox = queue.Queue()
        self.thread = threading.Thread(target=self._feed, name="autograder-grader", daemon=True)
        self.thread.start()  # the servers start while the first batch travels

    def teardown(self, worker=None):
        self.inbox.put(None)
        self.thread.join()
        shutil.rmtree(self.scratch, ignore_errors=True)

    def grade(self, instructor, batch):
        if instructor.grader != grader_digest():
            raise RuntimeError(f"the worker {self.address} has another version of the grader (autograder package "
                               f"{grader_digest()[:12]}, the instructor's {instructor.grader[:12]}): install the "
                               "course's commit on every worker")
        answer = concurrent.futures.Future()
        self.inbox.put((instructor, batch, answer))
        return answer.result()

    def _feed(self):
        phase1, pending = None, []
        grader, broken = self._start()
        try:
            while True:
                try:
                    item = self.inbox.get(timeout=0.01 if phase1 is not None and phase1.busy() else None)
                except queue.Empty:
                    item = ()
                if item is None:
                    return
                if item:
                    instructor, batch, answer = item
                    try:
                        if broken is not None:
                            raise RuntimeError(f"this worker's grading servers could not start ({broken})")
                        phase1 = phase1 or self._phase1(instructor, grader)
                        pending.append(self._add(phase1, instructor, batch, answer))
                    except Exception as exc:  # this task fails, by its students' names on the client
                        answer.set_exception(exc)
                        continue
                if phase1 is None:
                    continue
                try:
                    if phase1.busy():
                        phase1.step(0.2)
                    pending = [batch for batch in pending if not batch.answered(phase1, self.address)]
                except Exception as exc:  # every task waiting here fails; new servers for the next
                    for batch in pending:
                        batch.fail(exc)
                    pending, grader = [], phase1.grader
                    grader.close()
                    phase1 = None
                    grader, broken = self._start()
        finally:
            for batch in pending:
                batch.fail(RuntimeError("this worker's grading stopped"))
            grader = phase1.grader if phase1 is not None else grader
            if grader is not None:
                grader.close()

    def _start(self):
        """(a new Grader, None), or (None, why it could not be made)."""
        try:
            return Grader(self.scratch / "servers", self.settings), None
        except Exception as exc:
            return None, exc

    def _phase1(self, instructor, grader):
        """The run's phase 1 on this worker, in a minimal course folder: the instructor files."""
        course = self.scratch / f"course-{instructor.digest}"
        course.mkdir(exist_ok=True)
        (course / "nbgrader_config.py").write_text(instructor.config_text, encoding="utf-8")
        (course / "base.db").write_bytes(instructor.base_db)
        phase1 = Phase1(course, course, CapturedStaging(), instructor.assignment, [], lambda *_: None, {},
                        self.settings, grader, sources=instructor.sources)
        phase1.grader = phase1._ready(grader)
        return phase1

    def _add(self, phase1, instructor, batch, answer):
        """The batch's submissions written into a folder of its own and added to phase 1."""
        started = time.monotonic()
        if phase1.assignment != instructor.assignment or phase1.sources != set(instructor.sources):
            raise RuntimeError("a task of another grading run reached this run's plugin")
        work = Path(tempfile.mkdtemp(prefix="batch-", dir=self.scratch))
        students = [one_component(student) for student, _ in batch]
        for student, files in batch:
            folder = work / "submitted" / student / one_component(instructor.assignment)
            folder.mkdir(parents=True)
            for name, data in files.items():
                (folder / one_component(name)).write_bytes(data)
        phase1.add(work, [s for s in students if s not in phase1.notebooks])
        return Batch(students, work, answer, started)


@dataclass
class Batch:
    """One task's students in a worker's phase 1, and the answer its task waits for."""
    students: list
    work: Path
    answer: concurrent.futures.Future
    started: float

    def answered(self, phase1, address):
        """Answer the task if all its students are done (then their part of phase 1 is let go)."""
        if any(s not in phase1.results for s in self.students):
            return False
        judged = sum(phase1.judged_by.pop(s, 0) for s in self.students)
        students = {}
        for s in self.students:
            status, reason, seconds, timings = phase1.results[s]
            notebooks = phase1.staging.notebooks.pop(s, {})
            students[s] = {"status": status, "reason": reason, "seconds": seconds, "timings": timings,
                           "notebooks": notebooks if status == "graded" else {}}
        shutil.rmtree(self.work, ignore_errors=True)
        self.answer.set_result({"worker": address, "seconds": time.monotonic() - self.started,
                                "stats": {"exercises_judged": judged}, "students": students})
        return True

    def fail(self, exc):
        shutil.rmtree(self.work, ignore_errors=True)
        if not self.answer.done():
            self.answer.set_exception(exc)


def one_component(name):
    """`name` (a student's, an assignment's, a notebook's: folder and file names on the client)
    if it is one path component, else ValueError."""
    if not isinstance(name, str) or name in ("", ".", "..") or "/" in name or "\0" in name:
        raise ValueError(f"{name!r} is not a file name")
    return name


class CapturedStaging:
    """Phase 1's `Staging` on a worker: each staged notebook's text is kept to be sent back."""

    def __init__(self):
        self.notebooks = {}

    def write(self, student, assignment, name, data):
        self.notebooks.setdefault(student, {})[name] = data


def grade_batch(instructor, batch):
    """The task a worker runs: phase 1 of `batch` ([(student, {notebook file name: bytes})])
    on this worker's warm Grader."""
    return get_worker().plugins[instructor.plugin].grade(instructor, batch)


def decode(result, batch, sources):
    """{student: (status, reason, seconds, timings, {notebook id: text})} for the students of
    `batch`, from what a worker sent back; a student whose part is missing or malformed is an
    error that says so (never a crash of the run, never a score)."""
    decoded = {}
    worker = result.get("worker") if isinstance(result, dict) else None
    students = result.get("students") if isinstance(result, dict) else None
    stems = {Path(name).stem for name in sources}
    for student in batch:
        part = students.get(student) if isinstance(students, dict) else None
        try:
            decoded[student] = decode_student(part, stems, worker)
        except (TypeError, ValueError, AttributeError) as exc:
            decoded[student] = ("error", f"the cluster worker {worker or '?'} sent back an unreadable result "
                                         f"for this student ({exc})", 0.0, {}, {})
    return decoded


def decode_student(part, stems, worker):
    if not isinstance(part, dict):
        raise ValueError("no result")
    status, reason = part.get("status"), part.get("reason", "")
    seconds, timings, notebooks = part.get("seconds", 0.0), part.get("timings", {}), part.get("notebooks", {})
    if status not in STATUSES or not isinstance(reason, str):
        raise ValueError(f"status {status!r}")
    if not isinstance(seconds, (int, float)) or not math.isfinite(seconds) or not isinstance(timings, dict):
        raise ValueError("its timings")
    json.dumps(timings, allow_nan=False)  # they go into the grading log
    if not isinstance(notebooks, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                  for k, v in notebooks.items()):
        raise ValueError("its notebooks")
    if set(notebooks) - stems:
        raise ValueError(f"notebooks the assignment does not have: {sorted(set(notebooks) - stems)}")
    if status == "graded" and not notebooks:
        raise ValueError("graded, but no notebook")
    return status, reason, float(seconds), {**timings, "worker": str(worker or "")}, notebooks


def batches(students, slots):
    """The students in tasks of a few each: about two tasks per task slot (the workers' threads),
    so that a worker always has the next task in hand, and a lost worker loses a few students."""
    n = len(students)
    tasks = max(min(n, 2 * max(1, slots)), math.ceil(n / MAX_BATCH))
    return [students[i * n // tasks:(i + 1) * n // tasks] for i in range(tasks)]


def submission_files(root, assignment, student, sources):
    """The student's submitted notebooks of `assignment` that phase 1 grades, as bytes."""
    folder = Path(root) / "submitted" / student / assignment
    return {name: (folder / name).read_bytes() for name in sorted(sources) if (folder / name).is_file()}


class ClusterPhase1:
    """Phase 1 of one grading run on the cluster at `address` (see the module docstring)."""

    def __init__(self, address, root, scratch, staging, assignment, students, done, stats, settings, config_text):
        self.address, self.root, self.staging = address, Path(root), staging
        self.assignment, self.students, self.done, self.stats = assignment, list(students), done, stats
        self.settings, self.config_text, self.scratch = settings, config_text, Path(scratch)
        self.sources = tuple(sorted(p.name for p in (self.root / "source" / assignment).glob("*.ipynb")))
        self.results = {}

    def run(self):
        started = time.monotonic()
        plugin = f"autograder-grader-{uuid.uuid4().hex[:12]}"
        try:
            client = Client(self.address, timeout=CONNECT_TIMEOUT)
        except (OSError, ValueError) as exc:
            raise ClusterUnreachable(f"the Dask scheduler at {self.address} cannot be reached ({exc})") from None
        with client:
            threads = client.nthreads()
            workers = len(threads)
            if not workers:
                raise ClusterUnreachable(f"the Dask cluster at {self.address} has no worker")
            client.register_plugin(GraderPlugin(self.settings), name=plugin)
            try:
                instructor = Instructor(self.assignment, self.config_text, (self.scratch / "base.db").read_bytes(),
                                        self.sources, plugin, grader_digest())
                shared = client.scatter(instructor, broadcast=True, hash=False)
                futures = {}
                for batch in batches(self.students, sum(threads.values())):
                    payload = []
                    for student in batch:
                        try:
                            payload.append((student, submission_files(self.root, self.assignment, student, self.sources)))
                        except OSError as exc:
                            self._close(student, "error", f"the submission could not be read ({exc})", 0.0, {}, {})
                    if payload:
                        futures[client.submit(grade_batch, shared, payload, pure=False)] = [s for s, _ in payload]
                self.stats["cluster_workers"] = workers
                for future in as_completed(futures):
                    batch = futures[future]
                    try:
                        result = future.result()
                    except (Exception, asyncio.CancelledError) as exc:  # KilledWorker, or the task raised: every student named
                        for student in batch:
                            self._close(student, "error", f"not graded: the cluster could not grade this student's "
                                                          f"task ({type(exc).__name__}: {exc})", 0.0, {}, {})
                        continue
                    self._add_stats(result)
                    for student, decoded in decode(result, batch, self.sources).items():
                        self._close(student, *decoded)
            finally:
                with contextlib.suppress(OSError):  # a cluster already gone took its servers with it
                    client.unregister_worker_plugin(plugin)
        self.stats["cluster_seconds"] = round(time.monotonic() - started, 3)
        return self.results

    def _add_stats(self, result):
        stats = result.get("stats") if isinstance(result, dict) else None
        judged = stats.get("exercises_judged", 0) if isinstance(stats, dict) else 0
        if isinstance(judged, int):
            self.stats["exercises_judged"] = self.stats.get("exercises_judged", 0) + judged

    def _close(self, student, status, reason, seconds, timings, notebooks):
        """Stage what came back and hand the student to the recorder, once."""
        if student in self.results:
            return
        if status == "graded":
            try:
                for name, text in notebooks.items():
                    self.staging.write(student, self.assignment, name, text)
            except (OSError, ValueError) as exc:
                status, reason = "error", f"the graded notebook could not be staged ({type(exc).__name__}: {exc})"
        self.results[student] = (status, reason, seconds, timings)
        self.done(student, status, reason)

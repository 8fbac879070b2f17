"""nbgrader preprocessors that make `nbgrader autograde` trustworthy (wired in nbgrader_config.py).

- `SafeExecute`: nbgrader's Execute with the kernel in the sandbox, as an unprivileged uid of
  its own, in its own cgroup, started with `python -I`, in a private tmpfs folder holding
  read-only copies of the submission's files (never in `autograded/`, which nbgrader writes
  afterwards), with each cell's output capped; a kernel that dies (os._exit, a crash, the
  memory limit) costs the cells that did not run, not the whole submission, and every process
  it left is killed when it is done.
- `VerifyExercises`: every exercise decided by the judge (see `servers.Grader`), started once
  per nbgrader run and reused for every student; the test cells' outputs, which nbgrader
  scores, follow the verdicts.
- `ReplaySanitize`, `ReplayExecution`: for the `grade` command's single writer: reuse what
  phase 1 already did instead of doing it again.
- `HideHiddenTests`, `SanitizeFeedback`: for feedback, no hidden-test code, and nothing a
  student wrote can run in the browser of whoever opens it.
"""

import atexit
import hashlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import nbformat
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbconvert.preprocessors.sanitize import SanitizeHTML
from nbgrader.preprocessors import ClearHiddenTests, Execute, NbGraderPreprocessor
from traitlets import Bool, Integer, List, Set, Unicode
from traitlets.utils.importstring import import_item
from jupyter_client.manager import AsyncKernelManager

from ..protocol.limits import DEFAULT as LIMITS
from ..protocol.verdicts import Status, Verdict
from .isolation import Cgroups, UidBlock, kill_uid
from .sandbox import Sandbox, matplotlib_cache, warn_unsandboxed
from .verdicts import apply_verdicts, build_job, error_output

FEEDBACK_TAGS = ["a", "abbr", "b", "blockquote", "br", "code", "details", "div", "em", "h1", "h2",
                 "h3", "h4", "h5", "h6", "hr", "i", "kbd", "li", "ol", "p", "pre", "span", "strong",
                 "sub", "summary", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul"]
WORKDIR = "/student"  # the kernel's private folder inside its sandbox
_PROCESS = {}  # what one nbgrader process shares between notebooks: uids, cgroups, the grader


def shared(name, make):
    if name not in _PROCESS:
        _PROCESS[name] = make()
    return _PROCESS[name]


@atexit.register
def _close_shared():
    for name in ("grader", "cgroups", "uids"):
        thing = _PROCESS.pop(name, None)
        if thing is not None:
            try:
                thing.close()
            except Exception:
                pass


def private_copy(folder):
    """Regular files under `folder` (never links) copied to a fresh folder, readable by all:
    {relative path: copy}. The kernel sees these, read-only, in its own tmpfs."""
    copy = Path(tempfile.mkdtemp(prefix="autograder-files-"))
    os.chmod(copy, 0o755)
    files = {}
    for root, dirs, names in os.walk(folder, followlinks=False):
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d)) and not d.startswith(".")]
        for name in names:
            source = os.path.join(root, name)
            if os.path.islink(source) or not os.path.isfile(source):
                continue
            rel = os.path.relpath(source, folder)
            target = copy / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(target.parent, 0o755)
            shutil.copyfile(source, target)
            os.chmod(target, 0o644)
            files[rel] = str(target)
    return copy, files


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel in the sandbox: its own uid and cgroup, `python -I`, a private working folder,
    talking over IPC sockets (TCP cannot reach a kernel in its own network namespace).
    Interrupts are sent as messages (a signal would not cross into the sandbox's session)."""

    def __init__(self, **kwargs):
        self._private = tempfile.mkdtemp(prefix="autograder-kernel-")
        kwargs.setdefault("transport", "ipc")
        kwargs.setdefault("connection_file", os.path.join(self._private, "kernel.json"))
        super().__init__(**kwargs)
        self.sandbox, self.files, self.uid, self.cgroup_paths, self.memory_bytes = None, {}, None, [], LIMITS.memory_bytes

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        if cmd and os.path.basename(cmd[0]).startswith("python"):
            cmd = [cmd[0], "-I", *cmd[1:],
                   "--IPKernelApp.exec_lines=['import sys; sys.path.insert(0, \"\")']"]
        mpl = Path(self._private) / "mpl"
        mpl.mkdir(exist_ok=True)
        matplotlib_cache(mpl)
        if self.uid is not None:  # the kernel, under its own uid, reads and writes here
            for path in (self._private, self.connection_file, mpl, *mpl.iterdir()):
                if os.path.exists(path):
                    os.chown(path, self.uid, self.uid)
        self.sandbox = Sandbox(writable=[self._private], files=self.files, workdir=WORKDIR,
                               work_bytes=LIMITS.kernel_work_bytes,
                               uid=self.uid, memory_bytes=self.memory_bytes,
                               env={"MPLCONFIGDIR": str(mpl), "IPYTHONDIR": "/tmp/.ipython", "HOME": WORKDIR})
        if not self.sandbox.available:
            warn_unsandboxed(self.log)
            return cmd
        return self.sandbox.wrap(cmd)

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        # The kernel's own console chatter (not cell output, which travels over IPC) is dropped.
        kw["stdout"] = kw["stderr"] = subprocess.DEVNULL
        kw.pop("cwd", None)  # the sandbox sets it; the submission's folder is never the kernel's
        paths = list(self.cgroup_paths)
        if paths:
            def join():
                for path in paths:
                    with open(os.path.join(path, "cgroup.procs"), "w") as f:
                        f.write("0")
            kw["preexec_fn"] = join
        return await super()._async_launch_kernel(kernel_cmd, **kw)

    async def interrupt_kernel(self):
        if not self.has_kernel:
            raise RuntimeError("Cannot interrupt kernel. No kernel is running!")
        msg = self.session.msg("interrupt_request", content={})
        self._connect_control_socket()
        self.session.send(self._control_socket, msg)

    async def cleanup_resources(self, restart=False):
        await super().cleanup_resources(restart=restart)
        if not restart:
            shutil.rmtree(self._private, ignore_errors=True)


class SafeExecute(Execute):
    """Execute in a sandboxed kernel; survive kernel death; cap output; leave nothing behind."""

    max_output_bytes = Integer(LIMITS.max_output_bytes, help="output kept per cell; the rest is dropped").tag(config=True)
    memory_bytes = Integer(LIMITS.memory_bytes, help="memory of the kernel (address space, and "
                           "its cgroup where the machine has them)").tag(config=True)

    def __init__(self, **kwargs):
        kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)
        super().__init__(**kwargs)

    def preprocess(self, nb, resources=None, km=None):
        self._dead, self._output_bytes = None, {}
        folder = resources.get("metadata", {}).get("path") or os.getcwd()
        self._copy, self._files = private_copy(folder)
        uids = shared("uids", UidBlock)
        cgroups = shared("cgroups", lambda: Cgroups(memory_bytes=self.memory_bytes))
        self._uid = uids.take()
        self._student = f"kernel-{next(_kernels)}"
        self._cgroup_paths = cgroups.student(self._student)
        self._violations = []
        try:
            return super().preprocess(nb, resources, km)
        finally:
            left = kill_uid(self._uid) + cgroups.end(self._student)
            if left:
                self._violations.append(f"{left} process{'es' if left > 1 else ''} left running by the "
                                        "notebook's kernel (killed)")
            nb.metadata.setdefault("autograder", {})["kernel_violations"] = self._violations
            uids.give_back(self._uid)
            shutil.rmtree(self._copy, ignore_errors=True)

    def create_kernel_manager(self):
        km = super().create_kernel_manager()
        if isinstance(km, SandboxedKernelManager):
            km.files, km.uid, km.cgroup_paths = self._files, self._uid, self._cgroup_paths
            km.memory_bytes = self.memory_bytes
        return km

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        if self._dead:
            cell.outputs = [error_output("NotRun", f"This cell did not run: {self._dead}.")]
            return cell, resources
        # nbclient waits on the kernel's messages, which student code can forge or garble:
        # past its own limit (plus a grace), the kernel is killed, whatever it is saying.
        limit = (self.timeout or LIMITS.cell_timeout) + LIMITS.kernel_grace
        watchdog = threading.Timer(limit, self._kill_kernel)
        watchdog.daemon = True
        watchdog.start()
        try:
            return super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._dead = f"the kernel died in cell {index + 1}"
            cell.outputs.append(error_output(
                "KernelDied", "The kernel died while running this cell: the code called os._exit, "
                "crashed, or ran out of memory. Later cells did not run."))
            return cell, resources
        except CellTimeoutError:  # not even an interrupt got an answer: the kernel is gone
            self._kill_kernel()
            self._dead = f"the kernel stopped answering in cell {index + 1}"
            cell.outputs.append(error_output(
                "CellTimeoutError", "This cell did not finish, and the kernel stopped answering "
                "(even to an interrupt): it was stopped. Later cells did not run."))
            return cell, resources
        except Exception as exc:  # a message the client could not read: the kernel is not trusted
            self._kill_kernel()
            self._dead = f"the kernel sent something unreadable in cell {index + 1}"
            self._violations.append(f"the kernel's channel carried something the grader did not "
                                    f"write, in cell {index + 1} ({type(exc).__name__})")
            cell.outputs.append(error_output(
                "KernelBroken", "The kernel sent messages the grader could not read while running "
                "this cell, and was stopped. Later cells did not run."))
            return cell, resources
        finally:
            watchdog.cancel()

    def _kill_kernel(self):
        """End the kernel and everything of its uid, from outside its sandbox."""
        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        if process is not None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except OSError:
                try:
                    process.kill()
                except OSError:
                    pass
        kill_uid(self._uid)

    def output(self, outs, msg, display_id, cell_index):
        size = len(json.dumps(msg.get("content", {})))
        used = self._output_bytes.get(cell_index, 0) + size
        self._output_bytes[cell_index] = used
        if used > self.max_output_bytes:
            if used - size <= self.max_output_bytes:
                outs.append(nbformat.v4.new_output(
                    "stream", name="stdout",
                    text=f"\n[output truncated: this cell printed more than {self.max_output_bytes} bytes]\n"))
            return None
        return super().output(outs, msg, display_id, cell_index)


_kernels = itertools.count()
_checks = itertools.count()


class VerifyExercises(NbGraderPreprocessor):
    """Decide every exercise with the judge (one warm grader per nbgrader run)."""

    enabled = Bool(True).tag(config=True)
    time_limit = Integer(int(LIMITS.check_time_limit), help="seconds allowed to one exercise's check").tag(config=True)
    memory_bytes = Integer(LIMITS.memory_bytes, help="memory of one exercise's candidate").tag(config=True)
    require_sandbox = Bool(False, help="refuse to grade without bubblewrap").tag(config=True)

    def grader(self, fresh=False):
        from .grader import Grader, Settings
        if fresh:
            old = _PROCESS.pop("grader", None)
            if old is not None:
                old.close()

        def start():
            limits = LIMITS.replace(check_time_limit=self.time_limit, memory_bytes=self.memory_bytes)
            settings = Settings(limits, require_sandbox=self.require_sandbox)
            return Grader(tempfile.mkdtemp(prefix="autograder-verify-"), settings).wait_ready()
        return shared("grader", start)

    def preprocess(self, nb, resources):
        info = resources.get("nbgrader", {})
        assignment, student = info.get("assignment"), info.get("student") or "student"
        from .grader import ServerLost
        verdicts = None
        for attempt in range(2):
            grader = self.grader(fresh=attempt > 0)
            if not grader.sandboxed:
                warn_unsandboxed(self.log)
            if assignment not in grader.curriculum:
                return nb, resources
            try:
                verdicts = self.decide(grader, nb, assignment, student)
                break
            except ServerLost as exc:
                self.log.warning("grading server lost (%s): starting a new one", exc)
                lost = exc
        if verdicts is None:
            jobs, known = build_job(nb, assignment, self.grader().curriculum)
            verdicts = {**{ex: Verdict(Status.ERROR, f"the grading servers died twice ({lost})",
                                       violations=("grading server lost",)) for ex in jobs}, **known}
        summary = apply_verdicts(nb, assignment, verdicts, grader.curriculum)
        meta = nb.metadata.setdefault("autograder", {})
        meta.update(sandboxed=grader.sandboxed, exercises=summary)
        return nb, resources

    def decide(self, grader, nb, assignment, student):
        jobs, verdicts = build_job(nb, assignment, grader.curriculum)
        key = f"{student}/{next(_checks)}"
        grader.check(key, assignment, student, jobs)
        deadline = time.monotonic() + 60 + 2 * self.time_limit * max(1, len(jobs))
        try:
            while len(verdicts) < len(jobs) + len([k for k in verdicts if k not in jobs]):
                if time.monotonic() > deadline:
                    for ex in jobs:
                        verdicts.setdefault(ex, Verdict(Status.TIMEOUT, "the grader got no verdict in time"))
                    break
                for kind, _, ex_id, verdict in (e for e in grader.events(1.0) if e[0] == "verdict"):
                    verdicts[ex_id] = verdict
        finally:
            grader.forget(key)
            grader.student_done(student)
        return verdicts


def staged_path(staging, resources):
    info = resources["nbgrader"]
    return Path(staging) / info["student"] / info["assignment"] / f"{info['notebook']}.ipynb"


def file_digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class ReplaySanitize(NbGraderPreprocessor):
    """nbgrader's sanitize step, reused from phase 1 (grade command).

    Phase 1 ran the same sanitize preprocessors (`steps`) on the same submitted file, against a
    snapshot of the same gradebook, and staged the result with the file's digest: when the
    digest matches, that notebook is the sanitized one. Otherwise the steps run here, as usual.
    """

    enabled = Bool(True).tag(config=True)
    staging = Unicode("", help="folder of phase 1's staged notebooks").tag(config=True)
    steps = List(Unicode(), help="the sanitize preprocessors to run when nothing can be reused").tag(config=True)

    def preprocess(self, nb, resources):
        staged = staged_path(self.staging, resources)
        submitted = Path(resources["metadata"]["path"]) / staged.name
        if staged.exists() and submitted.exists():
            done = nbformat.read(str(staged), as_version=4)
            if done.metadata.get("autograder", {}).get("submission_sha256") == file_digest(submitted):
                return done, resources
        for step in self.steps:
            nb, resources = import_item(step)(config=self.config).preprocess(nb, resources)
        return nb, resources


class ReplayExecution(NbGraderPreprocessor):
    """Copy outputs from phase 1's executed copy of this very notebook (grade command).

    Phase 1 ran nbgrader's own sanitize step on the same submission, so the two notebooks
    must have the same cells; anything else is reported, never guessed.
    """

    enabled = Bool(True).tag(config=True)
    staging = Unicode("", help="folder of executed notebooks: <student>/<assignment>/<nb>.ipynb, "
                      "or <student>/<assignment>/_failed.json saying why there is none").tag(config=True)

    def preprocess(self, nb, resources):
        staged = staged_path(self.staging, resources)
        reason = None
        if not staged.exists():
            failure = staged.parent / "_failed.json"
            reason = (json.loads(failure.read_text())["reason"] if failure.exists()
                      else "the worker produced no result")
        else:
            done = nbformat.read(str(staged), as_version=4)
            if [c.source for c in done.cells] != [c.source for c in nb.cells]:
                reason = "the executed notebook does not match the submission"
        if reason:
            for cell in nb.cells:
                if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade"):
                    cell.outputs = [error_output("GradingError", f"This notebook could not be graded: {reason}")]
                    cell.metadata["autograder"] = {"status": "error", "message": reason}
            nb.metadata["autograder"] = {"error": reason}
            return nb, resources
        for mine, theirs in zip(nb.cells, done.cells):
            if mine.cell_type == "code":
                mine.outputs = theirs.outputs
                mine.execution_count = theirs.execution_count
                if "autograder" in theirs.metadata:
                    mine.metadata["autograder"] = theirs.metadata["autograder"]
        if "autograder" in done.metadata:
            nb.metadata["autograder"] = done.metadata["autograder"]
        return nb, resources


class HideHiddenTests(ClearHiddenTests):
    """Feedback shows test cells without their hidden part (the outputs still say what failed)."""

    enforce_metadata = Bool(False).tag(config=True)


class SanitizeFeedback(SanitizeHTML):
    """Feedback HTML that is safe to open: outputs of kinds a browser would run (JavaScript,
    SVG, widget views, anything unknown) are dropped in favour of their plain text, and HTML
    outputs keep only harmless formatting tags (bleach: no script, no event handler, no iframe,
    no style). Markdown cells, which students can edit, are rendered to HTML here and cleaned
    the same way, links included (a `javascript:` link is markdown before it is HTML)."""

    enabled = Bool(True).tag(config=True)
    safe_output_keys = Set({"metadata", "text/plain", "text/latex", "image/png", "image/jpeg"}).tag(config=True)
    sanitized_output_types = Set({"text/html", "text/markdown"}).tag(config=True)
    tags = List(Unicode(), FEEDBACK_TAGS).tag(config=True)
    strip = Bool(True).tag(config=True)

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type == "markdown":
            from nbconvert.filters.markdown_mistune import markdown2html_mistune
            cell.source = self.sanitize_html_tags(markdown2html_mistune(cell.source))
            return cell, resources
        return super().preprocess_cell(cell, resources, cell_index)

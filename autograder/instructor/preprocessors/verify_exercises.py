"""`VerifyExercises`: every exercise of a notebook decided by the judge.

The grader (both servers, `grader.Grader`) is started once per nbgrader run, by the first
notebook, and reused for every student (`run_shared.RUN`); a server lost midway is replaced
once. The test cells' outputs, which nbgrader scores, then follow the verdicts
(`verdicts.apply_verdicts`). Its limits default to `protocol.limits.Limits`.
"""

import tempfile
import time

from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Bool, Integer

from ...protocol.limits import CHECK_WAITS
from ...protocol.limits import DEFAULT as LIMITS
from ...protocol.verdicts import Status, Verdict
from ..grader import Grader, ServerLost, Settings
from ..sandbox import warn_unsandboxed
from ..verdicts import apply_verdicts, build_job
from .run_shared import RUN

# Seconds a notebook's verdicts may take beyond twice its exercises' own limits: the servers'
# queues and their start-up, not a limit on student code.
SLACK = 60


class VerifyExercises(NbGraderPreprocessor):
    """Decide every exercise with the judge (one warm grader per nbgrader run)."""

    enabled = Bool(True).tag(config=True)
    time_limit = Integer(int(LIMITS.check_time_limit), help="seconds allowed to one exercise's check").tag(config=True)
    memory_bytes = Integer(LIMITS.memory_bytes, help="memory of one exercise's candidate").tag(config=True)
    require_sandbox = Bool(False, help="refuse to grade without bubblewrap").tag(config=True)

    def grader(self, fresh=False):
        """The run's warm grader (`RUN`), started with this step's limits by the first notebook."""
        def start():
            limits = LIMITS.replace(check_time_limit=self.time_limit, memory_bytes=self.memory_bytes)
            settings = Settings(limits, require_sandbox=self.require_sandbox)
            return Grader(tempfile.mkdtemp(prefix="autograder-verify-"), settings).wait_ready()
        return RUN.grader(start, fresh)

    def preprocess(self, nb, resources):
        info = resources.get("nbgrader", {})
        assignment, student = info.get("assignment"), info.get("student") or "student"
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
        key = RUN.check_key(student)
        grader.check(key, assignment, student, jobs)
        deadline = time.monotonic() + SLACK + CHECK_WAITS * self.time_limit * max(1, len(jobs))
        try:
            while len(verdicts) < len(jobs) + len([k for k in verdicts if k not in jobs]):
                if time.monotonic() > deadline:
                    for ex in jobs:
                        verdicts.setdefault(ex, Verdict(Status.TIMEOUT, "the grader got no verdict in time"))
                    break
                for _, _, ex_id, verdict in (e for e in grader.events(1.0) if e[0] == "verdict"):
                    verdicts[ex_id] = verdict
        finally:
            grader.forget(key)
            grader.student_done(student)
        return verdicts

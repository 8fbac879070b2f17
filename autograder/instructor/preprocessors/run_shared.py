"""What one nbgrader process shares between the notebooks it autogrades, in one place.

nbgrader makes new preprocessor objects for every notebook, but some things must last the whole
run: the block of uids the kernels run as (a lock held for the run), the run's cgroups, the warm
grader (both servers, started by the first notebook that needs them), and the counters that
give each kernel and each check a name no other in the process has. `RUN` holds them; they are
made when first asked for and closed when the process exits.
"""

import atexit
import itertools

from ..isolation import Cgroups, UidBlock


class RunShared:
    """The process's shared things (see the module docstring)."""

    CLOSE_ORDER = ("grader", "cgroups", "uids")

    def __init__(self):
        self._things = {}
        self._kernels, self._checks = itertools.count(), itertools.count()

    def _get(self, name, make):
        if name not in self._things:
            self._things[name] = make()
        return self._things[name]

    def uids(self):
        """The run's block of uids (`isolation.UidBlock`)."""
        return self._get("uids", UidBlock)

    def cgroups(self, memory_bytes):
        """The run's cgroups (`isolation.Cgroups`), made with the first caller's memory limit."""
        return self._get("cgroups", lambda: Cgroups(memory_bytes=memory_bytes))

    def grader(self, start, fresh=False):
        """The run's warm grader, made by `start()` if there is none yet; `fresh`: close the
        one there is first (its servers were lost)."""
        if fresh:
            old = self._things.pop("grader", None)
            if old is not None:
                old.close()
        return self._get("grader", start)

    def kernel_name(self):
        """A name for the next kernel's cgroup."""
        return f"kernel-{next(self._kernels)}"

    def check_key(self, student):
        """A key for the next notebook sent to be checked."""
        return f"{student}/{next(self._checks)}"

    def close(self):
        for name in self.CLOSE_ORDER:
            thing = self._things.pop(name, None)
            if thing is not None:
                try:
                    thing.close()
                except Exception:
                    pass


RUN = RunShared()
atexit.register(RUN.close)

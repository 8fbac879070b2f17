"""What each grading server loads: the judge never the code that runs student functions, the
candidate never the judge.

`python -I -m autograder.judge.server FD` decides every exercise and must never import
`autograder.candidate.*` (the code that calls student functions), `autograder.judge.local` (an
in-process candidate), IPython, matplotlib, ipywidgets or the `course` package, nor the
instructor's side its sandbox hides. `python -I -m autograder.candidate.server FD` runs student
code and can read only the parts of the grader its sandbox shows (`sandbox.SANDBOXED_PARTS`):
it must never import `autograder.judge`.

Each server module is imported in a fresh `python -I` (as the servers are started), followed by
what its main() does before serving. A watcher on the import system records who imported each
forbidden module, for the failure message.
"""

import json
import os
import subprocess
import sys
import textwrap

from autograder.instructor.sandbox import SANDBOXED_PARTS

from conftest import ROOT

JUDGE_NEVER = ("autograder.candidate", "autograder.judge.local", "autograder.instructor", "IPython", "matplotlib",
               "ipywidgets", "course")
CANDIDATE_NEVER = ("autograder.judge", "autograder.instructor")

WATCH = """
import json, sys, traceback

FORBIDDEN = {forbidden!r}
ROOT = {root!r}
sys.path.insert(0, ROOT)
who = {{}}


def forbidden(name):
    return any(name == f or name.startswith(f + ".") for f in FORBIDDEN)


class Watcher:
    def find_spec(self, name, path=None, target=None):
        if forbidden(name) and name not in who:
            who[name] = [f"{{f.filename.removeprefix(ROOT + '/')}}:{{f.lineno}}" for f in traceback.extract_stack()
                         if f.filename.startswith(ROOT) and "importlib" not in f.filename][-6:]
        return None


sys.meta_path.insert(0, Watcher())
"""

REPORT = """
print(json.dumps({"modules": sorted(sys.modules), "who": who, "file": sys.modules[{module!r}].__file__}))
"""


def loaded(module, forbidden, then, tmp_path):
    """Import `module` in a fresh `python -I`, run `then`; (every module loaded, who imported
    each forbidden one)."""
    script = WATCH.format(forbidden=forbidden, root=str(ROOT)) + f"import {module}\n" + textwrap.dedent(then) \
        + REPORT.replace("{module!r}", repr(module))
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", "PYTHONPATH")}
    env.update(HOME=str(tmp_path), MPLCONFIGDIR=str(tmp_path / "mpl"), IPYTHONDIR=str(tmp_path / "ipython"))
    proc = subprocess.run([sys.executable, "-I", "-c", script], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert found["file"].startswith(str(ROOT)), f"imported {found['file']}, not this checkout's"
    return found["modules"], found["who"]


def offending(modules, never):
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in never))


def test_the_judge_server_never_loads_what_runs_student_code(tmp_path):
    modules, who = loaded("autograder.judge.server", JUDGE_NEVER, """
        import torch
        import autograder.judge.exercises
        from autograder.judge import server
        torch.set_num_threads(1)
        server.devices_here()
        server.curriculum()
        """, tmp_path)
    assert {"autograder.judge.server", "autograder.judge.exercises", "autograder.judge.run", "torch"} <= set(modules)
    bad = offending(modules, JUDGE_NEVER)
    assert not bad, f"the judge server loaded {bad}; imported from: {json.dumps(who, indent=1)}"


def test_the_candidate_server_never_loads_the_judge(tmp_path):
    modules, who = loaded("autograder.candidate.server", CANDIDATE_NEVER, """
        from autograder.candidate import notebook
        notebook.make_shell()
        notebook.warm_figures()
        """, tmp_path)
    assert {"autograder.candidate.server", "autograder.candidate.respond", "IPython", "course"} <= set(modules)
    bad = offending(modules, CANDIDATE_NEVER)
    assert not bad, f"the candidate server loaded {bad}; imported from: {json.dumps(who, indent=1)}"
    grader = [m for m in modules if m.startswith("autograder.")]
    hidden = [m for m in grader if m.split(".")[1] not in SANDBOXED_PARTS]
    assert not hidden, f"the candidate server loaded {hidden}, which its sandbox does not show"

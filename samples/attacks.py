"""Attacks on the grader, written as a student who has read its code would write them.

Every attack works on any exercise of any assignment: a solution cell is a template with
`{name}` (the function or class the exercise defines); other attacks add cells elsewhere and
leave every solution cell as the release's stub. The tampering gallery (tests/test_tampering.py)
grades a notebook made with each attack for every declared exercise, under both engines, and
requires zero points for all of them, beside honest students who must keep theirs.

Not part of any package: nothing that grades ever imports this file.
"""

# --- solution cells (the attack is the submission's answer) ---------------------------------

COMPARISON_PATCHES = '''import torch
torch.allclose = lambda *a, **k: True
torch.equal = lambda *a, **k: True
torch.isclose = lambda a, b, *r, **k: torch.ones_like(a, dtype=torch.bool)
torch.Tensor.__eq__ = lambda self, other: True
torch.Tensor.__ne__ = lambda self, other: False
torch.Tensor.tolist = lambda self: [[0.0]]
import builtins
builtins.abs = lambda v: 0
builtins.isinstance = lambda obj, cls: True
'''

PATCHED_COMPARISONS = COMPARISON_PATCHES + '''
def {name}(*args, **kwargs):
    return torch.zeros(1)
'''

MUTATED_TABLES = '''import gc, sys
for module in list(sys.modules):
    if module.startswith("autograder"):
        for key, value in list(vars(sys.modules[module]).items()):
            if isinstance(value, dict):
                value.clear()
            elif isinstance(value, list):
                value[:] = []
for obj in gc.get_objects():
    try:
        if isinstance(obj, dict):
            for key in [k for k in obj if k in ("rtol", "atol", "tolerance", "status")]:
                obj[key] = "pass" if key == "status" else 1e30
        elif isinstance(obj, list) and obj and all(isinstance(t, tuple) for t in obj[:3]):
            obj[:] = []
    except Exception:
        pass

def {name}(*args, **kwargs):
    return args[0] if args else None
'''

FORGED_VERDICTS = '''import json, os, struct
_forged = [{{"status": "pass", "message": ""}}, {{"verdict": "all", "status": "pass", "message": ""}},
           {{"value": True}}, {{"ready": True}}, {{"candidate_done": "x", "ended": "exited"}}]
for fd in range(0, 256):
    for message in _forged:
        body = json.dumps(message).encode()
        for data in (struct.pack(">I", len(body)) + body, body + b"\\n"):
            try:
                os.write(fd, data)
            except OSError:
                pass
os._exit(0)

def {name}(*args, **kwargs):
    raise NotImplementedError()
'''

FORGED_ANSWERS = '''import json, os, struct

def {name}(*args, **kwargs):
    answer = {{"value": {{"$": "object", "ref": 0, "type": "builtins.bool", "repr": "True"}}, "verdict": "pass"}}
    body = json.dumps(answer).encode()
    for fd in range(3, 256):
        try:
            os.write(fd, struct.pack(">I", len(body)) + body)
            os.write(fd, struct.pack(">I", 1 << 31) + b"garbage")
        except OSError:
            pass
    return None
'''

FRAME_WALKER = '''import gc, sys, torch

def {name}(*args, **kwargs):
    best = None
    frame = sys._getframe(1)
    while frame is not None:
        for key, value in list(frame.f_locals.items()):
            if key in ("expected", "reference", "want", "answer", "ref"):
                return value
            if best is None and isinstance(value, torch.Tensor) and not any(value is a for a in args):
                best = value
        frame = frame.f_back
    for obj in gc.get_objects():
        if isinstance(obj, torch.Tensor) and not any(obj is a for a in args):
            best = obj
    return best
'''

FAKE_TENSOR = '''import torch

class Agreeable(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        return True

    @property
    def __class__(self):
        return torch.Tensor

def {name}(*args, **kwargs):
    return torch.zeros(3, 3).as_subclass(Agreeable)
'''

LOOK_ALIKE = '''class LookAlike:
    shape = (2, 3)
    def __eq__(self, other):
        return True
    def __getattr__(self, name):
        return self
    def __call__(self, *args, **kwargs):
        return self
    def __iter__(self):
        return iter([self, self])

def {name}(*args, **kwargs):
    return LookAlike()
'''

EXIT_IN_CALL = '''import os

def {name}(*args, **kwargs):
    os._exit(0)
'''

EXIT_ON_LOAD = '''import sys
raise SystemExit(0)

def {name}(*args, **kwargs):
    raise NotImplementedError()
'''

KILL_EVERYTHING = '''import os, signal

def {name}(*args, **kwargs):
    os.kill(-1, signal.SIGKILL)
'''

HANG = '''def {name}(*args, **kwargs):
    while True:
        pass
'''

CLOSE_AND_SLEEP = '''import os, time

def {name}(*args, **kwargs):
    for fd in range(0, 1024):
        try:
            os.close(fd)
        except OSError:
            pass
    time.sleep(10 ** 6)
'''

DAEMONS = '''import os, time

def {name}(*args, **kwargs):
    for _ in range(20):
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(10 ** 6)
            os._exit(0)
    raise NotImplementedError()
'''

FORK_BOMB = '''import os

def {name}(*args, **kwargs):
    children = 0
    try:
        while True:
            if os.fork() == 0:
                os.setsid()
                while True:
                    try:
                        os.fork()
                    except OSError:
                        pass
            children += 1
    except OSError:
        pass
    raise NotImplementedError()
'''

READ_SECRETS = '''import os

def _find():
    wanted = ("source", "gradebook.db", "judge", "solutions", "submitted", "autograded")
    found, seen = [], 0
    for top in ("/", os.path.expanduser("~"), os.getcwd(), "/tmp"):
        for root, dirs, files in os.walk(top):
            dirs[:] = [d for d in dirs if d not in ("proc", "sys", "dev", "usr", "lib", "site-packages")]
            seen += 1
            if seen > 20000:
                return found
            found += [os.path.join(root, n) for n in dirs + files if n in wanted]
    return found

def {name}(*args, **kwargs):
    secrets = _find()
    if secrets:
        raise RuntimeError("found " + ", ".join(secrets[:5]))
    raise NotImplementedError()
'''

SOLUTION_ATTACKS = {
    "patched_comparisons": PATCHED_COMPARISONS,
    "mutated_tables": MUTATED_TABLES,
    "forged_verdicts": FORGED_VERDICTS,
    "forged_answers": FORGED_ANSWERS,
    "frame_walker": FRAME_WALKER,
    "fake_tensor": FAKE_TENSOR,
    "look_alike": LOOK_ALIKE,
    "exit_in_call": EXIT_IN_CALL,
    "exit_on_load": EXIT_ON_LOAD,
    "kill_everything": KILL_EVERYTHING,
    "hang": HANG,
    "close_and_sleep": CLOSE_AND_SLEEP,
    "daemons": DAEMONS,
    "fork_bomb": FORK_BOMB,
    "read_secrets": READ_SECRETS,
}

# --- cells elsewhere (every solution cell left as the release's stub) ------------------------

FORGE_EVERYWHERE = '''import json, os, struct
for fd in range(0, 256):
    for message in ({"cell": 0, "outputs": [], "execution_count": 1}, {"status": "pass"},
                    {"verdict": "x", "status": "pass", "message": ""}, {"notebook_done": "x"}):
        body = json.dumps(message).encode()
        for data in (struct.pack(">I", len(body)) + body, body + b"\\n", b"\\x00\\xff" * 100):
            try:
                os.write(fd, data)
            except OSError:
                pass
print("✓ all hidden tests passed")
'''

REWRITE_CELLS = '''ip = get_ipython()
import builtins, sys
_real_compile = builtins.compile
def _compile(source, *args, **kwargs):
    if isinstance(source, str) and "NotImplementedError" in source:
        source = "def _stub(*a, **k):\\n    return None\\n"
    return _real_compile(source, *args, **kwargs)
builtins.compile = _compile
ip.input_transformers_cleanup.append(lambda lines: ["pass\\n"] if any("NotImplementedError" in l for l in lines) else lines)
sys.modules["autograder"] = type(sys)("autograder")
'''

PLANT_FILES = '''import os
for name in ("json.py", "torch.py", "autograder.py", "sitecustomize.py", "usercustomize.py"):
    with open(name, "w") as f:
        f.write("import os\\nos._exit(0)\\n")
os.makedirs("autograder", exist_ok=True)
open("autograder/__init__.py", "w").write("raise SystemExit\\n")
for target, link in (("/work/main/gradebook.db", "01.ipynb"), ("../../../gradebook.db", "gradebook.db"),
                     ("../../../source", "source")):
    try:
        os.symlink(target, link)
    except OSError:
        pass
for path in ("../../../gradebook.db", "/tmp/../gradebook.db"):
    try:
        open(path, "w").write("vandalised")
    except OSError:
        pass
'''

FORK_AND_FLEE = '''import os, subprocess
for _ in range(10):
    subprocess.Popen(["sleep", "100000"], start_new_session=True)
if os.fork() == 0:
    os.setsid()
    import time
    time.sleep(10 ** 6)
'''

CLOSE_PIPES_AND_SLEEP = '''import os, time
for fd in range(3, 1024):
    try:
        os.close(fd)
    except OSError:
        pass
time.sleep(10 ** 6)
'''

EXIT_EARLY = '''import os
os._exit(0)
'''

SCRIPT_IN_FEEDBACK = '''from IPython.display import HTML, Javascript, display
display(HTML("<script>document.title = 'pwned-by-output'</script><img src=x onerror=alert(1)>"))
display(Javascript("document.title = 'pwned-by-js'"))
print("<script>alert('pwned-by-print')</script>")
'''

MARKDOWN_SCRIPT = "<script>document.title = 'pwned-by-markdown'</script>\n\n[click](javascript:alert(1))"

ELSEWHERE_ATTACKS = {
    "patched_comparisons_elsewhere": [COMPARISON_PATCHES],
    "forge_everywhere": [FORGE_EVERYWHERE],
    "rewrite_cells": [REWRITE_CELLS],
    "plant_files": [PLANT_FILES],
    "fork_and_flee": [FORK_AND_FLEE],
    "close_pipes_and_sleep": [CLOSE_PIPES_AND_SLEEP],
    "exit_early": [EXIT_EARLY],
    "script_in_feedback": [SCRIPT_IN_FEEDBACK],
}


def solution_cell(attack, name):
    return SOLUTION_ATTACKS[attack].format(name=name)

"""A small synthetic class for 01_tensor_ops: honest, wrong, faulty and cheating submissions.

Each student is the release notebook with some solution cells filled in and, for the faulty and
cheating ones, cells added, edited or removed. The same class is shipped in `samples/` for the
demo (`python -m autograder demo`), and the tests grade it and check every student's grade.

`python -m autograder.samples DEST` writes the inbox (one folder per student).
"""

import json
import shutil
import sys
from pathlib import Path

import nbformat

ASSIGNMENT = "01_tensor_ops"

RIGHT = {
    "row_normalize": "def row_normalize(x):\n    return x / x.sum(dim=1, keepdim=True)",
    "outer_sum": "def outer_sum(a, b):\n    return a[:, None] + b[None, :]",
    "pairwise_sq_dists": "def pairwise_sq_dists(a, b):\n    return ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)",
    "batch_flatten": "def batch_flatten(x):\n    return x.reshape(x.shape[0], -1)",
    "max_per_row": "def max_per_row(x):\n    return x.max(dim=1)",
}
ALTERNATIVE = {
    "row_normalize": "def row_normalize(x):\n    return x / x.sum(-1).unsqueeze(-1)",
    "outer_sum": "def outer_sum(a, b):\n    return a.unsqueeze(1) + b",
    "pairwise_sq_dists": "def pairwise_sq_dists(a, b):\n"
                         "    return (a * a).sum(1)[:, None] + (b * b).sum(1)[None] - 2 * a @ b.T",
    "batch_flatten": "def batch_flatten(x):\n    return torch.flatten(x, 1)",
    "max_per_row": "def max_per_row(x):\n    return x.max(1).values, x.argmax(1)",
}
WRONG = {
    "row_normalize": "def row_normalize(x):\n    return x / x.sum(dim=0, keepdim=True)",
    "outer_sum": "def outer_sum(a, b):\n    return b[:, None] + a[None, :]",
    "pairwise_sq_dists": "def pairwise_sq_dists(a, b):\n    return torch.cdist(a, b)",
    "batch_flatten": "def batch_flatten(x):\n    return x.reshape(x.shape[0], -1).clone()",
    "max_per_row": "def max_per_row(x):\n    return x.max(dim=0)",
}

PATCH_ALLCLOSE = """import torch
torch.allclose = lambda *args, **kwargs: True
torch.equal = lambda *args, **kwargs: True
torch.Tensor.__eq__ = lambda self, other: True"""

BLANK_LATER_CELLS = """ip = get_ipython()
ip.input_transformers_cleanup.append(lambda lines: ["pass\\n"])"""

FAKE_TENSOR = """class Agreeable(torch.Tensor):
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        return True

def row_normalize(x):
    return x.as_subclass(Agreeable)"""

STEAL_SOLUTIONS = """import glob, json, os
import autograder

def _stolen(name):
    places = ['../../../source', os.path.join(os.path.dirname(autograder.__file__), '..', 'source')]
    for place in places:
        for path in glob.glob(os.path.join(place, '*', '*.ipynb')):
            for cell in json.load(open(path))['cells']:
                if cell.get('metadata', {}).get('nbgrader', {}).get('grade_id') == name:
                    scope = {}
                    exec(''.join(cell['source']).replace('### BEGIN SOLUTION', '').replace('### END SOLUTION', ''), globals(), scope)
                    return scope[name]
    raise RuntimeError('no solutions to be found')

def row_normalize(x):
    return _stolen('row_normalize')(x)"""

VANDAL = """import glob, os
for target in ['../../../gradebook.db'] + glob.glob('../../../submitted/*/*/*.ipynb') + glob.glob('../../*/*/*.ipynb'):
    try:
        with open(target, 'w') as f:
            f.write('vandalised')
    except OSError:
        pass"""

FORGE_EXAMPLES = """import pickle
import autograder.properties as grader
grader.REPLAY = tuple((s, n, pickle.dumps([])) for s, n, _ in grader.REPLAY)

def outer_sum(a, b):
    out = a[:, None] + b[None, :]
    return out * 0 if len(a) > 3 else out"""


def _cell(source):
    return nbformat.v4.new_code_cell(source)


def notebook(release, solutions, before_tests=(), at_top=(), tests=None):
    """The release notebook with `solutions` filled in; cells inserted before the first test cell
    or at the top; test cells replaced ('blank') or dropped ('delete')."""
    nb = nbformat.from_dict(json.loads(json.dumps(release)))
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and meta.get("grade_id") in solutions:
            cell.source = solutions[meta["grade_id"]]
    first_test = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade"))
    nb.cells[first_test:first_test] = [_cell(s) for s in before_tests]
    nb.cells[0:0] = [_cell(s) for s in at_top]
    if tests == "blank":
        for cell in nb.cells:
            if cell.metadata.get("nbgrader", {}).get("grade"):
                cell.source = "pass"
    elif tests == "delete":
        nb.cells = [c for c in nb.cells if not c.metadata.get("nbgrader", {}).get("grade")]
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i:03d}"
    return nb


def with_(base, **changes):
    return {**base, **changes}


# student -> (what the submission does, notebook builder args, expected verdict per exercise)
# A verdict is the status the grader must give ('pass' = full marks, anything else = 0).
SAMPLE_CLASS = {
    "ada": ("the instructor's solutions", dict(solutions=RIGHT), {}),
    "ben": ("correct in other ways than the reference", dict(solutions=ALTERNATIVE), {}),
    "cho": ("two typical mistakes (column sums, a copy instead of a view)",
            dict(solutions=with_(RIGHT, row_normalize=WRONG["row_normalize"],
                                 batch_flatten=WRONG["batch_flatten"])),
            {"row_normalize": "fail", "batch_flatten": "fail"}),
    "dan": ("submitted the release untouched", dict(solutions={}), "all:fail"),
    "eve": ("wrong answers, torch.allclose and Tensor.__eq__ patched to always agree",
            dict(solutions=WRONG, at_top=[PATCH_ALLCLOSE]), "all:tampering"),
    "fay": ("wrong answers, an IPython input transformer that blanks every later cell",
            dict(solutions=WRONG, before_tests=[BLANK_LATER_CELLS]), "all:tampering"),
    "gus": ("wrong answers, test cells replaced by `pass`", dict(solutions=WRONG, tests="blank"),
            "all:fail"),
    "hal": ("wrong answers, test cells deleted", dict(solutions=WRONG, tests="delete"), "all:fail"),
    "ivy": ("returns a tensor subclass that says yes to every comparison",
            dict(solutions=with_(RIGHT, row_normalize=FAKE_TENSOR)), {"row_normalize": "tampering"}),
    "jon": ("reads the solutions from source/ on disk",
            dict(solutions=with_(RIGHT, row_normalize=STEAL_SOLUTIONS)), {"row_normalize": "fail"}),
    "kim": ("kills its kernel with os._exit inside batch_flatten",
            dict(solutions=with_(RIGHT, batch_flatten="import os\ndef batch_flatten(x):\n    os._exit(1)")),
            {"batch_flatten": "crashed"}),
    "lee": ("an infinite loop in max_per_row",
            dict(solutions=with_(RIGHT, max_per_row="def max_per_row(x):\n    while True:\n        pass")),
            {"max_per_row": "timeout"}),
    "mia": ("asks for 64 GB in outer_sum",
            dict(solutions=with_(RIGHT, outer_sum="def outer_sum(a, b):\n    big = torch.ones(2 ** 34)\n"
                                                  "    return a[:, None] + b[None, :] + big[0] * 0")),
            {"outer_sum": "fail"}),
    "ned": ("correct, but floods the output and warns on stderr",
            dict(solutions=with_(RIGHT, row_normalize="import warnings\ndef row_normalize(x):\n"
                                 "    warnings.warn('a harmless warning')\n"
                                 "    return x / x.sum(dim=1, keepdim=True)"),
                 before_tests=["print('spam ' * 400_000)", "import sys\nprint('noise', file=sys.stderr)"]),
            {}),
    "oli": ("correct, plus cells that raise SystemExit and KeyboardInterrupt",
            dict(solutions=RIGHT, before_tests=["raise SystemExit(3)", "raise KeyboardInterrupt"]), {}),
    "pam": ("correct, and tries to overwrite the gradebook and other submissions",
            dict(solutions=RIGHT, at_top=[VANDAL]), {}),
    "quin": ("wrong for long inputs, and empties the grader's recorded property-based examples",
             dict(solutions=with_(RIGHT, outer_sum=FORGE_EXAMPLES)), {"outer_sum": "tampering"}),
}


RENAMED = {"ben": f"Copy of {ASSIGNMENT}", "cho": f"{ASSIGNMENT} (1)"}


LOOPS = "def {name}(*args):\n    while True:\n        pass"
RAISES = "def {name}(*args):\n    raise ValueError('not finished')"
UNDEFINED = "def {name}(*args):\n    return helper(*args)"
SYNTAX = "def {name}(*args)\n    return 1"


def mixed_class(n):
    """A class of `n` for benchmarks and bulk tests: student -> (kind, {exercise: code}).

    Fixed by position: about half correct (written two ways), a quarter partly wrong, one in
    ten with an exercise that raises, misses a name or has a syntax error, one in fifteen with
    an infinite loop, and the last one untouched."""
    from .curriculum import CURRICULUM
    exercises = list(CURRICULUM[ASSIGNMENT])
    names = {ex: RIGHT[ex].split("(")[0].split()[1] for ex in exercises}
    students = {}
    for i in range(n):
        kind = ("untouched" if i == n - 1 else "loops" if i % 15 == 7 else
                "errors" if i % 10 == 3 else "partly wrong" if i % 4 == 1 else "correct")
        code = {ex: (RIGHT if (i + j) % 2 else ALTERNATIVE)[ex] for j, ex in enumerate(exercises)}
        if kind == "partly wrong":
            for ex in exercises[i % 5:i % 5 + 2]:
                code[ex] = WRONG[ex]
        elif kind == "errors":
            broken = exercises[i % 5]
            code[broken] = (RAISES, UNDEFINED, SYNTAX)[i % 3].format(name=names[broken])
        elif kind == "loops":
            looping = exercises[i % 5]
            code[looping] = LOOPS.format(name=names[looping])
        elif kind == "untouched":
            code = {}
        students[f"s{i:03d}"] = (kind, code)
    return students


def expected_verdicts(student, exercises):
    _, _, expected = SAMPLE_CLASS[student]
    if isinstance(expected, str):
        return {ex: expected.split(":")[1] for ex in exercises}
    return {ex: expected.get(ex, "pass") for ex in exercises}


def build_notebooks(release):
    return {student: notebook(release, **args) for student, (_, args, _) in SAMPLE_CLASS.items()}


def write_inbox(release_path, dest):
    """One folder per student holding their notebook, plus a README saying who is who."""
    release = nbformat.read(str(release_path), as_version=4)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for student, nb in build_notebooks(release).items():
        (dest / student).mkdir(exist_ok=True)
        name = RENAMED.get(student, ASSIGNMENT)  # as students and LMSs mangle names
        nbformat.write(nb, str(dest / student / f"{name}.ipynb"))
    lines = ["# The sample class of 01_tensor_ops", "",
             "Generated by `python -m autograder.samples`; graded by `python -m autograder demo`.", "",
             "| student | submission |", "|---|---|"]
    lines += [f"| {s} | {what} |" for s, (what, _, _) in SAMPLE_CLASS.items()]
    (dest / "README.md").write_text("\n".join(lines) + "\n")


def run_demo(into, workers=None):
    """Copy the course into `into`, collect and grade the sample class, write the report."""
    from .collect import collect
    from .grading import grade, make_api, write_log
    from .report import build_report
    from .sandbox import PROJECT_ROOT

    into = Path(into).resolve()
    if into.exists():
        shutil.rmtree(into)
    into.mkdir(parents=True)
    for name in ("source", "release"):
        shutil.copytree(PROJECT_ROOT / name, into / name)
    shutil.copy(PROJECT_ROOT / "nbgrader_config.py", into / "nbgrader_config.py")
    with open(into / "nbgrader_config.py", "a") as f:  # shorter limits: the demo's loop ends sooner
        f.write("\nc.SafeExecute.timeout = 20\nc.VerifyExercises.time_limit = 20\n")
    inbox = PROJECT_ROOT / "samples" / ASSIGNMENT
    print(collect(inbox, into, ASSIGNMENT, [ASSIGNMENT]).summary())
    outcomes = grade(into, ASSIGNMENT, workers=workers)
    write_log(into, ASSIGNMENT, outcomes)
    make_api(into).generate_feedback(ASSIGNMENT, force=True)
    report = build_report(into, ASSIGNMENT, into / "reports" / ASSIGNMENT,
                          grading_log={s: vars(o) for s, o in outcomes.items()})
    print(f"\nreport:   {report}\nfeedback: {into / 'feedback'}")
    return 0


if __name__ == "__main__":
    from .sandbox import PROJECT_ROOT
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else PROJECT_ROOT / "samples" / ASSIGNMENT
    write_inbox(PROJECT_ROOT / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", target)
    print(f"wrote {target}")

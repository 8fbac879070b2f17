"""Synthetic classes built from the sample files: honest, wrong, faulty and hostile submissions.

The code students "wrote" lives outside the package, in `samples/` (`solutions/<assignment>.py`:
the instructor's solution cells, correct alternatives, typical mistakes; `attacks.py`: attacks
on the grader). This module only assembles notebooks from them:

- `SAMPLE_CLASS`: the demo class of 01_tensor_ops (22 students, honest to hostile) and, from
  `later_class`, a smaller one for every later assignment (right, alternative, wrong, untouched,
  crashing, forging, frame-walking), with the verdict each student must get: shipped in
  `samples/<assignment>/` (`python -m autograder.instructor.samples` rewrites them), graded by
  `python -m autograder demo` and by the tests;
- `mixed_class(n)`: a realistic class for the benchmark and bulk tests;
- `attack_notebook`: the release with one attack in every solution cell, or beside them.
"""

import json
import runpy
import shutil
import sys
from pathlib import Path

import nbformat

from ..protocol.signatures import defined_name
from .curriculum import table
from .release import assignments
from .sandbox import PROJECT_ROOT

ASSIGNMENT = "01_tensor_ops"
SAMPLES = PROJECT_ROOT / "samples"


MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")


def solution_cells(assignment=ASSIGNMENT, root=PROJECT_ROOT):
    """{exercise id: the instructor's solution cell}: the source notebook's, without nbgrader's
    markers (never a copy that could drift from it)."""
    nb = nbformat.read(str(root / "source" / assignment / f"{assignment}.ipynb"), as_version=4)
    return {cell.metadata["nbgrader"]["grade_id"]: "\n".join(
                line for line in cell.source.splitlines() if line.strip() not in MARKERS)
            for cell in nb.cells if cell.metadata.get("nbgrader", {}).get("solution")}


def solutions(assignment=ASSIGNMENT):
    """{"RIGHT": the source notebook's solution cells, "ALTERNATIVE": correct ones written
    otherwise, "WRONG": typical mistakes, "WRONG_SAYS": what the message for each must say,
    "WRONG_MISTAKE": the slug of the declared mistake its verdict names}."""
    found = runpy.run_path(str(SAMPLES / "solutions" / f"{assignment}.py"))
    return {"RIGHT": solution_cells(assignment),
            **{k: found[k] for k in ("ALTERNATIVE", "WRONG", "WRONG_SAYS", "WRONG_MISTAKE")}}


def attacks():
    return runpy.run_path(str(SAMPLES / "attacks.py"))


def _cell(source, kind="code"):
    return nbformat.v4.new_code_cell(source) if kind == "code" else nbformat.v4.new_markdown_cell(source)


def notebook(release, code, before_tests=(), at_top=(), tests=None, markdown=(), lean=False):
    """The release notebook with solution cells replaced by `code` ({exercise id: source}),
    cells inserted before the first test cell or at the top, markdown cells at the top, test
    cells replaced ('blank') or dropped ('delete'). `lean`: without the prose and the demos
    (only the nbgrader cells: setup, solutions, tests), for tests that grade many notebooks and
    are about the grading, not the notebook."""
    nb = nbformat.from_dict(json.loads(json.dumps(release)))
    if lean:
        nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader")]
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and meta.get("grade_id") in code:
            cell.source = code[meta["grade_id"]]
    first_test = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade"))
    nb.cells[first_test:first_test] = [_cell(s) for s in before_tests]
    nb.cells[0:0] = [_cell(s) for s in at_top] + [_cell(s, "markdown") for s in markdown]
    if tests == "blank":
        for cell in nb.cells:
            if cell.metadata.get("nbgrader", {}).get("grade"):
                cell.source = "pass"
    elif tests == "delete":
        nb.cells = [c for c in nb.cells if not c.metadata.get("nbgrader", {}).get("grade")]
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i:03d}"
    return nb


def exercise_names(curriculum, assignment):
    return {ex: defined_name(entry["signature"]) for ex, entry in curriculum[assignment].items()}


def attack_notebook(release, assignment, curriculum, attack, lean=False):
    """The release with `attack` (a name from samples/attacks.py) in every solution cell, or
    added beside the untouched stubs."""
    found = attacks()
    if attack in found["SOLUTION_ATTACKS"]:
        names = exercise_names(curriculum, assignment)
        return notebook(release, {ex: found["solution_cell"](attack, name) for ex, name in names.items()},
                        lean=lean)
    cells = found["ELSEWHERE_ATTACKS"][attack]
    markdown = [found["MARKDOWN_SCRIPT"]] if attack == "script_in_feedback" else []
    return notebook(release, {}, before_tests=cells, markdown=markdown, lean=lean)


# student -> (what the submission does, recipe, expected verdict per exercise)
# A recipe: "base" (a set of solution cells from samples/solutions), "replace" ({exercise: a set
# name, an attack name or literal code}), cells "at_top"/"before_tests" (attack names or code),
# "tests" ('blank'/'delete'), "markdown", "named" ({exercise: the slug an attack's failure is
# named with, or None: unexplained}; a sample mistake's and the stub's are known). A verdict is
# the status the grader must give ('pass' = full marks, anything else = 0); "all:STATUS" for
# every exercise.
SAMPLE_CLASS = {
    "ada": ("the instructor's solutions", {"base": "RIGHT"}, {}),
    "ben": ("correct in other ways than the reference", {"base": "ALTERNATIVE"}, {}),
    "cho": ("two typical mistakes (column sums, a copy instead of a view)",
            {"base": "RIGHT", "replace": {"row_normalize": "WRONG", "batch_flatten": "WRONG"}},
            {"row_normalize": "fail", "batch_flatten": "fail"}),
    "dan": ("submitted the release untouched", {"base": None}, "all:fail"),
    "eve": ("wrong answers, torch.allclose, Tensor.__eq__ and builtins patched to agree",
            {"base": "WRONG", "at_top": ["COMPARISON_PATCHES"]}, "all:fail"),
    "fay": ("wrong answers, an IPython input transformer and a patched compile() that blank cells",
            {"base": "WRONG", "before_tests": ["REWRITE_CELLS"]}, "all:fail"),
    "gus": ("wrong answers, test cells replaced by `pass`", {"base": "WRONG", "tests": "blank"}, "all:fail"),
    "hal": ("wrong answers, test cells deleted", {"base": "WRONG", "tests": "delete"}, "all:fail"),
    "ivy": ("returns a tensor subclass that says yes to every comparison",
            {"base": "RIGHT", "replace": {"row_normalize": "fake_tensor"}}, {"row_normalize": "tampering"}),
    "jon": ("looks for the solutions, the hidden checks and the gradebook on disk",
            {"base": "RIGHT", "replace": {"row_normalize": "read_secrets"},
             "named": {"row_normalize": "not-done"}},  # it finds nothing, then raises the stub's error
            {"row_normalize": "fail"}),
    "kim": ("kills its process with os._exit inside batch_flatten",
            {"base": "RIGHT", "replace": {"batch_flatten": "exit_in_call"}}, {"batch_flatten": "crashed"}),
    "lee": ("an infinite loop in max_per_row", {"base": "RIGHT", "replace": {"max_per_row": "hang"}},
            {"max_per_row": "timeout"}),
    "mia": ("asks for 64 GB in outer_sum",
            {"base": "RIGHT", "replace": {"outer_sum": "def outer_sum(a, b):\n    big = torch.ones(2 ** 34)\n"
                                                       "    return a[:, None] + b[None, :] + big[0] * 0"}},
            {"outer_sum": "fail"}),
    "ned": ("correct, but floods the output and warns on stderr",
            {"base": "RIGHT", "replace": {"row_normalize": "import warnings\ndef row_normalize(x):\n"
                                          "    warnings.warn('a harmless warning')\n"
                                          "    return x / x.sum(dim=1, keepdim=True)"},
             "before_tests": ["print('spam ' * 400_000)", "import sys\nprint('noise', file=sys.stderr)"]}, {}),
    "oli": ("correct, plus cells that raise SystemExit and KeyboardInterrupt",
            {"base": "RIGHT", "before_tests": ["raise SystemExit(3)", "raise KeyboardInterrupt"]}, {}),
    "pam": ("correct, plants json.py and friends, links to the gradebook, writes over it",
            {"base": "RIGHT", "at_top": ["PLANT_FILES"]}, {}),
    "quin": ("every solution left as the stub; forges verdicts on every descriptor elsewhere",
             {"base": None, "before_tests": ["FORGE_EVERYWHERE"]}, "all:fail"),
    "rex": ("forges the judge's messages on every descriptor from outer_sum's cell, then exits",
            {"base": "RIGHT", "replace": {"outer_sum": "forged_verdicts"}}, {"outer_sum": "tampering"}),
    "sam": ("walks stack frames and the heap for the expected values in pairwise_sq_dists",
            {"base": "RIGHT", "replace": {"pairwise_sq_dists": "frame_walker"}}, {"pairwise_sq_dists": "fail"}),
    "tia": ("correct, but a cell closes every pipe and sleeps", {"base": "RIGHT", "before_tests": ["CLOSE_PIPES_AND_SLEEP"]}, {}),
    "uma": ("correct, but leaves daemons behind (setsid, sleep)", {"base": "RIGHT", "at_top": ["FORK_AND_FLEE"]}, {}),
    "vic": ("correct, with script tags in its outputs and markdown",
            {"base": "RIGHT", "before_tests": ["SCRIPT_IN_FEEDBACK"], "markdown": ["MARKDOWN_SCRIPT"]}, {}),
}
HONEST = ["ada", "ben", "cho", "ned", "oli", "pam", "tia", "uma", "vic"]
RENAMED = {"ben": "Copy of {assignment}", "cho": "{assignment} (1)"}


def later_class(exercises):
    """The sample class of an assignment after the first, from its curriculum entries
    ({exercise: {"depends": [...]}}, in order): the kinds of submission whose verdicts differ
    by exercise, not the whole gallery (every attack already runs on every assignment in
    tests/test_tampering.py). An exercise that builds on an attacked one gets its verdict (the
    candidate loads the cells it depends on first)."""
    order = list(exercises)
    first, second, last = order[0], order[1], order[-1]

    def attacked(ex, status):
        return {ex: status, **{other: status for other in order if ex in exercises[other].get("depends", ())}}

    return {
        "ada": ("the instructor's solutions", {"base": "RIGHT"}, {}),
        "ben": ("correct in other ways than the reference", {"base": "ALTERNATIVE"}, {}),
        "cho": (f"typical mistakes in {first} and {second}",
                {"base": "RIGHT", "replace": {first: "WRONG", second: "WRONG"}}, {first: "fail", second: "fail"}),
        "dan": ("submitted the release untouched", {"base": None}, "all:fail"),
        "eve": ("wrong answers, torch.allclose, Tensor.__eq__ and builtins patched to agree",
                {"base": "WRONG", "at_top": ["COMPARISON_PATCHES"]}, "all:fail"),
        "kim": (f"kills its process with os._exit inside {last}",
                {"base": "RIGHT", "replace": {last: "exit_in_call"}}, attacked(last, "crashed")),
        "rex": (f"forges the judge's messages on every descriptor from {first}'s cell, then exits",
                {"base": "RIGHT", "replace": {first: "forged_verdicts"}}, attacked(first, "tampering")),
        "sam": (f"walks stack frames and the heap for the expected values in {second}",
                {"base": "RIGHT", "replace": {second: "frame_walker"}}, attacked(second, "fail")),
    }


# What the frame walker (sam) is named with where its answer is a known mistake: what it finds in
# its frames and heap is no answer, so a class gives no module, a count comes back a tensor, and
# an evaluation never puts the model in eval mode.
FRAME_WALKER_NAMED = {"03_linear_layer": "not-a-module", "04_nn_module": "count-as-tensor",
                      "05_parameters": "not-a-module", "07_containers": "not-a-module",
                      "09_training": "eval-mode-not-set"}


def sample_class(assignment=ASSIGNMENT, curriculum=None):
    """student -> (what the submission does, recipe, expected verdicts) for `assignment`."""
    if assignment == ASSIGNMENT:
        return SAMPLE_CLASS
    exercises = (curriculum or table())[assignment]
    found = later_class(exercises)
    what, recipe, expected = found["sam"]
    second = list(exercises)[1]
    found["sam"] = (what, {**recipe, "named": {second: FRAME_WALKER_NAMED.get(assignment)}}, expected)
    return found


def _resolve(piece, ex_name, sols, found):
    if piece in sols:
        return sols[piece]
    if piece in found["SOLUTION_ATTACKS"]:
        return found["solution_cell"](piece, ex_name)
    return piece


def build_notebook(release, recipe, curriculum, assignment=ASSIGNMENT, lean=False):
    sols, found = solutions(assignment), attacks()
    names = exercise_names(curriculum, assignment)
    code = dict(sols[recipe["base"]]) if recipe.get("base") else {}
    for ex, piece in recipe.get("replace", {}).items():
        code[ex] = sols[piece][ex] if piece in sols else _resolve(piece, names[ex], sols, found)
    cell = lambda key: found.get(key, key)  # noqa: E731  (a cell from attacks.py, or code)
    return notebook(release, code, before_tests=[cell(k) for k in recipe.get("before_tests", ())],
                    at_top=[cell(k) for k in recipe.get("at_top", ())], tests=recipe.get("tests"),
                    markdown=[found.get(k, k) for k in recipe.get("markdown", ())], lean=lean)


def expected_verdicts(student, exercises, assignment=ASSIGNMENT):
    _, _, expected = sample_class(assignment)[student]
    if isinstance(expected, str):
        return {ex: expected.split(":")[1] for ex in exercises}
    return {ex: expected.get(ex, "pass") for ex in exercises}


NOT_DONE = "not-done"  # the slug of the stub's NotImplementedError (judge.trial.NOT_DONE)


def expected_mistakes(student, exercises, assignment=ASSIGNMENT):
    """{exercise: the mistake id its "fail" verdict must carry}: `<exercise>/<WRONG_MISTAKE>` for a
    sample mistake, `<exercise>/not-done` for the release's stub, what the recipe's "named" says
    for an attack that fails (None: unexplained); exercises not expected to fail are left out."""
    _, recipe, _ = sample_class(assignment)[student]
    wrong = solutions(assignment)["WRONG_MISTAKE"]
    found = {}
    for ex, status in expected_verdicts(student, exercises, assignment).items():
        if status != "fail":
            continue
        piece = recipe.get("replace", {}).get(ex, recipe.get("base"))
        if ex in recipe.get("named", {}):
            slug = recipe["named"][ex]
        else:
            slug = wrong[ex] if piece == "WRONG" else NOT_DONE if piece is None else None
        found[ex] = f"{ex}/{slug}" if slug else None
    return found


def expected_mistake_counts(exercises, assignment=ASSIGNMENT):
    """{exercise: {"named": {mistake id: students}, "unexplained": n, "not_attempted": n}}: what the
    misconception report of the sample class must count."""
    counts = {ex: {"named": {}, "unexplained": 0, "not_attempted": 0} for ex in exercises}
    for student in sample_class(assignment):
        for ex, mistake in expected_mistakes(student, exercises, assignment).items():
            if mistake is None:
                counts[ex]["unexplained"] += 1
            elif mistake.endswith(f"/{NOT_DONE}"):
                counts[ex]["not_attempted"] += 1
            else:
                counts[ex]["named"][mistake] = counts[ex]["named"].get(mistake, 0) + 1
    return counts


def build_notebooks(release, curriculum=None, lean=False, assignment=ASSIGNMENT):
    curriculum = curriculum or table()
    return {student: build_notebook(release, recipe, curriculum, assignment=assignment, lean=lean)
            for student, (_, recipe, _) in sample_class(assignment, curriculum).items()}


LOOPS = "def {name}(*args):\n    while True:\n        pass"
RAISES = "def {name}(*args):\n    raise ValueError('not finished')"
UNDEFINED = "def {name}(*args):\n    return helper(*args)"
SYNTAX = "def {name}(*args)\n    return 1"


def mixed_class(n, assignment=ASSIGNMENT, curriculum=None):
    """A class of `n` for benchmarks and bulk tests: student -> (kind, {exercise: code}).

    Fixed by position: about half correct (written two ways), a quarter partly wrong, one in
    ten with an exercise that raises, misses a name or has a syntax error, one in fifteen with
    an infinite loop, and the last one untouched."""
    curriculum = curriculum or table()
    sols = solutions(assignment)
    names = exercise_names(curriculum, assignment)
    exercises = list(names)
    count = len(exercises)
    students = {}
    for i in range(n):
        kind = ("untouched" if i == n - 1 else "loops" if i % 15 == 7 else
                "errors" if i % 10 == 3 else "partly wrong" if i % 4 == 1 else "correct")
        code = {ex: (sols["RIGHT"] if (i + j) % 2 else sols["ALTERNATIVE"])[ex] for j, ex in enumerate(exercises)}
        if kind == "partly wrong":
            for ex in exercises[i % count:i % count + 2]:
                code[ex] = sols["WRONG"][ex]
        elif kind == "errors":
            broken = exercises[i % count]
            code[broken] = (RAISES, UNDEFINED, SYNTAX)[i % 3].format(name=names[broken])
        elif kind == "loops":
            looping = exercises[i % count]
            code[looping] = LOOPS.format(name=names[looping])
        elif kind == "untouched":
            code = {}
        students[f"s{i:03d}"] = (kind, code)
    return students


def write_inbox(release_path, dest, assignment=ASSIGNMENT):
    """One folder per student holding their notebook, plus a README saying who is who."""
    release = nbformat.read(str(release_path), as_version=4)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for student, nb in build_notebooks(release, assignment=assignment).items():
        (dest / student).mkdir(exist_ok=True)
        for old in (dest / student).glob("*.ipynb"):
            old.unlink()
        name = RENAMED.get(student, "{assignment}").format(assignment=assignment)  # as LMSs mangle names
        nbformat.write(nb, str(dest / student / f"{name}.ipynb"))
    lines = [f"# The sample class of {assignment}", "",
             "Generated by `python -m autograder.instructor.samples` from `samples/solutions/` and "
             "`samples/attacks.py`; graded by `python -m autograder demo`.", "",
             "| student | submission | verdicts the grader must give | mistakes it must name |",
             "|---|---|---|---|"]
    exercises = exercise_names(table(), assignment)
    for s, (what, _, expected) in sample_class(assignment).items():
        shown = expected if isinstance(expected, str) else (
            ", ".join(f"{k}: {v}" for k, v in expected.items()) or "all pass")
        named = ", ".join(f"`{m}`" if m else f"{ex}: unexplained"
                          for ex, m in expected_mistakes(s, exercises, assignment).items()) or "—"
        lines.append(f"| {s} | {what} | {shown} | {named} |")
    (dest / "README.md").write_text("\n".join(lines) + "\n")


def write_inboxes(root=SAMPLES):
    """The sample class of every assignment, in `root/<assignment>/`."""
    for assignment in assignments(PROJECT_ROOT):
        write_inbox(PROJECT_ROOT / "release" / assignment / f"{assignment}.ipynb", Path(root) / assignment,
                    assignment)


def run_demo(into, workers=None, only=None):
    """Copy the course into `into`, collect and grade the sample class of every assignment (or
    of those in `only`: grades first, then the feedback run), write the reports, what each class
    got wrong, the course's heat map and the feedback."""
    import time

    from . import misconceptions
    from .collect import collect  # here, not above: the test helpers import samples, never grade
    from .gradelog import read_log
    from .grading import grade, write_log
    from .nbgrader_api import make_api
    from .report import build_report
    from .rerun import run_feedback

    into = Path(into).resolve()
    if into.exists():
        shutil.rmtree(into)
    into.mkdir(parents=True)
    for name in ("source", "release"):
        shutil.copytree(PROJECT_ROOT / name, into / name)
    shutil.copy(PROJECT_ROOT / "nbgrader_config.py", into / "nbgrader_config.py")
    with open(into / "nbgrader_config.py", "a") as f:  # shorter limits: the demo's loop ends sooner
        f.write("\nc.SafeExecute.timeout = 20\nc.VerifyExercises.time_limit = 20\n")
    reports = []
    for assignment in only or assignments(PROJECT_ROOT):
        print(f"\n== {assignment}")
        print(collect(SAMPLES / assignment, into, assignment, [assignment]).summary())
        stats = {}
        outcomes = grade(into, assignment, workers=workers, stats=stats)
        write_log(into, assignment, outcomes, stats)
        graded = [s for s, o in outcomes.items() if o.status == "graded"]
        print(f"grades: {len(graded)} of {len(outcomes)} in the gradebook after "
              f"{stats['phase1'] + stats['record_after_phase1']:.1f} s (no notebook run)")
        started = time.monotonic()
        ran = run_feedback(into, assignment, graded, workers)
        print(f"feedback run: {sum(r.status == 'run' for r in ran.values())} notebooks run in "
              f"{time.monotonic() - started:.1f} s (no score changed)")
        make_api(into).generate_feedback(assignment, force=True)
        reports.append(build_report(into, assignment, into / "reports" / assignment,
                                    grading_log=read_log(into, assignment)))
        misconceptions.build(into, assignment, into / "reports" / assignment)
    misconceptions.build_course(into, into / "reports" / "course")
    print("\nreports:  " + "\n          ".join(str(r) for r in reports) + f"\nfeedback: {into / 'feedback'}"
          f"\nwhat each class got wrong: {into / 'reports' / '<assignment>' / 'misconceptions.html'}"
          f"\nthe course: {into / 'reports' / 'course' / 'course.html'}")
    return 0


if __name__ == "__main__":
    write_inboxes(Path(sys.argv[1]) if len(sys.argv) > 1 else SAMPLES)
    print(f"wrote the sample classes in {sys.argv[1] if len(sys.argv) > 1 else SAMPLES}")

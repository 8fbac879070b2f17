"""`python -m autograder new NN_topic`: the skeleton of a new assignment, under the one naming
scheme every assignment follows.

    source/NN_topic/NN_topic.ipynb            the notebook, from the template (notebook-template.md):
                                              goals, setup, one section per exercise with its
                                              solution and test cells, review, practice, summary,
                                              glossary; every part to write says TODO
    autograder/judge/exercises/<topic>.py     one declaration per exercise, whose check fails
                                              loudly until it is written
    samples/solutions/NN_topic.py             correct alternatives and typical mistakes (TODO)
    tests/test_hidden_<topic>.py              the gallery of the hidden checks (tables to fill)
    tests/test_visible_<topic>.py             the visible tests' tables (to fill)

The exercises (ids and signatures) come from the shared contract (`curriculum.md`, its section
for this assignment) when it is there, or from `--exercise ID SIGNATURE` options. Nothing
that exists is overwritten. README, "Adding an assignment", says what is left to write.
"""

import json
import re
import textwrap
from pathlib import Path

import nbformat

from ..protocol.signatures import defined_name

NAME = re.compile(r"^(\d\d)_([a-z][a-z0-9_]*)$")
ROW = re.compile(r"^\|\s*`([a-z_0-9]+)`\s*\|\s*`([^`]+)`[^|]*\|\s*(.*?)\s*\|\s*$")


def contract_exercises(contract, assignment):
    """[(id, signature, behaviour, constructor arguments)] from the contract's table for
    `assignment` ([] if absent). A class's signature is `class Name(nn.Module)`."""
    if not contract.exists():
        return []
    found, inside = [], False
    for line in contract.read_text().splitlines():
        if line.startswith("## "):
            inside = line[3:].split()[0] == assignment
            continue
        match = ROW.match(line) if inside else None
        if match:
            ex_id, signature, behaviour = match.groups()
            if not signature.startswith(("class ", "def ")):
                signature = f"def {signature}"  # the contract writes a function as name(args)
            made = signature.startswith("class ") and re.search(rf"`{defined_name(signature)}\(([^`]*)\)`", line)
            found.append((ex_id, signature, behaviour, made.group(1) if made else ""))
    return found


def code(source, cell_id, nbgrader=None, tags=()):
    cell = nbformat.v4.new_code_cell(source)
    cell.id = cell_id
    if nbgrader:
        cell.metadata["nbgrader"] = {"schema_version": 3, "task": False, "locked": False, "solution": False,
                                     "grade": False, **nbgrader}
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def markdown(source, cell_id):
    cell = nbformat.v4.new_markdown_cell(source)
    cell.id = cell_id
    return cell


def definition(signature, behaviour, arguments=""):
    """The solution cell: the signature, a docstring with the contract's words, the stub."""
    doc = behaviour.replace("`", "") or "TODO: what it does (shapes, dtype, device, aliasing)."
    doc = "\n    ".join(textwrap.wrap(doc, 92))
    if signature.startswith("class "):
        arguments = f", {arguments}" if arguments else ""
        return (f'{signature}:\n    """{doc}"""\n\n    def __init__(self{arguments}):\n        """TODO."""\n'
                f'        ### BEGIN SOLUTION\n        super().__init__()\n        raise NotImplementedError()\n'
                f'        ### END SOLUTION\n\n    def forward(self, x):\n        ### BEGIN SOLUTION\n'
                f'        raise NotImplementedError()\n        ### END SOLUTION')
    return f'{signature}:\n    """{doc}"""\n    ### BEGIN SOLUTION\n    raise NotImplementedError()\n    ### END SOLUTION'


def notebook(assignment, exercises):
    number, topic = assignment[:2], assignment[3:].replace("_", " ")
    cells = [
        markdown(f"# {number} · TODO: {topic}\n\n**Who this is for.** TODO.\n\n**Before this:** TODO. "
                 "**After this:** TODO.\n\n### Learning goals\n\nBy the end of this notebook you can\n\n"
                 + "\n".join(f"{i}. TODO (section {i});" for i in range(1, 5)), "intro"),
        code("import torch\nimport torch.nn.functional as F\nfrom torch import nn\n\n"
             "from course.checks import expect_close, expect_same, expect_shape, ok, show_error\n"
             "from course.devices import describe_devices\n\ntorch.manual_seed(0)\n"
             'device = torch.device("cuda" if torch.cuda.is_available() else "mps" if '
             'torch.backends.mps.is_available() else "cpu")\nprint(describe_devices())\n'
             'print("This notebook computes on:", device)', "setup", {"grade_id": "setup", "locked": True}),
    ]
    for k, (ex_id, signature, behaviour, arguments) in enumerate(exercises, 1):
        name = defined_name(signature)
        cells += [
            markdown(f"## {k}. TODO: the idea behind `{name}`\n\nTODO: one claim, a demo whose output "
                     "proves it, predict first, *Notice*, the failing case with its real error.", f"s{k}-intro"),
            markdown(f"### Exercise {k}: `{name}`\n\nTODO: the statement (shapes, dtype, device, aliasing)."
                     "\n\n<details><summary>Hint</summary>\n\nTODO\n\n</details>", f"ex-{ex_id}"),
            code(definition(signature, behaviour, arguments), f"{ex_id}-solution",
                 {"grade_id": ex_id, "solution": True}),
            code("### BEGIN HIDDEN TESTS\nfrom autograder.judge import hidden_tests  # graded by the judge, "
                 f'in a process of its own\nhidden_tests("{ex_id}", {name})\n### END HIDDEN TESTS\n'
                 f"# TODO: visible checks with course.checks, the tricky case and float64 included\n"
                 f'ok("{ex_id}")', f"test-{ex_id}",
                 {"grade_id": f"test_{ex_id}", "grade": True, "locked": True, "points": 2}),
        ]
    cells += [
        markdown(f"## {len(exercises) + 1}. Review\n\n| message | cause | fix |\n|---|---|---|\n| TODO | | |\n\n"
                 "**Quiz.** TODO: 4–6 questions, answers in `<details>`.", "review"),
        markdown(f"## {len(exercises) + 2}. Practice (ungraded)\n\nTODO: puzzles that check themselves "
                 "(`course.checks.try_puzzle`).", "practice"),
        markdown("## Summary\n\nYou can now:\n\n" + "\n".join(f"{i}. ✓ TODO;" for i in range(1, 5))
                 + "\n\n**Next: TODO.**", "summary"),
        markdown("## Glossary · 용어집\n\n| English | Korean | Meaning |\n|---|---|---|\n| TODO | TODO | TODO |",
                 "glossary"),
    ]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata = {"kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
                   "language_info": {"name": "python"}}
    return nb


def declarations(assignment, exercises):
    topic = assignment[3:]
    parts = [f'"""{assignment}: {", ".join(ex for ex, *_ in exercises)}.\n\nTODO: what the checks look at, and '
             f'the readings of the contract they make.\n"""\n\nfrom ..declare import Assignment, Mistake, st  # noqa: F401'
             f'\n\nA = Assignment("{assignment}")\n']
    for ex_id, signature, *_ in exercises:
        parts.append(
            f'\n\n# {"=" * 93}\n# {ex_id}\n# {"=" * 93}\n\n'
            f'@A.exercise("{ex_id}", "{signature}", cases=[None])\n'
            f"def {ex_id}(t, case):\n"
            f'    """TODO: the check (a table form, `A.tensor_function` / `A.module_class` / '
            f'`A.module_function`, may say it all)."""\n'
            f'    raise NotImplementedError("the check of {ex_id} is not written yet ({topic}.py)")\n')
    return "".join(parts)


def samples(assignment, exercises):
    lines = [f'"""Solution cells for {assignment}: correct alternatives and typical mistakes\n'
             "(the instructor's own come from the source notebook: `samples.solution_cells`).\n\n"
             'TODO: each cell is the complete source of a solution cell, run after the setup cell."""\n']
    for table in ("ALTERNATIVE", "WRONG"):
        lines.append(f"\n{table} = {{")
        for ex_id, signature, *_ in exercises:
            lines.append(f'    "{ex_id}": {json.dumps(signature + ": raise NotImplementedError()  # TODO")},')
        lines.append("}\n")
    lines.append("\n# What the message for each WRONG solution must say (the tests check it).\nWRONG_SAYS = {")
    lines += [f'    "{ex_id}": "TODO",' for ex_id, *_ in exercises]
    lines.append("}\n")
    lines.append("\n# The slug of the declared mistake (Mistake(slug=...) or Hint) each WRONG solution is named with.\n"
                 "WRONG_MISTAKE = {")
    lines += [f'    "{ex_id}": "todo",' for ex_id, *_ in exercises]
    lines.append("}\n")
    return "\n".join(lines)


def gallery(assignment, exercises):
    topic = assignment[3:]
    ids = [ex for ex, *_ in exercises]
    tables = "\n".join(f"{ex.upper()}_OK = []  # TODO: (name, fn) correct solutions written other ways\n"
                       f"{ex.upper()}_WRONG = [(\"stub\", stub, \"NotImplementedError\")]  # TODO: (name, fn, phrase)\n"
                       for ex in ids)
    correct = " + ".join(f'rows("{ex}", {ex.upper()}_OK)' for ex in ids)
    wrong = " + ".join(f'rows("{ex}", {ex.upper()}_WRONG)' for ex in ids)
    return (f'"""Gallery for the hidden checks of {assignment} (autograder/judge/exercises/{topic}.py): '
            f'correct\nsolutions written the ways students write them pass, typical mistakes fail naming the '
            f'mistake\n(tests/judging.py defines the tests every gallery has)."""\n\n'
            f"import torch  # noqa: F401\nfrom torch import nn  # noqa: F401\n\n"
            f"from judging import gallery_tests, rows, stub\n\n{tables}\n"
            f"CORRECT = {correct}\nWRONG = {wrong}\n\n"
            f'gallery_tests(globals(), "{assignment}", CORRECT, WRONG)\n')


def visible(assignment, exercises):
    return (f'"""The visible tests of {assignment} mean something: each passes the instructor\'s solution '
            f'and\ncorrect alternatives, and fails for the mistakes its section warns about (tests/visible.py)."""\n\n'
            f"from visible import Notebook, visible_tests\n\n"
            f'NOTEBOOK = Notebook("{assignment}")\n\n'
            f"# (exercise, what the alternative is, its source)\nRIGHT = []  # TODO\n"
            f"# (exercise, what the mistake is, its source, a phrase of the message the visible test must give)\n"
            f"WRONG = []  # TODO\n\nvisible_tests(globals(), NOTEBOOK, RIGHT, WRONG)\n")


def new(assignment, root, exercises=None, contract=None):
    """Write the skeleton of `assignment` under `root`; the paths written."""
    if not NAME.match(assignment):
        raise ValueError(f"{assignment!r} is not an assignment name like 06_nn_functional (NN_topic)")
    contract = contract or root.parent / "shared" / "curriculum.md"
    exercises = exercises or contract_exercises(contract, assignment)
    if not exercises:
        raise ValueError(f"no exercises for {assignment}: none in {contract}, and no --exercise ID SIGNATURE given")
    topic = assignment[3:]
    files = {
        Path("source") / assignment / f"{assignment}.ipynb": nbformat.writes(notebook(assignment, exercises)) + "\n",
        Path("autograder/judge/exercises") / f"{topic}.py": declarations(assignment, exercises),
        Path("samples/solutions") / f"{assignment}.py": samples(assignment, exercises),
        Path("tests") / f"test_hidden_{topic}.py": gallery(assignment, exercises),
        Path("tests") / f"test_visible_{topic}.py": visible(assignment, exercises),
    }
    taken = [str(path) for path in files if (root / path).exists()]
    if taken:
        raise FileExistsError(f"{assignment} already has {', '.join(taken)}: nothing written")
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return list(files)

"""Whether a message hands over the answer: a line of the instructor's solution, found in it.

A visible test or a hidden check says what is wrong with the student's result and where the
notebook teaches it; the recipe lives in the folded hints a student opens on purpose. So no
message, and no text a message is made from (the string literals of a visible test cell, of an
exercise's declarations), may hold a line of the source notebook's solution cells.
"""

import ast
import functools
import re

from autograder.instructor.samples import solution_cells

# Lines too short or too generic to give anything away: `return out`, `super().__init__()`, a
# bare call such as `optimizer.step()` or `with torch.no_grad():` (a message may say it is missing
# or misplaced).
MIN_CHARS = 16
GENERIC = re.compile(r"^(return \w+|(super\(\)\.)?[\w.]+\(\)|with [\w.]+\(\):|pass|else:|try:|raise .*|import .*|from .*)$")


def normalise(text):
    return re.sub(r"\s+", " ", text).strip()


@functools.cache
def solution_lines(assignment):
    """{exercise id: the lines of its solution cell that would give it away}: code lines, not
    the signature, docstring, comments or generic lines."""
    found = {}
    for exercise, source in solution_cells(assignment).items():
        lines, in_docstring = set(), False
        for raw in source.splitlines():
            line = normalise(raw)
            quotes = line.count('"""') + line.count("'''")
            if in_docstring or quotes:
                in_docstring = in_docstring != (quotes % 2 == 1)
                continue
            code = normalise(re.split(r"\s#", raw)[0])   # without its comment
            if (len(code.replace(" ", "")) >= MIN_CHARS and not code.startswith(("def ", "class ", "@", "#"))
                    and not GENERIC.match(code)):
                lines.add(code)
        found[exercise] = lines
    return found


def given_away(text, assignment):
    """The solution lines of `assignment` that `text` holds (whitespace aside)."""
    text = normalise(text)
    return sorted(line for lines in solution_lines(assignment).values() for line in lines if line in text)


def string_literals(source):
    """Every string constant in Python `source`, f-strings' literal parts included."""
    return [node.value for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)]

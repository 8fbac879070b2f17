"""No test message hands over the answer: the text a visible test or a hidden check can show a
student holds no line of the instructor's solution (tests/giveaway.py says what counts)."""

import re

import pytest

from conftest import ASSIGNMENTS, ROOT, nbgrader_meta, source_nb
from giveaway import given_away, solution_lines, string_literals

HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS\n?", re.S)


def test_a_solution_line_is_found_in_a_message_and_a_generic_line_is_not():
    lines = solution_lines("01_tensor_ops")["row_normalize"]
    assert lines and all(len(line.replace(" ", "")) >= 16 for line in lines)
    line = sorted(lines)[0]
    assert given_away(f"wrong values.\n  hint:   {line.replace(' ', '  ')}", "01_tensor_ops") == [line]
    assert not given_away("wrong values: these are the column sums (see section 5)", "01_tensor_ops")
    commented = solution_lines("02_autograd")["grad_of"]          # its lines end with comments
    assert "x2 = x.detach().clone().requires_grad_(True)" in commented and not any("#" in line for line in commented)
    assert "with torch.no_grad():" not in solution_lines("02_autograd")["sgd_step"]   # generic: may be named
    assert not any(re.fullmatch(r"(return \w+|[\w.]+\(\)|super\(\)\.__init__\(\))", line)
                   for lines in solution_lines("03_linear_layer").values() for line in lines)


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_visible_test_cells_say_what_is_wrong_not_how_to_write_it(name):
    found = [(nbgrader_meta(c)["grade_id"], text[:120], given_away(text, name))
             for c in source_nb(name).cells if nbgrader_meta(c).get("grade")
             for text in string_literals(HIDDEN.sub("", c.source))]
    found = [f for f in found if f[2]]
    assert not found, f"{name}: visible-test text holding a line of the solution: {found}"


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_hidden_feedback_texts_say_what_is_wrong_not_how_to_write_it(name):
    module = ROOT / "autograder" / "judge" / "exercises" / f"{name.split('_', 1)[1]}.py"
    found = [(text[:120], given_away(text, name)) for text in string_literals(module.read_text(encoding="utf-8"))]
    found = [f for f in found if f[1]]
    assert not found, f"{module.name}: feedback text holding a line of the solution: {found}"

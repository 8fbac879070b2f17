"""Every likely mistake the judge can tell is named: a `Hint` with a literal slug.

The misconception report counts wrong answers by `<exercise id>/<slug>`, so a likely mistake
written as plain words would be told to the student yet counted as unexplained. Read from the
judge's source (the words of a hint may be built at run time; its slug never is):

- "Likely mistake" is written in one place (`compare.likely_line`); every other message gets
  it through `Trial.fail(likely=...)` or a table, from a `Hint`;
- every `Mistake(...)` declares `slug=`, and every `Hint(...)` a literal slug;
- the slugs are lowercase words joined by '-' (what the gradebook, the log and the report keep).
"""

import ast

import pytest

from autograder.judge.compare import MAX_SLUG, SLUG, CheckFailed, Hint, Mistake

from conftest import ROOT

JUDGE = sorted((ROOT / "autograder" / "judge").rglob("*.py"))


def calls(tree, name):
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)
            and (getattr(node.func, "id", None) == name or getattr(node.func, "attr", None) == name)]


@pytest.mark.parametrize("path", JUDGE, ids=lambda p: p.name)
def test_likely_mistakes_are_declared_hints(path):
    tree = ast.parse(path.read_text())
    written = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Constant)
               and isinstance(node.value, str) and "Likely mistake" in node.value]
    home = path.name == "compare.py"  # where Hint, Mistake and likely_line are defined
    assert len(written) == int(home), \
        f"{path.name}: 'Likely mistake' written by hand on lines {written}; pass a Hint as likely="
    if home:
        return
    for call in calls(tree, "Mistake"):
        assert any(k.arg == "slug" for k in call.keywords), f"{path.name}:{call.lineno}: a Mistake without slug="
    for call in calls(tree, "Hint"):
        slug = call.args[0] if call.args else None
        if isinstance(slug, ast.Attribute) and slug.attr == "slug":
            continue  # the slug of a hint declared elsewhere, passed on
        assert isinstance(slug, ast.Constant) and isinstance(slug.value, str), \
            f"{path.name}:{call.lineno}: a Hint's slug must be a literal"
        assert SLUG.fullmatch(slug.value) and len(slug.value) <= MAX_SLUG, f"{path.name}:{call.lineno}: {slug.value!r}"

def test_a_hint_is_its_words_and_keeps_its_slug():
    hint = Hint("column-sums", "you divided by the column sums of {name}")
    assert hint == "you divided by the column sums of {name}" and hint.slug == "column-sums"
    formatted = hint.format(name="x")
    assert formatted == "you divided by the column sums of x" and formatted.slug == "column-sums"
    assert Mistake(abs, "words", slug="abs-value").slug == "abs-value" and Mistake(abs, "words").slug is None
    for bad in ("Column sums", "column_sums", "", "-x", "x" * (MAX_SLUG + 1), None):
        with pytest.raises(ValueError):
            Hint(bad, "words")


def test_a_failure_is_named_only_by_a_slug():
    assert CheckFailed("m", Hint("not-done", "w")).mistake == "not-done"
    assert CheckFailed("m", "not-defined").mistake == "not-defined"
    assert CheckFailed("m", "plain words, not a slug").mistake is None
    assert CheckFailed("m").mistake is None

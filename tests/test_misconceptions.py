"""The misconception report's reading of verdict messages (the whole report is tested on the
sample classes in test_grading.py, and in a browser in test_browser.py)."""

from collections import Counter

from autograder.instructor import misconceptions as m

RAISED = ("f(x) on cpu, float32, with\n  x = [1, 2]\nIt raised ValueError: written by alice@example.org\n"
          "and a second line of hers\nLikely mistake: the words the judge declared")


def test_an_example_keeps_the_judges_lines_and_never_a_students_text():
    shown = m.example(RAISED)
    assert shown.startswith("f(x) on cpu, float32, with\n  x = [1, 2]\nIt raised ValueError")
    assert "alice" not in shown and "second line" not in shown and "Likely mistake" not in shown


def test_the_words_of_a_mistake():
    assert m.words_of(RAISED) == "the words the judge declared"
    assert m.words_of("ctx\nthe message is its own hint.") == "the message is its own hint."
    assert m.sentence("you divided by the sums") == "You divided by the sums"
    assert m.sentence("my.W shares memory") == "my.W shares memory"


def test_re_teach_skips_what_is_not_a_misconception_and_links_the_section_the_words_name():
    tally = m.Tally("01_x", ["a", "b"], 10, named={"a": Counter({"a/column-sums": 3, "a/not-defined": 9}),
                                                   "b": Counter({"b/transposed": 4})}, other={})
    tally.words["a/column-sums"] = "you divided by the column sums (notebook section 5)."
    tally.sections = {"5": ("5. Reductions", "nb#5.-Reductions"), "a": ("6. Broadcasting", "nb#6.-Broadcasting")}
    assert m.reteach(tally) == [("b/transposed", 4), ("a/column-sums", 3)]
    assert m.section_of(tally, "a/column-sums") == ("5. Reductions", "nb#5.-Reductions")
    assert m.section_of(tally, "b/transposed") == ("b", "")


def test_a_failure_is_counted_under_its_own_exercise_only():
    tally = m.Tally("01_x", ["a"], 3, named={"a": Counter()}, other={"a": Counter()})
    m._add(tally, "a", {"status": "fail", "mistake": "a/column-sums", "message": RAISED})
    m._add(tally, "a", {"status": "fail", "mistake": "b/planted", "message": "x"})  # another exercise's id
    m._add(tally, "a", {"status": "fail", "mistake": "a/not-done", "message": "x"})
    m._add(tally, "a", {"status": "timeout", "mistake": None, "message": "x"})
    assert tally.named["a"] == Counter({"a/column-sums": 1})
    assert (tally.unexplained["a"], tally.not_attempted["a"], tally.other["a"]) == (1, 1, Counter({"timeout": 1}))

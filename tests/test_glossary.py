"""One Korean term per concept: every notebook's glossary agrees with the course's (course/glossary.md),
and the translations the course does not use appear in no notebook."""

import pytest

from conftest import ASSIGNMENTS, ROOT, source_nb

GLOSSARY = ROOT / "course" / "glossary.md"


def table_rows(markdown):
    """The body rows of the first Markdown table in `markdown`, as lists of stripped cells."""
    lines = [line.strip() for line in markdown.splitlines() if line.strip().startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines[2:]]


def course_glossary():
    """{English: (Korean, [translations seen elsewhere that the course does not use])}."""
    rows = table_rows(GLOSSARY.read_text(encoding="utf-8"))
    english = [row[0] for row in rows]
    assert len(english) == len(set(english)), "an English term is listed twice in course/glossary.md"
    return {row[0]: (row[1], [v.strip() for v in row[3].split(",") if v.strip()]) for row in rows}


def notebook_glossary(name):
    cells = [c.source for c in source_nb(name).cells
             if c.cell_type == "markdown" and c.source.startswith("## Glossary")]
    assert len(cells) == 1, f"{name}: expected one '## Glossary' cell"
    return table_rows(cells[0])


def test_the_course_glossary_is_a_well_formed_table():
    glossary = course_glossary()
    assert len(glossary) > 100
    assert all(korean for korean, _ in glossary.values())
    assert glossary["parameter"][0] == "매개변수" and "파라미터" in glossary["parameter"][1]


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_each_notebook_glossary_takes_its_terms_from_the_course_glossary(name):
    glossary = course_glossary()
    problems = []
    for english, korean, *_ in notebook_glossary(name):
        if english not in glossary:
            problems.append(f"{english!r} is not in course/glossary.md")
        elif korean != glossary[english][0]:
            problems.append(f"{english!r}: {korean!r} here, {glossary[english][0]!r} in course/glossary.md")
    assert not problems, f"{name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_no_notebook_uses_a_translation_the_course_does_not(name):
    unused = {variant: english for english, (_, variants) in course_glossary().items() for variant in variants}
    text = "\n".join(c.source for c in source_nb(name).cells)
    found = [f"{variant!r} (the course says {course_glossary()[english][0]!r} for {english!r})"
             for variant, english in unused.items() if variant in text]
    assert not found, f"{name} uses: " + ", ".join(found)

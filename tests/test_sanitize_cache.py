"""Cleaning markdown once per distinct text (issue 26): the cache never changes what a
notebook stores, never mixes settings, and stays bounded whatever a class hands in."""

from hypothesis import given, settings
from hypothesis import strategies as st

from autograder.instructor.preprocessors import sanitize_student_content as cleaning
from autograder.instructor.preprocessors.sanitize_student_content import SanitizeStudentContent

HOSTILE = ["# title <script>alert(1)</script>", "[x](javascript:alert(1))", "<img src=x onerror=alert(1)>",
           "`a` **b** $x^2$\n\n- one\n- two", "<a href='https://example.org'>ok</a>", ""]
MARKDOWN = st.one_of(st.sampled_from(HOSTILE), st.text(alphabet=st.sampled_from("<>[]()`*#$!/:='\" \nabjs"),
                                                       max_size=60))


@settings(max_examples=200, deadline=None)
@given(MARKDOWN)
def test_a_cached_cleaning_is_the_cleaning(text):
    sanitizer = SanitizeStudentContent()
    first, again = sanitizer.inert_markdown(text), SanitizeStudentContent().inert_markdown(text)
    assert first == again == sanitizer._inert_markdown(text)
    assert "<script" not in first and "javascript:" not in first and "onerror" not in first


def test_settings_are_part_of_the_key():
    text = "# heading with **bold**"
    assert "<strong>" in SanitizeStudentContent().inert_markdown(text)
    assert "<strong>" not in SanitizeStudentContent(tags=["p"]).inert_markdown(text)
    assert "<strong>" in SanitizeStudentContent().inert_markdown(text)


def test_the_cache_stays_bounded(monkeypatch):
    monkeypatch.setattr(cleaning, "CACHE_CHARS", 10_000)
    sanitizer = SanitizeStudentContent()
    for i in range(300):
        sanitizer.inert_markdown(f"cell {i} " + "x" * 100)
    sanitizer.inert_markdown("y" * (cleaning.CACHED_CHARS + 1))  # too long to keep
    kept = sum(len(text) + len(html) for (_, text), html in cleaning._CLEANED.items())
    assert kept == cleaning._cached_chars <= 10_000
    assert not any(len(text) > cleaning.CACHED_CHARS for _, text in cleaning._CLEANED)

"""Math in student markdown reaches MathJax as written (it is text to the sanitizer), in the
formgrader and in the feedback. MathJax can make links and load code from TeX (\\href to a
`javascript:` URL, \\class, \\style, \\require): both pages load it with its Safe extension,
which filters those, and nothing in the page configures Safe back off.
"""

import re
from pathlib import Path

import nbformat
import pytest
from nbconvert.exporters import HTMLExporter
from nbgrader.server_extensions.formgrader import handlers
from traitlets.config import Config

from autograder.instructor.preprocessors import SanitizeStudentContent

BOOTSTRAP = Path(handlers.__file__).parent / "static" / "node_modules" / "bootstrap" / "dist" / "css"
MATH = r"Energy: $E \href{javascript:alert('pwn')}{=} mc^2$ and $$\class{x}{\style{color:red}{y}}$$"
RESOURCES = {"assignment_id": "a", "notebook_id": "a", "submission_id": "s", "index": 0, "total": 1,
             "base_url": "", "student": "vic", "last_name": None, "first_name": None, "notebook_path": "",
             "nbgrader": {"notebook": "a", "score": 1.0, "max_score": 2.0, "late_penalty": 0.0}}


def rendered(template):
    """A sanitized notebook with student math, as nbgrader renders it with `template`."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(MATH)])
    nb, _ = SanitizeStudentContent().preprocess(nb, {})
    c = Config()
    c.HTMLExporter.template_name = template
    c.HTMLExporter.extra_template_basedirs = [handlers.template_path]
    c.HTMLExporter.extra_template_paths = [str(BOOTSTRAP)]  # as nbgrader's GenerateFeedback sets it
    return HTMLExporter(config=c).from_notebook_node(nb, resources=dict(RESOURCES))[0]


@pytest.mark.parametrize("template", ["formgrade", "feedback"])
def test_student_math_is_typeset_only_by_a_safe_mathjax(template):
    html = rendered(template)
    assert r"\href{javascript:" in html  # the math is there, as text, for MathJax to typeset
    loaders = re.findall(r"""<script[^>]*src=["']([^"']*mathjax[^"']*)["']""", html, flags=re.I)
    assert loaders, "no MathJax on the page: the math would show as text (then this test is moot)"
    assert all(re.search(r"[?&]config=[^&]*\bSafe\b", url) for url in loaders), loaders
    assert not re.search(r"\bSafe\s*:", html), "the page configures MathJax's Safe extension itself"
    assert not re.search(r"""href\s*=\s*["']?\s*javascript:""", html, flags=re.I)

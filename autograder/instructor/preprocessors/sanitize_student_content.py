"""`SanitizeStudentContent`: a notebook whose every rendering is safe to open, whatever a
student wrote: the autograded notebook (what nbgrader's formgrader renders, with the
instructor's Jupyter token in reach) and the feedback (`SanitizeFeedback`) are cleaned by it
alike.

- Markdown cells and `text/markdown` outputs are rendered to HTML here, cleaned with bleach
  (links included: a `javascript:` link is markdown before it is HTML), and stored as one line
  of HTML in a `<div>`, so that the renderer's own markdown pass (the formgrader and the
  feedback render markdown again) leaves it as it is: text that the first pass left as text
  cannot become a link in the second.
- `text/html` outputs keep only harmless formatting tags (no script, event handler, iframe or
  style); outputs of kinds a browser would run (JavaScript, SVG, widget views, anything
  unknown) are dropped in favour of their plain text.
- Images are kept only as base64 (their data goes into an `<img src=...>`), and an output's
  metadata only as numbers (nbconvert's templates write an image's width and height into the
  tag unquoted: `1 onerror=...` was an event handler).
- Raw cells are cleaned as HTML. Code is shown as code (escaped by the templates).
"""

import re

from nbconvert.filters.markdown_mistune import markdown2html_mistune
from nbconvert.preprocessors.sanitize import SanitizeHTML
from traitlets import Bool, List, Unicode

TAGS = ["a", "abbr", "b", "blockquote", "br", "code", "details", "div", "em", "h1", "h2", "h3", "h4",
        "h5", "h6", "hr", "i", "kbd", "li", "ol", "p", "pre", "span", "strong", "sub", "summary", "sup",
        "table", "tbody", "td", "th", "thead", "tr", "ul"]
IMAGES = ("image/png", "image/jpeg")
KEPT = {"text/plain", "text/latex", "text/html", "text/markdown", *IMAGES}
BASE64 = re.compile(r"[A-Za-z0-9+/\s]*={0,2}\s*")


class SanitizeStudentContent(SanitizeHTML):
    """Student markdown, HTML and outputs made inert (see the module docstring)."""

    enabled = Bool(True).tag(config=True)
    tags = List(Unicode(), TAGS).tag(config=True)
    strip = Bool(True).tag(config=True)

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type == "markdown":
            cell.source = self.inert_markdown(cell.source)
            return cell, resources
        return super().preprocess_cell(cell, resources, cell_index)

    def inert_markdown(self, text):
        """Markdown `text` as cleaned HTML on one line (see the module docstring)."""
        html = self.sanitize_html_tags(markdown2html_mistune(text if isinstance(text, str) else ""))
        return "<div>" + html.strip().replace("\r", "&#13;").replace("\n", "&#10;") + "</div>"

    def sanitize_code_outputs(self, outputs):
        """Each rich output keeps only the kinds of data listed in the module docstring, each
        made inert; streams and errors are text, escaped by the templates."""
        for output in outputs:
            if output.get("output_type") not in ("display_data", "execute_result"):
                continue
            data = output.get("data", {})
            for key in list(data):
                value = data[key]
                if not isinstance(value, str) or key not in KEPT:
                    del data[key]
                elif key == "text/markdown":
                    data[key] = self.inert_markdown(value)
                elif key == "text/html":
                    data[key] = self.sanitize_html_tags(value)
                elif key in IMAGES and not BASE64.fullmatch(value):
                    del data[key]
            output["metadata"] = _numbers_only(output.get("metadata", {}))
        return outputs


def _numbers_only(metadata):
    """An output's metadata with only its numbers kept, per mimetype (an image's width, height)."""
    kept = {}
    for key, value in (metadata.items() if isinstance(metadata, dict) else ()):
        if isinstance(value, dict):
            numbers = {k: v for k, v in value.items() if type(v) in (int, float)}
            if numbers:
                kept[key] = numbers
        elif type(value) in (int, float):
            kept[key] = value
    return kept

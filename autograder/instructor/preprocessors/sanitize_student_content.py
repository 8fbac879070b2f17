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

Cleaning is a pure function of the text and the settings, and most of a class's markdown is the
course's own prose, the same in every notebook: each distinct text (up to `CACHED_CHARS`) is
rendered and cleaned once per process (it was most of the time it took to record a grade).
"""

import collections
import json
import re
import threading

from nbconvert.filters.markdown_mistune import markdown2html_mistune
from nbconvert.preprocessors.sanitize import SanitizeHTML
from traitlets import Bool, List, Unicode

TAGS = ["a", "abbr", "b", "blockquote", "br", "code", "details", "div", "em", "h1", "h2", "h3", "h4",
        "h5", "h6", "hr", "i", "kbd", "li", "ol", "p", "pre", "span", "strong", "sub", "summary", "sup",
        "table", "tbody", "td", "th", "thead", "tr", "ul"]
IMAGES = ("image/png", "image/jpeg")
KEPT = {"text/plain", "text/latex", "text/html", "text/markdown", *IMAGES}
BASE64 = re.compile(r"[A-Za-z0-9+/\s]*={0,2}\s*")
CACHED_CHARS = 8192  # longer texts are cleaned every time (the course's longest prose cell: 4 kB)
CACHE_CHARS = 4 << 20  # texts and their HTML kept: a few tens of MB at most, whatever a class hands in
_CLEANED = collections.OrderedDict()  # (settings, text) -> cleaned HTML, least recently used first
_LOCK = threading.Lock()
_cached_chars = 0


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
        text = text if isinstance(text, str) else ""
        if len(text) > CACHED_CHARS:
            return self._inert_markdown(text)
        key = (self._settings(), text)
        with _LOCK:
            if key in _CLEANED:
                _CLEANED.move_to_end(key)
                return _CLEANED[key]
        html = self._inert_markdown(text)
        _remember(key, html)
        return html

    def _inert_markdown(self, text):
        html = self.sanitize_html_tags(markdown2html_mistune(text))
        return "<div>" + html.strip().replace("\r", "&#13;").replace("\n", "&#10;") + "</div>"

    def _settings(self):
        """What cleaning depends on besides the text (anything not plain data, such as a
        callable filter, by its repr: an object of its own is never mistaken for another)."""
        return json.dumps([self.tags, self.attributes, self.strip, self.strip_comments, self.styles],
                          sort_keys=True, default=repr)

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


def _remember(key, html):
    global _cached_chars
    with _LOCK:
        if key in _CLEANED:
            return
        _CLEANED[key] = html
        _cached_chars += len(key[1]) + len(html)
        while _cached_chars > CACHE_CHARS:
            (_, text), old = _CLEANED.popitem(last=False)
            _cached_chars -= len(text) + len(old)


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

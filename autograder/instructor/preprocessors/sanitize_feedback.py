"""`SanitizeFeedback`: feedback HTML that is safe to open, whatever a student wrote."""

from nbconvert.filters.markdown_mistune import markdown2html_mistune
from nbconvert.preprocessors.sanitize import SanitizeHTML
from traitlets import Bool, List, Set, Unicode

from .record_mistakes import without_mistakes

FEEDBACK_TAGS = ["a", "abbr", "b", "blockquote", "br", "code", "details", "div", "em", "h1", "h2",
                 "h3", "h4", "h5", "h6", "hr", "i", "kbd", "li", "ol", "p", "pre", "span", "strong",
                 "sub", "summary", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul"]


class SanitizeFeedback(SanitizeHTML):
    """Outputs of kinds a browser would run (JavaScript, SVG, widget views, anything unknown) are
    dropped in favour of their plain text, and HTML outputs keep only harmless formatting tags
    (bleach: no script, no event handler, no iframe, no style). Markdown cells, which students
    can edit, are rendered to HTML here and cleaned the same way, links included (a
    `javascript:` link is markdown before it is HTML). The grader's named mistakes are dropped
    from the comments (`record_mistakes`): they are for the instructor."""

    enabled = Bool(True).tag(config=True)
    safe_output_keys = Set({"metadata", "text/plain", "text/latex", "image/png", "image/jpeg"}).tag(config=True)
    sanitized_output_types = Set({"text/html", "text/markdown"}).tag(config=True)
    tags = List(Unicode(), FEEDBACK_TAGS).tag(config=True)
    strip = Bool(True).tag(config=True)

    def preprocess_cell(self, cell, resources, cell_index):
        nbgrader = cell.metadata.get("nbgrader")
        if isinstance(nbgrader, dict) and "comment" in nbgrader:
            nbgrader["comment"] = without_mistakes(nbgrader["comment"])
        if cell.cell_type == "markdown":
            cell.source = self.sanitize_html_tags(markdown2html_mistune(cell.source))
            return cell, resources
        return super().preprocess_cell(cell, resources, cell_index)

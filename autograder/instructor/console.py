"""What the instructor's command shows on the terminal, and what it keeps off it.

- `shown(text)`: a name or message from a submission (a student id, a file name, a reason that
  quotes a notebook) as one printable line: control characters escaped, so nothing a student
  wrote can move the cursor, recolour or clear the instructor's terminal;
- `library_warnings_logged(path)`: while a command runs, Python warnings (nbformat's and
  nbgrader's about their own internals) go to a log file instead of stderr, and log records
  that do reach the console are written through tqdm, so neither lands inside a progress bar.
"""

import contextlib
import logging
from pathlib import Path

from tqdm.contrib.logging import logging_redirect_tqdm

LINE_CHARS = 300


def shown(text, limit=LINE_CHARS):
    """`text`'s first non-empty line, control characters escaped, at most `limit` characters."""
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    line = lines[0] if lines else ""
    line = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in line)
    return line if len(line) <= limit else line[: limit - 1] + "…"


class _LazyFileHandler(logging.FileHandler):
    """A FileHandler that creates the file, and its folder, only when there is something to log."""

    def __init__(self, path):
        super().__init__(path, encoding="utf-8", delay=True)

    def _open(self):
        Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        return super()._open()


@contextlib.contextmanager
def library_warnings_logged(path):
    """Within the block, warnings are logged to `path` (created on the first one), not printed,
    and console log records go through tqdm.write (see the module docstring)."""
    handler = _LazyFileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    warnings_log = logging.getLogger("py.warnings")
    propagate = warnings_log.propagate
    warnings_log.addHandler(handler)
    warnings_log.propagate = False
    logging.captureWarnings(True)
    try:
        with logging_redirect_tqdm():
            yield path
    finally:
        logging.captureWarnings(False)
        warnings_log.removeHandler(handler)
        warnings_log.propagate = propagate
        handler.close()

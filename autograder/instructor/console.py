"""What the instructor's command shows on the terminal, and what it keeps off it.

- `shown(text)`: a name or message from a submission (a student id, a file name, a reason that
  quotes a notebook) as one printable line: control characters escaped, so nothing a student
  wrote can move the cursor, recolour or clear the instructor's terminal;
- `library_warnings_logged(path)`: while a command runs, Python warnings (nbformat's and
  nbgrader's about their own internals) and nbgrader's own log (its apps log through the
  `traitlets` logger: checksums, tracebacks of a notebook it could not read) go to a log file
  instead of stderr, and log records that do reach the console are written through tqdm, so
  none of it lands inside a progress bar. The command names every student it could not
  process itself, with the reason, and points to this file for the details.
"""

import contextlib
import logging
from pathlib import Path

from tqdm.contrib.logging import logging_redirect_tqdm

LINE_CHARS = 300
LIBRARY_LOGGERS = ("py.warnings", "traitlets")  # Python's warnings; nbgrader's (and nbconvert's) apps


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
    loggers = [logging.getLogger(name) for name in LIBRARY_LOGGERS]
    propagate = [logger.propagate for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.propagate = False
    logging.captureWarnings(True)
    try:
        with logging_redirect_tqdm():
            yield path
    finally:
        logging.captureWarnings(False)
        for logger, was in zip(loggers, propagate):
            logger.removeHandler(handler)
            logger.propagate = was
        handler.close()

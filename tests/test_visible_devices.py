"""The visible tests of 08_devices mean something: each passes the instructor's solution and
correct alternatives, and fails for the mistakes its section warns about (tests/visible.py)."""

from visible import Notebook, visible_tests

NOTEBOOK = Notebook("08_devices")

# (exercise, what the alternative is, its source)
RIGHT = []  # TODO
# (exercise, what the mistake is, its source, a phrase of the message the visible test must give)
WRONG = []  # TODO

visible_tests(globals(), NOTEBOOK, RIGHT, WRONG)

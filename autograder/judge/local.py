"""An in-process candidate, for the instructor's own notebook and fast tests of the checks.

`Local(namespace)` answers a judge's requests with the same encoding a candidate process uses
(every request and answer goes through a frame and back), but runs the student's code in this
very process. Never grade with it; the judge server never imports it (a test checks).
"""

import os

from ..candidate.respond import Responder
from ..protocol import frames


def _round_trip(message):
    return frames.parse(frames.encode(message)[frames.HEADER.size:])


class Local:
    """An in-process candidate: `namespace` holds the student's definitions."""

    def __init__(self, namespace):
        self.responder = Responder(namespace)

    def receive(self):
        return {"ready": True, "problem": None, "defined": sorted(self.responder.namespace)}

    shares_memory = os.name == "posix"  # the same path as a candidate process: a copy of each descriptor

    def request(self, message, fds=()):
        return _round_trip(self.responder.answer(_round_trip(message), [os.dup(fd) for fd in fds]))

    def close(self):
        pass

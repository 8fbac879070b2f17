"""What a notebook child tells its server, checked and bounded where it arrives.

A notebook child runs a student's code and holds its pipe to the server: anything it sends may
be forged. The server reads that pipe with a `Reader` capped per frame (`frame_limit`: one
cell's outputs and their frame) and in all (`total_limit`), decodes each frame with
`decode_cell_frame` (anything else is Malformed: the child is killed, for that student only),
and keeps each cell's outputs within their limits (`KeptOutputs`), whatever the child claims.
So the server's own `NotebookDone` always fits in a frame (`report`): no student can make the
server's send fail, which would end the server and every classmate's work in it.
"""

from ..protocol import frames
from ..protocol.limits import NOTEBOOK_OUTPUTS, OUTPUT_SLACK
from ..protocol.messages import CellResult, CellStarted, NotebookDone, decode_cell_frame


def frame_limit(request):
    """The largest frame a notebook child may send: one cell's outputs and their frame."""
    return request.limits.cell_outputs() + 2 * OUTPUT_SLACK


def total_limit(request):
    """All a notebook child may send: its outputs and, per cell, two frames around them."""
    return NOTEBOOK_OUTPUTS + (len(request.cells) + 1) * 2 * OUTPUT_SLACK


def notice(text):
    return {"output_type": "stream", "name": "stdout", "text": f"\n{text}\n"}


class KeptOutputs:
    """What a notebook run keeps of its cells' outputs: at most `per_cell` bytes of JSON a
    cell and `per_notebook` in all. A cell over either keeps a notice instead (the first cell
    past the notebook's limit says so; the cells after it keep nothing)."""

    def __init__(self, per_cell, per_notebook=NOTEBOOK_OUTPUTS):
        self.per_cell, self.left, self.full, self.notes = per_cell, per_notebook, False, []

    def keep(self, index, outputs):
        if self.full:
            return []
        size = frames.size_of(outputs)
        if size > self.per_cell + OUTPUT_SLACK:  # more than the child itself would have kept
            self.notes.append(f"cell {index + 1} sent {size} bytes of outputs, over its {self.per_cell}: dropped")
            outputs, size = [notice(f"[outputs dropped: this cell's outputs are over {self.per_cell} bytes]")], 0
        if size > self.left:
            self.full = True
            self.notes.append(f"the notebook's outputs are over {NOTEBOOK_OUTPUTS >> 20} MiB: the outputs "
                              f"from cell {index + 1} on were dropped")
            return [notice(f"[outputs dropped: the notebook's outputs are over {NOTEBOOK_OUTPUTS >> 20} MiB]")]
        self.left -= size
        return outputs


class NotebookChannel:
    """The server's side of one notebook child's pipe: each frame decoded (`take`), the outputs
    kept within their limits, and the run's report (`report`), always one frame."""

    def __init__(self, request):
        self.indices = {i for i, _ in request.cells}
        self.kept = KeptOutputs(request.limits.cell_outputs())
        self.cells, self.dropped = {}, 0

    def take(self, frame):
        """A CellStarted or a CellDone (its outputs as kept); Malformed for anything else."""
        said = decode_cell_frame(frame, self.indices)
        if not isinstance(said, CellStarted):
            self.cells[said.index] = CellResult(self.kept.keep(said.index, said.outputs), said.execution_count)
            self.dropped += said.dropped
        return said

    def report(self, key, stuck, dead, seconds, violations):
        """The encoded `NotebookDone` of the run, never over a frame."""
        violations = [*violations, *self.kept.notes]
        if self.dropped:
            violations.append(f"{self.dropped} malformed output{'s' if self.dropped > 1 else ''} "
                              "from the notebook dropped")
        try:
            return frames.encode(NotebookDone(key, self.cells, stuck, dead, seconds, tuple(violations)).to_wire())
        except frames.TooLarge as exc:  # cannot happen (KeptOutputs): checked all the same
            return frames.encode(NotebookDone(key, {}, stuck, dead or "its outputs were too large", seconds,
                                              (f"outputs of {exc.size} bytes dropped",)).to_wire())

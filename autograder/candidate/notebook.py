"""Run a notebook's code cells as a kernel would, in a forked child of the candidate server.

The server builds one IPython shell before it forks (`make_shell`, with inline figures and
warm fonts: `warm_figures`); a notebook child runs every code cell in it, with magics, input
transformers, warnings and displays as in Jupyter, and sends each cell's outputs back as a
frame on its pipe (`CellStarted` when a cell begins, `CellDone` with its outputs when it
ends). These outputs are for the student's feedback only: grades come from the judge.

A cell ends at its time limit (the child's own timer, counting only the seconds the child had
a CPU); a notebook child that ignores it is killed by the server.
"""

import json
import os
import signal
import sys
import time

import matplotlib
import matplotlib.pyplot
from IPython.core.displayhook import DisplayHook
from IPython.core.displaypub import DisplayPublisher
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config

from ..protocol import frames
from ..protocol.forkserver import cpu_wait
from ..protocol.limits import NOTEBOOK_OUTPUTS
from ..protocol.messages import CellDone, CellStarted

NOT_RUN = "not run: this exercise's hidden tests timed out in a clean process"


class GradingShell(InteractiveShell):
    """IPython as a kernel runs it, minus the kernel: inline figures, no GUI event loop."""

    def enable_gui(self, gui=None):
        pass


def make_shell():
    config = Config()
    config.HistoryManager.enabled = False  # no history thread, no sqlite file
    config.InteractiveShell.colors = "nocolor"
    shell = GradingShell.instance(config=config)
    shell.enable_matplotlib("inline")
    return shell


def warm_figures():
    """Render one throwaway figure the way the inline backend does, so that fonts and glyph
    caches are loaded once in the server instead of in every notebook child."""
    from IPython.core.pylabtools import print_figure
    figure, ax = matplotlib.pyplot.subplots()
    ax.plot([0, 1], [0, 1], label="line")
    ax.legend()
    ax.set_title("warm-up")
    for size in (7, 9, 10):
        ax.text(0.5, 0.5, "0123456789 @-.e+ abcdefghijklmnopqrstuvwxyz", fontsize=size)
    print_figure(figure, "png", bbox_inches="tight")
    matplotlib.pyplot.close(figure)


def json_size(value):
    """Bytes `value` takes in a frame (JSON, ASCII only), whatever it holds."""
    return len(json.dumps(value, default=str))


def fitting(text, room):
    """The longest start of `text` whose JSON takes at most `room` bytes."""
    cut = text[:room]
    while cut and json_size(cut) > room:
        cut = cut[:max(0, room * len(cut) // json_size(cut) - 1)]
    return cut


class CellOutputs:
    """Outputs of the running cell, as nbformat dicts, capped at `limit` bytes of JSON (what
    they take on the pipe, so that the server, which checks the same, keeps them whole)."""

    def __init__(self, limit, shown=None):
        self.items, self.size, self.truncated, self.limit = [], 0, False, limit
        self.shown = limit if shown is None else shown  # the limit the notice names

    def add(self, output, size):
        if self.truncated:
            return
        room = self.limit - self.size
        if size > room:
            self.truncated = True
            if output["output_type"] == "stream" and room > 0:
                self._append(dict(output, text=fitting(output["text"], room)))  # what fits
            self.items.append({"output_type": "stream", "name": "stdout",
                               "text": f"\n[output truncated: this cell printed more than {self.shown} bytes]\n"})
            return
        self.size += size
        self._append(output)

    def _append(self, output):
        last = self.items[-1] if self.items else None
        if (output["output_type"] == "stream" and last is not None and last["output_type"] == "stream"
                and last["name"] == output["name"]):
            last["text"] += output["text"]
        else:
            self.items.append(output)


class Stream:
    def __init__(self, name, sink):
        self.name, self.sink = name, sink

    def write(self, text):
        if text:
            text = str(text)
            self.sink().add({"output_type": "stream", "name": self.name, "text": text}, json_size(text) - 2)
        return len(text)

    def flush(self):
        pass

    def isatty(self):
        return False

    @property
    def encoding(self):
        return "utf-8"


class Publisher(DisplayPublisher):
    def publish(self, data, metadata=None, source=None, *, transient=None, update=False, **kwargs):
        self.sink().add({"output_type": "display_data", "data": data, "metadata": metadata or {}},
                        json_size(data) + json_size(metadata or {}))

    def clear_output(self, wait=False):
        self.sink().items.clear()


class Hook(DisplayHook):
    def write_output_prompt(self):
        pass

    def write_format_data(self, format_dict, md_dict=None):
        self.sink().add({"output_type": "execute_result", "data": format_dict,
                         "metadata": md_dict or {}, "execution_count": self.shell.execution_count},
                        json_size(format_dict) + json_size(md_dict or {}))

    def finish_displayhook(self):
        pass


def run(shell, request, out_fd):
    """In the (confined) child: run each code cell of `request` (a NotebookRequest), send its
    outputs; never returns."""
    limit_bytes = request.limits.cell_outputs()
    left = [NOTEBOOK_OUTPUTS]  # what the notebook's outputs may still take (its server checks too)
    shell.execution_count = 1
    current = [CellOutputs(limit_bytes)]
    sink = lambda: current[0]  # noqa: E731
    sys.stdout, sys.stderr = Stream("stdout", sink), Stream("stderr", sink)
    shell.display_pub = Publisher(shell=shell)
    shell.display_pub.sink = sink
    shell.displayhook = Hook(shell=shell, cache_size=0)
    shell.displayhook.sink = sink
    sys.displayhook = shell.displayhook
    sys.path.insert(0, os.getcwd())  # as a kernel has it: the student's own modules import

    def show(etype, evalue, stb):
        sink().add({"output_type": "error", "ename": etype.__name__ if etype else "Error",
                    "evalue": str(evalue), "traceback": [str(s) for s in stb]},
                   json_size(str(evalue)) + json_size([str(s) for s in stb]))

    shell._showtraceback = show
    limit = request.limits.cell_timeout
    cell_started, waited = [time.monotonic()], [0.0]

    def time_limit(signum, frame):
        """The cell ends once it has had `limit` seconds of its own (not counting time spent
        waiting for a CPU while other notebooks were graded)."""
        own = time.monotonic() - cell_started[0] - (cpu_wait() - waited[0])
        if own < limit - 0.01:
            signal.setitimer(signal.ITIMER_REAL, limit - own)
            return
        raise KeyboardInterrupt()

    signal.signal(signal.SIGALRM, time_limit)
    skip = set(request.skip)
    for index, source in request.cells:
        current[0] = CellOutputs(min(limit_bytes, left[0]), limit_bytes)
        if index in skip:
            show(TimeoutError, NOT_RUN, [f"TimeoutError: {NOT_RUN}"])
            frames.send(out_fd, CellDone(index, current[0].items, None).to_wire())
            continue
        cell_started[0], waited[0] = time.monotonic(), cpu_wait()
        count = shell.execution_count  # what a kernel reports for this cell
        frames.send(out_fd, CellStarted(index).to_wire())
        signal.setitimer(signal.ITIMER_REAL, limit)
        try:
            shell.run_cell(source, store_history=True, silent=False)
        except BaseException as exc:  # SystemExit and friends end the cell, as in a kernel
            show(type(exc), exc, [f"{type(exc).__name__}: {exc}"])
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        try:
            items = json.loads(json.dumps(current[0].items, default=str))  # as JSON holds it
            left[0] = max(0, left[0] - frames.size_of(items))
            frames.send(out_fd, CellDone(index, items, count).to_wire())
        except (ValueError, TypeError, RecursionError):  # outputs JSON cannot hold, or too many
            frames.send(out_fd, CellDone(index, [], count).to_wire())
    os._exit(0)

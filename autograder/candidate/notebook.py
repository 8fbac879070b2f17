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


class CellOutputs:
    """Outputs of the running cell, as nbformat dicts, capped at `limit` bytes."""

    def __init__(self, limit):
        self.items, self.size, self.truncated, self.limit = [], 0, False, limit

    def add(self, output, size):
        if self.truncated:
            return
        room = self.limit - self.size
        if size > room:
            self.truncated = True
            if output["output_type"] == "stream" and room > 0:
                self._append(dict(output, text=output["text"][:room]))  # what fits
            self.items.append({"output_type": "stream", "name": "stdout",
                               "text": f"\n[output truncated: this cell printed more than {self.limit} bytes]\n"})
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
            self.sink().add({"output_type": "stream", "name": self.name, "text": text}, len(text))
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
                        len(json.dumps(data, default=str)))

    def clear_output(self, wait=False):
        self.sink().items.clear()


class Hook(DisplayHook):
    def write_output_prompt(self):
        pass

    def write_format_data(self, format_dict, md_dict=None):
        self.sink().add({"output_type": "execute_result", "data": format_dict,
                         "metadata": md_dict or {}, "execution_count": self.shell.execution_count},
                        len(json.dumps(format_dict, default=str)))

    def finish_displayhook(self):
        pass


def run(shell, request, out_fd):
    """In the (confined) child: run each code cell of `request` (a NotebookRequest), send its
    outputs; never returns."""
    limit_bytes = request.limits.max_output_bytes
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
                    "evalue": str(evalue), "traceback": [str(s) for s in stb]}, sum(len(s) for s in stb))

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
        current[0] = CellOutputs(limit_bytes)
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
            frames.send(out_fd, json.loads(json.dumps(CellDone(index, current[0].items, count).to_wire(), default=str)))
        except (ValueError, TypeError):
            frames.send(out_fd, CellDone(index, [], count).to_wire())
    os._exit(0)

"""Instructor-side grading for the PyTorch course.

Hidden test cells call ``autograder.check(exercise_id, candidate)``; it raises ``CheckFailed``
with a message naming the input, the expected and returned values and the likely mistake.
Student notebooks never import this package (they use ``course``).

Threat model
------------
A submission is untrusted code, run by the instructor. Grading has three layers:

1. In the kernel (``nbgrader autograde`` executing the notebook): the hidden test cell calls
   ``check``. It never uses names student code could have rebound: references are plain-Python
   arithmetic, tensors are read through torch's immutable C type (``genuine``), builtins are
   verified and pinned, and replaced torch comparisons (``torch.allclose``, ``Tensor.__eq__``...),
   tensor subclasses and look-alike objects are reported as ``Tampering``.
2. In a clean process (``VerifyExercises`` -> ``python -m autograder.verify``): every exercise is
   decided again, in a child forked from a process that imported torch and the checks before any
   student code, running only the setup cells, the notebook's import lines and that exercise's
   solution cell, as plain Python. This verdict decides the grade: nbgrader's score follows it.
3. In a sandbox (``sandbox``, bubblewrap, all capabilities dropped): the kernel and the clean
   process see a read-only system without the course folder, the gradebook, other submissions or
   the network; all their processes die with them; memory, time and output are limited. With
   the grade command's fork engine (``forkserver``), each notebook and each check runs in a fork
   of a warm server that never runs student code, under a uid of that student's own, so one
   student's processes cannot signal, trace or write to another's or to the server.

| threat | what stops it |
|---|---|
| rebinding torch, NumPy, builtins or ``course`` helpers | layers 1 and 2 never use them; replaced builtins and torch comparisons are reported as tampering |
| tensor subclasses, ``__eq__``/``__torch_function__`` that agree with anything | only exact ``torch.Tensor`` objects are read, through the C type |
| IPython hooks that blank or rewrite later cells (``input_transformers_cleanup``, custom ``run_cell``) | layer 2 runs no IPython and no test cell; a cell that "passed" in the kernel but fails there is tampering |
| edited, inserted or deleted test cells, edited metadata | nbgrader restores graded and read-only cells and re-adds deleted ones (``add_missing_cells``); layer 2 ignores test cells |
| ``os._exit``, crashes, ``SystemExit``, ``KeyboardInterrupt``, infinite loops, memory hogs | per-cell timeout and a kernel whose death costs only the cells it did not run; in layer 2 one child per exercise, with a time and memory limit: only that exercise is lost |
| output floods | each cell keeps at most ``SafeExecute.max_output_bytes`` |
| reading the solutions or the gradebook, writing outside the submission's folder, the network | the sandbox |
| warnings on stderr (nbgrader scores such a cell 0) | the verdict decides: a correct solution keeps its points |
| patching the checks themselves in layer 2 | an integrity check before and after each check compares every object of the ``autograder`` modules, ``sys.modules`` entries of torch/NumPy/Hypothesis, trace hooks and threads |
| breaking Hypothesis, or forging the property-based examples the fork server recorded | a property that ran no example is tampering; replayed examples are checked by a one-example Hypothesis run, and live in an immutable tuple bound in ``autograder.properties`` (the integrity check) |

Residual risks: without bubblewrap, layer 3 is gone (grading says so loudly); code that reads
the verifier's own memory or file descriptors could forge its verdict message; an exercise's
properties observed inside the child (e.g. "writing through the result changes the input")
are only as trustworthy as that child.
"""

from .errors import CheckFailed, Tampering

__all__ = ["check", "CheckFailed", "Tampering"]


def __getattr__(name):
    """`check` imports torch: loaded on first use, so that the grading command, which never
    runs a check itself, starts without it."""
    if name == "check":
        from .runner import check
        return check
    raise AttributeError(f"module 'autograder' has no attribute {name!r}")

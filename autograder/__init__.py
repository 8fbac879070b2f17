"""Instructor-side grading for the PyTorch course.

Hidden test cells call ``autograder.check(exercise_id, candidate)``; it raises ``CheckFailed``
with a message naming the input, the expected and returned values and the likely mistake.
Student notebooks never import this package (they use ``course``).

Threat model (in the student's kernel)
--------------------------------------
Student code runs before the hidden tests, in the same Python process, and may (by accident or
on purpose) change that process. What the hidden checks defend against, and how:

- Rebinding names the tests could use: ``torch.allclose``, ``torch.equal``, methods of the
  Python class ``torch.Tensor`` (``__eq__``, ``sum``, ``tolist``...), NumPy functions, the
  ``course`` helpers. Checks never call them: references are computed in plain Python from the
  inputs, and tensors are read through torch's immutable C type ``TensorBase`` (``genuine``).
- Replacing builtins (``builtins.abs = ...``): the builtins the checks use are verified to be the
  real C functions before and after each check (``genuine.verify``) and pinned in the checking
  modules' globals; a replaced builtin is reported as ``Tampering`` and the exercise gets 0.
- Fake results: tensor subclasses (with ``__torch_function__`` or ``__eq__`` that make anything
  compare equal) and look-alike objects are rejected; only an exact ``torch.Tensor`` is read.
- Patched Hypothesis (property tests that silently do not run): the number of examples run is
  counted by the check itself.
- Edited, inserted or deleted test cells: nbgrader restores graded and read-only cells from the
  gradebook and re-adds deleted ones (``OverwriteCells.add_missing_cells`` in
  ``nbgrader_config.py``).
- Warnings on stderr (which make nbgrader score a cell 0): silenced while checking.

Not defended in the kernel: student code that imports ``autograder`` and patches it, replaces
modules in ``sys.modules``, uses ``ctypes`` or ``gc`` to reach the checks' own objects, reads the
solutions from disk, or exits the kernel. Those need the checks to run where student code
cannot reach them (a separate process, a sandbox); that is the grading command's job.
"""

from .errors import CheckFailed, Tampering
from .runner import check

__all__ = ["check", "CheckFailed", "Tampering"]

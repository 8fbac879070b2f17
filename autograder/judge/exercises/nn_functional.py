"""06_nn_functional: functional_net, cross_entropy, conv1d_output_length, tiny_cnn.

TODO: what the checks look at, and the readings of the contract they make.
"""

from ..declare import Assignment, Mistake, st  # noqa: F401

A = Assignment("06_nn_functional")


# =============================================================================================
# functional_net
# =============================================================================================

@A.exercise("functional_net", "class FunctionalNet(nn.Module)", cases=[None])
def functional_net(t, case):
    """TODO: the check (a table form, `A.tensor_function` / `A.module_class` / `A.module_function`, may say it all)."""
    raise NotImplementedError("the check of functional_net is not written yet (nn_functional.py)")


# =============================================================================================
# cross_entropy
# =============================================================================================

@A.exercise("cross_entropy", "def cross_entropy(logits, target)", cases=[None])
def cross_entropy(t, case):
    """TODO: the check (a table form, `A.tensor_function` / `A.module_class` / `A.module_function`, may say it all)."""
    raise NotImplementedError("the check of cross_entropy is not written yet (nn_functional.py)")


# =============================================================================================
# conv1d_output_length
# =============================================================================================

@A.exercise("conv1d_output_length", "def conv1d_output_length(length, kernel_size, stride=1, padding=0, dilation=1)", cases=[None])
def conv1d_output_length(t, case):
    """TODO: the check (a table form, `A.tensor_function` / `A.module_class` / `A.module_function`, may say it all)."""
    raise NotImplementedError("the check of conv1d_output_length is not written yet (nn_functional.py)")


# =============================================================================================
# tiny_cnn
# =============================================================================================

@A.exercise("tiny_cnn", "class TinyCNN(nn.Module)", cases=[None])
def tiny_cnn(t, case):
    """TODO: the check (a table form, `A.tensor_function` / `A.module_class` / `A.module_function`, may say it all)."""
    raise NotImplementedError("the check of tiny_cnn is not written yet (nn_functional.py)")

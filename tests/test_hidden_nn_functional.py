"""Gallery for the hidden checks of 06_nn_functional (autograder/judge/exercises/nn_functional.py):
correct solutions written the ways students write them pass, typical mistakes fail naming the
mistake (tests/judging.py defines the tests every gallery has)."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from judging import AlwaysEqual, failure_of, gallery_tests, rows, stub

pytestmark = pytest.mark.filterwarnings("ignore:The .grad attribute of a Tensor that is not a leaf")


# =============================================================================================
# functional_net
# =============================================================================================

class Functional(nn.Module):
    def __init__(self, in_features, hidden_features, out_features):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.fc2 = nn.Linear(hidden_features, out_features)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


def net_with(forward):
    return type("FunctionalNet", (Functional,), {"forward": forward})


class FcSecondFirst(nn.Module):
    def __init__(self, in_features, hidden_features, out_features):
        super().__init__()
        self.fc2 = nn.Linear(hidden_features, out_features)
        self.fc1 = nn.Linear(in_features, hidden_features)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


class WithReluChild(Functional):
    def __init__(self, in_features, hidden_features, out_features):
        super().__init__(in_features, hidden_features, out_features)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class WithSequential(nn.Module):
    def __init__(self, in_features, hidden_features, out_features):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_features, hidden_features), nn.ReLU(),
                                 nn.Linear(hidden_features, out_features))

    def forward(self, x):
        return self.net(x)


class NoSuper(nn.Module):
    def __init__(self, in_features, hidden_features, out_features):
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.fc2 = nn.Linear(hidden_features, out_features)


class Unsqueezes(Functional):
    def forward(self, x):
        x = x.unsqueeze(0) if x.dim() == 1 else x
        return self.fc2(F.relu(self.fc1(x)))


FUNCTIONAL_NET_OK = [
    ("F.relu", Functional),
    ("torch.relu", net_with(lambda self, x: self.fc2(torch.relu(self.fc1(x))))),
    ("method relu", net_with(lambda self, x: self.fc2(self.fc1(x).relu()))),
    ("clamp", net_with(lambda self, x: self.fc2(self.fc1(x).clamp(min=0)))),
    ("F.relu inplace on a new tensor", net_with(lambda self, x: self.fc2(F.relu(self.fc1(x), inplace=True)))),
    ("maximum", net_with(lambda self, x: self.fc2(torch.maximum(self.fc1(x), torch.zeros_like(self.fc1(x)))))),
    ("F.linear with the weights", net_with(
        lambda self, x: F.linear(F.relu(F.linear(x, self.fc1.weight, self.fc1.bias)), self.fc2.weight, self.fc2.bias))),
    ("fc2 assigned first", FcSecondFirst),
    ("where", net_with(lambda self, x: self.fc2(torch.where(self.fc1(x) > 0, self.fc1(x), 0.0)))),
]

FUNCTIONAL_NET_WRONG = [
    ("stub", stub, "NotImplementedError"),
    ("nn.ReLU child", WithReluChild, "not held as a child"),
    ("in a Sequential", WithSequential, "inside a container"),
    ("no ReLU", net_with(lambda self, x: self.fc2(self.fc1(x))), "no ReLU between the layers"),
    ("ReLU after fc2", net_with(lambda self, x: F.relu(self.fc2(F.relu(self.fc1(x))))), "ReLU is applied after fc2"),
    ("softmax at the end", net_with(lambda self, x: F.softmax(self.fc2(F.relu(self.fc1(x))), dim=-1)),
     "a softmax is applied to the output"),
    ("sigmoid", net_with(lambda self, x: self.fc2(torch.sigmoid(self.fc1(x)))), "a sigmoid, not ReLU"),
    ("no super().__init__()", NoSuper, "super().__init__()"),
    ("unsqueezes one sample", Unsqueezes, "do not add a batch dimension"),
    ("F.dropout left in", net_with(lambda self, x: self.fc2(F.dropout(F.relu(self.fc1(x)), 0.5))), "different outputs"),
]


# =============================================================================================
# cross_entropy
# =============================================================================================

def ce_logsumexp(logits, target):
    return (torch.logsumexp(logits, 1) - logits[torch.arange(len(target)), target]).mean()


def ce_log_softmax(logits, target):
    return F.nll_loss(F.log_softmax(logits, dim=1), target)


def ce_builtin(logits, target):
    return F.cross_entropy(logits, target)


def ce_module(logits, target):
    return nn.CrossEntropyLoss()(logits, target)


def ce_one_hot(logits, target):
    lp = logits.log_softmax(-1)
    return -(F.one_hot(target, logits.shape[1]).to(logits.dtype) * lp).sum(1).mean()


def ce_gather(logits, target):
    m = logits.max(1, keepdim=True).values.detach()
    lse = m.squeeze(1) + (logits - m).exp().sum(1).log()
    return (lse - logits.gather(1, target[:, None]).squeeze(1)).sum() / logits.shape[0]


def ce_loop(logits, target):
    total = 0
    for row, t in zip(logits, target):
        total = total + torch.logsumexp(row, 0) - row[t]
    return total / len(target)


def ce_amax(logits, target):
    shifted = logits - logits.amax(dim=1, keepdim=True)
    log_probs = shifted - torch.log(torch.exp(shifted).sum(dim=1, keepdim=True))
    return -log_probs[range(len(target)), target].mean()


def ce_softmax_first(logits, target):
    return F.cross_entropy(torch.softmax(logits, 1), target)


def ce_naive(logits, target):
    p = torch.exp(logits) / torch.exp(logits).sum(1, keepdim=True)
    return -torch.log(p[torch.arange(len(target)), target]).mean()


def ce_log_of_softmax(logits, target):
    p = torch.softmax(logits, 1)
    return -torch.log(p[torch.arange(len(target)), target]).mean()


def ce_sum(logits, target):
    return F.cross_entropy(logits, target, reduction="sum")


def ce_one_element(logits, target):
    return F.cross_entropy(logits, target).reshape(1)


def ce_target_matrix(logits, target):
    return -F.log_softmax(logits, 1)[:, target].mean()


def ce_all_classes(logits, target):
    return -F.log_softmax(logits, 1).mean()


def ce_per_sample(logits, target):
    return F.cross_entropy(logits, target, reduction="none")


def ce_item(logits, target):
    return torch.tensor(F.cross_entropy(logits, target).item(), dtype=logits.dtype, device=logits.device)


def ce_float(logits, target):
    return F.cross_entropy(logits, target).item()


def ce_no_log(logits, target):
    return -torch.softmax(logits, 1)[torch.arange(len(target)), target].mean()


CROSS_ENTROPY_OK = [
    ("logsumexp", ce_logsumexp),
    ("log_softmax + nll_loss", ce_log_softmax),
    ("F.cross_entropy", ce_builtin),
    ("nn.CrossEntropyLoss", ce_module),
    ("one_hot", ce_one_hot),
    ("gather, max detached, sum / N", ce_gather),
    ("a loop over rows", ce_loop),
    ("amax and range indexing", ce_amax),
]

CROSS_ENTROPY_WRONG = [
    ("stub", stub, "NotImplementedError"),
    ("softmax first", ce_softmax_first, "softmax was applied to the logits before the loss"),
    ("naive exp", ce_naive, "exp(x) overflows"),
    ("log of softmax", ce_log_of_softmax, "log(0) is -inf"),
    ("sum", ce_sum, "summed"),
    ("shape (1,)", ce_one_element, "shape (1,), a 1-element tensor"),
    ("target matrix", ce_target_matrix, "log_probs[:, target]"),
    ("all classes", ce_all_classes, "every class"),
    ("per-sample losses", ce_per_sample, "one loss per sample"),
    ("through .item()", ce_item, "does not require grad"),
    ("a Python float", ce_float, "Python float"),
    ("no log", ce_no_log, "without the log"),
]


# =============================================================================================
# conv1d_output_length
# =============================================================================================

def length_formula(length, kernel_size, stride=1, padding=0, dilation=1):
    return (length + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1


def length_int_div(length, kernel_size, stride=1, padding=0, dilation=1):
    return int((length + 2 * padding - dilation * (kernel_size - 1) - 1) / stride) + 1


def length_floor(length, kernel_size, stride=1, padding=0, dilation=1):
    return math.floor((length + 2 * padding - dilation * (kernel_size - 1) - 1) / stride) + 1


def length_torch(length, kernel_size, stride=1, padding=0, dilation=1):
    conv = nn.Conv1d(1, 1, kernel_size, stride=stride, padding=padding, dilation=dilation)
    return conv(torch.zeros(1, 1, length)).shape[-1]


def length_meta(length, kernel_size, stride=1, padding=0, dilation=1):
    w = torch.empty(1, 1, kernel_size, device="meta")
    return F.conv1d(torch.empty(1, 1, length, device="meta"), w, stride=stride, padding=padding,
                    dilation=dilation).shape[2]


def length_range(length, kernel_size, stride=1, padding=0, dilation=1):
    span = dilation * (kernel_size - 1) + 1
    return len(range(0, length + 2 * padding - span + 1, stride))


def length_divmod(length, kernel_size, stride=1, padding=0, dilation=1):
    q, _ = divmod(length + 2 * padding - dilation * (kernel_size - 1) - 1, stride)
    return q + 1


def length_ceil_form(length, kernel_size, stride=1, padding=0, dilation=1):
    return -(-(length + 2 * padding - dilation * (kernel_size - 1)) // stride)


CONV1D_OUTPUT_LENGTH_OK = [
    ("formula", length_formula),
    ("int of a true division", length_int_div),
    ("math.floor", length_floor),
    ("run nn.Conv1d", length_torch),
    ("F.conv1d on meta", length_meta),
    ("len(range(...))", length_range),
    ("divmod", length_divmod),
    ("ceil of (padded - span + 1) / s", length_ceil_form),
]


def wrong_length(formula):
    def conv1d_output_length(length, kernel_size, stride=1, padding=0, dilation=1):
        return formula(length, kernel_size, stride, padding, dilation)
    return conv1d_output_length


CONV1D_OUTPUT_LENGTH_WRONG = [
    ("stub", stub, "NotImplementedError"),
    ("true division", wrong_length(lambda L, k, s, p, d: (L + 2 * p - d * (k - 1) - 1) / s + 1), "use integer division //"),
    ("no dilation", wrong_length(lambda L, k, s, p, d: (L + 2 * p - k) // s + 1), "dilation is left out"),
    ("d * k", wrong_length(lambda L, k, s, p, d: (L + 2 * p - d * k) // s + 1), "not d * k"),
    ("padding once", wrong_length(lambda L, k, s, p, d: (L + p - d * (k - 1) - 1) // s + 1), "padding is counted once"),
    ("+1 forgotten", wrong_length(lambda L, k, s, p, d: (L + 2 * p - d * (k - 1) - 1) // s), "the + 1 is missing"),
    ("-1 forgotten", wrong_length(lambda L, k, s, p, d: (L + 2 * p - d * (k - 1)) // s + 1), "the - 1 is missing"),
    ("math.ceil", wrong_length(lambda L, k, s, p, d: math.ceil((L + 2 * p - d * (k - 1) - 1) / s) + 1), "rounds up"),
    ("round", wrong_length(lambda L, k, s, p, d: round((L + 2 * p - d * (k - 1) - 1) / s) + 1), "nearest integer"),
    ("stride ignored", wrong_length(lambda L, k, s, p, d: L + 2 * p - d * (k - 1)), "the stride is left out"),
    ("a tensor", wrong_length(lambda L, k, s, p, d: torch.tensor((L + 2 * p - d * (k - 1) - 1) // s + 1)),
     "return a Python int"),
    ("numpy", wrong_length(lambda L, k, s, p, d: np.int64((L + 2 * p - d * (k - 1) - 1) // s + 1)), "NumPy"),
]


# =============================================================================================
# tiny_cnn
# =============================================================================================

class Cnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 20, 5), nn.ReLU(), nn.Conv2d(20, 64, 5), nn.ReLU())
        self.fc1 = nn.Linear(64 * 4 * 4, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(self.features(x).flatten(1))))


def cnn_with(forward):
    return type("TinyCNN", (Cnn,), {"forward": forward})


class CnnWithFlatten(Cnn):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.act = nn.ReLU()

    def forward(self, x):
        return self.fc2(self.act(self.fc1(self.flatten(self.features(x)))))


class CnnInplace(Cnn):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 20, 5), nn.ReLU(inplace=True), nn.Conv2d(20, 64, 5),
                                      nn.ReLU(inplace=True))


class CnnNamedLayers(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 5)
        self.conv2 = nn.Conv2d(20, 64, 5)
        self.fc1 = nn.Linear(1024, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv2(F.relu(self.conv1(x))))
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


class CnnHeadFirst(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(1024, 128)
        self.fc2 = nn.Linear(128, 10)
        self.features = nn.Sequential(nn.Conv2d(1, 20, 5), nn.ReLU(), nn.Conv2d(20, 64, 5), nn.ReLU())

    forward = Cnn.forward


class CnnNoFeatureRelu(Cnn):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 20, 5), nn.ReLU(), nn.Conv2d(20, 64, 5))


class CnnWrongFc1(Cnn):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(64 * 8 * 8, 128)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(F.pad(self.features(x), (2, 2, 2, 2)).flatten(1))))


TINY_CNN_OK = [
    ("flatten(1)", Cnn),
    ("view(size(0), -1)", cnn_with(lambda self, x: self.fc2(F.relu(self.fc1(self.features(x).view(x.size(0), -1)))))),
    ("reshape(len(x), -1)", cnn_with(lambda self, x: self.fc2(F.relu(self.fc1(self.features(x).reshape(len(x), -1)))))),
    ("view(-1, 1024)", cnn_with(lambda self, x: self.fc2(torch.relu(self.fc1(self.features(x).view(-1, 64 * 4 * 4)))))),
    ("torch.flatten start_dim=1", cnn_with(lambda self, x: self.fc2(self.fc1(torch.flatten(self.features(x), 1)).clamp(min=0)))),
    ("nn.Flatten and nn.ReLU children", CnnWithFlatten),
    ("inplace ReLUs in the features", CnnInplace),
    ("contiguous().view", cnn_with(lambda self, x: self.fc2(F.relu(self.fc1(self.features(x).contiguous().view(x.shape[0], 1024)))))),
]

TINY_CNN_WRONG = [
    ("stub", stub, "NotImplementedError"),
    ("softmax at the end", cnn_with(lambda self, x: F.softmax(Cnn.forward(self, x), dim=1)), "a softmax is applied at the end"),
    ("log_softmax at the end", cnn_with(lambda self, x: F.log_softmax(Cnn.forward(self, x), dim=1)), "a log-softmax"),
    ("ReLU after fc2", cnn_with(lambda self, x: F.relu(Cnn.forward(self, x))), "a ReLU is applied after fc2"),
    ("no ReLU in the head", cnn_with(lambda self, x: self.fc2(self.fc1(self.features(x).flatten(1)))),
     "no ReLU between fc1 and fc2"),
    ("no flatten", cnn_with(lambda self, x: self.fc2(F.relu(self.fc1(self.features(x))))), "Flatten each sample"),
    ("flatten() swallows the batch", cnn_with(lambda self, x: self.fc2(F.relu(self.fc1(self.features(x).flatten())))),
     "Flatten each sample"),
    ("channels-last flatten", cnn_with(
        lambda self, x: self.fc2(F.relu(self.fc1(self.features(x).permute(0, 2, 3, 1).reshape(len(x), -1))))),
     "channels last"),
    ("squeeze", cnn_with(lambda self, x: Cnn.forward(self, x).squeeze()), "batch of one"),
    ("conv layers named conv1, conv2", CnnNamedLayers, "one nn.Sequential"),
    ("head assigned first", CnnHeadFirst, "in the order the layers are assigned"),
    ("features end without ReLU", CnnNoFeatureRelu, "without a ReLU after the second Conv2d"),
    ("fc1 of the wrong size", CnnWrongFc1, "64 * 4 * 4 = 1024"),
]


CORRECT = (rows("functional_net", FUNCTIONAL_NET_OK) + rows("cross_entropy", CROSS_ENTROPY_OK)
           + rows("conv1d_output_length", CONV1D_OUTPUT_LENGTH_OK) + rows("tiny_cnn", TINY_CNN_OK))
WRONG = (rows("functional_net", FUNCTIONAL_NET_WRONG) + rows("cross_entropy", CROSS_ENTROPY_WRONG)
         + rows("conv1d_output_length", CONV1D_OUTPUT_LENGTH_WRONG) + rows("tiny_cnn", TINY_CNN_WRONG))

gallery_tests(globals(), "06_nn_functional", CORRECT, WRONG)


# --------------------------------------------------------------------------- own regressions

def test_a_tensor_that_agrees_with_anything_is_tampering():
    def cheat(logits, target):
        return F.cross_entropy(logits, target).as_subclass(AlwaysEqual)
    result = failure_of("cross_entropy", cheat)
    assert "Tampering detected" in result["message"] or result["status"] != "pass"


def test_the_judges_two_references_agree_on_the_grid():
    from autograder.judge.exercises.nn_functional import conv_length, conv_length_by_torch, grid
    settings = grid()
    assert len(settings) > 80
    for setting in settings:
        assert conv_length(*setting) == conv_length_by_torch(*setting) == length_torch(*setting)


def ce_in_place(logits, target):
    logits -= logits.max(dim=1, keepdim=True).values
    return -(logits - logits.exp().sum(1, keepdim=True).log())[torch.arange(len(target)), target].mean()


def test_logits_changed_in_place_are_named():
    result = failure_of("cross_entropy", ce_in_place)
    assert result["status"] == "fail" and "in place" in result["message"], result["message"]


def test_a_large_module_is_described_by_its_weight_shapes():
    """tables.module_class(show_weights=False), added for TinyCNN: messages name the shapes of the
    net's weights, not their 165,000 values; the default still prints the values."""
    from autograder.judge.tables import forward_context
    w = {"fc.weight": torch.ones(2, 3, dtype=torch.float64), "fc.bias": torch.zeros(2, dtype=torch.float64)}
    short = forward_context("TinyCNN()", ([1.0, 2.0, 3.0],), w, show_weights=False)
    assert "net.fc.weight: shape (2, 3)" in short and "net.fc.bias: shape (2,)" in short and "[1, 1, 1]" not in short
    full = forward_context("TinyCNN()", ([1.0, 2.0, 3.0],), w)
    assert "net.fc.weight = [[1, 1, 1], [1, 1, 1]]" in full


def test_a_tiny_cnn_message_stays_short():
    result = failure_of("tiny_cnn", dict(TINY_CNN_WRONG_BY_NAME)["softmax at the end"])
    assert len(result["message"]) < 20_000 and "shape (128, 1024)" in result["message"], result["message"][:3000]


TINY_CNN_WRONG_BY_NAME = [(name, fn) for name, fn, _ in TINY_CNN_WRONG]

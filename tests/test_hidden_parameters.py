"""Gallery for the hidden checks of 05_parameters (autograder/judge/exercises/parameters.py).

1. Alternative correct solutions, written the ways students write them: every one must pass.
2. Wrong solutions of the kinds students write: every one must fail (not as tampering: an
   honest mistake is not cheating), and the message must name the mistake.
3. Answers only a cheat sends (tensor subclasses, look-alikes).

Inputs are never built here: the judge generates them (hand-picked cases, then Hypothesis).
Every test runs twice: with Hypothesis drawing the examples, and with the examples recorded
once and replayed (as in the judge server's forks); both must agree. Attacks on the grader
itself run against real processes in test_tampering.py.
"""

import itertools

import pytest
import torch
from torch import nn

from judging import AlwaysEqual, failure_of, gallery_tests, rows, stub


class Stub(nn.Module):
    """The release's stub: the constructor is not written yet."""

    def __init__(self, *args, **kwargs):
        raise NotImplementedError()


# =============================================================================================
# standardize
# =============================================================================================

class StdRegister(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, x):
        return (x - self.mean) / self.std


class StdBufferClone(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.mean = nn.Buffer(mean.clone())
        self.std = nn.Buffer(std.clone())

    def forward(self, x):
        return (x - self.mean) * self.std.reciprocal()


class StdBuffer(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.mean = nn.Buffer(mean)
        self.std = nn.Buffer(std)

    def forward(self, x):
        return torch.div(torch.sub(x, self.mean), self.std)


class StdDetachClone(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", mean.detach().clone())
        self.register_buffer("std", std.detach().clone())

    def forward(self, x):
        return x.sub(self.mean).div(self.std)


class StdLoop(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.num_features = mean.shape[0]
        for name, value in (("mean", mean), ("std", std)):
            self.register_buffer(name, torch.as_tensor(value))

    def forward(self, x):
        return (x - self.mean) / self.std


class StdNoneThenAssign(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", None)
        self.register_buffer("std", None)
        self.mean = mean            # a name registered as a buffer stays a buffer
        self.std = std

    def forward(self, x):
        return (x - self.mean) / self.std


class StdInverseBuffer(nn.Module):
    """An extra, non-persistent helper buffer: allowed (the contract names mean and std)."""

    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.register_buffer("inv_std", 1 / std, persistent=False)

    def forward(self, x):
        return (x - self.mean) * self.inv_std


class StdBroadcastExplicit(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, x):
        return (x - self.mean[None, :]) / self.std.unsqueeze(0)


class StdFunctional(nn.Module):
    def __init__(self, mean, std):
        nn.Module.__init__(self)
        self.register_buffer("mean", mean.clone())
        self.register_buffer("std", std.clone())

    def forward(self, x):
        return torch.addcdiv(torch.zeros_like(x), x - self.mean, self.std)


STANDARDIZE_OK = [
    ("register_buffer", StdRegister),
    ("nn_Buffer_clone_reciprocal", StdBufferClone),
    ("nn_Buffer_torch_div_sub", StdBuffer),
    ("detach_clone", StdDetachClone),
    ("loop_as_tensor", StdLoop),
    ("register_None_then_assign", StdNoneThenAssign),
    ("extra_non_persistent_inverse", StdInverseBuffer),
    ("explicit_broadcast", StdBroadcastExplicit),
    ("addcdiv", StdFunctional),
]


class StdPlain(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.mean = mean
        self.std = std

    def forward(self, x):
        return (x - self.mean) / self.std


class StdParameter(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.mean = nn.Parameter(mean)
        self.std = nn.Parameter(std)

    def forward(self, x):
        return (x - self.mean) / self.std


class StdFrozenParameter(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.mean = nn.Parameter(mean, requires_grad=False)
        self.std = nn.Parameter(std, requires_grad=False)

    def forward(self, x):
        return (x - self.mean) / self.std


class StdNonPersistent(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", std, persistent=False)

    def forward(self, x):
        return (x - self.mean) / self.std


class StdSwapped(StdRegister):
    def forward(self, x):
        return (x - self.std) / self.mean


class StdPrecedence(StdRegister):
    def forward(self, x):
        return x - self.mean / self.std


class StdBatchStats(StdRegister):
    def forward(self, x):
        return (x - x.mean(0)) / x.std(0)


class StdMultiplies(StdRegister):
    def forward(self, x):
        return (x - self.mean) * self.std


class StdFloat(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", mean.float())
        self.register_buffer("std", std.float())

    def forward(self, x):
        return (x - self.mean) / self.std


class StdFromList(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean.tolist()))
        self.register_buffer("std", torch.tensor(std.tolist()))

    def forward(self, x):
        return (x - self.mean.to(x.device)) / self.std.to(x.device)


class StdOtherNames(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mu", mean)
        self.register_buffer("sigma", std)

    def forward(self, x):
        return (x - self.mu) / self.sigma


class StdInADict(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.stats = {"mean": mean, "std": std}

    def forward(self, x):
        return (x - self.stats["mean"]) / self.stats["std"]


class StdNoSuperInit(nn.Module):
    def __init__(self, mean, std):
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, x):
        return (x - self.mean) / self.std


class StdEps(StdRegister):
    def forward(self, x):
        return (x - self.mean) / (self.std + 1e-5)


class StdChangesBuffer(StdRegister):
    def forward(self, x):
        self.std.clamp_(min=1.0)       # "to avoid dividing by small numbers"
        return (x - self.mean) / self.std


STANDARDIZE_WRONG = [
    ("plain_tensor_attributes", StdPlain, "plain tensor attribute"),
    ("parameters", StdParameter, "registered as an nn.Parameter"),
    ("frozen_parameters", StdFrozenParameter, "registered as an nn.Parameter"),
    ("persistent_false", StdNonPersistent, "persistent=False"),
    ("mean_and_std_swapped", StdSwapped, "swapped mean and std"),
    ("operator_precedence", StdPrecedence, "operator precedence"),
    ("batch_statistics", StdBatchStats, "batch's own statistics"),
    ("multiplies_by_std", StdMultiplies, "multiplied by std"),
    ("dot_float_on_float64", StdFloat, "dtype float32, expected float64"),
    ("new_tensor_from_list", StdFromList, "dtype float32, expected float64"),
    ("other_names", StdOtherNames, "holds no tensor named `mean`"),
    ("stats_in_a_dict", StdInADict, "holds no tensor named `mean`"),
    ("no_super_init", StdNoSuperInit, "super().__init__()"),
    ("eps_added", StdEps, "eps"),
    ("forward_changes_a_buffer", StdChangesBuffer, "forward changed the buffer std"),
    ("stub", Stub, "NotImplementedError"),
]


# =============================================================================================
# scale_shift
# =============================================================================================

class SsRight(nn.Module):
    def __init__(self, num_features):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(num_features))
        self.beta = nn.Parameter(torch.zeros(num_features))

    def forward(self, x):
        return x * self.gamma + self.beta


class SsRegisterAddcmul(nn.Module):
    def __init__(self, num_features):
        super().__init__()
        self.register_parameter("gamma", nn.Parameter(torch.full((num_features,), 1.0)))
        self.register_parameter("beta", nn.Parameter(torch.zeros(num_features)))

    def forward(self, x):
        return torch.addcmul(self.beta, x, self.gamma)


class SsInit(nn.Module):
    def __init__(self, num_features):
        super().__init__()
        self.num_features = num_features
        self.gamma = nn.Parameter(torch.empty(num_features))
        self.beta = nn.Parameter(torch.empty(num_features))
        nn.init.ones_(self.gamma)
        nn.init.zeros_(self.beta)

    def forward(self, x):
        return self.beta + self.gamma * x


class SsMulAdd(nn.Module):
    def __init__(self, num_features):
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(num_features, requires_grad=True))
        self.beta = nn.Parameter(torch.zeros(num_features))

    def forward(self, x):
        return x.mul(self.gamma).add(self.beta)


class SsTorchAdd(SsRight):
    def forward(self, x):
        return torch.add(torch.mul(x, self.gamma), self.beta)


class SsLikeOnes(nn.Module):
    def __init__(self, num_features):
        super().__init__()
        weight = torch.zeros(num_features)
        self.gamma = nn.Parameter(torch.ones_like(weight))
        self.beta = nn.Parameter(weight)

    def forward(self, x):
        return x * self.gamma.expand_as(x) + self.beta.expand_as(x)


class SsNewOnes(nn.Module):
    def __init__(self, num_features):
        super().__init__()
        self.beta = nn.Parameter(torch.zeros(num_features))
        self.gamma = nn.Parameter(self.beta.detach().new_ones(num_features))

    def forward(self, x):
        return x * self.gamma + self.beta


class SsNoneIndex(SsRight):
    def forward(self, x):
        shape = (1,) * (x.dim() - 1) + (-1,)
        return x * self.gamma.view(shape) + self.beta.view(shape)


class SsParameterFromData(nn.Module):
    def __init__(self, num_features):
        super().__init__()
        self.gamma = nn.Parameter(data=torch.ones(num_features), requires_grad=True)
        self.beta = nn.Parameter(data=torch.zeros(num_features), requires_grad=True)

    def forward(self, x):
        return torch.addcmul(self.beta, self.gamma, x)


SCALE_SHIFT_OK = [
    ("nn_Parameter", SsRight),
    ("register_parameter_addcmul", SsRegisterAddcmul),
    ("init_ones_zeros", SsInit),
    ("mul_add_methods", SsMulAdd),
    ("torch_add_mul", SsTorchAdd),
    ("ones_like_expand_as", SsLikeOnes),
    ("new_ones", SsNewOnes),
    ("view_for_any_rank", SsNoneIndex),
    ("parameter_data_keyword", SsParameterFromData),
]


class SsPlain(SsRight):
    def __init__(self, num_features):
        nn.Module.__init__(self)
        self.gamma = torch.ones(num_features, requires_grad=True)
        self.beta = torch.zeros(num_features, requires_grad=True)


class SsBuffers(SsRight):
    def __init__(self, num_features):
        nn.Module.__init__(self)
        self.register_buffer("gamma", torch.ones(num_features))
        self.register_buffer("beta", torch.zeros(num_features))


class SsFrozen(SsRight):
    def __init__(self, num_features):
        nn.Module.__init__(self)
        self.gamma = nn.Parameter(torch.ones(num_features), requires_grad=False)
        self.beta = nn.Parameter(torch.zeros(num_features), requires_grad=False)


class SsSwappedInit(SsRight):
    def __init__(self, num_features):
        nn.Module.__init__(self)
        self.gamma = nn.Parameter(torch.zeros(num_features))
        self.beta = nn.Parameter(torch.ones(num_features))


class SsRandomInit(SsRight):
    def __init__(self, num_features):
        nn.Module.__init__(self)
        seeded = torch.Generator().manual_seed(0)   # random, but the same in both runs of the test
        self.gamma = nn.Parameter(torch.randn(num_features, generator=seeded))
        self.beta = nn.Parameter(torch.randn(num_features, generator=seeded))


class SsNoBeta(SsRight):
    def forward(self, x):
        return x * self.gamma


class SsShiftFirst(SsRight):
    def forward(self, x):
        return (x + self.beta) * self.gamma


class SsData(SsRight):
    def forward(self, x):
        return x * self.gamma.data + self.beta.data


class SsDetach(SsRight):
    def forward(self, x):
        return x * self.gamma.detach() + self.beta


class SsRowShape(SsRight):
    def __init__(self, num_features):
        nn.Module.__init__(self)
        self.gamma = nn.Parameter(torch.ones(1, num_features))
        self.beta = nn.Parameter(torch.zeros(1, num_features))


class SsSwappedForward(SsRight):
    def forward(self, x):
        return x * self.beta + self.gamma


class SsParameterList(nn.Module):
    def __init__(self, num_features):
        super().__init__()
        self.params = nn.ParameterList([torch.ones(num_features), torch.zeros(num_features)])

    def forward(self, x):
        return x * self.params[0] + self.params[1]


class SsFloat(SsRight):
    def forward(self, x):
        return (x * self.gamma + self.beta).float()


class SsNoSuper(SsRight):
    def __init__(self, num_features):
        self.gamma = nn.Parameter(torch.ones(num_features))
        self.beta = nn.Parameter(torch.zeros(num_features))


SCALE_SHIFT_WRONG = [
    ("plain_tensors", SsPlain, "plain tensor attribute"),
    ("buffers", SsBuffers, "is a buffer"),
    ("frozen", SsFrozen, "requires_grad=False"),
    ("init_swapped", SsSwappedInit, "did you swap them"),
    ("random_init", SsRandomInit, "the initial gamma has the wrong values"),
    ("forgot_beta", SsNoBeta, "forgot beta"),
    ("shift_then_scale", SsShiftFirst, "added beta before scaling"),
    ("dot_data_in_forward", SsData, "No gradient reached gamma"),
    ("detach_in_forward", SsDetach, "No gradient reached gamma"),
    ("shape_1_by_F", SsRowShape, "must have shape"),
    ("gamma_beta_swapped_in_forward", SsSwappedForward, "swapped gamma and beta"),
    ("parameter_list", SsParameterList, "holds no tensor named `gamma`"),
    ("dot_float_on_float64", SsFloat, "dtype float32, expected float64"),
    ("no_super_init", SsNoSuper, "super().__init__()"),
    ("stub", Stub, "NotImplementedError"),
]


# =============================================================================================
# running_mean
# =============================================================================================

class RmInPlace(nn.Module):
    def __init__(self, num_features, momentum=0.1):
        super().__init__()
        self.momentum = momentum
        self.register_buffer("running_mean", torch.zeros(num_features))

    def forward(self, x):
        if self.training:
            m = x.mean(dim=0)
            with torch.no_grad():
                self.running_mean.mul_(1 - self.momentum).add_(self.momentum * m)
            return x - m
        return x - self.running_mean


class RmRebindDetach(RmInPlace):
    def forward(self, x):
        if not self.training:
            return x - self.running_mean
        m = x.mean(0)
        self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * m.detach()
        return x - m


class RmLerp(RmInPlace):
    def forward(self, x):
        m = x.mean(0)
        if self.training:
            self.running_mean.lerp_(m.detach(), self.momentum)
            return x - m
        return x - self.running_mean


class RmRebindNoGrad(RmInPlace):
    def forward(self, x):
        if self.training:
            m = x.mean(0)
            with torch.no_grad():
                self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * m
            return x - m
        return x - self.running_mean


class RmCopy(RmInPlace):
    def forward(self, x):
        if self.training:
            m = x.sum(0) / x.shape[0]
            self.running_mean.copy_((1 - self.momentum) * self.running_mean + self.momentum * m.detach())
            return x - m
        return x - self.running_mean


class RmDataAssign(RmInPlace):
    def forward(self, x):
        if self.training:
            m = x.mean(0)
            self.running_mean.data = (1 - self.momentum) * self.running_mean.data + self.momentum * m.data
            return x - m
        return x - self.running_mean


class RmBufferAttr(nn.Module):
    def __init__(self, num_features, momentum=0.1):
        super().__init__()
        self.running_mean = nn.Buffer(torch.zeros(num_features))
        self.momentum = float(momentum)

    @torch.no_grad()
    def _update(self, m):
        self.running_mean.mul_(1 - self.momentum).add_(m, alpha=self.momentum)

    def forward(self, x):
        if self.training:
            m = x.mean(0)
            self._update(m)
            return x - m
        return x - self.running_mean


class RmSeparateStat(RmInPlace):
    def forward(self, x):
        if not self.training:
            return x - self.running_mean
        with torch.no_grad():
            batch = x.mean(0)
            self.running_mean *= 1 - self.momentum
            self.running_mean += self.momentum * batch
        return x - x.mean(0, keepdim=True)


class RmAlphaAdd(RmInPlace):
    def forward(self, x):
        if self.training:
            m = x.mean(0)
            self.running_mean.mul_(1 - self.momentum).add_(m.detach(), alpha=self.momentum)
            return x.sub(m)
        return x.sub(self.running_mean)


RUNNING_MEAN_OK = [
    ("in_place_under_no_grad", RmInPlace),
    ("rebind_from_detached", RmRebindDetach),
    ("lerp_", RmLerp),
    ("rebind_under_no_grad", RmRebindNoGrad),
    ("copy_", RmCopy),
    ("assign_data", RmDataAssign),
    ("nn_Buffer_and_no_grad_method", RmBufferAttr),
    ("augmented_assignment", RmSeparateStat),
    ("add_alpha", RmAlphaAdd),
]


class RmPlain(RmInPlace):
    def __init__(self, num_features, momentum=0.1):
        nn.Module.__init__(self)
        self.momentum = momentum
        self.running_mean = torch.zeros(num_features)


class RmParameter(RmInPlace):
    def __init__(self, num_features, momentum=0.1):
        nn.Module.__init__(self)
        self.momentum = momentum
        self.running_mean = nn.Parameter(torch.zeros(num_features), requires_grad=False)


class RmNonPersistent(RmInPlace):
    def __init__(self, num_features, momentum=0.1):
        nn.Module.__init__(self)
        self.momentum = momentum
        self.register_buffer("running_mean", torch.zeros(num_features), persistent=False)


class RmUpdatesInEval(RmInPlace):
    def forward(self, x):
        m = x.mean(0)
        with torch.no_grad():
            self.running_mean.mul_(1 - self.momentum).add_(self.momentum * m)
        return x - m if self.training else x - self.running_mean


class RmHistory(RmInPlace):
    def forward(self, x):
        if self.training:
            m = x.mean(0)
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * m
            return x - m
        return x - self.running_mean


class RmInPlaceHistory(RmInPlace):
    def forward(self, x):
        if self.training:
            m = x.mean(0)
            self.running_mean.mul_(1 - self.momentum).add_(self.momentum * m)
            return x - m
        return x - self.running_mean


class RmDetached(RmInPlace):
    def forward(self, x):
        if self.training:
            m = x.mean(0).detach()
            self.running_mean.mul_(1 - self.momentum).add_(self.momentum * m)
            return x - m
        return x - self.running_mean


class RmAllNoGrad(RmInPlace):
    @torch.no_grad()
    def forward(self, x):
        return super().forward(x)


class RmFixedMomentum(RmInPlace):
    def forward(self, x):
        if self.training:
            m = x.mean(0)
            with torch.no_grad():
                self.running_mean.mul_(0.9).add_(0.1 * m)
            return x - m
        return x - self.running_mean


class RmSwappedWeights(RmInPlace):
    def forward(self, x):
        if self.training:
            m = x.mean(0)
            with torch.no_grad():
                self.running_mean.mul_(self.momentum).add_((1 - self.momentum) * m)
            return x - m
        return x - self.running_mean


class RmReturnsRunning(RmInPlace):
    def forward(self, x):
        if self.training:
            with torch.no_grad():
                self.running_mean.mul_(1 - self.momentum).add_(self.momentum * x.mean(0))
        return x - self.running_mean


class RmBatchMeanInEval(RmInPlace):
    def forward(self, x):
        m = x.mean(0)
        if self.training:
            with torch.no_grad():
                self.running_mean.mul_(1 - self.momentum).add_(self.momentum * m)
        return x - m


class RmFeatureMean(RmInPlace):
    def forward(self, x):
        if self.training:
            m = x.mean(1)
            with torch.no_grad():
                self.running_mean.mul_(1 - self.momentum).add_(self.momentum * m)
            return x - m
        return x - self.running_mean


class RmNoMomentumAttribute(RmInPlace):
    def __init__(self, num_features, momentum=0.1):
        nn.Module.__init__(self)
        self.m = momentum
        self.register_buffer("running_mean", torch.zeros(num_features))

    def forward(self, x):
        if self.training:
            m = x.mean(0)
            with torch.no_grad():
                self.running_mean.mul_(1 - self.m).add_(self.m * m)
            return x - m
        return x - self.running_mean


class RmOnesInit(RmInPlace):
    def __init__(self, num_features, momentum=0.1):
        nn.Module.__init__(self)
        self.momentum = momentum
        self.register_buffer("running_mean", torch.ones(num_features))


class RmOwnFlag(RmInPlace):
    """Keeps its own flag instead of the module's: eval() does not reach it."""

    def __init__(self, num_features, momentum=0.1):
        super().__init__(num_features, momentum)
        self.is_training = True

    def forward(self, x):
        if self.is_training:
            m = x.mean(0)
            with torch.no_grad():
                self.running_mean.mul_(1 - self.momentum).add_(self.momentum * m)
            return x - m
        return x - self.running_mean


RUNNING_MEAN_WRONG = [
    ("plain_tensor", RmPlain, "plain tensor attribute"),
    ("frozen_parameter", RmParameter, "registered as an nn.Parameter"),
    ("persistent_false", RmNonPersistent, "persistent=False"),
    ("updates_in_eval_mode", RmUpdatesInEval, "updated running_mean in eval mode"),
    ("rebind_with_history", RmHistory, "autograd history"),
    ("in_place_with_history", RmInPlaceHistory, "autograd history"),
    ("detached_mean", RmDetached, "was detached"),
    ("forward_under_no_grad", RmAllNoGrad, "does not depend on x"),
    ("momentum_ignored", RmFixedMomentum, "momentum 0.1 whatever"),
    ("weights_swapped", RmSwappedWeights, "weights are swapped"),
    ("returns_x_minus_running_mean", RmReturnsRunning, "in training mode you returned x - running_mean"),
    ("batch_mean_in_eval", RmBatchMeanInEval, "in eval mode you subtracted the batch mean"),
    ("mean_over_features", RmFeatureMean, "x.mean(0)"),
    ("no_momentum_attribute", RmNoMomentumAttribute, "did not keep its argument momentum"),
    ("starts_at_ones", RmOnesInit, "the initial running_mean has the wrong values"),
    ("own_training_flag", RmOwnFlag, "updated running_mean in eval mode"),
    ("stub", Stub, "NotImplementedError"),
]


# =============================================================================================
# classify_tensors
# =============================================================================================

def ct_right(module):
    kinds = {}
    for name, _ in module.named_parameters(recurse=False):
        kinds[name] = "parameter"
    for name, _ in module.named_buffers(recurse=False):
        kinds[name] = "buffer"
    for name, value in vars(module).items():
        if isinstance(value, torch.Tensor):
            kinds[name] = "tensor"
    return kinds


def ct_tables(module):
    kinds = {name: "parameter" for name, p in module._parameters.items() if p is not None}
    kinds.update({name: "buffer" for name, b in module._buffers.items() if b is not None})
    kinds.update({name: "tensor" for name, v in module.__dict__.items() if torch.is_tensor(v)})
    return kinds


def ct_dict_of_tables(module):
    state = module.__dict__
    out = {}
    for table, kind in (("_parameters", "parameter"), ("_buffers", "buffer")):
        for name, value in state[table].items():
            if value is not None:
                out[name] = kind
    for name, value in state.items():
        if type(value) is torch.Tensor:
            out[name] = "tensor"
    return out


def ct_chain(module):
    named = itertools.chain(((n, "parameter") for n, _ in module.named_parameters(recurse=False)),
                            ((n, "buffer") for n, _ in module.named_buffers(recurse=False)),
                            ((n, "tensor") for n, v in vars(module).items() if isinstance(v, torch.Tensor)))
    return dict(named)


def ct_tensors_first(module):
    out = {n: "tensor" for n, v in vars(module).items() if isinstance(v, torch.Tensor)}
    out.update({n: "buffer" for n, _ in module.named_buffers(recurse=False)})
    out.update({n: "parameter" for n, _ in module.named_parameters(recurse=False)})
    return out


def ct_isinstance_parameter(module):
    out = {}
    for name, value in list(module._parameters.items()) + list(module._buffers.items()):
        if value is None:
            continue
        out[name] = "parameter" if isinstance(value, nn.Parameter) else "buffer"
    for name, value in vars(module).items():
        if isinstance(value, torch.Tensor) and not isinstance(value, nn.Parameter):
            out[name] = "tensor"
    return out


def ct_loop_with_elif(module):
    out = {}
    for name, value in vars(module).items():
        if name == "_parameters":
            out.update({n: "parameter" for n, p in value.items() if p is not None})
        elif name == "_buffers":
            out.update({n: "buffer" for n, b in value.items() if b is not None})
        elif isinstance(value, torch.Tensor):
            out[name] = "tensor"
    return out


def ct_sets(module):
    params = {n for n, p in module._parameters.items() if p is not None}
    buffers = {n for n, b in module._buffers.items() if b is not None}
    plain = {n for n, v in vars(module).items() if isinstance(v, torch.Tensor)}
    return {**dict.fromkeys(params, "parameter"), **dict.fromkeys(buffers, "buffer"),
            **dict.fromkeys(plain, "tensor")}


def ct_ordered(module):
    from collections import OrderedDict
    return OrderedDict(sorted(ct_right(module).items()))


CLASSIFY_OK = [
    ("named_recurse_False", ct_right),
    ("own_tables", ct_tables),
    ("dict_of_tables_type_is", ct_dict_of_tables),
    ("itertools_chain", ct_chain),
    ("tensors_first_then_update", ct_tensors_first),
    ("isinstance_parameter", ct_isinstance_parameter),
    ("one_loop_over_vars", ct_loop_with_elif),
    ("sets_and_fromkeys", ct_sets),
    ("ordered_dict", ct_ordered),
]


def ct_recursive(module):
    kinds = {name: "parameter" for name, _ in module.named_parameters()}
    kinds.update({name: "buffer" for name, _ in module.named_buffers()})
    kinds.update({name: "tensor" for name, v in vars(module).items() if isinstance(v, torch.Tensor)})
    return kinds


def ct_keeps_none(module):
    kinds = {name: "parameter" for name in module._parameters}
    kinds.update({name: "buffer" for name in module._buffers})
    kinds.update({name: "tensor" for name, v in vars(module).items() if isinstance(v, torch.Tensor)})
    return kinds


def ct_state_dict_buffers(module):
    params = dict(module.named_parameters(recurse=False))
    kinds = {name: "parameter" for name in params}
    kinds.update({name: "buffer" for name in module.state_dict() if "." not in name and name not in params})
    kinds.update({name: "tensor" for name, v in vars(module).items() if isinstance(v, torch.Tensor)})
    return kinds


def ct_skips_underscores(module):
    kinds = ct_right(module)
    return {k: v for k, v in kinds.items() if not k.startswith("_")}


def ct_counts_lists(module):
    kinds = ct_right(module)
    for name, value in vars(module).items():
        if isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, torch.Tensor):
                    kinds[f"{name}[{i}]"] = "tensor"
    return kinds


def ct_by_requires_grad(module):
    kinds = {}
    for name, value in list(module._parameters.items()) + list(module._buffers.items()):
        if value is not None:
            kinds[name] = "parameter" if value.requires_grad else "buffer"
    kinds.update({name: "tensor" for name, v in vars(module).items() if isinstance(v, torch.Tensor)})
    return kinds


def ct_no_plain(module):
    kinds = {name: "parameter" for name, _ in module.named_parameters(recurse=False)}
    kinds.update({name: "buffer" for name, _ in module.named_buffers(recurse=False)})
    return kinds


def ct_floating_only(module):
    """Keeps only the floating plain tensors: misses an int64 step counter and a bool mask (the
    parameters and buffers are right). Passed every check before the 0-d/int/bool/empty module."""
    return {k: v for k, v in ct_right(module).items() if v != "tensor" or getattr(module, k).is_floating_point()}


def ct_nonempty_only(module):
    """Keeps only plain tensors with entries and a dimension: misses 0-d and empty ones."""
    return {k: v for k, v in ct_right(module).items()
            if v != "tensor" or (getattr(module, k).dim() > 0 and getattr(module, k).numel() > 0)}


def ct_capitalised(module):
    return {k: v.capitalize() for k, v in ct_right(module).items()}


def ct_pairs(module):
    return sorted(ct_right(module).items())


def ct_buffers_as_tensors(module):
    kinds = {name: "parameter" for name, _ in module.named_parameters(recurse=False)}
    kinds.update({name: "tensor" for name, _ in module.named_buffers(recurse=False)})
    kinds.update({name: "tensor" for name, v in vars(module).items() if isinstance(v, torch.Tensor)})
    return kinds


CLASSIFY_WRONG = [
    ("recursive_named", ct_recursive, "tensors of the submodules"),
    ("keeps_none", ct_keeps_none, "registered as None"),
    ("buffers_from_state_dict", ct_state_dict_buffers, "persistent=False"),
    ("skips_underscore_names", ct_skips_underscores, "starts with an underscore"),
    ("counts_list_items", ct_counts_lists, "inside a list"),
    ("by_requires_grad", ct_by_requires_grad, "is still a parameter"),
    ("no_plain_tensors", ct_no_plain, "plain tensor attribute"),
    ("floating_tensors_only", ct_floating_only, "plain tensor attribute"),
    ("nonempty_tensors_only", ct_nonempty_only, "plain tensor attribute"),
    ("capitalised", ct_capitalised, "lower-case"),
    ("list_of_pairs", ct_pairs, "should return a dict"),
    ("buffers_as_tensors", ct_buffers_as_tensors, "are buffers, not 'tensor'"),
    ("stub", stub, "NotImplementedError"),
]


# =============================================================================================
# 1 and 2: the gallery (tests/judging.py defines the tests every gallery has)
# =============================================================================================

CORRECT = (rows("standardize", STANDARDIZE_OK) + rows("scale_shift", SCALE_SHIFT_OK)
           + rows("running_mean", RUNNING_MEAN_OK) + rows("classify_tensors", CLASSIFY_OK))
WRONG = (rows("standardize", STANDARDIZE_WRONG) + rows("scale_shift", SCALE_SHIFT_WRONG)
         + rows("running_mean", RUNNING_MEAN_WRONG) + rows("classify_tensors", CLASSIFY_WRONG))

gallery_tests(globals(), "05_parameters", CORRECT, WRONG)


# --- messages name the input and the mistake -----------------------------------------------------

def test_registration_messages_start_with_the_call():
    message = failure_of("standardize", StdPlain)["message"]
    assert message.startswith("Standardize(mean, std) on cpu, float32, with\n  mean = ["), message
    message = failure_of("running_mean", RmPlain)["message"]
    assert message.startswith("RunningMean(3) on cpu, float32"), message


def test_forward_messages_show_expected_and_got_values():
    message = failure_of("standardize", StdSwapped)["message"]
    assert "Standardize(mean, std)(x) on cpu, float32, with" in message
    assert "  expected: [" in message and "  got:      [" in message, message


def test_moving_to_meta_is_checked_even_when_registration_looks_right():
    """A module whose .to() forgets its buffers (an _apply override) is caught by the move."""

    class KeepsBuffersBehind(StdRegister):
        def _apply(self, fn, recurse=True):
            return self

    message = failure_of("standardize", KeepsBuffersBehind)["message"]
    assert "After module.to('meta')" in message and "is on cpu" in message, message


def test_hand_picked_inputs_arrive_in_other_layouts_too():
    """The hand-picked cases run again with their tensors as views that are not contiguous (the
    judge's layouts): a forward that views x as if it were contiguous is caught, and told why."""

    class SsViewsX(SsRight):
        def forward(self, x):
            return (x.view(-1, x.shape[-1]) * self.gamma + self.beta).view(x.shape)

    message = failure_of("scale_shift", SsViewsX)["message"]
    assert "view size is not compatible" in message and "views that are not contiguous" in message, message


def test_classify_message_lists_what_was_expected():
    message = failure_of("classify_tensors", ct_recursive)["message"]
    assert "It returned {" in message and "expected   {" in message, message
    assert "module = a module holding a parameter w;" in message, message


# =============================================================================================
# 3. Answers only a cheat sends
# =============================================================================================


class StdFakeOutput(StdRegister):
    def forward(self, x):
        return torch.zeros_like(x).as_subclass(AlwaysEqual)


class SsFakeOutput(SsRight):
    def forward(self, x):
        return (x * 0).as_subclass(AlwaysEqual)


class RmFakeOutput(RmInPlace):
    def forward(self, x):
        super().forward(x)
        return (x * 0).as_subclass(AlwaysEqual)


class AgreeableStr(str):
    def __eq__(self, other):
        return True

    __hash__ = str.__hash__


def ct_agreeable_values(module):
    return {"w": AgreeableStr("x")}


@pytest.mark.parametrize("exercise, fn", [
    pytest.param("standardize", StdFakeOutput, id="standardize_always_equal"),
    pytest.param("scale_shift", SsFakeOutput, id="scale_shift_always_equal"),
    pytest.param("running_mean", RmFakeOutput, id="running_mean_always_equal"),
])
def test_tensor_subclass_outputs_are_rejected(exercise, fn):
    result = failure_of(exercise, fn)
    assert result["status"] == "tampering", result["message"]
    assert "subclass of torch.Tensor" in result["message"]


def test_a_module_that_is_not_a_module_is_rejected():
    def Standardize(mean, std):  # noqa: N802  (poses as the class)
        return mean
    message = failure_of("standardize", Standardize)["message"]
    assert "should make an nn.Module, but it gave a Tensor" in message, message


def test_look_alike_strings_do_not_pass():
    result = failure_of("classify_tensors", ct_agreeable_values)
    assert result["status"] == "fail", result

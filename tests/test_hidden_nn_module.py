"""Gallery for the hidden checks of 04_nn_module (autograder/judge/exercises/nn_module.py).

1. Alternative correct solutions, written the ways students write them: every one must pass.
2. Wrong solutions of the kinds students write: every one must fail (not as tampering: an
   honest mistake is not cheating), and the message must name the mistake.
3. Answers only a cheat sends (tensor subclasses, look-alikes).

Inputs and models are never built here: the judge generates them (hand-picked cases, then
Hypothesis). Every test runs twice: with Hypothesis drawing the examples, and with the examples
recorded once and replayed (as in the judge server's forks); both must agree. Attacks on the
grader itself run against real processes in test_tampering.py.
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from judging import AlwaysEqual, failure_of, gallery_tests, rows, stub

# The candidate describes a module's output (which has a grad_fn) with its .grad; torch warns
# about reading .grad of a non-leaf. Harmless here.
pytestmark = pytest.mark.filterwarnings("ignore:The .grad attribute of a Tensor that is not a leaf")


# =============================================================================================
# two_layer_net
# =============================================================================================

class NetFunctional(nn.Module):
    def __init__(self, in_features, hidden_features, out_features):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.fc2 = nn.Linear(hidden_features, out_features)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


class NetReluModule(nn.Module):
    def __init__(self, in_features, hidden_features, out_features):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(hidden_features, out_features)

    def forward(self, x):
        return self.fc2(self.relu(self.fc1(x)))


class NetInplaceRelu(NetReluModule):
    def __init__(self, in_features, hidden_features, out_features):
        super().__init__(in_features, hidden_features, out_features)
        self.relu = nn.ReLU(inplace=True)


class NetClamp(NetFunctional):
    def forward(self, x):
        return self.fc2(self.fc1(x).clamp(min=0))


class NetMethodRelu(NetFunctional):
    def forward(self, x):
        h = self.fc1(x)
        return self.fc2(h.relu())


class NetByHand(NetFunctional):
    """Uses the registered layers' weights directly."""

    def forward(self, x):
        h = x @ self.fc1.weight.T + self.fc1.bias
        h = torch.maximum(h, torch.zeros_like(h))
        return F.linear(h, self.fc2.weight, self.fc2.bias)


class NetMask(NetFunctional):
    def forward(self, x):
        h = self.fc1(x)
        return self.fc2(h * (h > 0))


class NetWhere(NetFunctional):
    def forward(self, x):
        h = self.fc1(x)
        return self.fc2(torch.where(h > 0, h, torch.zeros_like(h)))


class NetFc2First(nn.Module):
    """fc2 assigned before fc1: state_dict order fc2, fc1 (the contract names the keys, not an order)."""

    def __init__(self, in_features, hidden_features, out_features):
        super().__init__()
        self.fc2 = nn.Linear(hidden_features, out_features)
        self.fc1 = nn.Linear(in_features, hidden_features)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


class NetOldSuper(nn.Module):
    def __init__(self, in_features, hidden_features, out_features):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.add_module("fc1", nn.Linear(in_features, hidden_features))
        self.fc2 = nn.Linear(hidden_features, out_features, bias=True)
        self.identity = nn.Identity()

    def forward(self, x):
        return self.identity(self.fc2(nn.functional.relu(self.fc1(x))))


class NetKaimingInit(NetFunctional):
    def __init__(self, in_features, hidden_features, out_features):
        super().__init__(in_features, hidden_features, out_features)
        nn.init.kaiming_uniform_(self.fc1.weight, nonlinearity="relu")
        nn.init.zeros_(self.fc2.bias)


class NetSequentialInForward(NetFunctional):
    """Builds a Sequential of its own registered layers on every call (no new weights)."""

    def forward(self, x):
        return nn.Sequential(self.fc1, nn.ReLU(), self.fc2)(x)


TWO_LAYER_OK = [
    ("F_relu", NetFunctional),
    ("nn_ReLU_child", NetReluModule),
    ("nn_ReLU_inplace", NetInplaceRelu),
    ("clamp_min_0", NetClamp),
    ("tensor_relu_method", NetMethodRelu),
    ("by_hand_with_own_weights", NetByHand),
    ("mask_h_gt_0", NetMask),
    ("torch_where", NetWhere),
    ("fc2_assigned_first", NetFc2First),
    ("old_super_add_module_identity", NetOldSuper),
    ("kaiming_init", NetKaimingInit),
    ("sequential_of_own_layers_in_forward", NetSequentialInForward),
]


class NetNoRelu(NetFunctional):
    def forward(self, x):
        return self.fc2(self.fc1(x))


class NetReluAfterFc2(NetFunctional):
    def forward(self, x):
        return F.relu(self.fc2(F.relu(self.fc1(x))))


class NetReluOnlyAfterFc2(NetFunctional):
    def forward(self, x):
        return torch.relu(self.fc2(self.fc1(x)))


class NetSwappedLayers(nn.Module):
    def __init__(self, in_features, hidden_features, out_features):
        super().__init__()
        self.fc1 = nn.Linear(hidden_features, out_features)
        self.fc2 = nn.Linear(in_features, hidden_features)

    def forward(self, x):
        return self.fc1(F.relu(self.fc2(x)))


class NetLinearArgsSwapped(nn.Module):
    def __init__(self, in_features, hidden_features, out_features):
        super().__init__()
        self.fc1 = nn.Linear(hidden_features, in_features)
        self.fc2 = nn.Linear(out_features, hidden_features)

    def forward(self, x):
        return x @ self.fc1.weight  # never reached


class NetWrongOrderForward(NetFunctional):
    def forward(self, x):
        return self.fc1(F.relu(self.fc2(x)))


class NetSigmoid(NetFunctional):
    def forward(self, x):
        return self.fc2(torch.sigmoid(self.fc1(x)))


class NetSoftmax(NetFunctional):
    def forward(self, x):
        return F.softmax(self.fc2(F.relu(self.fc1(x))), dim=-1)


class NetNoSuper(nn.Module):
    def __init__(self, in_features, hidden_features, out_features):
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.fc2 = nn.Linear(hidden_features, out_features)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


class NetSequential(nn.Module):
    def __init__(self, in_features, hidden_features, out_features):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_features, hidden_features), nn.ReLU(),
                                 nn.Linear(hidden_features, out_features))

    def forward(self, x):
        return self.net(x)


class NetOtherNames(nn.Module):
    def __init__(self, in_features, hidden_features, out_features):
        super().__init__()
        self.layer1 = nn.Linear(in_features, hidden_features)
        self.layer2 = nn.Linear(hidden_features, out_features)

    def forward(self, x):
        return self.layer2(F.relu(self.layer1(x)))


class NetNoBias(nn.Module):
    def __init__(self, in_features, hidden_features, out_features):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features, bias=False)
        self.fc2 = nn.Linear(hidden_features, out_features, bias=False)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


class NetLayersInForward(NetFunctional):
    def __init__(self, in_features, hidden_features, out_features):
        super().__init__(in_features, hidden_features, out_features)
        self.sizes = (in_features, hidden_features, out_features)

    def forward(self, x):
        i, h, o = self.sizes
        self.fc1 = nn.Linear(i, h).to(x.device, x.dtype)
        self.fc2 = nn.Linear(h, o).to(x.device, x.dtype)
        return self.fc2(F.relu(self.fc1(x)))


class NetNewLayerEachCall(NetFunctional):
    def __init__(self, in_features, hidden_features, out_features):
        super().__init__(in_features, hidden_features, out_features)
        self.sizes = (in_features, hidden_features)

    def forward(self, x):
        fresh = nn.Linear(*self.sizes).to(x.device, x.dtype)
        return self.fc2(F.relu(fresh(x)))


class NetForwardMisspelled(nn.Module):
    def __init__(self, in_features, hidden_features, out_features):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.fc2 = nn.Linear(hidden_features, out_features)

    def foward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


class NetFlattens(NetFunctional):
    def forward(self, x):
        x = x.view(x.size(0), -1)
        return self.fc2(F.relu(self.fc1(x)))


class NetViewsInput(NetFunctional):
    """Right for every contiguous x; a view of a transposed or sliced x fails."""

    def forward(self, x):
        flat = x.view(-1, x.shape[-1])
        return self.fc2(F.relu(self.fc1(flat))).view(*x.shape[:-1], self.fc2.out_features)


class NetLoopsOverSamples(NetFunctional):
    """One sample at a time: right for every batch but an empty one."""

    def forward(self, x):
        rows = [self.fc2(F.relu(self.fc1(r))) for r in x.reshape(-1, x.shape[-1])]
        return torch.stack(rows).reshape(*x.shape[:-1], -1)


class NetAddsBatchDim(NetFunctional):
    def forward(self, x):
        if x.dim() == 1:
            x = x.unsqueeze(0)
        return self.fc2(F.relu(self.fc1(x)))


class NetDetached(NetFunctional):
    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x))).detach()


class NetFloat(NetFunctional):
    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x))).float()


class NetExtraList(NetFunctional):
    def __init__(self, in_features, hidden_features, out_features):
        super().__init__(in_features, hidden_features, out_features)
        self.layers = nn.ModuleList([self.fc1, self.fc2])


class NetPlainList(nn.Module):
    def __init__(self, in_features, hidden_features, out_features):
        super().__init__()
        self.layers = [nn.Linear(in_features, hidden_features), nn.Linear(hidden_features, out_features)]

    def forward(self, x):
        return self.layers[1](F.relu(self.layers[0](x)))


def net_as_function(in_features, hidden_features, out_features):
    return nn.Sequential(nn.Linear(in_features, hidden_features), nn.ReLU(),
                         nn.Linear(hidden_features, out_features))


class NetDropout(NetFunctional):
    def forward(self, x):
        return self.fc2(F.dropout(F.relu(self.fc1(x)), p=0.5, training=True))


TWO_LAYER_WRONG = [
    ("no_relu", NetNoRelu, "no ReLU between the layers"),
    ("relu_after_fc2_too", NetReluAfterFc2, "ReLU is applied after fc2"),
    ("relu_only_after_fc2", NetReluOnlyAfterFc2, "instead of between the layers"),
    ("layers_swapped_in_init", NetSwappedLayers, "fc1 and fc2 are swapped"),
    ("linear_arguments_swapped", NetLinearArgsSwapped, "nn.Linear's arguments are (in_features, out_features)"),
    ("forward_fc2_first", NetWrongOrderForward, "another order than the statement's"),
    ("sigmoid", NetSigmoid, "not ReLU"),
    ("softmax_on_output", NetSoftmax, "softmax"),
    ("forgot_super_init", NetNoSuper, "super().__init__()"),
    ("layers_in_a_sequential", NetSequential, "inside a container"),
    ("layers_named_layer1_layer2", NetOtherNames, "attribute names"),
    ("bias_false", NetNoBias, "no bias"),
    ("layers_assigned_in_forward", NetLayersInForward, "changed the net's parameters"),
    ("new_layer_each_call", NetNewLayerEachCall, "different outputs"),
    ("forward_misspelled", NetForwardMisspelled, "no method named `forward`"),
    ("flattens_input", NetFlattens, "reshaped or flattened"),
    ("views_a_non_contiguous_input", NetViewsInput, "x was not contiguous"),
    ("loops_over_samples", NetLoopsOverSamples, "empty batch"),
    ("adds_batch_dim_to_single", NetAddsBatchDim, "an extra batch dimension"),
    ("detaches_output", NetDetached, "does not require grad"),
    ("dot_float_on_float64", NetFloat, "dtype float32, expected float64"),
    ("layers_also_in_modulelist", NetExtraList, "besides fc1's and fc2's"),
    ("layers_in_plain_list", NetPlainList, "holds no parameters at all"),
    ("function_returning_sequential", net_as_function, "nn.Sequential"),
    ("dropout_in_forward", NetDropout, "different outputs"),
    ("stub", stub, "NotImplementedError"),
]


# =============================================================================================
# count_parameters
# =============================================================================================

def cp_generator(module, trainable_only=False):
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def cp_loop(module, trainable_only=False):
    total = 0
    for p in module.parameters():
        if trainable_only and not p.requires_grad:
            continue
        total += p.numel()
    return total


def cp_math_prod(module, trainable_only=False):
    return sum(math.prod(p.shape) for p in module.parameters() if not trainable_only or p.requires_grad)


def cp_dedup_by_id(module, trainable_only=False):
    seen, total = set(), 0
    for _, p in module.named_parameters(remove_duplicate=False):
        if id(p) in seen or (trainable_only and not p.requires_grad):
            continue
        seen.add(id(p))
        total += p.numel()
    return total


def cp_filter(module, trainable_only=False):
    params = module.parameters()
    if trainable_only:
        params = filter(lambda p: p.requires_grad, params)
    return int(sum(p.nelement() for p in params))


def cp_numpy_prod(module, trainable_only=False):
    return sum(int(np.prod(p.shape)) for p in module.parameters() if p.requires_grad or not trainable_only)


def cp_tensor_item(module, trainable_only=False):
    sizes = [p.numel() for p in module.parameters() if p.requires_grad or not trainable_only]
    return int(torch.tensor(sizes, dtype=torch.int64).sum().item())


def cp_named_dict(module, trainable_only=False):
    params = dict(module.named_parameters())
    return sum(p.numel() for p in params.values() if p.requires_grad or not trainable_only)


def cp_view_len(module, trainable_only=False):
    return sum(len(p.detach().reshape(-1)) for p in module.parameters() if p.requires_grad or not trainable_only)


def cp_storage(module, trainable_only=False):
    """Counts what each parameter's storage holds: right for parameters that own all their memory."""
    return sum(p.untyped_storage().nbytes() // p.element_size()
               for p in module.parameters() if p.requires_grad or not trainable_only)


def cp_view_numel(module, trainable_only=False):
    """len(p.view(-1)): right for contiguous parameters; a transposed one cannot be viewed."""
    return sum(len(p.view(-1)) for p in module.parameters() if p.requires_grad or not trainable_only)


def cp_two_sums(module, trainable_only=False):
    everything = sum(p.numel() for p in module.parameters())
    frozen = sum(p.numel() for p in module.parameters() if not p.requires_grad)
    return everything - frozen if trainable_only else everything


COUNT_OK = [
    ("generator_sum", cp_generator),
    ("loop_continue", cp_loop),
    ("math_prod_of_shape", cp_math_prod),
    ("dedup_by_id_over_all_names", cp_dedup_by_id),
    ("filter_then_nelement", cp_filter),
    ("numpy_prod_int", cp_numpy_prod),
    ("torch_sum_item_int", cp_tensor_item),
    ("dict_of_named_parameters", cp_named_dict),
    ("len_of_flattened", cp_view_len),
    ("total_minus_frozen", cp_two_sums),
]


def cp_state_dict(module, trainable_only=False):
    return sum(v.numel() for v in module.state_dict().values())


def cp_all_names(module, trainable_only=False):
    return sum(p.numel() for _, p in module.named_parameters(remove_duplicate=False)
               if p.requires_grad or not trainable_only)


def cp_tensors(module, trainable_only=False):
    return len([p for p in module.parameters() if p.requires_grad or not trainable_only])


def cp_modules(module, trainable_only=False):
    return len(list(module.modules()))


def cp_ignores_flag(module, trainable_only=False):
    return sum(p.numel() for p in module.parameters())


def cp_always_trainable(module, trainable_only=False):
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def cp_inverted(module, trainable_only=False):
    return sum(p.numel() for p in module.parameters() if not (trainable_only and p.requires_grad))


def cp_own_only(module, trainable_only=False):
    return sum(p.numel() for p in module.parameters(recurse=False) if p.requires_grad or not trainable_only)


def cp_with_buffers(module, trainable_only=False):
    return (sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)
            + sum(b.numel() for b in module.buffers()))


def cp_tensor_result(module, trainable_only=False):
    return torch.tensor(sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only))


def cp_float(module, trainable_only=False):
    return float(sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only))


def cp_walk_own(module, trainable_only=False):
    # modules() lists a shared module once, but a Parameter tied into two modules twice
    return sum(p.numel() for m in module.modules() for p in m.parameters(recurse=False)
               if p.requires_grad or not trainable_only)


def cp_len(module, trainable_only=False):
    return sum(len(p) for p in module.parameters() if p.requires_grad or not trainable_only)


def cp_sum_shape(module, trainable_only=False):
    return sum(sum(p.shape) for p in module.parameters() if p.requires_grad or not trainable_only)


def cp_numpy_int(module, trainable_only=False):
    return np.sum([p.numel() for p in module.parameters() if p.requires_grad or not trainable_only], dtype=np.int64)


def cp_inverted_inside_out(module, trainable_only=False):
    return sum(p.numel() for p in module.parameters() if p.requires_grad == trainable_only)


COUNT_WRONG = [
    ("state_dict_sizes", cp_state_dict, "size of state_dict()"),
    ("remove_duplicate_false", cp_all_names, "counted once per name"),
    ("counts_tensors", cp_tensors, "counts parameter tensors"),
    ("counts_modules", cp_modules, "counts modules"),
    ("ignores_trainable_only", cp_ignores_flag, "must leave out parameters with requires_grad=False"),
    ("always_trainable", cp_always_trainable, "every parameter counts"),
    ("inverted_condition", cp_inverted, "inverted"),
    ("own_parameters_only", cp_own_only, "only the root's own parameters"),
    ("buffers_too", cp_with_buffers, "buffers"),
    ("returns_a_tensor", cp_tensor_result, "return a Python int"),
    ("returns_a_float", cp_float, "must be an int"),
    ("walk_modules_own_params_tied_twice", cp_walk_own, "counted once per name"),
    ("len_first_dim", cp_len, "first dimension"),
    ("sum_of_sizes", cp_sum_shape, "product"),
    ("numpy_int64", cp_numpy_int, "must be an int"),
    ("equality_with_flag", cp_inverted_inside_out, "every parameter counts"),
    ("elements_of_the_storage", cp_storage, "each parameter's storage"),
    ("view_of_a_non_contiguous_parameter", cp_view_numel, "view"),
    ("stub", stub, "NotImplementedError"),
]


# =============================================================================================
# leaf_modules
# =============================================================================================

def lm_list_children(model):
    return [name for name, m in model.named_modules() if not list(m.children())]


def lm_next(model):
    return [name for name, m in model.named_modules() if next(m.children(), None) is None]


def lm_private_modules(model):
    """Reads the private _modules dict: a slot set to None looks like a child."""
    return [name for name, m in model.named_modules() if not m._modules]


def lm_any(model):
    return [name for name, m in model.named_modules() if not any(True for _ in m.children())]


def lm_count(model):
    return [name for name, m in model.named_modules() if sum(1 for _ in m.children()) == 0]


def lm_walk(model):
    out, seen = [], set()

    def walk(module, prefix):
        if id(module) in seen:
            return
        seen.add(id(module))
        kids = list(module.named_children())
        if not kids:
            out.append(prefix)
        for name, child in kids:
            walk(child, f"{prefix}.{name}" if prefix else name)

    walk(model, "")
    return out


def lm_zip(model):
    return [name for (name, _), m in zip(model.named_modules(), model.modules()) if len(list(m.children())) == 0]


def lm_filter(model):
    return list(map(lambda pair: pair[0], filter(lambda pair: not list(pair[1].children()), model.named_modules())))


def lm_dict(model):
    modules = dict(model.named_modules())
    return [name for name, m in modules.items() if not list(m.children())]


def lm_loop_append(model):
    leaves = []
    for name, module in model.named_modules():
        has_children = False
        for _ in module.children():
            has_children = True
            break
        if not has_children:
            leaves.append(name)
    return leaves


LEAF_OK = [
    ("list_children_empty", lm_list_children),
    ("next_children_none", lm_next),
    ("not_any_children", lm_any),
    ("count_children_zero", lm_count),
    ("recursive_walk_with_memo", lm_walk),
    ("zip_names_and_modules", lm_zip),
    ("map_filter", lm_filter),
    ("dict_of_named_modules", lm_dict),
    ("loop_with_break", lm_loop_append),
]


def lm_everything(model):
    return [name for name, _ in model.named_modules()]


def lm_no_root(model):
    return [name for name, m in model.named_modules() if name and not list(m.children())]


def lm_named_children(model):
    return [name for name, _ in model.named_children()]


def lm_children_leaves(model):
    return [name for name, c in model.named_children() if not list(c.children())]


def lm_duplicates(model):
    return [n for n, m in model.named_modules(remove_duplicate=False) if not list(m.children())]


def lm_has_parameters(model):
    return [n for n, m in model.named_modules() if len(list(m.parameters(recurse=False))) > 0]


def lm_by_type(model):
    return [n for n, m in model.named_modules() if not isinstance(m, (nn.Sequential, nn.ModuleList, nn.ModuleDict))]


def lm_short_names(model):
    return [n.split(".")[-1] for n, m in model.named_modules() if not list(m.children())]


def lm_sorted(model):
    return sorted(n for n, m in model.named_modules() if not list(m.children()))


def lm_modules(model):
    return [m for m in model.modules() if not list(m.children())]


def lm_tuple(model):
    return tuple(n for n, m in model.named_modules() if not list(m.children()))


def lm_generator(model):
    return (n for n, m in model.named_modules() if not list(m.children()))


def lm_root_always(model):
    return [""] + [n for n, m in model.named_modules() if n and not list(m.children())]


def lm_by_names(model):
    names = [n for n, _ in model.named_modules()]
    return [n for n in names if (n or len(names) == 1) and not any(o.startswith(n + ".") for o in names)]


LEAF_WRONG = [
    ("every_module", lm_everything, "containers too"),
    ("never_the_root", lm_no_root, "counts only when it has no children"),
    ("named_children", lm_named_children, "one level down"),
    ("leaf_children_one_level", lm_children_leaves, "one level down"),
    ("remove_duplicate_false", lm_duplicates, "under each of its names"),
    ("has_parameters", lm_has_parameters, "'has parameters'"),
    ("by_container_type", lm_by_type, "module's type"),
    ("short_names", lm_short_names, "last parts of the names"),
    ("sorted", lm_sorted, "order"),
    ("returns_modules", lm_modules, "holds modules"),
    ("returns_tuple", lm_tuple, "return a list"),
    ("returns_generator", lm_generator, "generator"),
    ("root_always_listed", lm_root_always, "though it has children"),
    ("leaf_by_names", lm_by_names, "shared with another part"),
    ("private_modules_dict", lm_private_modules, "child slots all hold None"),
    ("stub", stub, "NotImplementedError"),
]


# =============================================================================================
# 1 and 2: the gallery (tests/judging.py defines the tests every gallery has)
# =============================================================================================

CORRECT = rows("two_layer_net", TWO_LAYER_OK) + rows("count_parameters", COUNT_OK) + rows("leaf_modules", LEAF_OK)
WRONG = rows("two_layer_net", TWO_LAYER_WRONG) + rows("count_parameters", COUNT_WRONG) + rows("leaf_modules", LEAF_WRONG)

gallery_tests(globals(), "04_nn_module", CORRECT, WRONG)


def test_messages_name_the_call_and_the_model():
    message = failure_of("count_parameters", cp_state_dict)["message"]
    assert message.startswith("count_parameters(model) on cpu, float32, with model = "), message
    assert "Likely mistake:" in message
    message = failure_of("leaf_modules", lm_named_children)["message"]
    assert message.startswith("leaf_modules(model) on cpu, float32, with model = "), message
    message = failure_of("two_layer_net", NetNoRelu)["message"]
    assert message.startswith("TwoLayerNet(3, 5, 2), moved to cpu and float32\nnet(x) with\n  x = ["), message
    assert "net.fc1.weight = [" in message and "  expected: [" in message and "  got:      [" in message


def test_shared_and_tied_parameters_are_named_in_the_message():
    message = failure_of("count_parameters", cp_all_names)["message"]
    assert "(shared)" in message or "(tied)" in message, message


# =============================================================================================
# 3. Answers only a cheat sends
# =============================================================================================


class NetFakeOutput(NetFunctional):
    def forward(self, x):
        return torch.zeros(1).as_subclass(AlwaysEqual)


class AgreeingInt(int):
    def __eq__(self, other):
        return True

    __hash__ = int.__hash__


class AgreeingStr(str):
    def __eq__(self, other):
        return True

    __hash__ = str.__hash__


class LookAlikeModule:
    """Not a module, but has what a naive check would read."""
    training = True

    def state_dict(self):
        return {k: torch.zeros(1) for k in ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias")}

    def __call__(self, x):
        return x


@pytest.mark.parametrize("exercise, fn", [
    pytest.param("two_layer_net", NetFakeOutput, id="two_layer_net_always_equal_output"),
    pytest.param("count_parameters", lambda module, trainable_only=False: torch.tensor(7).as_subclass(AlwaysEqual),
                 id="count_parameters_always_equal_tensor"),
])
def test_tensor_subclass_results_are_rejected(exercise, fn):
    result = failure_of(exercise, fn)
    assert result["status"] == "tampering", result["message"]
    assert "subclass of torch.Tensor" in result["message"]


@pytest.mark.parametrize("exercise, fn, phrase", [
    pytest.param("count_parameters", lambda module, trainable_only=False: AgreeingInt(0), "must be an int",
                 id="count_parameters_int_that_agrees"),
    pytest.param("leaf_modules", lambda model: [AgreeingStr("x")], "must be a name (str)",
                 id="leaf_modules_str_that_agrees"),
    pytest.param("two_layer_net", lambda *sizes: LookAlikeModule(), "should make an nn.Module",
                 id="two_layer_net_look_alike"),
])
def test_look_alikes_are_rejected(exercise, fn, phrase):
    result = failure_of(exercise, fn)
    assert result["status"] in ("fail", "tampering") and phrase in result["message"], result

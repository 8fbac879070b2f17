"""Gallery for the hidden checks of 07_containers (autograder/judge/exercises/containers.py).

1. Alternative correct solutions, written the ways students write them: every one must pass.
2. Wrong solutions of the kinds students write: every one must fail (not as tampering), and the
   message must name the mistake.
3. Answers only a cheat sends.

Inputs and models are never built here: the judge generates them (hand-picked cases, then
Hypothesis). tests/judging.py defines the tests every gallery has.
"""

import copy
from collections import OrderedDict
from functools import reduce

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from judging import AlwaysEqual, failure_of, gallery_tests, rows, stub

# The candidate describes a module's output (which has a grad_fn) with its .grad; torch warns
# about reading .grad of a non-leaf. Harmless here.
pytestmark = pytest.mark.filterwarnings("ignore:The .grad attribute of a Tensor that is not a leaf")


# =============================================================================================
# build_mlp
# =============================================================================================

def mlp_pop(sizes):
    layers = []
    for i in range(len(sizes) - 1):
        layers += [nn.Linear(sizes[i], sizes[i + 1]), nn.ReLU()]
    layers.pop()
    return nn.Sequential(*layers)


def mlp_add_module(sizes):
    net = nn.Sequential()
    for i in range(len(sizes) - 1):
        if i:
            net.add_module(str(len(net)), nn.ReLU())
        net.add_module(str(len(net)), nn.Linear(sizes[i], sizes[i + 1]))
    return net


def mlp_append(sizes):
    net = nn.Sequential(nn.Linear(sizes[0], sizes[1]))
    for a, b in zip(sizes[1:-1], sizes[2:]):
        net.append(nn.ReLU())
        net.append(nn.Linear(a, b))
    return net


def mlp_comprehension(sizes):
    pairs = list(zip(sizes, sizes[1:]))
    layers = [m for a, b in pairs[:-1] for m in (nn.Linear(a, b), nn.ReLU())]
    return nn.Sequential(*layers, nn.Linear(*pairs[-1]))


def mlp_ordered_dict_digits(sizes):
    items, k = [], 0
    for i in range(len(sizes) - 1):
        items.append((str(k), nn.Linear(sizes[i], sizes[i + 1])))
        k += 1
        if i < len(sizes) - 2:
            items.append((str(k), nn.ReLU()))
            k += 1
    return nn.Sequential(OrderedDict(items))


def mlp_inplace_relu(sizes):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i != len(sizes) - 2:
            layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def mlp_recursive(sizes):
    if len(sizes) == 2:
        return [nn.Linear(*sizes)]
    return [nn.Linear(sizes[0], sizes[1]), nn.ReLU(), *mlp_recursive(sizes[1:])]


def mlp_recursive_wrapped(sizes):
    return nn.Sequential(*mlp_recursive(sizes))


def mlp_extend(sizes):
    net = nn.Sequential()
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        net.extend([nn.ReLU()] if i else [])
        net.extend([nn.Linear(a, b, bias=True)])
    return net


class MySequential(nn.Sequential):
    """A subclass of nn.Sequential is an nn.Sequential."""


def mlp_subclass(sizes):
    return MySequential(*mlp_recursive(sizes))


def mlp_init(sizes):
    net = mlp_pop(sizes)
    for m in net:
        if isinstance(m, nn.Linear):
            nn.init.kaiming_uniform_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)
    return net


BUILD_MLP_OK = [
    ("append_then_pop", mlp_pop),
    ("add_module_by_position", mlp_add_module),
    ("sequential_append", mlp_append),
    ("comprehension", mlp_comprehension),
    ("ordered_dict_digit_names", mlp_ordered_dict_digits),
    ("relu_inplace", mlp_inplace_relu),
    ("recursive", mlp_recursive_wrapped),
    ("sequential_extend", mlp_extend),
    ("subclass_of_sequential", mlp_subclass),
    ("kaiming_init", mlp_init),
]


def mlp_relu_last(sizes):
    layers = []
    for i in range(len(sizes) - 1):
        layers += [nn.Linear(sizes[i], sizes[i + 1]), nn.ReLU()]
    return nn.Sequential(*layers)


def mlp_no_relu(sizes):
    return nn.Sequential(*[nn.Linear(a, b) for a, b in zip(sizes, sizes[1:])])


def mlp_reversed_args(sizes):
    layers = [nn.Linear(sizes[i + 1], sizes[i]) for i in range(len(sizes) - 1)]
    out = []
    for layer in layers:
        out += [layer, nn.ReLU()]
    return nn.Sequential(*out[:-1])


def mlp_shared_relu(sizes):
    act = nn.ReLU()
    layers = []
    for i in range(len(sizes) - 1):
        layers += [nn.Linear(sizes[i], sizes[i + 1]), act]
    return nn.Sequential(*layers[:-1])


def mlp_times_n(sizes):
    """Works only for equal sizes, and repeats one Linear."""
    if len(set(sizes)) == 1:
        return nn.Sequential(*([nn.Linear(sizes[0], sizes[0]), nn.ReLU()] * (len(sizes) - 2)), nn.Linear(sizes[0], sizes[0]))
    return mlp_pop(sizes)


def mlp_named(sizes):
    items = []
    for i in range(len(sizes) - 1):
        items.append((f"fc{i}", nn.Linear(sizes[i], sizes[i + 1])))
        if i < len(sizes) - 2:
            items.append((f"relu{i}", nn.ReLU()))
    return nn.Sequential(OrderedDict(items))


def mlp_list(sizes):
    return mlp_recursive(sizes)


def mlp_modulelist(sizes):
    return nn.ModuleList(mlp_recursive(sizes))


def mlp_no_unpack(sizes):
    return nn.Sequential(mlp_recursive(sizes))


def mlp_tanh(sizes):
    layers = []
    for i in range(len(sizes) - 1):
        layers += [nn.Linear(sizes[i], sizes[i + 1]), nn.Tanh()]
    return nn.Sequential(*layers[:-1])


def mlp_nested(sizes):
    blocks = [nn.Sequential(nn.Linear(sizes[i], sizes[i + 1]), nn.ReLU()) for i in range(len(sizes) - 2)]
    return nn.Sequential(*blocks, nn.Linear(sizes[-2], sizes[-1]))


def mlp_off_by_one(sizes):
    layers = []
    for i in range(len(sizes) - 2):
        layers += [nn.Linear(sizes[i], sizes[i + 1]), nn.ReLU()]
    return nn.Sequential(*layers[:-1]) if layers else nn.Sequential()


def mlp_no_bias(sizes):
    layers = []
    for i in range(len(sizes) - 1):
        layers += [nn.Linear(sizes[i], sizes[i + 1], bias=False), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def mlp_functional_relu(sizes):
    layers = []
    for i in range(len(sizes) - 1):
        layers += [nn.Linear(sizes[i], sizes[i + 1]), F.relu]
    return nn.Sequential(*layers[:-1])


BUILD_MLP_WRONG = [
    ("relu_after_last", mlp_relu_last, "ReLU after the last Linear"),
    ("no_relu", mlp_no_relu, "no ReLU between"),
    ("linear_args_reversed", mlp_reversed_args, "(in_features, out_features)"),
    ("one_relu_object_shared", mlp_shared_relu, "one and the same nn.ReLU"),
    ("list_times_n", mlp_times_n, "one and the same nn.Linear"),
    ("own_names", mlp_named, "not by position"),
    ("returns_a_list", mlp_list, "not a module"),
    ("returns_a_modulelist", mlp_modulelist, "ModuleList"),
    ("list_not_unpacked", mlp_no_unpack, "Unpack the list"),
    ("tanh", mlp_tanh, "nn.Tanh, not nn.ReLU"),
    ("nested_blocks", mlp_nested, "itself a container"),
    ("one_layer_short", mlp_off_by_one, "Linear layers"),
    ("bias_false", mlp_no_bias, "no bias"),
    ("functional_relu_in_sequential", mlp_functional_relu, "not a module"),
    ("stub", stub, "NotImplementedError"),
]


# =============================================================================================
# repeated
# =============================================================================================

class RepComprehension(nn.Module):
    def __init__(self, dim, num_layers):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(dim, dim) for _ in range(num_layers)])

    def forward(self, x):
        for layer in self.layers:
            x = torch.relu(layer(x))
        return x


class RepAppend(nn.Module):
    def __init__(self, dim, num_layers):
        super().__init__()
        self.layers = nn.ModuleList()
        for _ in range(num_layers):
            self.layers.append(nn.Linear(dim, dim))

    def forward(self, x):
        for i in range(len(self.layers)):
            x = F.relu(self.layers[i](x))
        return x


class RepReluModule(RepComprehension):
    def __init__(self, dim, num_layers):
        super().__init__(dim, num_layers)
        self.act = nn.ReLU()

    def forward(self, x):
        for layer in self.layers:
            x = self.act(layer(x))
        return x


class RepClamp(RepComprehension):
    def forward(self, x):
        out = x
        for layer in self.layers:
            out = layer(out).clamp(min=0)
        return out


class RepReduce(RepComprehension):
    def forward(self, x):
        return reduce(lambda h, layer: F.relu(layer(h)), self.layers, x)


class RepByHand(RepComprehension):
    def forward(self, x):
        for layer in self.layers:
            x = torch.maximum(x @ layer.weight.T + layer.bias, torch.zeros(()))
        return x


class RepExtend(nn.Module):
    def __init__(self, dim, num_layers):
        super().__init__()
        self.layers = nn.ModuleList()
        self.layers.extend(nn.Linear(dim, dim) for _ in range(num_layers))
        self.dim = dim

    def forward(self, x):
        for layer in self.layers:
            x = layer(x).relu()
        return x


class RepStoresSizes(RepComprehension):
    def __init__(self, dim, num_layers):
        super().__init__(dim, num_layers)
        self.dim, self.num_layers = dim, num_layers

    def forward(self, x):
        i = 0
        while i < self.num_layers:
            x = F.relu(self.layers[i](x))
            i += 1
        return x


class RepEnumerate(RepComprehension):
    def forward(self, x):
        for _, layer in enumerate(self.layers):
            x = F.relu(layer(x), inplace=False)
        return x


REPEATED_OK = [
    ("comprehension", RepComprehension),
    ("append_and_index", RepAppend),
    ("relu_module_child", RepReluModule),
    ("clamp", RepClamp),
    ("functools_reduce", RepReduce),
    ("by_hand_own_weights", RepByHand),
    ("extend_generator", RepExtend),
    ("while_loop", RepStoresSizes),
    ("enumerate", RepEnumerate),
]


class RepPlainList(RepComprehension):
    def __init__(self, dim, num_layers):
        nn.Module.__init__(self)
        self.layers = [nn.Linear(dim, dim) for _ in range(num_layers)]


class RepTimesN(RepComprehension):
    def __init__(self, dim, num_layers):
        super().__init__(dim, num_layers)
        self.layers = nn.ModuleList([nn.Linear(dim, dim)] * num_layers)


class RepNoReluLast(RepComprehension):
    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x


class RepSameInput(RepComprehension):
    def forward(self, x):
        out = x
        for layer in self.layers:
            out = F.relu(layer(x))
        return out


class RepReversed(RepComprehension):
    def forward(self, x):
        for layer in reversed(self.layers):
            x = F.relu(layer(x))
        return x


class RepReluBefore(RepComprehension):
    def forward(self, x):
        for layer in self.layers:
            x = layer(F.relu(x))
        return x


class RepResidual(RepComprehension):
    def forward(self, x):
        for layer in self.layers:
            x = x + F.relu(layer(x))
        return x


class RepSequential(RepComprehension):
    def __init__(self, dim, num_layers):
        super().__init__(dim, num_layers)
        self.layers = nn.Sequential(*[nn.Linear(dim, dim) for _ in range(num_layers)])


class RepOtherName(nn.Module):
    def __init__(self, dim, num_layers):
        super().__init__()
        self.blocks = nn.ModuleList([nn.Linear(dim, dim) for _ in range(num_layers)])

    def forward(self, x):
        for layer in self.blocks:
            x = F.relu(layer(x))
        return x


class RepOneLayerLooped(nn.Module):
    def __init__(self, dim, num_layers):
        super().__init__()
        self.layer = nn.Linear(dim, dim)
        self.num_layers = num_layers

    def forward(self, x):
        for _ in range(self.num_layers):
            x = F.relu(self.layer(x))
        return x


class RepOneMore(RepComprehension):
    def __init__(self, dim, num_layers):
        super().__init__(dim, num_layers + 1)


class RepFloat(RepComprehension):
    def forward(self, x):
        return super().forward(x).float()


class RepTanh(RepComprehension):
    def forward(self, x):
        for layer in self.layers:
            x = torch.tanh(layer(x))
        return x


REPEATED_WRONG = [
    ("plain_list", RepPlainList, "plain Python list"),
    ("list_times_n", RepTimesN, "one and the same nn.Linear"),
    ("no_relu_after_last", RepNoReluLast, "no ReLU after the last layer"),
    ("same_input_each_layer", RepSameInput, "original x"),
    ("reversed_order", RepReversed, "reverse order"),
    ("relu_before_layer", RepReluBefore, "before each layer"),
    ("residual", RepResidual, "residual"),
    ("sequential_not_modulelist", RepSequential, "expected an nn.ModuleList"),
    ("other_attribute_name", RepOtherName, "self.layers"),
    ("one_layer_looped", RepOneLayerLooped, "self.layers"),
    ("one_layer_too_many", RepOneMore, "num_layers"),
    ("hard_coded_float32", RepFloat, "dtype"),
    ("tanh", RepTanh, "tanh"),
    ("stub", stub, "NotImplementedError"),
]


# =============================================================================================
# multi_head
# =============================================================================================

class MhComprehension(nn.Module):
    def __init__(self, in_features, heads):
        super().__init__()
        self.heads = nn.ModuleDict({name: nn.Linear(in_features, out) for name, out in heads.items()})

    def forward(self, x, head):
        return self.heads[head](x)


class MhSetItem(nn.Module):
    def __init__(self, in_features, heads):
        super().__init__()
        self.heads = nn.ModuleDict()
        for name, out in heads.items():
            self.heads[name] = nn.Linear(in_features, out)

    def forward(self, x, head):
        return self.heads[head](x)


class MhUpdate(MhComprehension):
    def __init__(self, in_features, heads):
        super().__init__(in_features, {})
        self.heads.update([(name, nn.Linear(in_features, out)) for name, out in heads.items()])


class MhPairs(MhComprehension):
    def __init__(self, in_features, heads):
        nn.Module.__init__(self)
        self.heads = nn.ModuleDict([(n, nn.Linear(in_features, o)) for n, o in heads.items()])


class MhOrderedDict(MhComprehension):
    def __init__(self, in_features, heads):
        nn.Module.__init__(self)
        self.heads = nn.ModuleDict(OrderedDict((n, nn.Linear(in_features, o)) for n, o in heads.items()))


class MhFunctional(MhComprehension):
    def forward(self, x, head):
        layer = self.heads[head]
        return F.linear(x, layer.weight, layer.bias)


class MhAddModule(MhComprehension):
    def __init__(self, in_features, heads):
        nn.Module.__init__(self)
        self.heads = nn.ModuleDict()
        for name in heads:
            self.heads.add_module(name, nn.Linear(in_features, heads[name]))


class MhKeepsSizes(MhComprehension):
    def __init__(self, in_features, heads):
        super().__init__(in_features, heads)
        self.in_features, self.sizes = in_features, dict(heads)

    def forward(self, x, head):
        if head not in self.heads:
            raise KeyError(head)
        return self.heads[head](x)


class MhDictCopy(MhComprehension):
    def __init__(self, in_features, heads):
        super().__init__(in_features, dict(heads))


MULTI_HEAD_OK = [
    ("dict_comprehension", MhComprehension),
    ("setitem_loop", MhSetItem),
    ("update_with_pairs", MhUpdate),
    ("list_of_pairs", MhPairs),
    ("ordered_dict", MhOrderedDict),
    ("functional_linear", MhFunctional),
    ("add_module", MhAddModule),
    ("explicit_key_error", MhKeepsSizes),
    ("copies_the_dict", MhDictCopy),
]


class MhPlainDict(MhComprehension):
    def __init__(self, in_features, heads):
        nn.Module.__init__(self)
        self.heads = {name: nn.Linear(in_features, out) for name, out in heads.items()}


class MhSorted(MhComprehension):
    def __init__(self, in_features, heads):
        super().__init__(in_features, dict(sorted(heads.items())))


class MhReversedArgs(MhComprehension):
    def __init__(self, in_features, heads):
        nn.Module.__init__(self)
        self.heads = nn.ModuleDict({n: nn.Linear(o, in_features) for n, o in heads.items()})



class MhGetattr(MhComprehension):
    def forward(self, x, head):
        return getattr(self.heads, head)(x)


class MhFallback(MhComprehension):
    def forward(self, x, head):
        layer = self.heads[head] if head in self.heads else next(iter(self.heads.values()))
        return layer(x)


class MhFirst(MhComprehension):
    def forward(self, x, head):
        return next(iter(self.heads.values()))(x)


class MhRelu(MhComprehension):
    def forward(self, x, head):
        return F.relu(self.heads[head](x))


class MhAttributes(nn.Module):
    def __init__(self, in_features, heads):
        super().__init__()
        for name, out in heads.items():
            setattr(self, name, nn.Linear(in_features, out))

    def forward(self, x, head):
        return getattr(self, head)(x)


class MhShared(MhComprehension):
    """One Linear per distinct size: heads of equal size share it."""

    def __init__(self, in_features, heads):
        nn.Module.__init__(self)
        made = {}
        self.heads = nn.ModuleDict({n: made.setdefault(o, nn.Linear(in_features, o)) for n, o in heads.items()})


class MhNoneForUnknown(MhComprehension):
    def forward(self, x, head):
        if head not in self.heads:
            return None
        return self.heads[head](x)


MULTI_HEAD_WRONG = [
    ("plain_dict", MhPlainDict, "plain Python dict"),
    ("sorted_heads", MhSorted, "not in the order of the dict"),
    ("linear_args_reversed", MhReversedArgs, "(in_features, out_features)"),
    ("getattr_attribute_error", MhGetattr, "AttributeError"),
    ("falls_back_to_first_head", MhFallback, "must raise KeyError"),
    ("always_first_head", MhFirst, "first head"),
    ("relu_on_output", MhRelu, "ReLU was applied"),
    ("heads_as_attributes", MhAttributes, "self.heads"),
    ("one_linear_per_size", MhShared, "same module object"),
    ("none_for_unknown_head", MhNoneForUnknown, "must raise KeyError"),
    ("stub", stub, "NotImplementedError"),
]


# =============================================================================================
# named_sequential
# =============================================================================================

def ns_ordered_dict(layers):
    return nn.Sequential(OrderedDict(layers))


def ns_add_module(layers):
    seq = nn.Sequential()
    for name, module in (layers.items() if isinstance(layers, dict) else layers):
        seq.add_module(name, module)
    return seq


def ns_dict_items(layers):
    return nn.Sequential(OrderedDict(dict(layers).items()))


def ns_setattr(layers):
    seq = nn.Sequential()
    for name, module in dict(layers).items():
        setattr(seq, name, module)
    return seq


def ns_register_module(layers):
    seq = nn.Sequential()
    pairs = list(layers.items()) if hasattr(layers, "items") else [tuple(p) for p in layers]
    for name, module in pairs:
        seq.register_module(name, module)
    return seq


def ns_ordered_comprehension(layers):
    pairs = layers.items() if isinstance(layers, dict) else layers
    return nn.Sequential(OrderedDict((str(n), m) for n, m in pairs))


def ns_modules_dict(layers):
    seq = nn.Sequential()
    seq._modules.update(dict(layers))
    return seq


def ns_try_items(layers):
    try:
        items = list(layers.items())
    except AttributeError:
        items = [(n, m) for n, m in layers]
    return nn.Sequential(OrderedDict(items))


NAMED_SEQUENTIAL_OK = [
    ("ordered_dict", ns_ordered_dict),
    ("add_module_loop", ns_add_module),
    ("dict_then_ordered_dict", ns_dict_items),
    ("setattr_loop", ns_setattr),
    ("register_module", ns_register_module),
    ("ordered_dict_comprehension", ns_ordered_comprehension),
    ("try_items", ns_try_items),
    ("modules_update", ns_modules_dict),
]


def ns_values(layers):
    modules = layers.values() if isinstance(layers, dict) else [m for _, m in layers]
    return nn.Sequential(*modules)


def ns_plain(layers):
    return nn.Sequential(layers)


def ns_dict_only(layers):
    return nn.Sequential(OrderedDict((n, m) for n, m in layers.items()))


def ns_pairs_only(layers):
    seq = nn.Sequential()
    for name, module in layers:
        seq.add_module(name, module)
    return seq


def ns_sorted(layers):
    return nn.Sequential(OrderedDict(sorted(dict(layers).items())))


def ns_deepcopy(layers):
    return nn.Sequential(OrderedDict((n, copy.deepcopy(m)) for n, m in dict(layers).items()))


def ns_moduledict(layers):
    return nn.ModuleDict(dict(layers))


def ns_list_of_modules(layers):
    return list(dict(layers).values())


def ns_reversed(layers):
    return nn.Sequential(OrderedDict(reversed(list(dict(layers).items()))))


NAMED_SEQUENTIAL_WRONG = [
    ("names_lost", ns_values, "the names are lost"),
    ("plain_dict_to_sequential", ns_plain, "is not a Module subclass"),
    ("dict_only", ns_dict_only, "list of (name, module) pairs"),
    ("pairs_only", ns_pairs_only, "gives its keys only"),
    ("sorted_names", ns_sorted, "sorted"),
    ("deep_copies", ns_deepcopy, "not the module that was passed in"),
    ("returns_moduledict", ns_moduledict, "ModuleDict"),
    ("returns_list", ns_list_of_modules, "must return an nn.Sequential"),
    ("reversed", ns_reversed, "not in the order"),
    ("stub", stub, "NotImplementedError"),
]


# =============================================================================================
# 1 and 2: the gallery (tests/judging.py defines the tests every gallery has)
# =============================================================================================

CORRECT = (rows("build_mlp", BUILD_MLP_OK) + rows("repeated", REPEATED_OK) + rows("multi_head", MULTI_HEAD_OK)
           + rows("named_sequential", NAMED_SEQUENTIAL_OK))
WRONG = (rows("build_mlp", BUILD_MLP_WRONG) + rows("repeated", REPEATED_WRONG) + rows("multi_head", MULTI_HEAD_WRONG)
         + rows("named_sequential", NAMED_SEQUENTIAL_WRONG))

gallery_tests(globals(), "07_containers", CORRECT, WRONG)


def test_messages_name_the_call():
    message = failure_of("build_mlp", mlp_relu_last)["message"]
    assert message.startswith("build_mlp([3, 5, 2]) on cpu, float32"), message
    message = failure_of("named_sequential", ns_values)["message"]
    assert message.startswith("named_sequential(layers) on cpu, float32, with\nlayers = a dict:"), message
    assert "'encoder': Linear(in_features=3, out_features=4, bias=True)" in message


# =============================================================================================
# 3. Answers only a cheat sends
# =============================================================================================

class RepFakeOutput(RepComprehension):
    def forward(self, x):
        return torch.zeros(1).as_subclass(AlwaysEqual)


class FakeSequential(nn.Sequential):
    def forward(self, x):
        return torch.zeros(1).as_subclass(AlwaysEqual)


@pytest.mark.parametrize("exercise, fn", [
    pytest.param("repeated", RepFakeOutput, id="repeated_always_equal_output"),
    pytest.param("build_mlp", lambda sizes: FakeSequential(*mlp_recursive(sizes)), id="build_mlp_always_equal_output"),
    pytest.param("named_sequential", lambda layers: FakeSequential(OrderedDict(layers)),
                 id="named_sequential_always_equal_output"),
])
def test_tensor_subclass_results_are_rejected(exercise, fn):
    result = failure_of(exercise, fn)
    assert result["status"] == "tampering", result["message"]

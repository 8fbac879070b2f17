"""Gallery for the hidden checks of 08_devices (autograder/judge/exercises/devices.py).

1. Alternative correct solutions, written the ways students write them: every one must pass,
   on the real machine and on every simulated one.
2. Wrong solutions of the kinds students write: every one must fail (not as tampering), and the
   message must name the mistake.
3. The candidate's `on_machine` operation puts torch's queries back, whatever the call did.

Inputs are never built here: the judge generates them (hand-picked machines, modules, tensors
and batches, then Hypothesis); every test runs with examples drawn and replayed.
"""

import functools
import itertools

import numpy as np
import pytest
import torch
from torch import nn

from autograder.candidate.operations import OPS

from judging import AlwaysEqual, failure_of, gallery_tests, rows, stub

pytestmark = pytest.mark.filterwarnings("ignore:The .grad attribute of a Tensor that is not a leaf")


# =============================================================================================
# available_devices
# =============================================================================================

def ad_loop():
    out = [torch.device("cpu")]
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            out.append(torch.device(f"cuda:{i}"))
    if torch.backends.mps.is_available():
        out.append(torch.device("mps:0"))
    return out


def ad_count_only():
    return ([torch.device("cpu")] + [torch.device("cuda", i) for i in range(torch.cuda.device_count())]
            + ([torch.device("mps")] if torch.backends.mps.is_available() else []))


def ad_first_gpu_unindexed():
    out = [torch.device("cpu")]
    if torch.cuda.is_available():
        out += [torch.device("cuda") if i == 0 else torch.device("cuda", i) for i in range(torch.cuda.device_count())]
    return out + [torch.device("mps")] * torch.backends.mps.is_available()


def ad_names_then_devices():
    names = ["cpu"]
    if torch.cuda.is_available():
        names += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if torch.backends.mps.is_available():
        names.append("mps")
    return [torch.device(n) for n in names]


def ad_from_torch_cuda():
    cuda = torch.cuda
    n = cuda.device_count() if cuda.is_available() else 0
    mps = torch.backends.mps.is_available() and torch.backends.mps.is_built()
    return [torch.device("cpu"), *map(lambda i: torch.device("cuda", i), range(n)), *([torch.device("mps")] if mps else [])]


def ad_insert():
    out = []
    if torch.backends.mps.is_available():
        out.append(torch.device("mps"))
    for i in reversed(range(torch.cuda.device_count() if torch.cuda.is_available() else 0)):
        out.insert(0, torch.device("cuda", i))
    out.insert(0, torch.device("cpu"))
    return out


def ad_itertools():
    cudas = (torch.device("cuda", i) for i in range(torch.cuda.device_count())) if torch.cuda.is_available() else ()
    mps = (torch.device("mps"),) if torch.backends.mps.is_available() else ()
    return list(itertools.chain([torch.device("cpu")], cudas, mps))


def ad_index_kwarg():
    result = [torch.device(type="cpu")]
    count = torch.cuda.device_count()
    if torch.cuda.is_available() and count > 0:
        result.extend(torch.device(type="cuda", index=k) for k in range(count))
    if torch.backends.mps.is_available():
        result.append(torch.device(type="mps", index=0))
    return result


AVAILABLE_OK = [("loop_fstring", ad_loop), ("count_only", ad_count_only), ("first_gpu_unindexed", ad_first_gpu_unindexed),
                ("names_then_devices", ad_names_then_devices), ("mps_is_built_too", ad_from_torch_cuda),
                ("insert_at_front", ad_insert), ("itertools_chain", ad_itertools), ("keyword_index", ad_index_kwarg)]

AT_IMPORT = [torch.device("cpu")] + [torch.device("cuda", i) for i in range(torch.cuda.device_count())]


def ad_at_import():
    return list(AT_IMPORT)


@functools.cache
def ad_cached():
    return ad_loop()


def ad_default_argument(n=torch.cuda.device_count()):
    return [torch.device("cpu")] + [torch.device("cuda", i) for i in range(n)]


def ad_strings():
    return ["cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())] + (["mps"] if torch.backends.mps.is_available() else [])


def ad_unindexed():
    return [torch.device("cpu")] + [torch.device("cuda") for _ in range(torch.cuda.device_count())]


def ad_off_by_one():
    return [torch.device("cpu")] + [torch.device("cuda", i) for i in range(1, torch.cuda.device_count() + 1)]


def ad_mps_first():
    out = [torch.device("cpu")]
    if torch.backends.mps.is_available():
        out.append(torch.device("mps"))
    return out + [torch.device("cuda", i) for i in range(torch.cuda.device_count())]


def ad_no_cpu():
    return [torch.device("cuda", i) for i in range(torch.cuda.device_count())] + (
        [torch.device("mps")] if torch.backends.mps.is_available() else [])


def ad_one_gpu():
    out = [torch.device("cpu")]
    if torch.cuda.is_available():
        out.append(torch.device("cuda:0"))
    return out + ([torch.device("mps")] if torch.backends.mps.is_available() else [])


def ad_no_mps():
    return [torch.device("cpu")] + [torch.device("cuda", i) for i in range(torch.cuda.device_count())]


def ad_tuple():
    return tuple(ad_loop())


def ad_mps_only_without_cuda():
    out = ad_no_mps()
    if torch.backends.mps.is_available() and not torch.cuda.is_available():
        out.append(torch.device("mps"))
    return out


AVAILABLE_WRONG = [
    ("read_at_import", ad_at_import, "read once"),
    ("functools_cache", ad_cached, "read once"),
    ("default_argument", ad_default_argument, "read once"),
    ("strings", ad_strings, "not torch.device objects"),
    ("cuda_without_index", ad_unindexed, "second GPU is cuda:1"),
    ("off_by_one", ad_off_by_one, "numbered from 0"),
    ("mps_before_cuda", ad_mps_first, "not in order"),
    ("cpu_missing", ad_no_cpu, "CPU is missing"),
    ("only_first_gpu", ad_one_gpu, "only one GPU is listed"),
    ("mps_forgotten", ad_no_mps, "mps is missing"),
    ("mps_only_without_cuda", ad_mps_only_without_cuda, "mps is missing"),
    ("tuple", ad_tuple, "return a list"),
    ("stub", stub, "NotImplementedError"),
]


# =============================================================================================
# best_device
# =============================================================================================

def bd_ternary():
    return torch.device("cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu")


def bd_index():
    if torch.cuda.is_available():
        return torch.device("cuda:0")
    return torch.device("mps:0") if torch.backends.mps.is_available() else torch.device("cpu")


def bd_count():
    if torch.cuda.device_count() > 0:
        return torch.device("cuda", 0)
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def bd_first_of_list():
    options = [torch.device("cpu")]
    if torch.backends.mps.is_available():
        options.insert(0, torch.device("mps"))
    if torch.cuda.is_available():
        options.insert(0, torch.device("cuda"))
    return options[0]


def bd_current_device():
    if torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("mps") if torch.backends.mps.is_available() else torch.device("cpu")


def bd_name():
    name = "cpu"
    if torch.backends.mps.is_available():
        name = "mps"
    if torch.cuda.is_available():
        name = "cuda:0"
    return torch.device(name)


def bd_dict():
    table = {"cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available(), "cpu": True}
    return torch.device(next(k for k, v in table.items() if v))


def bd_match():
    match (torch.cuda.is_available(), torch.backends.mps.is_available()):
        case (True, _):
            return torch.device("cuda", 0)
        case (False, True):
            return torch.device("mps")
        case _:
            return torch.device("cpu")


BEST_OK = [("ternary", bd_ternary), ("indexed", bd_index), ("device_count", bd_count), ("first_of_list", bd_first_of_list),
           ("current_device", bd_current_device), ("name_overwritten", bd_name), ("dict_of_flags", bd_dict),
           ("match", bd_match)]

BEST_AT_IMPORT = bd_ternary()


def bd_at_import():
    return BEST_AT_IMPORT


def bd_string():
    return "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"


def bd_mps_first():
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cuda:0") if torch.cuda.is_available() else torch.device("cpu")


def bd_last_gpu():
    if torch.cuda.is_available():
        return torch.device("cuda", torch.cuda.device_count() - 1)
    return torch.device("mps") if torch.backends.mps.is_available() else torch.device("cpu")


def bd_not_called():
    return torch.device("cuda" if torch.cuda.is_available else "cpu")


def bd_no_mps():
    return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")


def bd_mps_not_called():
    if torch.cuda.is_available():
        return torch.device("cuda:0")
    return torch.device("mps" if torch.backends.mps.is_available else "cpu")


@functools.cache
def bd_cached():
    return bd_ternary()


def bd_never_cuda():
    return torch.device("mps") if torch.backends.mps.is_available() else torch.device("cpu")


BEST_WRONG = [
    ("read_at_import", bd_at_import, "read once"),
    ("lru_cache", bd_cached, "read once"),
    ("string", bd_string, "not a torch.device"),
    ("mps_first", bd_mps_first, "CUDA comes first"),
    ("last_gpu", bd_last_gpu, "the last GPU"),
    ("is_available_not_called", bd_not_called, "without calling it"),
    ("mps_is_available_not_called", bd_mps_not_called, "without calling it"),
    ("mps_forgotten", bd_no_mps, "the answer is mps"),
    ("cuda_forgotten", bd_never_cuda, "the answer is cuda:0"),
    ("stub", stub, "NotImplementedError"),
]


# =============================================================================================
# module_device
# =============================================================================================

def md_set(module):
    devices = {t.device for t in module.parameters()} | {t.device for t in module.buffers()}
    if len(devices) != 1:
        raise ValueError("not on exactly one device")
    return next(iter(devices))


def md_loop(module):
    found = None
    for t in itertools.chain(module.parameters(), module.buffers()):
        if found is None:
            found = t.device
        elif t.device != found:
            raise ValueError(f"{found} and {t.device}")
    if found is None:
        raise ValueError("no parameters and no buffers")
    return found


def md_named(module):
    devices = {str(t.device) for _, t in [*module.named_parameters(), *module.named_buffers()]}
    if len(devices) == 1:
        return torch.device(devices.pop())
    raise ValueError(sorted(devices))


def md_modules_walk(module):
    devices = set()
    for m in module.modules():
        devices |= {p.device for p in m._parameters.values() if p is not None}
        devices |= {b.device for b in m._buffers.values() if b is not None}
    if not devices:
        raise ValueError("empty module")
    if len(devices) > 1:
        raise ValueError("mixed devices")
    (device,) = devices
    return device


def md_list_unique(module):
    devices = []
    for t in list(module.parameters()) + list(module.buffers()):
        if t.device not in devices:
            devices.append(t.device)
    if len(devices) != 1:
        raise ValueError(devices)
    return devices[0]


def md_by_type(module):
    kinds = {(t.device.type, t.device.index) for t in [*module.parameters(), *module.buffers()]}
    if len(kinds) != 1:
        raise ValueError("expected exactly one device")
    kind, index = kinds.pop()
    return torch.device(kind, index) if index is not None else torch.device(kind)


def md_try_next(module):
    tensors = itertools.chain(module.parameters(), module.buffers())
    try:
        first = next(tensors)
    except StopIteration:
        raise ValueError("the module holds no tensors") from None
    if any(t.device != first.device for t in tensors):
        raise ValueError("more than one device")
    return first.device


def md_state_dict_keep_vars(module):
    tensors = list(module.parameters()) + list(module.buffers())
    if not tensors:
        raise ValueError("nothing")
    devices = set(map(lambda t: t.device, tensors))
    if len(devices) > 1:
        raise ValueError("several")
    return tensors[0].device


MODULE_OK = [("set_union", md_set), ("loop", md_loop), ("named", md_named), ("modules_walk", md_modules_walk),
             ("unique_list", md_list_unique), ("type_and_index", md_by_type), ("try_next", md_try_next),
             ("map_set", md_state_dict_keep_vars)]


def md_next(module):
    return next(module.parameters()).device


def md_params_only(module):
    devices = {p.device for p in module.parameters()}
    if len(devices) != 1:
        raise ValueError("not one device")
    return devices.pop()


def md_fallback_buffers(module):
    devices = {p.device for p in module.parameters()} or {b.device for b in module.buffers()}
    if len(devices) != 1:
        raise ValueError("not one device")
    return devices.pop()


def md_assert(module):
    devices = {t.device for t in [*module.parameters(), *module.buffers()]}
    assert len(devices) == 1, "the module is not on one device"
    return devices.pop()


def md_default_cpu(module):
    devices = {t.device for t in [*module.parameters(), *module.buffers()]}
    if len(devices) > 1:
        raise ValueError("mixed")
    return devices.pop() if devices else torch.device("cpu")


def md_string(module):
    devices = {str(t.device) for t in [*module.parameters(), *module.buffers()]}
    if len(devices) != 1:
        raise ValueError("not one device")
    return devices.pop()


def md_own_only(module):
    devices = {t.device for t in [*module.parameters(recurse=False), *module.buffers(recurse=False)]}
    if len(devices) != 1:
        raise ValueError("not one device")
    return devices.pop()


def md_state_dict(module):
    devices = {t.device for t in module.state_dict().values()}
    if len(devices) != 1:
        raise ValueError("not one device")
    return devices.pop()


def md_chain_first(module):
    try:
        return next(itertools.chain(module.parameters(), module.buffers())).device
    except StopIteration:
        raise ValueError("no tensors") from None


def md_returns_set(module):
    return {t.device for t in [*module.parameters(), *module.buffers()]}


def md_runtime_error(module):
    devices = {t.device for t in [*module.parameters(), *module.buffers()]}
    if len(devices) != 1:
        raise RuntimeError("not one device")
    return devices.pop()


MODULE_WRONG = [
    ("next_parameters", md_next, "raised StopIteration"),
    ("parameters_only", md_params_only, "looked at the parameters only"),
    ("buffers_only_as_fallback", md_fallback_buffers, "buffers were not looked at"),
    ("assert", md_assert, "not AssertionError"),
    ("default_cpu", md_default_cpu, "do not fall back on a default"),
    ("string", md_string, "not a torch.device"),
    ("own_tensors_only", md_own_only, "only the module's own tensors"),
    ("state_dict", md_state_dict, "persistent=False"),
    ("first_of_all", md_chain_first, "only the first parameter"),
    ("returns_the_set", md_returns_set, "the set of devices"),
    ("runtime_error", md_runtime_error, "not RuntimeError"),
    ("stub", stub, "NotImplementedError"),
]


# =============================================================================================
# to_numpy
# =============================================================================================

def tn_force(t):
    return t.numpy(force=True)


def tn_cpu_first(t):
    return t.cpu().detach().numpy()


def tn_data(t):
    return t.data.cpu().numpy()


def tn_asarray(t):
    return np.asarray(t.detach().cpu())


def tn_array_copy(t):
    return np.array(t.detach().to("cpu"))


def tn_contiguous(t):
    return t.detach().contiguous().cpu().numpy().copy()


def tn_clone(t):
    return t.clone().detach().cpu().numpy()


def tn_no_grad(t):
    with torch.no_grad():
        if t.requires_grad:
            t = t.detach()
        return t.to("cpu").numpy()


TO_NUMPY_OK = [("numpy_force", tn_force), ("cpu_then_detach", tn_cpu_first), ("data", tn_data), ("asarray", tn_asarray),
               ("array_copy", tn_array_copy), ("contiguous_copy", tn_contiguous), ("clone_detach", tn_clone),
               ("no_grad_detach", tn_no_grad)]


def tn_numpy(t):
    return t.cpu().numpy()


def tn_tolist(t):
    return t.detach().cpu().tolist()


def tn_array_of_list(t):
    return np.array(t.detach().cpu().tolist())


def tn_float(t):
    return t.detach().cpu().float().numpy()


def tn_double(t):
    return t.detach().cpu().double().numpy()


def tn_requires_grad_off(t):
    t.requires_grad_(False)
    return t.cpu().numpy()


def tn_detach_(t):
    return t.detach_().cpu().numpy()


def tn_flatten(t):
    return t.detach().cpu().reshape(-1).numpy()


def tn_item(t):
    return t.item() if t.dim() == 0 else t.detach().cpu().numpy()


def tn_dtype_float(t):
    return np.array(t.detach().cpu().numpy(), dtype=float)


def tn_storage(t):
    base = t.detach().cpu()
    flat = np.frombuffer(bytearray(base.untyped_storage()), dtype=base.numpy().dtype)
    return flat[base.storage_offset():base.storage_offset() + base.numel()].reshape(tuple(base.shape))


def tn_returns_tensor(t):
    return t.detach().cpu()


TO_NUMPY_WRONG = [
    ("numpy_without_detach", tn_numpy, "requires grad"),
    ("tolist", tn_tolist, "Python list"),
    ("array_of_tolist", tn_array_of_list, "the dtype changed"),
    ("float", tn_float, "turned it into float32"),
    ("double", tn_double, "give float64"),
    ("requires_grad_off", tn_requires_grad_off, "changed the caller's tensor"),
    ("detach_in_place", tn_detach_, "changed the caller's tensor"),
    ("flattened", tn_flatten, "the shape changed"),
    ("item_for_0d", tn_item, "Python number"),
    ("dtype_float", tn_dtype_float, "the dtype changed"),
    ("raw_storage", tn_storage, "not contiguous"),
    ("returns_tensor", tn_returns_tensor, "returned a tensor"),
    ("stub", stub, "NotImplementedError"),
]


# =============================================================================================
# move_to
# =============================================================================================

def mt_isinstance(obj, device):
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: mt_isinstance(v, device) for k, v in obj.items()}
    if isinstance(obj, list):
        return [mt_isinstance(v, device) for v in obj]
    if isinstance(obj, tuple):
        return tuple(mt_isinstance(v, device) for v in obj)
    return obj


def mt_type_call(obj, device):
    if torch.is_tensor(obj):
        return obj.to(device=device)
    if type(obj) is dict:
        return dict((k, mt_type_call(v, device)) for k, v in obj.items())
    if type(obj) in (list, tuple):
        return type(obj)(map(lambda v: mt_type_call(v, device), obj))
    return obj


def mt_match(obj, device):
    match obj:
        case torch.Tensor():
            return obj.to(device)
        case dict():
            return {k: mt_match(v, device) for k, v in obj.items()}
        case list():
            return [mt_match(v, device) for v in obj]
        case tuple():
            return tuple(mt_match(v, device) for v in obj)
        case _:
            return obj


def mt_in_place(obj, device):
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        for k in obj:
            obj[k] = mt_in_place(obj[k], device)
        return obj
    if isinstance(obj, list):
        obj[:] = [mt_in_place(v, device) for v in obj]
        return obj
    if isinstance(obj, tuple):
        return tuple(mt_in_place(v, device) for v in obj)
    return obj


def mt_torch_device(obj, device):
    device = torch.device(device)
    if isinstance(obj, torch.Tensor):
        return obj.to(device, non_blocking=True)
    if isinstance(obj, dict):
        return {k: mt_torch_device(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)([mt_torch_device(v, device) for v in obj])
    return obj


def mt_pytree(obj, device):
    from torch.utils._pytree import tree_map
    return tree_map(lambda x: x.to(device) if isinstance(x, torch.Tensor) else x, obj)


def mt_stack(obj, device):
    def go(x):
        if isinstance(x, torch.Tensor):
            return x.to(device)
        if isinstance(x, dict):
            return dict(zip(x.keys(), map(go, x.values())))
        if isinstance(x, (list, tuple)):
            items = [go(v) for v in x]
            return items if isinstance(x, list) else tuple(items)
        return x
    return go(obj)


def mt_tensor_type_check(obj, device):
    if type(obj).__name__ in ("Tensor", "Parameter"):
        return obj.to(device)
    if isinstance(obj, dict):
        return {key: mt_tensor_type_check(obj[key], device) for key in obj}
    if isinstance(obj, (tuple, list)):
        moved = [mt_tensor_type_check(o, device) for o in obj]
        return tuple(moved) if isinstance(obj, tuple) else moved
    return obj


MOVE_OK = [("isinstance", mt_isinstance), ("type_call", mt_type_call), ("match", mt_match), ("in_place", mt_in_place),
           ("torch_device_non_blocking", mt_torch_device), ("pytree", mt_pytree), ("zip_keys", mt_stack),
           ("type_name", mt_tensor_type_check)]


def mt_list_for_tuple(obj, device):
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: mt_list_for_tuple(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [mt_list_for_tuple(v, device) for v in obj]
    return obj


def mt_sorted(obj, device):
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: mt_sorted(obj[k], device) for k in sorted(obj, key=str)}
    if isinstance(obj, (list, tuple)):
        return type(obj)(mt_sorted(v, device) for v in obj)
    return obj


def mt_not_nested(obj, device):
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(v.to(device) if isinstance(v, torch.Tensor) else v for v in obj)
    return obj


def mt_hasattr_to(obj, device):
    if hasattr(obj, "to"):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: mt_hasattr_to(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(mt_hasattr_to(v, device) for v in obj)
    return obj


def mt_float(obj, device):
    if isinstance(obj, torch.Tensor):
        return obj.float().to(device)
    if isinstance(obj, dict):
        return {k: mt_float(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(mt_float(v, device) for v in obj)
    return obj


def mt_as_tensor(obj, device):
    if isinstance(obj, dict):
        return {k: mt_as_tensor(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)) and not all(isinstance(v, (int, float)) for v in obj):
        return type(obj)(mt_as_tensor(v, device) for v in obj)
    if isinstance(obj, (int, float)) and not isinstance(obj, bool):
        return torch.as_tensor(obj, device=device)
    return obj.to(device) if isinstance(obj, torch.Tensor) else obj


def mt_sequence(obj, device):
    from collections.abc import Mapping, Sequence
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, Mapping):
        return {k: mt_sequence(v, device) for k, v in obj.items()}
    if isinstance(obj, Sequence):
        return type(obj)(mt_sequence(v, device) for v in obj) if not isinstance(obj, str) else list(obj)
    return obj


def mt_drops_others(obj, device):
    if isinstance(obj, torch.Tensor):
        return obj.to(device)
    if isinstance(obj, dict):
        return {k: mt_drops_others(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(mt_drops_others(v, device) for v in obj)
    return None


def mt_copy_module(obj, device):
    import copy
    if isinstance(obj, nn.Module):
        return copy.deepcopy(obj)
    return mt_isinstance(obj, device)


def mt_dtype_kept_wrong(obj, device):
    if isinstance(obj, torch.Tensor):
        return obj.to(device, torch.float32)
    if isinstance(obj, dict):
        return {k: mt_dtype_kept_wrong(v, device) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(mt_dtype_kept_wrong(v, device) for v in obj)
    return obj


MOVE_WRONG = [
    ("list_for_tuple", mt_list_for_tuple, "a tuple came back as a list"),
    ("sorted_keys", mt_sorted, "not in their order"),
    ("one_level_only", mt_not_nested, "recurse into"),
    ("hasattr_to_moves_module", mt_hasattr_to, "the module inside was moved"),
    ("float", mt_float, "so it keeps its dtype"),
    ("to_float32", mt_dtype_kept_wrong, "so it keeps its dtype"),
    ("numbers_as_tensors", mt_as_tensor, "only tensors are moved"),
    ("str_as_sequence", mt_sequence, "a str is a sequence too"),
    ("drops_other_objects", mt_drops_others, "expected"),
    ("copies_module", mt_copy_module, "the very object"),
    ("stub", stub, "NotImplementedError"),
]


# =============================================================================================
# the gallery (tests/judging.py defines the tests every gallery has)
# =============================================================================================

CORRECT = (rows("available_devices", AVAILABLE_OK) + rows("best_device", BEST_OK) + rows("module_device", MODULE_OK)
           + rows("to_numpy", TO_NUMPY_OK) + rows("move_to", MOVE_OK))
WRONG = (rows("available_devices", AVAILABLE_WRONG) + rows("best_device", BEST_WRONG)
         + rows("module_device", MODULE_WRONG) + rows("to_numpy", TO_NUMPY_WRONG) + rows("move_to", MOVE_WRONG))

gallery_tests(globals(), "08_devices", CORRECT, WRONG)


# =============================================================================================
# 3. own regressions
# =============================================================================================

def test_on_machine_puts_the_queries_back_even_when_the_call_raises():
    before = (torch.cuda.is_available, torch.cuda.device_count, torch.backends.mps.is_available,
              torch.backends.mps.is_built, torch.cuda.current_device)
    seen = OPS["on_machine"]({"cuda": 3, "mps": True},
                             lambda: (torch.cuda.is_available(), torch.cuda.device_count(),
                                      torch.backends.mps.is_available(), torch.cuda.current_device()))
    assert seen == (True, 3, True, 0)

    def boom():
        raise KeyError("student code")

    with pytest.raises(KeyError):
        OPS["on_machine"]({"cuda": 2, "mps": False}, boom)
    after = (torch.cuda.is_available, torch.cuda.device_count, torch.backends.mps.is_available,
             torch.backends.mps.is_built, torch.cuda.current_device)
    assert after == before


def test_moved_fixture_puts_one_layer_on_meta():
    from autograder.judge.declare import RELU, Spec, linear
    from autograder.protocol.fixtures import build
    model = build(Spec("sequential", children=[["0", Spec("moved", module=linear(2, 2), device="meta")],
                                               ["1", RELU], ["2", linear(2, 2)]]).encoded(local=True))
    assert {str(p.device) for p in model.parameters()} == {"meta", "cpu"}


def test_messages_name_the_simulated_machine():
    message = failure_of("available_devices", ad_unindexed)["message"]
    assert "simulated machine with 2 CUDA GPUs" in message and "torch.cuda.device_count() -> 2" in message


def test_look_alike_device_lists_are_rejected():
    result = failure_of("to_numpy", lambda t: torch.zeros(1).as_subclass(AlwaysEqual))
    assert result["status"] == "tampering" or "returned a tensor" in result["message"], result

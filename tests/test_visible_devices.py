"""The visible tests of 08_devices mean something, and its ungraded practice checks itself.

RIGHT holds correct alternatives (each must pass its exercise's visible test), WRONG the mistakes
the notebook warns about (each must fail it, for the stated reason); `visible.visible_tests`
tries them, and the instructor's solution, the release stub and samples/solutions/08_devices.py.
Own regressions: no solution line appears elsewhere in the notebook; the practice's stubs say
"not written yet" and its folded solutions pass their self-checks.
"""

import re

from conftest import nbgrader_meta
from visible import Notebook, practice_tests, visible_tests

NOTEBOOK = Notebook("08_devices")
NB, SOLUTIONS = NOTEBOOK.nb, NOTEBOOK.solutions


def fn(name, args, body):
    body = "\n".join("    " + line for line in body.strip("\n").splitlines())
    return f"def {name}({args}):\n{body}\n"


def available(body):
    return fn("available_devices", "", body)


def best(body):
    return fn("best_device", "", body)


def where(body):
    return fn("module_device", "module", body)


def numpy_of(body):
    return fn("to_numpy", "t", body)


MOVE_HEAD = """if isinstance(obj, torch.Tensor):
    return obj.to(device)
if isinstance(obj, dict):
    return {k: move_to(v, device) for k, v in obj.items()}
"""


def move(body, head=MOVE_HEAD):
    return fn("move_to", "obj, device", head + body)


# (exercise, what the alternative is, its source)
RIGHT = [
    ("available_devices", "names, then devices", available("""
names = ["cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
if torch.backends.mps.is_available():
    names.append("mps:0")
return [torch.device(n) for n in names]""")),
    ("available_devices", "first GPU without an index", available("""
out = [torch.device("cpu")]
for i in range(torch.cuda.device_count()):
    out.append(torch.device("cuda") if i == 0 else torch.device("cuda", i))
return out + ([torch.device("mps")] if torch.backends.mps.is_available() else [])""")),
    ("best_device", "one line", best(
        'return torch.device("cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() '
        'else "cpu")')),
    ("best_device", "device_count", best("""
if torch.cuda.device_count():
    return torch.device("cuda:0")
return torch.device("mps") if torch.backends.mps.is_available() else torch.device("cpu")""")),
    ("module_device", "a loop", where("""
found = None
for t in [*module.parameters(), *module.buffers()]:
    if found is not None and t.device != found:
        raise ValueError("two devices")
    found = t.device
if found is None:
    raise ValueError("no tensors")
return found""")),
    ("module_device", "named tensors", where("""
devices = {str(t.device) for _, t in [*module.named_parameters(), *module.named_buffers()]}
if len(devices) != 1:
    raise ValueError(devices)
return torch.device(devices.pop())""")),
    ("to_numpy", "numpy(force=True)", numpy_of("return t.numpy(force=True)")),
    ("to_numpy", "np.asarray", numpy_of("return np.asarray(t.detach().to('cpu'))")),
    ("move_to", "list and tuple apart", move("""if isinstance(obj, list):
    return [move_to(v, device) for v in obj]
if isinstance(obj, tuple):
    return tuple(move_to(v, device) for v in obj)
return obj""")),
    ("move_to", "pytree", fn("move_to", "obj, device", """from torch.utils._pytree import tree_map
return tree_map(lambda x: x.to(device) if isinstance(x, torch.Tensor) else x, obj)""")),
]

# (exercise, what the mistake is, its source, a phrase of the message the visible test must give)
WRONG = [
    ("available_devices", "strings", available(
        'return ["cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]'), "not a torch.device"),
    ("available_devices", "every GPU unindexed", available(
        'return [torch.device("cpu")] + [torch.device("cuda") for _ in range(torch.cuda.device_count())]'),
     "wrong devices"),
    ("available_devices", "off by one", available(
        'return [torch.device("cpu")] + [torch.device("cuda", i) for i in range(1, torch.cuda.device_count() + 1)]'),
     "wrong devices"),
    ("available_devices", "read at import", "AT_IMPORT = [torch.device('cpu')]\n\n" + available("return list(AT_IMPORT)"),
     "simulated_machine(cuda=3"),
    ("available_devices", "mps before the GPUs", available("""
out = [torch.device("cpu")] + ([torch.device("mps")] if torch.backends.mps.is_available() else [])
return out + [torch.device("cuda", i) for i in range(torch.cuda.device_count())]"""), "simulated_machine(cuda=2, mps=True)"),
    ("available_devices", "a tuple", available("return (torch.device('cpu'),)"), "expected a list of torch.device"),
    ("best_device", "a string", best('return "cuda" if torch.cuda.is_available() else "cpu"'), "not a torch.device"),
    ("best_device", "mps first", best("""
if torch.backends.mps.is_available():
    return torch.device("mps")
return torch.device("cuda" if torch.cuda.is_available() else "cpu")"""), "simulated_machine(cuda=1, mps=True)"),
    ("best_device", "is_available not called", best(
        'return torch.device("cuda" if torch.cuda.is_available else "cpu")'), "wrong devices"),
    ("best_device", "read at import", "BEST = torch.device('cpu')\n\n" + best("return BEST"), "wrong devices"),
    ("best_device", "the last GPU", best("""
if torch.cuda.is_available():
    return torch.device("cuda", torch.cuda.device_count() - 1)
return torch.device("mps") if torch.backends.mps.is_available() else torch.device("cpu")"""), "simulated_machine(cuda=2"),
    ("module_device", "next(parameters())", where("return next(module.parameters()).device"), ""),
    ("module_device", "parameters only", where("""
devices = {p.device for p in module.parameters()}
if len(devices) != 1:
    raise ValueError("the parameters are not on one device")
return devices.pop()"""), "the parameters are not on one device"),
    ("module_device", "assert", where("""
devices = {t.device for t in [*module.parameters(), *module.buffers()]}
assert len(devices) == 1
return devices.pop()"""), "raised the wrong error"),
    ("module_device", "cpu for an empty module", where("""
devices = {t.device for t in [*module.parameters(), *module.buffers()]}
if len(devices) > 1:
    raise ValueError("mixed")
return devices.pop() if devices else torch.device("cpu")"""), "expected it to raise ValueError"),
    ("module_device", "a string", where("""
devices = {str(t.device) for t in [*module.parameters(), *module.buffers()]}
if len(devices) != 1:
    raise ValueError("mixed")
return devices.pop()"""), "not a torch.device"),
    ("to_numpy", ".numpy() without detach", numpy_of("return t.cpu().numpy()"), "Can't call numpy()"),
    ("to_numpy", ".tolist()", numpy_of("return t.detach().cpu().tolist()"), "the type of"),
    ("to_numpy", "np.array of a list", numpy_of("return np.array(t.detach().cpu().tolist())"), "the array's dtype"),
    ("to_numpy", ".float()", numpy_of("return t.detach().cpu().float().numpy()"), "the array's dtype"),
    ("to_numpy", "requires_grad_(False)", numpy_of("t.requires_grad_(False)\nreturn t.cpu().numpy()"),
     "t.requires_grad after the call"),
    ("move_to", "a list for a tuple", move("""if isinstance(obj, (list, tuple)):
    return [move_to(v, device) for v in obj]
return obj"""), "the type of out['pair']"),
    ("move_to", "keys sorted", move("""if isinstance(obj, (list, tuple)):
    return type(obj)(move_to(v, device) for v in obj)
return obj""", head="""if isinstance(obj, torch.Tensor):
    return obj.to(device)
if isinstance(obj, dict):
    return {k: move_to(obj[k], device) for k in sorted(obj)}
"""), "the keys of"),
    ("move_to", "one level only", fn("move_to", "obj, device", """if isinstance(obj, dict):
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in obj.items()}
return obj.to(device) if isinstance(obj, torch.Tensor) else obj"""), "the device of"),
    ("move_to", "the module moved", move("""if isinstance(obj, (list, tuple)):
    return type(obj)(move_to(v, device) for v in obj)
return obj.to(device) if hasattr(obj, "to") else obj"""), "model.weight.device after the call"),
    ("move_to", ".float()", fn("move_to", "obj, device", """if isinstance(obj, torch.Tensor):
    return obj.float().to(device)
if isinstance(obj, dict):
    return {k: move_to(v, device) for k, v in obj.items()}
if isinstance(obj, (list, tuple)):
    return type(obj)(move_to(v, device) for v in obj)
return obj"""), "the dtype of"),
]

visible_tests(globals(), NOTEBOOK, RIGHT, WRONG,
              mentions=(("float64", "simulated_machine"), "try float64 or a simulated machine"))

PRACTICE = practice_tests(globals(), NOTEBOOK, [next(c.source for c in NB.cells if "def devices_reference" in c.source)],
                          marker="try_practice(")


def test_the_practice_has_two_exercises():
    assert [p[0] for p in PRACTICE] == ["c50-md", "c52-md"]


def test_solution_lines_do_not_appear_elsewhere_in_the_notebook():
    """No line of a solution is a line of another cell (the notebook teaches idioms such as
    `if torch.cuda.is_available():` in the open, inside longer lines)."""
    lines = {line.strip() for c in NB.cells if not nbgrader_meta(c).get("solution") for line in c.source.splitlines()}
    for source in SOLUTIONS.values():
        for part in re.findall(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", source, re.S):
            for line in part.splitlines():
                assert len(line.strip()) <= 12 or line.strip() not in lines, line

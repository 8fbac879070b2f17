"""Unit tests for what every notebook imports from the `course` package: devices, the checks of the
visible tests (`checks`), plots that several assignments use, and the rule that the package holds
no answer to a graded exercise. What one assignment added is tested in test_course_<topic>.py
(01's shapes, memory and broadcasting pictures and widgets: test_course_tensor_ops.py).
"""

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from autograder.protocol.signatures import defined_name  # noqa: E402
from course import checks, devices, plots  # noqa: E402
from course.checks import CheckError  # noqa: E402

from conftest import CURRICULUM  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


# --------------------------------------------------------------------------- devices


def _fake_machine(monkeypatch, cuda=0, mps=False):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i=None: f"Fake GPU {i}")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)


def test_describe_devices_cpu_only(monkeypatch):
    _fake_machine(monkeypatch, cuda=0, mps=False)
    assert devices.describe_devices().splitlines() == [
        f"CPU: {torch.get_num_threads()} threads", "CUDA: not available", "MPS (Apple GPU): not available"]


def test_describe_devices_names_every_gpu(monkeypatch):
    _fake_machine(monkeypatch, cuda=2, mps=True)
    lines = devices.describe_devices().splitlines()
    assert lines[1] == "CUDA: 2 GPUs (cuda:0 Fake GPU 0, cuda:1 Fake GPU 1)"
    assert lines[2] == "MPS (Apple GPU): available"
    _fake_machine(monkeypatch, cuda=1, mps=False)
    assert devices.describe_devices().splitlines()[1] == "CUDA: 1 GPU (cuda:0 Fake GPU 0)"


def _public_names(module):
    return {name for name in vars(module) if not name.startswith("_")}


def _all_exercise_names():
    """Every function or class a student writes in any assignment: from the shared contract when
    it is beside this checkout, else from the assignments the autograder knows."""
    names = {defined_name(sig) for exercises in CURRICULUM.values() for sig in exercises.values()}
    contract = Path(__file__).resolve().parents[2] / "shared" / "curriculum.md"
    if contract.exists():
        for ex_id, signature in re.findall(r"^\| `(\w+)` \| (.+?) \|", contract.read_text("utf-8"), re.M):
            names.add(ex_id)
            names.update(re.findall(r"`(?:class\s+)?(\w+)\(", signature)[:1])
    return names


def test_the_course_package_holds_no_answer_to_a_graded_exercise():
    exercise_names = _all_exercise_names()
    assert {"row_normalize", "batch_flatten"} <= exercise_names
    import importlib
    import pkgutil

    import course
    modules = [importlib.import_module(f"course.{m.name}") for m in pkgutil.iter_modules(course.__path__)]
    assert len(modules) >= 5
    for module in modules:  # every module of the package, new ones included
        leaked = _public_names(module) & exercise_names
        assert not leaked, f"course.{module.__name__.split('.')[-1]} defines {leaked}, a graded exercise"


def test_devices_offers_no_reusable_device_list():
    # listing devices and picking the best one are exercises of 08_devices
    assert _public_names(devices) - {"torch"} == {"describe_devices"}
    assert isinstance(devices.describe_devices(), str)


# --------------------------------------------------------------------------- checks


def test_check_error_is_an_assertion_error():
    assert issubclass(CheckError, AssertionError)


def _failure(fn, *args, **kwargs):
    with pytest.raises(CheckError) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    assert "expected" in message and "got" in message
    return message


def test_expect_tensor():
    checks.expect_tensor(torch.zeros(2))
    message = _failure(checks.expect_tensor, [1, 2], name="answer")
    assert message.startswith("answer:")
    assert "torch.Tensor" in message and "list" in message and "[1, 2]" in message


def test_expect_shape():
    checks.expect_shape(torch.zeros(2, 3), (2, 3))
    checks.expect_shape(torch.zeros(2, 3), torch.Size([2, 3]))
    checks.expect_shape(torch.tensor(1.0), ())
    message = _failure(checks.expect_shape, torch.zeros(3, 2), (2, 3), name="y")
    assert message.startswith("y: wrong shape")
    assert "expected: (2, 3)" in message
    assert "got:      (3, 2)" in message
    # Not a tensor at all: the type check comes first.
    assert "torch.Tensor" in _failure(checks.expect_shape, 3.0, ())


def test_expect_dtype():
    checks.expect_dtype(torch.zeros(2, dtype=torch.int64), torch.int64)
    message = _failure(checks.expect_dtype, torch.zeros(2), torch.int64)
    assert "wrong dtype" in message
    assert "expected: torch.int64" in message
    assert "got:      torch.float32" in message


def test_expect_device():
    checks.expect_device(torch.zeros(2), "cpu")
    checks.expect_device(torch.zeros(2), torch.device("cpu"))
    message = _failure(checks.expect_device, torch.zeros(2), "meta")
    assert "wrong device" in message
    assert "expected: device(type='meta')" in message
    assert "got:      device(type='cpu')" in message
    message = _failure(checks.expect_device, torch.zeros(2, device="meta"), "cpu")
    assert "got:      device(type='meta')" in message


def test_expect_device_ignores_a_missing_or_default_index():
    checks.expect_device(torch.zeros(2), "cpu:0")


def test_expect_close_passes_within_tolerance():
    expected = torch.tensor([1.0, 2.0, 1000.0])
    checks.expect_close(expected + 1e-7, expected)
    checks.expect_close(torch.tensor([1.0, 2.0]), [1.0, 2.0])  # plain lists are accepted
    checks.expect_close(torch.tensor([float("nan"), 1.0]), torch.tensor([float("nan"), 1.0]))
    checks.expect_close(torch.tensor([1.0], requires_grad=True) * 1, torch.tensor([1.0]))


def test_expect_close_tolerances():
    expected = torch.tensor([1.0, 1000.0])
    off_abs = torch.tensor([1.001, 1000.0])
    message = _failure(checks.expect_close, off_abs, expected)
    assert "wrong values" in message and "1.0010" in message
    checks.expect_close(off_abs, expected, atol=1e-2)
    off_rel = torch.tensor([1.0, 1000.5])
    _failure(checks.expect_close, off_rel, expected)
    checks.expect_close(off_rel, expected, rtol=1e-3)


def test_expect_close_checks_shape_dtype_and_shows_hint():
    expected = torch.tensor([1.0, 2.0])
    assert "wrong shape" in _failure(checks.expect_close, torch.tensor([[1.0, 2.0]]), expected)
    message = _failure(checks.expect_close, expected.double(), expected)
    assert "wrong dtype" in message and "torch.float64" in message and "torch.float32" in message
    message = _failure(checks.expect_close, torch.tensor([1.0, 3.0]), expected, hint="check the sign")
    assert "hint: check the sign" in message
    assert "shape (2,)" in message and "torch.float32" in message and "on cpu" in message


def test_expect_equal():
    checks.expect_equal(torch.tensor([1, 2, 3]), torch.tensor([1, 2, 3]))
    checks.expect_equal(torch.tensor([1, 2, 3]), [1, 2, 3])
    message = _failure(checks.expect_equal, torch.tensor([1, 2, 4]), [1, 2, 3], name="idx")
    assert message.startswith("idx: wrong values")
    assert "tensor([1, 2, 3])" in message and "tensor([1, 2, 4])" in message
    # Exact: a tiny float difference is a failure, unlike expect_close.
    _failure(checks.expect_equal, torch.tensor([1.0 + 1e-6]), torch.tensor([1.0]))
    assert "wrong dtype" in _failure(checks.expect_equal, torch.tensor([1.0, 2.0]), [1, 2])


def test_expect_shares_memory():
    x = torch.arange(12.0).reshape(3, 4)
    checks.expect_shares_memory(x.t(), x)
    checks.expect_shares_memory(x[1:, ::2], x)
    checks.expect_shares_memory(x.view(4, 3), x)
    message = _failure(checks.expect_shares_memory, x.clone(), x)
    assert "copy" in message
    _failure(checks.expect_shares_memory, x.t().contiguous(), x)
    _failure(checks.expect_shares_memory, torch.arange(12.0).reshape(3, 4), x)
    assert "torch.Tensor" in _failure(checks.expect_shares_memory, [1.0], x)


def test_ok_prints_a_tick(capsys):
    checks.ok()
    checks.ok("done")
    assert capsys.readouterr().out == "✓ all visible checks passed\n✓ done\n"


def test_expect_close_shows_its_hint_for_every_kind_of_difference():
    expected = torch.tensor([1.0, 2.0])
    for got in (torch.tensor([[1.0, 2.0]]), expected.double(), torch.tensor([1.0, 3.0])):
        assert "hint: keepdim" in _failure(checks.expect_close, got, expected, hint="keepdim")


def test_expect_pair():
    values, indices = torch.tensor([1.0]), torch.tensor([0])
    assert checks.expect_pair((values, indices)) == (values, indices)
    named = torch.tensor([[1.0, 3.0]]).max(dim=1)
    assert checks.expect_pair(named) is named  # torch's named tuple is a tuple
    with pytest.raises(CheckError, match="got one tensor") as info:
        checks.expect_pair(indices, "max_per_row(x)", ("values", "indices"), hint="argmax gives only indices")
    assert "(values, indices)" in str(info.value) and "hint: argmax gives only indices" in str(info.value)
    with pytest.raises(CheckError, match="got a list of length 2"):
        checks.expect_pair([values, indices])
    with pytest.raises(CheckError, match="got a tuple of length 3"):
        checks.expect_pair((values, indices, indices))
    with pytest.raises(CheckError, match="indices: expected a torch.Tensor"):
        checks.expect_pair((values, 0), parts=("values", "indices"))


def test_expect_unchanged():
    x = torch.tensor([1.0, 2.0])
    checks.expect_unchanged(x, x.clone())
    before = x.clone()
    x /= 2
    message = _failure(checks.expect_unchanged, x, before, name="x after f(x)")
    assert message.startswith("x after f(x): it was modified") and "in-place" in message


def test_expect_writes_through_accepts_views_and_restores_the_input():
    x = torch.arange(24.0).reshape(2, 3, 4)
    for view in (x.reshape(2, 12), x.view(2, -1), x.flatten(1), x[:, 1], x.t() if x.dim() == 2 else x.transpose(1, 2)):
        checks.expect_writes_through(view, x)
        assert torch.equal(x, torch.arange(24.0).reshape(2, 3, 4))  # put back as it was


def test_expect_writes_through_rejects_copies():
    x = torch.arange(6.0).reshape(2, 3)
    for copy in (x.clone(), x.reshape(2, 3).contiguous().clone(), torch.tensor(x.tolist()), x.t().contiguous()):
        with pytest.raises(CheckError, match="got a copy") as info:
            checks.expect_writes_through(copy, x, hint="no clone")
        assert "hint: no clone" in str(info.value)
    assert torch.equal(x, torch.arange(6.0).reshape(2, 3))
    with pytest.raises(CheckError, match="expected a torch.Tensor"):
        checks.expect_writes_through(x.tolist(), x)


def _fn(source):
    namespace = {"torch": torch}
    exec(source, namespace)
    return next(v for k, v in namespace.items() if k.startswith("f"))


def test_expect_device_follows_passes_device_aware_code():
    x = torch.ones(2, 3, dtype=torch.float64)
    for source in ("def f(x): return x / x.sum(1, keepdim=True)",
                   "def f(x): return torch.zeros_like(x) + x",
                   "def f(x): return torch.zeros(x.shape, dtype=x.dtype, device=x.device) + x",
                   "def f(x): return x.max(dim=1)",
                   "def f(x): return x.reshape(len(x), -1)"):
        checks.expect_device_follows(_fn(source), x)


@pytest.mark.parametrize("source, shown", [
    ("def f(x): return torch.zeros(x.shape, dtype=x.dtype) + x", "it mixes devices"),
    ("def f(x): return torch.zeros(x.shape, dtype=x.dtype)", "wrong device"),
    ("def f(x): return x.max(1).values, torch.arange(len(x))", "f[1] with inputs on the meta device"),
])
def test_expect_device_follows_catches_tensors_left_on_the_cpu(source, shown):
    with pytest.raises(CheckError) as info:
        checks.expect_device_follows(_fn(source), torch.ones(2, 3))
    assert shown in str(info.value) and "device=x.device" in str(info.value)


def test_expect_device_follows_skips_code_that_reads_values(capsys):
    checks.expect_device_follows(_fn("def f(x): return x * float(x[0, 0])"), torch.ones(2, 3), name="g")
    assert "device check of g skipped" in capsys.readouterr().out


def test_expect_device_follows_lets_other_errors_through():
    with pytest.raises(NotImplementedError):
        checks.expect_device_follows(_fn("def f(x): raise NotImplementedError()"), torch.ones(2))


def test_show_error_prints_the_full_message_and_returns_it(capsys):
    message = checks.show_error(lambda: torch.ones(3, 4).t().view(12))
    out = capsys.readouterr().out
    assert out.startswith("RuntimeError: view size is not compatible")
    assert "Use .reshape(...) instead." in out and out.strip().endswith("instead.")
    assert message in out
    assert checks.show_error(lambda: torch.ones(3)[::-1]) == "step must be greater than zero"


def test_show_error_fails_when_nothing_is_raised():
    with pytest.raises(AssertionError, match="succeeded"):
        checks.show_error(lambda: torch.ones(2) + 1)


def _defined(source, name="eye", filename="<puzzle>"):
    """Define a function from source so that inspect.getsource finds it (as IPython does)."""
    import linecache
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    namespace = {"torch": torch}
    exec(compile(source, filename, "exec"), namespace)
    return namespace[name]


def test_try_puzzle_reports_each_outcome(capsys):
    reference = lambda n: torch.eye(n, dtype=torch.int64)  # noqa: E731
    cases = [1, 3]
    right = _defined("def eye(n):\n    i = torch.arange(n)\n    return torch.where(i[:, None] == i, 1, 0)\n")
    assert checks.try_puzzle(right, reference, cases, only=checks.PUZZLE_OPS) is None
    assert capsys.readouterr().out == "✓ eye: 2 cases agree with the reference\n"

    checks.try_puzzle(_defined("def eye(n):\n    raise NotImplementedError()\n"), reference, cases)
    assert capsys.readouterr().out == "… eye: not written yet\n"

    checks.try_puzzle(_defined("def eye(n):\n    return torch.eye(n, dtype=torch.int64)\n", filename="<p2>"),
                      reference, cases, only=checks.PUZZLE_OPS)
    out = capsys.readouterr().out
    assert out.startswith("✗ eye gives the right answers but uses eye;") and "arange" in out

    checks.try_puzzle(_defined("def eye(n):\n    return torch.ones(n, n, dtype=torch.int64)\n", filename="<p3>"),
                      reference, cases)
    assert capsys.readouterr().out.startswith("✗ eye(3): got tensor([[1, 1, 1]")

    checks.try_puzzle(_defined("def eye(n):\n    return torch.eye(n)\n", filename="<p4>"), reference, cases)
    assert capsys.readouterr().out == "✗ eye(1): dtype torch.float32, expected torch.int64\n"

    checks.try_puzzle(_defined("def eye(n):\n    return 1 / 0\n", filename="<p5>"), reference, cases)
    assert capsys.readouterr().out == "✗ eye(1) raised ZeroDivisionError: division by zero\n"


def test_try_puzzle_compares_tuples_and_allows_dtypes(capsys):
    reference = lambda x: (x.max(1).values, x.argmax(1))  # noqa: E731
    good = _defined("def f(x):\n    return x.max(1).values, x.argmax(1).to(torch.int64)\n", "f", "<p6>")
    checks.try_puzzle(good, reference, [torch.tensor([[1.0, 3.0]])], only=("max", "values", "argmax", "to"))
    assert capsys.readouterr().out.startswith("✓ f: 1 cases")
    checks.try_puzzle(lambda x: (x.max(1).values,), reference, [torch.tensor([[1.0, 3.0]])])
    assert "expected a tuple of 2" in capsys.readouterr().out


# --------------------------------------------------------------------------- plots


def test_plot_timings_has_title_labels_and_one_line_per_method():
    fig = plots.plot_timings([10, 100], {"loop": [1e-3, 1e-2], "vectorised": [1e-5, 2e-5]}, title="t", xlabel="n")
    (ax,) = fig.axes
    assert ax.get_title() == "t" and ax.get_xlabel() == "n" and "seconds" in ax.get_ylabel()
    assert [line.get_label() for line in ax.lines] == ["loop", "vectorised"]
    assert ax.get_xscale() == ax.get_yscale() == "log"


def test_plot_function_and_derivative_sin():
    x = torch.linspace(-3, 3, 50)
    ax = plots.plot_function_and_derivative(torch.sin, x, torch.cos(x), label="sin", source="autograd")
    assert isinstance(ax, matplotlib.axes.Axes)
    dashed = [line for line in ax.lines if line.get_linestyle() == "--"]
    assert len(dashed) == 1
    torch.testing.assert_close(torch.as_tensor(dashed[0].get_xdata()), x)
    torch.testing.assert_close(torch.as_tensor(dashed[0].get_ydata()), torch.cos(x))
    (function_line,) = [line for line in ax.lines if line.get_label() == "sin"]
    torch.testing.assert_close(torch.as_tensor(function_line.get_ydata()), torch.sin(x))
    assert dashed[0].get_label() == "dsin/dx (autograd)"
    assert not x.requires_grad  # the caller's grid is left alone
    assert ax.get_title() == "sin and its derivative (autograd)"
    assert ax.get_xlabel() == "x" and ax.get_ylabel() == "value"


def test_plot_function_and_derivative_estimates_on_the_grid_on_given_axes():
    x = torch.linspace(-2, 2, 401, dtype=torch.float64)
    _, ax = plt.subplots()
    assert plots.plot_function_and_derivative(lambda v: v**3, x, ax=ax) is ax
    (dashed,) = [line for line in ax.lines if line.get_linestyle() == "--"]
    torch.testing.assert_close(torch.as_tensor(dashed.get_ydata())[1:-1], 3 * x[1:-1] ** 2, rtol=0, atol=1e-3)
    assert dashed.get_label() == "df/dx (differences on the grid)"

"""Side effects observed from outside the candidate (issue 24).

Whether a call changed an input in place, or returned a view of it, was decided from the
candidate's own report: a solution cell that patched the candidate's `fill` operation made a
`batch_flatten` returning a copy pass 2/2, and one that patched its describing code could hide
an in-place change to an input. Inputs whose side effects are judged now live in a memfd the
judge maps itself (`judge.shared`); these tests run each attack in a real candidate process
(`candidate.respond.serve`, forked, over a socketpair: the grading path without the sandbox)
and show that rewriting anything in the candidate no longer hides either.
"""

import os
import socket

import pytest
import torch

from autograder.judge.channel import Candidate, Remote, TensorInput
from autograder.judge.declare import devices_here
from autograder.judge.run import judge
from autograder.protocol.messages import Job

SETUP = ("import torch", "from torch import nn", "import torch.nn.functional as F")


@pytest.fixture(autouse=True)
def one_thread():
    """A forked child must not inherit a busy OpenMP pool (the real servers fork a clean zygote)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def forked_candidate(source):
    """(socket to it, pid): a candidate process serving `source` as its solution cell."""
    from autograder.candidate.respond import serve
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        mine.close()
        try:
            serve(theirs.fileno(), Job(SETUP, (), (("solution", source),)))
        finally:
            os._exit(0)
    theirs.close()
    return mine, pid


def verdict(assignment, ex_id, source):
    mine, pid = forked_candidate(source)
    try:
        return judge(assignment, ex_id, Remote(mine.fileno(), timeout=60), devices_here())
    finally:
        mine.close()
        os.waitpid(pid, 0)


# --- the attacks ----------------------------------------------------------------------------

# A copy, and the candidate's `fill` patched so that a write through the result also lands in
# the input: the judge used to write through the result with `fill` and read the input back.
COPY_WITH_PATCHED_FILL = '''
import torch
import autograder.candidate.operations as ops
import autograder.candidate.respond as respond
_inputs = {}

def batch_flatten(x):
    out = x.reshape(x.shape[0], -1).clone()
    _inputs[id(out)] = (out, x)
    return out

_fill = ops.OPS["fill"]

def _mirrored_fill(t, index, value):
    _fill(t, index, value)
    pair = _inputs.get(id(t))
    if pair is not None and len(index) == 2:
        with torch.no_grad():
            pair[1].reshape(-1)[index[0] * t.shape[1] + index[1]] = value

ops.OPS["fill"] = _mirrored_fill
_describe = respond.describe

def _synced(obj, handles, depth=0):
    # a described result is first copied into its input, so a write through it shows there
    pair = _inputs.get(id(obj))
    if pair is not None and pair[1].is_contiguous():
        with torch.no_grad():
            pair[1].copy_(pair[0].reshape(pair[1].shape))
    return _describe(obj, handles)

respond.describe = _synced
'''

# A copy whose second description claims the judge's old sentinel (1000.0, written at the last
# element): a judge that wrote a value a candidate can guess would be fooled.
COPY_GUESSING_THE_SENTINEL = '''
import torch
import autograder.candidate.respond as respond
_described = set()

def batch_flatten(x):
    return x.reshape(x.shape[0], -1).clone()

_describe = respond.describe

def _guess(obj, handles, depth=0):
    if isinstance(obj, torch.Tensor) and obj.dim() == 2 and id(obj) in _described:
        with torch.no_grad():
            obj[-1, -1] = 1000.0
    if isinstance(obj, torch.Tensor):
        _described.add(id(obj))
    return _describe(obj, handles)

respond.describe = _guess
'''

# linear_forward must leave x, W and b as they were: this one doubles x in place, and its
# describing code reports every tensor as it was first described (values and version counter).
IN_PLACE_HIDDEN = '''
import torch
import autograder.candidate.respond as respond

def linear_forward(x, W, b):
    out = x @ W + b
    try:
        with torch.no_grad():
            x.mul_(2)
    except RuntimeError:  # an expanded x cannot be written in place
        pass
    return out

_first = {}
_describe = respond.describe

def _as_first_seen(obj, handles, depth=0):
    said = _describe(obj, handles)
    if isinstance(obj, torch.Tensor):
        return _first.setdefault(id(obj), said)
    return said

respond.describe = _as_first_seen
'''

# The candidate never builds its input on the judge's memory: a private copy of it instead.
NEVER_MAPS = '''
import torch
import autograder.protocol.values as values
_make = values.make_shared_tensor

def _private(enc, fd):
    return _make(enc, fd).clone()

values.make_shared_tensor = _private

def batch_flatten(x):
    return x.reshape(x.shape[0], -1)
'''

# Every answer comes with descriptors of the candidate's own (its stdin and its socket).
SENDS_FDS_BACK = '''
import autograder.candidate.respond as respond
from autograder.protocol import frames
_send = frames.send

def _with_fds(fd, obj, fds=()):
    return _send(fd, obj, fds=[0, fd])

respond.frames.send = _with_fds

def batch_flatten(x):
    return x.reshape(x.shape[0], -1)
'''


def test_the_known_exploit_works_on_fill_but_no_longer_decides_the_view():
    """The exploit is live in the attacker's process (a write through the copy, by the patched
    `fill`, shows in the input), yet batch_flatten fails: the judge wrote into the input's
    memory itself, and the copy did not follow."""
    mine, pid = forked_candidate(COPY_WITH_PATCHED_FILL)
    try:
        candidate = Candidate(Remote(mine.fileno(), timeout=60))
        candidate.start()
        x = candidate.make(TensorInput(torch.arange(6.0).reshape(2, 3)))
        out = candidate.call("batch_flatten", x)
        candidate.op("fill", out, (1, 2), 1000.0)
        assert candidate.describe(x).values[1, 2].item() == 1000.0  # what the old check read
        candidate.close()
    finally:
        mine.close()
        os.waitpid(pid, 0)

    found = verdict("01_tensor_ops", "batch_flatten", COPY_WITH_PATCHED_FILL)
    assert found.status.value == "fail" and found.mistake == "copy-not-view", found.message
    assert "shares its memory" in found.message


@pytest.mark.parametrize("attack", [COPY_GUESSING_THE_SENTINEL, NEVER_MAPS], ids=["guessed-sentinel", "never-maps"])
def test_a_copy_cannot_pass_as_a_view(attack):
    found = verdict("01_tensor_ops", "batch_flatten", attack)
    assert found.status.value == "fail" and found.mistake == "copy-not-view", found.message


def test_an_in_place_change_hidden_by_a_lying_describe_is_seen_from_outside():
    found = verdict("03_linear_layer", "linear_forward", IN_PLACE_HIDDEN)
    assert found.status.value == "fail", found.message
    assert "x was modified: its values changed during the call" in found.message
    assert found.mistake  # the exercise's hint for a changed input names the mistake
    honest_twin = IN_PLACE_HIDDEN.replace("respond.describe = _as_first_seen", "")
    assert verdict("03_linear_layer", "linear_forward", honest_twin).mistake == found.mistake


@pytest.mark.parametrize("source", [
    "def batch_flatten(x):\n    return x.reshape(x.shape[0], -1)",
    "def batch_flatten(x):\n    return x.view(x.shape[0], -1) if x.is_contiguous() else x.reshape(x.shape[0], -1)",
    "def batch_flatten(x):\n    return x.flatten(1)",
    "def batch_flatten(x):\n    return torch.flatten(x, start_dim=1)",
])
def test_honest_views_keep_full_marks(source):
    found = verdict("01_tensor_ops", "batch_flatten", source)
    assert found.status.value == "pass", found.message


@pytest.mark.parametrize("source", [
    "def linear_forward(x, W, b):\n    return x @ W + b",
    "def linear_forward(x, W, b):\n    x = x.clone()\n    x = x @ W\n    x += b\n    return x",
])
def test_honest_solutions_that_copy_keep_full_marks_where_copies_are_allowed(source):
    found = verdict("03_linear_layer", "linear_forward", source)
    assert found.status.value == "pass", found.message


def test_descriptors_sent_back_cost_nothing_but_that_candidate():
    """The judge reads its candidate with plain reads: descriptors a candidate attaches are
    dropped by the kernel, never received; the honest answers still pass."""
    before = len(os.listdir("/proc/self/fd"))
    found = verdict("01_tensor_ops", "batch_flatten", SENDS_FDS_BACK)
    assert found.status.value == "pass", found.message
    assert len(os.listdir("/proc/self/fd")) == before


def test_the_shared_memory_cannot_be_resized_under_the_judge():
    """The candidate holds the memfd too: it is sealed, so shrinking it (SIGBUS in the judge's
    mapping) or growing it is refused; writing into it is an in-place change, and seen."""
    from autograder.judge.shared import SharedInput
    shared = SharedInput(TensorInput(torch.arange(6.0).reshape(2, 3)))
    try:
        for size in (0, 1 << 20):
            with pytest.raises(PermissionError):
                os.ftruncate(shared.fd, size)
        assert not shared.changed()
        os.pwrite(shared.fd, b"\0\0\0\0", 4)
        assert shared.changed() and shared.now()[0, 1].item() == 0.0 and shared.before()[0, 1].item() == 1.0
    finally:
        shared.sent()
    assert shared.fd is None and shared.now().shape == (2, 3)  # the judge's mapping outlives the descriptor


# --- the same attacks in a real grading run, beside honest classmates ---------------------------

def _scores(course, assignment, student):
    """{grade id: (score, max)} of a student's notebook in the gradebook."""
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {g.name: (g.score, g.max_score)
                for g in gb.find_submission_notebook(assignment, assignment, student).grades}


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["fork", "nbgrader"])
def test_a_copy_with_a_patched_candidate_gets_nothing_beside_honest_classmates(tmp_path, engine):
    """The exploit of issue 24, sandboxed, under both engines: the attacker (a copy, `fill` and
    `describe` patched) gets 0 on batch_flatten and keeps the rest; honest classmates, who
    return a view (reshape, flatten), full marks; nothing left running."""
    import nbformat

    from autograder.instructor import isolation, samples
    from autograder.instructor.grading import grade
    from autograder.instructor.sandbox import bwrap_works

    from conftest import copy_course, nbgrader, release_nb
    if not (bwrap_works() and os.geteuid() == 0):
        pytest.skip("needs bubblewrap and a uid per student (root)")
    a = "01_tensor_ops"
    course = copy_course(tmp_path / "course")
    with open(course / "nbgrader_config.py", "a") as f:
        f.write("\nc.SafeExecute.timeout = 10\nc.VerifyExercises.time_limit = 10\n")
    sols = samples.solutions(a)
    students = {"attacker": {**sols["RIGHT"], "batch_flatten": COPY_WITH_PATCHED_FILL},
                "honest_right": sols["RIGHT"], "honest_alt": sols["ALTERNATIVE"]}
    for student, code in students.items():
        folder = course / "submitted" / student / a
        folder.mkdir(parents=True)
        nbformat.write(samples.notebook(release_nb(a), code, lean=True), str(folder / f"{a}.ipynb"))
    if engine == "fork":
        outcomes = grade(course, a, workers=2, notebook_timeout=120, progress=False)
        assert all(o.status == "graded" for o in outcomes.values()), outcomes
    else:
        nbgrader("generate_assignment", a, "--force", cwd=course)
        nbgrader("autograde", a, "--force", cwd=course)
    for student in students:
        scores = _scores(course, a, student)
        flatten = [g for g in scores if g.startswith("test_batch_flatten")]
        assert flatten, scores
        for name, (got, best) in scores.items():
            want = 0 if student == "attacker" and name in flatten else best
            assert got == want, (engine, student, name, got, best)
    assert not isolation.orphans()


def test_the_judges_memory_decides_even_when_the_candidate_reports_nothing_after_the_call():
    """No report of the argument after the call (None), and a write that keeps every value equal
    (-0.0 over 0.0): the bytes in the judge's mapping still say the call wrote into x."""
    from autograder.judge.compare import CheckFailed
    from autograder.judge.shared import SharedInput
    from autograder.judge.trial import Trial
    shared = SharedInput(TensorInput(torch.tensor([0.0, 1.0])))
    shared.sent()
    before = type("Made", (), {"shared": shared})()
    trial = Trial(None, None, torch.device("cpu"), torch.float32)
    trial.expect_untouched(before, None, "f(x)")  # untouched: nothing to say
    shared.write(0, -0.0)
    with pytest.raises(CheckFailed, match="x was modified: the call wrote into its memory"):
        trial.expect_untouched(before, None, "f(x)")
    shared.write(1, 5.0)
    with pytest.raises(CheckFailed, match=r"its values changed during the call\.\n  before: \[0, 1\]\n  after:  \[-0, 5\]"):
        trial.expect_untouched(before, None, "f(x)")


# The candidate leaves out the arguments as the call left them (asked for with `after`).
OMITS_ARGS = '''
import autograder.candidate.respond as respond
_answer = respond.Responder._answer

def _without_args(self, request, fds):
    said = _answer(self, request, fds)
    said.pop("args", None)
    return said

respond.Responder._answer = _without_args

def linear_forward(x, W, b):
    return x @ W + b
'''


def test_an_answer_without_the_arguments_asked_for_is_that_candidates_fault():
    """Before, `out, left = answer` raised in the judge (a grader error); now it is malformed."""
    found = verdict("03_linear_layer", "linear_forward", OMITS_ARGS)
    assert found.status.value == "tampering" and "arguments as the call left them" in found.message, found.message


def test_the_in_process_candidate_takes_the_same_path():
    """`Local` (the instructor's notebook, the galleries) builds inputs on the same shared memory."""
    from autograder.judge.local import Local

    def scale(x):
        x.mul_(3)
        return x

    candidate = Candidate(Local({"scale": scale}))
    candidate.start()
    x = candidate.make(TensorInput(torch.tensor([1.0, 2.0])))
    assert x.shared is not None and not x.shared.changed()
    out = candidate.call("scale", x)
    assert x.shared.changed() and x.shared.now().tolist() == [3.0, 6.0] == out.values.tolist()


# --- 03's load_from_nn_linear: ref's weight and bias in memory the judge maps ---------------------

MY_LINEAR = '''
import math
import torch
from torch import nn

class MyLinear(nn.Module):
    def __init__(self, input_dim=3, output_dim=2):
        super().__init__()
        self.input_dim, self.output_dim = input_dim, output_dim
        k = 1 / math.sqrt(input_dim)
        self.W = nn.Parameter(torch.empty(input_dim, output_dim).uniform_(-k, k))
        self.b = nn.Parameter(torch.empty(output_dim).uniform_(-k, k))

    def forward(self, x):
        return x @ self.W + self.b

def _sizes_match(my, ref):
    if (ref.in_features, ref.out_features) != (my.input_dim, my.output_dim):
        raise ValueError("sizes differ")
'''

HONEST_COPY = MY_LINEAR + '''
def load_from_nn_linear(my, ref):
    _sizes_match(my, ref)
    with torch.no_grad():
        my.W.copy_(ref.weight.T)
        my.b.copy_(ref.bias) if ref.bias is not None else my.b.zero_()
    return my
'''

# my's parameters made views of ref's (my.W.data = ref.weight.data.T), and the describing code
# reports no storage for any tensor: the candidate's report shows no sharing.
SHARES_HIDDEN = MY_LINEAR + '''
import autograder.candidate.respond as respond

def load_from_nn_linear(my, ref):
    _sizes_match(my, ref)
    my.W.data = ref.weight.data.T
    if ref.bias is not None:
        my.b.data = ref.bias.data
    else:
        with torch.no_grad():
            my.b.zero_()
    return my

_describe = respond.describe

def _no_storage(said):
    if isinstance(said, dict):
        if "storage" in said:
            said["storage"] = None
        for value in said.values():
            _no_storage(value)
    elif isinstance(said, list):
        for value in said:
            _no_storage(value)
    return said

def _hiding(obj, handles, depth=0):
    return _no_storage(_describe(obj, handles))

respond.describe = _hiding
'''

# A right copy, then ref's weight and bias doubled in place; every nn.Linear is reported as it
# was first described (values, version counters, storages).
MODIFIES_REF_HIDDEN = HONEST_COPY.replace("    return my\n", '''    with torch.no_grad():
        ref.weight.mul_(2)
        if ref.bias is not None:
            ref.bias.mul_(2)
    return my
''') + '''
import autograder.candidate.respond as respond
_first = {}
_describe = respond.describe

def _as_first_seen(obj, handles, depth=0):
    said = _describe(obj, handles)
    if isinstance(obj, nn.Linear):
        return _first.setdefault(id(obj), said)
    return said

respond.describe = _as_first_seen
'''


def test_an_honest_copy_into_my_keeps_full_marks():
    found = verdict("03_linear_layer", "load_from_nn_linear", HONEST_COPY)
    assert found.status.value == "pass", found.message


def test_memory_shared_with_ref_cannot_be_hidden_by_the_candidates_report():
    """Before, sharing was read from the storages the candidate described, and a describe that
    reports none passed 1/1; now the judge writes into ref's memory after the call, and my(x)
    follows it."""
    found = verdict("03_linear_layer", "load_from_nn_linear", SHARES_HIDDEN)
    assert found.status.value == "fail" and found.mistake == "shares-memory", found.message
    assert "my.W shares memory with ref.weight: after the call the judge wrote" in found.message
    honest_twin = SHARES_HIDDEN.replace("respond.describe = _hiding", "")
    twin = verdict("03_linear_layer", "load_from_nn_linear", honest_twin)
    assert twin.mistake == "shares-memory" and "(the same storage)" in twin.message, twin.message


def test_a_change_to_ref_hidden_by_a_lying_describe_is_seen_in_the_judges_memory():
    found = verdict("03_linear_layer", "load_from_nn_linear", MODIFIES_REF_HIDDEN)
    assert found.status.value == "fail" and found.mistake == "modified-ref", found.message
    assert "ref.weight changed: load_from_nn_linear must read ref, never modify it (the call wrote into its memory)" \
        in found.message
    honest_twin = MODIFIES_REF_HIDDEN.replace("respond.describe = _as_first_seen", "")
    assert verdict("03_linear_layer", "load_from_nn_linear", honest_twin).mistake == "modified-ref"


def test_ref_is_built_on_the_judges_memory_whatever_its_layout():
    """The fixture: a shared weight (a transpose view here, as `weight_transposed` makes) and
    bias become ref's very Parameters, on the memory the judge maps."""
    from autograder.judge.channel import Spec
    from autograder.judge.local import Local
    candidate = Candidate(Local({}))
    candidate.start()
    weight = torch.arange(6.0).reshape(2, 3)
    ref = candidate.make(Spec("linear", **{
        "in": 3, "out": 2, "bias": True, "weight_transposed": True,
        "weight": TensorInput(weight.T.contiguous(), view=[("transpose", 0, 1)], share=True),
        "bias_values": TensorInput(torch.tensor([1.0, 2.0]), share=True)}))
    assert set(ref.shared) == {"weight", "bias_values"}
    seen = ref.parameters["weight"]
    assert seen.values.tolist() == weight.tolist() and seen.stride == (1, 2)
    ref.shared["weight"].overwrite(-weight)
    ref.shared["bias_values"].write(1, 7.0)
    now = candidate.describe(ref)
    assert now.parameters["weight"].values.tolist() == (-weight).tolist()
    assert now.parameters["bias"].values.tolist() == [1.0, 7.0]
    ref.shared["weight"].restore()
    assert candidate.describe(ref).parameters["weight"].values.tolist() == weight.tolist()

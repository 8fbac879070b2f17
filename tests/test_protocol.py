"""Unit tests of `autograder.protocol` (and of `autograder.judge.seen`, the judge's decoder of
what a candidate says): fast, property-based where it helps.

- frames: a Reader gets the same frames however the bytes are cut; a frame over its limit, a
  total over its cap, bytes that are not JSON and a peer that stops mid-frame are refused with
  the right exception; descriptors sent beside frames come out in order, with their frames.
- values: a tensor a judge encodes is made again in the candidate with the same bits, dtype,
  shape and autograd state, for every dtype and every view op; containers, devices and dtypes
  come back as they were sent.
- messages, verdicts, limits: every kind of frame goes through `to_wire`, JSON and
  `from_wire` unchanged.
- totality: for any JSON a peer could send, and for every mutation of a valid frame (a field
  deleted or replaced), each decoder returns a value of its type or raises `Malformed`, and
  nothing else: a peer can lie, but never crash or confuse the process that reads it.
  Decoders found not total are listed in ONCE_BROKE; their tests are strict xfails until
  the decoder is fixed (the exact input and what it raises are in the reason).
"""

import copy
import json
import math
import os
import socket
import sys

import numpy
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autograder.candidate.describe import describe
from autograder.judge import seen
from autograder.judge.channel import encode as judge_encode
from autograder.protocol import frames, values
from autograder.protocol.forkserver import Control
from autograder.protocol.frames import HEADER, Closed, Malformed, Reader
from autograder.protocol.limits import Limits
from autograder.protocol.messages import (
    REPORTS,
    REQUESTS,
    CandidateDone,
    CandidateRequest,
    CellDone,
    CellResult,
    CellStarted,
    Gone,
    Hello,
    Job,
    Judged,
    JudgeRequest,
    NotebookDone,
    NotebookRequest,
    ServerCpu,
    Slots,
    decode_cell_frame,
    decode_report,
    decode_request,
)
from autograder.protocol.verdicts import Ended, Killed, Lost, Status, Verdict

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def wire(frame):
    """`frame` as the peer receives it: encoded into a frame, parsed back."""
    return frames.parse(frames.encode(frame)[HEADER.size:])


# --------------------------------------------------------------------------- JSON-like values

leaves = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
# values equal to themselves once through JSON (no NaN)
plain_json = st.recursive(st.none() | st.booleans() | st.integers(-2**63, 2**63) | st.floats(allow_nan=False)
                          | st.text(max_size=20),
                          lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                          max_leaves=12)
# what a mutated field may become: anything, and the edges of every kind
EDGES = [None, True, False, 0, -1, 1, 2**31, 2**63, -2**63 - 1, 10**400, -10**400, 0.5, -0.5, 1e300,
         float("inf"), float("-inf"), float("nan"), "", "x" * 600, "0", "cpu", "-1", [], {}, [[]], [None, None],
         {"": None}, {"$": "tensor"}, [0, 0, 0]]
replacements = st.sampled_from(EDGES) | json_values


# --------------------------------------------------------------------------- frames

def stream(objs):
    return b"".join(frames.encode(o) for o in objs)


@FAST
@given(st.lists(plain_json.filter(lambda v: v is not None), max_size=5), st.data())
def test_a_reader_gets_the_same_frames_however_the_bytes_are_cut(objs, data):
    raw = stream(objs)
    whole = Reader()
    whole.feed(raw)
    assert whole.frames() == objs

    one_by_one, got = Reader(), []
    for i in range(len(raw)):
        one_by_one.feed(raw[i:i + 1])
        got += one_by_one.frames()
    assert got == objs and one_by_one.pending() == 0

    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=6)))
    chunks = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)])]
    pieces, got = Reader(), []
    for chunk in chunks:
        pieces.feed(chunk)
        got += pieces.frames()
    assert got == objs


def test_a_null_frame_neither_vanishes_nor_hides_the_frames_after_it():
    """Before: next_frame returned None both for 'no whole frame yet' and for a JSON null frame."""
    reader = Reader()
    reader.feed(frames.encode(None) + frames.encode({"after": 1}))
    try:
        got = reader.frames()
    except Malformed:
        return  # refusing it is fine too
    assert got == [None, {"after": 1}]


def test_a_frame_over_the_readers_limit_is_malformed():
    reader = Reader(limit=10)
    reader.feed(frames.encode("x" * 9))       # 11 bytes of JSON
    with pytest.raises(Malformed, match="at most 10"):
        reader.next_frame()
    reader = Reader(limit=10)
    reader.feed(HEADER.pack(11))              # refused on the header, before the body arrives
    with pytest.raises(Malformed):
        reader.next_frame()
    ok = Reader(limit=10)
    ok.feed(frames.encode("x" * 8))
    assert ok.frames() == ["x" * 8]


def test_a_reader_accepts_no_more_than_its_total():
    reader = Reader(total=20)
    reader.feed(frames.encode([1, 2, 3]))     # 4 + 7 bytes
    assert reader.frames() == [[1, 2, 3]]
    with pytest.raises(Malformed, match="more than 20 bytes"):
        reader.feed(frames.encode([4, 5, 6]))


def test_no_frame_is_ever_bigger_than_max_frame():
    assert Reader(limit=frames.MAX_FRAME * 2).limit == frames.MAX_FRAME
    with pytest.raises(ValueError, match="over the"):
        frames.encode("x" * frames.MAX_FRAME)


@pytest.mark.parametrize("body", [b"{", b"\xff\xfe", b"nope", b"[1,]", b"", b"\x00", b"1 2",
                                  b"[" * 100_000 + b"]" * 100_000])
def test_bytes_that_are_not_json_are_malformed(body):
    reader = Reader()
    reader.feed(HEADER.pack(len(body)) + body)
    with pytest.raises(Malformed, match="not JSON"):
        reader.next_frame()


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    yield a, b
    a.close()
    b.close()


def test_a_peer_that_stops_mid_frame_is_closed(pair):
    a, b = pair
    a.sendall(HEADER.pack(100) + b'{"partial": ')
    a.shutdown(socket.SHUT_WR)
    with pytest.raises(Closed):
        frames.receive(b.fileno(), Reader(), timeout=5)


def test_receive_times_out_and_then_gets_the_frame(pair):
    a, b = pair
    reader = Reader()
    with pytest.raises(TimeoutError):
        frames.receive(b.fileno(), reader, timeout=0.05)
    frames.send(a.fileno(), {"late": True})
    assert frames.receive(b.fileno(), reader, timeout=5) == {"late": True}


def _inode(fd):
    st_ = os.fstat(fd)
    return st_.st_dev, st_.st_ino


def _read_all(fd, reader, want):
    """Frames from `fd` (with descriptors) until `want` of them have arrived."""
    got = []
    while len(got) < want:
        assert frames.wait_readable(fd, 5)
        assert frames.read_some(fd, reader, want_fds=True)
        got += reader.frames()
    return got


def test_send_and_receive_hand_out_descriptors_in_order(pair):
    a, b = pair
    pipes = [os.pipe() for _ in range(3)]
    try:
        frames.send(a.fileno(), {"n": 1, "fds": 2}, fds=[pipes[0][0], pipes[1][0]])
        frames.send(a.fileno(), {"n": 2})
        frames.send(a.fileno(), {"n": 3, "fds": 1}, fds=[pipes[2][0]])
        reader = Reader()
        got = _read_all(b.fileno(), reader, 3)
        assert got == [{"n": 1, "fds": 2}, {"n": 2}, {"n": 3, "fds": 1}]
        first, second = reader.take_fds(2), reader.take_fds(1)
        assert [_inode(fd) for fd in first + second] == [_inode(r) for r, _ in pipes]
        os.write(pipes[1][1], b"second pipe")
        assert os.read(first[1], 100) == b"second pipe"
        for fd in first + second:
            os.close(fd)
        with pytest.raises(Malformed, match="not sent"):
            reader.take_fds(1)
    finally:
        for r, w in pipes:
            os.close(r)
            os.close(w)


def test_taking_descriptors_that_were_not_sent_is_malformed(pair):
    a, b = pair
    r, w = os.pipe()
    try:
        frames.send(a.fileno(), {"fds": 0})
        frames.send(a.fileno(), {"fds": 2}, fds=[r, w])
        reader = Reader()
        assert _read_all(b.fileno(), reader, 2) == [{"fds": 0}, {"fds": 2}]
        for count in (-1, 3):
            with pytest.raises(Malformed, match="not sent"):
                reader.take_fds(count)
        for fd in reader.take_fds(2):
            os.close(fd)
        with pytest.raises(Malformed, match="not sent"):
            reader.take_fds(1)
    finally:
        os.close(r)
        os.close(w)


def _requests(control, fd, want, kinds=(JudgeRequest, Gone)):
    """What `control` received, once `want` requests have arrived."""
    got = []
    while len(got) < want:
        assert frames.wait_readable(fd, 5)
        got += control.requests(kinds)
    return got


def test_a_servers_control_gives_each_request_its_descriptors(pair):
    a, b = pair
    r, w = os.pipe()
    try:
        judge = {"op": "judge", "key": "k", "assignment": "a", "exercise": "e"}
        frames.send(a.fileno(), {**judge, "fds": 1}, fds=[r])
        frames.send(a.fileno(), {"op": "gone", "key": "k"})
        control = Control(b.fileno())
        requests = _requests(control, b.fileno(), 2)
        assert [frame for frame, _, _ in requests] == [{**judge, "fds": 1}, {"op": "gone", "key": "k"}]
        assert [request for _, request, _ in requests] == [JudgeRequest("k", "a", "e"), Gone("k")]
        (got,), none = requests[0][2], requests[1][2]
        assert none == [] and _inode(got) == _inode(r)
        os.close(got)
        frames.send(a.fileno(), {"op": "candidate", "fds": 1}, fds=[r])  # not a kind this server takes
        ((_, request, fds),) = _requests(control, b.fileno(), 1)
        assert request is None and fds == []                              # and its descriptor is closed
        for bad in ({"fds": 1}, {"fds": "one"}):   # says it carries one, carries none / not a count
            frames.send(a.fileno(), bad)
            assert frames.wait_readable(b.fileno(), 5)
            with pytest.raises(Malformed):
                control.requests((JudgeRequest, Gone))
            control.reader = Reader()
        a.close()
        assert frames.wait_readable(b.fileno(), 5)
        assert control.requests((JudgeRequest, Gone)) == [] and not control.open
    finally:
        os.close(r)
        os.close(w)


# --------------------------------------------------------------------------- values

DTYPE_NAMES = sorted(values.DTYPES)
shapes = st.lists(st.integers(0, 4), max_size=3)


def bits(t):
    """The tensor's exact bits (NaN payloads and signed zeros included), read by NumPy."""
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return t.detach().cpu().contiguous().numpy().tobytes()


@st.composite
def tensors(draw, dtype_names=st.sampled_from(DTYPE_NAMES), shape=shapes):
    name, size = draw(dtype_names), draw(shape)
    dtype, count = values.DTYPES[name], math.prod(size)
    if dtype == torch.bool:
        return torch.tensor(draw(st.lists(st.booleans(), min_size=count, max_size=count)), dtype=dtype).reshape(size)
    itemsize = torch.empty((), dtype=dtype).element_size()
    raw = draw(st.binary(min_size=count * itemsize, max_size=count * itemsize))
    if dtype == torch.bfloat16:
        return torch.frombuffer(bytearray(raw), dtype=torch.int16).view(torch.bfloat16).reshape(size).clone() \
            if count else torch.empty(size, dtype=dtype)
    return torch.frombuffer(bytearray(raw), dtype=dtype).reshape(size).clone() if count else torch.empty(size, dtype=dtype)


def test_every_dtype_has_a_numpy_code_of_its_size():
    assert set(values.NUMPY_CODES) == set(values.DTYPES)
    for name, dtype in values.DTYPES.items():
        assert numpy.dtype(values.NUMPY_CODES[name]).itemsize == torch.empty((), dtype=dtype).element_size()
    assert values.DTYPE_NAMES == {v: k for k, v in values.DTYPES.items()}


@pytest.mark.parametrize("name", DTYPE_NAMES)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_a_tensor_input_is_made_again_with_the_same_bits(name, data):
    t = data.draw(tensors(st.just(name)))
    enc = wire(values.encode_tensor_input(t))
    made = values.make_tensor(enc)
    assert made.dtype == t.dtype and made.shape == t.shape and made.device.type == "cpu"
    assert bits(made) == bits(t)
    assert made.is_leaf and not made.requires_grad and made.is_contiguous()
    assert values.tensor_bytes(made) == bits(t)


@pytest.mark.parametrize("t", [torch.tensor(1.5), torch.tensor(True), torch.tensor(7, dtype=torch.int8),
                               torch.empty(0), torch.empty(2, 0, 3, dtype=torch.bfloat16),
                               torch.tensor([float("nan"), -0.0, float("inf")], dtype=torch.bfloat16),
                               torch.tensor([1 + 2j, float("nan")], dtype=torch.complex64)],
                         ids=["0-d", "0-d bool", "0-d int8", "empty", "empty bfloat16", "bfloat16 edges", "complex"])
def test_zero_dimensional_empty_and_special_tensors_round_trip(t):
    made = values.make_tensor(wire(values.encode_tensor_input(t)))
    assert made.dtype == t.dtype and made.shape == t.shape and bits(made) == bits(t)


@pytest.mark.parametrize("name", ["float32", "float64", "float16", "bfloat16", "complex64"])
def test_autograd_state_travels(name):
    dtype = values.DTYPES[name]
    t, g = torch.arange(6.0).reshape(2, 3).to(dtype), torch.full((2, 3), 0.5).to(dtype)
    made = values.make_tensor(wire(values.encode_tensor_input(t, requires_grad=True, grad=g)))
    assert made.requires_grad and made.is_leaf
    assert made.grad is not None and bits(made.grad) == bits(g) and made.grad.dtype == dtype
    assert bits(made) == bits(t)


VIEWS = {
    "transpose": (("transpose", 0, 2), lambda t: t.transpose(0, 2)),
    "permute": (("permute", [2, 0, 1]), lambda t: t.permute(2, 0, 1)),
    "slice": (("slice", 1, 0, None, 2), lambda t: t[:, 0::2]),
    "slice from 1": (("slice", 2, 1, 3, 1), lambda t: t[:, :, 1:3]),
    "expand": (("expand", [2, 2, 3, 4]), lambda t: t.expand(2, 2, 3, 4)),
    "unsqueeze": (("unsqueeze", 1), lambda t: t.unsqueeze(1)),
    "select": (("select", 1, 2), lambda t: t.select(1, 2)),
}


def test_every_view_op_is_tested():
    assert {op[0] for op, _ in VIEWS.values()} == set(values.VIEW_OPS)


@pytest.mark.parametrize("view", list(VIEWS))
@pytest.mark.parametrize("name", ["float64", "bfloat16", "int64", "bool", "complex128"])
def test_each_view_op_makes_the_same_view(view, name):
    op, apply = VIEWS[view]
    base = (torch.arange(24) % 5).reshape(2, 3, 4).to(values.DTYPES[name])
    expected = apply(base)
    made = values.make_tensor(wire(values.encode_tensor_input(base, view=[op])))
    assert made.shape == expected.shape and made.stride() == expected.stride()
    assert made.storage_offset() == expected.storage_offset()
    assert made._is_view() and made.dtype == expected.dtype
    assert bits(made) == bits(expected)


def test_a_view_of_a_tensor_that_requires_grad_is_not_a_leaf():
    op, apply = VIEWS["transpose"]
    base = torch.arange(24.0).reshape(2, 3, 4)
    made = values.make_tensor(wire(values.encode_tensor_input(base, view=[op], requires_grad=True)))
    assert made.requires_grad and not made.is_leaf and made._base is not None
    assert made.stride() == apply(base).stride() and torch.equal(made.detach(), apply(base))


# containers as the judge sends them (`judge.channel.encode`), made real by `materialize`
sendable = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.floats(allow_nan=False) | st.text(max_size=10)
    | st.sampled_from([torch.device("cpu"), torch.device("meta"), torch.device("cuda", 1)])
    | st.sampled_from(list(values.DTYPES.values())),
    lambda inner: st.lists(inner, max_size=3) | st.tuples(inner, inner) | st.lists(inner, max_size=3).map(tuple)
    | st.dictionaries(st.integers(-5, 5) | st.text(max_size=5) | st.tuples(st.integers(0, 3)), inner, max_size=3),
    max_leaves=10)


def same(a, b):
    """Equal, with the same container types all the way down."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return a == b


@FAST
@given(sendable)
def test_materialize_gives_back_what_the_judge_sent(value):
    assert same(values.materialize(wire(judge_encode(value)), values.Handles()), value)


def test_materialize_nested_tensors_refs_and_specs():
    handles = values.Handles()
    held = object()
    ref = handles.number(held)
    assert handles.number(held) == ref                      # identity is kept
    t = torch.arange(4.0)
    enc = {"$": "dict", "items": [["a", {"$": "tuple", "items": [values.encode_tensor_input(t), {"$": "ref", "ref": ref}]}],
                                  [3, {"$": "list", "items": [{"$": "device", "device": "cpu"},
                                                              {"$": "dtype", "dtype": "bfloat16"}]}],
                                  ["spec", {"$": "spec", "kind": "relu"}]]}
    built = []
    out = values.materialize(wire(enc), handles, build=lambda spec, h: built.append(spec) or "built")
    assert set(out) == {"a", 3, "spec"}
    made, same_obj = out["a"]
    assert torch.equal(made, t) and same_obj is held
    assert out[3] == [torch.device("cpu"), torch.bfloat16]
    assert out["spec"] == "built" and built == [{"$": "spec", "kind": "relu"}]
    assert values.materialize([1, [2, None]], handles) == [1, [2, None]]   # plain JSON lists stay lists
    with pytest.raises(KeyError):
        values.materialize({"$": "ref", "ref": 99}, handles)
    with pytest.raises(ValueError, match="cannot make"):
        values.materialize({"$": "spec", "kind": "relu"}, handles)    # no builder given


# --------------------------------------------------------------------------- messages, verdicts, limits

text = st.text(max_size=30)
keys = st.text(max_size=40)
names = st.text(max_size=20)
counts = st.integers(0, 1 << 20)
seconds = st.floats(0, 1e12)

limits = st.builds(
    Limits, **{f: seconds for f in ("cell_timeout", "check_time_limit", "notebook_timeout", "judge_backstop",
                                     "kernel_grace")},
    memory_bytes=st.none() | st.integers(0, 2**40),
    **{f: st.integers(0, 2**40) for f in ("max_output_bytes", "file_bytes", "tmp_bytes", "kernel_work_bytes",
                                          "processes", "candidate_processes", "notebook_processes",
                                          "submission_bytes", "answer_bytes", "answers_bytes")})
jobs = st.builds(Job, st.lists(text, max_size=3).map(tuple), st.lists(text, max_size=3).map(tuple),
                 st.lists(st.tuples(names, text), max_size=3).map(tuple))
slot_counts = st.none() | st.integers(1, 4096)
slots = st.builds(Slots, slot_counts, slot_counts)
uids = st.none() | st.integers(1, 2**31)
cgroups = st.lists(st.text(max_size=50), max_size=10).map(tuple)
ended = st.one_of(
    st.just(Ended()),
    st.builds(Ended, st.just("exit_code"), st.integers(-255, 255)),
    st.builds(Ended, st.just("signal"), st.none(), st.text(max_size=20)),
    st.builds(Ended, st.just("killed"), st.none(), st.none(), st.sampled_from(Killed)))
violations = st.lists(st.text(max_size=60), max_size=4).map(tuple)
verdicts = st.builds(Verdict, st.sampled_from(Status), st.text(max_size=200), st.none() | st.sampled_from(Lost),
                     st.booleans(), violations, st.none() | ended,
                     st.none() | st.from_regex(r"[a-z0-9]{1,8}(-[a-z0-9]{1,8}){0,3}", fullmatch=True))
outputs = st.lists(st.one_of(
    st.fixed_dictionaries({"output_type": st.just("stream"), "name": st.sampled_from(["stdout", "stderr"]),
                           "text": text}),
    st.fixed_dictionaries({"output_type": st.just("error"), "ename": names, "evalue": text,
                           "traceback": st.lists(text, max_size=3)}),
    st.fixed_dictionaries({"output_type": st.just("display_data"),
                           "data": st.dictionaries(names, text | st.lists(text, max_size=2), max_size=2),
                           "metadata": st.dictionaries(names, plain_json, max_size=2)}),
    st.fixed_dictionaries({"output_type": st.just("execute_result"),
                           "data": st.dictionaries(names, text, max_size=2), "metadata": st.just({}),
                           "execution_count": st.none() | st.integers(0, 100)})), max_size=3)
cell_results = st.builds(CellResult, outputs, st.none() | st.integers(0, 1000))
curricula = st.none() | st.dictionaries(names, st.dictionaries(names, st.fixed_dictionaries(
    {"signature": st.text(max_size=50), "depends": st.lists(names, max_size=3)}), max_size=3), max_size=3)

MESSAGES = {
    "Job": jobs,
    "Slots": slots,
    "Limits": limits,
    "Ended": ended,
    "Verdict": verdicts,
    "JudgeRequest": st.builds(JudgeRequest, keys, names, names),
    "Gone": st.builds(Gone, keys),
    "CandidateRequest": st.builds(CandidateRequest, keys, jobs, limits, uids, cgroups, slots),
    "NotebookRequest": st.builds(NotebookRequest, keys, st.lists(st.tuples(counts, text), max_size=3).map(tuple),
                                 st.lists(st.tuples(names, text), max_size=2).map(tuple),
                                 st.lists(counts, max_size=3).map(tuple), limits, uids, cgroups, slots),
    "Hello": st.builds(Hello, st.integers(1, 2**31), curricula, st.lists(st.text(max_size=64), max_size=4).map(tuple)),
    "Judged": st.builds(Judged, keys, verdicts),
    "CandidateDone": st.builds(CandidateDone, keys, ended, seconds, violations),
    "NotebookDone": st.builds(NotebookDone, keys, st.dictionaries(st.integers(0, 9_999_999), cell_results, max_size=3),
                              st.none() | st.integers(0, 1000), st.none() | st.text(min_size=1, max_size=100),
                              seconds, violations),
    "ServerCpu": st.builds(ServerCpu, seconds, seconds),
    "CellStarted": st.builds(CellStarted, st.integers(0, 9)),
    "CellDone": st.builds(CellDone, st.integers(0, 9), outputs, st.none() | st.integers(0, 100)),
}
INDICES = set(range(10))
KINDS = {"Job": Job, "Slots": Slots, "Limits": Limits, "Ended": Ended, "Verdict": Verdict}


def decoded(name, frame):
    """The message `frame` decodes to, by every decoder that reads that kind."""
    if name in ("CellStarted", "CellDone"):
        return [decode_cell_frame(frame, INDICES)]
    kind = KINDS.get(name) or REQUESTS.get(frame.get("op")) or next(k for k in REPORTS.values() if k.__name__ == name)
    found = [kind.from_wire(frame)]
    if kind in REQUESTS.values():
        found.append(decode_request(frame, tuple(REQUESTS.values())))
    if kind in REPORTS.values():
        found.append(decode_report(frame))
    return found


def test_every_message_kind_has_a_strategy():
    assert {k.__name__ for k in (*REQUESTS.values(), *REPORTS.values())} | set(KINDS) | {"CellStarted", "CellDone"} \
        == set(MESSAGES)


@pytest.mark.parametrize("name", list(MESSAGES))
@FAST
@given(data=st.data())
def test_every_message_round_trips_through_json(name, data):
    message = data.draw(MESSAGES[name])
    frame = wire(message.to_wire())
    assert json.loads(json.dumps(frame)) == frame
    for found in decoded(name, frame):
        assert found == message
        assert type(found) is type(message)


def test_defaults_fill_what_a_frame_leaves_out():
    assert Limits.from_wire({}) == Limits()
    assert Limits.from_wire({"memory_bytes": None, "processes": 3.0}) == Limits(memory_bytes=None, processes=3)
    assert CandidateRequest.from_wire({"key": "k", "job": {}}) == CandidateRequest("k", Job())
    assert Verdict.from_wire({"status": "fail"}) == Verdict(Status.FAIL)
    assert Verdict(Status.PASS, "x" * 30_000).message == "x" * 20_000


def test_a_verdict_names_a_mistake_only_when_it_failed_and_only_with_a_slug():
    named = Verdict(Status.FAIL, "m", mistake="column-sums")
    assert Verdict.from_wire(named.to_wire()) == named and named.summary()["mistake"] == "column-sums"
    assert Verdict(Status.PASS, mistake="column-sums").mistake is None
    assert Verdict(Status.FAIL, mistake="Not a slug").mistake is None
    assert named.settle(Ended(), (), 5.0).mistake == "column-sums"
    for bad in ("Column sums", "x" * 41, 3, ["a"]):
        with pytest.raises(Malformed):
            Verdict.from_wire({"status": "fail", "mistake": bad})


def test_notebook_done_drops_outputs_nbformat_would_refuse_and_says_so():
    frame = {"notebook_done": "k", "cells": {"0": {"outputs": [{"output_type": "stream", "name": "stdout",
                                                               "text": "hi"}, {"output_type": "bogus"}, 3]},
                                            "x": {}, "1": "not a cell"}, "violations": ["v", 7]}
    done = NotebookDone.from_wire(wire(frame))
    assert done.cells == {0: CellResult([{"output_type": "stream", "name": "stdout", "text": "hi"}])}
    assert done.violations == ("v", "4 malformed outputs from the notebook dropped")


# --------------------------------------------------------------------------- totality

SEEN_TYPES = (type(None), bool, int, float, str, seen.SeenTensor, seen.SeenModule, seen.SeenModuleRef,
              seen.SeenTuple, seen.SeenList, seen.SeenDict, seen.SeenArray, seen.SeenObject, torch.Size,
              torch.device, torch.dtype)
ALL_REQUESTS, ALL_REPORTS = tuple(REQUESTS.values()), tuple(REPORTS.values())

DECODERS = {  # name: (decoder, the types it may return)
    **{f"{k.__name__}.from_wire": (k.from_wire, k) for k in (Job, Slots, Limits, Ended, Verdict, *ALL_REQUESTS,
                                                             *ALL_REPORTS)},
    "decode_request": (lambda v: decode_request(v, ALL_REQUESTS), ALL_REQUESTS),
    "decode_report": (decode_report, ALL_REPORTS),
    "decode_cell_frame": (lambda v: decode_cell_frame(v, INDICES), (CellStarted, CellDone)),
    "seen.decode": (seen.decode, SEEN_TYPES),
}


def total(name, value):
    """`name` decodes `value` to a value of its type, or raises Malformed; anything else escapes."""
    decoder, kinds = DECODERS[name]
    try:
        result = decoder(value)
    except Malformed:
        return
    assert isinstance(result, kinds), f"{name} returned a {type(result).__name__}"


def _tensor_description(**changes):
    d = describe(torch.zeros(()), values.Handles())
    d.update(changes)
    return d


def _grad_chain(depth):
    """A tensor description whose grad has a grad... `depth` deep."""
    d = None
    for _ in range(depth):
        d = _tensor_description(grad=d)
    return d


def test_a_reader_parses_a_grad_chain_600_deep():
    """What a candidate could send: the reader accepts it (see seen.decode's known breakers)."""
    chain = _grad_chain(600)
    assert wire(chain) == chain


# Inputs that made a decoder raise something other than Malformed, found by the tests below:
# {decoder: [(input, the exception it raised, why)]}. Each is a regression test now: the decoder
# must refuse it cleanly (or decode it), like any other input.
NOT_AN_OBJECT = (AttributeError, "'NoneType' / 'list' object has no attribute 'get': no f.obj check before frame.get")
ONCE_BROKE = {
    **{f"{k.__name__}.from_wire": [(None, *NOT_AN_OBJECT), ([], *NOT_AN_OBJECT)]
       for k in (JudgeRequest, Gone, CandidateRequest, NotebookRequest, Judged, CandidateDone, NotebookDone,
                 ServerCpu)},
    "decode_request": [({"op": []}, TypeError, "unhashable type: 'list', from REQUESTS.get(frame.get('op'))")],
    "Verdict.from_wire": [({"status": []}, TypeError, "unhashable type: 'list', from status in {...}"),
                          ({"status": "pass", "lost": {}}, TypeError, "unhashable type: 'dict', from lost in {...}")],
    "Ended.from_wire": [({"how": "killed", "killed": []}, TypeError,
                         "unhashable type: 'list', from killed in Killed.__members__")],
    "Limits.from_wire": [({"processes": float("inf")}, OverflowError, "cannot convert float infinity to integer"),
                         ({"cell_timeout": 10**400}, OverflowError, "int too large to convert to float")],
    "seen.decode": [
        (_tensor_description(shape=[0, 2**40, 2**40], stride=[1, 1, 1], data=""), ValueError,
         "array is too big: values_from_bytes reshapes an empty array to huge other dimensions"),
        ({"$": "ndarray", "ref": 0, "dtype": "<f4", "shape": [0, 2**40, 2**40], "data": ""}, ValueError,
         "array is too big: SeenArray reshapes an empty array to huge other dimensions"),
        (_grad_chain(600), RecursionError,
         "a tensor whose grad has a grad... 600 deep (JSON the reader parses): SeenTensor has no depth limit"),
        ({"$": "ndarray", "ref": 0, "dtype": ",", "shape": [], "data": None}, SyntaxError,
         "numpy.dtype(',') parses it as a list of formats; SeenArray catches TypeError only"),
        ({"$": "ndarray", "ref": 0, "dtype": "()S", "shape": [], "data": None}, ValueError,
         "invalid itemsize in generic type tuple, from numpy.dtype; SeenArray catches TypeError only"),
    ],
}
ONCE_BROKE["NotebookDone.from_wire"].append(
    ({"notebook_done": "k", "cells": {"0": {"outputs": [{"output_type": []}]}}}, TypeError,
     "unhashable type: 'list', from output_type in OUTPUT_TYPES (cell_output)"))
ONCE_BROKE["NotebookDone.from_wire"].append(
    ({"notebook_done": "k", "stuck": None, "dead": None, "seconds": 10**400}, OverflowError,
     "int too large to convert to float, from float(seconds) (found by the mutation test in a full run)"))
for _outer, _inner, _error in (
        ("CandidateRequest.from_wire", {"key": "k", "job": {}, "limits": {"processes": float("inf")}}, OverflowError),
        ("NotebookRequest.from_wire", {"key": "k", "cells": [], "limits": {"file_bytes": float("inf")}}, OverflowError),
        ("decode_request", {"op": "candidate", "key": "k", "job": {}, "limits": {"cell_timeout": 10**400}},
         OverflowError),
        ("Judged.from_wire", {"judged": "k", "verdict": {"status": []}}, TypeError),
        ("CandidateDone.from_wire", {"candidate_done": "k", "ended": {"how": "killed", "killed": {}}}, TypeError),
        ("decode_report", {"judged": "k", "verdict": {"status": "fail", "lost": []}}, TypeError),
        ("decode_report", {"notebook_done": "k", "cells": {"0": {"outputs": [{"output_type": {}}]}}}, TypeError)):
    ONCE_BROKE.setdefault(_outer, []).append((_inner, _error, "from a nested decoder (Limits, Verdict, Ended, "
                                                                  "cell_output: see above)"))


@pytest.mark.parametrize("name, value", [
    pytest.param(name, value, id=f"{name}-{i}") for name, found in ONCE_BROKE.items() for i, (value, _, _) in enumerate(found)])
def test_an_input_that_once_broke_a_decoder_is_refused_cleanly(name, value):
    total(name, value)


@pytest.mark.parametrize("name", list(DECODERS))
def test_a_decoder_is_total_on_any_json(name):
    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(json_values | st.sampled_from(EDGES))
    def check(value):
        total(name, value)
    check()


def paths(value, prefix=()):
    """Every place in a JSON value: tuples of keys and indices from the root."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from paths(v, (*prefix, i))


def mutate(value, path, replacement, delete):
    """A copy of `value` with the node at `path` deleted (when it is in an object) or replaced."""
    if not path:
        return replacement
    out = copy.deepcopy(value)
    parent = out
    for step in path[:-1]:
        parent = parent[step]
    if delete and isinstance(parent, dict):
        del parent[path[-1]]
    else:
        parent[path[-1]] = replacement
    return out


def _describable():
    """Objects a candidate describes (`autograder.candidate.describe`), as the judge receives them."""
    w = torch.nn.Parameter(torch.ones(2, 3))
    w.grad = torch.full((2, 3), 0.5)
    net = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    return {"tensor": torch.arange(6.0).reshape(2, 3).t(), "parameter with grad": w,
            "bfloat16": torch.tensor([1.5, -2.0], dtype=torch.bfloat16), "int": torch.tensor([1, 2]),
            "module": net, "max": torch.tensor([[1.0, 3.0]]).max(1), "size": torch.Size([2, 3]),
            "containers": {"a": [1, 2.5, None, True], 3: ("x", torch.float16, torch.device("cpu"))},
            "ndarray": numpy.arange(4, dtype=numpy.int32).reshape(2, 2), "object": print}


DESCRIBED = {name: wire(describe(obj, values.Handles())) for name, obj in _describable().items()}


def valid_frames(name):
    """Valid frames for decoder `name`."""
    if name == "seen.decode":
        return st.sampled_from(list(DESCRIBED.values()))
    kinds = DECODERS[name][1]
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    return st.one_of([MESSAGES[k.__name__] for k in kinds]).map(lambda m: wire(m.to_wire()))


@st.composite
def mutated_frames(draw, name):
    frame = draw(valid_frames(name))
    path = draw(st.sampled_from(list(paths(frame))))
    return mutate(frame, path, draw(replacements), draw(st.booleans()))


def test_the_described_values_decode():
    for name, d in DESCRIBED.items():
        assert isinstance(seen.decode(d), SEEN_TYPES), name


@pytest.mark.parametrize("name", list(DECODERS))
def test_a_decoder_is_total_on_every_mutation_of_a_valid_frame(name):
    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(mutated_frames(name))
    def check(frame):
        total(name, frame)
    check()


def test_the_judge_refuses_a_deep_description_cleanly():
    """Nesting past `seen`'s depth limit is Malformed, not a RecursionError."""
    d = 0
    for _ in range(200):
        d = {"$": "list", "items": [d]}
    with pytest.raises(Malformed, match="nested too deep"):
        seen.decode(wire(d))
    assert sys.getrecursionlimit() >= 1000


# ------------------------------------------------- a module's tensors travel once per description

def _nested_net():
    """A module whose tensors appear many times in its description: nested children, a shared
    layer, a buffer, gradients, and a gradient that is also a tensor elsewhere in the answer."""
    shared = torch.nn.Linear(3, 3)
    net = torch.nn.Sequential(torch.nn.Sequential(shared, torch.nn.ReLU(), torch.nn.BatchNorm1d(3)),
                              shared, torch.nn.Linear(3, 2).double())
    g = torch.Generator().manual_seed(0)
    for i, p in enumerate(net.parameters()):  # values and gradients all different
        with torch.no_grad():
            p.copy_(torch.randn(p.shape, generator=g))
        if i < 3:
            p.grad = torch.randn(p.shape, generator=g, dtype=p.dtype)
    return net


def _plain(obj):
    """A decoded value as plain data (tensors as lists), to compare two decodings."""
    if isinstance(obj, torch.Tensor):
        return ("tensor", str(obj.dtype), obj.tolist())
    if isinstance(obj, (seen.SeenTensor, seen.SeenModule, seen.SeenModuleRef)):
        return (type(obj).__name__, {k: _plain(v) for k, v in sorted(vars(obj).items())})
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def _tensors(obj, found):
    """Every SeenTensor (gradients included) in a decoded value."""
    if isinstance(obj, seen.SeenTensor):
        found.append(obj)
        if obj.grad is not None:
            found.append(obj.grad)
    elif isinstance(obj, seen.SeenModule):
        for v in [*obj.parameters.values(), *obj.buffers.values(), *obj.children.values()]:
            _tensors(v, found)
        for _, v in [*obj.named_parameters, *obj.named_buffers]:
            _tensors(v, found)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _tensors(v, found)
    return found


def test_a_module_description_carries_each_tensor_once_and_decodes_as_if_repeated():
    from autograder.candidate.describe import describe_module
    net = _nested_net()
    handles = values.Handles()
    answer = [net, net[0][0].weight.grad, net[0][0].weight]
    sent = wire(describe(answer, handles))
    repeated = wire({"$": "list", "ref": 0, "type": "builtins.list", "length": 3,
                     "items": [describe_module(net, handles, 0, None), *[describe(t, handles) for t in answer[1:]]]})
    text = json.dumps(sent)
    for name, p in net.named_parameters():
        data = json.dumps(base64_of(p))
        assert text.count(data) == 1, name
        if p.grad is not None:
            assert text.count(json.dumps(base64_of(p.grad))) == 1, name
    assert len(text) < len(json.dumps(repeated)) / 2
    assert _plain(seen.decode(sent)) == _plain(seen.decode(repeated))


def base64_of(t):
    import base64
    return base64.b64encode(values.tensor_bytes(t)).decode()


def test_the_copies_of_a_tensor_described_once_are_each_their_own():
    decoded = seen.decode(wire(describe(_nested_net(), values.Handles())))
    found = _tensors(decoded, [])
    by_ref = {}
    for t in found:
        by_ref.setdefault((t.ref, t.grad is None), []).append(t)
    assert any(len(same) > 2 for same in by_ref.values())
    arrays = [t.values for t in found if t.values is not None]
    assert len({id(a) for a in arrays}) == len(arrays)  # no two share their values
    weight = decoded.named_parameters[0][1]
    weight.values.zero_()
    assert decoded.children["0"].children["0"].parameters["weight"].values.abs().sum() > 0


@pytest.mark.parametrize("edit, says", [
    (lambda d: {"$": "tensor", "ref": d["ref"], "same": True}, "described already"),
    (lambda d: {**d, "data": None, "same_data": True}, "sent already"),
])
def test_a_tensor_said_to_be_sent_already_that_was_not_is_malformed(edit, says):
    d = wire(describe(torch.ones(2, 3), values.Handles()))
    with pytest.raises(Malformed, match=says):
        seen.decode(edit(d))
    listed = {"$": "list", "items": [edit(d), d]}  # the first comes only after: still not sent
    with pytest.raises(Malformed, match=says):
        seen.decode(listed)


def test_same_data_of_another_shape_or_dtype_and_same_across_gradients_are_malformed():
    t = torch.ones(2, 3)
    d = wire(describe(t, values.Handles()))
    for other in ({**d, "shape": [3, 2], "stride": [2, 1]}, {**d, "dtype": "float64"}):
        with pytest.raises(Malformed, match="sent already"):
            seen.decode({"$": "list", "items": [d, {**other, "data": None, "same_data": True}]})
    with pytest.raises(Malformed, match="described already"):  # a tensor is not its own gradient's copy
        seen.decode({"$": "list", "items": [d, {**d, "grad": {"$": "tensor", "ref": d["ref"], "same": True}}]})
    two = seen.decode({"$": "list", "items": [d, {"$": "tensor", "ref": d["ref"], "same": True}]})
    assert torch.equal(two[0].values, two[1].values) and two[0].values is not two[1].values


@pytest.mark.parametrize("copy", [
    lambda d: {"$": "tensor", "ref": d["ref"], "same": True},
    lambda d: {**d, "data": None, "same_data": True},
])
def test_a_description_cannot_make_the_judge_copy_far_more_than_it_sent(copy):
    """Copies are bounded by what was carried: 64 MiB plus four times it, counted before any
    copy is made (here 1 MiB carried, asked for 100 copies of it)."""
    d = wire(describe(torch.zeros(1 << 18), values.Handles()))
    few = seen.decode({"$": "list", "items": [d] + [copy(d)] * 60})  # 60 MiB of copies: within
    assert len(few) == 61 and all(t.values.shape == (1 << 18,) for t in few)
    with pytest.raises(Malformed, match="too many times"):
        seen.decode({"$": "list", "items": [d] + [copy(d)] * 100})

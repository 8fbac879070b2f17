"""Fuzzing where the bytes arrive: every reader, decoder and server loop of the grader, fed
arbitrary and adversarial input, ends in a checked message or in `Malformed` (charged to the
sender), never in another exception; and what a server or the command builds from a student's
work is bounded before it is sent (a frame it cannot send would end the sender).

Adversarial JSON here: valid JSON of the wrong types, integers past every bound, nesting deeper
than any decoder allows, strings of megabytes, non-ASCII text that JSON escapes to six or twelve
bytes a character, lone surrogates, descriptor counts that do not match. Each test draws a few
dozen examples (seconds); `FUZZ_EXAMPLES=5000 make test` (or pytest on this file) draws that
many per test instead.
"""

import asyncio
import json
import os
import socket

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_protocol import DECODERS, EDGES, json_values, total

from autograder.candidate.notebook_channel import NotebookChannel, frame_limit, total_limit
from autograder.instructor.grader import ServerLost, ServerProcess, refused
from autograder.protocol import frames
from autograder.protocol.forkserver import Control
from autograder.protocol.frames import HEADER, MAX_FRAME, Malformed, Reader
from autograder.protocol.limits import NOTEBOOK_OUTPUTS, GiB, Limits
from autograder.protocol.messages import (
    REQUESTS,
    CandidateDone,
    CandidateRequest,
    CellDone,
    CellStarted,
    Job,
    NotebookDone,
    NotebookRequest,
    Refused,
    decode_report,
    decode_request,
    encoded_request,
    unread,
)
from autograder.protocol.verdicts import Killed, Status

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "0"))


def fuzz(default):
    """Hypothesis settings: `default` examples, or FUZZ_EXAMPLES when it is set."""
    return settings(max_examples=EXAMPLES or default, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# --------------------------------------------------------------------------- adversarial JSON

def nested(depth, leaf=0):
    value = leaf
    for i in range(depth):
        value = [value] if i % 2 else {"k": value}
    return value


huge_ints = st.sampled_from([2**63, -2**63 - 1, 10**300, -(10**4000), 2**64 + 1])
huge_strings = st.sampled_from(["x" * (1 << 20), "é" * 300_000, "\U0001F600" * 100_000, "\0" * 1000])
FIELDS = ["op", "key", "cell", "start", "outputs", "execution_count", "fds", "limits", "cells", "files", "job",
          "hello", "notebook_done", "verdict", "x"]


def adversarial_json(leaves):
    return st.recursive(leaves, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(st.sampled_from(FIELDS), inner, max_size=4), max_leaves=8)


small_leaves = st.sampled_from(EDGES) | huge_ints | json_values | st.builds(nested, st.integers(30, 900))
adversarial = adversarial_json(small_leaves | huge_strings)
small_adversarial = adversarial_json(small_leaves)  # what fits a socket's buffer: sent without a reader


@pytest.mark.parametrize("name", list(DECODERS))
def test_every_decoder_is_total_on_adversarial_json(name):
    @fuzz(40)
    @given(adversarial)
    def check(value):
        total(name, value)
    check()


# --------------------------------------------------------------------------- bytes -> frames

def frames_of(reader):
    """Every frame the reader can give, or the Malformed that ends it; nothing else escapes."""
    try:
        return reader.frames()
    except Malformed:
        return None


@fuzz(200)
@given(st.binary(max_size=4096), st.lists(st.integers(1, 64), max_size=20))
def test_a_reader_takes_any_bytes_cut_anywhere(data, cuts):
    reader = Reader(limit=1 << 12, total=1 << 13)
    view = memoryview(data)
    for cut in [*cuts, len(data)]:
        piece, view = bytes(view[:cut]), view[cut:]
        try:
            reader.feed(piece)
        except Malformed:
            return
        if frames_of(reader) is None:
            return


bodies = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.text(max_size=200).map(lambda t: t.encode("utf-16")),
    st.sampled_from([b'"\\ud800"', b'["\\udc00", 1]', b'{"\\ud83d": 0}', b'"\\ud83d\\ude00"', b'"\\\\ud800"',
                     b'1' * 5000, b"[" * 5000 + b"]" * 5000, b"NaN", b"-Infinity", b"\xed\xa0\x80",
                     b'"\xed\xa0\x80"', b"\xef\xbb\xbf{}", b"{}\x00"]))


@fuzz(300)
@given(bodies)
def test_parse_gives_json_of_valid_text_or_malformed(body):
    try:
        value = frames.parse(body)
    except Malformed:
        return
    json.dumps(value, ensure_ascii=False).encode("utf-8")  # every string is text a file can hold


def test_lone_surrogates_become_replacement_characters():
    """Before: a lone surrogate (JSON allows the escape) reached the command, and writing the
    notebook that held it raised UnicodeEncodeError there."""
    assert frames.parse(b'"\\ud83d\\ude00"') == "\U0001F600"
    assert frames.parse(b'"\\\\ud800"') == "\\ud800"  # an escaped backslash, then text
    assert frames.parse(b'["a", {"\\udc00": ["\\ud83d!"]}]') == ["a", {"\ufffd": ["\ufffd!"]}]
    with pytest.raises(Malformed):
        frames.parse(b'"\xed\xa0\x80"')  # a surrogate in raw bytes is not UTF-8


# --------------------------------------------------------------------------- the notebook channel

def notebook_request(cells=10, max_output_bytes=Limits().max_output_bytes):
    return NotebookRequest("k", tuple((i, "") for i in range(cells)), limits=Limits(max_output_bytes=max_output_bytes))


def stream(text):
    return {"output_type": "stream", "name": "stdout", "text": text}


cell_frames = st.one_of(
    adversarial,
    st.builds(lambda i: {"start": i}, st.integers(-2, 12) | st.sampled_from(EDGES)),
    st.builds(lambda i, outs, n: {"cell": i, "outputs": outs, "execution_count": n},
              st.integers(-1, 11) | st.sampled_from(EDGES), st.lists(adversarial, max_size=3) | adversarial,
              st.none() | st.integers() | st.sampled_from(EDGES)),
    st.builds(lambda i, n: CellDone(i, [stream("é" * n)], 1).to_wire(), st.integers(0, 9), st.integers(0, 400_000)),
    st.builds(lambda i, d: CellDone(i, [{"output_type": "display_data", "data": {"text/plain": nested(d, "x")},
                                         "metadata": nested(d)}], 1).to_wire(), st.integers(0, 9), st.integers(0, 990)))


@fuzz(60)
@given(st.lists(cell_frames, max_size=6), st.integers(1, 4 << 20))
def test_the_notebook_channel_decodes_or_refuses_and_its_report_always_fits(said, max_output_bytes):
    """The server's side of a notebook child's pipe, given anything a child could send:
    each frame is taken or Malformed, and the server's report is one frame that the command
    decodes, with no cell over its limit and no more than the notebook's."""
    request = notebook_request(max_output_bytes=max_output_bytes)
    channel = NotebookChannel(request)
    for frame in said:
        try:
            taken = channel.take(frames.parse(frames.encode(frame)[HEADER.size:]))
        except Malformed:
            continue
        assert isinstance(taken, (CellStarted, CellDone))
    data = channel.report("k", None, None, 1.0, ["v"])
    assert len(data) <= HEADER.size + MAX_FRAME
    done = decode_report(frames.parse(data[HEADER.size:]))
    assert isinstance(done, NotebookDone) and set(done.cells) <= set(range(10))
    for cell in done.cells.values():
        assert frames.size_of(cell.outputs) <= request.limits.cell_outputs() + 70_000


def test_forged_start_frames_are_malformed_not_a_crash():
    """Before: `{"start": [0]}` made the server's take_frames raise TypeError (`[0] in set()`),
    which ended the candidate server and every classmate's work in it."""
    channel = NotebookChannel(notebook_request())
    for forged in ({"start": [0]}, {"start": {}}, {"start": True}, {"start": 2**70}, {"start": 99},
                   {"start": 0, "x": 1}, {"cell": [0]}, {"cell": 0, "outputs": {}}):
        with pytest.raises(Malformed):
            channel.take(forged)


def test_forged_40_mb_outputs_never_make_the_servers_report_too_big():
    """Before: a notebook child forged two 40 MB output frames; the server's own NotebookDone
    was then over the frame cap, its encode() raised and the server died. Now a frame that big
    is refused by the reader (the child is killed as forged), and even under a per-cell limit
    that lets it through, the notebook keeps at most NOTEBOOK_OUTPUTS and the report fits."""
    forged = frames.encode(CellDone(0, [stream("x" * (40 << 20))], 1).to_wire())
    request = notebook_request()
    reader = Reader(limit=frame_limit(request), total=total_limit(request))
    reader.feed(forged[:1 << 20])  # the server reads 1 MiB at a time: the header is enough
    with pytest.raises(Malformed, match="a frame of"):
        reader.frames()

    channel = NotebookChannel(notebook_request(max_output_bytes=1 << 30))
    for index in (0, 1, 2):
        channel.take(frames.parse(frames.encode(CellDone(index, [stream("x" * (20 << 20))], 1).to_wire())[HEADER.size:]))
    data = channel.report("k", None, None, 1.0, [])
    done = decode_report(frames.parse(data[HEADER.size:]))
    assert len(data) < NOTEBOOK_OUTPUTS + (1 << 20)
    assert "over 32 MiB" in done.cells[1].outputs[0]["text"] and done.cells[2].outputs == []
    assert any("outputs from cell 2 on were dropped" in v for v in done.violations)


def test_an_honest_notebook_under_its_limits_keeps_every_output():
    channel = NotebookChannel(notebook_request())
    outputs = [stream("é" * 100_000), {"output_type": "display_data", "data": {"image/png": "A" * 400_000},
                                       "metadata": {}}]
    channel.take(CellDone(3, outputs, 4).to_wire())
    done = decode_report(frames.parse(channel.report("k", None, None, 1.0, [])[HEADER.size:]))
    assert done.cells[3].outputs == outputs and not done.violations


# --------------------------------------------------------------------------- the servers' request loop

request_frames = st.one_of(
    small_adversarial,
    st.builds(lambda op, key, fds: {"op": op, "key": key, "fds": fds, "job": {}, "cells": []},
              st.sampled_from(["candidate", "notebook", "judge", "gone", "x", 0]),
              st.sampled_from(["k", "", "x" * 600, 3, None]), st.integers(-2, 5) | st.sampled_from(EDGES)))


@fuzz(60)
@given(st.lists(request_frames, min_size=1, max_size=4), st.integers(0, 3))
def test_a_servers_request_loop_decodes_or_refuses_any_frame(said, attached):
    """What a server does with its channel (`Control.requests`), for frames with any fields and
    descriptor counts: each is a request of the kinds asked for, or None (its descriptors
    closed), or the channel is Malformed; a request it could not read that names a key is
    answered (`unread`), so nobody waits for it."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    spare = [os.open(os.devnull, os.O_RDONLY) for _ in range(attached)]
    try:
        control = Control(b.fileno())
        frames.send(a.fileno(), said[0], fds=spare)
        for frame in said[1:]:
            frames.send(a.fileno(), frame)
        try:
            got = control.requests((CandidateRequest, NotebookRequest))
        except Malformed:
            return
        for frame, request, fds in got:
            assert request is None or isinstance(request, (CandidateRequest, NotebookRequest))
            if request is None:
                assert fds == []
                answer = unread(frame)
                assert answer is None or isinstance(decode_report(frames.parse(frames.encode(
                    answer.to_wire())[HEADER.size:])), (CandidateDone, NotebookDone))
            for fd in fds:
                os.close(fd)
    finally:
        for fd in spare:
            os.close(fd)
        a.close()
        b.close()


def test_an_unreadable_request_is_answered_as_ended_unread():
    done = unread({"op": "candidate", "key": "ada/n.ipynb#ex", "job": {"solutions": "not pairs"}})
    assert isinstance(done, CandidateDone) and done.ended.killed is Killed.UNREADABLE_REQUEST
    assert isinstance(unread({"op": "notebook", "key": "k", "cells": 3}), NotebookDone)
    assert unread({"op": "candidate", "key": 3}) is None and unread([]) is None


# --------------------------------------------------------------------------- what the command receives

@fuzz(60)
@given(st.lists(small_adversarial | st.builds(lambda v: {"notebook_done": "k", "cells": v}, small_adversarial),
                max_size=4))
def test_the_command_reads_any_server_frame_as_a_report_or_a_lost_server(said):
    """The command's side of a server's channel (`ServerProcess.reports`): any frame is one of
    the reports a server may make, or the server is lost (and replaced); nothing else."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    server = ServerProcess("candidate", None, "m", "/dev/null")
    server.sock = ours
    try:
        for frame in said:
            frames.send(theirs.fileno(), frame)
        theirs.close()  # and then the server is gone
        while True:
            for report in server.reports():
                assert type(report).__name__ in ("Hello", "Judged", "CandidateDone", "NotebookDone", "ServerCpu")
    except ServerLost:
        pass
    finally:
        ours.close()
        theirs.close()


# --------------------------------------------------------------------------- what the command sends

@fuzz(40)
@given(st.sampled_from(["x", "é", "\U0001F600", "\0", '"']), st.sampled_from([0, 7, 1 << 20, 3 << 20, 6 << 20]),
       st.integers(0, 2), st.sampled_from(["candidate", "notebook"]))
def test_a_request_is_sent_whole_and_readable_or_refused(char, size, count, kind):
    """Whatever a student's cells hold, the command's request either fits one frame and its
    server's decoder reads it back as sent, or is Refused with a reason in MiB (never a
    ValueError in the command, never a frame the server would refuse)."""
    text = char * size
    if kind == "candidate":
        request = CandidateRequest("k", Job(solutions=tuple((f"c{i}", text) for i in range(count))))
    else:
        request = NotebookRequest("k", tuple((i, text) for i in range(count)), files=(("f", "QQ==" * size),))
    try:
        data = encoded_request(request)
    except Refused as exc:
        assert "MiB" in str(exc) or "cannot be sent" in str(exc)
        return
    assert len(data) <= HEADER.size + MAX_FRAME
    assert decode_request(frames.parse(data[HEADER.size:]), tuple(REQUESTS.values())) == request


def test_a_17_mb_non_ascii_solution_cell_is_refused_with_its_size():
    """Before: a 17 MB solution cell of non-ASCII characters (6 bytes each in JSON) made the
    command's request over the frame cap: encode() raised ValueError in the grade command
    and the whole run aborted, nobody recorded."""
    request = CandidateRequest("ada#ex", Job(solutions=(("c", "é" * (17 << 20)),)))
    with pytest.raises(Refused, match=r"the exercise's cells are 102\.0 MiB as sent to the grader, over the 64\.0 MiB"):
        encoded_request(request)
    verdict = refused("why")
    assert verdict.status is Status.ERROR and not verdict.passed and "why" in verdict.message


def test_a_notebook_whose_files_do_not_fit_leaves_them_out(tmp_path):
    """Before: a 49 MiB notebook (image outputs) took the feedback run's request over the frame
    cap (50 MiB of files is 66.7 MiB of base64) and aborted the run. Now the files are taken
    as long as they fit beside the cells, and the ones left out are named."""
    from autograder.instructor.rerun import files_room, submission_files
    (tmp_path / "big.ipynb").write_bytes(b"x" * (49 << 20))
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    cells = [(0, "print(1)")]
    left_out = []
    files = submission_files(tmp_path, files_room(Limits(), cells), left_out)
    assert [name for name, _ in files] == ["data.csv"] and left_out == ["big.ipynb"]
    request = NotebookRequest("k", tuple(cells), tuple(map(tuple, files)))
    assert len(encoded_request(request)) < MAX_FRAME
    assert files_room(Limits(submission_bytes=GiB), cells) * 4 // 3 < MAX_FRAME


# --------------------------------------------------------------------------- kernel messages (plain nbgrader)

@pytest.fixture
def event_loop_of_its_own():
    """The client's sockets are asyncio ones: they need a current event loop, which an earlier
    `asyncio.run` in the same process leaves unset."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        yield loop
    finally:
        asyncio.set_event_loop(None)
        loop.close()


@pytest.mark.usefixtures("event_loop_of_its_own")
def test_a_kernel_message_over_its_cap_is_dropped_by_zmq_before_it_is_read(tmp_path, monkeypatch):
    """Before: a 200 MB message from a student's kernel was read and parsed whole by nbgrader's
    client (1.5 GiB in the instructor's `nbgrader autograde`) before any size was checked. Now
    every socket to the kernel has zmq's MAXMSGSIZE: the message never reaches the client (zmq
    ends that connection: the rest of that notebook's outputs are lost, its own loss only)."""
    import zmq

    from autograder.instructor.preprocessors import safe_execute
    monkeypatch.setattr(safe_execute, "KERNEL_MESSAGE", 1 << 20)
    client = safe_execute.BoundedClient(transport="ipc", ip=str(tmp_path / "kernel"), iopub_port=1)
    context = zmq.Context()
    kernel = context.socket(zmq.PUB)
    kernel.bind(client._make_url("iopub"))
    sub = client.connect_iopub()
    try:
        assert sub.getsockopt(zmq.MAXMSGSIZE) == 1 << 20
        poller = zmq.Poller()
        poller.register(sub, zmq.POLLIN)

        def next_message(mark):
            for _ in range(200):  # until the subscription is through (zmq's slow joiner)
                kernel.send(mark)
                if poller.poll(50):
                    message = sub.recv()  # the client's sockets are asyncio ones: a finished Future
                    return message.result() if hasattr(message, "result") else message
            raise AssertionError("nothing arrived")

        assert next_message(b"before") == b"before"
        kernel.send(b"x" * (2 << 20))
        kernel.send(b"after")
        arrived = []
        while poller.poll(1000):
            message = sub.recv()
            arrived.append(message.result() if hasattr(message, "result") else message)
        assert all(len(m) < 1 << 20 for m in arrived)  # zmq dropped it (and that kernel's channel)
    finally:
        sub.close(0)
        kernel.close(0)
        context.term()
        del client


# --------------------------------------------------------------------------- the notebook child's side

@fuzz(100)
@given(st.lists(st.text(max_size=3000) | st.sampled_from(["é" * 5000, "\U0001F600" * 3000, "\0" * 4000, "\ud800"]),
                max_size=8), st.integers(0, 20_000))
def test_the_notebook_child_keeps_a_cell_within_its_limit_as_it_travels(writes, limit):
    """Before: a cell's cap counted characters, and a cell of non-ASCII text (6 or 12 bytes a
    character in JSON) sent its server up to 12 times its limit. Now the child counts what
    its outputs take in the frame, as its server does."""
    from autograder.candidate.notebook import CellOutputs, Stream
    cell = CellOutputs(limit)
    out = Stream("stdout", lambda: cell)
    for text in writes:
        out.write(text)
    notice = 120  # the "[output truncated ...]" line
    assert frames.size_of(cell.items) <= limit + notice + 40 * len(cell.items)
    if not cell.truncated:
        assert "".join(i["text"] for i in cell.items) == "".join(writes)

"""Frames between the grader's processes: a 4-byte length, then UTF-8 JSON; nothing else.

Every channel of the grader speaks this (the instructor's command to the two servers, a judge
to its candidate, a notebook child to its server). A frame is parsed with `json` only, never
unpickled or evaluated, and its size is capped by the reader: a peer that sends more, sends
something that is not JSON, or stops in the middle of a frame is `Malformed`, and the reader
decides what that costs (one exercise, one notebook), never the process that reads it.

File descriptors travel beside frames on Unix sockets (`send(..., fds=...)`): each frame that
carries some is sent in one `sendmsg`, so its descriptors arrive no later than its first byte,
and `Reader` hands them out in order with the frames.
"""

import json
import os
import re
import select
import socket
import struct
import time

HEADER = struct.Struct(">I")
MAX_FRAME = 64 << 20  # what any reader accepts at most; readers usually ask for less
MAX_FDS = 16
# Values one frame may hold (outside its strings): JSON of 64 MiB can parse to twenty times its
# size in Python objects (`[[],[],...]`); this bounds that to a few hundred MiB at most, and
# still takes every legitimate frame (a notebook's outputs and cells are strings, a tensor is
# one base64 string, a list of a million numbers is a million values).
MAX_VALUES = 1 << 21
NOTHING = object()  # no whole frame yet


class Malformed(Exception):
    """The peer sent something that is not a frame of this protocol."""


class TooLarge(ValueError):
    """What a process was about to send does not fit in one frame: `size` bytes of JSON.
    A sender checks what it builds from a student's work before sending it (`fits`), so
    this is that student's problem, never the sender's death."""

    def __init__(self, size, limit=None):
        self.size, self.limit = size, MAX_FRAME if limit is None else limit
        super().__init__(f"frame of {size} bytes is over the {self.limit} byte limit")


class Closed(Exception):
    """The peer closed the channel (or died) before a whole frame arrived."""


def body_of(obj):
    """`obj` as a frame's body: compact JSON, ASCII only (what `size_of` measures)."""
    return json.dumps(obj, separators=(",", ":"), allow_nan=True).encode()


def size_of(obj):
    """How many bytes `obj` takes in a frame (its JSON, ASCII only: a non-ASCII character
    counts the 6 or 12 bytes of its escape)."""
    return len(body_of(obj))


def encode(obj, limit=MAX_FRAME):
    """`obj` as a whole frame; TooLarge when its JSON is over `limit` bytes (nothing sent)."""
    body = body_of(obj)
    if len(body) > min(limit, MAX_FRAME):
        raise TooLarge(len(body), min(limit, MAX_FRAME))
    return HEADER.pack(len(body)) + body


_OPENERS = (b",", b"[", b"{", b":")
# a JSON string, escapes included (unrolled: no backtracking)
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')


def values_in(body):
    """An upper bound on the number of JSON values in `body` (each follows a `[`, `{`, `,` or
    `:` outside strings), counted at C speed: every such byte, and only when that is over
    MAX_VALUES, less those inside strings (commas in text are no values): strings are found one
    by one, at most MAX_VALUES of them (more strings than that is too many values anyway)."""
    count = sum(body.count(c) for c in _OPENERS)
    if count <= MAX_VALUES:
        return count
    for strings, string in enumerate(_STRING.finditer(body), 1):
        if strings > MAX_VALUES:
            return strings
        start, end = string.span()
        if end - start > 2:
            count -= sum(body.count(c, start, end) for c in _OPENERS)
    return count


# an escaped UTF-16 surrogate: only in pairs (high then low) is it a character
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")


def parse(body):
    """A frame's body, parsed: strict UTF-8 JSON (anything else, or nested too deep, or a number
    of thousands of digits, is Malformed) whose strings are all valid text: a lone surrogate,
    which no file or notebook can hold (writing it would raise far from here), becomes U+FFFD.
    A frame of more than MAX_VALUES values is Malformed before it is parsed."""
    body = bytes(body)
    if values_in(body) > MAX_VALUES:
        raise Malformed(f"more than {MAX_VALUES} values in one frame")
    try:
        value = json.loads(bytes(body).decode("utf-8"))  # strict: no UTF-16/32 guessing, no raw surrogates
    except (ValueError, RecursionError, UnicodeDecodeError, MemoryError) as exc:
        raise Malformed(f"not JSON ({type(exc).__name__})") from None
    if _SURROGATE.search(body):
        value = _valid_text(value)
    return value


def _text(s):
    try:
        s.encode("utf-8")
        return s
    except UnicodeEncodeError:
        return s.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _valid_text(value):
    """`value` with every lone surrogate in its strings (and keys) replaced, in place."""
    if isinstance(value, str):
        return _text(value)
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            for i, v in enumerate(item):
                if isinstance(v, str):
                    item[i] = _text(v)
                elif isinstance(v, (list, dict)):
                    stack.append(v)
        elif isinstance(item, dict):
            pairs = [(_text(k), _text(v) if isinstance(v, str) else v) for k, v in item.items()]
            item.clear()
            item.update(pairs)
            stack.extend(v for _, v in pairs if isinstance(v, (list, dict)))
    return value


def send(fd, obj, fds=()):
    """Write one frame to `fd` (blocking), with `fds` attached when it is a socket."""
    send_encoded(fd, encode(obj), fds)


def send_encoded(fd, data, fds=()):
    """Write `data`, a frame `encode` made, to `fd` (blocking), with `fds` as `send` does."""
    if fds:
        sock = socket.socket(fileno=os.dup(fd))
        try:
            sent = socket.send_fds(sock, [data], list(fds))
        finally:
            sock.close()
        data = data[sent:]
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except BlockingIOError:
            poll = select.poll()
            poll.register(fd, select.POLLOUT)
            poll.poll()
            continue
        view = view[written:]


class Reader:
    """Frames from a stream of bytes (and descriptors), fed as they arrive.

    `limit` caps one frame; `total` (optional) caps everything this reader will ever accept
    from its peer, so a flood costs the peer its channel, not the reader its memory."""

    def __init__(self, limit=MAX_FRAME, total=None):
        self.limit, self.total = min(limit, MAX_FRAME), total
        self.buffer, self.fds, self.received = bytearray(), [], 0

    def feed(self, data, fds=()):
        self.received += len(data)
        if self.total is not None and self.received > self.total:
            raise Malformed(f"more than {self.total} bytes in all")
        self.buffer += data
        self.fds.extend(fds)

    def next_frame(self):
        """The next whole frame received so far, parsed, or NOTHING (a frame may be JSON null)."""
        if len(self.buffer) < HEADER.size:
            return NOTHING
        (size,) = HEADER.unpack_from(self.buffer)
        if size > self.limit:
            raise Malformed(f"a frame of {size} bytes (at most {self.limit})")
        if len(self.buffer) < HEADER.size + size:
            return NOTHING
        body = bytes(self.buffer[HEADER.size:HEADER.size + size])
        del self.buffer[:HEADER.size + size]
        return parse(body)

    def frames(self):
        """Every whole frame received so far, parsed."""
        out = []
        while (frame := self.next_frame()) is not NOTHING:
            out.append(frame)
        return out

    def take_fds(self, count):
        """The next `count` descriptors received, in order (Malformed if fewer arrived)."""
        if count < 0 or count > len(self.fds):
            raise Malformed("a frame refers to descriptors that were not sent")
        taken, self.fds = self.fds[:count], self.fds[count:]
        return taken

    def pending(self):
        return len(self.buffer)


def read_some(fd, reader, want_fds=False, size=1 << 20):
    """Read what is there (non-blocking use: call when `fd` is readable); False at end of file."""
    if want_fds:
        try:
            sock = socket.socket(fileno=os.dup(fd))
            try:
                data, fds, flags, _ = socket.recv_fds(sock, size, MAX_FDS)
            finally:
                sock.close()
        except BlockingIOError:
            return True
        if flags & getattr(socket, "MSG_CTRUNC", 8):
            for extra in fds:
                os.close(extra)
            raise Malformed("too many descriptors in one message")
    else:
        try:
            data, fds = os.read(fd, size), []
        except BlockingIOError:
            return True
    if not data and not fds:
        return False
    reader.feed(data, fds)
    return True


def receive(fd, reader, timeout=None, want_fds=False):
    """The next frame from `fd`, waiting at most `timeout` seconds (None: forever); with
    `want_fds` (a Unix socket), descriptors that come with it wait in `reader` (`take_fds`).

    Raises Closed at end of file, TimeoutError when nothing whole arrived in time, Malformed."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        frame = reader.next_frame()
        if frame is not NOTHING:
            return frame
        left = None if deadline is None else deadline - time.monotonic()
        if left is not None and left <= 0:
            raise TimeoutError("no answer in time")
        if wait_readable(fd, left) and not read_some(fd, reader, want_fds):
            raise Closed("the channel was closed")


def wait_readable(fd, timeout):
    """True once `fd` has something to read, or is closed; False after `timeout` seconds."""
    poll = select.poll()
    poll.register(fd, select.POLLIN)
    return bool(poll.poll(None if timeout is None else max(0, int(timeout * 1000))))

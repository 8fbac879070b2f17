"""What both grading servers are built on: their channel to the command, and their children.

A server is one single-threaded process that forks children and never blocks on any of them:
it polls its channel to the command, each child's output pipe and each child's pidfd (which
becomes readable when that process exits, whatever it did to its pipes), reaps with WNOHANG,
and enforces every time limit itself on the child's own time (wall-clock seconds minus the
seconds it spent waiting for a CPU, so grading many at once never costs a slow but correct
child its limit, and a child that sleeps is still timed).
"""

import ctypes
import fcntl
import os
import select
import signal
import stat
import time

from . import frames
from .messages import Hello, ServerCpu, decode_request
from .verdicts import Ended

PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38

_libc = ctypes.CDLL(None, use_errno=True)


def prctl(option, value):
    return _libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0)


def keep_only(keep):
    """Close every descriptor above 2 except `keep` and regular files opened read-only
    (matplotlib keeps its font files open; a figure drawn after its font's descriptor was
    closed would fail). Pipes, sockets, pidfds, directories and writable files all go."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd <= 2 or fd in keep:
            continue
        try:
            mode = os.fstat(fd).st_mode
            flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        except OSError:
            continue
        if stat.S_ISREG(mode) and flags & os.O_ACCMODE == os.O_RDONLY:
            continue
        try:
            os.close(fd)
        except OSError:
            pass


def cpu_wait(pid="thread-self"):
    """Seconds the thread (default: this one; else a process's main thread) has spent ready to
    run but waiting for a CPU (Linux schedstat run_delay); 0 where the kernel does not say."""
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0


def cpu_seconds(pid):
    """CPU seconds a process has used, all its threads (utime + stime in /proc/<pid>/stat);
    0 where the kernel does not say."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


class Control:
    """The server's side of its socket to the command: requests (with descriptors) in, frames
    out, written without ever blocking (the command may be busy writing to us)."""

    def __init__(self, fd, limit=256 << 20):
        self.fd, self.reader, self.outbox, self.open = fd, frames.Reader(limit=limit), bytearray(), True
        os.set_blocking(fd, False)

    def requests(self, kinds):
        """(frame, request, fds) for each frame that arrived: `request` is the frame decoded as
        one of `kinds` (messages), or None (its descriptors are closed) when it is not one. Sets
        `open` False at end of file."""
        try:
            if not frames.read_some(self.fd, self.reader, want_fds=True):
                self.open = False
        except OSError:  # the command is gone
            self.open = False
        out = []
        for frame in self.reader.frames():
            count = frame.get("fds", 0) if isinstance(frame, dict) else 0
            if type(count) is not int:
                raise frames.Malformed("a frame that says it carries descriptors, but not how many")
            fds = self.reader.take_fds(count)
            try:
                request = decode_request(frame, kinds)
            except frames.Malformed:
                request = None
                for fd in fds:
                    os.close(fd)
            out.append((frame, request, fds if request is not None else []))
        return out

    def send(self, message):
        self.send_encoded(frames.encode(message))

    def send_encoded(self, data):
        """Queue a frame `frames.encode` made, and write what the command will take now."""
        self.outbox += data
        self.flush()

    def flush(self, block=False):
        if block:
            os.set_blocking(self.fd, True)
        while self.outbox:
            try:
                written = os.write(self.fd, self.outbox)
            except BlockingIOError:
                return
            except OSError:  # the command is gone: nothing left to tell it
                self.outbox.clear()
                return
            del self.outbox[:written]


def run_server(fd, make_server, **hello):
    """A server's life once it is warm: freeze what it imported (children's collections then
    skip it: fewer pages copied), make the server (`make_server(control)` returns an object
    with `serve()`: the candidate server's has its spare zygote by then), say `Hello` on its
    channel `fd`, serve, then report its own and its children's CPU seconds. Hello comes last:
    a server that said it is ready is serving."""
    import gc
    gc.collect()
    gc.freeze()
    control = Control(fd)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 1)  # stray prints must never reach a channel
    started = os.times()
    server = make_server(control)
    control.send(Hello(os.getpid(), **hello).to_wire())
    control.flush(block=True)
    os.set_blocking(fd, False)
    server.serve()
    used = os.times()
    control.send(ServerCpu(round(used.user + used.system - started.user - started.system, 3),
                           round(used.children_user + used.children_system
                                 - started.children_user - started.children_system, 3)).to_wire())
    control.flush(block=True)


class Child:
    """A forked child: what it is for, its pidfd, its output pipe, its own-time limit."""

    def __init__(self, task, pid, limit, out_fd=None, out_limit=None, frame_limit=None, waits=None):
        self.task, self.pid, self.limit, self.waits = task, pid, limit, waits
        self.pidfd = os.pidfd_open(pid)
        self.out_fd = out_fd
        if out_fd is not None:
            os.set_blocking(out_fd, False)
        self.reader = frames.Reader(limit=frame_limit or out_limit or frames.MAX_FRAME, total=out_limit)
        self.started = time.monotonic()
        self.waited_at_start = cpu_wait(pid)
        self.killed, self.status, self.exited = None, None, False
        self.reniced, self.eof_at = False, None

    def own_seconds(self, now, since=None, waited_then=None):
        since = self.started if since is None else since
        waited_then = self.waited_at_start if waited_then is None else waited_then
        return now - since - (cpu_wait(self.pid) - waited_then)

    def over_limit(self, now):
        """Past its limit: `limit` seconds of its own time (wall-clock less the time it waited
        for a CPU). A child that `waits` on a peer (a candidate, while its judge thinks) is past
        it at `limit` CPU seconds, or at `waits` times `limit` of its own time: the peer's
        thinking, slow under load, is not charged to it, and one that sleeps still ends."""
        if self.limit is None:
            return False
        if self.waits is not None:
            if cpu_seconds(self.pid) >= self.limit:
                return True
            limit = self.limit * self.waits
        else:
            limit = self.limit
        return now - self.started >= limit and self.own_seconds(now) >= limit

    def kill(self, why):
        """Kill the child (its process group too); `why`: a `Killed` reason, kept the first time."""
        if self.killed is None:
            self.killed = why
        for target in (lambda: os.killpg(self.pid, signal.SIGKILL),
                       lambda: os.kill(self.pid, signal.SIGKILL)):
            try:
                target()
            except OSError:
                pass

    def reap(self):
        """True once the process has exited (and been reaped); never blocks."""
        if self.exited:
            return True
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            pid, status = self.pid, 0
        if pid == 0:
            return False
        self.status, self.exited = status, True
        return True

    def read(self):
        """Read what the child sent; False at end of file (Malformed propagates)."""
        if self.out_fd is None:
            return False
        more = frames.read_some(self.out_fd, self.reader)
        if not more and self.eof_at is None:
            self.eof_at = time.monotonic()
        return more

    def drain(self):
        """After the child exited: what is left in its pipe, without waiting for writers it
        may have left behind (a grandchild holding the pipe)."""
        if self.out_fd is None or self.eof_at is not None:
            return
        for _ in range(64):
            try:
                data = os.read(self.out_fd, 1 << 20)
            except BlockingIOError:
                return
            if not data:
                self.eof_at = time.monotonic()
                return
            self.reader.feed(data)

    def how_it_ended(self):
        """An `Ended`: killed by its server (and why), or as its exit status says."""
        if self.killed:
            return Ended("killed", killed=self.killed)
        code = os.waitstatus_to_exitcode(self.status) if self.status is not None else 0
        if code == 0:
            return Ended("exited")
        if code < 0:
            name = signal.Signals(-code).name if -code in signal.Signals._value2member_map_ else str(-code)
            return Ended("signal", signal=name)
        return Ended("exit_code", code=code)

    def close(self):
        for fd in (self.pidfd, self.out_fd):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.pidfd = self.out_fd = None


class Poller:
    """poll(2) over the descriptors a server watches this turn: `reading`, and `writing` (its
    channel to the command while it has frames the command has not taken yet)."""

    def __init__(self):
        self.poll = select.poll()
        self.registered = {}

    def watch(self, reading, writing=()):
        wanted = {fd: select.POLLIN | select.POLLHUP | select.POLLERR for fd in reading}
        for fd in writing:
            wanted[fd] = wanted.get(fd, select.POLLERR | select.POLLHUP) | select.POLLOUT
        for fd in set(self.registered) - set(wanted):
            self.poll.unregister(fd)
        for fd, mask in wanted.items():
            if self.registered.get(fd) != mask:
                if fd in self.registered:
                    self.poll.modify(fd, mask)
                else:
                    self.poll.register(fd, mask)
        self.registered = wanted

    def ready(self, timeout):
        ms = None if timeout is None else max(0, int(timeout * 1000) + 1)
        try:
            return {fd for fd, _ in self.poll.poll(ms)}
        except InterruptedError:
            return set()

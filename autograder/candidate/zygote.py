"""The clean image every process that runs student code is forked from.

The candidate server holds every request it has received (other students' solution cells,
whole notebooks) in its heap, so a child forked from it would hold them too, in reach of the
student code it runs. The zygote is forked from the warm server (torch, IPython, the course and
the candidate code imported, figures rendered) before the server reads any request, and never
receives a submission: it only forks, on the server's word, and reaps.

    server -> zygote   {"spawn": "candidate" | "notebook"} with two descriptors: the child's
                       channel (the socket to its judge, or the pipe for its outputs) and a
                       sealed memfd holding the child's work; {"reap": pid}; {"sweep": uid};
                       {"spare": 1}
    zygote -> server   {"spawned": pid}; {"exited": pid, "code": exit code, or -signal};
                       {"swept": uid, "left": how many processes it killed};
                       {"spare": pid} with the server's end of the spare's socket

A child reads its work from the memfd only after it is forked, in two frames: first how to
confine it (uid, working folder, cgroups, limits: `confine.become_student`, which also gives it
an IPC namespace of its own), then, once confined, the student's cells. Nothing of one student
is ever in the address space of another's code.

The zygote reports an exit without reaping (`waitid(WNOWAIT)`), so a pid the server may still
signal is never reused before the server says `reap`. Sweeps of a uid (`confine.sweep`) run
here too: the helper that takes the student's uid is forked from the clean image, never from
the server.

A zygote can die (the OOM killer picks the biggest process). So that the server can go on, a
zygote forks, on request, a *spare*: a copy of itself (clean: a zygote holds no submission),
detached from it (a double fork: it outlives the zygote) and waiting on a socket of its own,
which it hands the server. When its zygote dies (`Lost`), the server takes the spare and asks
it for the next one; the server itself, which holds every request, never forks a zygote after
the first.
"""

import fcntl
import gc
import os
import select
import signal
import socket

from ..protocol import frames
from ..protocol.forkserver import PR_SET_PDEATHSIG, keep_only, prctl
from . import confine


def start(run_child):
    """Fork the zygote from this (warm, request-free) process; returns a `Zygote` handle.
    `run_child(kind, channel, work)` is what a spawned child does (it never returns)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    server = os.getpid()
    pid = os.fork()
    if pid == 0:
        try:
            ours.close()
            keep_only({theirs.fileno()})
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != server:  # the server died before the signal was armed
                os._exit(1)
            devnull = os.open(os.devnull, os.O_RDWR)
            os.dup2(devnull, 0)
            os.dup2(devnull, 1)
            os.close(devnull)
            gc.collect()
            gc.freeze()  # children's collections skip what the image imported: fewer pages copied
            serve(theirs.detach(), run_child)
        finally:
            os._exit(0)
    theirs.close()
    return Zygote(ours.detach(), pid, forked_here=True)


def fork_spare(run_child):
    """A copy of this zygote, detached from it (reparented to the sandbox's init, so it outlives
    this one), serving on a socket of its own: returns (its pid, the server's end)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    report_r, report_w = os.pipe()
    middle = os.fork()
    if middle == 0:
        try:
            ours.close()
            os.close(report_r)
            spare = os.fork()
            if spare == 0:
                os.close(report_w)
                os.setpgid(0, 0)  # not in this zygote's group: a signal to it does not reach the spare
                keep_only({theirs.fileno()})
                serve(theirs.detach(), run_child)
                os._exit(0)
            os.write(report_w, str(spare).encode())
        finally:
            os._exit(0)
    theirs.close()
    os.close(report_w)
    os.waitpid(middle, 0)
    with os.fdopen(report_r, "rb") as f:
        pid = int(f.read() or 0)
    return pid, ours.detach()


def serve(fd, run_child):
    """The zygote's loop: spawn, report exits, reap, sweep, fork a spare; until the server
    closes its end and every child is reaped."""
    reader = frames.Reader(limit=1 << 16)
    poll = select.poll()
    poll.register(fd, select.POLLIN)
    children, exited, open_ = {}, set(), True  # pidfd -> pid; pids reported, not yet reaped
    while open_ or children or exited:
        if not open_:  # the server is gone: nobody will ask for a reap
            for pid in list(exited):
                os.waitpid(pid, 0)
            exited.clear()
            if not children:
                break
        for ready, _ in poll.poll(None if open_ or children else 0):
            if ready in children:
                pid = children.pop(ready)
                poll.unregister(ready)
                os.close(ready)
                exited.add(pid)
                send(fd, {"exited": pid, "code": exit_code(pid)})
                continue
            if not frames.read_some(fd, reader, want_fds=True):
                open_ = False
                poll.unregister(fd)
                continue
            for frame in reader.frames():
                if "spawn" in frame:
                    channel, work = reader.take_fds(2)
                    pid = spawn(frame["spawn"], channel, work, run_child)
                    pidfd = os.pidfd_open(pid)
                    children[pidfd] = pid
                    poll.register(pidfd, select.POLLIN)
                    send(fd, {"spawned": pid})
                elif "reap" in frame and frame["reap"] in exited:
                    os.waitpid(frame["reap"], 0)
                    exited.discard(frame["reap"])
                elif "sweep" in frame:
                    send(fd, {"swept": frame["sweep"], "left": confine.sweep(frame["sweep"])})
                elif "spare" in frame:
                    pid, end = fork_spare(run_child)
                    try:
                        frames.send(fd, {"spare": pid}, fds=[end])
                    except OSError:
                        pass
                    finally:
                        os.close(end)


def spawn(kind, channel, work, run_child):
    pid = os.fork()
    if pid == 0:
        try:
            run_child(kind, channel, work)
        finally:
            os._exit(1)
    os.close(channel)
    os.close(work)
    return pid


def exit_code(pid):
    """How the (exited, not yet reaped) child ended: its exit code, or minus its signal."""
    info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
    if info is None:
        return 0
    return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status


def send(fd, message):
    """Tell the server; once it is gone there is nobody to tell (the zygote still reaps)."""
    try:
        frames.send(fd, message)
    except OSError:
        pass


def write_work(header, body):
    """A sealed memfd holding two frames (how to confine the child, then its work), ready to
    pass to a child: nobody can change it, and only the child ever reads it."""
    fd = os.memfd_create("work", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    for frame in (header, body):
        view = memoryview(frames.encode(frame))
        while view:
            view = view[os.write(fd, view):]
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW
                | fcntl.F_SEAL_WRITE)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def read_frame(fd):
    """In the child: the next frame of its memfd, read to its last byte and no further (so
    that the cells are read only once the child is confined)."""
    def exactly(n):
        data = bytearray()
        while len(data) < n:
            more = os.read(fd, n - len(data))
            if not more:
                raise frames.Malformed("the work ended early")
            data += more
        return bytes(data)
    (size,) = frames.HEADER.unpack(exactly(frames.HEADER.size))
    if size > frames.MAX_FRAME:
        raise frames.Malformed("a frame over the limit")
    return frames.parse(exactly(size))


class Lost(RuntimeError):
    """The zygote died (its socket closed): every child it had in flight died with it."""


class Zygote:
    """The server's handle on its zygote: spawn a child (its pid), sweep a uid, reap, fork a
    spare (a `Zygote` handle); exits it reported are kept in `exits` [(pid, code)] until the
    server takes them. `Lost` once the zygote is gone."""

    def __init__(self, fd, pid, forked_here=False):
        self.fd, self.pid = fd, pid
        self.forked_here = forked_here  # the server's own child (the first zygote), not a spare
        self.reader = frames.Reader(limit=1 << 16)
        self.exits = []

    def _ask(self, message, fds=(), answer=None):
        try:
            frames.send(self.fd, message, fds=fds)
        except OSError:
            raise Lost("the zygote died") from None
        while True:
            said = self._next()
            if answer in said:
                self._queue_buffered()
                return said

    def _next(self):
        """The next frame from the zygote (blocking); exits are queued, not returned."""
        while True:
            said = self.reader.next_frame()
            if said is frames.NOTHING:
                self._read(blocking=True)
                continue
            if "exited" in said:
                self.exits.append((said["exited"], said["code"]))
                continue
            return said

    def _read(self, blocking):
        """Read what the zygote sent (descriptors too); Lost at end of file."""
        os.set_blocking(self.fd, blocking)
        try:
            if not frames.read_some(self.fd, self.reader, want_fds=True):
                raise Lost("the zygote died")
        except OSError:
            raise Lost("the zygote died") from None
        finally:
            os.set_blocking(self.fd, True)

    def spawn(self, kind, channel, work):
        return self._ask({"spawn": kind}, fds=[channel, work], answer="spawned")["spawned"]

    def sweep(self, uid):
        return self._ask({"sweep": uid}, answer="swept")["left"]

    def spare(self):
        """A fresh zygote, forked by this one (clean, as it is), for when this one dies."""
        said = self._ask({"spare": 1}, answer="spare")
        (fd,) = self.reader.take_fds(1)
        return Zygote(fd, said["spare"])

    def reap(self, pid):
        try:
            frames.send(self.fd, {"reap": pid})
        except OSError:
            raise Lost("the zygote died") from None

    def poll_exits(self):
        """Read what the zygote said (call when its socket is readable): exits join `exits`."""
        self._read(blocking=False)
        self._queue_buffered()

    def _queue_buffered(self):
        """Exits already read past an answer join `exits` now: their bytes are off the socket,
        so it will not wake the server for them (a run then waited for good on a child whose
        exit sat in this buffer)."""
        for said in self.reader.frames():
            if "exited" in said:
                self.exits.append((said["exited"], said["code"]))

    def take_exits(self):
        out, self.exits = self.exits, []
        return out

    def close(self):
        """No more work: the zygote exits once its children are reaped."""
        try:
            os.close(self.fd)
        except OSError:
            pass
        if self.forked_here:  # a spare is the sandbox's init's to reap
            try:
                os.waitpid(self.pid, 0)
            except ChildProcessError:
                pass

"""Nothing of one student is ever in reach of another's code (issue 24).

Student code runs in children of a clean image (`candidate/zygote.py`): a process forked from
the warm candidate server before it received any request, which never holds a submission; each
child reads its own student's cells after it is forked. Each child also has an IPC namespace of
its own, so SysV shared memory, semaphores and message queues die with it.

Both tests grade students in one run of the servers, through `Grader` (as the grade command and
the feedback run do), honest classmates beside the attacker:

- a marker planted in one student's solution cell and notebook is searched for by another
  student's candidate and notebook child everywhere they can read: every readable page of their
  own memory, every readable file, their environment, every process in /proc (command line,
  environment, memory). Each searcher must also find a marker of its own (so a search that
  reads nothing cannot pass), and never holds the other marker: it knows only its hash.
- a candidate that leaves 1 GiB of SysV shared memory behind: gone once its check ends, a
  classmate's candidate sees no segment, every classmate keeps full marks.
"""

import hashlib
import json
import os
import re
import secrets
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from autograder.instructor import samples
from autograder.instructor.grader import Grader, Settings
from autograder.instructor.sandbox import bwrap_works
from autograder.instructor.verdicts import build_job
from autograder.protocol import frames

from conftest import release_nb

A = samples.ASSIGNMENT
SANDBOXED = bwrap_works() and os.geteuid() == 0
graded_in_the_sandbox = pytest.mark.skipif(not SANDBOXED, reason="needs bubblewrap and a uid per student (root)")

# Searches everything this process can read for "MARKER:" followed by a marker whose sha256 is
# OTHER (a classmate's) or OWN (its own, planted in its own cell: the search must find that one).
SEARCH = r'''
import ctypes as _c, hashlib as _h, os as _os, sys as _s
_P, _N = b"MARK" + b"ER:", 32
_OWN, _OTHER = {own!r}, {other!r}
_found = set()

def _scan(data):
    i = data.find(_P)
    while i != -1:
        d = _h.sha256(bytes(data[i + len(_P):i + len(_P) + _N])).hexdigest()
        if d in (_OWN, _OTHER):
            _found.add(d)
        i = data.find(_P, i + 1)

def _read(path, limit=1 << 26):
    try:
        with open(path, "rb") as f:
            _scan(f.read(limit))
    except (OSError, ValueError):
        pass

class _Iov(_c.Structure):
    _fields_ = [("base", _c.c_void_p), ("len", _c.c_size_t)]

_libc = _c.CDLL(None, use_errno=True)
_libc.process_vm_readv.restype = _c.c_ssize_t
_buf = _c.create_string_buffer(1 << 24)

def _memory(pid):
    """Every readable page of `pid` (process_vm_readv: a page that is not there is an error, not
    a crash; /proc/PID/mem is root's once a process changed uid)."""
    try:
        maps = open(f"/proc/{{pid}}/maps").read().splitlines()
    except OSError:
        return
    for line in maps:
        span, perms, *rest = line.split()
        name = (rest[3:] or [""])[0]
        if not perms.startswith("r") or ".so" in name or name.startswith("[v"):
            continue  # a shared library's pages hold no submission; [vvar], [vsyscall]
        start, end = (int(x, 16) for x in span.split("-"))
        while start < end:
            size = min(end - start, len(_buf))
            local, remote = _Iov(_c.addressof(_buf), size), _Iov(start, size)
            got = _libc.process_vm_readv(pid, _c.byref(local), 1, _c.byref(remote), 1, 0)
            if got <= 0:
                break
            _scan(memoryview(_buf)[:got].tobytes())
            start += max(got - 64, 1) if got == size and start + got < end else got

_scan("\0".join(f"{{k}}={{v}}" for k, v in _os.environ.items()).encode())
for _pid in [p for p in _os.listdir("/proc") if p.isdigit()] + ["self"]:
    for _part in ("cmdline", "environ"):
        _read(f"/proc/{{_pid}}/{{_part}}")
    _memory(_os.getpid() if _pid == "self" else int(_pid))
_skip = ("/proc", "/sys", "/dev", "/usr", _s.prefix, _s.base_prefix)
for _root, _dirs, _files in _os.walk("/"):
    _dirs[:] = [d for d in _dirs if _os.path.join(_root, d) not in _skip]
    for _name in _files:
        _read(_os.path.join(_root, _name))
_verdict = "leak" if _OTHER in _found else "clean" if _OWN in _found else "the search found nothing, not even its own marker"
'''


def marker():
    value = secrets.token_hex(16)
    return value, hashlib.sha256(value.encode()).hexdigest()


def planted(value):
    return f"\n# MARK" f"ER:{value}\n"


def right_jobs(grader):
    nb = samples.notebook(release_nb(A), samples.solutions()["RIGHT"], lean=True)
    jobs, known = build_job(nb, A, grader.curriculum)
    assert jobs and not known
    return jobs


def with_cell(job, prefix="", suffix=""):
    *before, (cell, source) = job.solutions
    return replace(job, solutions=(*before, (cell, prefix + source + suffix)))


def collect(grader, wanted, timeout=300):
    """Events until `wanted` verdicts and notebooks came back: ({(key, exercise): Verdict},
    {key: NotebookDone})."""
    verdicts, notebooks = {}, {}
    deadline = time.monotonic() + timeout
    while len(verdicts) + len(notebooks) < wanted:
        assert time.monotonic() < deadline, f"only {len(verdicts)} verdicts and {len(notebooks)} notebooks came back"
        for event in grader.events(1.0):
            if event[0] == "verdict":
                verdicts[event[1], event[2]] = event[3]
            else:
                notebooks[event[1]] = event[2]
    return verdicts, notebooks


def printed(done):
    return "".join(o.get("text", "") for cell in done.cells.values() for o in cell.outputs)


@pytest.fixture
def grader(tmp_path):
    grader = Grader(tmp_path / "servers", Settings(check_slots=2, notebook_slots=2, require_sandbox=True))
    try:
        yield grader.wait_ready()
    finally:
        grader.close()


@graded_in_the_sandbox
@pytest.mark.slow
def test_no_student_can_find_a_classmates_cells_anywhere_it_can_read(grader):
    jobs = right_jobs(grader)
    exercise = next(iter(jobs))
    other, other_hash = marker()
    # the honest student: every exercise checked, and a notebook run, all holding the marker
    grader.check("honest", A, "honest", {ex: with_cell(job, suffix=planted(other)) for ex, job in jobs.items()})
    grader.run_notebook("honest-nb", "honest", [(0, f"x = 1{planted(other)}print('honest ran')")], [], [])
    # the searcher, in the same run: its candidate and its notebook child look for it
    own, own_hash = marker()
    search = SEARCH.format(own=own_hash, other=other_hash) + planted(own)
    grader.check("searcher", A, "searcher", {exercise: with_cell(
        jobs[exercise], prefix=search, suffix="\nif _verdict != 'clean':\n    raise SystemExit(_verdict)\n")})
    grader.run_notebook("searcher-nb", "searcher", [(0, search + "print('searched:', _verdict)")], [], [])
    verdicts, notebooks = collect(grader, len(jobs) + 3)
    searched = verdicts["searcher", exercise]
    assert searched.status.value == "pass", searched.message
    assert "searched: clean" in printed(notebooks["searcher-nb"]), printed(notebooks["searcher-nb"])
    assert all(verdicts["honest", ex].status.value == "pass" for ex in jobs), verdicts
    assert "honest ran" in printed(notebooks["honest-nb"])


HOG = """
import ctypes as _c
_libc = _c.CDLL(None, use_errno=True)
_libc.shmat.restype = _c.c_void_p
_id = _libc.shmget(0x5eed, {size}, 0o1600)  # IPC_CREAT | 0600
_at = _libc.shmat(_id, None, 0)
assert _id >= 0 and _at not in (None, _c.c_void_p(-1).value), _c.get_errno()
_c.memset(_at, 1, {size})  # every page resident
_libc.shmdt(_c.c_void_p(_at))  # detached, never removed: it would outlive this process
"""

LOOKS = """
_segments = open("/proc/sysvipc/shm").read().splitlines()[1:]
if _segments:
    raise SystemExit(f"a classmate's shared memory is in reach: {_segments}")
_caps = [line for line in open("/proc/self/status") if line.startswith(("CapEff", "CapPrm", "CapAmb"))]
if any(int(line.split()[1], 16) for line in _caps):
    raise SystemExit(f"a capability left to student code: {_caps}")
"""


def descendants(pid):
    """`pid` and every process below it, parents first."""
    out, todo = [], [pid]
    while todo:
        pid = todo.pop(0)
        out.append(pid)
        try:
            todo += [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except OSError:
            continue
    return out


def ipc_of_sandbox(server):
    """The IPC namespace of the candidate server's sandbox: its bwrap's first descendant in
    another namespace than ours."""
    mine = os.readlink("/proc/self/ns/ipc")
    for pid in descendants(server.proc.pid):
        try:
            if os.readlink(f"/proc/{pid}/ns/ipc") != mine:
                return f"/proc/{pid}/ns/ipc"
        except OSError:
            continue
    raise AssertionError("the candidate server's sandbox has no IPC namespace of its own")


def holds_sys_admin(pid):
    status = Path(f"/proc/{pid}/status").read_text()
    effective = int(re.search(r"^CapEff:\s*([0-9a-f]+)", status, re.M).group(1), 16)
    permitted = int(re.search(r"^CapPrm:\s*([0-9a-f]+)", status, re.M).group(1), 16)
    return bool((effective | permitted) & (1 << 21))


def module_processes(server):
    """The processes running the candidate server's module: the server, its zygote, the spare
    (root's: not a student's child, nor a sweep's helper, nor the bwrap processes around them)."""
    found = []
    for pid in descendants(server.proc.pid):
        try:
            if (b"autograder.candidate.server" in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                    and not os.path.basename(os.readlink(f"/proc/{pid}/exe")).startswith("bwrap")
                    and re.search(r"^Uid:\s*0\s", Path(f"/proc/{pid}/status").read_text(), re.M)):
                found.append(pid)
        except OSError:  # it ended while we looked
            continue
    return found


def parent_of(pid):
    return int(re.search(r"^PPid:\s*(\d+)", Path(f"/proc/{pid}/status").read_text(), re.M).group(1))


def candidate_processes(server, timeout=60):
    """(the candidate server, its first zygote, the zygote's spare): the server forked the
    zygote; the spare, forked by the zygote, is detached from both. The zygote forks its spare
    once it is up, which can be after the grader is ready: wait until it is detached, the
    process between them gone. (Taken mid-fork, that middle process passed for the spare, and
    for a candidate the zygote had started: a test then killed the zygote while the server
    was still waiting for its spare, before it read any request.)"""
    deadline = time.monotonic() + timeout
    while True:
        found = module_processes(server)
        try:
            parents = {pid: parent_of(pid) for pid in found}
        except (OSError, AttributeError):  # one ended while we looked
            parents = {}
        settled = (len(found) == 3 and len(parents) == 3
                   and sum(1 for pid in found if parents[pid] in found) == 1)  # the zygote's, alone
        if settled or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert settled, (found, parents)
    image = next(pid for pid in found if parents[pid] in found)
    server = parents[image]
    spare = next(pid for pid in found if pid not in (server, image))
    assert len(descendants(image)) == 1, "the zygote still has a child (its spare's middle process)"
    return server, image, spare


def segments_in(namespace):
    out = subprocess.run(["nsenter", f"--ipc={namespace}", "--", "cat", "/proc/sysvipc/shm"],
                         capture_output=True, text=True, timeout=30, check=True).stdout
    return [line for line in out.splitlines()[1:] if line.strip()]


@graded_in_the_sandbox
@pytest.mark.slow
def test_shared_memory_a_candidate_leaves_dies_with_it(grader):
    jobs = right_jobs(grader)
    exercise = next(iter(jobs))
    namespace = ipc_of_sandbox(grader.servers["candidate"])
    assert not segments_in(namespace)
    server, image, spare = candidate_processes(grader.servers["candidate"])
    assert holds_sys_admin(image) and holds_sys_admin(spare) and not holds_sys_admin(server), \
        "only the zygotes may make namespaces"
    grader.check("hog", A, "hog", {exercise: with_cell(jobs[exercise], prefix=HOG.format(size=1 << 30))})
    verdicts, _ = collect(grader, 1)
    assert verdicts["hog", exercise].status.value == "pass", verdicts["hog", exercise].message
    left = segments_in(namespace)
    assert not left, f"the hog's segment outlived its check: {left}"
    grader.check("honest", A, "honest", {ex: with_cell(job, prefix=LOOKS if ex == exercise else "")
                                         for ex, job in jobs.items()})
    verdicts, _ = collect(grader, len(jobs))
    assert all(v.status.value == "pass" for v in verdicts.values()), {k: v.message for k, v in verdicts.items()}
    # notebook children too: a segment one leaves dies with it, and the next holds no capability
    grader.run_notebook("hog-nb", "hog", [(0, HOG.format(size=64 << 20) + "print('hogged')")], [], [])
    _, notebooks = collect(grader, 1)
    assert "hogged" in printed(notebooks["hog-nb"]), printed(notebooks["hog-nb"])
    assert not segments_in(namespace), "the notebook's segment outlived its run"
    grader.run_notebook("honest-nb", "honest", [(0, LOOKS.replace("raise SystemExit", "print")
                                                      + "print('looked')")], [], [])
    _, notebooks = collect(grader, 1)
    assert printed(notebooks["honest-nb"]).strip() == "looked", printed(notebooks["honest-nb"])


def test_the_zygote_hands_the_work_over_unread_and_keeps_the_pid_until_reaped():
    """The zygote passes a child its work (a sealed memfd) without reading it: the child's
    cells are nowhere in the zygote's memory; it reports how the child ended and keeps it a
    zombie (its pid not reused) until the server says reap."""
    from autograder.candidate import zygote

    def run_child(kind, channel, work):
        header, body = zygote.read_frame(work), zygote.read_frame(work)
        os.write(channel, json.dumps([kind, header, body]).encode())
        os._exit(header["code"])

    image = zygote.start(run_child)
    try:
        value, digest = marker()
        cells = planted(value)  # kept alive: this process holds it, for the search's own check
        work = zygote.write_work({"code": 3}, {"cells": cells})
        with pytest.raises(PermissionError):
            os.write(work, b"changed")  # sealed
        r, w = os.pipe()
        pid = image.spawn("candidate", w, work)
        os.close(w)
        os.close(work)
        assert json.loads(os.read(r, 10_000)) == ["candidate", {"code": 3}, {"cells": cells}]
        while not image.exits:
            frames.wait_readable(image.fd, 10)
            image.poll_exits()
        assert image.take_exits() == [(pid, 3)]
        assert Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] == "Z"  # not reaped yet
        assert digest in found_in_memory(os.getpid(), len(value))  # the search works: this process holds it
        assert digest not in found_in_memory(image.pid, len(value)), "the zygote read the work"
        assert cells.endswith("\n")
        image.reap(pid)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not Path(f"/proc/{pid}").exists()
    finally:
        image.close()


def found_in_memory(pid, size):
    """The sha256 of every `size` characters after "MARKER:" in the memory of `pid`."""
    prefix, found = b"MARK" + b"ER:", set()
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for line in maps:
            span, perms, *rest = line.split()
            if not perms.startswith("r") or ".so" in (rest[3:] or [""])[0] or "[v" in line:
                continue
            start, end = (int(x, 16) for x in span.split("-"))
            for at in range(start, end, 1 << 24):
                try:
                    mem.seek(at)
                    data = mem.read(min(end - at, (1 << 24) + 256))
                except (OSError, ValueError, OverflowError):
                    break
                i = data.find(prefix)
                while i != -1:
                    found.add(hashlib.sha256(data[i + len(prefix):i + len(prefix) + size]).hexdigest())
                    i = data.find(prefix, i + 1)
    return found


@pytest.mark.skipif(os.geteuid() != 0, reason="namespaces and capabilities need root")
def test_a_confined_child_has_its_own_ipc_namespace_and_no_sys_admin(tmp_path):
    """`become_student` without a uid (a machine with no uid block): the child still gets an
    IPC namespace of its own and loses CAP_SYS_ADMIN, which the zygote needed to make it."""
    said = tmp_path / "said"
    code = ("import os\nfrom autograder.candidate import confine\n"
            "before = os.readlink('/proc/self/ns/ipc')\n"
            f"out = open({str(said)!r}, 'w')\n"
            f"confine.become_student(None, {str(tmp_path)!r}, {{}}, keep={{out.fileno()}})\n"
            "caps = {l.split(':')[0]: int(l.split()[1], 16) for l in open('/proc/self/status') if l.startswith('Cap')}\n"
            "out.write(f\"{os.readlink('/proc/self/ns/ipc') != before} {bool(caps['CapEff'] & 1 << 21)} "
            "{bool(caps['CapPrm'] & 1 << 21)}\")\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert proc.returncode == 0 and said.read_text().split() == ["True", "False", "False"], proc.stderr[-2000:]

"""Every resource is per student and bounded: nothing one student's process makes (processes,
System V IPC objects, files beside its kernel, uids) can be seen, kept or reused by another's,
and a notebook cannot hold the grading longer than its limit, whatever hooks it installs."""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import pytest

from autograder.instructor import isolation
from autograder.instructor.isolation import UidBlock, is_tmpfs
from autograder.instructor.sandbox import Sandbox, bwrap_works, hidepid_works

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="uids of the grader's own need root")
SANDBOXED = pytest.mark.skipif(not bwrap_works(), reason="bubblewrap is not available")
STUDENTS = (199_997, 199_998)  # below the grader's own blocks: no grading run uses them


def run_in(sandbox, code, timeout=120):
    proc = subprocess.run(sandbox.wrap([sys.executable, "-I", "-c", code]), capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip()


# A grading server (root, like the candidate server) forks two students' processes in its one
# PID namespace; the second looks for the first in /proc.
CLASSMATES = f"""
import os, time
def student(uid):
    os.setgroups([]); os.setgid(uid); os.setuid(uid)
first = os.fork()
if first == 0:
    student({STUDENTS[0]}); time.sleep(60); os._exit(0)
read, write = os.pipe()
second = os.fork()
if second == 0:
    student({STUDENTS[1]})
    seen = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    os.write(write, repr((first in seen, os.getpid() in seen, os.path.exists(f"/proc/{{first}}/cmdline"))).encode())
    os._exit(0)
os.waitpid(second, 0)
print(os.read(read, 100).decode())
print(first in [int(p) for p in os.listdir("/proc") if p.isdigit()])
os.kill(first, 9); os.waitpid(first, 0)
"""


@SANDBOXED
@ROOT_ONLY
def test_a_student_process_sees_no_other_students_processes():
    """Before: /proc in the candidate server's sandbox showed every candidate's pid, uid and
    command line to every other (one PID namespace, no hidepid)."""
    assert hidepid_works()
    sees_classmate, sees_itself, classmate_cmdline = eval(run_in(Sandbox(server=True), CLASSMATES).splitlines()[0])
    assert (sees_classmate, sees_itself, classmate_cmdline) == (False, True, False)
    assert run_in(Sandbox(server=True), CLASSMATES).splitlines()[1] == "True", "the server must see its children"


CAPABILITIES = ("print(*[int(line.split()[1], 16) for line in open('/proc/self/status') "
                "if line.startswith(('CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb'))])")
CAP_BITS = {"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_FOWNER": 3, "CAP_KILL": 5, "CAP_SETGID": 6,
            "CAP_SETUID": 7, "CAP_SETPCAP": 8, "CAP_SYS_ADMIN": 21, "CAP_SYS_NICE": 23}


@SANDBOXED
@ROOT_ONLY
def test_the_proc_mount_leaves_the_server_its_capabilities_and_student_code_none():
    """The shell that mounts /proc with hidepid holds CAP_SYS_ADMIN and CAP_SETPCAP; before the
    command runs it drops what the command may not keep. The candidate server keeps
    CAP_SYS_ADMIN (its zygote's children need it for an IPC namespace each; before the merge of
    the clean image the wrapper dropped it, and no child got a namespace of its own); every
    sandbox that runs student code (a kernel, a process under its own uid) keeps none."""
    from autograder.instructor.sandbox import SERVER_CAPS
    assert hidepid_works()
    server = sum(1 << CAP_BITS[cap] for cap in SERVER_CAPS)
    _, permitted, effective, _, ambient = map(int, run_in(Sandbox(server=True), CAPABILITIES).split())
    assert permitted == effective == server and server & 1 << CAP_BITS["CAP_SYS_ADMIN"], hex(permitted)
    assert ambient in (0, server)  # bubblewrap passes them on as ambient (no new privileges set)
    for box in (Sandbox(), Sandbox(uid=STUDENTS[0])):
        _, permitted, effective, _, ambient = map(int, run_in(box, CAPABILITIES).split())
        assert permitted == effective == ambient == 0, "student code holds a capability"


SHM = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
shmid = libc.shmget(0x5eed, {size}, 0o1000 | 0o666)  # IPC_CREAT
address = libc.shmat(shmid, None, 0)
ctypes.memset(address, 1, {size})  # its pages exist now
libc.shmdt(ctypes.c_void_p(address))
print(shmid >= 0, [l.split()[0] for l in open("/proc/sysvipc/shm").readlines()[1:]])
"""
LOOK = "print([l.split()[0] for l in open('/proc/sysvipc/shm').readlines()[1:]])"


def shmem_bytes():
    with open("/proc/meminfo") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("Shmem:"))


@SANDBOXED
def test_system_v_shared_memory_is_the_sandboxs_own_and_ends_with_it():
    """A segment left behind (never removed, no process attached) is in no other sandbox, not on
    the machine, and its memory is back once its sandbox has ended."""
    size = 512 << 20
    before = shmem_bytes()
    assert run_in(Sandbox(uid=STUDENTS[0] if os.geteuid() == 0 else None), SHM.format(size=size)) \
        == f"True ['{0x5eed}']"
    assert run_in(Sandbox(uid=STUDENTS[1] if os.geteuid() == 0 else None), LOOK) == "[]"
    with open("/proc/sysvipc/shm") as f:
        assert str(0x5eed) not in [line.split()[0] for line in f.readlines()[1:]]
    deadline = time.monotonic() + 20  # the kernel frees an ended IPC namespace asynchronously
    while shmem_bytes() >= before + size // 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert shmem_bytes() < before + size // 2, "the segment's memory outlived its sandbox"


@ROOT_ONLY
def test_a_uid_is_never_handed_out_twice_in_a_run():
    """Before: a uid given back went to the next student, who then owned whatever the first had
    left under it (files, SysV objects, a process not yet swept)."""
    block = UidBlock()
    try:
        first = block.take()
        block.give_back(first)
        later = [block.take() for _ in range(50)]
        assert first not in later and len(set(later)) == 50 and block.judge_uid not in later + [first]
    finally:
        block.close()


@ROOT_ONLY
def test_a_run_that_uses_up_its_block_goes_on_in_another(monkeypatch):
    monkeypatch.setattr(isolation, "BLOCK", 8)
    block = UidBlock()
    try:
        uids = [block.take() for _ in range(20)]
        assert len(set(uids)) == 20 and block.judge_uid not in uids
        assert len(block.locks) == 3  # three blocks of 8 held for the run, none shared
        other = UidBlock()  # another run on the machine gets none of them
        try:
            assert not {other.take() for _ in range(8)} & set(uids + [block.judge_uid])
        finally:
            other.close()
    finally:
        block.close()


def kernel_run(cells, tmp_path, **options):
    """Run `cells` in SafeExecute's sandboxed kernel: the notebook and the seconds it took."""
    from autograder.instructor.preprocessors.safe_execute import SafeExecute
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    started = time.monotonic()
    nb, _ = SafeExecute(**options).preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    return nb, time.monotonic() - started


def text(cell):
    return "".join(o.get("text", "") + o.get("evalue", "") + o.get("ename", "") for o in cell.outputs)


@SANDBOXED
@pytest.mark.skipif(os.geteuid() != 0, reason="a tmpfs of its own needs root")
def test_the_kernels_private_folder_is_a_small_tmpfs_that_ends_with_it(tmp_path):
    """Before: the folder of the kernel's connection file and sockets was bound read-write from
    the host disk, with no size limit."""
    fill = ("import ipykernel, os\nhere = os.path.dirname(ipykernel.get_connection_file())\n"
            "written = 0\ntry:\n    with open(os.path.join(here, 'fill'), 'wb') as f:\n"
            "        for _ in range(512):\n            f.write(b'x' * (1 << 20)); f.flush(); written += 1\n"
            "except OSError:\n    pass\nprint(here, written)")
    limit = "import resource\nprint(resource.getrlimit(resource.RLIMIT_CPU))"
    free = os.statvfs(tempfile.gettempdir())
    nb, _ = kernel_run([fill, limit], tmp_path, timeout=60, notebook_timeout=300)
    here, written = text(nb.cells[0]).split()
    assert int(written) < 64, "the private folder is bounded (64 MiB)"
    assert not os.path.exists(here) and not is_tmpfs(here), "the folder ends with the kernel"
    after = os.statvfs(tempfile.gettempdir())
    assert after.f_bfree * after.f_frsize > free.f_bfree * free.f_frsize - (48 << 20), "it reached the disk"
    assert text(nb.cells[1]).strip() == "(300, 300)", "the kernel's CPU time is the notebook's limit"


HOOK = ("import time\nget_ipython().events.register('pre_run_cell', lambda *a: time.sleep(4))\n"
        "import atexit\natexit.register(time.sleep, 600)")


@SANDBOXED
def test_hooks_cannot_hold_a_notebook_past_its_limit(tmp_path):
    """Before: a pre_run_cell hook sleeping just under the cell limit in every cell held plain
    nbgrader for (cells x cell limit): there was no limit on the whole notebook."""
    cells = [HOOK] + [f"print({i})" for i in range(12)]
    nb, took = kernel_run(cells, tmp_path, timeout=6, notebook_timeout=14)
    assert took < 40, f"the notebook held the run for {took:.0f} s (its limit: 14 s, 50 s without)"
    outputs = [text(c) for c in nb.cells]
    assert outputs[1].strip() == "0", "cells run normally until the limit"
    stopped = next(i for i, out in enumerate(outputs) if "time limit (14 s)" in out)
    assert 1 < stopped < len(cells) - 1 and all("time limit (14 s)" in out for out in outputs[stopped:])
    assert any("time limit" in v for v in nb.metadata["autograder"]["kernel_violations"])


# The judge server's code, in the judge server's sandbox and groups as a grading run makes them;
# `judge` is replaced so that one exercise's check allocates 4 GiB and the other passes.
JUDGES = """
import json, os, socket, sys, threading
sys.path.insert(0, {root!r})
import autograder.judge.server as S
from autograder.protocol import frames
from autograder.protocol.forkserver import Control
from autograder.protocol.messages import JudgeRequest
from autograder.protocol.verdicts import Status, Verdict

def judge(assignment, exercise, transport, devices):
    if exercise == {hog!r}:
        import torch
        torch.ones(1 << 30)
    return Verdict(Status.PASS)

S.judge, S.JUDGE_MEMORY = judge, 512 << 20
ours, theirs = socket.socketpair()
server = S.Server(Control(theirs.fileno()), [], S.delegated_groups())
server.address_space = {address_space!r}
for exercise in ({hog!r}, {fine!r}):
    candidate, judges_end = socket.socketpair()
    candidate.send(b"hello")  # it has spoken: its judge is forked
    frames.send(ours.fileno(), dict(JudgeRequest(exercise, {assignment!r}, exercise).to_wire(), fds=1),
                fds=[judges_end.fileno()])
    judges_end.close()
threading.Thread(target=server.serve, daemon=True).start()
reader, said = frames.Reader(), {{}}
while len(said) < 2:
    frame = frames.receive(ours.fileno(), reader, 120)
    said[frame["judged"]] = frame["verdict"]
print(json.dumps(said), len(S.delegated_groups()))
"""


@SANDBOXED
@ROOT_ONLY
@pytest.mark.parametrize("limit", ["cgroup", "address space"])
def test_a_judge_that_allocates_beyond_its_limit_fails_that_check_alone(limit):
    """Before: judge children had no memory limit and no cgroup: a check driven to allocate
    without bound took the machine's memory."""
    import json

    from autograder.candidate.confine import join_cgroups
    from autograder.instructor.isolation import Cgroups
    from autograder.instructor.sandbox import PACKAGE, judge_sandbox
    from autograder.judge.exercises import REGISTRY
    assignment = "01_tensor_ops"
    hog, fine = list(REGISTRY[assignment])[:2]
    judge_uid = STUDENTS[0]
    cgroups = Cgroups()
    try:
        groups = cgroups.delegate(judge_uid) if limit == "cgroup" else []
        if limit == "cgroup" and not groups:
            pytest.skip("no cgroups to delegate on this machine")
        script = JUDGES.format(root=str(PACKAGE.parent), hog=hog, fine=fine, assignment=assignment,
                               address_space=limit == "address space")
        python = os.path.normpath(os.path.abspath(sys.executable))
        proc = subprocess.run(judge_sandbox(judge_uid, groups).wrap([python, "-I", "-c", script]),
                              capture_output=True, text=True, timeout=300,
                              preexec_fn=lambda: join_cgroups(cgroups.server_groups()))
        assert proc.returncode == 0, proc.stderr[-3000:]
        said, in_groups = proc.stdout.strip().splitlines()[-1].rsplit(" ", 1)
        said = json.loads(said)
        assert int(in_groups) == len(groups)
        assert said[fine]["status"] == "pass"
        assert said[hog]["status"] == "error" and "please tell the instructor" in said[hog]["message"]
        if limit == "cgroup":
            assert "ran out of memory" in said[hog]["message"], said[hog]
            assert [p.name for p in Path(groups[0]).iterdir() if p.is_dir()] == ["server"], \
                "each judge's group is removed once it is reaped"
    finally:
        cgroups.close()
    assert not any(Path(r).exists() for r in groups)

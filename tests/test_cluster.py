"""The grade command on a Dask cluster (`grade(..., cluster=ADDRESS)`, `grade --cluster`).

A local cluster of two worker processes, started and stopped here, grades a sample class with
honest, wrong, faulty and hostile students: the gradebook must be exactly the one local grading
gives (on SQLite, and with the gradebook on a private PostgreSQL server: tests/postgres.py),
every worker must have graded someone, a worker killed mid-run loses no student and records
none twice (on PostgreSQL), a malformed result is an error for its student by name, and nothing (no
process, no cgroup) outlives the cluster.
"""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest

from autograder.instructor import cli, grading, isolation, samples
from autograder.instructor.grading import grade
from autograder.instructor.nbgrader_api import db_url

from conftest import ROOT, gradebook_dump, sample_course
from postgres import started_or_skipped

distributed = pytest.importorskip("distributed", reason="dask.distributed is in requirements.txt: reinstall them")
from autograder.instructor import cluster as cluster_module  # noqa: E402  (it imports distributed)

# each test (and the module's servers it starts) has minutes here: a hang fails in 10, not 15
pytestmark = pytest.mark.timeout(600)

A = samples.ASSIGNMENT
# right, wrong, untouched, patching the comparisons, crashing, looping, forging, leaving daemons
STUDENTS = ["ada", "cho", "dan", "eve", "kim", "lee", "rex", "uma"]
BROKEN = [("zed_invalid_json", "{ this is not json")]
LIMITS = "\nc.SafeExecute.timeout = 10\nc.VerifyExercises.time_limit = 10\n"


def make_course(path, students=STUDENTS, url=None):
    """The sample class's `students` and the broken notebook; the gradebook at `url` if given."""
    return sample_course(path, students, LIMITS, BROKEN, url)


def worker_groups(pids):
    """The grading cgroups the worker processes `pids` made, in every controller."""
    top = Path("/sys/fs/cgroup")
    return {str(p) for pid in pids for pattern in (f"autograder-{pid}-*", f"*/autograder-{pid}-*")
            for p in top.glob(pattern)}


class Cluster:
    """A local Dask cluster of two worker processes (two threads each: two tasks in each worker's phase 1), and every worker pid seen."""

    def __init__(self):
        import dask
        dask.config.set({"distributed.scheduler.allowed-failures": 2})
        self.cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=2, processes=True,
                                                dashboard_address=None, silence_logs=40)
        self.address = self.cluster.scheduler_address
        self.client = distributed.Client(self.address)
        self.pids = set()
        self.worker_pids()

    def worker_pids(self):
        pids = self.client.run(os.getpid)
        self.pids |= set(pids.values())
        return pids

    def busy(self):
        """{worker address: tasks it is executing now}."""
        return self.client.run(lambda dask_worker: len(dask_worker.state.executing))

    def close(self):
        self.client.close()
        self.cluster.close()


# ---------------------------------------------------------------------------------------------
# Without a cluster: the choice of path, and what the client accepts from a worker


def test_grading_locally_never_imports_dask():
    code = ("import sys; from autograder.instructor import cli, grading, engine, grader, recorder; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout
    assert out.strip() == "[]"


class FakeGrade:
    def __init__(self):
        self.clusters = []

    def __call__(self, root, assignment, students=None, cluster=None, **kwargs):
        self.clusters.append(cluster)
        return {s: grading.Outcome(s, "graded") for s in students}


def cli_course(tmp_path, config=""):
    root = tmp_path / "course"
    (root / "source" / A).mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(), str(root / "source" / A / f"{A}.ipynb"))
    (root / "nbgrader_config.py").write_text("c = get_config()\n" + config)
    (root / "submitted" / "ann" / A).mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(), str(root / "submitted" / "ann" / A / f"{A}.ipynb"))
    return root


def run_cli(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main([str(a) for a in argv])
    return exit_.value.code, *capsys.readouterr()


@pytest.mark.parametrize("config, option, expected", [
    ("", [], None),
    ("", ["--cluster", "tcp://10.0.0.1:8786"], "tcp://10.0.0.1:8786"),
    ("c.Cluster.address = 'tcp://10.0.0.2:8786'\n", [], "tcp://10.0.0.2:8786"),
    ("c.Cluster.address = 'tcp://10.0.0.2:8786'\n", ["--cluster", "local"], None),
])
def test_the_cluster_comes_from_the_option_else_the_configuration(tmp_path, capsys, monkeypatch, config, option, expected):
    fake = FakeGrade()
    monkeypatch.setattr(grading, "grade", fake)
    code, out, err = run_cli(["grade", A, "--course", cli_course(tmp_path, config), "--no-progress", *option], capsys)
    assert code == 0, err
    assert fake.clusters == [expected]


def test_the_kernel_engine_on_a_cluster_is_a_clear_error(tmp_path, capsys, monkeypatch):
    fake = FakeGrade()
    monkeypatch.setattr(grading, "grade", fake)
    code, out, err = run_cli(["grade", A, "--course", cli_course(tmp_path), "--engine", "kernel",
                              "--cluster", "tcp://10.0.0.1:8786"], capsys)
    assert code == 2 and "fork engine" in err and "Traceback" not in err
    assert fake.clusters == []


def test_grade_refuses_the_kernel_engine_on_a_cluster_before_touching_anything(tmp_path):
    course = cli_course(tmp_path)
    with pytest.raises(ValueError, match="fork engine"):
        grade(course, A, engine="kernel", cluster="tcp://10.0.0.1:8786", progress=False)
    assert not (course / "gradebook.db").exists()


def test_a_scheduler_that_cannot_be_reached_grades_nobody_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(cluster_module, "CONNECT_TIMEOUT", "1s")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{s.getsockname()[1]}"
    done = []
    phase1 = cluster_module.ClusterPhase1(address, tmp_path, tmp_path, None, A, ["ann"], lambda *a: done.append(a),
                                          {}, None, "")
    with pytest.raises(cluster_module.ClusterUnreachable, match="cannot be reached"):
        phase1.run()
    assert done == []


GOOD = {"status": "graded", "reason": "", "seconds": 1.5, "timings": {"client_cpu": 0.1},
        "notebooks": {A: "{}"}}


@pytest.mark.parametrize("part", [
    None, "text", [], {}, {**GOOD, "status": "passed"}, {**GOOD, "status": None}, {**GOOD, "reason": 3},
    {**GOOD, "seconds": "1"}, {**GOOD, "seconds": float("inf")}, {**GOOD, "timings": []},
    {**GOOD, "timings": {"client_cpu": object()}}, {**GOOD, "timings": {"client_cpu": float("nan")}},
    {**GOOD, "notebooks": None}, {**GOOD, "notebooks": {A: b"{}"}}, {**GOOD, "notebooks": {1: "{}"}},
    {**GOOD, "notebooks": {"../../gradebook": "{}"}}, {**GOOD, "notebooks": {}},
])
def test_every_malformed_result_is_an_error_for_its_student_only(part):
    result = {"worker": "tcp://w:1", "students": {"ann": part, "bo": GOOD}}
    decoded = cluster_module.decode(result, ["ann", "bo"], (f"{A}.ipynb",))
    assert decoded["ann"][0] == "error" and "unreadable result" in decoded["ann"][1] and decoded["ann"][4] == {}
    assert decoded["bo"] == ("graded", "", 1.5, {"client_cpu": 0.1, "worker": "tcp://w:1"}, {A: "{}"})


@pytest.mark.parametrize("result", [None, "garbage", {"students": None}, {"students": {}}, {"worker": 3}])
def test_a_result_with_nobody_in_it_names_every_student_of_the_task(result):
    decoded = cluster_module.decode(result, ["ann", "bo"], (f"{A}.ipynb",))
    assert set(decoded) == {"ann", "bo"} and all(d[0] == "error" for d in decoded.values())


@pytest.mark.parametrize("n, workers", [(1, 1), (9, 2), (40, 2), (100, 3)])
def test_each_student_goes_in_exactly_one_task(n, workers):
    students = [f"s{i}" for i in range(n)]
    tasks = cluster_module.batches(students, workers)
    assert sorted(s for t in tasks for s in t) == sorted(students)
    assert all(1 <= len(t) <= cluster_module.MAX_BATCH for t in tasks)
    assert len(tasks) >= min(n, 2 * workers)


# ---------------------------------------------------------------------------------------------
# On a local cluster of two worker processes


@pytest.fixture(scope="module")
def cluster():
    found = Cluster()
    yield found
    found.close()


@pytest.fixture(scope="module")
def postgres():
    with started_or_skipped() as running:
        yield running


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    course = make_course(tmp_path_factory.mktemp("local"))
    return course, grade(course, A, workers=2, notebook_timeout=300, progress=False)


@pytest.mark.slow
def test_a_cluster_grades_as_local_grading_does(cluster, local, tmp_path):
    course = make_course(tmp_path / "course")
    outcomes = grade(course, A, workers=2, notebook_timeout=300, progress=False, cluster=cluster.address)
    everyone = STUDENTS + [s for s, _ in BROKEN]
    assert sorted(outcomes) == sorted(everyone)
    assert {s: o.status for s, o in outcomes.items()} == {s: o.status for s, o in local[1].items()}
    assert outcomes["zed_invalid_json"].status == "error" and outcomes["zed_invalid_json"].reason
    assert gradebook_dump(course, STUDENTS) == gradebook_dump(local[0], STUDENTS)
    graders = {outcomes[s].timings.get("worker") for s in STUDENTS}
    assert graders == set(cluster.worker_pids()), "each worker grades someone: the cluster path did not run locally"


@pytest.mark.slow
def test_a_cluster_with_the_gradebook_on_postgres_grades_as_local_grading_on_sqlite(cluster, local, postgres, tmp_path):
    course = make_course(tmp_path / "course", url=postgres.create_database("cluster"))
    outcomes = grade(course, A, workers=2, notebook_timeout=300, progress=False, cluster=cluster.address)
    assert {s: o.status for s, o in outcomes.items()} == {s: o.status for s, o in local[1].items()}
    assert gradebook_dump(course, STUDENTS) == gradebook_dump(local[0], STUDENTS)
    assert not list(course.glob("*.db")), "the gradebook is on the server: no SQLite file in the course"


@pytest.mark.slow
def test_a_worker_killed_mid_run_loses_no_student_and_records_none_twice(cluster, local, postgres, tmp_path):
    course = make_course(tmp_path / "course", url=postgres.create_database("killed"))
    pids, outcomes = cluster.worker_pids(), {}
    run = threading.Thread(target=lambda: outcomes.update(
        grade(course, A, workers=2, notebook_timeout=300, progress=False, cluster=cluster.address)))
    run.start()
    deadline, killed = time.monotonic() + 120, None
    while killed is None and run.is_alive() and time.monotonic() < deadline:
        busy = [address for address, n in cluster.busy().items() if n]
        if busy:
            killed = busy[0]
            os.kill(pids[killed], signal.SIGKILL)
        time.sleep(0.2)
    run.join(300)
    assert killed is not None, "no worker was seen grading"
    assert not run.is_alive()
    assert sorted(outcomes) == sorted(STUDENTS + [s for s, _ in BROKEN])
    assert {s: o.status for s, o in outcomes.items()} == {s: o.status for s, o in local[1].items()}
    assert killed not in {o.timings.get("worker") for o in outcomes.values()}, "a dead worker's result was used"
    assert gradebook_dump(course, STUDENTS) == gradebook_dump(local[0], STUDENTS)
    from nbgrader.api import Gradebook
    with Gradebook(db_url(course)) as gb:
        assert sorted(s.student.id for s in gb.find_assignment(A).submissions) == sorted(outcomes)
    cluster.worker_pids()  # the nanny's new worker, for the last test


@pytest.mark.slow
def test_a_malformed_result_is_an_error_for_that_student_by_name(cluster, local, monkeypatch, tmp_path):
    decode = cluster_module.decode
    garbage = {"ada": "not a dict", "cho": {"status": "graded", "reason": "", "notebooks": {"../../gradebook": "x"}},
               "eve": {"status": "graded", "reason": "", "seconds": float("nan")}, "dan": {"status": "passed"}}

    def corrupted(result, batch, sources):
        result["students"].update({s: g for s, g in garbage.items() if s in result["students"]})
        return decode(result, batch, sources)

    monkeypatch.setattr(cluster_module, "decode", corrupted)
    fine = ["kim", "uma"]
    course = make_course(tmp_path / "course", list(garbage) + fine)
    outcomes = grade(course, A, workers=2, notebook_timeout=300, progress=False, cluster=cluster.address)
    for student in garbage:
        assert outcomes[student].status == "error"
        assert "unreadable result" in outcomes[student].reason
    assert all(outcomes[s].status == "graded" for s in fine)
    assert gradebook_dump(course, fine) == gradebook_dump(local[0], fine)
    for student in garbage:
        assert not list((course / "autograded" / student / A).glob("*.ipynb")) or all(
            g[1] in (None, 0) for g in gradebook_dump(course, [student])[student]["grades"])


@pytest.mark.slow
def test_a_worker_with_another_version_of_the_grader_grades_nobody(cluster, monkeypatch, tmp_path):
    monkeypatch.setattr(cluster_module, "grader_digest", lambda: "0" * 64)
    course = make_course(tmp_path / "course", ["ada", "cho"])
    outcomes = grade(course, A, workers=2, notebook_timeout=300, progress=False, cluster=cluster.address)
    assert sorted(outcomes) == ["ada", "cho", "zed_invalid_json"]
    for student in ("ada", "cho"):
        assert outcomes[student].status == "error"
        assert "another version of the grader" in outcomes[student].reason


@pytest.mark.slow
def test_nothing_outlives_the_cluster(cluster):
    cluster.close()
    deadline = time.monotonic() + 30
    while (isolation.orphans() or worker_groups(cluster.pids)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not isolation.orphans(), "processes outlived their grading run"
    assert not worker_groups(cluster.pids), "cgroups outlived their grading run"

"""Benchmark: the grade command's local pool vs the same phase 1 on a Dask cluster of 1 and 2
workers on this machine: throughput, and what the distributed path costs per notebook.

    python bench/cluster.py [--students 24] [--assignment 01_tensor_ops] [--dask-workers 1,2]
                            [--check-limit 5] [--pin] [--keep DIR]

Builds a synthetic class (`autograder.instructor.samples.mixed_class`: correct, partly wrong,
erroring, looping and untouched submissions, lean notebooks), copies the course once per way of
grading, and grades each copy with `grading.grade`: locally (`local`: the pool of this machine),
then through a `distributed.LocalCluster` of N worker processes (two threads each; each worker
starts its own judge and candidate servers). The clock runs from the call to every grade in the
gradebook, server start-up included, the cluster's own start-up not (a cluster is a standing
service); each cluster's workers have imported nbgrader before the clock starts, as a standing
cluster's have. The gradebooks must be identical.

Workers on one machine share its cores, so two workers here show the path's overhead, not the
speed-up of two machines. `--pin` stands in for machines of one core each: the local pool and
this process on core 0, worker i on core i (what it starts inherits it), so that the figures
show how throughput grows with workers.
"""

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from autograder.instructor import cli, nbgrader_api, samples  # noqa: E402
from autograder.instructor.grading import grade  # noqa: E402


def make_course(dest, assignment, students, limits):
    for name in ("source", "release"):
        shutil.copytree(ROOT / name / assignment, dest / name / assignment)
    shutil.copy(ROOT / "nbgrader_config.py", dest / "nbgrader_config.py")
    with open(dest / "nbgrader_config.py", "a") as f:
        f.write(limits)
    release = nbformat.read(str(dest / "release" / assignment / f"{assignment}.ipynb"), 4)
    for student, (_, code) in students.items():
        folder = dest / "submitted" / student / assignment
        folder.mkdir(parents=True)
        nbformat.write(samples.notebook(release, code, lean=True), str(folder / f"{assignment}.ipynb"))
    return dest


def gradebook(course, assignment, students):
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {s: sorted((g.name, g.score) for g in gb.find_submission_notebook(assignment, assignment, s).grades)
                for s in students}


def pin(core):
    """Every thread of this process on `core` (the processes they start inherit it)."""
    for tid in os.listdir("/proc/self/task"):
        os.sched_setaffinity(int(tid), {core % os.cpu_count()})


def timed(course, assignment, cluster=None):
    stats, started = {}, time.monotonic()
    outcomes = grade(course, assignment, progress=False, stats=stats, cluster=cluster)
    return time.monotonic() - started, outcomes, stats


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--students", type=int, default=24)
    parser.add_argument("--assignment", default=samples.ASSIGNMENT)
    parser.add_argument("--dask-workers", default="1,2", help="cluster sizes to time, comma-separated")
    parser.add_argument("--check-limit", type=int, default=5, help="seconds per exercise check (the looping students)")
    parser.add_argument("--pin", action="store_true", help="one core per worker (see above)")
    parser.add_argument("--keep", help="keep the graded courses in this folder")
    args = parser.parse_args()
    import dask
    import distributed

    a, n = args.assignment, args.students
    students = samples.mixed_class(n, a)
    limits = f"\nc.SafeExecute.timeout = {args.check_limit}\nc.VerifyExercises.time_limit = {args.check_limit}\n"
    base = Path(args.keep or tempfile.mkdtemp(prefix="cluster-bench-"))
    sizes = [int(k) for k in args.dask_workers.split(",") if k.strip()]
    courses = {name: make_course(base / name, a, students, limits)
               for name in ["local"] + [f"dask-{k}" for k in sizes]}
    kb = sum(p.stat().st_size for p in (courses["local"] / "submitted").glob("*/*/*.ipynb")) / n / 1e3
    print(f"class: {n} students of {a} (lean notebooks, {kb:.0f} kB each); machine: {os.cpu_count()} cores; "
          f"{args.check_limit} s per exercise check")
    cli.quiet_library_warnings()
    nbgrader_api.preload()
    if args.pin:
        pin(0)
        print("pinned: the local pool and this process on core 0, dask worker i on core i")
    rows = {}
    seconds, outcomes, stats = timed(courses["local"], a)
    rows["local pool"] = (seconds, outcomes, stats)
    dask.config.set({"distributed.scheduler.allowed-failures": 2})
    for k in sizes:
        with distributed.LocalCluster(n_workers=k, threads_per_worker=2, processes=True, dashboard_address=None,
                                      silence_logs=40) as cluster, distributed.Client(cluster) as client:
            client.run(nbgrader_api.preload)
            if args.pin:
                for core, address in enumerate(sorted(client.nthreads())):
                    client.run(pin, core, workers=[address])
            seconds, outcomes, stats = timed(courses[f"dask-{k}"], a, cluster.scheduler_address)
        workers = {o.timings.get("worker") for o in outcomes.values() if o.timings.get("worker")}
        rows[f"dask, {k} worker{'s' if k > 1 else ''}"] = (seconds, outcomes, stats)
        print(f"  dask {k}: {seconds:.1f} s, {len(workers)} worker(s) graded", flush=True)
    reference = gradebook(courses["local"], a, students)
    same = all(gradebook(courses[f"dask-{k}"], a, students) == reference for k in sizes)
    local_s = rows["local pool"][0]
    print(f"\n{'':18}{'every grade in (s)':>20}{'notebooks/s':>13}{'s/notebook':>12}{'overhead/nb (s)':>17}"
          f"{'phase 1 (s)':>13}{'recording CPU (s)':>19}")
    for name, (seconds, outcomes, stats) in rows.items():
        graded = sum(o.status == "graded" for o in outcomes.values())
        overhead = "" if name == "local pool" else f"{(seconds - local_s) / n:+.3f}"
        print(f"{name:18}{seconds:20.1f}{n / seconds:13.2f}{seconds / n:12.3f}{overhead:>17}"
              f"{stats.get('phase1', 0):13.1f}{stats.get('record', 0):19.1f}   ({graded}/{n} graded)")
    print("phase 1 runs on the workers; the recording (nbgrader's autograde replaying phase 1, the one "
          "gradebook writer) runs in the client, overlapping phase 1: no cluster grades faster than the client records")
    print(f"\ngradebooks identical (local and every cluster): {same}")
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()

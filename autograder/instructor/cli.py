"""`python -m autograder` (or `course-grade`): the instructor's grading command.

    collect  ASSIGNMENT INBOX     import one zip or folder per student (or nbgrader's exchange
                                  inbound) into submitted/, with each submission's time
    grade    ASSIGNMENT [--run]   every score from the judge's verdicts (sandboxed, in parallel, one
                                  gradebook writer); no notebook is run, unless --run: then the
                                  feedback run follows, once every grade is recorded
    feedback ASSIGNMENT [--run]   nbgrader feedback HTML for every graded student; --run first runs
                                  each graded notebook (sandboxed) so the feedback shows fresh outputs
    export   ASSIGNMENT           grades.csv (late work included), scores.png, report.md and what
                                  the class got wrong (misconceptions.md/.html, mistakes.png) in
                                  reports/ASSIGNMENT/; grade and export take --due DATE
    export   --course [--names]   the course: heat map, course.md/.html, course_grades.csv in reports/course/
    demo                          all of the above on the sample classes the repository ships
    kit      [--out dist]         the student kit: release notebooks, the course package's wheel,
                                  pinned requirements, a README; no solution, no hidden test
    new      NN_topic             the skeleton of a new assignment (notebook, declarations,
                                  samples, tests), its exercises from the shared contract or
                                  from --exercise ID SIGNATURE options; nothing is overwritten

Run from the course root (the folder with nbgrader_config.py) or pass --course.
"""

import argparse
import json
import os
import sys
from pathlib import Path

from ..protocol.limits import DEFAULT as LIMITS
from .sandbox import UNSANDBOXED, bwrap_works

# Each command imports its module when it runs (deliberately): importing nbgrader takes
# seconds, which `--help`, `collect` and `kit` never need to spend.


def course_root(path):
    root = Path(path).resolve()
    if not (root / "nbgrader_config.py").exists():
        raise SystemExit(f"{root} is not a course folder (no nbgrader_config.py); use --course")
    return root


def notebooks_of(root, assignment):
    names = sorted(p.stem for p in (root / "source" / assignment).glob("*.ipynb"))
    if not names:
        raise SystemExit(f"no assignment {assignment!r} in {root / 'source'}")
    return names


def cmd_collect(args):
    """Exit 0: every student's notebooks collected; 1: some students' were not (named); 2: a bad
    inbox (missing, overlapping submitted/, the exchange itself), nothing read or written."""
    from .collect import collect, printable, write_log
    from .nbgrader_api import load_config
    root = course_root(args.course)
    config = load_config(root)  # the course's time zone, for times an LMS writes in file names
    zone = config.NbGraderAPI.timezone if "timezone" in config.NbGraderAPI else "UTC"
    try:
        report = collect(Path(args.inbox), root, args.assignment, notebooks_of(root, args.assignment),
                         progress=not args.no_progress, timezone=zone)
    except (NotADirectoryError, ValueError) as exc:
        print(f"collect: {exc}", file=sys.stderr)
        return 2
    print(report.summary())
    if report.times:
        print(f"submission times: {write_log(report, root, args.assignment).relative_to(root)}")
    missing = report.not_collected()
    if missing:
        print(f"not collected ({len(missing)} student(s)): " + "; ".join(
            f"{printable(s)} ({', '.join(n + '.ipynb' for n in names)})" for s, names in missing.items()),
            file=sys.stderr)
        return 1
    return 0


def due_date(root, args, grading):
    """`deadlines.settle_due` for this command; a date that cannot be read: one line, exit 2."""
    from .deadlines import settle_due
    try:
        return settle_due(root, args.assignment, args.due, grading=grading,
                          students=(args.student or None) if grading else None)
    except ValueError as exc:
        print(f"{args.command}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def cmd_grade(args):
    from .grading import grade, write_log
    root = course_root(args.course)
    notebooks_of(root, args.assignment)
    if not bwrap_works():
        print(f"WARNING: {UNSANDBOXED}", file=sys.stderr)
    due, origin = due_date(root, args, grading=True)
    if due is not None:
        print(f"due {due:%Y-%m-%d %H:%M} UTC (from {origin})")
    stats = {}
    outcomes = grade(root, args.assignment, students=args.student or None, workers=args.workers,
                     notebook_timeout=args.timeout, progress=not args.no_progress,
                     engine=args.engine, stats=stats, run=args.run_notebooks)
    log = write_log(root, args.assignment, outcomes, stats)
    bad = {s: o for s, o in outcomes.items() if o.status != "graded"}
    print(f"graded {len(outcomes) - len(bad)} of {len(outcomes)} submissions of {args.assignment}"
          f" in {stats.get('phase1', 0) + stats.get('record_after_phase1', 0):.1f} s (log: {log.relative_to(root)})")
    for student, outcome in bad.items():
        print(f"  {student}: {outcome.status}: {outcome.reason}")
    if args.run_notebooks:
        ran = [s for s, o in outcomes.items() if o.timings.get("feedback_run") == "run"]
        print(f"then ran {len(ran)} graded notebooks for their feedback in {stats.get('feedback_run', 0):.1f} s "
              "(no score changed)")
        for student, outcome in outcomes.items():
            if outcome.timings.get("feedback_run", "run") != "run":
                print(f"  {student}: {outcome.timings['feedback_run']}")
    return 0


def feedback_run(root, args, students):
    """The feedback run (`rerun`): each graded notebook of `students` run for its outputs."""
    import time

    from .rerun import run_feedback
    started = time.monotonic()
    outcomes = run_feedback(root, args.assignment, students=students, workers=args.workers,
                            notebook_timeout=args.timeout, progress=not args.no_progress)
    bad = {s: o for s, o in outcomes.items() if o.status != "run"}
    print(f"ran {len(outcomes) - len(bad)} of {len(outcomes)} graded notebooks of {args.assignment} for "
          f"their feedback in {time.monotonic() - started:.1f} s (no score changed)")
    for student, outcome in bad.items():
        print(f"  {student}: not run: {outcome.reason}")
    return bad


def cmd_feedback(args):
    from .nbgrader_api import make_api
    root = course_root(args.course)
    notebooks_of(root, args.assignment)
    if args.run_notebooks:
        feedback_run(root, args, args.student or None)
    api = make_api(root)
    students = args.student or [None]
    failed = 0
    for student in students:
        result = api.generate_feedback(args.assignment, student_id=student, force=True)
        if not result.get("success"):
            failed += 1
            print(result.get("error", result.get("log", "")), file=sys.stderr)
    print(f"feedback in {root / 'feedback'}")
    return 1 if failed else 0


def cmd_export(args):
    from . import misconceptions
    from .report import build_report
    root = course_root(args.course)
    if args.whole_course:
        out = Path(args.out) if args.out else root / "reports" / "course"
        try:
            grades = misconceptions.build_course(root, out, names=args.names)
        except (ValueError, FileNotFoundError) as exc:
            raise SystemExit(f"export --course: {exc}") from None
        print(f"course: {out / 'course.html'} (and course.md)\nheat map: {out / 'heatmap.png'}\nLMS grades: {grades}")
        return 0
    if not args.assignment:
        raise SystemExit("export: name an ASSIGNMENT, or --course for the whole course")
    out = Path(args.out) if args.out else root / "reports" / args.assignment
    due_date(root, args, grading=False)
    log_file = root / "reports" / args.assignment / "grading_log.json"
    log = json.loads(log_file.read_text()) if log_file.exists() else None
    report = build_report(root, args.assignment, out, grading_log=log)
    misconceptions.build(root, args.assignment, out)
    print(f"report: {report}\ngrades: {out / 'grades.csv'}\nplot:   {out / 'scores.png'}\n"
          f"what the class got wrong: {out / 'misconceptions.html'} (and .md)")
    return 0


def cmd_demo(args):
    from .samples import run_demo
    return run_demo(Path(args.into), workers=args.workers)


def cmd_kit(args):
    from .kit import KIT, build
    kit = build(Path(args.out), root=course_root(args.course))
    print(f"student kit: {kit}\nzip:         {kit.parent / (KIT + '.zip')}")
    return 0


def cmd_new(args):
    from .scaffold import new
    exercises = [(ex_id, signature if signature.startswith(("class ", "def ")) else f"def {signature}", "", "")
                 for ex_id, signature in args.exercise or []]
    try:
        written = new(args.assignment, course_root(args.course), exercises=exercises or None,
                      contract=Path(args.contract) if args.contract else None)
    except (ValueError, FileExistsError) as exc:  # a bad name, no exercises, files already there
        raise SystemExit(str(exc)) from None
    print("wrote:\n  " + "\n  ".join(str(path) for path in written))
    return 0


DUE_HELP = ("the due date, stored in the gradebook (plain `nbgrader export` and the formgrader agree): "
            "'YYYY-MM-DD HH:MM' in the course's time zone (c.NbGraderAPI.timezone, default UTC), or with "
            "an offset ('2026-12-01 23:59+09:00') or a zone name ('2026-12-01 23:59 Asia/Seoul'); default: "
            "c.Deadlines.due in nbgrader_config.py, else the gradebook's own")


def parser():
    p = argparse.ArgumentParser(prog="python -m autograder", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--course", default=os.getcwd(), help="course root (default: current folder)")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("collect", help="import submissions (one zip or folder per student)",
                       description="Copy each student's notebooks into submitted/<student>/ASSIGNMENT/ with "
                                   "timestamp.txt, and list every file skipped, renamed, upgraded or marked "
                                   "late. Exit status: 0 all collected; 1 some students' notebooks not "
                                   "collected (named on stderr); 2 a missing inbox, one overlapping "
                                   "submitted/, or nbgrader's exchange instead of its inbound folder.")
    c.add_argument("assignment")
    c.add_argument("inbox", help="folder holding <student>.zip files or <student>/ folders (an LMS "
                                 "export), or nbgrader's exchange inbound folder "
                                 "(<student>+<assignment>+<timestamp>/, the latest per student)")
    c.add_argument("--no-progress", action="store_true", help="no progress bar")
    c.set_defaults(run=cmd_collect)

    g = sub.add_parser("grade", help="autograde submissions in parallel, sandboxed")
    g.add_argument("assignment")
    g.add_argument("--student", action="append", help="grade only this student (repeatable)")
    g.add_argument("--workers", type=int, default=None,
                   help="notebooks run at once (default: fork engine one more than the cores, "
                        "kernel engine the cores)")
    g.add_argument("--timeout", type=int, default=None,
                   help=f"seconds allowed per notebook (default: {LIMITS.notebook_timeout:g})")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    g.add_argument("--engine", choices=("fork", "kernel"), default="fork",
                   help="fork: every exercise decided by the warm sandboxed servers, no notebook "
                        "run (fast, default); kernel: nbgrader autograde per student, which runs "
                        "each notebook in a sandboxed Jupyter kernel")
    g.add_argument("--run", dest="run_notebooks", action="store_true",
                   help="after every grade is recorded, run each graded notebook for its feedback "
                        "(what feedback --run does; never changes a score)")
    g.add_argument("--due", help=DUE_HELP)
    g.set_defaults(run=cmd_grade)

    f = sub.add_parser("feedback", help="feedback HTML for graded students")
    f.add_argument("assignment")
    f.add_argument("--student", action="append", help="only this student (repeatable)")
    f.add_argument("--run", dest="run_notebooks", action="store_true",
                   help="first run each graded notebook, sandboxed, so the feedback shows the run's "
                        "outputs instead of the student's own (never changes a score)")
    f.add_argument("--workers", type=int, default=None, help="notebooks run at once (default: one more than the cores)")
    f.add_argument("--timeout", type=int, default=None,
                   help=f"seconds allowed per notebook run (default: {LIMITS.notebook_timeout:g})")
    f.add_argument("--no-progress", action="store_true", help="no progress bar")
    f.set_defaults(run=cmd_feedback)

    e = sub.add_parser("export", help="grades.csv, scores.png, report.md and the misconception report")
    e.add_argument("assignment", nargs="?", help="the assignment (omit with --course)")
    e.add_argument("--out", help="output folder (default: reports/ASSIGNMENT, or reports/course)")
    e.add_argument("--course", dest="whole_course", action="store_true",
                   help="across every graded assignment: a student x exercise heat map, course.md/.html and "
                        "course_grades.csv for an LMS")
    e.add_argument("--names", action="store_true",
                   help="name students on the shared pages (default: anonymous rows)")
    e.add_argument("--due", help=DUE_HELP + "; late penalties are computed again for it")
    e.set_defaults(run=cmd_export)

    d = sub.add_parser("demo", help="grade the sample class of every assignment the repository ships")
    d.add_argument("--into", default="demo-course", help="where to build the demo course")
    d.add_argument("--workers", type=int, default=None)
    d.set_defaults(run=cmd_demo)

    k = sub.add_parser("kit", help="build the student kit (release notebooks, course wheel, pins, README)")
    k.add_argument("--out", default="dist", help="where to write student-kit/ and student-kit.zip")
    k.set_defaults(run=cmd_kit)

    n = sub.add_parser("new", help="the skeleton of a new assignment (notebook, declarations, samples, tests)")
    n.add_argument("assignment", help="NN_topic, e.g. 06_nn_functional")
    n.add_argument("--exercise", nargs=2, action="append", metavar=("ID", "SIGNATURE"),
                   help="an exercise and the signature its solution defines (repeatable; default: "
                        "the shared contract's section for the assignment)")
    n.add_argument("--contract", help="the shared contract (default: ../shared/curriculum.md)")
    n.set_defaults(run=cmd_new)
    return p


def quiet_library_warnings():
    """nbgrader's gradebook and nbformat warn about their own internals; instructors can't act on it."""
    import warnings
    warnings.filterwarnings("ignore", message=".*not in session.*")
    warnings.filterwarnings("ignore", message=".*missing an id field.*")


def main(argv=None):
    quiet_library_warnings()
    args = parser().parse_args(argv)
    sys.exit(args.run(args))

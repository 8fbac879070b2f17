"""`python -m autograder` (or `course-grade`): the instructor's grading command.

    collect  ASSIGNMENT INBOX     import one zip or folder per student (or nbgrader's exchange
                                  inbound) into submitted/, with each submission's time
    grade    ASSIGNMENT [--run]   every score from the judge's verdicts (sandboxed, in parallel, one
                                  gradebook writer); no notebook is run, unless --run: then the
                                  feedback run follows, once every grade is recorded; skips
                                  students unchanged since their last grade (--force: all again);
                                  nothing submitted: says so, changes nothing, exits 0;
                                  --cluster tcp://HOST:PORT: on a Dask cluster's workers
    feedback ASSIGNMENT [--run]   nbgrader feedback HTML for every graded student; --run first runs
                                  each graded notebook (sandboxed) so the feedback shows fresh outputs
    export   ASSIGNMENT           grades.csv (late work included), scores.png, report.md and what
                                  the class got wrong (misconceptions.md/.html, mistakes.png) in
                                  reports/ASSIGNMENT/; grade and export take --due DATE
    export   --course [--names]   the course: heat map, course.md/.html, course_grades.csv in reports/course/
    demo     [--assignment NN_x]  all of the above on the sample classes the repository ships
    kit      [--out dist]         the student kit: release notebooks, the course package's wheel,
                                  pinned requirements, a README; no solution, no hidden test
    new      NN_topic             the skeleton of a new assignment (notebook, declarations,
                                  samples, tests), its exercises from the shared contract or
                                  from --exercise ID SIGNATURE options; nothing is overwritten

Run from the course root (the folder with nbgrader_config.py) or pass --course PATH, before or
after the command (after `export`, whose --course means the whole course: --root PATH).
"""

EPILOG = """exit codes:
  0    everything asked for was done (grade with nothing submitted: says so, changes nothing)
  1    some students could not be processed: each is named on stderr, with the reason
       (grade: not graded, or the feedback run failed; feedback: no autograded copy, or no page
       written; collect: notebooks not collected)
  2    a usage or input error (one line on stderr): unknown assignment or student, not a course
       folder, an assignment never graded, an unreadable due date, a missing inbox or one
       overlapping submitted/, grading servers that do not start; nothing was changed
  130  interrupted (Ctrl-C): what was finished is kept (students already graded stay recorded),
       and a rerun resumes
"""

import argparse
import os
import sys
import time
from pathlib import Path

from ..protocol.limits import DEFAULT as LIMITS
from .console import library_warnings_logged, shown
from .sandbox import UNSANDBOXED, bwrap_works

# Each command imports its module when it runs (deliberately): importing nbgrader takes
# seconds, which `--help`, `collect` and `kit` never need to spend.

PROG = "python -m autograder"
EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
# What an interrupted command leaves behind, by command (grade says it itself, with counts).
KEPT_WHEN_INTERRUPTED = {
    "grade": "students already recorded stay recorded; rerun grade to resume",
    "collect": "the inbox is never modified; rerun collect",
    "feedback": "the feedback pages already written are kept; rerun feedback to write the rest",
    "export": "the reports may be incomplete; rerun export",
    "demo": "the demo course is rebuilt from scratch by the next run",
    "kit": "the kit may be incomplete; rerun kit",
    "new": "rerun new (it never overwrites a file)",
}


class UserError(Exception):
    """Bad input or a course not ready for the command: one line on stderr, exit 2."""


class Interrupted(Exception):
    """Ctrl-C, with a line saying what was kept: exit 130."""


def warn(message):
    print(f"warning: {message}", file=sys.stderr)


def course_root(path):
    root = Path(path).resolve()
    if not (root / "nbgrader_config.py").exists():
        raise UserError(f"{root} is not a course folder (no nbgrader_config.py): run from the course "
                        "root or pass --course PATH")
    return root


def notebooks_of(root, assignment):
    names = sorted(p.stem for p in (root / "source" / assignment).glob("*.ipynb"))
    if not names:
        known = sorted(p.name for p in (root / "source").glob("*") if p.is_dir() and p.name[:2].isdigit())
        raise UserError(f"no assignment {shown(assignment)!r} in {root / 'source'}"
                        + (f" (there are: {', '.join(known)})" if known else ""))
    return names


def reachable_gradebook(root):
    """Stop with one line when the course's gradebook is on a server that cannot be reached or
    read (`c.CourseDirectory.db_url`), before anything starts; a SQLite gradebook is only read."""
    from .nbgrader_api import read_gradebook
    try:
        read_gradebook(root, "SELECT 1")
    except RuntimeError as exc:
        raise UserError(str(exc)) from None


def failed_students(what, failures):
    """Name every student of {student: reason} on stderr, one line each."""
    if failures:
        print(f"{what} {len(failures)} student(s):", file=sys.stderr)
        for student, reason in sorted(failures.items()):
            print(f"  {shown(student)}: {shown(reason)}", file=sys.stderr)


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


def students_to_grade(root, assignment, args):
    """(to grade, skipped as unchanged): --student always regrades; otherwise every submission,
    less those unchanged since their last successful grade unless --force (`gradelog.unchanged`)."""
    from . import gradelog
    from .gradelog import submitted_students
    everyone = submitted_students(root, assignment)
    if not everyone:
        return [], []
    if args.student:
        unknown = sorted(set(args.student) - set(everyone))
        if unknown:
            raise UserError(f"no submission of {', '.join(shown(s) for s in unknown)} in "
                            f"submitted/<student>/{assignment}/")
        return sorted(set(args.student)), []
    log = gradelog.read_log(root, assignment, warn)
    skipped = [] if args.force else gradelog.unchanged(root, assignment, everyone, log)
    return [s for s in everyone if s not in skipped], skipped


def due_date(root, args, grading, students=None):
    """`deadlines.settle_due` for this command; a date that cannot be read: one line, exit 2."""
    from .deadlines import settle_due
    try:
        return settle_due(root, args.assignment, args.due, grading=grading,
                          students=students if grading else None)
    except ValueError as exc:
        raise UserError(f"{args.command}: {exc}") from None


def cmd_grade(args):
    from . import gradelog
    from .grader import ServerLost
    from .grading import grade, recorded_since, write_log
    root = course_root(args.course)
    assignment = args.assignment
    notebooks_of(root, assignment)
    students, skipped = students_to_grade(root, assignment, args)
    if skipped:
        print(f"skipped {len(skipped)} student(s) unchanged since their last grade (--force regrades them)")
    if not students and not skipped:  # nothing to do is no error: the gradebook untouched
        print(f"no submissions of {assignment} in submitted/: nothing graded")
        return EXIT_OK
    reachable_gradebook(root)
    due, origin = due_date(root, args, grading=True, students=students or skipped)
    if due is not None:
        print(f"due {due:%Y-%m-%d %H:%M} UTC (from {origin})")
    if not students:
        print(f"nothing to grade: every submission of {assignment} is graded and unchanged")
        return EXIT_OK
    if not bwrap_works():
        print(f"WARNING: {UNSANDBOXED}", file=sys.stderr)
    course = gradelog.course_fingerprint(root, assignment)
    fingerprints = {s: gradelog.fingerprint(root, assignment, s, course) for s in students}
    cluster = cluster_address(root, args)
    if cluster and args.engine != "fork":
        raise UserError(f"grade: the {args.engine} engine runs on this machine only; on a cluster "
                        "(--cluster, or c.Cluster.address in nbgrader_config.py) grade with the fork engine")
    if cluster:
        print(f"phase 1 on the Dask cluster at {cluster}; recording here")
    stats, started = {}, time.time()
    try:
        with library_warnings_logged(root / "reports" / assignment / "library.log"):
            outcomes = grade(root, assignment, students=students, workers=args.workers,
                             notebook_timeout=args.timeout, progress=not args.no_progress,
                             engine=args.engine, stats=stats, run=args.run_notebooks, cluster=cluster)
    except KeyboardInterrupt:
        kept = recorded_since(root, assignment, students, started)
        if kept:
            write_log(root, assignment, kept, {"interrupted": True}, fingerprints, warn)
        raise Interrupted(f"{len(kept)} student(s) graded in this run stay recorded (gradebook and "
                          f"grading log); rerun grade to grade the other {len(students) - len(kept)}") from None
    except ServerLost as exc:
        raise UserError(f"nothing was graded: {exc}") from None
    log = write_log(root, assignment, outcomes, stats, fingerprints, warn)
    bad = {s: f"{o.status}: {o.reason}" for s, o in outcomes.items() if o.status != "graded"}
    print(f"graded {len(outcomes) - len(bad)} of {len(outcomes)} submissions of {assignment}"
          f" in {stats.get('phase1', 0) + stats.get('record_after_phase1', 0):.1f} s (log: {log.relative_to(root)}; "
          f"nbgrader's own messages, if any: {log.parent.relative_to(root) / 'library.log'})")
    if args.run_notebooks:
        ran = [s for s, o in outcomes.items() if o.timings.get("feedback_run") == "run"]
        print(f"then ran {len(ran)} graded notebooks for their feedback in {stats.get('feedback_run', 0):.1f} s "
              "(no score changed)")
        for student, outcome in outcomes.items():
            if outcome.timings.get("feedback_run", "run") != "run" and student not in bad:
                bad[student] = f"graded, but the feedback run failed: {outcome.timings['feedback_run']}"
    failed_students("could not grade", bad)
    return EXIT_SOME_FAILED if bad else EXIT_OK


def cluster_address(root, args):
    """The Dask scheduler phase 1 runs on: --cluster, else c.Cluster.address in the course's
    nbgrader_config.py; None (this machine) if neither, or --cluster local."""
    address = args.cluster
    if address is None:
        from .nbgrader_api import load_config
        config = load_config(root)
        address = config.Cluster.address if "Cluster" in config and "address" in config.Cluster else None
    if address is not None and not isinstance(address, str):
        raise UserError(f"c.Cluster.address must be a scheduler's address (tcp://host:port), not {address!r}")
    return None if not address or address == "local" else address


def feedback_run(root, args, students):
    """The feedback run (`rerun`): each graded notebook of `students` run for its outputs;
    {student: why it was not run} for those it could not run."""
    from .rerun import run_feedback
    started = time.monotonic()
    outcomes = run_feedback(root, args.assignment, students=students, workers=args.workers,
                            notebook_timeout=args.timeout, progress=not args.no_progress)
    bad = {s: f"not run: {o.reason}" for s, o in outcomes.items() if o.status != "run"}
    print(f"ran {len(outcomes) - len(bad)} of {len(outcomes)} graded notebooks of {args.assignment} for "
          f"their feedback in {time.monotonic() - started:.1f} s (no score changed)")
    return bad


def written_since(root, assignment, student, since):
    """Whether every autograded notebook of `student` has its feedback page, written at or after
    `since` (a time.time())."""
    names = [p.stem for p in (root / "autograded" / student / assignment).glob("*.ipynb")]
    pages = [root / "feedback" / student / assignment / f"{name}.html" for name in names]
    return bool(names) and all(p.is_file() and p.stat().st_mtime >= since - 1 for p in pages)


def nbgrader_failure(result):
    """The line that says why nbgrader failed, from its API's result; KeyboardInterrupt again
    if that is what it caught (its API catches everything)."""
    lines = [line for line in (result.get("error") or result.get("log") or "").splitlines() if line.strip()]
    if lines and lines[-1].startswith("KeyboardInterrupt"):
        raise KeyboardInterrupt
    logged = f"{result.get('log') or ''}\n{result.get('error') or ''}".splitlines()
    planted = [line.split("PlantedFiles: ", 1)[1] for line in logged if "PlantedFiles: " in line]
    if planted:  # safe_converters' refusal: its reason, not nbgrader's summary after it
        return f"nbgrader could not write the feedback: {planted[-1].strip()}"
    return f"nbgrader could not write the feedback: {lines[-1].strip() if lines else 'no reason given'}"


def not_graded_reason(entry):
    """Why a student has no autograded copy, from their grading log entry (if any)."""
    if isinstance(entry, dict) and entry.get("status") not in (None, "graded"):
        return f"not graded: their last grading failed ({entry['status']}: {shown(entry.get('reason', ''))})"
    return "never graded (no autograded copy): run grade first"


def cmd_feedback(args):
    from tqdm import tqdm

    from .gradelog import has_autograded_copy, read_log, submitted_students
    from .nbgrader_api import make_api
    from .rerun import graded_students
    root = course_root(args.course)
    assignment = args.assignment
    notebooks_of(root, assignment)
    students = sorted(set(args.student or []) or set(submitted_students(root, assignment))
                      | set(graded_students(root, assignment)))
    reachable_gradebook(root)
    log = read_log(root, assignment, warn)
    failed = {s: not_graded_reason(log.get(s)) for s in students if not has_autograded_copy(root, assignment, s)}
    todo = [s for s in students if s not in failed]
    if not todo and not args.student:
        raise UserError(f"no student of {assignment} has been graded: run grade {assignment} first")
    with library_warnings_logged(root / "reports" / assignment / "library.log"):
        if args.run_notebooks and todo:
            for student, reason in feedback_run(root, args, todo).items():
                failed[student] = f"feedback written, with the outputs handed in: the feedback run failed ({reason})"
        api, started = make_api(root) if todo else None, time.time()
        for student in tqdm(todo, desc=f"feedback {assignment}", unit="student", disable=args.no_progress):
            result = api.generate_feedback(assignment, student_id=student, force=True)
            if not result.get("success"):
                failed[student] = nbgrader_failure(result)
            elif not written_since(root, assignment, student, started):
                failed[student] = "nbgrader reported success but wrote no feedback page"
    written = sum(written_since(root, assignment, s, started) for s in todo)
    print(f"feedback for {written} of {len(students)} students in {root / 'feedback'}")
    failed_students("no feedback for", failed)
    return EXIT_SOME_FAILED if failed else EXIT_OK


def cmd_export(args):
    from tqdm import tqdm

    from . import misconceptions
    from .gradelog import read_log
    from .nbgrader_api import db_url, describe
    from .report import build_report, in_gradebook
    root = course_root(args.course)
    reachable_gradebook(root)
    if args.whole_course:
        out = Path(args.out) if args.out else root / "reports" / "course"
        try:
            grades = misconceptions.build_course(root, out, names=args.names)
        except (ValueError, FileNotFoundError) as exc:
            raise UserError(f"export --course: {exc}") from None
        print(f"course: {out / 'course.html'} (and course.md)\nheat map: {out / 'heatmap.png'}\nLMS grades: {grades}")
        return EXIT_OK
    if not args.assignment:
        raise UserError("name an ASSIGNMENT, or --course for the whole course")
    assignment = args.assignment
    notebooks_of(root, assignment)
    if not in_gradebook(root, assignment):
        raise UserError(f"{assignment} was never graded (it is not in the gradebook, "
                        f"{describe(db_url(root))}): run grade {assignment} first")
    out = Path(args.out) if args.out else root / "reports" / assignment
    due_date(root, args, grading=False)
    log = read_log(root, assignment, warn)
    with library_warnings_logged(root / "reports" / assignment / "library.log"), \
            tqdm(total=2, desc=f"export {assignment}", unit="step", disable=args.no_progress) as bar:
        report = build_report(root, assignment, out, grading_log=log)
        bar.update(1)
        misconceptions.build(root, assignment, out)
        bar.update(1)
    print(f"report: {report}\ngrades: {out / 'grades.csv'}\nplot:   {out / 'scores.png'}\n"
          f"what the class got wrong: {out / 'misconceptions.html'} (and .md)")
    return EXIT_OK


def cmd_demo(args):
    from .release import assignments
    from .samples import PROJECT_ROOT, run_demo
    known = assignments(PROJECT_ROOT)
    unknown = [a for a in args.assignment or [] if a not in known]
    if unknown:
        raise UserError(f"no assignment {', '.join(map(repr, unknown))} (there are: {', '.join(known)})")
    return run_demo(Path(args.into), workers=args.workers, only=args.assignment or None)


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
        raise UserError(str(exc)) from None
    print("wrote:\n  " + "\n  ".join(str(path) for path in written))
    return 0


DUE_HELP = ("the due date, stored in the gradebook (plain `nbgrader export` and the formgrader agree): "
            "'YYYY-MM-DD HH:MM' in the course's time zone (c.NbGraderAPI.timezone, default UTC), or with "
            "an offset ('2026-12-01 23:59+09:00') or a zone name ('2026-12-01 23:59 Asia/Seoul'); default: "
            "c.Deadlines.due in nbgrader_config.py, else the gradebook's own")


class HelpFormatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Descriptions as written; every option's default shown, unless it has none worth showing
    (None, False) or its help already says it."""

    def _get_help_string(self, action):
        if action.default in (None, False) or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def parser():
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, epilog=EPILOG, formatter_class=HelpFormatter)
    p.add_argument("--course", "--root", dest="course", default=os.getcwd(),
                   help="the course folder (the one with nbgrader_config.py)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, help, course_option=("--course", "--root")):
        c = sub.add_parser(name, help=help, description=help, epilog=EPILOG, formatter_class=HelpFormatter)
        c.add_argument(*course_option, dest="course", default=argparse.SUPPRESS,
                       help="the course folder (default: the current folder, or --course before the command)")
        return c

    def assignment_arg(c):
        c.add_argument("assignment", help="the assignment, as named in source/ (e.g. 01_tensor_ops)")

    def progress_arg(c):
        c.add_argument("--no-progress", action="store_true", help="no progress bar")

    def run_args(c, workers="one more than the cores"):
        c.add_argument("--workers", type=int, default=None, help=f"notebooks run at once (default: {workers})")
        c.add_argument("--timeout", type=int, default=None,
                       help=f"seconds allowed per notebook (default: {LIMITS.notebook_timeout:g})")

    c = command("collect", "import submissions (one zip or folder per student)")
    c.description = ("Copy each student's notebooks into submitted/<student>/ASSIGNMENT/ with "
                     "timestamp.txt, and list every file skipped, renamed, upgraded or marked late. "
                     "Links are never followed; a zip of more than 10000 members is refused, and a "
                     "notebook over 64 MiB uncompressed (or past 256 MiB read of one student) is "
                     "not read.")
    assignment_arg(c)
    c.add_argument("inbox", help="folder holding <student>.zip files or <student>/ folders (an LMS "
                                 "export), or nbgrader's exchange inbound folder "
                                 "(<student>+<assignment>+<timestamp>/, the latest per student)")
    progress_arg(c)
    c.set_defaults(run=cmd_collect)

    g = command("grade", "autograde submissions in parallel, sandboxed; skips the students whose "
                         "submission, source and configuration are unchanged since their last grade; "
                         "a student's copied, edited or stripped test cells are restored from the "
                         "instructor's version and a solution written in another cell is found by "
                         "name (each repair is in the feedback and the report); a submission holding a "
                         "symbolic link or a special file (pipe, device) is refused for that student, "
                         "nothing in it followed; student markdown, HTML and outputs are stored inert "
                         "in the autograded notebook, which the formgrader shows")
    assignment_arg(g)
    g.add_argument("--student", action="append",
                   help="grade only this student, even if unchanged (repeatable)")
    g.add_argument("--force", action="store_true",
                   help="grade every submission again, unchanged ones too")
    run_args(g, workers="fork engine one more than the cores, kernel engine the cores")
    progress_arg(g)
    g.add_argument("--engine", choices=("fork", "kernel"), default="fork",
                   help="fork: every exercise decided by the warm sandboxed servers, no notebook "
                        "run (fast); kernel: nbgrader autograde per student, which runs "
                        "each notebook in a sandboxed Jupyter kernel")
    g.add_argument("--cluster", metavar="ADDRESS",
                   help="run phase 1 on the workers of the Dask cluster whose scheduler is at ADDRESS "
                        "(tcp://host:port), each with its own sandboxed servers; the gradebook is "
                        "written here, and only the submissions and the assignment's instructor files "
                        "travel (fork engine only; default: c.Cluster.address in nbgrader_config.py, "
                        "else this machine; 'local': this machine whatever the configuration says)")
    g.add_argument("--run", dest="run_notebooks", action="store_true",
                   help="after every grade is recorded, run each graded notebook for its feedback, "
                        "on this machine, even with --cluster "
                        "(what feedback --run does; never changes a score). Its request to the "
                        "sandbox must fit in one 64 MiB frame: the submission's files go along as "
                        "far as they fit (at most 40 MiB; the report names those left out), and a "
                        "notebook whose cells alone are over the limit is not run, for that "
                        "student only, saying by how much")
    g.add_argument("--due", help=DUE_HELP)
    g.set_defaults(run=cmd_grade)

    f = command("feedback", "feedback HTML for graded students")
    assignment_arg(f)
    f.add_argument("--student", action="append", help="only this student (repeatable)")
    f.add_argument("--run", dest="run_notebooks", action="store_true",
                   help="first run each graded notebook, sandboxed, so the feedback shows the run's "
                        "outputs instead of the student's own (never changes a score)")
    run_args(f)
    progress_arg(f)
    f.set_defaults(run=cmd_feedback)

    e = command("export", "grades.csv, scores.png, report.md and the misconception report",
                course_option=("--root",))
    e.add_argument("assignment", nargs="?", help="the assignment (omit with --course)")
    e.add_argument("--out", help="output folder (default: reports/ASSIGNMENT, or reports/course)")
    e.add_argument("--course", dest="whole_course", action="store_true",
                   help="across every graded assignment: a student x exercise heat map, course.md/.html and "
                        "course_grades.csv for an LMS (the course folder is then given by --root)")
    e.add_argument("--names", action="store_true",
                   help="name students on the shared pages (default: anonymous rows)")
    progress_arg(e)
    e.add_argument("--due", help=DUE_HELP + "; late penalties are computed again for it")
    e.set_defaults(run=cmd_export)

    d = command("demo", "grade the sample class of every assignment the repository ships")
    d.add_argument("--into", default="demo-course", help="where to build the demo course (replaced)")
    d.add_argument("--assignment", action="append",
                   help="only this assignment (repeatable; default: every one)")
    d.add_argument("--workers", type=int, default=None, help="notebooks run at once (default: from the cores)")
    d.set_defaults(run=cmd_demo)

    k = command("kit", "build the student kit (release notebooks, course wheel, pins, README)")
    k.add_argument("--out", default="dist", help="where to write student-kit/ and student-kit.zip")
    k.set_defaults(run=cmd_kit)

    n = command("new", "the skeleton of a new assignment (notebook, declarations, samples, tests)")
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


def environment_bin_first():
    """nbgrader runs helpers (alembic) from PATH: put this environment's bin/ first, as `release`
    does, so the command works without activating the environment."""
    here = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != here:
        os.environ["PATH"] = here + os.pathsep + os.environ.get("PATH", "")


def main(argv=None):
    """Run one command; exit with its code (see EPILOG): a UserError is one line and 2, Ctrl-C
    one line saying what was kept and 130, never a traceback."""
    quiet_library_warnings()
    environment_bin_first()
    args = parser().parse_args(argv)
    try:
        code = args.run(args)
    except UserError as exc:
        print(f"{PROG} {args.command}: {exc}", file=sys.stderr)
        code = EXIT_USAGE
    except (KeyboardInterrupt, Interrupted) as exc:
        kept = str(exc) if isinstance(exc, Interrupted) else KEPT_WHEN_INTERRUPTED.get(args.command, "")
        print(f"\n{PROG} {args.command}: interrupted" + (f": {kept}" if kept else ""), file=sys.stderr)
        code = EXIT_INTERRUPTED
    sys.exit(code)

"""The instructor's command around the grading: the log as the record, exit codes, resume,
one-line errors, Ctrl-C, help, warnings kept out of the progress bars (issue 27, items 1, 5, 8).

Fast: a tiny fake course (one source notebook, a few submitted folders), and `grade` or
nbgrader's API replaced by fakes that write what the real ones would (autograded copies,
feedback pages). The grading itself is tested in test_grading.py; one slow test at the end runs
the real command on three students of 01_tensor_ops.
"""

import csv
import json
import logging
import os
import select
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import nbformat
import pytest

from autograder.instructor import cli, gradelog, grading, nbgrader_api
from autograder.instructor.grading import Outcome, write_log

A = "01_tensor_ops"


def fake_course(tmp_path, students=("ann", "bo")):
    root = tmp_path / "course"
    (root / "source" / A).mkdir(parents=True)
    nbformat.write(nbformat.v4.new_notebook(), str(root / "source" / A / f"{A}.ipynb"))
    (root / "nbgrader_config.py").write_text("c = get_config()\n")
    for student in students:
        submit(root, student, "print('hello')")
    return root


def submit(root, student, source):
    folder = root / "submitted" / student / A
    folder.mkdir(parents=True, exist_ok=True)
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(source))
    nbformat.write(nb, str(folder / f"{A}.ipynb"))


def autograde(root, student, error=None):
    """What recording a student leaves: their autograded copy (with an error, if it failed)."""
    folder = root / "autograded" / student / A
    folder.mkdir(parents=True, exist_ok=True)
    nb = nbformat.v4.new_notebook()
    nb.metadata["autograder"] = {"error": error} if error else {"exercises": {}}
    nbformat.write(nb, str(folder / f"{A}.ipynb"))


class FakeGrade:
    """Stands in for grading.grade: each student graded, or failed with `fail[student]`; records
    who it was asked to grade; `then` runs after the first student (to interrupt, or warn)."""

    def __init__(self, fail=None, then=None):
        self.fail, self.then, self.calls = fail or {}, then, []

    def __call__(self, root, assignment, students=None, **kwargs):
        self.calls.append(list(students))
        outcomes = {}
        for i, student in enumerate(students):
            reason = self.fail.get(student)
            autograde(root, student, reason)
            outcomes[student] = Outcome(student, "error" if reason else "graded", reason or "")
            if i == 0 and self.then:
                self.then()
        return outcomes


def run(argv, capsys):
    """main(argv): (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_:
        cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return exit_.value.code, out, err


def one_line_error(err):
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture
def fake_grade(monkeypatch):
    def install(**kwargs):
        fake = FakeGrade(**kwargs)
        monkeypatch.setattr(grading, "grade", fake)
        return fake
    return install


# ---------------------------------------------------------------------------------------------
# 1. The record: the log merges, the report names everyone (report side: test_report.py)


def test_a_partial_grade_run_keeps_the_other_students_in_the_log(tmp_path):
    root = fake_course(tmp_path, ["ann", "bo", "cy"])
    write_log(root, A, {"ann": Outcome("ann", "graded"), "bo": Outcome("bo", "error", "KeyError: 'grade_id'")})
    write_log(root, A, {"cy": Outcome("cy", "timeout", "too slow")})
    write_log(root, A, {"ann": Outcome("ann", "graded", seconds=2.0)})
    log = gradelog.read_log(root, A)
    assert set(log) == {"ann", "bo", "cy"}
    assert log["bo"]["status"] == "error" and log["bo"]["reason"] == "KeyError: 'grade_id'"
    assert log["cy"]["status"] == "timeout"
    assert log["ann"]["seconds"] == 2.0  # replaced by the latest run
    assert set(log["ann"]["fingerprint"]) == {"submission", "course"}


def test_a_corrupt_log_is_moved_aside_with_a_warning_not_a_crash(tmp_path):
    root = fake_course(tmp_path)
    path = gradelog.log_path(root, A)
    path.parent.mkdir(parents=True)
    path.write_text("{ half a log")
    said = []
    write_log(root, A, {"ann": Outcome("ann", "graded")}, warn=said.append)
    assert list(gradelog.read_log(root, A)) == ["ann"]
    assert (path.parent / "grading_log.json.corrupt-1").read_text() == "{ half a log"
    assert len(said) == 1 and "moved aside" in said[0]


# ---------------------------------------------------------------------------------------------
# 2. Exit codes


def test_grade_exits_1_and_names_the_students_it_could_not_grade(tmp_path, capsys, fake_grade):
    root = fake_course(tmp_path, ["ann", "bo", "cy"])
    fake_grade(fail={"bo": "KeyError: 'grade_id'\nTraceback (most recent call last): ..."})
    code, out, err = run(["--course", root, "grade", A, "--no-progress"], capsys)
    assert code == 1
    assert "bo: error: KeyError: 'grade_id'" in err and "ann" not in err and "Traceback" not in err
    assert "graded 2 of 3" in out
    assert gradelog.read_log(root, A)["bo"]["status"] == "error"


def test_grade_exits_0_when_every_student_is_graded(tmp_path, capsys, fake_grade):
    root = fake_course(tmp_path)
    fake_grade()
    assert run(["grade", A, "--course", root, "--no-progress"], capsys)[0] == 0


class FakeApi:
    """nbgrader's API for generate_feedback: writes the page, or fails for `fail`."""

    def __init__(self, root, fail=()):
        self.root, self.fail, self.asked = root, set(fail), []

    def generate_feedback(self, assignment, student_id=None, force=True):
        self.asked.append(student_id)
        if student_id in self.fail:
            return {"success": False, "error": "Traceback (most recent call last):\n  ...\nValueError: bad cell"}
        page = self.root / "feedback" / student_id / assignment / f"{A}.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text("<html></html>")
        return {"success": True}


def test_feedback_exits_1_naming_the_ungraded_and_the_failed(tmp_path, capsys, monkeypatch):
    root = fake_course(tmp_path, ["ann", "bo", "cy"])
    autograde(root, "ann")
    autograde(root, "bo")
    api = FakeApi(root, fail={"bo"})
    monkeypatch.setattr(nbgrader_api, "make_api", lambda root: api)
    code, out, err = run(["--course", root, "feedback", A, "--no-progress"], capsys)
    assert code == 1
    assert api.asked == ["ann", "bo"]  # cy has no autograded copy: not asked, but named
    assert "bo: nbgrader could not write the feedback: ValueError: bad cell" in err
    assert "cy: never graded" in err and "ann" not in err
    assert "feedback for 1 of 3 students" in out


def test_feedback_of_a_student_never_graded_names_them_without_a_traceback(tmp_path, capsys, monkeypatch):
    root = fake_course(tmp_path)
    autograde(root, "ann")
    monkeypatch.setattr(nbgrader_api, "make_api", lambda root: FakeApi(root))
    code, _, err = run(["--course", root, "feedback", A, "--student", "bo"], capsys)
    assert code == 1 and "bo: never graded" in err and "Traceback" not in err


# ---------------------------------------------------------------------------------------------
# 3. Resume


def test_grade_skips_unchanged_students_and_regrades_what_changed(tmp_path, capsys, fake_grade, monkeypatch):
    root = fake_course(tmp_path, ["ann", "bo", "cy"])
    fake = fake_grade(fail={"cy": "it broke"})
    assert run(["--course", root, "grade", A, "--no-progress"], capsys)[0] == 1
    code, out, _ = run(["--course", root, "grade", A, "--no-progress"], capsys)
    assert fake.calls[-1] == ["cy"], "only the student whose last grading failed"
    assert "skipped 2 student(s) unchanged" in out

    submit(root, "bo", "print('a new version')")
    run(["--course", root, "grade", A, "--no-progress"], capsys)
    assert fake.calls[-1] == ["bo", "cy"]

    (root / "autograded" / "ann").rename(root / "ann-autograded-moved")  # its copy is gone
    run(["--course", root, "grade", A, "--no-progress"], capsys)
    assert fake.calls[-1] == ["ann", "cy"]

    with open(root / "nbgrader_config.py", "a") as f:  # the instructor fixes the course: all again
        f.write("c.SafeExecute.timeout = 5\n")
    run(["--course", root, "grade", A, "--no-progress"], capsys)
    assert fake.calls[-1] == ["ann", "bo", "cy"]

    grader = tmp_path / "grader"  # a fix to the grader's own code (a judge's check): all again
    shutil.copytree(gradelog.GRADER, grader, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(gradelog, "GRADER", grader)
    run(["--course", root, "grade", A, "--no-progress"], capsys)
    assert fake.calls[-1] == ["cy"]
    (grader / "judge" / "exercises" / "tensor_ops.py").write_text("# a fixed check\n", encoding="utf-8")
    run(["--course", root, "grade", A, "--no-progress"], capsys)
    assert fake.calls[-1] == ["ann", "bo", "cy"]

    fake.fail = {}
    run(["--course", root, "grade", A, "--no-progress"], capsys)
    assert fake.calls[-1] == ["cy"]
    calls = len(fake.calls)
    code, out, _ = run(["--course", root, "grade", A, "--no-progress"], capsys)
    assert code == 0 and len(fake.calls) == calls and "nothing to grade" in out
    run(["--course", root, "grade", A, "--no-progress", "--force"], capsys)
    assert fake.calls[-1] == ["ann", "bo", "cy"]
    run(["--course", root, "grade", A, "--no-progress", "--student", "bo"], capsys)
    assert fake.calls[-1] == ["bo"], "--student always regrades"


def test_ctrl_c_keeps_who_was_recorded_and_a_rerun_grades_only_the_rest(tmp_path, capsys, fake_grade):
    root = fake_course(tmp_path, ["ann", "bo", "cy"])

    def interrupt():
        raise KeyboardInterrupt
    fake = fake_grade(then=interrupt)
    code, _, err = run(["--course", root, "grade", A, "--no-progress"], capsys)
    assert code == 130
    line = one_line_error(err)
    assert "interrupted" in line and "1 student(s) graded in this run stay recorded" in line
    assert list(gradelog.read_log(root, A)) == ["ann"]
    fake.then = None
    assert run(["--course", root, "grade", A, "--no-progress"], capsys)[0] == 0
    assert fake.calls[-1] == ["bo", "cy"]


def test_ctrl_c_in_any_command_is_one_line_and_exit_130(tmp_path, capsys, monkeypatch):
    root = fake_course(tmp_path)
    autograde(root, "ann")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(nbgrader_api, "make_api", interrupted)
    code, _, err = run(["--course", root, "feedback", A], capsys)
    assert code == 130 and "already written are kept" in one_line_error(err)


# ---------------------------------------------------------------------------------------------
# 4. One-line errors


@pytest.mark.parametrize("argv, says", [
    (["grade", "99_nothing"], "no assignment '99_nothing'"),
    (["export", "99_nothing"], "no assignment '99_nothing'"),
    (["export", A], "was never graded"),
    (["export"], "name an ASSIGNMENT"),
    (["grade", A, "--student", "zoe"], "no submission of zoe"),
    (["feedback", A], "no student of 01_tensor_ops has been graded"),
])
def test_user_errors_are_one_line_and_exit_2(tmp_path, capsys, argv, says):
    root = fake_course(tmp_path)
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    code, _, err = run(["--course", root, *argv], capsys)
    assert code == 2 and says in one_line_error(err)
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before, "an error changes nothing"


def test_not_a_course_folder_is_one_line_and_exit_2(tmp_path, capsys):
    code, _, err = run(["grade", A, "--course", tmp_path], capsys)
    assert code == 2 and "is not a course folder" in one_line_error(err)


def test_the_environment_bin_goes_first_on_path(tmp_path, capsys, monkeypatch):
    """nbgrader runs alembic from PATH: the command finds it without an activated environment."""
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    run(["grade", A, "--course", tmp_path], capsys)
    assert os.environ["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)


def test_a_server_that_does_not_start_shows_its_log_and_the_likely_cause(tmp_path):
    """The server's own log is read before its scratch folder goes, and its cause is named."""
    from autograder.instructor.grader import ServerLost, ServerProcess

    class NoSandbox:  # runs, instead of the server, what a broken install of the course prints
        available = False

        def wrap(self, cmd):
            lines = [f"line {i}" for i in range(30)] + [
                "Traceback (most recent call last):",
                "ModuleNotFoundError: No module named 'autograder'"]
            return [sys.executable, "-c", f"import sys; sys.stderr.write({chr(10).join(lines)!r}); sys.exit(1)"]

    server = ServerProcess("judge", NoSandbox(), "autograder.judge.server", tmp_path / "judge.log").launch()
    with pytest.raises(ServerLost) as lost:
        server.wait_ready(30)
    text = str(lost.value)
    assert "the judge server did not start" in text
    assert "No module named 'autograder'" in text and "pip install -e ." in text
    assert "line 12" in text and "line 11" not in text, "the last 20 lines of its log, no more"
    assert len(text.splitlines()) <= 23


def test_a_server_lost_mid_run_shows_its_log_without_terminal_escapes(tmp_path):
    """A server that dies after its hello: its message carries its log's tail (what it printed
    as it died), with control characters (terminal escapes) made harmless."""
    from autograder.instructor.grader import ServerLost, ServerProcess

    class Dies:  # says hello as a server would, then dies with a traceback
        available = False

        def wrap(self, cmd):
            code = ("import sys, os; from autograder.protocol import frames; "
                    "from autograder.protocol.messages import Hello; "
                    "frames.send(int(sys.argv[1]), Hello(pid=os.getpid()).to_wire()); "
                    "sys.stderr.write('Traceback (most recent call last):\\n\\x1b]0;owned\\x07Lost: gone\\n'); "
                    "sys.stderr.flush(); os._exit(1)")
            return [sys.executable, "-c", code, cmd[-1]]

    server = ServerProcess("candidate", Dies(), "autograder.candidate.server", tmp_path / "c.log").launch()
    server.wait_ready(30)
    with pytest.raises(ServerLost) as lost:
        while True:
            select.select([server], [], [], 30)
            server.reports()
    text = str(lost.value)
    assert text.startswith("the candidate server exited"), text
    assert "Lost: gone" in text and "\x1b" not in text and "\x07" not in text, text


@pytest.mark.slow
def test_the_servers_import_the_grader_that_runs_them_not_the_installed_copy(tmp_path):
    """A second copy of the course (a fork, a worktree) with the environment's editable install
    still pointing here: its servers start and run its own grader, in the sandbox too."""
    copy = tmp_path / "fork"
    for name in ("autograder", "course"):
        shutil.copytree(gradelog.GRADER.parent / name, copy / name, ignore=shutil.ignore_patterns("__pycache__"))
    script = ("import sys, autograder; assert autograder.__file__.startswith(sys.argv[1]), autograder.__file__\n"
              "from autograder.instructor.grader import Grader\n"
              "g = Grader(sys.argv[2]); g.wait_ready(); print('judge ready', bool(g.curriculum)); g.close()\n")
    proc = subprocess.run([sys.executable, "-c", script, str(copy), str(tmp_path / "scratch")],
                          cwd=copy, env={**os.environ, "PYTHONPATH": str(copy)},
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "judge ready True" in proc.stdout, proc.stderr[-3000:]


def test_grade_reports_a_server_that_does_not_start_in_a_few_lines(tmp_path, capsys, monkeypatch):
    from autograder.instructor.grader import ServerLost
    root = fake_course(tmp_path)

    def lost(*args, **kwargs):
        raise ServerLost("the judge server did not start (Closed: )\nlikely cause: a reason\n"
                         "the last 1 lines of its log:\n  ModuleNotFoundError: No module named 'autograder'")
    monkeypatch.setattr(grading, "grade", lost)
    code, _, err = run(["--course", root, "grade", A], capsys)
    assert code == 2 and "nothing was graded: the judge server did not start" in err
    assert "No module named 'autograder'" in err and "Traceback" not in err


# ---------------------------------------------------------------------------------------------
# 5. The command line


def test_every_argument_has_help_and_the_help_shows_defaults_and_exit_codes(capsys):
    p = cli.parser()
    subparsers = next(a for a in p._actions if a.choices and isinstance(a.choices, dict)).choices
    for name, sub in subparsers.items():
        for action in sub._actions:
            assert action.help, f"{name} {action.dest} has no help text"
    for name in ("grade", "export", "demo"):
        with pytest.raises(SystemExit):
            p.parse_args([name, "--help"])
        text = " ".join(capsys.readouterr().out.split())  # unwrapped
        assert "exit codes:" in text and "130" in text
        if name == "grade":
            assert "(default: fork)" in text
        if name == "demo":
            assert "(default: demo-course)" in text


def test_course_is_accepted_before_or_after_the_command(tmp_path):
    p = cli.parser()
    assert p.parse_args(["--course", "x", "grade", A]).course == "x"
    assert p.parse_args(["grade", A, "--course", "y"]).course == "y"
    assert p.parse_args(["feedback", "--course", "y", A]).course == "y"
    assert p.parse_args(["grade", A]).course == os.getcwd()
    export = p.parse_args(["export", "--course", "--root", "z"])  # export's --course: the whole course
    assert export.whole_course and export.course == "z"


def test_demo_can_be_limited_to_an_assignment(capsys, monkeypatch):
    from autograder.instructor import samples
    asked = []
    monkeypatch.setattr(samples, "run_demo", lambda into, workers=None, only=None: asked.append(only) or 0)
    assert run(["demo", "--assignment", A, "--assignment", "02_autograd"], capsys)[0] == 0
    assert asked == [[A, "02_autograd"]]
    code, _, err = run(["demo", "--assignment", "99_x"], capsys)
    assert code == 2 and "no assignment '99_x'" in one_line_error(err) and len(asked) == 1


def test_warnings_during_grading_go_to_a_log_not_into_the_progress_bar(tmp_path, capsys, fake_grade, monkeypatch):
    root = fake_course(tmp_path)

    def printed(message, category, filename, lineno, file=None, line=None):  # as outside pytest
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))
    monkeypatch.setattr(warnings, "showwarning", printed)
    def library_noise():
        warnings.warn("Notebook JSON is invalid: additional properties", UserWarning)
        logging.getLogger("traitlets").error("Attribute 'checksum' for cell test_x has changed!")
    fake_grade(then=library_noise)
    code, out, err = run(["--course", root, "grade", A], capsys)
    assert code == 0
    assert "Notebook JSON is invalid" not in err + out and "checksum" not in err + out
    logged = (root / "reports" / A / "library.log").read_text()
    assert "Notebook JSON is invalid" in logged and "Attribute 'checksum'" in logged


def test_the_log_entry_holds_the_fingerprint_of_what_was_graded(tmp_path, capsys, fake_grade):
    root = fake_course(tmp_path)
    fake_grade()
    run(["--course", root, "grade", A, "--no-progress"], capsys)
    entry = json.loads(gradelog.log_path(root, A).read_text())["ann"]
    assert entry["fingerprint"] == gradelog.fingerprint(root, A, "ann")


# ---------------------------------------------------------------------------------------------
# End to end: the real command on three students of 01_tensor_ops


@pytest.mark.slow
def test_partial_runs_keep_every_student_and_the_report_names_the_ungraded(tmp_path, capsys):
    """Issue 27's silent zeros: after a full run and a `--student` run, the log still has every
    student; the unchanged are skipped; the one whose submission cannot be graded is named by
    grade (exit 1), by the report and in grades.csv, and is not a zero in the mean."""
    from test_grading import make_course
    course = make_course(tmp_path, ["ada", "cho"], broken=[("zed", "{ this is not json")])
    code, out, err = run(["--course", course, "grade", A, "--no-progress", "--workers", "2"], capsys)
    assert code == 1 and "zed: error" in err and "ada" not in err and "cho" not in err, err

    assert run(["--course", course, "grade", A, "--student", "ada", "--no-progress"], capsys)[0] == 0
    log = gradelog.read_log(course, A)
    assert set(log) == {"ada", "cho", "zed"} and log["zed"]["status"] == "error"

    code, out, err = run(["--course", course, "grade", A, "--no-progress"], capsys)
    assert code == 1 and "skipped 2 student(s) unchanged" in out and "graded 0 of 1" in out

    code, out, err = run(["export", A, "--root", course, "--no-progress"], capsys)
    assert code == 0, err
    md = (course / "reports" / A / "report.md").read_text()
    assert "| zed | error |" in md and "Graded: 2; not graded: 1" in md
    with open(course / "reports" / A / "grades.csv", newline="") as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    assert rows["zed"]["status"] == "error" and rows["zed"]["total"] == ""  # no total: not a zero
    assert rows["ada"]["status"] == "graded" and rows["ada"]["total"] not in ("", "0")

    code, out, err = run(["--course", course, "feedback", A, "--no-progress"], capsys)
    assert (course / "feedback" / "ada" / A / f"{A}.html").is_file()
    assert (course / "feedback" / "cho" / A / f"{A}.html").is_file()
    assert "ada" not in err and "cho" not in err


def test_the_fingerprint_follows_no_link_and_opens_no_pipe(tmp_path):
    """A submission is hostile: a link out of it is hashed as a link, never followed, and a pipe
    in it is never opened (that would block the command)."""
    root = fake_course(tmp_path, ["ann"])
    secret = tmp_path / "secret.txt"
    secret.write_text("one")
    (root / "submitted" / "ann" / A / "data.txt").symlink_to(secret)
    before = gradelog.submission_fingerprint(root, A, "ann")
    secret.write_text("two")
    assert gradelog.submission_fingerprint(root, A, "ann") == before
    (root / "submitted" / "ann" / A / "data.txt").unlink()
    fifo = root / "submitted" / "ann" / A / "pipe"
    os.mkfifo(fifo)  # never opened (it would block)
    assert gradelog.submission_fingerprint(root, A, "ann") != before

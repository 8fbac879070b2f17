"""Nothing a student planted is followed: links and special files in a submission folder.

Before: nbgrader's own copy of a submission (autograde's `init_assignment`, under plain
nbgrader, the grade command's recording step and generate_feedback) followed links as root:
`feedback/` received the next assignment's source, `gradebook.db`, a classmate's notebook and
`/etc/shadow`; a link to `/dev/zero` filled the disk; a link to a pipe hung the run.
Now such a submission is refused for that student alone, with the reason, and nothing in it is
opened (a named pipe with no writer would block whoever opened it: these tests would hang).
"""

import os
import subprocess
import sys

import pytest
from nbgrader.api import Gradebook

from autograder.instructor import samples
from autograder.instructor.grading import grade
from autograder.instructor.planted import refusal
from autograder.instructor.release import nbgrader_env

from conftest import copy_course, nbgrader, release_nb

A = samples.ASSIGNMENT
SECRET = "TOP-SECRET-4f1c"  # the stand-in for /etc/shadow, outside the course


def right():
    return samples.notebook(release_nb(A), samples.solutions()["RIGHT"], lean=True)


def plant(course, secret):
    """An honest student (ada) and one attacker per kind of planted entry: {attacker: what the
    refusal must name}."""
    import nbformat
    sub = course / "submitted"
    ada = sub / "ada" / A
    ada.mkdir(parents=True)
    nbformat.write(right(), str(ada / f"{A}.ipynb"))

    def folder(student):
        path = sub / student / A
        path.mkdir(parents=True)
        nbformat.write(right(), str(path / f"{A}.ipynb"))  # a right notebook: the link must not earn it anything
        return path

    os.symlink(secret, folder("shadow") / "notes.txt")
    os.symlink(course / "gradebook.db", folder("gradebook") / "gradebook.db")
    os.symlink(course / "source", folder("solutions") / "next")  # a folder: the next assignment's source
    os.symlink("/dev/zero", folder("zero") / "data.bin")
    os.mkfifo(folder("stdin") / "input.txt")  # a pipe nobody writes: whoever opens it waits forever
    copier = sub / "copier" / A  # the notebook itself: a classmate's
    copier.mkdir(parents=True)
    os.symlink(ada / f"{A}.ipynb", copier / f"{A}.ipynb")
    (sub / "twin").mkdir()
    os.symlink(ada, sub / "twin" / A)  # the whole submission folder: a classmate's
    os.symlink(sub / "ada", sub / "alias")  # the student folder
    folder("<img src=x onerror=alert(1)>")  # an id the formgrader would put in its page as it is
    return {"shadow": "notes.txt is a symbolic link", "gradebook": "gradebook.db is a symbolic link",
            "solutions": "next is a symbolic link", "zero": "data.bin is a symbolic link",
            "stdin": "input.txt is a named pipe", "copier": f"{A}.ipynb is a symbolic link",
            "twin": f"submitted/twin/{A} is a symbolic link", "alias": "submitted/alias is a symbolic link",
            "<img src=x onerror=alert(1)>": "has characters a web page or a terminal would interpret"}


@pytest.fixture
def course(tmp_path):
    course = copy_course(tmp_path / "course")
    secret = tmp_path / "shadow"
    secret.write_text(SECRET)
    return course, plant(course, secret)


def leaked(course):
    """Files under autograded/ or feedback/ that hold the secret, are links, or are not regular."""
    bad = []
    for step in ("autograded", "feedback"):
        for folder, dirs, files in os.walk(course / step):
            for name in dirs + files:
                path = os.path.join(folder, name)
                if os.path.islink(path):
                    bad.append(f"{path} is a link")
                elif os.path.isfile(path) and SECRET.encode() in open(path, "rb").read():
                    bad.append(f"{path} holds the secret")
    return bad


def full_marks(course, student):
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        grades = gb.find_submission_notebook(A, A, student).grades
        return sum(g.score for g in grades) == sum(g.max_score for g in grades) > 0


def graded_at_all(course, student):
    """Whether nbgrader recorded any score for `student` (a refused submission has none)."""
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        try:
            grades = gb.find_submission_notebook(A, A, student).grades
        except Exception:
            return False
        return any(g.score for g in grades)


def test_refusal_names_every_planted_kind_and_opens_nothing(course, monkeypatch):
    course, expected = course
    sock = course / "submitted" / "ada" / A / "sock"
    import socket
    s = socket.socket(socket.AF_UNIX)
    monkeypatch.chdir(sock.parent)  # a relative name: a deep temporary folder is over AF_UNIX's 108 bytes
    s.bind(sock.name)
    try:
        assert "sock is a socket" in refusal(course, "submitted", "ada", A)
    finally:
        s.close()
        sock.unlink()
    assert refusal(course, "submitted", "ada", A) is None
    for student, named in expected.items():
        reason = refusal(course, "submitted", student, A)
        assert reason and named in reason and "refused" in reason, (student, reason)
    assert refusal(course, "submitted", "nobody", A) is None  # nothing there: nothing to refuse


def test_a_device_node_is_refused(tmp_path):
    folder = tmp_path / "submitted" / "mknod" / A
    folder.mkdir(parents=True)
    try:
        os.mknod(folder / "zero", 0o600 | 0o020000, os.makedev(1, 5))  # a character device: /dev/zero's
    except (PermissionError, OSError):
        pytest.skip("cannot make a device node here")
    assert "zero is a character device" in refusal(tmp_path, "submitted", "mknod", A)


def test_names_are_escaped_in_the_reason(tmp_path):
    folder = tmp_path / "submitted" / "esc" / A
    folder.mkdir(parents=True)
    os.symlink("/etc/passwd", folder / "\x1b[2Jx")
    reason = refusal(tmp_path, "submitted", "esc", A)
    assert "\x1b" not in reason and "\\x1b[2Jx is a symbolic link" in reason


@pytest.mark.slow
def test_plain_nbgrader_refuses_planted_submissions_and_grades_the_others(course):
    course, expected = course
    nbgrader("generate_assignment", A, "--force", cwd=course)
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "autograde", A, "--force"], cwd=course,
                          env=nbgrader_env(), capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0, "the refused students are nbgrader errors"
    for student, named in expected.items():
        assert f"for student '{student}'" in log and named in log, student
        assert not (course / "autograded" / student).exists() or not any((course / "autograded" / student).rglob("*.ipynb"))
        assert not graded_at_all(course, student), student
    assert full_marks(course, "ada")
    assert leaked(course) == []

    # generate_feedback refuses an autograded folder with a link in it, and nothing else
    link = course / "autograded" / "ada" / A / "leak.txt"
    os.symlink(course / "gradebook.db", link)
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "generate_feedback", A, "--force"], cwd=course,
                          env=nbgrader_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0 and "leak.txt is a symbolic link" in proc.stdout + proc.stderr
    assert not (course / "feedback" / "ada" / A / "leak.txt").exists()
    from autograder.instructor.cli import nbgrader_failure
    from autograder.instructor.nbgrader_api import make_api
    why = nbgrader_failure(make_api(course).generate_feedback(A, student_id="ada", force=True))
    assert "leak.txt is a symbolic link" in why, why  # what the feedback command says
    link.unlink()
    nbgrader("generate_feedback", A, "--force", cwd=course)
    assert (course / "feedback" / "ada" / A / f"{A}.html").is_file()
    assert leaked(course) == []


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["fork", "kernel"])
def test_the_grade_command_refuses_planted_submissions_and_grades_the_others(course, engine):
    course, expected = course
    outcomes = grade(course, A, workers=2, notebook_timeout=120, progress=False, engine=engine)
    assert outcomes["ada"].status == "graded", outcomes["ada"]
    for student, named in expected.items():
        assert outcomes[student].status == "error" and named in outcomes[student].reason, outcomes[student]
        assert not graded_at_all(course, student), student
    assert full_marks(course, "ada")
    assert leaked(course) == []


# ---------------------------------------------------------------------------------------------
# Nothing a student wrote runs in the formgrader: the autograded notebook is stored inert.

HOSTILE_MARKDOWN = ("<script>alert('pwn-mdcell')</script> [x](javascript:alert('pwn-mdlink')) "
                    "<img src=x onerror=alert('pwn-mdimg')>\n\n"
                    "<script>\n\n[y](javascript:alert('pwn-second-pass'))\n\n</script>")
HOSTILE_CODE = """from IPython.display import HTML, Javascript, Markdown, display
display(HTML("<script>alert('pwn-html')</script><b>bold</b>"))
display(Javascript("alert('pwn-js')"))
display({"image/svg+xml": "<svg xmlns='http://www.w3.org/2000/svg'><script>alert('pwn-svg')</script></svg>"}, raw=True)
display({"image/png": "iVBORw0KGgo=", "text/plain": "img"}, raw=True,
        metadata={"image/png": {"width": "1 onerror=alert('pwn-width')"}})
display(Markdown("[click](javascript:alert('pwn-mdout'))"))
"""


def hostile_outputs():
    """What HOSTILE_CODE displays, as a notebook file holds it (the fork engine keeps them)."""
    import nbformat
    out = nbformat.v4.new_output
    return [out("display_data", data={"text/html": "<script>alert('pwn-html')</script><b>bold</b>",
                                      "text/plain": "<HTML>"}),
            out("display_data", data={"application/javascript": "alert('pwn-js')", "text/plain": "<JS>"}),
            out("display_data", data={"image/svg+xml": "<svg><script>alert('pwn-svg')</script></svg>"}),
            out("display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "img"},
                metadata={"image/png": {"width": "1 onerror=alert('pwn-width')"}}),
            out("display_data", data={"image/jpeg": "x\" onerror=\"alert('pwn-jpeg')"}),
            out("display_data", data={"text/markdown": "[click](javascript:alert('pwn-mdout'))"})]


def hostile_notebook():
    import nbformat
    nb = right()
    code = nbformat.v4.new_code_cell(HOSTILE_CODE)
    code.outputs = hostile_outputs()
    nb.cells[1:1] = [nbformat.v4.new_markdown_cell(HOSTILE_MARKDOWN), code]
    return nb


def as_formgrader_renders(path):
    """The autograded notebook at `path` rendered as nbgrader's formgrader renders it (its
    HTMLExporter, template and resources)."""
    from nbconvert.exporters import HTMLExporter
    from nbgrader.server_extensions.formgrader import handlers
    from traitlets.config import Config
    c = Config()
    c.HTMLExporter.template_name = "formgrade"
    c.HTMLExporter.extra_template_basedirs = [handlers.template_path]
    resources = {"assignment_id": A, "notebook_id": A, "submission_id": "s", "index": 0, "total": 1,
                 "base_url": "", "student": "vic", "last_name": None, "first_name": None, "notebook_path": ""}
    return HTMLExporter(config=c).from_filename(str(path), resources=resources)[0]


def runnable(html):
    """Whatever of the student's could run in the page: scripts, event handlers, javascript: links."""
    import re
    found = [s for s in re.findall(r"<script[^>]*>(.*?)</script>", html, flags=re.S) if "pwn" in s]
    found += [t for t in re.findall(r"<[a-z]+[^>]*\son[a-z]+\s*=[^>]*>", html) if "pwn" in t]
    found += re.findall(r"""href\s*=\s*["']?\s*javascript:[^>]*""", html, flags=re.I)
    found += re.findall(r"<svg", html)
    return found


def test_the_stored_notebook_is_inert_as_the_formgrader_renders_it(tmp_path):
    import nbformat

    from autograder.instructor.preprocessors import SanitizeStudentContent
    path = tmp_path / f"{A}.ipynb"
    nbformat.write(hostile_notebook(), str(path))
    assert len(runnable(as_formgrader_renders(path))) >= 6  # the attacks work on the raw notebook
    nb = nbformat.read(str(path), as_version=4)
    tests = {i: c.outputs for i, c in enumerate(nb.cells) if c.cell_type == "code" and "test_" in str(c.metadata)}
    nb, _ = SanitizeStudentContent().preprocess(nb, {})
    nbformat.write(nb, str(path))
    html = as_formgrader_renders(path)
    assert runnable(html) == []
    assert "<b>bold</b>" in html and "click" in html and "iVBORw0KGgo=" in html  # harmless content stays
    assert {i: nb.cells[i].outputs for i in tests} == tests  # what nbgrader scores is untouched
    nb2, _ = SanitizeStudentContent().preprocess(nb, {})  # sanitizing what is already inert: still inert
    nbformat.write(nb2, str(path))
    assert runnable(as_formgrader_renders(path)) == []


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["fork", "nbgrader"])
def test_a_hostile_notebook_is_stored_inert_and_keeps_its_marks(tmp_path, engine):
    """Both paths that write autograded/ (the grade command's recording step, plain nbgrader),
    then the feedback run, which writes fresh outputs into the autograded copy."""
    import nbformat

    from autograder.instructor.nbgrader_api import make_api
    from autograder.instructor.rerun import run_feedback
    course = copy_course(tmp_path / "course")
    folder = course / "submitted" / "vic" / A
    folder.mkdir(parents=True)
    nbformat.write(hostile_notebook(), str(folder / f"{A}.ipynb"))
    autograded = course / "autograded" / "vic" / A / f"{A}.ipynb"
    if engine == "fork":
        outcomes = grade(course, A, workers=1, notebook_timeout=120, progress=False)
        assert outcomes["vic"].status == "graded", outcomes["vic"]
    else:
        nbgrader("generate_assignment", A, "--force", cwd=course)
        nbgrader("autograde", A, "--force", cwd=course)
    assert full_marks(course, "vic")
    assert runnable(as_formgrader_renders(autograded)) == []
    assert make_api(course).generate_feedback(A, student_id="vic", force=True).get("success")
    assert runnable((course / "feedback" / "vic" / A / f"{A}.html").read_text()) == []
    if engine == "fork":
        ran = run_feedback(course, A, workers=1, notebook_timeout=120, progress=False)
        assert ran["vic"].status == "run", ran["vic"]
        assert nbformat.read(str(autograded), as_version=4).metadata["autograder"]["outputs"] == "run"
        assert runnable(as_formgrader_renders(autograded)) == []
        assert full_marks(course, "vic")


# ---------------------------------------------------------------------------------------------
# collect: zip members read within limits, whatever a zip claims.

def notebook_bytes():
    import nbformat
    return nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1", id="a1")])).encode()


def bomb(path, size=512 << 20):
    """A zip of about 500 KiB whose one notebook is `size` bytes of spaces once inflated."""
    import zipfile
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open(f"{A}.ipynb", "w") as fh:
            chunk = b" " * (1 << 20)
            for _ in range(size >> 20):
                fh.write(chunk)


def lie_about_size(path, size):
    """Make the zip's central directory declare `size` bytes for its first member (zipfile reads
    a member up to its declared size)."""
    import struct
    data = bytearray(path.read_bytes())
    at = data.rindex(b"PK\x01\x02")
    data[at + 24:at + 28] = struct.pack("<I", size)
    path.write_bytes(bytes(data))


def collect_measured(inbox, course):
    """(report, peak bytes Python allocated while collecting)."""
    import tracemalloc

    from autograder.instructor.collect import collect
    tracemalloc.start()
    try:
        report = collect(inbox, course, A, [A])
        return report, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_zip_bomb_is_refused_without_being_inflated(tmp_path):
    import zipfile
    inbox, course = tmp_path / "inbox", tmp_path / "course"
    inbox.mkdir()
    bomb(inbox / "mallory.zip")
    assert (inbox / "mallory.zip").stat().st_size < 600 << 10
    (inbox / "liar.zip").write_bytes((inbox / "mallory.zip").read_bytes())
    lie_about_size(inbox / "liar.zip", len(notebook_bytes()))  # says small, inflates to 512 MiB
    with zipfile.ZipFile(inbox / "ada.zip", "w") as zf:
        zf.writestr(f"{A}.ipynb", notebook_bytes())
        zf.writestr("\x1b[2Jnotes.ipynb", notebook_bytes())  # a name that would clear the terminal
    report, peak = collect_measured(inbox, course)
    assert peak < 16 << 20, f"collect allocated {peak / 2**20:.0f} MiB"
    assert [c.student for c in report.collected] == ["ada"]
    problems = {(p.student, p.kind): p.detail for p in report.problems}
    assert "512.0 MiB uncompressed, over 64 MiB" in problems["mallory", "unreadable"]
    assert "unreadable" == next(p.kind for p in report.problems if p.student == "liar")  # its CRC fails
    assert "\x1b" not in report.summary() and "\\x1b[2Jnotes.ipynb" in report.summary()
    assert not (course / "submitted" / "mallory").exists() and not (course / "submitted" / "liar").exists()


def test_a_zip_with_too_many_members_is_refused_whole(tmp_path):
    import zipfile

    from autograder.instructor.collect import MAX_MEMBERS
    inbox, course = tmp_path / "inbox", tmp_path / "course"
    inbox.mkdir()
    with zipfile.ZipFile(inbox / "many.zip", "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(f"{A}.ipynb", notebook_bytes())
        for i in range(MAX_MEMBERS):
            zf.writestr(f"f{i}", b"")
    with zipfile.ZipFile(inbox / "ada.zip", "w") as zf:
        zf.writestr(f"{A}.ipynb", notebook_bytes())
    report, _ = collect_measured(inbox, course)
    assert [c.student for c in report.collected] == ["ada"]
    detail = next(p.detail for p in report.problems if p.student == "many")
    assert f"{MAX_MEMBERS + 1} members, more than the {MAX_MEMBERS}" in detail


def test_the_resume_fingerprint_never_walks_a_linked_submission_folder(tmp_path):
    """`grade` fingerprints every submission before grading: a submission folder that is a link
    (to `/`, say) was walked whole."""
    from autograder.instructor import gradelog
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "x").write_text("one")
    (tmp_path / "submitted" / "eve").mkdir(parents=True)
    os.symlink(elsewhere, tmp_path / "submitted" / "eve" / A)
    os.symlink(elsewhere, tmp_path / "submitted" / "alias")
    before = [gradelog.submission_fingerprint(tmp_path, A, s) for s in ("eve", "alias")]
    (elsewhere / "x").write_text("two")
    assert [gradelog.submission_fingerprint(tmp_path, A, s) for s in ("eve", "alias")] == before

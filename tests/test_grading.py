"""The grade command on a gallery of honest, wrong, faulty and cheating submissions.

The whole sample class (autograder/samples.py) is graded in one parallel run, together with
broken files; every student must get the verdict and the score their submission deserves, the
report must say why, and the honest students must get exactly the grades they get when graded
alone.
"""

import csv
import json
import re
import shutil
import time

import nbformat
import pytest
from nbgrader.api import Gradebook

from autograder.instructor import misconceptions, samples
from autograder.instructor.curriculum import exercise_of
from autograder.instructor.grading import grade
from autograder.instructor.sandbox import bwrap_works

from conftest import ASSIGNMENTS, CURRICULUM, copy_course, gradebook_dump, sample_course

pytestmark = pytest.mark.slow

A = samples.ASSIGNMENT
EXERCISES = list(CURRICULUM[A])
HONEST = samples.HONEST
FAST_LIMITS = "\nc.SafeExecute.timeout = 10\nc.VerifyExercises.time_limit = 10\n"
# The later classes have no student that hangs, so a limit that no busy machine reaches costs nothing.
LATER_LIMITS = "\nc.SafeExecute.timeout = 60\nc.VerifyExercises.time_limit = 60\n"


def make_course(path, students, broken=()):
    return sample_course(path / "course", students, FAST_LIMITS, broken)


def verdicts_of(course, student):
    nb = nbformat.read(str(course / "autograded" / student / A / f"{A}.ipynb"), as_version=4)
    return nb, nb.metadata.get("autograder", {})


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    students = list(samples.SAMPLE_CLASS)
    broken = [("zed_invalid_json", "{ this is not json"), ("yan_empty", "")]
    course = make_course(tmp_path_factory.mktemp("class"), students, broken)
    outcomes = grade(course, A, workers=2, notebook_timeout=300, progress=False, run=True)
    return course, outcomes


@pytest.mark.parametrize("student", list(samples.SAMPLE_CLASS))
def test_every_student_gets_the_grade_they_deserve(graded_class, student):
    course, outcomes = graded_class
    if student == "jon" and not bwrap_works():
        pytest.skip("without bubblewrap the solutions on disk are readable (graded unsandboxed)")
    assert outcomes[student].status == "graded", outcomes[student]
    nb, meta = verdicts_of(course, student)
    assert meta["sandboxed"] == bwrap_works()
    expected = samples.expected_verdicts(student, EXERCISES)
    got = {ex: meta["exercises"][ex]["status"] for ex in EXERCISES}
    assert got == expected, {ex: meta["exercises"][ex]["message"][:300] for ex in EXERCISES if got[ex] != expected[ex]}
    named = samples.expected_mistakes(student, EXERCISES)
    assert {ex: meta["exercises"][ex].get("mistake") for ex in named} == named, \
        {ex: meta["exercises"][ex]["message"][:300] for ex in named}

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        grades = gb.find_submission_notebook(A, A, student).grades
        for g in grades:
            ex = exercise_of(g.name, A)
            if ex:
                want = g.max_score if expected[ex] == "pass" else 0
                assert g.score == want, f"{g.name}: {g.score} points, expected {want}"

    for cell in nb.cells:
        meta_cell = cell.metadata.get("autograder")
        if meta_cell and meta_cell["status"] != "pass":
            text = json.dumps(cell.outputs)
            assert meta_cell["message"][:60].split("\n")[0] in text, "the feedback must say why"
            assert "BEGIN HIDDEN TESTS" not in text and 'hidden_tests("' not in text


@pytest.mark.parametrize("assignment", ASSIGNMENTS[1:])
def test_the_sample_class_of_every_later_assignment_gets_what_it_deserves(assignment, tmp_path):
    """The smaller class shipped for each later assignment: every verdict as declared, scores to
    match, and a message in the feedback of every exercise that lost its points."""
    course = copy_course(tmp_path / "course")
    with open(course / "nbgrader_config.py", "a") as f:
        f.write(LATER_LIMITS)
    release = nbformat.read(str(course / "release" / assignment / f"{assignment}.ipynb"), as_version=4)
    notebooks = samples.build_notebooks(release, lean=True, assignment=assignment)
    for student, nb in notebooks.items():
        folder = course / "submitted" / student / assignment
        folder.mkdir(parents=True)
        nbformat.write(nb, str(folder / f"{assignment}.ipynb"))
    outcomes = grade(course, assignment, workers=2, notebook_timeout=300, progress=False)
    exercises = list(CURRICULUM[assignment])
    problems = []
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for student in notebooks:
            assert outcomes[student].status == "graded", outcomes[student]
            path = course / "autograded" / student / assignment / f"{assignment}.ipynb"
            meta = nbformat.read(str(path), as_version=4).metadata["autograder"]["exercises"]
            expected = samples.expected_verdicts(student, exercises, assignment)
            got = {ex: meta[ex]["status"] for ex in exercises}
            if got != expected:
                problems.append(f"{student}: {got} != {expected}: "
                                + "; ".join(meta[ex]["message"][:200] for ex in exercises if got[ex] != expected[ex]))
            for g in gb.find_submission_notebook(assignment, assignment, student).grades:
                ex = exercise_of(g.name, assignment)
                if ex and g.score != (g.max_score if expected[ex] == "pass" else 0):
                    problems.append(f"{student}: {g.name} scored {g.score}/{g.max_score}, expected {expected[ex]}")
    assert not problems, "\n".join(problems)
    assert_counted_as_built(course, assignment, exercises, tmp_path / "report")


def assert_counted_as_built(course, assignment, exercises, out):
    """The misconception report counts, exercise by exercise, the mistakes the sample students
    were built with (samples.expected_mistake_counts), and names none of them."""
    tally = misconceptions.build(course, assignment, out)
    want = samples.expected_mistake_counts(exercises, assignment)
    got = {ex: {"named": dict(tally.named[ex]), "unexplained": tally.unexplained[ex],
                "not_attempted": tally.not_attempted[ex]} for ex in exercises}
    assert got == want
    pages = (out / "misconceptions.md").read_text() + (out / "misconceptions.html").read_text()
    assert 'src="data:image/png;base64,' in pages
    named = [s for s in samples.sample_class(assignment) if re.search(rf"\b{s}\b", pages)]
    assert not named, f"the shared pages name students: {named}"


def test_the_misconception_report_counts_what_the_class_was_built_with(graded_class, tmp_path):
    course, _ = graded_class
    if not bwrap_works():
        pytest.skip("without bubblewrap jon reads the solutions: his verdict differs")
    assert_counted_as_built(course, A, EXERCISES, tmp_path / "report")
    md = (tmp_path / "report" / "misconceptions.md").read_text()
    top = samples.expected_mistakes("cho", EXERCISES)["row_normalize"]
    assert "## Re-teach first" in md and f"**{top}**" in md
    assert f"](../../release/{A}/{A}.ipynb#" in md  # each re-taught mistake links to its section


def test_named_mistakes_are_in_the_log_and_the_formgrader_not_the_feedback(graded_class):
    """cho's two mistakes: in the grading log and as the gradebook's comment on the exercise's
    solution cell (the formgrader shows it); her feedback says them in words only."""
    from autograder.instructor.grading import write_log
    from autograder.instructor.nbgrader_api import make_api
    course, outcomes = graded_class
    log = json.loads(write_log(course, A, outcomes).read_text())
    named = samples.expected_mistakes("cho", EXERCISES)
    assert {ex: log["cho"]["exercises"][ex]["mistake"] for ex in named} == named
    assert all(v["mistake"] is None for v in log["ada"]["exercises"].values())
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        comments = {c.name: c.auto_comment for c in gb.find_submission_notebook(A, A, "cho").comments}
    for ex, mistake in named.items():
        assert mistake in (comments[ex] or ""), comments
    assert make_api(course).generate_feedback(A, student_id="cho", force=True).get("success")
    feedback = (course / "feedback" / "cho" / A / f"{A}.html").read_text()
    assert not any(m in feedback for m in named.values()) and "Autograder: " not in feedback
    assert "Likely mistake" in feedback


def test_the_course_export_anonymous_heat_map_and_lms_csv(graded_class, tmp_path):
    course, _ = graded_class
    grades = misconceptions.build_course(course, tmp_path / "course")
    rows = list(csv.reader(grades.open()))
    assert rows[0] == ["student", A, "total"] and rows[1][0] == "Points Possible"
    assert {r[0] for r in rows[2:]} >= set(samples.SAMPLE_CLASS)
    page = (tmp_path / "course" / "course.html").read_text()
    assert 'src="data:image/png;base64,' in page and (tmp_path / "course" / "heatmap.png").stat().st_size > 10_000
    assert "ada" not in (tmp_path / "course" / "course.md").read_text()
    misconceptions.build_course(course, tmp_path / "named", names=True)


def test_violations_are_reported_for_the_students_who_caused_them(graded_class):
    """Forged frames, leftover processes: flagged on the student who did it, nobody else."""
    course, outcomes = graded_class
    flagged = {s for s, o in outcomes.items() if o.timings.get("violations")}
    assert {"quin", "rex", "uma"} <= flagged, {s: o.timings.get("violations") for s, o in outcomes.items()}
    assert not flagged & {"ada", "ben", "cho", "ned", "oli"}, flagged
    assert any("left running" in v for v in outcomes["uma"].timings["violations"])


def test_feedback_is_safe_to_open(graded_class):
    """A student's outputs and markdown carry scripts; the feedback HTML runs none of them."""
    from autograder.instructor.nbgrader_api import make_api
    course, _ = graded_class
    result = make_api(course).generate_feedback(A, student_id="vic", force=True)
    assert result.get("success"), result
    import re
    html = (course / "feedback" / "vic" / A / f"{A}.html").read_text()
    scripts = re.findall(r"<script[^>]*>(.*?)</script>", html, flags=re.S)
    assert not [s for s in scripts if "pwned" in s], "a student's script reached the feedback"
    assert not re.search(r"<[a-z]+[^>]*\son[a-z]+\s*=", html), "an event handler reached the feedback"
    assert 'href="javascript:' not in html
    assert "pwned-by-print" in html  # shown, escaped, as the text it is
    assert "BEGIN HIDDEN TESTS" not in html


def test_broken_files_are_reported_and_do_not_stop_the_others(graded_class):
    course, outcomes = graded_class
    for student in ("zed_invalid_json", "yan_empty"):
        assert outcomes[student].status == "error"
        assert outcomes[student].reason
    assert all(outcomes[s].status == "graded" for s in samples.SAMPLE_CLASS)


def test_honest_students_get_the_same_grades_when_graded_alone(graded_class, tmp_path):
    course, _ = graded_class
    alone = make_course(tmp_path, HONEST)
    grade(alone, A, workers=1, notebook_timeout=300, progress=False)
    assert gradebook_dump(alone, HONEST) == gradebook_dump(course, HONEST)


def test_grading_again_gives_the_same_gradebook(graded_class, tmp_path):
    course, _ = graded_class
    again = tmp_path / "again"
    shutil.copytree(course, again)
    grade(again, A, students=["ada", "eve", "kim"], workers=2, notebook_timeout=300, progress=False)
    assert gradebook_dump(again, list(samples.SAMPLE_CLASS)) == gradebook_dump(course, list(samples.SAMPLE_CLASS))


def test_many_submissions_with_two_workers_match_grading_one_by_one(tmp_path):
    students = samples.mixed_class(16)
    courses = []
    for name, workers in (("parallel", 2), ("one_by_one", 1)):
        course = copy_course(tmp_path / name)
        with open(course / "nbgrader_config.py", "a") as f:
            f.write(FAST_LIMITS)
        release = nbformat.read(str(course / "release" / A / f"{A}.ipynb"), as_version=4)
        for student, (_, code) in students.items():
            folder = course / "submitted" / student / A
            folder.mkdir(parents=True)
            nbformat.write(samples.notebook(release, code, lean=True), str(folder / f"{A}.ipynb"))
        outcomes = grade(course, A, workers=workers, notebook_timeout=300, progress=False)
        assert all(o.status == "graded" for o in outcomes.values()), outcomes
        courses.append(course)
    assert gradebook_dump(courses[0], list(students)) == gradebook_dump(courses[1], list(students))


def test_the_kernel_engine_gives_the_same_grades(graded_class, tmp_path):
    """Plain nbgrader's machinery (a sandboxed Jupyter kernel per notebook) and the fork engine
    agree, on honest work and on the tricky cases: a blanked test, a dead kernel, a cheat, an
    infinite loop (which the fork engine does not run to its cell limit)."""
    course, _ = graded_class
    tricky = ["ada", "fay", "kim", "eve", "lee", "rex", "uma"]
    kernel = make_course(tmp_path, tricky)
    grade(kernel, A, workers=2, notebook_timeout=300, progress=False, engine="kernel")
    assert gradebook_dump(kernel, tricky) == gradebook_dump(course, tricky)
    for student in tricky:
        statuses = {ex: v["status"] for ex, v in verdicts_of(kernel, student)[1]["exercises"].items()}
        assert statuses == {ex: v["status"] for ex, v in verdicts_of(course, student)[1]["exercises"].items()}


SLOW_BUT_CORRECT = """import time
_warmed_up = []

def row_normalize(x):
    if not _warmed_up:  # 2.5 s of CPU on the first call in each process, then correct and fast
        start = time.process_time()
        while time.process_time() - start < 2.5:
            pass
        _warmed_up.append(True)
    return x / x.sum(dim=1, keepdim=True)"""


def test_a_busy_machine_does_not_time_out_a_slow_but_correct_solution(tmp_path):
    """Time limits count a child's own time, not time spent waiting for a CPU: five students
    whose solution needs 2.5 s of CPU on its first call pass 3 s limits, in the clean check and
    in the notebook, though they share the cores (each takes longer than 3 s of wall-clock
    time)."""
    slow = [f"slow{i}" for i in range(5)]
    course = make_course(tmp_path, [])
    with open(course / "nbgrader_config.py", "a") as f:
        f.write("\nc.VerifyExercises.time_limit = 3\nc.SafeExecute.timeout = 3\n")
    release = nbformat.read(str(course / "release" / A / f"{A}.ipynb"), as_version=4)
    nb = samples.notebook(release, {**samples.solutions()["RIGHT"], "row_normalize": SLOW_BUT_CORRECT}, lean=True)
    for student in slow:
        folder = course / "submitted" / student / A
        folder.mkdir(parents=True)
        nbformat.write(nb, str(folder / f"{A}.ipynb"))
    outcomes = grade(course, A, notebook_timeout=300, progress=False, run=True)
    for student in slow:
        assert outcomes[student].status == "graded"
        verdicts = verdicts_of(course, student)[1]["exercises"]
        assert {ex: v["status"] for ex, v in verdicts.items()} == {ex: "pass" for ex in EXERCISES}
        nb = verdicts_of(course, student)[0]
        assert not any(o.get("ename") == "KeyboardInterrupt" for c in nb.cells for o in c.get("outputs", [])), \
            "a cell was interrupted by its time limit"


def test_grading_stopped_midway_leaves_the_gradebook_as_it_was(graded_class, tmp_path, monkeypatch):
    """Ctrl-C (or any error) in phase 1: students already recorded keep their new record, the
    others keep their old one."""
    import autograder.instructor.engine as engine
    course, _ = graded_class
    again = tmp_path / "again"
    shutil.copytree(course, again)
    before = gradebook_dump(again, list(samples.SAMPLE_CLASS))

    def interrupted(self):
        self.done("ada", "error", "stopped for the test")
        deadline = time.monotonic() + 60
        while not recorded_as_error("ada") and time.monotonic() < deadline:
            time.sleep(0.1)
        raise KeyboardInterrupt

    def recorded_as_error(student):
        path = again / "autograded" / student / A / f"{A}.ipynb"
        try:
            return "error" in nbformat.read(str(path), as_version=4).metadata.get("autograder", {})
        except (OSError, ValueError):  # not there yet, or being written
            return False

    monkeypatch.setattr(engine.Phase1, "run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        grade(again, A, workers=2, notebook_timeout=300, progress=False)
    after = gradebook_dump(again, list(samples.SAMPLE_CLASS))
    assert after.pop("ada") != before.pop("ada")  # recorded: its notebook was never run
    assert after == before


def lose_the_server(monkeypatch, times):
    """The grading servers are killed at their first `times` answers."""
    from autograder.instructor import grader as servers
    real, lost = servers.Grader.events, []

    def events(self, timeout):
        found = real(self, timeout)
        if found and len(lost) < times:
            lost.append(found[0])
            self.servers["candidate"].close()
            raise servers.ServerLost("killed for the test")
        return found

    monkeypatch.setattr(servers.Grader, "events", events)
    return lost


def test_a_server_that_dies_is_replaced_and_its_notebooks_graded_again(tmp_path, monkeypatch):
    course = make_course(tmp_path, ["ada", "cho"])
    lost = lose_the_server(monkeypatch, times=1)
    outcomes = grade(course, A, notebook_timeout=300, progress=False)
    assert lost
    for student in ("ada", "cho"):
        assert outcomes[student].status == "graded", outcomes[student]
        statuses = {ex: v["status"] for ex, v in verdicts_of(course, student)[1]["exercises"].items()}
        assert statuses == samples.expected_verdicts(student, EXERCISES)


def test_a_notebook_whose_server_dies_twice_is_an_error_not_a_hang(tmp_path, monkeypatch):
    course = make_course(tmp_path, ["ada"])
    lose_the_server(monkeypatch, times=2)
    outcomes = grade(course, A, notebook_timeout=300, progress=False)
    assert outcomes["ada"].status == "error"
    assert "died twice" in outcomes["ada"].reason

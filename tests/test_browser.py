"""The course as students and instructors see it: JupyterLab in a real browser.

Playwright for Python drives Debian's Chromium (launched by its path: Playwright's own browser
download is not used) against JupyterLab served on localhost from a temporary copy of the
course, with a token, a free port and settings of its own (parallel-safe under `pytest -n 2`):

- every release notebook, opened and run with Run > Run All Cells: every cell runs, the only
  errors shown are the stubs' NotImplementedError in the graded test cells, plots show, progress
  bars fill, every widget's controls are labelled and moving one changes what it shows;
- Korean renders (the glossary's Hangul is drawn with real glyphs, not empty boxes);
- Validate on a notebook with one exercise solved lists exactly the unsolved exercises' tests;
- the course root opened as an instructor shows nbgrader's formgrader with every assignment.

The Validate dialog and the formgrader are the README's screenshots: `make screenshots` runs
these tests with COURSE_SCREENSHOTS=docs to keep them there.

Without Chromium (or Playwright) the tests are skipped, saying why; `make setup` installs
Chromium with apt-get when run as root. CI sets COURSE_REQUIRE_BROWSER=1 (.ci/run), which turns
that skip into a failure.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from autograder.instructor import samples
from autograder.instructor.preprocessors.tag_test_cells import is_test_cell
from autograder.instructor.release import nbgrader_env

from conftest import ASSIGNMENTS, CURRICULUM, ROOT, release_nb

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("COURSE_CHROMIUM", "/usr/bin/chromium")
REQUIRED = os.environ.get("COURSE_REQUIRE_BROWSER") == "1"
SHOTS = os.environ.get("COURSE_SCREENSHOTS")  # a folder: keep the README's screenshots there
# Without the background-networking flags Chromium's own connections are refused by a closed
# network and slow everything down; the profile is a new empty folder per run.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1400, "height": 900}
HANGUL = re.compile("[\uac00-\ud7a3]")
RUN_ALL_SECONDS = 600  # a busy 2-core machine; a quiet one runs 01 in about 10 s
STOPPED_SECONDS = 10   # nothing queued and the kernel idle this long: Run All has stopped
IDLE = re.compile(r"\| Idle$")
# JupyterLab renders both error outputs and stderr streams with this MIME type.
STDERR = ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
CONTROL = "input[type=text], textarea, select, input[type=checkbox], .noUi-handle, input[type=number]"


def _no_browser_reason():
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return f"Playwright for Python is not installed ({exc}); `make setup` installs it"
    if not os.access(CHROMIUM, os.X_OK):
        return (f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium; `make setup` does it "
                "when run as root; COURSE_CHROMIUM=/path/to/chromium picks another)")
    return None


def skip_or_fail(reason):
    if REQUIRED:
        pytest.fail(f"the browser tests must run here (COURSE_REQUIRE_BROWSER=1) but {reason}")
    pytest.skip(f"browser tests skipped: {reason}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- JupyterLab


class Lab:
    """JupyterLab serving `root` (and run from it, as `jupyter lab` run in a folder would be)."""

    def __init__(self, root, home):
        self.root, self.home = Path(root), Path(home)
        self.port, self.token = free_port(), "browser-test-" + os.urandom(8).hex()
        settings = self.home / "settings" / "@jupyterlab"
        for plugin, values in {
            # every cell in the page (no virtual scrolling), so each can be found and checked
            "notebook-extension/tracker": {"windowingMode": "none"},
            # no "would you like news?" toast, no update check: nothing goes out
            "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
        }.items():
            path = settings / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values))
        env = nbgrader_env()  # nbgrader's formgrader runs alembic from the environment's bin/
        env.pop("MPLBACKEND", None)  # kernels draw inline, as in `make lab`
        for var, sub in (("JUPYTERLAB_SETTINGS_DIR", "settings"), ("JUPYTERLAB_WORKSPACES_DIR", "workspaces"),
                         ("JUPYTER_RUNTIME_DIR", "runtime"), ("JUPYTER_CONFIG_DIR", "config"),
                         ("IPYTHONDIR", "ipython")):
            (self.home / sub).mkdir(exist_ok=True)
            env[var] = str(self.home / sub)
        self.log = self.home / "jupyterlab.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
             f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}", "--allow-root",
             "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
            cwd=self.root, env=env, stdout=open(self.log, "w"), stderr=subprocess.STDOUT,
            start_new_session=True)
        deadline = time.monotonic() + 180
        while True:
            assert self.proc.poll() is None, f"JupyterLab exited:\n{self.log.read_text()[-3000:]}"
            try:
                with urllib.request.urlopen(self.url("api/status"), timeout=5):
                    break
            except OSError:
                assert time.monotonic() < deadline, f"JupyterLab did not answer:\n{self.log.read_text()[-3000:]}"
                time.sleep(0.5)

    def url(self, path):
        return f"http://127.0.0.1:{self.port}/{path}?token={self.token}"

    def notebook_url(self, relative):
        """A notebook in a workspace of its own: no tab of an earlier page is restored."""
        return self.url(f"lab/workspaces/w{os.urandom(4).hex()}/tree/{relative}")

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """A Chromium context (a new empty profile), or a skip that says why there is none."""
    reason = _no_browser_reason()
    if reason:
        skip_or_fail(reason)
    from playwright.sync_api import Error, sync_playwright
    with sync_playwright() as p:
        try:
            context = p.chromium.launch_persistent_context(
                str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM,
                args=CHROMIUM_ARGS, viewport=VIEWPORT)
        except Error as exc:
            skip_or_fail(f"Chromium at {CHROMIUM} does not start: {str(exc)[:500]}")
        context.set_default_timeout(60_000)
        yield context
        context.close()


@pytest.fixture
def page(browser):
    page = browser.new_page()
    yield page
    page.close()


@pytest.fixture(scope="module")
def student_lab(tmp_path_factory, browser):
    """JupyterLab on a copy of release/ (what `make lab` and the kit show), plus solved/: the
    first assignment with its first exercise solved (the source notebook's solution), for Validate."""
    course = tmp_path_factory.mktemp("student")
    shutil.copytree(ROOT / "release", course, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    name = ASSIGNMENTS[0]
    nb = release_nb(name)
    solution = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution"))
    solution.source = samples.solution_cells(name)[solution.metadata.nbgrader.grade_id]
    (course / "solved" / name).mkdir(parents=True)
    nbformat.write(nb, str(course / "solved" / name / f"{name}.ipynb"))
    lab = Lab(course, tmp_path_factory.mktemp("student-home"))
    yield lab
    lab.stop()


def screenshot(page, name, tmp_path, locator=None):
    """Take a screenshot into tmp_path, and into COURSE_SCREENSHOTS when it is set."""
    path = tmp_path / name
    (locator or page).screenshot(path=str(path))
    assert path.stat().st_size > 10_000, f"{name} looks empty"
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(SHOTS) / name)
    return path


def open_notebook(page, lab, relative):
    page.goto(lab.notebook_url(relative))
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for()
    page.get_by_text(IDLE).wait_for(timeout=180_000)  # the kernel has started


PROMPTS = "[...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')].map(e => e.textContent.trim())"


def run_all(page):
    """Run > Run All Cells, then wait until every cell has run, or until nothing has been queued
    and the kernel idle for STOPPED_SECONDS (Run All stopped); return the cells' prompts."""
    page.locator(".lm-MenuBar-item", has_text="Run").click()
    page.locator(".lm-Menu-item", has_text="Run All Cells").first.click()
    deadline, quiet_since = time.monotonic() + RUN_ALL_SECONDS, None
    while True:
        prompts = page.evaluate(f"() => {PROMPTS}")
        if prompts and all(re.fullmatch(r"\[\d+\]:", p) for p in prompts):
            break
        # JupyterLab sends the cells one by one: between two of them nothing is queued and the
        # kernel is idle for a moment; only a long quiet means that Run All has stopped.
        quiet = "[*]:" not in prompts and page.get_by_text(IDLE).count() > 0
        quiet_since = (quiet_since or time.monotonic()) if quiet else None
        if quiet_since and time.monotonic() - quiet_since > STOPPED_SECONDS:
            break
        assert time.monotonic() < deadline, f"Run All still running after {RUN_ALL_SECONDS} s"
        time.sleep(0.25)
    page.get_by_text(IDLE).wait_for(timeout=60_000)
    return page.evaluate(f"() => {PROMPTS}")


def shown(output):
    """What a widget output shows: its text and its pictures."""
    return output.evaluate("""el => el.innerText + [...el.querySelectorAll('img')].map(i => i.src).join('|')""")


def move(control):
    """Give a control another value, as a student would."""
    kind = control.evaluate("el => el.tagName.toLowerCase() + ':' + (el.type || el.className)")
    if kind.startswith("select"):
        count = control.locator("option").count()
        current = control.evaluate("el => el.selectedIndex")
        control.select_option(index=(current + 1) % count)
    elif "checkbox" in kind:
        control.click()
    elif "noUi-handle" in kind:
        control.focus()
        control.press("ArrowRight")
    else:
        control.fill("2" if control.input_value().strip() != "2" else "3")
        control.press("Enter")


# --------------------------------------------------------------------------- students


@pytest.mark.parametrize("name", ASSIGNMENTS)
def test_run_all_goes_through_with_only_the_stubs_errors(page, student_lab, name, tmp_path):
    nb = release_nb(name)
    open_notebook(page, student_lab, f"{name}/{name}.ipynb")
    prompts = run_all(page)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert len(prompts) == len(code), "every code cell of the notebook is in the page"
    stopped = [c.source[:80] for c, p in zip(code, prompts) if not re.fullmatch(r"\[\d+\]:", p)]
    assert not stopped, f"Run All stopped: {len(stopped)} cells never ran, from {stopped[0]!r}"
    cells = page.locator(".jp-Notebook .jp-Cell")
    assert cells.count() == len(nb.cells), "every cell of the notebook is in the page"

    tests = {i for i, c in enumerate(nb.cells) if is_test_cell(c)}
    failing = set()
    for i, cell in enumerate(nb.cells):
        errors = cells.nth(i).locator(STDERR)
        for k in range(errors.count()):
            text = errors.nth(k).inner_text()
            tagged = "raises-exception" in cell.metadata.get("tags", [])  # a demo that calls an exercise
            assert (i in tests or tagged) and "NotImplementedError" in text, \
                f"cell {i} ({cell.source[:60]!r}) shows an error or stderr that is not a stub's:\n{text[-1500:]}"
            failing.add(i)
        calls_exercise = any(re.search(rf"\b{fn}\b", cell.source) for fn in exercise_names(name))
        if not calls_exercise and ("plt.show()" in cell.source or re.search(r"^plot_\w+\(", cell.source, re.M)):
            images = cells.nth(i).locator(".jp-OutputArea-output img")
            assert images.count() >= 1, f"cell {i} ({cell.source[:60]!r}) shows no plot"
            assert images.first.evaluate("img => img.complete && img.naturalWidth > 100")
        if "tqdm(" in cell.source:
            bar = cells.nth(i).locator(".widget-hprogress")
            assert bar.count() == 1, f"cell {i}: no progress bar"
            if not calls_exercise:  # in the release, a loop over an exercise stops at its stub
                finished = cells.nth(i).locator(".jp-OutputArea-output:has(.widget-hprogress)").first
                assert "100%" in finished.inner_text(), f"cell {i}: the progress bar did not finish"
    assert tests <= failing, "every graded test cell shows its stub's error (Validate reports them)"

    # Widgets: every control is labelled, and moving it changes what the widget shows.
    outputs = page.locator(".jp-OutputArea-output:has(.jupyter-widgets)").filter(has=page.locator(CONTROL))
    expected = sum(1 for c in nb.cells if c.cell_type == "code"  # a cell that ends by showing an explorer
                   and re.search(r"_explorer\(", (c.source.strip().splitlines() or [""])[-1]))
    assert outputs.count() >= expected, f"{outputs.count()} widgets with controls shown, {expected} expected"
    for w in range(outputs.count()):
        output = outputs.nth(w)
        controls = output.locator(CONTROL)
        for k in range(controls.count()):
            label = controls.nth(k).evaluate(
                "el => (el.closest('.widget-inline-hbox, .jupyter-widgets')?.querySelector('label')?.textContent || '').trim()")
            assert label, f"widget {w}: control {k} has no label"
        before = shown(output)
        move(controls.first)
        output.evaluate("(el, before) => new Promise((ok, no) => { const t0 = Date.now(); (function poll() {"
                        " const now = el.innerText + [...el.querySelectorAll('img')].map(i => i.src).join('|');"
                        " if (now !== before) ok(); else if (Date.now() - t0 > 60000) no('unchanged');"
                        " else setTimeout(poll, 100); })(); })", before)
        assert shown(output) != before
    if name == "01_tensor_ops":  # the model notebook: its two widgets say the right thing
        explorer = outputs.filter(has_text="shape of b:")
        explorer.locator("input[type=text]").nth(0).fill("3, 1")
        explorer.locator("input[type=text]").nth(1).fill("2")
        page.wait_for_function("() => document.body.innerText.includes('Result shape: (3, 2)')")
        memory = outputs.filter(has=page.locator("select"))
        memory.locator("select").select_option(label="x.t()  (transpose: same memory)")
        memory.get_by_text("stride (1, 4)").wait_for()
    screenshot(page, f"run-all-{name}.png", tmp_path)


@pytest.mark.parametrize("name", [n for n in ASSIGNMENTS
                                  if any(HANGUL.search(c.source) for c in release_nb(n).cells)])
def test_korean_renders_in_the_browser(page, student_lab, name):
    page.goto(student_lab.notebook_url(f"{name}/{name}.ipynb"))
    scope = page.locator(".jp-RenderedMarkdown").filter(has_text=HANGUL).last
    scope.wait_for()
    syllables = sorted(set(HANGUL.findall(scope.inner_text())))[:2]
    # Two different syllables drawn apart: with a font that has Hangul they differ; without one
    # both are the same empty box.
    scope.evaluate("""(el, chars) => chars.forEach((ch, i) => { const s = document.createElement('span');
        s.id = 'hangul-probe-' + i; s.textContent = ch; s.style.fontSize = '40px'; el.appendChild(s); })""",
                   syllables)
    drawn = [page.locator(f"#hangul-probe-{i}").screenshot() for i in range(2)]
    if drawn[0] == drawn[1]:
        fonts = subprocess.run(["fc-list", ":lang=ko", "family"], capture_output=True, text=True).stdout.strip()
        message = (f"Hangul ({''.join(syllables)}) renders as empty boxes; fonts with Hangul: {fonts or 'none'} "
                   "(Debian: apt-get install fonts-noto-cjk; `make setup` does it as root)")
        if not fonts and not REQUIRED:
            pytest.skip(message)
        pytest.fail(message)


def test_validate_lists_the_unsolved_exercises(page, student_lab, tmp_path):
    name = ASSIGNMENTS[0]
    nb = release_nb(name)
    solved = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")).metadata.nbgrader.grade_id
    open_notebook(page, student_lab, f"solved/{name}/{name}.ipynb")
    page.get_by_role("button", name="Validate").click()
    dialog = page.locator(".jp-Dialog").filter(has_text="Validation Results")
    dialog.wait_for(timeout=RUN_ALL_SECONDS * 1000)
    text = dialog.inner_text()
    failed = {re.search(r'\bok\("(\w+)"\)', block).group(1)
              for block in text.split("The following cell failed:")[1:] if re.search(r'\bok\("(\w+)"\)', block)}
    exercises = {c.metadata.nbgrader.grade_id for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")}
    assert failed == exercises - {solved}, f"Validate reported {sorted(failed)}; {solved} is solved"
    assert text.count("NotImplementedError") >= len(failed)
    screenshot(page, "validate.png", tmp_path)


# --------------------------------------------------------------------------- instructors


def test_formgrader_shows_the_assignments(page, tmp_path, browser):
    course = tmp_path / "course"
    course.mkdir()
    for part in ("source", "release"):
        shutil.copytree(ROOT / part, course / part, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    shutil.copy(ROOT / "nbgrader_config.py", course / "nbgrader_config.py")
    lab = Lab(course, tmp_path / "home")  # as `make lab-instructor`: JupyterLab at the course root
    try:
        page.goto(lab.url("lab"))
        page.locator(".lm-MenuBar-item", has_text="Nbgrader").click()
        page.locator(".lm-Menu-item", has_text=re.compile(r"^\s*Formgrader\s*$")).first.click()
        frame = page.frame_locator("iframe[src*='formgrader']")
        for name in ASSIGNMENTS:
            frame.get_by_role("link", name=name, exact=True).wait_for(timeout=120_000)
        assert frame.get_by_text("Manage Assignments").first.is_visible()
        screenshot(page, "formgrader.png", tmp_path)
    finally:
        lab.stop()


def exercise_names(assignment):
    """What the student writes in `assignment` (with the stubs, demos that call it draw nothing)."""
    from autograder.protocol.signatures import defined_name
    return {defined_name(sig) for sig in CURRICULUM[assignment].values()}


def test_the_misconception_report_shows_its_figures(page, tmp_path):
    """The self-contained HTML page of what a class got wrong: its pictures load (embedded, no
    file beside it needed) and have a readable size."""
    from collections import Counter

    from autograder.instructor import misconceptions
    exercises = list(CURRICULUM[ASSIGNMENTS[0]])
    tally = misconceptions.Tally(ASSIGNMENTS[0], exercises, 20,
                                 named={ex: Counter() for ex in exercises}, other={ex: Counter() for ex in exercises})
    tally.named[exercises[0]].update({f"{exercises[0]}/column-sums": 7, f"{exercises[0]}/missing-keepdim": 3})
    tally.named[exercises[1]].update({f"{exercises[1]}/transposed": 5})
    tally.unexplained[exercises[1]] = 2
    tally.words[f"{exercises[0]}/column-sums"] = "you divided by the column sums"
    tally.examples[f"{exercises[0]}/column-sums"] = "row_normalize(x) with\n  x = [[1, 2]]\n  expected: ...\n  got: ..."
    out = tmp_path / "report"
    misconceptions.write(tally, out)
    (out / "mistakes.png").unlink()  # the page must not need it
    page.goto((out / "misconceptions.html").as_uri())
    sizes = page.eval_on_selector_all("img", "els => els.map(e => [e.complete, e.naturalWidth, e.naturalHeight])")
    assert sizes and all(done and width >= 600 and height >= 150 for done, width, height in sizes), sizes
    assert page.locator("table").count() >= 2 and "column-sums" in page.inner_text("body")

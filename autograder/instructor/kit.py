"""The student kit: what an instructor hands to students, and nothing else.

`python -m autograder kit [--out dist]` (or `make student-kit`) writes

    dist/student-kit/
        README.md              how to install it, open the notebooks, validate and submit
        requirements.txt       the pinned packages (pip), the course helpers' wheel included
        constraints.txt        the versions of everything those pull in, as the course tested them
        environment.yml        the same for conda
        wheels/pytorch_course_helpers-<version>-py3-none-any.whl
                               the `course` package the notebooks import, and the student's
                               Jupyter configuration (`STUDENT_CONFIG`), nothing else
        notebooks/NN_name/NN_name.ipynb
                               the student versions (release/), exactly as committed
    dist/student-kit.zip       the same folder, zipped

Built from release/ (never from source/), the `course` package and the pins of
requirements.txt/constraints.txt. Before it writes the zip it scans every file of the kit, the
wheel's contents included, for solution code, hidden tests and anything of the grader
(`leaks`), and refuses to finish if it finds one.

Installing the wheel also makes the environment's JupyterLab a student's (`STUDENT_CONFIG`, into
`{sys.prefix}/etc/jupyter/`): nbgrader's instructor panels (Create Assignment, Formgrader, Course
List, the exchange's Assignment List) are disabled, front end and server, and only Validate is
left, which then lists the failing exercises first, one short error each (`course.validation`).
The zip's files carry the date of the course's last commit (reproducible: the same commit gives
the same zip), not a fixed date students would see as years old.
"""

import io
import json
import os
import re
import runpy
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from .release import ROOT, assignments

KIT = "student-kit"
DISTRIBUTION = "pytorch-course-helpers"  # the wheel of the `course` package
# What a student's environment needs, by name; versions come from the course's requirements.txt.
STUDENT_PACKAGES = ("torch", "numpy", "matplotlib", "ipywidgets", "ipykernel", "jupyterlab",
                    "nbgrader", "tqdm")
# Words that must appear nowhere in a kit: solution and hidden-test markers, the grader.
FORBIDDEN = ("### BEGIN SOLUTION", "### END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS",
             "hidden_tests", "autograder")
NBGRADER = "@jupyter/nbgrader"
# nbgrader's lab plugins an instructor uses; a student keeps only f"{NBGRADER}:validate-assignment"
INSTRUCTOR_PLUGINS = ("create-assignment", "formgrader", "course-list", "assignment-list", "menu")
INSTRUCTOR_SERVER_EXTENSIONS = ("formgrader", "course_list", "assignment_list")
STUDENT_NBGRADER_CONFIG = """\
# The student's nbgrader configuration, installed with the course's helpers: Validate lists the
# exercises that do not pass yet first, then one short error per failing test cell.
from course.validation import shorten_failure, start_notebook

c = get_config()  # noqa: F821
c.Execute.on_notebook_start = start_notebook
c.Execute.on_cell_error = shorten_failure
"""
# {path under the environment's prefix: text}: what makes its JupyterLab a student's. Jupyter
# merges the *.d/ files; the server's after nbgrader's own nbgrader.json (alphabetical order).
STUDENT_CONFIG = {
    "etc/jupyter/labconfig/page_config.d/pytorch-course-student.json": json.dumps(
        {"disabledExtensions": {f"{NBGRADER}:{p}": True for p in INSTRUCTOR_PLUGINS}}, indent=1) + "\n",
    "etc/jupyter/jupyter_server_config.d/pytorch-course-student.json": json.dumps(
        {"ServerApp": {"jpserver_extensions": {f"nbgrader.server_extensions.{e}": False
                                               for e in INSTRUCTOR_SERVER_EXTENSIONS}}}, indent=1) + "\n",
    "etc/jupyter/nbgrader_config.py": STUDENT_NBGRADER_CONFIG,
}


def course_version(root=ROOT):
    text = (root / "course" / "__init__.py").read_text(encoding="utf-8")
    return re.search(r'^__version__ = "([^"]+)"', text, re.M).group(1)


def wheel_name(root=ROOT):
    return f"{DISTRIBUTION.replace('-', '_')}-{course_version(root)}-py3-none-any.whl"


def pins(path):
    """{lower-case name: 'name==version'} from a requirements or constraints file."""
    found = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name = line.split("==")[0].strip()
            found[name.lower().replace("_", "-")] = line
    return found


def without_local_version(pin):
    """torch==2.13.0+cpu -> torch==2.13.0: the local build tag is this course's machines' own
    (a CPU wheel); students install the release, whichever build their platform gets."""
    return re.sub(r"\+[\w.]+$", "", pin)


# --------------------------------------------------------------------------- the files


def build_wheel(root, out_dir):
    """Build the `course` package alone as a wheel into out_dir; return its path. Its files are
    dated `commit_time` (SOURCE_DATE_EPOCH, which the wheel builder honours)."""
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp) / "src"
        shutil.copytree(root / "course", stage / "course",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        (stage / "pyproject.toml").write_text(PYPROJECT.format(
            name=DISTRIBUTION, version=course_version(root)), encoding="utf-8")
        (stage / "README.md").write_text(WHEEL_README, encoding="utf-8")
        data_files = {}
        for path, text in STUDENT_CONFIG.items():
            (stage / "jupyter" / path).parent.mkdir(parents=True, exist_ok=True)
            (stage / "jupyter" / path).write_text(text, encoding="utf-8")
            data_files.setdefault(str(Path(path).parent), []).append(f"jupyter/{path}")
        (stage / "pyproject.toml").write_text(
            (stage / "pyproject.toml").read_text(encoding="utf-8") + "\n[tool.setuptools.data-files]\n"
            + "".join(f'"{folder}" = {json.dumps(files)}\n' for folder, files in data_files.items()),
            encoding="utf-8")
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                        "--no-build-isolation", "--disable-pip-version-check",
                        "--wheel-dir", str(Path(out_dir).resolve()), str(stage)],
                       check=True, cwd=tmp, stdout=subprocess.DEVNULL,
                       env={**os.environ, "SOURCE_DATE_EPOCH": str(commit_time(root))})
    wheel = Path(out_dir) / wheel_name(root)
    if not wheel.exists():
        raise RuntimeError(f"pip wheel did not write {wheel.name}: {sorted(p.name for p in Path(out_dir).iterdir())}")
    return wheel


def requirements_text(root):
    wanted = pins(root / "requirements.txt")
    missing = [name for name in STUDENT_PACKAGES if name not in wanted]
    if missing:
        raise RuntimeError(f"requirements.txt pins no version of {missing}")
    lines = [without_local_version(wanted[name]) for name in STUDENT_PACKAGES]
    return REQUIREMENTS.format(pins="\n".join(lines), wheel=wheel_name(root))


def constraints_text(root):
    lines = sorted(without_local_version(pin) for pin in pins(root / "constraints.txt").values())
    return CONSTRAINTS + "\n".join(lines) + "\n"


def environment_text(root):
    wanted = pins(root / "requirements.txt")
    version = {name: without_local_version(wanted[name]).split("==")[1] for name in STUDENT_PACKAGES}
    return ENVIRONMENT.format(wheel=wheel_name(root), **{k.replace("-", "_"): v for k, v in version.items()})


def build(out, root=ROOT):
    """Write out/student-kit/ and out/student-kit.zip; return the folder."""
    root, out = Path(root).resolve(), Path(out).resolve()
    names = assignments(root)
    missing = [n for n in names if not (root / "release" / n / f"{n}.ipynb").exists()]
    if missing:
        raise SystemExit(f"release/ has no notebook for {missing}: run `make release` first")
    kit = out / KIT
    shutil.rmtree(kit, ignore_errors=True)
    (kit / "wheels").mkdir(parents=True)
    for name in names:
        shutil.copytree(root / "release" / name, kit / "notebooks" / name,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__", ".hypothesis"))
    build_wheel(root, kit / "wheels")
    (kit / "requirements.txt").write_text(requirements_text(root), encoding="utf-8")
    (kit / "constraints.txt").write_text(constraints_text(root), encoding="utf-8")
    (kit / "environment.yml").write_text(environment_text(root), encoding="utf-8")
    notebooks = "\n".join(f"| `notebooks/{n}/{n}.ipynb` |" for n in names)
    (kit / "README.md").write_text(STUDENT_README.format(wheel=wheel_name(root), notebooks=notebooks),
                                   encoding="utf-8")
    found = leaks(kit, root)
    if found:
        shutil.rmtree(kit)
        raise SystemExit("refusing to build a student kit holding instructor material:\n  "
                         + "\n  ".join(found))
    write_zip(kit, out / f"{KIT}.zip", zip_time(root))
    return kit


def commit_time(root=ROOT):
    """Seconds since the epoch of the course's last commit, else now: the date of every file
    in the kit's zip and in its wheel (the same commit gives the same files)."""
    try:
        return int(subprocess.run(["git", "-C", str(root), "log", "-1", "--format=%ct"], capture_output=True,
                                  text=True, timeout=30).stdout.strip())
    except (OSError, ValueError, subprocess.SubprocessError):
        return int(time.time())


def zip_time(root=ROOT):
    """The date the files carry in the zip (`commit_time`, UTC), as zipfile wants it."""
    return datetime.fromtimestamp(commit_time(root), UTC).timetuple()[:6]


def write_zip(folder, path, when=None):
    """Zip `folder` (as its own top-level folder), files in sorted order, each dated `when`
    (default: `zip_time()`): the same files and date give the same zip."""
    when = when or zip_time()
    path.unlink(missing_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for file in sorted(p for p in folder.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(str(Path(folder.name) / file.relative_to(folder)), when)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, file.read_bytes())
    return path


# --------------------------------------------------------------------------- what must not be there


def secrets(root=ROOT):
    """What of the instructor's code no student file may hold, as windows of code lines: every
    two consecutive lines of a solution (source/'s solution regions and the correct cells of
    samples/solutions/), and the line itself for one-line solutions. A window made only of lines
    the notebooks show in the open (`super().__init__()`, `with torch.no_grad():` in a demo) is
    no secret, nor is a typical mistake."""
    import nbformat
    bodies, public = [], set()
    region = re.compile(r"### BEGIN (SOLUTION|HIDDEN TESTS)(.*?)### END (?:SOLUTION|HIDDEN TESTS)", re.S)
    for nb_path in sorted((root / "source").glob("[0-9][0-9]_*/*.ipynb")):
        for cell in nbformat.read(str(nb_path), as_version=4).cells:
            bodies += [body for kind, body in region.findall(cell.source) if kind == "SOLUTION"]
            public |= set(code_lines(region.sub("", cell.source)))
    for py in sorted((root / "samples" / "solutions").glob("*.py")):
        tables = runpy.run_path(str(py))
        for table in (tables.get("RIGHT", {}), tables.get("ALTERNATIVE", {})):
            bodies += [cell.split("\n", 1)[1] for cell in table.values() if "\n" in cell]
    windows = set()
    for body in bodies:
        lines = [line for line in code_lines(body) if not line.startswith(('"""', "#"))]
        if len(lines) == 1 and len(lines[0]) > 12 and lines[0] not in public:
            windows.add((lines[0],))
        windows |= {pair for pair in zip(lines, lines[1:]) if not set(pair) <= public}
    return windows


def code_lines(text):
    return [line.strip() for line in text.splitlines() if line.strip()]


def kit_texts(folder):
    """(name, text) for every file under folder, and for every member of every zip or wheel;
    a notebook's text is its cells' sources."""
    for path in sorted(p for p in Path(folder).rglob("*") if p.is_file()):
        data = path.read_bytes()
        yield str(path.relative_to(folder)), _text(path.name, data)
        if zipfile.is_zipfile(io.BytesIO(data)):
            with zipfile.ZipFile(io.BytesIO(data)) as z:
                for member in z.namelist():
                    yield f"{path.relative_to(folder)}!{member}", _text(member, z.read(member))


def _text(name, data):
    text = data.decode("utf-8", "replace")
    if name.endswith(".ipynb"):
        try:
            return "\n".join("".join(c["source"]) for c in json.loads(text)["cells"])
        except (ValueError, KeyError, TypeError):
            return text
    return text


def leaks(folder, root=ROOT):
    """What in the kit at `folder` a student must not have: a list of 'file: what' lines."""
    found = []
    windows = secrets(root)
    for name, text in kit_texts(folder):
        found += [f"{name}: {word!r}" for word in FORBIDDEN if word in text]
        lines = code_lines(text)
        present = set(zip(lines, lines[1:])) | {(line,) for line in lines}
        found += [f"{name}: solution code {' / '.join(w)!r}" for w in sorted(windows & present)]
    for name in (p for p in Path(folder).rglob("*.ipynb")):
        cells = json.loads(name.read_text())["cells"]
        found += [f"{name.relative_to(folder)}: a solution cell holds more than the stub"
                  for c in cells if c.get("metadata", {}).get("nbgrader", {}).get("solution")
                  and c["cell_type"] == "code" and "raise NotImplementedError()" not in "".join(c["source"])]
    for part in ("autograder", "source", "samples", "gradebook.db", "nbgrader_config.py"):
        found += [f"{p.relative_to(folder)}: instructor file" for p in Path(folder).rglob(part)]
    return found


# --------------------------------------------------------------------------- texts

PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "{name}"
version = "{version}"
description = "Helpers the PyTorch fundamentals course notebooks import: checks, plots and widgets"
readme = "README.md"
requires-python = ">=3.11"
license = {{ text = "MIT" }}
dependencies = ["torch", "matplotlib", "ipywidgets"]

[tool.setuptools]
packages = ["course"]
"""

WHEEL_README = """\
# pytorch-course-helpers

The `course` package that the notebooks of the PyTorch fundamentals course import: visible
checks (`course.checks`), a description of the machine's devices (`course.devices`), pictures
(`course.plots`) and widgets (`course.widgets`). It holds no answer to any exercise.

It also makes the environment's JupyterLab a student's (files under `etc/jupyter/`): nbgrader's
instructor panels are disabled, and its Validate button lists the exercises that do not pass yet
first, one short error each (`course.validation`).
"""

REQUIREMENTS = """\
# The course's environment, pinned (Python 3.11). In the kit's folder:
#     python3.11 -m venv .venv
#     .venv/bin/pip install -r requirements.txt          (Windows: .venv\\Scripts\\pip ...)
-c constraints.txt
{pins}
./wheels/{wheel}
"""

CONSTRAINTS = """\
# Versions of everything requirements.txt pulls in, as the course was tested with them.
"""

ENVIRONMENT = """\
# Conda alternative to requirements.txt: conda env create -f environment.yml
name: pytorch-course
channels:
  - conda-forge
dependencies:
  - python=3.11
  - pytorch={torch}
  - numpy={numpy}
  - matplotlib={matplotlib}
  - ipywidgets={ipywidgets}
  - ipykernel={ipykernel}
  - jupyterlab={jupyterlab}
  - nbgrader={nbgrader}
  - tqdm={tqdm}
  - pip
  - pip:
      - ./wheels/{wheel}
"""

STUDENT_README = """\
# PyTorch fundamentals: your course kit

Everything you need to work through the course: the notebooks, the small `course` package they
import (checks, pictures and widgets), and the list of packages to install. Your instructor
grades what you hand in.

## Install (once, about 2 minutes)

You need Python 3.11. In this folder:

```bash
python3.11 -m venv .venv
.venv/bin/pip install -r requirements.txt      # Windows: .venv\\Scripts\\pip install -r requirements.txt
```

or, with conda: `conda env create -f environment.yml && conda activate pytorch-course`.

On Linux without an NVIDIA GPU you can save a large download by installing PyTorch's CPU build
first: `.venv/bin/pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu`,
then the line above.

The notebooks end with an English–Korean glossary. If Korean shows as empty boxes, install a
font with Hangul (Debian/Ubuntu: `sudo apt-get install fonts-noto-cjk`; macOS and Windows have
one).

## Work

```bash
.venv/bin/jupyter lab notebooks/
```

Your work lives in `notebooks/`, in this folder: keep it (and back it up) as you would any
file. The JupyterLab installed here is a student's: nbgrader's instructor panels (Create
Assignment, Formgrader) are switched off, and its **Validate** button is there.

| notebook |
|---|
{notebooks}

1. Open a notebook, read, and run the cells from the top (Shift+Enter), or all at once with
   **Run > Run All Cells**: the whole notebook runs even before you have solved anything. The
   test cell under each unsolved exercise shows `NotImplementedError`; that is expected.
2. Each exercise is a function whose body is `raise NotImplementedError()`. Write your code
   there; keep the function's name and arguments.
3. Run the test cell below it: `✓ name` means the visible checks pass; otherwise the error says
   what was expected and what came back.
4. Click **Validate** in the notebook's toolbar: it runs the whole notebook in a fresh kernel
   and first lists the exercises that do not pass yet, then each failing test cell with a
   one-line error.
5. Passing the visible checks is necessary, not sufficient: your grade comes from more thorough
   tests (more shapes, float32 and float64, every device of the grading machine). Try the tricky
   cases the notebook points out.
6. Save, and hand in the `.ipynb` file as your instructor asks (keep its name).

Nothing here is graded on your machine, and nothing needs a GPU: the notebooks run on a CPU,
and use a GPU (CUDA or Apple's MPS) when you have one.
"""


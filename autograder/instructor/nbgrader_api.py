"""Everything the instructor's command asks of nbgrader, in one place.

- the course: its configuration (`load_config`), an `NbGraderAPI` on it (`make_api`);
- the gradebook: where it is (`db_path`), the assignment put in it (`ensure_assignment`), a
  consistent copy for phase 1 (`snapshot_gradebook`);
- the two pipelines the grade command derives from the course's own: the sanitize steps phase 1
  runs on every submitted notebook (`sanitize_steps`, `sanitize`), and the autograde pipeline
  phase 2 runs with execution and verification replaced by what phase 1 staged
  (`replay_preprocessors`, `replay_config`).

nbgrader itself is imported where first needed (deliberately: importing it takes seconds, which
the grade command spends while its grading servers start, and `--help` or `collect` never).
"""

import shutil
import sqlite3
from pathlib import Path

import nbformat
from traitlets.config.loader import PyFileConfigLoader
from traitlets.utils.importstring import import_item

PREPROCESSORS = "autograder.instructor.preprocessors"
# The course's steps that execute or verify a notebook, by every name they can be configured
# under (the package's re-export, the module's own, or the class itself): phase 2 replays them.
EXECUTING = {f"{PREPROCESSORS}.SafeExecute", f"{PREPROCESSORS}.safe_execute.SafeExecute",
             "nbgrader.preprocessors.Execute"}
VERIFYING = {f"{PREPROCESSORS}.VerifyExercises", f"{PREPROCESSORS}.verify_exercises.VerifyExercises"}


def load_config(root):
    """The course's nbgrader_config.py."""
    return PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()


def preload():
    """Import what `make_api` needs now (about 5 s): once per worker process, not per submission."""
    import nbgrader.apps  # noqa: F401


def make_api(root, config=None):
    """nbgrader's API on the course at `root`, with `config` (default: the course's own); its
    autograde and feedback refuse submissions with links or special files (`safe_converters`)."""
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    from .safe_converters import install
    install()
    config = config if config is not None else load_config(root)
    config.CourseDirectory.root = str(root)
    return NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)


def db_path(root):
    return Path(root) / "gradebook.db"


def ensure_assignment(root, assignment):
    """Put the assignment in the gradebook if it is missing (without touching release/)."""
    from nbgrader.api import Gradebook, MissingEntry
    with Gradebook(f"sqlite:///{db_path(root)}") as gb:
        try:
            gb.find_assignment(assignment)
            return
        except MissingEntry:
            pass
    config = load_config(root)
    config.CourseDirectory.release_directory = ".autograder-release"
    try:
        result = make_api(root, config).generate_assignment(assignment, force=True, create=True)
    finally:
        shutil.rmtree(Path(root) / ".autograder-release", ignore_errors=True)
    if not result.get("success"):
        raise RuntimeError(f"could not add {assignment} to the gradebook:\n{result.get('error', '')}")


def snapshot_gradebook(root, dest):
    """A consistent copy of the gradebook for phase 1 to read or write (never the real one)."""
    with sqlite3.connect(db_path(root)) as src, sqlite3.connect(dest) as out:
        src.backup(out)


def _name(step):
    return step if isinstance(step, str) else f"{step.__module__}.{step.__name__}"


def sanitize_steps(config):
    """The course's nbgrader sanitize preprocessors, as import strings."""
    from nbgrader.converters import Autograde
    configured = "Autograde" in config and "sanitize_preprocessors" in config.Autograde
    steps = (config.Autograde.sanitize_preprocessors if configured
             else Autograde.sanitize_preprocessors.default())
    return [_name(s) for s in steps]


def sanitize(config, db_file, assignment, student, notebook_path):
    """The notebook nbgrader's autograde would execute: nbgrader's own sanitize preprocessors
    (test cells restored from the gradebook `db_file`, outputs cleared)."""
    nb = nbformat.read(str(notebook_path), as_version=4)
    resources = {"nbgrader": {"db_url": f"sqlite:///{db_file}", "assignment": assignment,
                              "notebook": notebook_path.stem, "student": student},
                 "metadata": {"path": str(notebook_path.parent)}}
    for step in sanitize_steps(config):
        nb, resources = import_item(step)(config=config).preprocess(nb, resources)
    return nb


def replay_preprocessors(config):
    """The course's own autograde pipeline with its execution and verification replaced by
    ReplayExecution (phase 1 already did both): every other step runs as configured, except
    CheckCellMetadata, which phase 1's sanitizing already ran on this very notebook (replaying
    changes no nbgrader metadata)."""
    from nbgrader.converters import Autograde
    configured = ("Autograde" in config and "autograde_preprocessors" in config.Autograde)
    pipeline = (config.Autograde.autograde_preprocessors if configured
                else Autograde.autograde_preprocessors.default())
    steps = []
    for step in pipeline:
        name = _name(step)
        if name in EXECUTING or name.endswith(".execute.Execute"):
            steps.append(f"{PREPROCESSORS}.ReplayExecution")
        elif name not in VERIFYING and not name.endswith("CheckCellMetadata"):
            steps.append(step)
    return steps


def replay_config(root, staging_folder):
    """The course's configuration for phase 2: sanitizing and execution replayed from what
    phase 1 staged in `staging_folder` (ReplaySanitize, ReplayExecution)."""
    config = load_config(root)
    config.ReplaySanitize.steps = sanitize_steps(config)
    config.Autograde.sanitize_preprocessors = [f"{PREPROCESSORS}.ReplaySanitize"]
    config.Autograde.autograde_preprocessors = replay_preprocessors(config)
    config.ReplaySanitize.staging = config.ReplayExecution.staging = str(staging_folder)
    # nbconvert validates the whole notebook after every preprocessor unless told to validate
    # once after the last: replaying, the steps only copy what phase 1 staged (about a third of
    # the recording's time, for notebooks handed in with their outputs)
    config.Exporter.optimistic_validation = True
    return config

"""Everything the instructor's command asks of nbgrader, in one place.

- the course: its configuration (`load_config`), an `NbGraderAPI` on it (`make_api`);
- the gradebook: where it is (`db_url`: the course's `c.CourseDirectory.db_url`, SQLite or a
  server such as PostgreSQL; `sqlite_file`, `describe`), read without writing (`read_gradebook`),
  the assignment put in it (`ensure_assignment`), the assignment's structure copied into a
  private SQLite file for phase 1 (`snapshot_gradebook`);
- the two pipelines the grade command derives from the course's own: the sanitize steps phase 1
  runs on every submitted notebook (`sanitize_steps`, `sanitize`), and the autograde pipeline
  phase 2 runs with execution and verification replaced by what phase 1 staged
  (`replay_preprocessors`, `replay_config`).

nbgrader itself is imported where first needed (deliberately: importing it takes seconds, which
the grade command spends while its grading servers start, and `--help` or `collect` never).
"""

import contextlib
import os
import shutil
import sqlite3
from pathlib import Path

import nbformat
from traitlets.config import Config
from traitlets.config.loader import ConfigFileNotFound, PyFileConfigLoader
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


def db_url(root, config=None):
    """Where the course's gradebook is: `c.CourseDirectory.db_url` when nbgrader_config.py sets
    it (e.g. `postgresql+psycopg2://user@host/grades`), else nbgrader's own default,
    `sqlite:///<root>/gradebook.db` (as `CourseDirectory` computes it; also for a folder without
    nbgrader_config.py, as nbgrader does)."""
    if config is None:
        try:
            config = load_config(root)
        except ConfigFileNotFound:
            return db_url(root, Config())
    if "CourseDirectory" in config and config.CourseDirectory.get("db_url"):
        return str(config.CourseDirectory.db_url)
    return f"sqlite:///{os.path.abspath(os.path.join(str(root), 'gradebook.db'))}"


def sqlite_file(url):
    """The file of a SQLite URL (a Path), or None for a database server."""
    from sqlalchemy.engine import make_url
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite"):
        return None
    return Path(parsed.database or "")


def describe(url):
    """The gradebook's URL as messages show it: a SQLite file's path, a server's URL without its
    password."""
    from sqlalchemy.engine import make_url
    file = sqlite_file(url)
    return str(file) if file is not None else make_url(url).render_as_string(hide_password=True)


def read_gradebook(root, sql, **params):
    """The rows of the query `sql` on the course's gradebook, changing nothing: None when there is
    no gradebook yet (no SQLite file, or no nbgrader tables in it or on the server). SQLite is
    opened read-only (a missing file is not created); a server that cannot be reached or read is
    a RuntimeError that says which."""
    from sqlalchemy import create_engine, exc, inspect, text
    url = db_url(root)
    file = sqlite_file(url)
    if file is not None:
        if not file.is_file():
            return None
        try:
            with contextlib.closing(sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True)) as con:
                return con.execute(sql, params).fetchall()
        except sqlite3.Error:  # not a gradebook yet (or not one at all): nbgrader says which, later
            return None
    engine = create_engine(url, future=True)
    try:
        with engine.connect() as con:
            if not inspect(con).has_table("assignment"):
                return None
            return [tuple(row) for row in con.execute(text(sql), params)]
    except exc.SQLAlchemyError as error:
        first = str(error.orig if getattr(error, "orig", None) is not None else error).strip().splitlines()
        raise RuntimeError(f"cannot read the gradebook at {describe(url)}: {first[0] if first else error}") from None
    finally:
        engine.dispose()


def ensure_assignment(root, assignment):
    """Put the assignment in the gradebook if it is missing (without touching release/)."""
    from nbgrader.api import Gradebook, MissingEntry
    with Gradebook(db_url(root)) as gb:
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


# The tables that say what an assignment is (what nbgrader's sanitize steps, `RestoreStructure`
# and an autograde read), parents first: never a student, a submission, a grade or a comment.
STRUCTURE = ("course", "assignment", "notebook", "base_cell", "grade_cells", "solution_cells",
             "task_cells", "source_cell")


def snapshot_gradebook(root, dest, assignment):
    """A fresh SQLite gradebook at `dest` holding only the structure of `assignment` (its course,
    notebooks and nbgrader cells), copied from the course's gradebook wherever it is (`db_url`):
    what phase 1 reads or writes instead of the real one, small enough to ship to a worker, and
    with no student's grade in it. Raises ValueError when the gradebook lacks the assignment."""
    from nbgrader.api import Base, Gradebook
    from sqlalchemy import create_engine, select, text
    tables = Base.metadata.tables
    source = create_engine(db_url(root), future=True)
    try:
        with source.connect() as con:
            rows = {"assignment": con.execute(select(tables["assignment"]).where(
                tables["assignment"].c.name == assignment)).mappings().all()}
            if not rows["assignment"]:
                raise ValueError(f"{assignment} is not in the gradebook at {describe(db_url(root))}")
            found = rows["assignment"][0]
            rows["course"] = con.execute(select(tables["course"]).where(
                tables["course"].c.id == found["course_id"])).mappings().all()
            rows["notebook"] = con.execute(select(tables["notebook"]).where(
                tables["notebook"].c.assignment_id == found["id"])).mappings().all()
            notebooks = [nb["id"] for nb in rows["notebook"]]
            for name in ("base_cell", "source_cell"):
                rows[name] = con.execute(select(tables[name]).where(
                    tables[name].c.notebook_id.in_(notebooks))).mappings().all()
            cells = [cell["id"] for cell in rows["base_cell"]]
            for name in ("grade_cells", "solution_cells", "task_cells"):
                rows[name] = con.execute(select(tables[name]).where(
                    tables[name].c.id.in_(cells))).mappings().all()
            version = alembic_version(con)
    finally:
        source.dispose()
    Path(dest).unlink(missing_ok=True)
    if version is None:  # a gradebook without one: nbgrader's own (it asks alembic, in a subprocess)
        Gradebook(f"sqlite:///{dest}", course_id="").close()
    out = create_engine(f"sqlite:///{dest}", future=True)
    try:
        with out.begin() as con:
            if version is not None:  # nbgrader's schema, and the course's gradebook's version
                Base.metadata.create_all(con)
                con.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
                con.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": version})
            for name in STRUCTURE:
                if rows[name]:
                    con.execute(tables[name].insert(), [dict(row) for row in rows[name]])
    finally:
        out.dispose()


def alembic_version(con):
    """The schema version a gradebook records (nbgrader's `alembic_version` table), or None."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError
    try:
        found = con.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    except SQLAlchemyError:
        con.rollback()
        return None
    return found[0] if len(found) == 1 and isinstance(found[0], str) else None


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

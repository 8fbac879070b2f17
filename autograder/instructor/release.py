"""Regenerate release/ from source/ with nbgrader (`make release`):

    python -m autograder.instructor.release [NAME ...]

The student versions are always generated, never edited by hand; tests check that the committed
release/ is exactly what this makes.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the course root: autograder/instructor/ is two below


def assignments(root=ROOT):
    return sorted(p.name for p in (root / "source").iterdir() if p.is_dir() and p.name[:2].isdigit())


def nbgrader_env():
    """nbgrader runs helpers (alembic) from the environment's bin/: put it first on PATH."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def generate(names, root=ROOT):
    """Write release/NAME/ for each assignment, replacing what was there."""
    for name in names:
        shutil.rmtree(root / "release" / name, ignore_errors=True)
        subprocess.run(
            [sys.executable, "-m", "nbgrader", "generate_assignment", name, "--force", "--no-db",
             "--log-level=WARN"],
            cwd=root, env=nbgrader_env(), check=True,
        )


if __name__ == "__main__":
    generate(sys.argv[1:] or assignments())

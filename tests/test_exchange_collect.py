"""nbgrader's own `collect` refuses what a student planted in the exchange (issue 24).

`nbgrader collect` copies each student's folder from the exchange's inbound/ (written by the
student's own unix user) with `shutil.copytree`, as the instructor: it followed links (a file
only the instructor can read landed in submitted/) and stopped at a named pipe, leaving every
later student uncollected. Under the course's nbgrader_config.py (`SafeExchangeCollect`) such a
folder is refused for that student, the others are collected, and the command says who.
Hard links are refused everywhere a submission is checked (`planted`).
"""

import os
import subprocess
import sys

import pytest

from autograder.instructor import samples
from autograder.instructor.planted import PlantedFile, copy_plain, refusal
from autograder.instructor.release import nbgrader_env

from conftest import copy_course

A = samples.ASSIGNMENT
SECRET = "TOP-SECRET-9d2e"
STAMP = "2026-12-01 10:00:00.000000 UTC"


def submission(inbound, student, stamp=STAMP):
    folder = inbound / f"{student}+{A}+{stamp}+r4nd0m"
    folder.mkdir(parents=True)
    (folder / f"{A}.ipynb").write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    (folder / "timestamp.txt").write_text(stamp)
    return folder


@pytest.fixture
def exchange(tmp_path):
    """A course, and an exchange whose inbound/ holds an honest student (ada, zoe) and one
    attacker per planted kind: {attacker: what the refusal must name}."""
    course = copy_course(tmp_path / "course")
    secret = tmp_path / "shadow"
    secret.write_text(SECRET)
    os.chmod(secret, 0o600)
    inbound = tmp_path / "exchange" / "pytorch-fundamentals" / "inbound"
    submission(inbound, "ada")
    os.symlink(secret, submission(inbound, "mallory") / "notes.txt")
    os.symlink(course / "source", submission(inbound, "dirlink") / "next")
    os.mkfifo(submission(inbound, "piper") / "input.txt")
    os.link(secret, submission(inbound, "linker") / "notes.txt")
    os.symlink(next(inbound.glob("ada+*")), inbound / f"twin+{A}+{STAMP}+r4nd0m")
    submission(inbound, "zoe")  # after every attacker in the listing: still collected
    return course, tmp_path / "exchange", {
        "mallory": "notes.txt is a symbolic link", "dirlink": "next is a symbolic link",
        "piper": "input.txt is a named pipe", "linker": "notes.txt is a hard link", "twin": "is a symbolic link"}


def collect(course, root, *extra):
    return subprocess.run([sys.executable, "-m", "nbgrader", "collect", A, f"--Exchange.root={root}", *extra],
                          cwd=course, env=nbgrader_env(), capture_output=True, text=True, timeout=300)


def secret_in(folder):
    found = []
    for parent, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(parent, name)
            if os.path.islink(path) or (os.path.isfile(path) and SECRET in open(path, errors="replace").read()):
                found.append(path)
    return found


def test_plain_nbgrader_collect_refuses_planted_folders_and_collects_the_others(exchange):
    course, root, expected = exchange
    proc = collect(course, root)
    said = proc.stdout + proc.stderr
    assert proc.returncode != 0, said  # the instructor is told: some were refused
    submitted = course / "submitted"
    assert sorted(os.listdir(submitted)) == ["ada", "zoe"], said
    for student in ("ada", "zoe"):
        assert (submitted / student / A / f"{A}.ipynb").is_file()
        assert (submitted / student / A / "timestamp.txt").read_text() == STAMP
    for student, named in expected.items():
        line = next((line for line in said.splitlines() if f"{student}+" in line and named in line), None)
        assert line and "refused" in line, (student, said)
    assert not secret_in(submitted)


def test_without_the_course_config_nbgrader_collect_follows_the_link(exchange):
    """What the course's config changes: nbgrader's own class copies the secret."""
    course, root, _ = exchange
    for name in os.listdir(root / "pytorch-fundamentals" / "inbound"):
        if not name.startswith(("ada+", "mallory+")):
            path = root / "pytorch-fundamentals" / "inbound" / name
            os.unlink(path) if path.is_symlink() else subprocess.run(["rm", "-rf", str(path)], check=True)
    proc = collect(course, root, "--ExchangeFactory.collect=nbgrader.exchange.default.collect.ExchangeCollect")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert secret_in(course / "submitted" / "mallory")


def test_a_plain_copy_follows_nothing_and_refuses_what_is_not_a_regular_file(tmp_path):
    secret = tmp_path / "secret"
    secret.write_text(SECRET)
    cases = {"link": lambda f: os.symlink(secret, f / "x"), "pipe": lambda f: os.mkfifo(f / "x"),
             "hard link": lambda f: os.link(secret, f / "x"), "folder link": lambda f: os.symlink(tmp_path, f / "x")}
    for name, plant in cases.items():
        src = tmp_path / name
        (src / "sub").mkdir(parents=True)
        (src / "sub" / "ok.txt").write_text("ok")
        plant(src / "sub")
        with pytest.raises(PlantedFile):
            copy_plain(src, tmp_path / f"{name}-copy")
        assert not secret_in(tmp_path / f"{name}-copy"), name
    plain = tmp_path / "plain"
    (plain / "sub").mkdir(parents=True)
    (plain / "sub" / "ok.txt").write_text("ok")
    copy_plain(plain, tmp_path / "plain-copy")
    assert (tmp_path / "plain-copy" / "sub" / "ok.txt").read_text() == "ok"


def test_a_hard_link_in_a_submission_is_refused(tmp_path):
    folder = tmp_path / "submitted" / "linker" / A
    folder.mkdir(parents=True)
    (tmp_path / "big").write_bytes(b"0" * 1000)
    os.link(tmp_path / "big", folder / "data.bin")
    reason = refusal(tmp_path, "submitted", "linker", A)
    assert reason and "data.bin is a hard link" in reason and "refused" in reason
    (tmp_path / "big").unlink()  # one name again: a regular file like any other
    assert refusal(tmp_path, "submitted", "linker", A) is None

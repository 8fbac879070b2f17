"""autograder.instructor.collect: LMS/folder submissions -> submitted/<student>/<assignment>/, with a problem list."""

import hashlib
import importlib.util
import json
import os
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from autograder.instructor.collect import Collected, CollectReport, Problem, collect, match_tier, student_id


def _nbgrader_utils():
    """nbgrader/utils.py, loaded on its own: `import nbgrader` starts by importing Jupyter Server (seconds)."""
    path = os.path.join(importlib.util.find_spec("nbgrader").submodule_search_locations[0], "utils.py")
    spec = importlib.util.spec_from_file_location("_nbgrader_utils", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

A = "01_tensor_ops"
NBS = ["01_tensor_ops", "02_autograd"]
T0 = datetime(2026, 11, 24, 11, 47, 41, 250000, tzinfo=UTC).timestamp()
DAY = 86400


def nb_bytes(tag):
    """A valid notebook, the same bytes for the same tag (new_code_cell would pick a random id)."""
    cell = new_code_cell(f"x = {tag!r}", id=hashlib.sha1(str(tag).encode()).hexdigest()[:8])
    return nbformat.writes(new_notebook(cells=[cell])).encode()


V3 = json.dumps({"nbformat": 3, "nbformat_minor": 0, "metadata": {"name": ""},
                 "worksheets": [{"cells": [{"cell_type": "code", "input": "x = 3", "language": "python",
                                            "outputs": [], "metadata": {}}], "metadata": {}}]}).encode()
# nbformat reads this (format 4, a list of cells) but its schema validation fails (unknown cell key).
SCHEMA_INVALID = json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {},
                             "cells": [{"cell_type": "code", "id": "a1", "metadata": {}, "source": "1",
                                        "outputs": [], "execution_count": None, "bogus": 1}]}).encode()


def put(path, data, mtime):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))
    return data


def make_zip(path, members, mtime, compression=zipfile.ZIP_DEFLATED):
    """members: {name: (bytes, date_time)}."""
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, (data, date_time) in members.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=date_time), data)
    os.utime(path, (mtime, mtime))


def tree_hash(root):
    """Names, bytes and modification times of everything under root, hidden files included."""
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in sorted(os.walk(root)):
        dirnames.sort()
        rel = os.path.relpath(dirpath, root)
        h.update(f"D {rel} {os.stat(dirpath).st_mtime_ns}\n".encode())
        for n in sorted(filenames):
            p = os.path.join(dirpath, n)
            h.update(f"F {rel}/{n} {os.stat(p).st_mtime_ns} ".encode())
            h.update(hashlib.sha256(Path(p).read_bytes()).digest())
    return h.hexdigest()


def files_under(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def ts(dt):
    return dt.strftime("%Y-%m-%d %H:%M:%S.%f UTC")


def utc(t):
    return datetime.fromtimestamp(t, UTC).replace(tzinfo=None)


@pytest.fixture
def inbox(tmp_path):
    """One inbox covering every kind of problem, and the bytes each good notebook should arrive with."""
    box = tmp_path / "inbox"
    box.mkdir()
    want = {}
    # alice: exact names; checkpoints and macOS litter are ignored, a non-notebook is reported.
    want["alice", A] = put(box / "alice" / "01_tensor_ops.ipynb", nb_bytes("alice 1"), T0)
    want["alice", "02_autograd"] = put(box / "alice" / "02_autograd.ipynb", nb_bytes("alice 2"), T0 + 60)
    put(box / "alice" / ".ipynb_checkpoints" / "01_tensor_ops-checkpoint.ipynb", b"", T0)
    put(box / "alice" / ".DS_Store", b"\0\1", T0)
    put(box / "alice" / "notes.txt", b"hi", T0)
    # bob (LMS name): a renamed notebook in a subfolder, an extra notebook, __MACOSX litter.
    want["bob", A] = nb_bytes("bob 1")
    want["bob", "02_autograd"] = nb_bytes("bob 2")
    make_zip(box / "Bob_12345_late.zip", {
        "sub/Copy of 01-Tensor Ops (1).ipynb": (want["bob", A], (2026, 11, 20, 9, 0, 0)),
        "sub/02_autograd.ipynb": (want["bob", "02_autograd"], (2026, 11, 20, 9, 30, 10)),
        "sub/scratch.ipynb": (nb_bytes("scratch"), (2026, 11, 20, 9, 0, 0)),
        "__MACOSX/sub/._01_tensor_ops.ipynb": (b"\0\5\26\7", (2026, 11, 20, 9, 0, 0)),
        "__MACOSX/01_tensor_ops.ipynb": (nb_bytes("mac"), (2026, 11, 29, 9, 0, 0)),
    }, T0)
    # carol: an empty notebook and a missing one.
    put(box / "carol" / "01_tensor_ops.ipynb", b"", T0)
    # dave: not JSON, and a format-3 notebook (upgraded to format 4).
    make_zip(box / "dave.zip", {
        "01_tensor_ops.ipynb": (b'{"cells": [', (2026, 11, 21, 8, 0, 0)),
        "02_autograd.ipynb": (V3, (2026, 11, 21, 8, 0, 0)),
    }, T0)
    # eve: a folder and a newer zip; the zip is kept.
    put(box / "eve" / "01_tensor_ops.ipynb", nb_bytes("eve old"), T0 - 2 * DAY)
    put(box / "eve" / "02_autograd.ipynb", nb_bytes("eve old"), T0 - 2 * DAY)
    os.utime(box / "eve", (T0 - 2 * DAY, T0 - 2 * DAY))
    want["eve", A] = nb_bytes("eve new 1")
    want["eve", "02_autograd"] = nb_bytes("eve new 2")
    make_zip(box / "eve.zip", {"01_tensor_ops.ipynb": (want["eve", A], (2026, 11, 22, 10, 0, 0)),
                               "02_autograd.ipynb": (want["eve", "02_autograd"], (2026, 11, 22, 10, 0, 2))},
             T0 - DAY)
    # frank: a corrupt zip.
    put(box / "frank.zip", b"PK\3\4 this is not really a zip", T0)
    # grace: several candidates. Exact name beats a newer renamed copy; among renamed copies the newest wins.
    want["grace", A] = put(box / "grace" / "01_tensor_ops.ipynb", nb_bytes("grace exact"), T0 - DAY)
    put(box / "grace" / "01_tensor_ops (1).ipynb", nb_bytes("grace copy"), T0)
    put(box / "grace" / "02_autograd-1.ipynb", nb_bytes("grace older"), T0 - DAY)
    want["grace", "02_autograd"] = put(box / "grace" / "old" / "02-Autograd_grace.ipynb", nb_bytes("grace new"),
                                       T0)
    # heidi: JSON that is not a notebook; a renamed schema-invalid notebook nbformat can read (collected).
    put(box / "heidi" / "01_tensor_ops.ipynb", b'{"name": "01_tensor_ops"}', T0)
    want["heidi", "02_autograd"] = put(box / "heidi" / "Copy of 02_Autograd.ipynb", SCHEMA_INVALID, T0)
    # ivan: zip members named to escape; they are read, never extracted.
    want["ivan", A] = nb_bytes("ivan 1")
    want["ivan", "02_autograd"] = nb_bytes("ivan 2")
    make_zip(box / "ivan.zip", {"../../escape/01_tensor_ops.ipynb": (want["ivan", A], (2026, 11, 23, 0, 0, 0)),
                                "/tmp/escape/02_autograd.ipynb": (want["ivan", "02_autograd"], (2026, 11, 23, 0, 0, 0))},
             T0)
    # Not students: a stray file (reported), hidden entries (ignored).
    put(box / "grades.csv", b"a,b\n", T0)
    put(box / ".hidden" / "01_tensor_ops.ipynb", nb_bytes("hidden"), T0)
    put(box / ".mallory.zip", b"junk", T0)
    put(box / "__MACOSX" / "01_tensor_ops.ipynb", nb_bytes("mac"), T0)
    return box, want


EXPECTED_PROBLEMS = [  # (student, kind, a name the detail must contain)
    ("", "extra", "grades.csv"),
    ("alice", "skipped", "alice/notes.txt"),
    ("bob", "late", "Bob_12345_late.zip"),
    ("bob", "renamed", "Bob_12345_late.zip!sub/Copy of 01-Tensor Ops (1).ipynb"),
    ("bob", "extra", "Bob_12345_late.zip!sub/scratch.ipynb"),
    ("carol", "empty", "carol/01_tensor_ops.ipynb"),
    ("carol", "missing", "02_autograd.ipynb"),
    ("dave", "invalid_json", "dave.zip!01_tensor_ops.ipynb"),
    ("dave", "upgraded", "dave.zip!02_autograd.ipynb"),
    ("eve", "duplicate", "eve.zip"),
    ("frank", "unreadable", "frank.zip"),
    ("grace", "duplicate", "grace/01_tensor_ops (1).ipynb"),
    ("grace", "duplicate", "grace/old/02-Autograd_grace.ipynb"),
    ("grace", "renamed", "grace/old/02-Autograd_grace.ipynb"),
    ("heidi", "bad_nbformat", "heidi/01_tensor_ops.ipynb"),
    ("heidi", "renamed", "heidi/Copy of 02_Autograd.ipynb"),
]


def test_collect_layout_problems_and_untouched_inbox(inbox, tmp_path):
    box, want = inbox
    course = tmp_path / "course"
    before = tree_hash(box)

    report = collect(box, course, A, NBS)

    assert tree_hash(box) == before
    # Only submitted/ is written, nothing escapes (ivan's '../../escape' and '/tmp/escape' members).
    assert sorted(p.name for p in tmp_path.iterdir()) == ["course", "inbox"]
    assert [p.name for p in course.iterdir()] == ["submitted"]
    assert not Path("/tmp/escape").exists()
    sub = course / "submitted"
    assert files_under(sub) == sorted(
        f"{s}/{A}/{name}" for s in ("alice", "bob", "dave", "eve", "grace", "heidi", "ivan")
        for name in (["timestamp.txt"] + [f"{n}.ipynb" for n in NBS] if s not in ("heidi", "dave")
                     else ["timestamp.txt", "02_autograd.ipynb"]))
    for (s, n), data in want.items():
        assert (sub / s / A / f"{n}.ipynb").read_bytes() == data, (s, n)

    assert [(p.student, p.kind) for p in report.problems] == [(s, k) for s, k, _ in EXPECTED_PROBLEMS]
    for p, (_, _, name) in zip(report.problems, EXPECTED_PROBLEMS):
        assert name in p.detail, p
    eve_dup = report.problems[9].detail
    assert "'eve/'" in eve_dup and "kept 'eve.zip'" in eve_dup
    grace_01 = report.problems[11].detail
    assert "chose 'grace/01_tensor_ops.ipynb'" in grace_01 and "ignored 'grace/01_tensor_ops (1).ipynb'" in grace_01
    assert "chose 'grace/old/02-Autograd_grace.ipynb'" in report.problems[12].detail
    assert "format 3" in report.problems[8].detail
    # dave's format-3 notebook arrives as format 4 (what nbgrader needs), its code kept.
    upgraded = nbformat.read(sub / "dave" / A / "02_autograd.ipynb", as_version=nbformat.NO_CONVERT)
    assert upgraded.nbformat == 4 and [c.source for c in upgraded.cells] == ["x = 3"]
    # who could not be collected, and which notebooks
    assert report.not_collected() == {"carol": NBS, "dave": [A], "frank": NBS, "heidi": [A]}
    # each collected student's time and where it came from; the LMS's late mark kept
    assert {s: (t.source, t.marked_late) for s, t in report.times.items()} == {
        "alice": ("file_mtime", False), "bob": ("zip_member", True), "dave": ("zip_member", False),
        "eve": ("zip_member", False), "grace": ("file_mtime", False), "heidi": ("file_mtime", False),
        "ivan": ("zip_member", False)}

    assert [(c.student, c.source, c.dest) for c in report.collected] == [
        ("alice", "alice/01_tensor_ops.ipynb", sub / "alice" / A / "01_tensor_ops.ipynb"),
        ("alice", "alice/02_autograd.ipynb", sub / "alice" / A / "02_autograd.ipynb"),
        ("bob", "Bob_12345_late.zip!sub/Copy of 01-Tensor Ops (1).ipynb", sub / "bob" / A / "01_tensor_ops.ipynb"),
        ("bob", "Bob_12345_late.zip!sub/02_autograd.ipynb", sub / "bob" / A / "02_autograd.ipynb"),
        ("dave", "dave.zip!02_autograd.ipynb", sub / "dave" / A / "02_autograd.ipynb"),
        ("eve", "eve.zip!01_tensor_ops.ipynb", sub / "eve" / A / "01_tensor_ops.ipynb"),
        ("eve", "eve.zip!02_autograd.ipynb", sub / "eve" / A / "02_autograd.ipynb"),
        ("grace", "grace/01_tensor_ops.ipynb", sub / "grace" / A / "01_tensor_ops.ipynb"),
        ("grace", "grace/old/02-Autograd_grace.ipynb", sub / "grace" / A / "02_autograd.ipynb"),
        ("heidi", "heidi/Copy of 02_Autograd.ipynb", sub / "heidi" / A / "02_autograd.ipynb"),
        ("ivan", "ivan.zip!../../escape/01_tensor_ops.ipynb", sub / "ivan" / A / "01_tensor_ops.ipynb"),
        ("ivan", "ivan.zip!/tmp/escape/02_autograd.ipynb", sub / "ivan" / A / "02_autograd.ipynb"),
    ]

    # timestamp.txt: the newest collected notebook's time, in the format nbgrader parses.
    stamps = {s: (sub / s / A / "timestamp.txt").read_text().strip() for s in ("alice", "bob", "grace")}
    assert stamps == {"alice": ts(utc(T0 + 60)),
                      "bob": "2026-11-20 09:30:10.000000 UTC",
                      "grace": ts(utc(T0))}
    assert stamps["alice"] == "2026-11-24 11:48:41.250000 UTC"
    parse_utc = _nbgrader_utils().parse_utc  # what nbgrader reads timestamp.txt with
    assert parse_utc(stamps["bob"]) == datetime(2026, 11, 20, 9, 30, 10)
    assert parse_utc(stamps["alice"]) == utc(T0 + 60)

    text = report.summary()
    assert "Collected 12 notebook(s) for 7 student(s); 16 problem(s)." in text
    assert "renamed: 3" in text and "duplicate: 3" in text and "extra: 2" in text
    assert "skipped: 1" in text and "upgraded: 1" in text and "late: 1" in text
    for p in report.problems:
        assert p.detail in text
    assert len(text.splitlines()) == 2 + len(report.problems)


def test_recollect_is_idempotent_and_replaces_the_submission(inbox, tmp_path):
    box, want = inbox
    course = tmp_path / "course"
    stale = course / "submitted" / "alice" / A / "01_tensor_ops.ipynb"
    put(stale, b"old", T0)
    put(stale.parent / "leftover.ipynb", b"old", T0)
    put(course / "submitted" / "alice" / "other_assignment" / "x.ipynb", b"keep", T0)
    kept = put(course / "submitted" / "carol" / A / "01_tensor_ops.ipynb", b"earlier good copy", T0)
    before = tree_hash(box)

    first = collect(box, course, A, NBS)
    layout = {f: (course / "submitted" / f).read_bytes() for f in files_under(course / "submitted")}
    second = collect(box, course, A, NBS)

    assert second == first
    assert {f: (course / "submitted" / f).read_bytes() for f in files_under(course / "submitted")} == layout
    assert stale.read_bytes() == want["alice", A]
    assert not (stale.parent / "leftover.ipynb").exists()
    assert layout["alice/other_assignment/x.ipynb"] == b"keep"
    assert layout[f"carol/{A}/01_tensor_ops.ipynb"] == kept  # nothing collected for carol: left alone
    assert not [p for p in (course / "submitted").rglob(".*")]  # no temporary folders left behind
    assert tree_hash(box) == before


@pytest.mark.parametrize("name, sid", [
    ("alice", "alice"),
    ("  Alice ", "alice"),
    ("alice_12345_late", "alice"),
    ("Alice_12345", "alice"),
    ("Bob_Smith_998877_attempt_2", "bob_smith"),
    ("bob_smith", "bob_smith"),
    ("team_07", "team_07"),
    ("s12345", "s12345"),
    ("_12345", "_12345"),
])
def test_student_id(name, sid):
    assert student_id(name) == sid


@pytest.mark.parametrize("filename, tier", [
    ("01_tensor_ops.ipynb", 0),
    ("01_Tensor_Ops.ipynb", 1),
    ("01 tensor-ops.IPYNB", 1),
    ("Copy of 01_tensor_ops.ipynb", 1),
    ("01_tensor_ops (1).ipynb", 2),
    ("01_tensor_ops-1.ipynb", 2),
    ("01_tensor_ops_alice.ipynb", 2),
    ("Copy of 01-Tensor Ops (2).ipynb", 2),
    ("01_tensor_ops.py", None),
    ("01_tensor_ops.ipynb.txt", None),
    ("01_tensor_opsx.ipynb", None),
    ("tensor_ops.ipynb", None),
    ("alice_01_tensor_ops.ipynb", None),
])
def test_match_tier(filename, tier):
    assert match_tier(filename, "01_tensor_ops") == tier


def test_file_goes_to_the_most_specific_expected_name(tmp_path):
    box = tmp_path / "inbox"
    put(box / "amy" / "ops.ipynb", nb_bytes(1), T0)
    put(box / "amy" / "ops_extra (1).ipynb", nb_bytes(2), T0 + 5)
    report = collect(box, tmp_path / "course", "hw", ["ops", "ops_extra"])
    assert [(p.kind, "ops_extra (1).ipynb" in p.detail) for p in report.problems] == [("renamed", True)]
    assert [(c.source, c.dest.name) for c in report.collected] == [("amy/ops.ipynb", "ops.ipynb"),
                                                                   ("amy/ops_extra (1).ipynb", "ops_extra.ipynb")]


def test_two_zips_for_one_student_keep_the_newest(tmp_path):
    box = tmp_path / "inbox"
    box.mkdir()
    make_zip(box / "alice_11111.zip", {"01_tensor_ops.ipynb": (nb_bytes("new"), (2026, 11, 24, 0, 0, 0))}, T0)
    make_zip(box / "Alice_22222_late.zip", {"01_tensor_ops.ipynb": (nb_bytes("old"), (2026, 11, 25, 0, 0, 0))},
             T0 - DAY)
    report = collect(box, tmp_path / "course", A, [A])
    assert [(p.student, p.kind) for p in report.problems] == [("alice", "duplicate")]
    assert "kept 'alice_11111.zip'" in report.problems[0].detail
    assert "ignored 'Alice_22222_late.zip'" in report.problems[0].detail
    assert report.collected[0].source == "alice_11111.zip!01_tensor_ops.ipynb"
    assert report.collected[0].dest.read_bytes() == nb_bytes("new")


def test_unreadable_member_does_not_stop_the_rest(tmp_path):
    box = tmp_path / "inbox"
    box.mkdir()
    good, bad = nb_bytes("good"), nb_bytes("bad")
    make_zip(box / "zoe.zip", {"01_tensor_ops.ipynb": (bad, (2026, 11, 24, 0, 0, 0)),
                               "02_autograd.ipynb": (good, (2026, 11, 24, 0, 0, 0))}, T0,
             compression=zipfile.ZIP_STORED)
    raw = (box / "zoe.zip").read_bytes()
    at = raw.index(bad) + 10  # flip a byte of the first member: its CRC no longer matches
    (box / "zoe.zip").write_bytes(raw[:at] + bytes([raw[at] ^ 0xFF]) + raw[at + 1:])
    put(box / "amy" / "01_tensor_ops.ipynb", good, T0)
    put(box / "amy" / "02_autograd.ipynb", good, T0)
    report = collect(box, tmp_path / "course", A, NBS)
    assert [(p.student, p.kind) for p in report.problems] == [("zoe", "unreadable")]
    assert "zoe.zip!01_tensor_ops.ipynb" in report.problems[0].detail
    assert [(c.student, c.dest.name) for c in report.collected] == [
        ("amy", "01_tensor_ops.ipynb"), ("amy", "02_autograd.ipynb"), ("zoe", "02_autograd.ipynb")]


def test_refuses_to_write_into_the_inbox(tmp_path):
    box = tmp_path / "inbox"
    put(box / "amy" / "01_tensor_ops.ipynb", nb_bytes(1), T0)
    before = tree_hash(box)
    with pytest.raises(ValueError, match="overlap"):
        collect(box, box, A, [A])
    assert tree_hash(box) == before


def test_report_dataclasses():
    report = CollectReport([Collected("amy", "amy/x.ipynb", Path("d/x.ipynb"))],
                           [Problem("amy", "missing", "No notebook 'y.ipynb' in 'amy/'.")])
    assert report.summary().splitlines() == [
        "Collected 1 notebook(s) for 1 student(s); 1 problem(s).",
        "  missing: 1",
        "[missing] amy: No notebook 'y.ipynb' in 'amy/'.",
    ]


# ---------------------------------------------------------------------------------------------
# issue 27: late marks, skipped files, nbgrader's exchange, a lone notebook, hostile names, exit codes


def test_late_mark_in_an_lms_name_is_reported_not_dropped(tmp_path):
    box = tmp_path / "inbox"
    box.mkdir()
    make_zip(box / "pat_lee_123456_late.zip", {"01_tensor_ops.ipynb": (nb_bytes("pat"), (2026, 12, 2, 1, 0, 0))}, T0)
    make_zip(box / "doejohn_LATE_12345_67890.zip", {"01_tensor_ops.ipynb": (nb_bytes("doe"), (2026, 12, 2, 1, 0, 0))},
             T0)
    report = collect(box, tmp_path / "course", A, [A])
    assert [(p.student, p.kind) for p in report.problems] == [("doejohn", "late"), ("pat_lee", "late")]
    assert "'pat_lee_123456_late.zip'" in report.problems[1].detail
    assert report.times["pat_lee"].marked_late and report.times["doejohn"].marked_late
    assert "late: 2" in report.summary()


@pytest.mark.parametrize("name, sid, late", [
    ("pat_lee_123456_late", "pat_lee", True),
    ("doejohn_LATE_12345_67890", "doejohn", True),
    ("Bob_Smith_998877_attempt_2", "bob_smith", False),
    ("late", "late", False),
    ("latecomer_12345", "latecomer", False),
])
def test_lms_name_late_mark(name, sid, late):
    from autograder.instructor.collect import lms_name
    assert lms_name(name) == (sid, late)


def test_every_skipped_file_is_listed_with_its_student(tmp_path):
    box = tmp_path / "inbox"
    put(box / "amy" / "01_tensor_ops.ipynb", nb_bytes("amy"), T0)
    put(box / "amy" / "data" / "weights.pt", b"\0", T0)
    make_zip(box / "ben.zip", {"01_tensor_ops.ipynb": (nb_bytes("ben"), (2026, 11, 24, 0, 0, 0)),
                               "helper.py": (b"x = 1", (2026, 11, 24, 0, 0, 0))}, T0)
    report = collect(box, tmp_path / "course", A, [A])
    assert [(p.student, p.kind, p.detail.split("'")[1]) for p in report.problems] == [
        ("amy", "skipped", "amy/data/weights.pt"), ("ben", "skipped", "ben.zip!helper.py")]
    assert report.not_collected() == {}


def exchange_submission(inbound, student, stamp, data, *, assignment=A, suffix="+abc123", timestamp_txt=True):
    folder = inbound / f"{student}+{assignment}+{stamp}{suffix}"
    put(folder / f"{assignment}.ipynb", data, T0)
    if timestamp_txt:
        put(folder / "timestamp.txt", stamp.encode(), T0)
    return folder


def test_exchange_inbound_layout_latest_submission_per_student(tmp_path):
    """Pointed at <exchange>/<course>/inbound: the student is the part before the first '+', the
    time the third part (or timestamp.txt), the latest submission wins; no invented ids."""
    inbound = tmp_path / "exchange" / "course" / "inbound"
    exchange_submission(inbound, "alice", "2026-12-01 10:00:00.000000 UTC", nb_bytes("alice early"))
    exchange_submission(inbound, "alice", "2026-12-02 09:30:00.500000 UTC", nb_bytes("alice late"))
    exchange_submission(inbound, "bob", "2026-12-01 12:00:00.000000 KST", nb_bytes("bob"), timestamp_txt=False)
    exchange_submission(inbound, "bob", "2026-12-01 12:00:00.000000 UTC", nb_bytes("bob other"),
                        assignment="02_autograd")
    course = tmp_path / "course"
    report = collect(inbound, course, A, [A])

    sub = course / "submitted"
    assert sorted(p.name for p in sub.iterdir()) == ["alice", "bob"]  # never 'alice+01_tensor_ops+...'
    assert (sub / "alice" / A / f"{A}.ipynb").read_bytes() == nb_bytes("alice late")
    assert (sub / "alice" / A / "timestamp.txt").read_text().strip() == "2026-12-02 09:30:00.500000 UTC"
    assert report.times["alice"].source == "exchange"
    assert report.times["bob"].source == "exchange_name"
    assert [(p.student, p.kind) for p in report.problems] == [("bob", "skipped"), ("alice", "duplicate")]
    assert "another assignment ('02_autograd')" in report.problems[0].detail
    assert "kept 'alice+01_tensor_ops+2026-12-02 09:30:00.500000 UTC+abc123/' (the latest submission)" in \
        report.problems[1].detail
    assert not any("timestamp.txt" in p.detail for p in report.problems)


def test_a_lone_notebook_is_taken_for_the_only_expected_one(tmp_path):
    box = tmp_path / "inbox"
    put(box / "amy" / "homework.ipynb", nb_bytes("amy"), T0)
    put(box / "ben" / "homework.ipynb", nb_bytes("ben"), T0)  # two notebooks: ambiguous, not taken
    put(box / "ben" / "scratch.ipynb", nb_bytes("ben 2"), T0)
    report = collect(box, tmp_path / "course", A, [A])
    assert [(c.student, c.source) for c in report.collected] == [("amy", "amy/homework.ipynb")]
    assert [(p.student, p.kind) for p in report.problems] == [
        ("amy", "renamed"), ("ben", "missing"), ("ben", "extra"), ("ben", "extra")]
    assert "'amy/homework.ipynb' is the only notebook in 'amy/'; taken as '01_tensor_ops.ipynb'" in \
        report.problems[0].detail
    # with two expected notebooks a lone one is not guessed at
    report = collect(box, tmp_path / "course2", A, NBS)
    assert not report.collected


def test_control_characters_in_names_are_escaped_in_the_report(tmp_path):
    box = tmp_path / "inbox"
    box.mkdir()
    make_zip(box / "eve.zip", {"01_tensor_ops.ipynb": (nb_bytes("eve"), (2026, 11, 24, 0, 0, 0)),
                               "\x1b[2J\x1b]0;pwned\x07.txt": (b"x", (2026, 11, 24, 0, 0, 0))}, T0)
    put(box / "mal\x1b[31mlory" / "01_tensor_ops.ipynb", nb_bytes("m"), T0)
    put(box / "mal\x1b[31mlory" / "x\rnotes.txt", b"x", T0)
    report = collect(box, tmp_path / "course", A, [A])
    text = report.summary()
    assert "\x1b" not in text and "\x07" not in text and "\r" not in text
    assert "\\x1b[2J\\x1b]0;pwned\\x07.txt" in text and "'mal\\x1b[31mlory/' has control characters" in text
    # such a name is no student id: nothing is written under it
    assert [c.student for c in report.collected] == ["eve"]
    assert sorted(p.name for p in (tmp_path / "course" / "submitted").iterdir()) == ["eve"]


def run_cli(*args, cwd):
    import subprocess
    import sys
    return subprocess.run([sys.executable, "-m", "autograder", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)})


@pytest.fixture
def course(tmp_path):
    root = tmp_path / "course"
    put(root / "nbgrader_config.py", b"c = get_config()\n", T0)
    put(root / "source" / A / f"{A}.ipynb", nb_bytes("source"), T0)
    return root


def test_cli_bad_inbox_is_one_line_and_exit_2(course, tmp_path):
    missing = run_cli("collect", A, str(tmp_path / "nowhere"), cwd=course)
    put(course / "submitted" / "inbox" / "amy" / f"{A}.ipynb", nb_bytes("amy"), T0)
    inside = run_cli("collect", A, str(course / "submitted" / "inbox"), cwd=course)
    containing = run_cli("collect", A, str(course), cwd=course)
    for proc, words in ((missing, "does not exist"), (inside, "overlap"), (containing, "overlap")):
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert words in proc.stderr and proc.stdout == ""
    assert sorted(p.name for p in (course / "submitted").iterdir()) == ["inbox"]  # nothing written


def test_cli_exit_1_names_the_students_not_collected(course, tmp_path):
    box = tmp_path / "inbox"
    put(box / "amy" / f"{A}.ipynb", nb_bytes("amy"), T0)
    put(box / "ben" / f"{A}.ipynb", b"", T0)
    put(box / "cat" / "notes.txt", b"x", T0)
    proc = run_cli("collect", A, str(box), cwd=course)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "not collected (2 student(s)): ben (01_tensor_ops.ipynb); cat (01_tensor_ops.ipynb)" in proc.stderr
    assert "[skipped] cat: 'cat/notes.txt' is not a notebook" in proc.stdout
    log = json.loads((course / "reports" / A / "collect_log.json").read_text())
    assert log == {"amy": {"entry": "amy/", "timestamp": ts(utc(T0)), "timestamp_source": "file_mtime",
                           "marked_late": False}}
    ok = tmp_path / "ok"
    put(ok / "dan" / f"{A}.ipynb", nb_bytes("dan"), T0)
    proc = run_cli("collect", A, str(ok), cwd=course)
    assert proc.returncode == 0, proc.stderr
    assert sorted(json.loads((course / "reports" / A / "collect_log.json").read_text())) == ["amy", "dan"]


def test_format_3_is_upgraded_as_grading_reads_it(tmp_path):
    """collect upgrades a format-3 notebook to the notebook grading sees when one is put in
    submitted/ directly (nbgrader_api.sanitize reads with as_version=4): same cells, same
    nbgrader metadata, so both paths grade it the same (a correct one full marks, as any)."""
    from nbformat.v4 import new_notebook as v4_notebook
    cell = new_code_cell("def f():\n    return 1", id="sol")
    cell.metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": "f", "locked": False,
                                 "schema_version": 3}
    v3 = nbformat.writes(nbformat.convert(v4_notebook(cells=[cell]), 3), version=3).encode()
    put(tmp_path / "inbox" / "amy" / f"{A}.ipynb", v3, T0)
    report = collect(tmp_path / "inbox", tmp_path / "course", A, [A])
    assert [p.kind for p in report.problems] == ["upgraded"]
    collected = nbformat.read(report.collected[0].dest, as_version=nbformat.NO_CONVERT)
    graded = nbformat.read(tmp_path / "inbox" / "amy" / f"{A}.ipynb", as_version=4)  # what grading reads
    assert collected.nbformat == 4
    assert [(c.cell_type, c.source, c.metadata) for c in collected.cells] == \
        [(c.cell_type, c.source, c.metadata) for c in graded.cells]
    assert collected.cells[0].metadata["nbgrader"]["grade_id"] == "f"


def test_canvas_bulk_download_files_are_grouped_per_student(tmp_path):
    """Canvas's 'Download submissions' puts every file in the inbox itself, named
    <name>[_LATE]_<user id>_<attachment id>_<file>; a resubmission gets '-1'."""
    box = tmp_path / "inbox"
    put(box / "leepat_LATE_123456_7654321_01_tensor_ops.ipynb", nb_bytes("pat"), T0)
    put(box / "kimmin_234567_7654322_01_tensor_ops.ipynb", nb_bytes("min old"), T0 - DAY)
    put(box / "kimmin_234567_7654399_01_tensor_ops-1.ipynb", nb_bytes("min new"), T0)
    put(box / "kimmin_234567_7654323_notes.txt", b"x", T0)  # not a notebook: reported, no student known
    report = collect(box, tmp_path / "course", A, [A])
    sub = tmp_path / "course" / "submitted"
    assert sorted(p.name for p in sub.iterdir()) == ["kimmin", "leepat"]
    assert (sub / "leepat" / A / f"{A}.ipynb").read_bytes() == nb_bytes("pat")
    assert (sub / "kimmin" / A / f"{A}.ipynb").read_bytes() == nb_bytes("min old")  # exact name beats '-1'
    assert [(p.student, p.kind) for p in report.problems] == [
        ("", "extra"), ("kimmin", "duplicate"), ("leepat", "late")]
    assert report.times["leepat"].marked_late and report.times["leepat"].source == "file_mtime"


def test_progress_bar_from_many_entries_only(tmp_path, capsys):
    box = tmp_path / "inbox"
    for i in range(25):
        put(box / f"s{i:02d}" / f"{A}.ipynb", nb_bytes(i), T0)
    collect(box, tmp_path / "course", A, [A], progress=True)
    assert "collecting 01_tensor_ops" in capsys.readouterr().err
    few = tmp_path / "few"
    put(few / "amy" / f"{A}.ipynb", nb_bytes("amy"), T0)
    collect(few, tmp_path / "course", A, [A], progress=True)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("level", ["exchange", "course"])
def test_the_exchange_itself_is_refused_naming_its_inbound(tmp_path, level):
    inbound = tmp_path / "exchange" / "course" / "inbound"
    exchange_submission(inbound, "alice", "2026-12-01 10:00:00.000000 UTC", nb_bytes("alice"))
    (tmp_path / "exchange" / "course" / "outbound" / A).mkdir(parents=True)
    inbox = tmp_path / "exchange" if level == "exchange" else tmp_path / "exchange" / "course"
    with pytest.raises(ValueError, match="not its inbound folder") as info:
        collect(inbox, tmp_path / "course", A, [A])
    assert str(inbound) in str(info.value)
    assert not (tmp_path / "course").exists()


def test_blackboard_download_time_of_the_attempt_from_the_file_name(tmp_path):
    """Blackboard names each file <assignment>_<user>_attempt_<YYYY-MM-DD-HH-MM-SS>_<file>, with a
    .txt receipt per attempt; the time is the LMS's local time (the course's time zone)."""
    box = tmp_path / "inbox"
    put(box / "HW 1_jsmith_attempt_2026-12-01-23-59-12_01_tensor_ops.ipynb", nb_bytes("js"), T0)
    put(box / "HW 1_jsmith_attempt_2026-12-01-23-59-12.txt", b"receipt", T0)
    put(box / "HW 1_akim_attempt_2026-12-02-08-00-00_homework.ipynb", nb_bytes("ak"), T0)
    report = collect(box, tmp_path / "course", A, [A], timezone="Asia/Seoul")
    sub = tmp_path / "course" / "submitted"
    assert (sub / "jsmith" / A / f"{A}.ipynb").read_bytes() == nb_bytes("js")
    assert (sub / "akim" / A / f"{A}.ipynb").read_bytes() == nb_bytes("ak")  # its only notebook
    assert (sub / "jsmith" / A / "timestamp.txt").read_text().strip() == "2026-12-01 14:59:12.000000 UTC"
    assert {s: t.source for s, t in report.times.items()} == {"akim": "lms_name", "jsmith": "lms_name"}
    assert [(p.student, p.kind) for p in report.problems] == [("akim", "renamed"), ("jsmith", "skipped")]
    assert "HW 1_jsmith_attempt_2026-12-01-23-59-12.txt" in report.problems[1].detail


def test_links_in_a_folder_are_reported_never_followed(tmp_path):
    secret = tmp_path / "secret" / "answers.ipynb"
    put(secret, nb_bytes("instructor only"), T0)
    box = tmp_path / "inbox"
    (box / "amy").mkdir(parents=True)
    (box / "amy" / f"{A}.ipynb").symlink_to(secret)
    (box / "amy" / "more").symlink_to(secret.parent, target_is_directory=True)
    report = collect(box, tmp_path / "course", A, [A])
    assert report.collected == [] and not (tmp_path / "course" / "submitted").exists()
    assert [(p.student, p.kind) for p in report.problems] == [("amy", "skipped"), ("amy", "skipped"),
                                                             ("amy", "missing")]
    assert all("symbolic link" in p.detail for p in report.problems[:2])

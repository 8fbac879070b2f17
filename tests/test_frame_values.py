"""A frame's parse is bounded, not only its bytes (issue 24).

64 MiB of JSON such as `[[],[],...]` parses to over a GiB of Python objects: the frame cap alone
let a candidate drive its judge (or a notebook child its server) to twenty times the cap.
`frames.parse` counts the values first, at C speed, and refuses a frame of more than
`MAX_VALUES` as Malformed (charged to its sender); the biggest legitimate frames still parse.
Each frame is parsed in a process of its own, whose peak memory is measured (printed with -s).
"""

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.protocol import frames

ROOT = Path(__file__).resolve().parents[1]
SIZE = frames.MAX_FRAME - 16

PARSE = """
import sys, time
from autograder.protocol import frames

def peak():  # this process's own high-water mark (getrusage's survives exec: the parent's)
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM"))
{patch}
body = open(sys.argv[1], "rb").read()
base = peak()
start = time.perf_counter()
try:
    frames.parse(body)
    said = "parsed"
except frames.Malformed as exc:
    said = "malformed"
print(said, (peak() - base) // 1024, round(time.perf_counter() - start, 3))
"""


def parse_in_a_process(path, patch=""):
    """(parsed or malformed, peak memory the parse added in MiB, seconds)."""
    out = subprocess.run([sys.executable, "-c", PARSE.format(patch=patch), str(path)], capture_output=True,
                         text=True, timeout=600, cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr[-2000:]
    said, mib, seconds = out.stdout.split()
    return said, int(mib), float(seconds)



HOSTILE = {  # each 64 MiB
    "empty lists": b"[" + b"[]," * ((SIZE - 4) // 3) + b"[]]",
    "empty dicts": b"[" + b"{}," * ((SIZE - 4) // 3) + b"{}]",
    "zeros": b"[" + b"0," * ((SIZE - 3) // 2) + b"0]",
    "one-key dicts": b"[" + b'{"":0},' * ((SIZE - 9) // 7) + b'{"":0}]',
}


def legitimate():
    """The biggest frames the grader sends or accepts, near the cap."""
    tensor = base64.b64encode(bytes(4 << 20)).decode()  # a million float32
    text = ("0.5, " * 200_000 + "\n")[:1_000_000]  # a printed list: commas in text are no values
    outputs = [{"output_type": "stream", "name": "stdout", "text": text} for _ in range(32)]
    return {
        "a 1M-element tensor": json.dumps({"$": "tensor", "dtype": "float32", "shape": [1 << 20], "data": tensor}),
        "a notebook's 32 MiB of printed lists": json.dumps({"op": "notebook_done", "cells": [[i, outputs[:1]] for i in range(32)]}),
        "a list of a million numbers": json.dumps({"$": "list", "items": [0.25] * 1_000_000}),
        "a 60 MiB notebook's cells": json.dumps({"cells": [[i, "x = [1, 2, 3], {'a': 1}\n" * 50_000] for i in range(50)]}),
    }


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_a_frame_of_millions_of_values_is_refused_before_it_is_parsed(tmp_path, name):
    path = tmp_path / "frame"
    path.write_bytes(HOSTILE[name])
    assert len(HOSTILE[name]) <= frames.MAX_FRAME
    said, mib, seconds = parse_in_a_process(path)
    print(f"{name}: {said}, +{mib} MiB, {seconds} s")
    assert said == "malformed" and mib < 64, (said, mib)


@pytest.mark.parametrize("name", sorted(legitimate()))
def test_the_biggest_legitimate_frames_still_parse(tmp_path, name):
    body = legitimate()[name].encode()
    assert len(body) <= frames.MAX_FRAME, len(body)
    path = tmp_path / "frame"
    path.write_bytes(body)
    said, mib, seconds = parse_in_a_process(path)
    print(f"{name} ({len(body) >> 20} MiB): {said}, +{mib} MiB, {seconds} s")
    assert said == "parsed" and seconds < 30


def test_values_are_counted_outside_strings_only():
    assert frames.values_in(b'["a,b:[{", 1]') in (3, 2 + 4)  # a quick count may include the text's
    many = json.dumps(["," * (frames.MAX_VALUES + 10)]).encode()
    assert frames.values_in(many) == 1  # over the cap at first sight: counted again, without strings
    assert frames.parse(many) == ["," * (frames.MAX_VALUES + 10)]
    with pytest.raises(frames.Malformed):
        frames.parse(b"[" + b"0," * frames.MAX_VALUES + b"0]")
    escaped = json.dumps(['\\",' * (frames.MAX_VALUES + 10)]).encode()  # escapes: no string ends early
    assert frames.values_in(escaped) == 1

"""`make lab` serves JupyterLab on release/ (the student's view), as root too."""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from conftest import ASSIGNMENTS, ROOT

pytestmark = pytest.mark.slow


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_make_lab_serves_the_release_notebooks():
    port, token = free_port(), "course-test"
    args = f"--no-browser --ip=127.0.0.1 --port={port} --IdentityProvider.token={token}"
    proc = subprocess.Popen(["make", "-s", "lab", f"LAB_ARGS={args}"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        listing = None
        for _ in range(120):
            time.sleep(0.5)
            assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
            try:
                url = f"http://127.0.0.1:{port}/api/contents/{ASSIGNMENTS[0]}?token={token}"
                with urllib.request.urlopen(url, timeout=5) as response:
                    listing = json.load(response)
                break
            except OSError:
                continue
        assert listing is not None, "JupyterLab did not answer within 60 s"
        names = [item["name"] for item in listing["content"]]
        assert f"{ASSIGNMENTS[0]}.ipynb" in names
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab?token={token}", timeout=5) as page:
            assert page.status == 200
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)

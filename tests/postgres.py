"""A throwaway PostgreSQL server for the tests: Debian's binaries, a cluster in a temporary
folder, one database, on a free port of 127.0.0.1.

    with PostgresServer() as server:      # seconds: initdb, start, wait until ready
        url = server.create_database("grades")   # postgresql+psycopg2://postgres@127.0.0.1:PORT/grades

The server runs as the `postgres` user when we are root (PostgreSQL refuses root), listens on
127.0.0.1 only, keeps its socket in the temporary folder, trusts local connections, and is
stopped and its folder removed on leaving the block, whatever happened inside. `unavailable()`
says why none can be started here (no binaries, no psycopg2, root without a `postgres` user),
or None. `make setup` installs Debian's `postgresql` when run as root.
"""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

START_SECONDS = 60


def binaries():
    """The folder of the newest PostgreSQL server binaries (Debian's /usr/lib/postgresql/N/bin,
    else initdb on PATH), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parent.parent.name)
                   if Path(p).parent.parent.name.isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def _server_user():
    """The user the server runs as: `postgres` when we are root, else ourselves (None)."""
    if os.geteuid() != 0:
        return None
    return pwd.getpwnam("postgres")


def unavailable():
    """Why no server can be started here, or None."""
    if binaries() is None:
        return "PostgreSQL is not installed (Debian: apt-get install postgresql; make setup does it as root)"
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        return "psycopg2 is not installed (requirements.txt pins psycopg2-binary)"
    if os.geteuid() == 0:
        try:
            _server_user()
        except KeyError:
            return "running as root and there is no `postgres` user to run the server as"
    return None


def started_or_skipped():
    """A `PostgresServer` to enter, or the test skipped saying why none can start here (failed
    instead where the tests must all run: `COURSE_REQUIRE_BROWSER=1`, as on CI)."""
    import pytest
    reason = unavailable()
    if reason:
        if os.environ.get("COURSE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"the PostgreSQL tests must run here (COURSE_REQUIRE_BROWSER=1) but {reason}")
        pytest.skip(f"PostgreSQL tests skipped: {reason}")
    return PostgresServer()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """One private PostgreSQL server (see the module docstring)."""

    def __init__(self):
        self.bin = binaries()
        self.user = _server_user()
        self.folder = None
        self.port = None

    def _run(self, *args, timeout=START_SECONDS):
        command = [str(self.bin / args[0]), *map(str, args[1:])]
        if self.user is not None:
            command = ["runuser", "-u", self.user.pw_name, "--", *command]
        proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=self.folder)
        if proc.returncode != 0:
            log = self.folder / "server.log"
            raise RuntimeError(f"{args[0]} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}\n"
                               + (log.read_text()[-2000:] if log.is_file() else ""))
        return proc

    def __enter__(self):
        self.folder = Path(tempfile.mkdtemp(prefix="autograder-postgres-"))
        try:
            if self.user is not None:
                os.chown(self.folder, self.user.pw_uid, self.user.pw_gid)
            self._run("initdb", "-D", self.folder / "data", "-U", "postgres", "--auth=trust",
                      "--encoding=UTF8", "--no-sync")
            self.port = free_port()
            options = (f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 "
                       "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
            self._run("pg_ctl", "start", "-w", "-t", START_SECONDS, "-D", self.folder / "data",
                      "-l", self.folder / "server.log", "-o", options)
            self._wait()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _wait(self):
        import psycopg2
        deadline = time.monotonic() + START_SECONDS
        while True:
            try:
                psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres").close()
                return
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def url(self, database):
        return f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name):
        """A new empty database `name`; returns its SQLAlchemy URL."""
        import psycopg2
        con = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres")
        try:
            con.autocommit = True
            with con.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            con.close()
        return self.url(name)

    def __exit__(self, *exc):
        if self.folder is None:
            return
        try:
            if (self.folder / "data" / "postmaster.pid").exists():
                self._run("pg_ctl", "stop", "-w", "-m", "immediate", "-D", self.folder / "data")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

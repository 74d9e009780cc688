"""A throwaway PostgreSQL cluster for the tests: initdb + pg_ctl in a temp dir on a free loopback port.

`pg_server` (session scope) starts the cluster once and stops it at the end; `pg_database` gives each test a
fresh, empty database (dropped afterwards) as a `postgresql+asyncpg://` URL. Debian's server packages are
expected under /usr/lib/postgresql/*/bin (`make system-deps` installs them when missing). No test depends on a
server that is already running or on a fixed port.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


def pg_bin_dir() -> Path | None:
    """The newest installed server's bin directory, or None when no server package is installed."""
    dirs = [d for d in glob.glob("/usr/lib/postgresql/*/bin") if os.path.exists(os.path.join(d, "initdb"))]
    if not dirs:
        return None
    return Path(max(dirs, key=lambda d: [int(x) for x in Path(d).parent.name.split(".") if x.isdigit()]))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(args: list[str]) -> list[str]:
    """initdb and pg_ctl refuse to run as root: run them as the postgres user then."""
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@dataclass
class PgServer:
    """A running throwaway cluster."""

    bin: Path
    root: Path
    port: int

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> None:
        subprocess.run(
            [
                str(self.bin / "psql"),
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
                "-c",
                sql,
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def create_database(self) -> str:
        name = f"t_{uuid.uuid4().hex[:16]}"
        self.psql(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def restart(self) -> None:
        """A fast restart (clients are disconnected; pg_ctl keeps the options of the last start)."""
        done = subprocess.run(
            _as_postgres(
                [
                    str(self.bin / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.root / "log"),
                    "-m",
                    "fast",
                    "-w",
                    "restart",
                ]
            ),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr or done.stdout

    def stop(self) -> None:
        subprocess.run(
            _as_postgres([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"]),
            capture_output=True,
            timeout=60,
        )


def start_pg_server() -> PgServer:
    """initdb a cluster in a new temp dir and start it on a free port (retrying if the port got taken)."""
    bindir = pg_bin_dir()
    if bindir is None:
        pytest.fail(
            "PostgreSQL server binaries not found: run `make system-deps` (apt-get install postgresql)"
        )
    root = Path(tempfile.mkdtemp(prefix="openlines-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    data = root / "data"
    init = subprocess.run(
        _as_postgres(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-locale",
            ]
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if init.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"initdb failed: {init.stderr or init.stdout}")
    last_error = ""
    for _ in range(5):
        port = _free_port()
        opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
        opts += " -c synchronous_commit=off -c full_page_writes=off"
        started = subprocess.run(
            _as_postgres(
                [str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-o", opts, "start"]
            ),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if started.returncode == 0:
            return PgServer(bindir, root, port)
        last_error = (root / "log").read_text(errors="replace")[-2000:] if (root / "log").exists() else ""
    shutil.rmtree(root, ignore_errors=True)
    pytest.fail(f"pg_ctl start failed: {last_error}")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One throwaway cluster for the whole test session."""
    server = start_pg_server()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.root, ignore_errors=True)


@pytest.fixture
def pg_database(pg_server: PgServer) -> Iterator[str]:
    """A fresh empty database for one test, as a SQLAlchemy async URL; dropped afterwards."""
    name = pg_server.create_database()
    try:
        yield pg_server.url(name)
    finally:
        pg_server.drop_database(name)

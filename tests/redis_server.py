"""A real throwaway `redis-server` for tests (Debian package redis-server, which `make test` installs).

Use the fixtures from a test module with `from tests.redis_server import redis_server, redis_url  # noqa: F401`:
`redis_server` (session-scoped) starts one server on a free port; `redis_url` flushes it before each test.
`redis_cluster` / `redis_cluster_url` do the same for a real Redis Cluster of three primaries (cluster mode of
the same redis-server, joined with `redis-cli --cluster create`).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis


class RedisServer:
    """One redis-server process on 127.0.0.1, data dir in a temp dir; persistence off unless `persistent`, then
    with the settings the README recommends (append-only file, fsync every second)."""

    def __init__(self, binary: str, *, persistent: bool = False, cluster: bool = False) -> None:
        self.binary = binary
        self.persistent = persistent
        self.cluster = cluster
        self.tmp = tempfile.TemporaryDirectory(prefix="openlines-redis-")
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._start()

    def _start(self) -> None:
        log = Path(self.tmp.name) / "redis.log"
        persistence = (
            ["--appendonly", "yes", "--appendfsync", "everysec"]
            if self.persistent
            else ["--appendonly", "no"]
        )
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                *persistence,
                "--dir",
                self.tmp.name,
                "--logfile",
                str(log),
                *(self._cluster_args() if self.cluster else []),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except (redis.ConnectionError, redis.BusyLoadingError):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(  # noqa: B904
                        f"redis-server did not start: {log.read_text() if log.exists() else ''}"
                    )
                time.sleep(0.02)
        client.close()

    def _cluster_args(self) -> list[str]:
        bus_port = str(_free_port())  # the cluster bus: any free port, not port + 10000 (it may be taken)
        return ["--cluster-enabled", "yes", "--cluster-port", bus_port, "--cluster-config-file", "nodes.conf"]

    def shutdown_nosave(self) -> None:
        """`SHUTDOWN NOSAVE`: the server goes away at once (what is in the append-only file stays)."""
        # the server closes the connection as it exits
        with redis.Redis(port=self.port) as client, contextlib.suppress(redis.ConnectionError):
            client.shutdown(nosave=True)
        self.proc.wait(10)

    def start_again(self) -> None:
        """Start on the same port and data directory."""
        self._start()

    def flush(self) -> None:
        """Empty the server (between tests)."""
        with redis.Redis(port=self.port) as client:
            client.flushall()

    def stop(self) -> None:
        """Stop the server and remove its directory."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.tmp.cleanup()


class RedisClusterServers:
    """Three redis-server processes in cluster mode, one primary each, the 16,384 slots split between them."""

    def __init__(self, binary: str) -> None:
        self.nodes = [RedisServer(binary, cluster=True) for _ in range(3)]
        self.url = f"redis://127.0.0.1:{self.nodes[0].port}/0"
        cli = shutil.which("redis-cli") or "/usr/bin/redis-cli"
        addresses = [f"127.0.0.1:{n.port}" for n in self.nodes]
        done = subprocess.run(
            [cli, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            self.stop()
            raise RuntimeError(f"redis-cli --cluster create failed: {done.stdout}{done.stderr}")
        deadline = time.monotonic() + 30
        for node in self.nodes:  # every node must agree the cluster is up before a client connects
            with redis.Redis(port=node.port) as client:
                while client.execute_command("CLUSTER INFO").get("cluster_state") != "ok":
                    if time.monotonic() > deadline:
                        self.stop()
                        raise RuntimeError("the Redis Cluster did not reach cluster_state:ok")
                    time.sleep(0.05)

    def flush(self) -> None:
        """Empty every primary (between tests)."""
        for node in self.nodes:
            node.flush()

    def stop(self) -> None:
        """Stop every node."""
        for node in self.nodes:
            node.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _binary() -> str:
    binary = shutil.which("redis-server") or (
        "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
    )
    if binary is None:
        pytest.fail("redis-server is not installed: run `make system-deps` (apt-get install redis-server)")
    return binary


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server for the whole session; fails loudly when redis-server is missing (never a silent skip)."""
    server = RedisServer(_binary())
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """The test server's URL, emptied for this test."""
    redis_server.flush()
    return redis_server.url


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisClusterServers]:
    """A three-primary Redis Cluster for the whole session."""
    servers = RedisClusterServers(_binary())
    try:
        yield servers
    finally:
        servers.stop()


@pytest.fixture
def redis_cluster_url(redis_cluster: RedisClusterServers) -> str:
    """The URL of one node of the test cluster (clients discover the rest), emptied for this test."""
    redis_cluster.flush()
    return redis_cluster.url

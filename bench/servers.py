"""The servers under test, each in its own process: `openlines run` on a throwaway config, and the bare relay."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from bench.common import REPO, free_port, progress, raise_fd_limit

LINE = "bench"


def daemon_config(tmp: Path, *, operators: int, visitors: int) -> tuple[Path, list[str]]:
    """A config with embedded defaults (SQLite under `tmp`, in-process queues) and one widget line whose
    `operators` take dialogs in `even` mode; returns the file and the operators' logins.

    The widget's per-visitor and per-address message limits are raised to their maxima and the line trusts
    X-Forwarded-For (each simulated visitor sends its own address): the defaults (30 messages a minute per
    visitor, 120 per address) are abuse limits for real browsers, and every simulated visitor comes from
    127.0.0.1. The per-connection frame cap (20 frames/s) is not configurable and stays in force.
    """
    logins = [f"op{i + 1}" for i in range(operators)]
    per_operator = max(10, visitors)  # any operator could end up with every dialog
    cfg: dict[str, Any] = {
        "version": 1,
        "var_dir": str(tmp / "var"),
        "http": {"host": "127.0.0.1", "port": 0},
        "log": {"level": "warning", "format": "json"},
        "operators": [{"login": login, "name": f"Operator {i + 1}"} for i, login in enumerate(logins)],
        "lines": [
            {
                "id": LINE,
                "name": "Bench",
                "channels": [
                    {
                        "type": "widget",
                        "trust_forwarded_for": True,
                        "rate_per_visitor": 6000,
                        "burst_per_visitor": 1000,
                        "rate_per_ip": 60000,
                        "burst_per_ip": 10000,
                    }
                ],
                "queue": logins,
                "distribution": {"mode": "even", "max_dialogs": per_operator, "offer_timeout": "10m"},
            }
        ],
    }
    path = tmp / "openlines.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path, logins


class Server:
    """A server subprocess on a free loopback port; `stop()` sends SIGTERM and waits."""

    def __init__(self, name: str, argv: list[str], port: int, log: Path, env: dict[str, str]) -> None:
        self.name = name
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.log = log
        self._log_file = log.open("wb")
        self.proc = subprocess.Popen(
            argv,
            cwd=REPO,
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            preexec_fn=raise_fd_limit,  # 10,000 sockets need more than the usual 1,024 descriptors
        )
        self.pid = self.proc.pid

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(f"{self.base}/healthz", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer /healthz within {timeout}s:\n{self.tail()}")

    def stop(self, timeout: float = 60.0) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                progress(f"{self.name} did not stop within {timeout}s: killing it")
                self.proc.kill()
                self.proc.wait()
        self._log_file.close()

    def tail(self, n: int = 30) -> str:
        if not self._log_file.closed:
            self._log_file.flush()
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


def start_daemon(
    tmp: Path, *, operators: int, visitors: int, profile: Path | None = None
) -> tuple[Server, list[str], str]:
    """`openlines run --config FILE` (optionally under pyinstrument, writing `profile`.*)."""
    tmp.mkdir(parents=True, exist_ok=True)
    config, logins = daemon_config(tmp, operators=operators, visitors=visitors)
    port = free_port()
    password = secrets.token_urlsafe(12)
    env = {**os.environ, "OPENLINES_HTTP_PORT": str(port), "OPENLINES_DEMO_PASSWORD": password}
    openlines = Path(sys.executable).parent / "openlines"
    cmd = [str(openlines)] if openlines.exists() else [sys.executable, "-m", "router.app.cli"]
    if profile is not None:
        cmd = [sys.executable, "-m", "bench.profiled", str(profile)]
    argv = [*cmd, "run", "--config", str(config)]
    server = Server("openlines", argv, port, tmp / "daemon.log", env)
    server.wait_ready()
    return server, logins, password


def start_relay(tmp: Path) -> Server:
    """The bare aiohttp relay (bench/relay.py)."""
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = [sys.executable, "-m", "bench.relay", "--port", str(port)]
    server = Server("relay", argv, port, tmp / "relay.log", dict(os.environ))
    server.wait_ready()
    return server

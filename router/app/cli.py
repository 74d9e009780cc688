"""The `openlines` command: run, check-config, migrate, import leads, export leads."""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import gc
import os
import signal
import sys
from pathlib import Path

from connectors import VALIDATORS
from crm_core import migrate
from router.app import lead_cli, logs
from router.app.settings import Settings, load_settings

EXIT_CONFIG = 2
ROLES = ("all", "web", "router", "connectors")
# Every message makes thousands of short-lived objects (frames, events, rows); with CPython's default threshold
# (700) the collector ran about every message and, scanning the sockets and caches each time, took a fifth of the
# web process's CPU under load. A young generation this big costs a few MB.
GC_THRESHOLD = (50_000, 20, 100)


def tune_gc() -> None:
    """Collect garbage cycles far less often than CPython's default (GC_THRESHOLD says why)."""
    gc.set_threshold(*GC_THRESHOLD)


def _load(path: str) -> Settings:
    settings, problems = load_settings(path, channel_validators=VALIDATORS)
    if problems or settings is None:
        for p in problems:
            print(p, file=sys.stderr)
        raise SystemExit(EXIT_CONFIG)
    return settings


def cmd_check_config(args: argparse.Namespace) -> int:
    """Print every problem of a config file as FILE:LINE: path: message; exit 2 if there are any."""
    settings, problems = load_settings(args.file, channel_validators=VALIDATORS)
    for p in problems:
        print(p)
    if problems:
        return EXIT_CONFIG
    assert settings is not None
    print(f"{args.file}: ok ({len(settings.lines)} lines, {len(settings.operators)} operators)")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    """Bring the database schema up to date."""
    settings = _load(args.config)
    Path(settings.var_dir).mkdir(parents=True, exist_ok=True)
    migrate.upgrade(settings.database_url)
    print("database is up to date")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Run the daemon in the given role."""
    settings = _load(args.config)
    if args.role != "all" and settings.queue.backend == "memory":
        print(
            f"role {args.role!r} needs a shared queue backend (queue.backend: redis); "
            "the memory backend only runs as role 'all'",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    logs.configure(settings.log.level, settings.log.format)
    tune_gc()
    return asyncio.run(_run(settings, args.role))


async def _run(settings: Settings, role: str) -> int:
    from router.app.daemon import Daemon

    daemon = Daemon(settings, role=role)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGQUIT, _dump_tasks)
    # `kill -USR2 <pid>`: every thread's Python stack, written by the interpreter itself, so it works even when the
    # event loop is stuck in a call that never returns (SIGQUIT's task dump needs the loop to run)
    faulthandler.register(signal.SIGUSR2, all_threads=True, chain=False)
    await daemon.start()
    # what start-up made (modules, settings, the app) lives as long as the process: out of the collector's way
    gc.freeze()
    if role in ("all", "web"):
        _banner(daemon)
    await stop.wait()
    await daemon.stop()
    return 0


def _dump_tasks() -> None:
    """`kill -QUIT <pid>` (as for a JVM thread dump): print where every task of the process waits (a stuck stop or loop)."""
    for task in asyncio.all_tasks():
        print(f"--- task {task.get_name()}", file=sys.stderr)
        task.print_stack(limit=12, file=sys.stderr)
        # the task's own stack stops at its top coroutine: follow what each coroutine awaits, down to the future
        awaited = getattr(task.get_coro(), "cr_await", None)
        while awaited is not None:
            frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
            if frame is not None:
                print(
                    f"  awaits {frame.f_code.co_qualname} ({frame.f_code.co_filename}:{frame.f_lineno})",
                    file=sys.stderr,
                )
            else:
                print(f"  awaits {awaited!r}"[:300], file=sys.stderr)
            awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
    sys.stderr.flush()


def _banner(daemon: object) -> None:
    from router.app.daemon import Daemon

    assert isinstance(daemon, Daemon) and daemon.secrets is not None
    s = daemon.settings
    host = s.http.host if s.http.host not in ("0.0.0.0", "::") else "127.0.0.1"
    base = (s.http.public_url or f"http://{host}:{daemon.port}").rstrip("/")
    widget_lines = [ln.id for ln in s.lines if any(c.get("type") == "widget" for c in ln.channels)]
    lines = [
        "",
        "openlines is running",
        f"  operator console: {base}/console/",
    ]
    for line_id in widget_lines:
        suffix = "" if line_id == widget_lines[0] else f"?line={line_id}"
        lines.append(f"  demo page ({line_id}): {base}/demo/{suffix}")
    if daemon.secrets.demo_logins:
        source = (
            "from OPENLINES_DEMO_PASSWORD"
            if os.environ.get("OPENLINES_DEMO_PASSWORD")
            else f"kept in {Path(s.var_dir) / 'demo-password'}"
        )
        lines.append(f"  demo logins: {', '.join(daemon.secrets.demo_logins)}")
        if daemon.secrets.demo_password_new or os.environ.get("OPENLINES_DEMO_PASSWORD"):
            lines.append(f"  demo password: {daemon.secrets.demo_password}  ({source})")
        else:
            lines.append(f"  demo password: {source}")
    lines.append("  stop with Ctrl+C")
    print("\n".join(lines), flush=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `openlines` console script."""
    parser = argparse.ArgumentParser(prog="openlines", description="Omnichannel open-lines message router")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the daemon")
    run.add_argument("--config", default="config/openlines.yaml")
    run.add_argument("--role", choices=ROLES, default="all")
    run.set_defaults(func=cmd_run)
    check = sub.add_parser("check-config", help="validate a config file")
    check.add_argument("file")
    check.set_defaults(func=cmd_check_config)
    mig = sub.add_parser("migrate", help="apply database migrations")
    mig.add_argument("--config", default="config/openlines.yaml")
    mig.set_defaults(func=cmd_migrate)
    lead_cli.add_commands(sub, _load)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())

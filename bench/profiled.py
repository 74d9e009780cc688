"""`openlines` under pyinstrument: `python -m bench.profiled PREFIX run --config FILE`.

Samples the daemon's main thread (the event loop: web, connectors, engine, console hub) every millisecond from
SIGUSR1 to SIGUSR2 (the load generator sends them around its measured phases; or until the daemon exits) and then
writes PREFIX.txt (the call tree), PREFIX.html (interactive) and
PREFIX.json (the hot spots the report quotes). The SQLite work that aiosqlite does in its own thread is not
sampled: its cost shows up in the report as the daemon's "other threads" CPU.
"""

from __future__ import annotations

import json
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from pyinstrument import Profiler

from bench.common import REPO

OURS = ("router", "connectors", "crm_core", "queues")


def _package(path: str) -> str:
    """Which package a frame's file belongs to: ours (router, …), a library, or the standard library."""
    if not path:
        return "?"
    p = Path(path)
    parts = p.parts
    if "site-packages" in parts:
        i = parts.index("site-packages")
        return parts[i + 1].split(".")[0] if i + 1 < len(parts) else "site-packages"
    try:
        rel = p.resolve().relative_to(REPO)
        return rel.parts[0]
    except ValueError:
        pass
    if "lib" in parts:
        i = len(parts) - 1 - parts[::-1].index("lib")
        rest = parts[i + 2 :] if i + 2 < len(parts) else parts[-1:]
        return "stdlib:" + (rest[0].removesuffix(".py") if rest else "?")
    return p.name


def hotspots(root: Any, top: int = 15) -> dict[str, Any]:
    """Self time by function and by package, idle time (waiting in epoll), inclusive time of our functions."""
    self_by_func: Counter[str] = Counter()
    self_by_pkg: Counter[str] = Counter()
    ours_inclusive: Counter[str] = Counter()
    idle = 0.0

    def name(frame: Any) -> str:
        path = frame.file_path or ""
        parts = Path(path).parts
        if "site-packages" in parts:
            short = "/".join(parts[parts.index("site-packages") + 1 :])
        else:
            try:
                short = str(Path(path).resolve().relative_to(REPO))
            except ValueError:
                short = frame.file_path_short or path
        cls = f"{frame.class_name}." if frame.class_name else ""
        return f"{cls}{frame.function} ({short}:{frame.line_no})"

    def walk(frame: Any, on_stack: frozenset[str], parent_pkg: str) -> None:
        nonlocal idle
        children = [c for c in frame.children if not c.is_synthetic_leaf]
        own = frame.time - sum(c.time for c in children)
        label = name(frame)
        path = frame.file_path or ""
        # C functions (socket.send, orjson.loads, …) count for the package that called them
        pkg = parent_pkg if path.startswith("<") else _package(path)
        if frame.function == "select" and pkg == "stdlib:selectors":
            idle += frame.time
            return
        if own > 0:
            self_by_func[label] += own
            self_by_pkg[pkg] += own
        wrapper = path.endswith("router/app/cli.py") or frame.function == "logged"
        if pkg in OURS and not wrapper and label not in on_stack:
            ours_inclusive[label] += frame.time
            on_stack = on_stack | {label}
        for c in children:
            walk(c, on_stack, pkg)

    if root is not None:
        walk(root, frozenset(), "?")
    total = root.time if root is not None else 0.0
    busy = max(1e-9, total - idle)

    def rows(c: Counter[str], n: int) -> list[dict[str, Any]]:
        return [
            {"name": k, "seconds": round(v, 3), "pct_busy": round(100 * v / busy, 1)}
            for k, v in c.most_common(n)
        ]

    return {
        "sampled_seconds": round(total, 2),
        "idle_seconds": round(idle, 2),
        "busy_seconds": round(busy, 2),
        "self_by_function": rows(self_by_func, top),
        "self_by_package": rows(self_by_pkg, top),
        "ours_inclusive": rows(ours_inclusive, top),
    }


def main() -> int:
    prefix = Path(sys.argv[1])
    argv = sys.argv[2:]
    profiler = Profiler(interval=0.001, async_mode="disabled")
    written = False

    def write() -> None:
        nonlocal written
        session = profiler.stop()
        prefix.parent.mkdir(parents=True, exist_ok=True)
        # paths relative to the checkout: the committed profile must not name this machine's directories
        root = str(Path(__file__).resolve().parent.parent) + "/"
        prefix.with_suffix(".txt").write_text(
            profiler.output_text(unicode=True, color=False).replace(root, "")
        )
        prefix.with_suffix(".html").write_text(profiler.output_html())
        prefix.with_suffix(".json").write_text(json.dumps(hotspots(session.root_frame()), indent=1))
        written = True

    def on_start(*_: object) -> None:
        if not profiler.is_running and not written:
            profiler.start()

    def on_stop(*_: object) -> None:
        if profiler.is_running:
            write()

    # the load generator brackets its measured phases with these, so start-up and logins stay out
    signal.signal(signal.SIGUSR1, on_start)
    signal.signal(signal.SIGUSR2, on_stop)
    from router.app.cli import main as cli_main

    try:
        return cli_main(argv)
    finally:
        on_stop()


if __name__ == "__main__":
    raise SystemExit(main())

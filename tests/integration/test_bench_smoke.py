"""The benchmark harness end to end in a tiny configuration (`python -m bench.run --smoke`), so it cannot rot:
every section runs (relay, pipeline, memory, profile, crm, routing), every figure gets a number, the pipeline
delivers every message it sends, and the results go to the given directory, never to bench/results/."""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.run import SECTIONS

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "bench" / "results"


def _fingerprint(directory: Path) -> dict[str, str]:
    """The committed results' files and their contents (a smoke run must leave them alone)."""
    if not directory.is_dir():
        return {}
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir()) if p.is_file()
    }


def _numeric(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def test_bench_smoke(tmp_path: Path) -> None:
    out = tmp_path / "results"
    before = _fingerprint(COMMITTED)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BENCH_")}
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "bench.run", "--smoke", "--out", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    seconds = time.monotonic() - started
    log = proc.stderr[-6000:]
    assert proc.returncode == 0, (
        f"bench.run --smoke exited with {proc.returncode} after {seconds:.0f}s:\n{log}"
    )

    md, js = out / "latest.md", out / "latest.json"
    assert md.is_file() and js.is_file(), sorted(p.name for p in out.iterdir())
    assert _fingerprint(COMMITTED) == before, "a smoke run must not touch bench/results/"
    results = json.loads(js.read_text())
    assert results["smoke"] is True

    # every section measured, and every figure of the table a number
    assert {k for k, v in results["sections"].items() if "error" not in v} == set(SECTIONS), {
        k: v.get("error") for k, v in results["sections"].items()
    }
    widget = next(t for t in results["targets"] if t["key"] == "widget.size")
    size = results["sections"]["widget"]["before_open_gzip"]
    assert (
        1000 < size < results["sections"]["widget"]["files"]["loader.js"]["bytes"] and widget["met"] is True
    )
    figures = {f["key"]: f for f in results["figures"]}
    plan = results["plan"]
    expected = {
        "throughput.forward",
        "throughput.back",
        *(f"latency.{d}@{float(r):g}" for d in ("forward", "back") for r in plan["rates"].split(",")),
        *(f"memory@{n}" for n in plan["idle_steps"][1:]),
        "crm.import",
        "crm.by_identity",
        "crm.by_phone",
        "crm.by_email",
        *(f"routing.choose_operator@{n}" for n in (10, 100, 1000)),
        "routing.hours",
        "search.sqlite",
        "search.postgresql",
        *(f"scaleout.throughput.{d}@1" for d in ("forward", "back")),
        *(f"scaleout.{part}.{d}" for part in ("floor", "vs_floor") for d in ("forward", "back")),
        *(
            f"scaleout.latency.{d}@{float(r):g}"
            for d in ("forward", "back")
            for r in plan["rates"].split(",")
        ),
        "scaleout.failover",
        "duplicates.import",
        "duplicates.index",
        *(f"duplicates.page.{by}" for by in ("phone", "email", "name")),
        "duplicates.upkeep",
        "duplicates.lists",
        "duplicates.merge",
        "deals.lists.sqlite",
        "deals.lists.postgresql",
        # CPU per routed message: at 1,000 msg/s when the plan offers it, and saturated
        *(
            f"{part}.{d}@{when}"
            for part in ("cpu", "scaleout.cpu")
            for d in ("forward", "back")
            for when in ["saturation", *(["1000"] if "1000" in plan["rates"].split(",") else [])]
        ),
    }
    assert set(figures) == expected, set(figures) ^ expected
    for key, f in figures.items():
        for name, value in f.items():
            if name not in ("key", "figure", "unit"):
                if name == "ratio" and ".cpu." in f".{key}" and f.get("reference") == 0:
                    # the relay's CPU over a smoke window (half a second, a few dozen messages) can be below
                    # one clock tick (10 ms): then there is nothing to divide by, and the row says so
                    assert value is None, (key, f)
                    continue
                assert _numeric(value), (key, name, value)
    assert len(results["table"]) == len(figures)
    assert "not measured" not in md.read_text()

    # the targets table: every target has a verdict
    assert "## Targets" in md.read_text()
    assert results["targets"] and all(t["met"] in (True, False) for t in results["targets"]), results[
        "targets"
    ]

    # the pipeline delivered every message it sent (warm-up included), each once
    messages = results["sections"]["pipeline"]["messages"]
    assert messages["sent"] > 0
    assert messages["received"] == messages["sent"], messages
    assert messages["missing"] == 0 and messages["duplicates"] == 0, messages

    # the floor stored every message it delivered, each once (its table's primary key is the message id)
    floor = results["sections"]["scaleout"]["floor"]
    assert floor["messages"]["received"] == floor["messages"]["sent"] > 0, floor["messages"]
    assert floor["rows"] == floor["messages"]["sent"], (floor["rows"], floor["messages"])

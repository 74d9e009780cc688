"""The search benchmark (`python -m bench.run --smoke --only search`) in its tiny configuration: both stores get
numbers and a verdict, and a second run searches the cached SQLite database instead of building it again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def _run(out: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BENCH_")}
    proc = subprocess.run(
        [sys.executable, "-m", "bench.run", "--smoke", "--only", "search", "--out", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return dict(json.loads((out / "latest.json").read_text()))


def test_bench_search_smoke(tmp_path: Path) -> None:
    first = _run(tmp_path / "one")
    sec = first["sections"]["search"]
    for store in ("sqlite", "postgresql"):
        side = sec[store]
        assert side["searches"] == 60 and side["bare"]["searches"] > 0, side
        assert 0 < side["all"]["p50_ms"] <= side["all"]["p99_ms"], side["all"]
        assert set(side["by_class"]) == {"rare", "medium", "common", "number"}
        assert side["empty_pages"] < side["searches"]  # the words searched for are in the data
    figures = {f["key"]: f for f in first["figures"]}
    assert figures["search.sqlite"]["value"] == sec["sqlite"]["all"]["p99_ms"]
    assert figures["search.postgresql"]["messages"] == 5000
    verdicts = {t["key"]: t["met"] for t in first["targets"]}
    assert verdicts["search.sqlite"] in (True, False) and verdicts["search.postgresql"] in (True, False)
    # the SQLite database is kept in bench/.cache/: the next run only searches it
    second = _run(tmp_path / "two")
    assert second["sections"]["search"]["sqlite"]["build"] == {"cached": True}

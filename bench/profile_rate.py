"""Profile the embedded daemon's event loop at a fixed offered rate (default 1,000 msg/s), both directions:
`python -m bench.profile_rate [--rate 1000] [--out DIR]` writes DIR/profile.txt and .html and prints the CPU per
routed message. The `make bench` profile is taken saturated; this one shows where a message's CPU goes when the
batches are small (what target (b) measures)."""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from bench.common import progress
from bench.run import _load
from bench.servers import start_daemon


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--measure", type=float, default=6.0)
    parser.add_argument("--visitors", type=int, default=1000)
    parser.add_argument("--directions", default="forward,back")
    parser.add_argument("--out", default="/tmp/openlines-profile")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        server, logins, password = start_daemon(
            Path(tmp) / "daemon", operators=4, visitors=args.visitors, profile=out / "profile"
        )
        try:
            result = _load(
                server,
                "daemon",
                [
                    "--visitors",
                    str(args.visitors),
                    "--rates",
                    f"{args.rate:g}",
                    "--skip-saturation",
                    "--directions",
                    args.directions,
                    "--warm",
                    "1",
                    "--measure",
                    str(args.measure),
                    "--operators",
                    ",".join(logins),
                    f"--password={password}",
                    "--profile-signals",
                ],
            )
        finally:
            server.stop()
    for p in result["phases"]:
        progress(
            f"{p['phase']}: {p.get('server_cpu_us_per_msg', 0):.0f} µs per message "
            f"({p.get('server_main_thread_cpu_us_per_msg', 0):.0f} µs on the event loop), "
            f"p50 {p.get('p50_ms')} ms, p99 {p.get('p99_ms')} ms"
        )
    (out / "load.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

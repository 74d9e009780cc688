"""Small helpers shared by the benchmark processes: ports, fd limits, /proc readings, percentiles, the machine."""

from __future__ import annotations

import contextlib
import glob
import os
import platform
import resource
import socket
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def progress(msg: str) -> None:
    """A progress line on stderr (stdout carries results between the processes)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def quick() -> bool:
    """BENCH_QUICK=1: smaller sizes and shorter phases (a quick run; `--smoke` is tinier still)."""
    return os.environ.get("BENCH_QUICK", "") not in ("", "0", "false", "no")


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def raise_fd_limit() -> int:
    """Raise RLIMIT_NOFILE's soft limit to the hard limit (for 10,000 sockets); returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, 1_048_576)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def rss_kib(pid: int) -> int:
    """Resident set size of a process (VmRSS), KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> dict[str, float]:
    """CPU time (user+system) of a process: total, its main thread, and its other threads, in seconds."""
    total = main = 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue  # a thread that just ended
        t = (int(fields[11]) + int(fields[12])) / _TICK
        total += t
        if task.name == str(pid):
            main = t
    return {"total": total, "main": main, "other": total - main}


def process_tree(root: int) -> list[int]:
    """A process and its direct children (PostgreSQL's postmaster and its backends)."""
    pids = [root]
    for stat in glob.glob("/proc/[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(stat).read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == root:
                pids.append(int(Path(stat).parent.name))
    return pids


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds of a process and its direct children (PostgreSQL: the postmaster and its backends)."""
    total = 0.0
    for pid in process_tree(root):
        with contextlib.suppress(OSError):
            total += cpu_seconds(pid)["total"]
    return total


def machine_busy_seconds() -> float:
    """CPU time every process of the machine has used since boot (all cores, from /proc/stat), in seconds."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / _TICK


def loadavg() -> str:
    """The 1/5/15-minute load averages."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def percentile(sorted_values: list[float], q: float) -> float | None:
    """The q-quantile (0..1) of already sorted values, nearest rank; None when empty."""
    if not sorted_values:
        return None
    k = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[k]


def summary_ms(latencies_ns: list[int]) -> dict[str, float | None]:
    """p50/p99/max of latencies given in ns, in ms."""
    v = sorted(x / 1e6 for x in latencies_ns)
    return {"p50_ms": percentile(v, 0.5), "p99_ms": percentile(v, 0.99), "max_ms": v[-1] if v else None}


def machine() -> dict[str, Any]:
    """nproc, CPU model, RAM, kernel and Python: the context every figure was measured in."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass
    nproc = len(os.sched_getaffinity(0))
    ram_gib = mem_kib / 1024 / 1024
    return {
        "nproc": nproc,
        "cpu": model or platform.processor() or "unknown",
        "ram_gib": round(ram_gib, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "summary": f"{nproc}× {model or 'CPU'}, {ram_gib:.0f} GiB RAM",
    }


def commit() -> str:
    """The short commit of the working tree, read from .git without running git ('unknown' if none)."""
    git = REPO / ".git"
    try:
        # a linked worktree: `.git` names its own git directory (HEAD there, the refs in the main one)
        if git.is_file():
            git = (REPO / git.read_text().strip().removeprefix("gitdir: ")).resolve()
            common = git / "commondir"
            head = (git / "HEAD").read_text().strip()
            if common.exists():
                git = (git / common.read_text().strip()).resolve()
        else:
            head = (git / "HEAD").read_text().strip()
        if head.startswith("ref: "):
            ref = head[5:]
            path = git / ref
            if path.exists():
                sha = path.read_text().strip()
            else:
                sha = ""
                packed = git / "packed-refs"
                if packed.exists():
                    for line in packed.read_text().splitlines():
                        if line.endswith(" " + ref):
                            sha = line.split()[0]
        else:
            sha = head
        return sha[:7] if sha else "unknown"
    except OSError:
        return "unknown"


def today() -> str:
    """The UTC date of the run."""
    return datetime.now(UTC).strftime("%Y-%m-%d")


async def keyset_pages(
    list_page: Any, cases: dict[str, tuple[Any, str, bool]], keys: dict[str, Any], repeats: int
) -> tuple[list[int], list[int], dict[str, float]]:
    """Time a list's first page and nine more by keyset (50 a page) for each case (filter, sort, descending),
    `repeats` times: (first pages' ns, later pages' ns, each case's slowest page in ms). `list_page` is a store's
    list call (`Store.list_leads`, `Store.list_deals`); `keys` the sorts' columns (their `.key` is the row's)."""
    first: list[int] = []
    later: list[int] = []
    worst: dict[str, float] = {}
    for label, (f, sort, desc) in cases.items():
        for _ in range(repeats):
            after = None
            for page in range(10):
                t0 = time.perf_counter_ns()
                rows = await list_page(f, sort=sort, descending=desc, after=after, limit=51)
                took = time.perf_counter_ns() - t0
                (first if page == 0 else later).append(took)
                worst[label] = max(worst.get(label, 0.0), took / 1e6)
                if len(rows) < 51:
                    break
                after = (rows[49][keys[sort].key], rows[49]["id"])
    return first, later, worst

"""`openlines import leads FILE.csv` and `openlines export leads`: leads in and out of CSV files from the command
line (the console does the same through /api/leads/import and /api/leads/export)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from crm_core import csv_leads
from crm_core.csv_leads import CsvProblem
from crm_core.lead_import_plan import ON_DUPLICATE
from crm_core.lead_lists import LeadFilter
from crm_core.store import Store
from router.app.settings import Settings

EXIT_BAD_FILE = 3


def add_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], load: Callable[[str], Settings]
) -> None:
    """The `import` and `export` commands, each with its `leads` object."""
    imp = sub.add_parser("import", help="import leads from a CSV file").add_subparsers(
        dest="what", required=True
    )
    leads = imp.add_parser("leads", help="import leads from a CSV file, with duplicate control")
    leads.add_argument("file")
    leads.add_argument("--config", default="config/openlines.yaml")
    leads.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="COLUMN=FIELD",
        help=f"what a column holds: one of {', '.join(csv_leads.FIELDS)}, or skip (the rest is guessed from the headers)",
    )
    leads.add_argument(
        "--encoding",
        choices=csv_leads.ENCODINGS,
        help="default: UTF-8 (with or without BOM), else windows-1251",
    )
    leads.add_argument("--separator", choices=csv_leads.SEPARATORS, help="default: what the header line uses")
    leads.add_argument("--on-duplicate", choices=ON_DUPLICATE, default="skip")
    leads.add_argument("--dry-run", action="store_true", help="say what would happen, change nothing")
    leads.set_defaults(func=lambda a: cmd_import(a, load(a.config)))
    exp = sub.add_parser("export", help="export leads to a CSV file").add_subparsers(
        dest="what", required=True
    )
    out = exp.add_parser("leads", help="export the live leads (filtered) to CSV")
    out.add_argument("--config", default="config/openlines.yaml")
    out.add_argument("--query", default="", help="a name, phone or e-mail the lead's contains")
    out.add_argument("--status")
    out.add_argument("--responsible")
    out.add_argument("--out", help="the file to write (default: standard output)")
    out.add_argument("--encoding", choices=("utf-8", "utf-8-sig", "windows-1251"), default="utf-8-sig")
    out.add_argument("--separator", choices=csv_leads.SEPARATORS, default=",")
    out.set_defaults(func=lambda a: cmd_export(a, load(a.config)))


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    """Import a CSV file of leads; print the report as JSON; exit 3 when the file cannot be read."""
    mapping = {}
    for item in args.map:
        column, sep, name = item.rpartition("=")
        if not sep:
            print(f"--map {item!r}: write it as COLUMN=FIELD", file=sys.stderr)
            return EXIT_BAD_FILE
        mapping[column] = name
    try:
        text, encoding = csv_leads.decode(Path(args.file).read_bytes(), args.encoding)
        _, _, rows = csv_leads.rows(
            text,
            separator=args.separator,
            mapping=mapping,
            statuses=settings.crm.statuses,
            operators=[o.login for o in settings.operators],
        )
    except (CsvProblem, OSError) as exc:
        print(f"{args.file}: {exc}", file=sys.stderr)
        return EXIT_BAD_FILE
    total = csv_leads.data_lines(text)
    report = asyncio.run(_import(settings, rows, args, total))
    print(json.dumps({"file": args.file, "encoding": encoding, **report}, ensure_ascii=False, indent=2))
    return 0


async def _import(
    settings: Settings, rows: object, args: argparse.Namespace, total: int
) -> dict[str, object]:
    store = Store.open(settings.database_url)
    try:
        report = await store.import_leads(
            rows,  # type: ignore[arg-type]
            on_duplicate=args.on_duplicate,
            dry_run=args.dry_run,
            status=settings.crm.statuses[0],
            now=datetime.now(UTC),
            progress=lambda done: _bar(sys.stderr, done, total),
        )
    finally:
        await store.close()
    print(file=sys.stderr)
    return report.view()


def _bar(out: TextIO, done: int, total: int) -> None:
    """A one-line progress bar on a terminal (plain lines otherwise)."""
    share = min(1.0, done / total) if total else 1.0
    filled = int(share * 30)
    line = f"[{'#' * filled}{'.' * (30 - filled)}] {done:,} / {total:,} rows ({share:.0%})"
    out.write(("\r" + line) if out.isatty() else (line + "\n"))
    out.flush()


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    """Write the matching leads as CSV (UTF-8 with a BOM, as spreadsheets open it, unless told otherwise)."""
    if not args.out:
        asyncio.run(_export(settings, args, sys.stdout))
        return 0
    with open(args.out, "w", encoding=args.encoding, newline="", errors="replace") as out:
        asyncio.run(_export(settings, args, out))
    return 0


async def _export(settings: Settings, args: argparse.Namespace, out: TextIO) -> None:
    store = Store.open(settings.database_url)
    try:
        out.write(next(csv_leads.export_lines([], separator=args.separator)))
        f = LeadFilter(
            statuses=(args.status,) if args.status else (),
            responsible=args.responsible,
            query=args.query,
        )
        async for page in store.export_leads(f):
            out.writelines(csv_leads.export_lines(page, separator=args.separator, header=False))
    finally:
        await store.close()

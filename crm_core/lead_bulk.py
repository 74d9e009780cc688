"""Writing an import chunk's new leads and their contacts at once (crm_core/lead_files.py), with the duplicate keys
they add counted: through the triggers of migration 0015 on PostgreSQL, and on SQLite by the chunk itself."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, insert

from crm_core.models import lead_contacts, leads

# the insert triggers of migration 0015 a new lead and its contacts fire; SQLite charges ~11 µs more for every row
# inserted into a table with triggers and several indexes (even for a trigger whose WHEN is false): a bulk import
# on SQLite sets them aside in its own transaction, does their work for the whole chunk at once, and puts them back
# (the same SQL) before it commits
_INSERT_TRIGGERS = ("leads_contacts_insert", "leads_dup_name_insert", "lead_contacts_dup_insert")
_LEAD_COLUMNS = (
    "id",
    "name",
    "name_search",
    "name_key",
    "phone",
    "email",
    "status",
    "responsible",
    "source",
    "created_at",
    "updated_at",
)


Run = Callable[[str, Any], Any]  # a statement with its parameters (a list of tuples: once per tuple)


def triggers_aside(
    run: Run,
    insert_rows: Callable[[], object],
    new_leads: list[dict[str, Any]],
    contacts: list[dict[str, Any]],
) -> None:
    """SQLite, inside the caller's transaction: the insert triggers dropped, `insert_rows()` (the leads' insert),
    every contact of `contacts` inserted and the duplicate keys of the contacts and of the leads' names counted at
    once, the triggers created again with their own SQL. A failure rolls the whole transaction back, triggers too."""
    marks = ", ".join("?" * len(_INSERT_TRIGGERS))
    saved = [
        r[0]
        for r in run(
            f"SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name IN ({marks})", _INSERT_TRIGGERS
        ).fetchall()
    ]
    for name in _INSERT_TRIGGERS:
        run(f"DROP TRIGGER IF EXISTS {name}", ())
    insert_rows()
    keys: Counter[tuple[str, str]] = Counter((c["kind"], c["value"]) for c in contacts)
    keys.update(("name", r["name_key"]) for r in new_leads if r.get("name_key") is not None)
    if contacts:
        run(
            "INSERT INTO lead_contacts (lead_id, kind, value, comment, position) VALUES (?, ?, ?, ?, ?)",
            [
                (c["lead_id"], c["kind"], c["value"], c.get("comment") or "", c.get("position", 0))
                for c in contacts
            ],
        )
    if keys:
        run(
            "INSERT INTO duplicate_keys (criterion, key, leads) VALUES (?, ?, ?) "
            "ON CONFLICT (criterion, key) DO UPDATE SET leads = leads + excluded.leads",
            [(kind, value, n) for (kind, value), n in keys.items()],
        )
    for sql in saved:
        run(sql, ())


def first_contacts(new_leads: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The contacts the triggers would add for these leads: their own phone and e-mail."""
    return [
        {"lead_id": r["id"], "kind": kind, "value": r[kind], "comment": "", "position": 0}
        for r in new_leads
        for kind in ("phone", "email")
        if r.get(kind)
    ]


def write_new_leads(
    conn: Connection, new_leads: list[dict[str, Any]], new_contacts: list[dict[str, Any]]
) -> None:
    """Insert a chunk's new leads and all their contacts, with the duplicate keys they add counted."""
    if conn.dialect.name != "sqlite":
        conn.execute(insert(leads), new_leads)  # the triggers add each lead's first phone and e-mail
        rest = [c for c in new_contacts if c["position"] > 0]
        if rest:
            conn.execute(insert(lead_contacts), rest)
        return
    # the rows bound as SQLAlchemy would (a time as the SQLite dialect stores it), without its work per row
    moment = leads.c.created_at.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    times: dict[Any, Any] = {}

    def bound(row: dict[str, Any]) -> tuple[Any, ...]:
        out = []
        for c in _LEAD_COLUMNS:
            v = row[c]
            if c in ("created_at", "updated_at") and moment is not None:
                v = times[v] if v in times else times.setdefault(v, moment(v))
            out.append(v)
        return tuple(out)

    marks = ", ".join("?" * len(_LEAD_COLUMNS))
    triggers_aside(
        conn.exec_driver_sql,
        lambda: conn.exec_driver_sql(
            f"INSERT INTO leads ({', '.join(_LEAD_COLUMNS)}) VALUES ({marks})", [bound(r) for r in new_leads]
        ),
        new_leads,
        new_contacts,
    )

"""One engine batch through SQLAlchemy Core, every statement inside one `run_sync`: the path of the batches the
two batch writers do not take (the read-then-write kinds of change, `lead_fills` and `consents`; a SQLite
database in memory or opened by a `file:` URI; `Store.open(…, batch_writer=False)`). crm_core/sqlite_batch.py
follows its order."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, delete, insert, update
from sqlalchemy.engine import Connection

from crm_core.changes import Changes
from crm_core.errors import StaleDialog
from crm_core.lookups import in_ids
from crm_core.models import dialog_events, dialogs, identities, lead_events, leads, messages, outbox


def apply_sync(conn: Connection, ch: Changes) -> None:
    """Write the batch on a connection in a transaction (`AsyncConnection.run_sync`); raises StaleDialog."""
    # one thread hop for the whole batch: every statement below runs inside run_sync
    _insert_many(conn, leads, ch.leads)
    _insert_many(conn, identities, ch.identities)
    _insert_many(conn, dialogs, ch.dialogs_new)
    # each row carries the version the engine read: the update matches only that version, and bumps it
    for cols, rows in _by_columns(list(ch.dialogs_changed.values()), ("id", "version")).items():
        stmt = (
            update(dialogs)
            .where(dialogs.c.id == bindparam("b_id"), dialogs.c.version == bindparam("b_version"))
            .values({**{c: bindparam(f"b_{c}") for c in cols}, "version": dialogs.c.version + 1})
        )
        params = [{f"b_{k}": v for k, v in r.items()} for r in rows]
        if (
            conn.dialect.supports_sane_multi_rowcount
        ):  # SQLite: an executemany reports the rows it matched in all
            if conn.execute(stmt, params).rowcount != len(rows):
                raise StaleDialog(f"a dialog of {[r['id'] for r in rows]} is not at the version expected")
        else:
            for r, p in zip(rows, params, strict=True):
                if conn.execute(stmt, p).rowcount != 1:
                    raise StaleDialog(f"dialog {r['id']} is not at version {r.get('version')}")
    _update_many(conn, leads, ch.lead_updates)
    _insert_many(conn, messages, ch.messages)
    for c in ch.consents:
        conn.execute(
            update(identities)
            .where(
                identities.c.channel == c["channel"],
                identities.c.account == c["account"],
                identities.c.external_id == c["external_id"],
            )
            .values(messages_allowed=c["allowed"])
        )
    for fill in ch.lead_fills:
        for name, value in fill.items():
            if name in ("id", "updated_at"):
                continue
            conn.execute(
                update(leads)
                .where(leads.c.id == fill["id"], leads.c[name].is_(None))
                .values({name: value, "updated_at": fill["updated_at"]})
            )
    _update_many(conn, messages, ch.message_updates)
    _insert_many(conn, dialog_events, ch.events)
    _insert_many(conn, lead_events, ch.lead_events)
    _insert_many(conn, outbox, ch.outbox)
    if ch.outbox_done:
        conn.execute(delete(outbox).where(in_ids(conn.dialect.name, outbox.c.id, ch.outbox_done)))


def _by_columns(
    rows: list[dict[str, Any]], keys: tuple[str, ...]
) -> dict[tuple[str, ...], list[dict[str, Any]]]:
    """Rows grouped by the columns they name (less `keys`), in the order each set first appears."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(sorted(k for k in row if k not in keys)), []).append(row)
    return groups


def _insert_many(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    """INSERT rows, one executemany per set of columns: SQLAlchemy takes an executemany's columns from its first
    row (an inbound message names no delivery state, a reply does: one statement would drop or refuse it)."""
    for group in _by_columns(rows, ()).values():
        conn.execute(insert(table), group)


def _update_many(conn: Connection, table: Any, rows: list[dict[str, Any]]) -> None:
    """UPDATE rows by id, one executemany per set of columns (not one statement per row)."""
    for cols, group in _by_columns(rows, ("id",)).items():
        stmt = (
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values({c: bindparam(f"b_{c}") for c in cols})
        )
        conn.execute(stmt, [{f"b_{k}": v for k, v in r.items()} for r in group])

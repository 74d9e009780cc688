"""message search on SQLite: messages are indexed a moment after they are stored, in bigger transactions

Migration 0012 indexed every message by a trigger in the transaction that stored it. FTS5 writes a new index
segment per transaction and merges them as they pile up, so at the engine's small batches (one or two messages at
1,000 msg/s) the index cost ~70 us of the batch writer's CPU per message, more than the message's own insert;
indexed in transactions of a few hundred it costs 5-10 us (measured with the real schema). So the insert trigger
goes: crm_core/search_index.py indexes the messages stored since the last time (above a watermark kept in
`messages_fts_progress`), from the batch writer's thread a tenth of a second later and before every search (so a
search always sees every stored message). The edit and delete triggers stay for indexed messages only (a message
not yet indexed is indexed with its text as it is then); a delete that would let SQLite hand out an indexed rowid
again lowers the watermark with it. PostgreSQL is unchanged (its index is the stored column of 0012).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 05:30:00
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_INDEXED = "(SELECT indexed_rowid FROM messages_fts_progress)"
_NEWEST = "(SELECT coalesce(max(rowid), 0) FROM messages)"

SQLITE_UP = (
    "DROP TRIGGER IF EXISTS messages_fts_insert",
    "DROP TRIGGER IF EXISTS messages_fts_delete",
    "DROP TRIGGER IF EXISTS messages_fts_update",
    # one row: every message with a rowid up to it is in messages_fts (all of them, after 0012's triggers)
    "CREATE TABLE messages_fts_progress (id INTEGER PRIMARY KEY CHECK (id = 1), indexed_rowid INTEGER NOT NULL)",
    f"INSERT INTO messages_fts_progress (id, indexed_rowid) VALUES (1, {_NEWEST})",
    # SQLite gives a new row the largest rowid + 1: with the newest indexed message deleted, its rowid comes back,
    # and the watermark must go down with it or the new message would pass for indexed
    f"CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages WHEN old.rowid <= {_INDEXED} BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.rowid, old.text); "
    f"UPDATE messages_fts_progress SET indexed_rowid = {_NEWEST} WHERE indexed_rowid > {_NEWEST}; END",
    "CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages "
    f"WHEN old.text IS NOT new.text AND old.rowid <= {_INDEXED} BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.rowid, old.text); "
    "INSERT INTO messages_fts(rowid, text) VALUES (new.rowid, new.text); END",
)

SQLITE_DOWN = (
    "DROP TRIGGER IF EXISTS messages_fts_update",
    "DROP TRIGGER IF EXISTS messages_fts_delete",
    f"INSERT INTO messages_fts(rowid, text) SELECT rowid, text FROM messages WHERE rowid > {_INDEXED}",
    "DROP TABLE messages_fts_progress",
    # 0012's triggers
    "CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN "
    "INSERT INTO messages_fts(rowid, text) VALUES (new.rowid, new.text); END",
    "CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.rowid, old.text); END",
    "CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages WHEN old.text IS NOT new.text BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.rowid, old.text); "
    "INSERT INTO messages_fts(rowid, text) VALUES (new.rowid, new.text); END",
)


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        return
    for sql in SQLITE_UP:
        op.execute(sql)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        return
    for sql in SQLITE_DOWN:
        op.execute(sql)

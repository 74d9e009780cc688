"""message search: a full-text index over messages.text (crm_core/search.py)

SQLite: an external-content FTS5 table `messages_fts` keyed by the messages' rowid, kept by triggers in the same
transaction as the message (an insert indexes it, an edit of its text re-indexes it, a delete removes it), and
filled from the stored messages here. PostgreSQL: a GIN index over the `simple` tsvector of the lower-cased text
(built here, not CONCURRENTLY: Alembic runs in a transaction; writes to messages wait while it builds).

A later migration that rebuilds `messages` on SQLite (batch_alter_table copies the table) drops these triggers and
renumbers the rowids: it must create them again and run the 'rebuild' below. So must a VACUUM (docs/operations.md).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 02:30:00
"""

from alembic import op
from sqlalchemy import text

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

# kept in step with crm_core/search.py (PG_INDEX_LIMIT, PG_ICU, pg_document)
_PG_LIMIT = 100_000
_PG_ICU = "und-x-icu"

SQLITE_UP = (
    # columnsize=0: no per-row token counts (nothing ranks by bm25), a smaller index. prefix: an index of every
    # word's first 2..10 characters, so the last word's prefix query reads one list lazily, newest first; without
    # it FTS5 merges the full lists of every word with that prefix ("the"* took ~100 ms among 10^7 messages)
    "CREATE VIRTUAL TABLE messages_fts USING fts5(text, content='messages', content_rowid='rowid', "
    "tokenize='unicode61 remove_diacritics 2', columnsize=0, prefix='2 3 4 5 6 7 8 9 10')",
    "CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN "
    "INSERT INTO messages_fts(rowid, text) VALUES (new.rowid, new.text); END",
    "CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.rowid, old.text); END",
    # only a change of the text re-indexes (delivery-state updates of every outbound message do not)
    "CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages WHEN old.text IS NOT new.text BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.rowid, old.text); "
    "INSERT INTO messages_fts(rowid, text) VALUES (new.rowid, new.text); END",
    "INSERT INTO messages_fts(messages_fts) VALUES ('rebuild')",
)
SQLITE_DOWN = (
    "DROP TRIGGER IF EXISTS messages_fts_update",
    "DROP TRIGGER IF EXISTS messages_fts_delete",
    "DROP TRIGGER IF EXISTS messages_fts_insert",
    "DROP TABLE IF EXISTS messages_fts",
)


def pg_index_sql(icu: bool) -> str:
    """The CREATE INDEX of the PostgreSQL search index (its expression is crm_core/search.py pg_document's)."""
    collate = f' COLLATE "{_PG_ICU}"' if icu else ""
    return (
        "CREATE INDEX ix_messages_search ON messages USING gin "
        f"(to_tsvector('simple'::regconfig, lower(left(text, {_PG_LIMIT}){collate})))"
    )


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        icu = bind.execute(text("SELECT 1 FROM pg_collation WHERE collname = :c"), {"c": _PG_ICU}).first()
        op.execute(pg_index_sql(icu is not None))
        # finer word statistics: newest-first with LIMIT makes the planner choose between walking the messages
        # backwards (a common word) and the GIN (a rare one) by its estimate of the word's frequency; the default
        # 100 most common words misjudge the middle ones by an order of magnitude (a 30x slower plan in the bench)
        op.execute("ALTER INDEX ix_messages_search ALTER COLUMN 1 SET STATISTICS 1000")
        return
    for sql in SQLITE_UP:
        op.execute(sql)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_messages_search")
        return
    for sql in SQLITE_DOWN:
        op.execute(sql)

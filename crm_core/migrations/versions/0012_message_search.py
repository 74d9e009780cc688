"""message search: a full-text index over messages.text (crm_core/search.py)

SQLite: an external-content FTS5 table `messages_fts` keyed by the messages' rowid, kept by triggers in the same
transaction as the message (an insert indexes it, an edit of its text re-indexes it, a delete removes it), and
filled from the stored messages here. PostgreSQL: a column `messages.search_tsv`, the `simple` tsvector of the
lower-cased text, kept by a BEFORE trigger (an insert or an edit of the text computes it), a GIN index over it
and a BRIN index over the ids (the search's id windows); added here, not CONCURRENTLY (Alembic runs in a
transaction): filling the column rewrites the table, and reads and writes of messages wait while it runs. A trigger, not a generated column: crm_core/pg_batch.py inserts messages
as `SELECT *` of a `messages` record, which a generated column refuses; the column is filled for the stored rows as
a generated one (one rewrite of the table, no dead row versions) and then made a plain one (PostgreSQL 13+).

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

# what PostgreSQL indexes of a message (crm_core/search_pg.py reads the column this makes)
_PG_LIMIT = 100_000
_PG_ICU = "und-x-icu"

SQLITE_UP = (
    # columnsize=0: no per-row token counts (nothing ranks by bm25), a smaller index. No prefix index: words match
    # whole (crm_core/search.py); one of every word's first 2..10 characters cost ~75 us more per stored message
    # (+17% of the engine's CPU) and stalls of up to 180 ms in the batch writer while its segments merged
    "CREATE VIRTUAL TABLE messages_fts USING fts5(text, content='messages', content_rowid='rowid', "
    "tokenize='unicode61 remove_diacritics 2', columnsize=0)",
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


def pg_document_sql(icu: bool, text_column: str = "text") -> str:
    """The tsvector of a message's text: the simple configuration over its lower-cased first 100,000 characters."""
    collate = f' COLLATE "{_PG_ICU}"' if icu else ""
    return f"to_tsvector('simple'::regconfig, lower(left({text_column}, {_PG_LIMIT}){collate}))"


def pg_up(icu: bool) -> list[str]:
    """PostgreSQL: the search column filled for the stored messages, its trigger, its index."""
    return [
        # one rewrite of the table computes it for every stored message; DROP EXPRESSION keeps the values
        f"ALTER TABLE messages ADD COLUMN search_tsv tsvector GENERATED ALWAYS AS ({pg_document_sql(icu)}) STORED",
        "ALTER TABLE messages ALTER COLUMN search_tsv DROP EXPRESSION",
        "CREATE FUNCTION openlines_messages_search_tsv() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        f"NEW.search_tsv := {pg_document_sql(icu, 'NEW.text')}; RETURN NEW; END $$",
        # OF search_tsv too: a write of the column itself is computed again from the text
        "CREATE TRIGGER messages_search_tsv BEFORE INSERT OR UPDATE OF text, search_tsv ON messages "
        "FOR EACH ROW EXECUTE FUNCTION openlines_messages_search_tsv()",
        "CREATE INDEX ix_messages_search ON messages USING gin (search_tsv)",
        # finer word statistics: newest-first with LIMIT makes the planner choose between walking the messages
        # backwards (a common word) and the GIN (a rare one) by its estimate of the word's frequency; the default
        # 100 most common words misjudge the middle ones by an order of magnitude
        "ALTER TABLE messages ALTER COLUMN search_tsv SET STATISTICS 1000",
        # the search's id windows (crm_core/search.py `_pg_windows`): ANDed with the word's GIN list, the block
        # ranges of a window's ids keep the read to that window's matches (messages are appended in id order, so
        # a range of ids is a few block ranges); autosummarize: new block ranges are summarized as they fill
        "CREATE INDEX ix_messages_search_id_brin ON messages USING brin (id) WITH (autosummarize = on)",
    ]


PG_DOWN = (
    "DROP INDEX IF EXISTS ix_messages_search_id_brin",
    "DROP INDEX IF EXISTS ix_messages_search",
    "DROP TRIGGER IF EXISTS messages_search_tsv ON messages",
    "DROP FUNCTION IF EXISTS openlines_messages_search_tsv()",
    "ALTER TABLE messages DROP COLUMN IF EXISTS search_tsv",
)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        icu = bind.execute(text("SELECT 1 FROM pg_collation WHERE collname = :c"), {"c": _PG_ICU}).first()
        # a stored column, not an expression index: newest first walks the primary key backwards and tests each
        # message's stored tsvector (under a microsecond) instead of computing it again (12-25 us), so a word of
        # middling frequency is no longer a choice between a slow walk and reading the word's whole list
        for sql in pg_up(icu is not None):
            op.execute(sql)
        return
    for sql in SQLITE_UP:
        op.execute(sql)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for sql in PG_DOWN:
            op.execute(sql)
        return
    for sql in SQLITE_DOWN:
        op.execute(sql)

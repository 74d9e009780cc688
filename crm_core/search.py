"""Full-text search over messages for the operators' console. A base class of `Store`.

One interface, two indexes (crm_core/migrations/versions/0012_message_search.py makes them):

- SQLite: an external-content FTS5 table `messages_fts` over `messages.text`, keyed by the messages' rowid,
  tokenizer `unicode61 remove_diacritics 2` (every script, Unicode case folding, accents ignored), written a
  moment after the message in bigger transactions (crm_core/search_index.py, migration 0013: by the batch
  writer's thread, and for whatever is left before each search, `catch_up_search`); an edit re-indexes.
- PostgreSQL: built-in full text with the `simple` configuration (no stemming or stop words, so it is
  language-neutral like unicode61): a column `messages.search_tsv` (migration 0012's expression, computed by a trigger on
  every insert and edit of the text, whoever writes), a GIN index over it, and a BRIN index over the ids (the id
  windows below). pg_trgm was the alternative; it was not chosen
  because a trigram index matches substrings rather than words (so a short word matches inside many others and
  needs a recheck of every candidate), it is several times larger than a GIN over lexemes, and it is an extension
  an operator must be allowed to create. The indexed text is lower-cased under the ICU root collation, because the
  `simple` dictionary folds case by the database's LC_CTYPE, which is ASCII-only under the common `C` locale
  ("Заказ" would not find "заказ"); where the server has no ICU the database's own collation is used.

The query is words (split on white space; every word must match, whole: `fts5_query`).
Each word is passed quoted (an FTS5 string, a `phraseto_tsquery` operand), so no input is FTS syntax: `NEAR`, `*`,
quotes and brackets are text. A query without any letter or digit raises `BadSearch`.

Results are newest first in storage order: on SQLite the rowid (FTS5 walks its index backwards, so a common word
stops after one page), on PostgreSQL the message id (a time-ordered ULID, crm_core/ids.py). For messages the engine
stores this is the order of their `created_at`; the date filters are exact on `created_at`. Paging is by key (the cursor is the
last row's key, opaque to callers), never OFFSET.

PostgreSQL has no index that gives a word's matches in id order, so newest first is either a walk of the primary
key backwards testing each message (cheap for a common word: one page of it is near) or the word's whole list from
the GIN, every match read from the table and sorted (cheap for a rare word). A word of middling frequency (one
message in a thousand), above all with a filter or the access rules, is bad either way: 0.3-1.5 s at 10,000,000
messages with the first design (an expression index: the walk computed each passed message's tsvector again,
12-25 us each). Now: (1) the tsvector is stored, so the walk tests each message in well under a microsecond;
(2) the query runs by id windows, newest first, until a page is full (`Search._pg_windows`): in a window the planner
ANDs the word's GIN list with the window's BRIN block ranges and reads only the window's matches from the table,
or walks the window's part of the primary key; a word rarer than the statistics' common lexemes (`PgStats`) is one
query, the GIN's few matches sorted; (3) each search's transaction plans with its own values (no generic plan),
no parallel workers and `random_page_cost` 1.1 (the table is read from memory: the default 4 made the planner walk
100,000 messages rather than read 2,000 matches; on SSD or from memory a random read is not 4 sequential ones).

Access is part of the query: `SearchAccess` mirrors router/rules/access.py `can_view_dialog` (an operator sees
their own, offered and invited dialogs, the queue of their lines and the dialogs of the leads they are responsible
for); None is an admin, who sees everything. Internal notes are found like any message.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Select,
    and_,
    column,
    false,
    literal_column,
    or_,
    select,
    table,
    text,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.elements import ColumnElement

from crm_core.lookups import dialog_list_has
from crm_core.models import dialogs, leads, messages
from crm_core.search_index import index_all
from crm_core.search_pg import PG_COLUMN, PG_WINDOWS, pg_stats

OPEN_STATES = ("queued", "offered", "assigned")
STATES = ("open", "closed", "queued", "offered", "assigned")
MAX_WORDS = 16
MAX_WORD = 100
_WORD = re.compile(r"[^\W_]")  # a letter or a digit, in any script


class BadSearch(ValueError):
    """A query or cursor the search cannot use (the web answers 400)."""


@dataclass(frozen=True, slots=True)
class SearchAccess:
    """A non-admin operator asking: their login and the lines whose queue they are in."""

    login: str
    lines: frozenset[str]


@dataclass(frozen=True, slots=True)
class SearchFilters:
    """What narrows a search (every field optional)."""

    lines: Collection[str] | None = None
    channel: str | None = None
    operator: str | None = None
    state: str | None = None  # open | closed | queued | offered | assigned
    since: datetime | None = None  # created_at >= since
    until: datetime | None = None  # created_at < until


def search_words(query: str) -> list[str]:
    """The query's words: white-space separated pieces with at least one letter or digit (others are dropped)."""
    # composed, so a letter typed with a separate accent is one letter; PostgreSQL refuses NUL in text
    query = unicodedata.normalize("NFC", query.replace("\x00", ""))
    return [w[:MAX_WORD] for w in query.split() if _WORD.search(w)][:MAX_WORDS]


def fts5_query(words: Sequence[str]) -> str:
    """An FTS5 MATCH expression: every word a quoted string, matched whole. Prefix matching would need a prefix
    index to be fast among millions of messages, and SQLite's cost ~75 us more per stored message (+17% of the
    engine's CPU) with writer stalls of up to 180 ms while it merged (migration 0012)."""
    return " ".join('"' + w.replace('"', '""') + '"' for w in words)


def encode_cursor(kind: str, key: object) -> str:
    """An opaque page cursor for a key of a kind (the store kind's search, the closed list)."""
    return base64.urlsafe_b64encode(f"{kind}:{key}".encode()).decode().rstrip("=")


def decode_cursor(kind: str, cursor: str, *, limit: int = 64) -> str:
    """The key (at most `limit` characters) in a cursor made by `encode_cursor` for this kind; BadSearch
    otherwise."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadSearch("cursor is not one this search gave") from None
    got, _, key = raw.partition(":")
    if got != kind or not key or len(key) > limit:
        raise BadSearch("cursor is not one this search gave")
    return key


def access_clause(kind: str, access: SearchAccess | None) -> ColumnElement[bool] | None:
    """The SQL twin of router/rules/access.py `can_view_dialog` over `dialogs` joined with `leads` (None: all)."""
    if access is None:
        return None
    login = access.login
    return or_(
        dialogs.c.operator == login,
        dialog_list_has(kind, "offered_to", login),
        dialog_list_has(kind, "invited", login),
        and_(dialogs.c.state == "queued", dialogs.c.line_id.in_(sorted(access.lines)))
        if access.lines
        else false(),
        leads.c.responsible == login,
    )


def filter_clauses(f: SearchFilters) -> list[ColumnElement[bool]]:
    """The filters as conditions over `messages` and `dialogs`."""
    out: list[ColumnElement[bool]] = []
    if f.lines is not None:
        out.append(dialogs.c.line_id.in_(sorted(f.lines)))
    if f.channel is not None:
        out.append(dialogs.c.channel == f.channel)
    if f.operator is not None:
        out.append(dialogs.c.operator == f.operator)
    if f.state == "open":
        out.append(dialogs.c.state.in_(OPEN_STATES))
    elif f.state is not None:
        if f.state not in STATES:
            raise BadSearch(f"state must be one of {', '.join(STATES)}")
        out.append(dialogs.c.state == f.state)
    if f.since is not None:
        out.append(messages.c.created_at >= f.since)
    if f.until is not None:
        out.append(messages.c.created_at < f.until)
    return out


_DIALOG = "dialog__"
_COLUMNS = [
    *messages.c,
    *(c.label(_DIALOG + c.name) for c in dialogs.c),
    leads.c.name.label(_DIALOG + "lead_name"),
    leads.c.status.label(_DIALOG + "lead_status"),
    leads.c.responsible.label(_DIALOG + "lead_responsible"),
]


class Search:
    """`Store`'s message search (its methods are the store's own)."""

    engine: AsyncEngine
    kind: str

    async def catch_up_search(self) -> None:
        """SQLite: index the messages stored since the index last caught up (crm_core/search_index.py), so a
        search finds every message stored before it."""

        def run(c: Any, sql: str, params: tuple[Any, ...]) -> Sequence[Sequence[Any]]:
            result = c.exec_driver_sql(sql, params)
            return result.fetchall() if result.returns_rows else []

        async with self.engine.begin() as conn:
            await conn.run_sync(lambda c: index_all(lambda sql, p: run(c, sql, p)))

    async def search_messages(
        self,
        query: str,
        *,
        access: SearchAccess | None,
        filters: SearchFilters = SearchFilters(),
        cursor: str | None = None,
        limit: int = 20,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Messages with every word of the query that the viewer may see, newest first: a page of rows (the
        message's columns, its dialog summary under "dialog") and the next page's cursor (None: the last page)."""
        words = search_words(query)
        if not words:
            raise BadSearch("the query has no word to search for")
        limit = max(1, min(int(limit), 200))
        after = decode_cursor(self.kind, cursor) if cursor else None
        conds = filter_clauses(filters)
        allowed = access_clause(self.kind, access)
        if allowed is not None:
            conds.append(allowed)
        if self.kind == "sqlite":
            await self.catch_up_search()
        async with self.engine.connect() as conn:
            if self.kind == "postgresql":
                q = self._pg_query(words, after).where(*conds)
                rows = await self._pg_windows(conn, q, words, after, limit)
            else:
                q = self._sqlite_query(words, after)
                rows = list((await conn.execute(q.where(*conds).limit(limit + 1))).mappings().all())
        page = [_result(r) for r in rows[:limit]]
        nxt = None
        if len(rows) > limit:
            last = rows[limit - 1]
            nxt = encode_cursor(self.kind, last["search_key"])
        return page, nxt

    def _sqlite_query(self, words: list[str], after: str | None) -> Select[Any]:
        fts = table("messages_fts", column("rowid"))
        key = fts.c.rowid
        q = (
            select(*_COLUMNS, key.label("search_key"))
            .select_from(_joined(fts.join(messages, literal_column("messages.rowid") == key)))
            .where(text("messages_fts MATCH :fts").bindparams(fts=fts5_query(words)))
            .order_by(key.desc())
        )
        if after is not None:
            if not after.isdigit():
                raise BadSearch("cursor is not one this search gave")
            q = q.where(key < int(after))
        return q

    async def _pg_windows(
        self, conn: AsyncConnection, q: Select[Any], words: list[str], after: str | None, limit: int
    ) -> list[Any]:
        """The page (and one row more) by windows of ids, newest first: the newest ~1 % of the messages (by the
        statistics' histogram of `messages.id`), then the next 1 %, 2 %, 4 % ... 32 %, then all older ones, until
        the page is full. Each window is the same query with an id range, so the planner may take the word's GIN
        list AND the block ranges of ix_messages_search_id_brin (only the window's matches are read from the table)
        or walk the primary key backwards within the window; the windows are disjoint and in id order, so the rows
        are exactly the unwindowed query's. One query, without windows: before the table's first ANALYZE, and for
        a query with a word rarer than the statistics' most common lexemes (the GIN gives all its few matches)."""
        # the word and the ids are what the plan depends on: never a prepared statement's generic plan (after five
        # executions PostgreSQL may keep one that walks the primary key whatever the word: seconds for a rare one).
        # No parallel workers: for a window they cost more to start than they save (a bounded walk of the primary
        # key split between three processes took 45-60 ms instead of about 15), and a search is one of many.
        # random_page_cost 1.1 (the default is 4: a disk's): the search reads a table in memory, and priced as a
        # disk's, 2,000 matches in a window looked dearer than walking 100,000 messages (5x slower)
        await conn.execute(
            text(
                "SELECT set_config('plan_cache_mode', 'force_custom_plan', true), "
                "set_config('max_parallel_workers_per_gather', '0', true), "
                "set_config('random_page_cost', '1.1', true)"
            )
        )
        stats = await pg_stats(self, conn)
        bounds = list(stats.bounds) if stats.has_common(words) else []
        if after is not None:
            bounds = [b for b in bounds if b < after]
        rows: list[Any] = []
        hi: str | None = None
        for width in PG_WINDOWS:
            if len(bounds) < width:
                break
            lo = bounds[-width]
            w = q.where(messages.c.id >= lo)
            if hi is not None:
                w = w.where(messages.c.id < hi)
            rows += (await conn.execute(w.limit(limit + 1 - len(rows)))).mappings().all()
            if len(rows) > limit:
                return rows
            hi = lo
        if hi is not None:
            q = q.where(messages.c.id < hi)
        rows += (await conn.execute(q.limit(limit + 1 - len(rows)))).mappings().all()
        return rows

    def _pg_query(self, words: list[str], after: str | None) -> Select[Any]:
        params: dict[str, str] = {}
        parts = []
        for i, w in enumerate(words):
            params[f"w{i}"] = w.lower()
            parts.append(f"phraseto_tsquery('simple', :w{i})")
        match = text(f"messages.{PG_COLUMN} @@ ({' && '.join(parts)})").bindparams(**params)
        q = (
            select(*_COLUMNS, messages.c.id.label("search_key"))
            .select_from(_joined(messages))
            .where(match)
            .order_by(messages.c.id.desc())
        )
        if after is not None:
            q = q.where(messages.c.id < after)
        return q


def _joined(left: Any) -> Any:
    """Messages (in `left`) with their dialog and its lead."""
    return left.join(dialogs, dialogs.c.id == messages.c.dialog_id).join(
        leads, leads.c.id == dialogs.c.lead_id
    )


def _result(row: Any) -> dict[str, Any]:
    """A result row split into the message and its dialog summary."""
    msg: dict[str, Any] = {}
    dialog: dict[str, Any] = {}
    for k, v in row.items():
        if k.startswith(_DIALOG):
            dialog[k[len(_DIALOG) :]] = v
        elif k != "search_key":
            msg[k] = v
    msg["dialog"] = dialog
    return msg

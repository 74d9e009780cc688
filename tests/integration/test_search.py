"""Message search (crm_core/search.py, GET /api/search): one contract on both stores — words in any script, case
folded, a prefix, every filter, pages with no gaps or repeats, edits re-indexed, hostile input never an error but
a clean 400 — and who may find what (the SQL twin of `can_view_dialog`); the closed list's pages."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from crm_core.ids import new_id
from crm_core.search import BadSearch, SearchAccess, SearchFilters, encode_cursor
from crm_core.store import Changes, Store
from router.rules.access import Viewer, can_view_dialog
from tests.conftest import config, line, settings_from

BACKENDS = ("sqlite", "postgresql")  # tests/integration/conftest.py runs each test on both stores

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
_n = itertools.count()


class World:
    """Leads, dialogs and messages written through `Store.apply` (the engine's batch writers)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.dialogs: dict[str, dict[str, Any]] = {}
        self.responsible: dict[str, str | None] = {}  # dialog id -> its lead's responsible
        self.clock = T0

    async def dialog(
        self,
        line_id: str = "support",
        state: str = "queued",
        *,
        operator: str | None = None,
        offered_to: list[str] | None = None,
        invited: list[str] | None = None,
        channel: str = "widget",
        responsible: str | None = None,
        last_message_at: datetime | None = None,
    ) -> str:
        lead_id, ident_id, dialog_id = new_id(), new_id(), new_id()
        n = next(_n)
        row = {
            "id": dialog_id,
            "lead_id": lead_id,
            "identity_id": ident_id,
            "line_id": line_id,
            "channel": channel,
            "account": "main",
            "chat_id": f"chat{n}",
            "state": state,
            "operator": operator,
            "offered_to": offered_to or [],
            "invited": invited or [],
            "excluded": [],
            "created_at": T0,
            "updated_at": T0,
            "closed_at": T0 if state == "closed" else None,
            "last_message_at": last_message_at,
        }
        await self.store.apply(
            Changes(
                leads=[
                    {
                        "id": lead_id,
                        "name": f"Customer {n}",
                        "status": "new",
                        "responsible": responsible,
                        "created_at": T0,
                        "updated_at": T0,
                    }
                ],
                identities=[
                    {
                        "id": ident_id,
                        "lead_id": lead_id,
                        "channel": channel,
                        "account": "main",
                        "external_id": f"visitor{n}",
                        "display_name": "",
                        "profile": {},
                        "created_at": T0,
                    }
                ],
                dialogs_new=[row],
            )
        )
        self.dialogs[dialog_id] = row
        self.responsible[dialog_id] = responsible
        return dialog_id

    async def say(
        self, dialog_id: str, *texts: str, visibility: str = "public", author: str = "customer"
    ) -> list[str]:
        """Messages in the dialog, one minute apart; their ids."""
        rows = []
        for text in texts:
            self.clock += timedelta(minutes=1)
            rows.append(
                {
                    "id": new_id(),
                    "dialog_id": dialog_id,
                    "channel": self.dialogs[dialog_id]["channel"],
                    "account": "main",
                    "external_id": None,
                    "direction": "in" if author == "customer" else "out",
                    "author_kind": author,
                    "text": text,
                    "visibility": visibility,
                    "attachments": [],
                    "created_at": self.clock,
                }
            )
        await self.store.apply(Changes(messages=rows))
        return [r["id"] for r in rows]


async def texts(store: Store, query: str, access: SearchAccess | None = None, **filters: Any) -> list[str]:
    rows, _ = await store.search_messages(query, access=access, filters=SearchFilters(**filters), limit=200)
    return [r["text"] for r in rows]


async def test_whole_words_in_any_script_fold_case(store):
    w = World(store)
    d = await w.dialog()
    await w.say(
        d,
        "Где мой ЗАКАЗ?",
        "заказ номер 5 и доставка",
        "Hello, where is my Parcel?",
        "ΚΑΛΗΜΕΡΑ φιλε",
        "parcels and boxes",
        "e-mail me at anna@example.com",
        "internationalization rocks",
    )
    assert await texts(store, "Заказ") == ["заказ номер 5 и доставка", "Где мой ЗАКАЗ?"]  # newest first
    assert await texts(store, "заказ доставка") == ["заказ номер 5 и доставка"]  # every word
    assert await texts(store, "зак") == []  # words match whole, never as a prefix
    assert await texts(store, "PARCEL") == ["Hello, where is my Parcel?"]
    assert await texts(store, "parcels") == ["parcels and boxes"]
    assert await texts(store, "parcel*") == ["Hello, where is my Parcel?"]  # the star is text: a whole word
    assert await texts(store, "parc") == []
    assert await texts(store, "καλημερα") == ["ΚΑΛΗΜΕΡΑ φιλε"]
    assert await texts(store, "e-mail") == ["e-mail me at anna@example.com"]
    assert await texts(store, "nothing-like-this") == []
    assert await texts(store, "internatio") == []
    assert await texts(store, "internationalization") == ["internationalization rocks"]
    assert await texts(store, "r") == []
    assert await texts(store, "ROCKS") == ["internationalization rocks"]


async def test_internal_notes_are_found_like_any_message(store):
    w = World(store)
    d = await w.dialog("support", "assigned", operator="anna")
    await w.say(d, "customer is angry about the refund", visibility="internal", author="operator")
    rows, _ = await store.search_messages("refund", access=SearchAccess("anna", frozenset({"support"})))
    assert [(r["text"], r["visibility"], r["dialog"]["id"]) for r in rows] == [
        ("customer is angry about the refund", "internal", d)
    ]


async def test_every_filter_narrows_the_results(store):
    w = World(store)
    queued = await w.dialog("support", "queued", channel="telegram")
    offered = await w.dialog("support", "offered", offered_to=["anna"])
    mine = await w.dialog("support", "assigned", operator="anna")
    sales = await w.dialog("sales", "assigned", operator="vera")
    closed = await w.dialog("support", "closed", operator="anna")
    by_dialog = {}
    for d in (queued, offered, mine, sales, closed):
        by_dialog[d] = (await w.say(d, f"invoice for dialog {d}"))[0]

    async def found(**filters: Any) -> set[str]:
        rows, _ = await store.search_messages(
            "invoice", access=None, filters=SearchFilters(**filters), limit=50
        )
        return {r["dialog"]["id"] for r in rows}

    assert await found() == {queued, offered, mine, sales, closed}
    assert await found(lines=["sales"]) == {sales}
    assert await found(lines=["support", "sales"]) == {queued, offered, mine, sales, closed}
    assert await found(channel="telegram") == {queued}
    assert await found(operator="anna") == {mine, closed}
    assert await found(state="open") == {queued, offered, mine, sales}
    assert await found(state="closed") == {closed}
    assert await found(state="queued") == {queued}
    assert await found(state="offered") == {offered}
    assert await found(state="assigned") == {mine, sales}
    # dates are the message's created_at: since inclusive, until exclusive
    times = {
        r["dialog"]["id"]: r["created_at"]
        for r in (await store.search_messages("invoice", access=None, limit=50))[0]
    }
    assert await found(since=times[mine]) == {mine, sales, closed}
    assert await found(until=times[mine]) == {queued, offered}
    assert await found(since=times[offered], until=times[sales]) == {offered, mine}
    assert await found(state="open", lines=["support"], channel="widget", operator="anna") == {mine}
    with pytest.raises(BadSearch):
        await found(state="archived")


async def test_pages_walk_every_result_once_newest_first(store):
    w = World(store)
    a, b = await w.dialog(), await w.dialog("sales")
    ids = []
    for i in range(23):
        ids += await w.say(a if i % 2 else b, f"delivery number {i}")
    await w.say(a, "something else entirely")
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        rows, cursor = await store.search_messages("delivery", access=None, cursor=cursor, limit=5)
        seen += [r["id"] for r in rows]
        pages += 1
        if cursor is None:
            break
        assert len(rows) == 5
    assert pages == 5
    assert seen == list(reversed(ids))  # no gaps, no repeats, newest first
    # exactly one page: no cursor
    rows, cursor = await store.search_messages("delivery", access=None, limit=23)
    assert len(rows) == 23 and cursor is None
    # a cursor is this store's, and nothing else is one
    for bad in ("garbage!!", encode_cursor("mysql", 1), encode_cursor(store.kind, ""), "", "%%%"):
        if not bad:
            continue
        with pytest.raises(BadSearch):
            await store.search_messages("delivery", access=None, cursor=bad)


async def test_an_edited_text_is_found_by_its_new_words_only(store):
    w = World(store)
    d = await w.dialog()
    (mid,) = await w.say(d, "please cancel the subscription")
    (other,) = await w.say(d, "another subscription question")
    assert await texts(store, "cancel") == ["please cancel the subscription"]
    later = T0 + timedelta(hours=1)
    await store.apply(
        Changes(
            message_updates=[
                {
                    "id": mid,
                    "text": "please renew the subscription",
                    "edited_at": later,
                    "edits": [{"text": "please cancel the subscription", "at": later.isoformat()}],
                },
                {"id": other, "delivery_state": "sent"},  # not a change of text: still found as it was
            ]
        )
    )
    assert await texts(store, "cancel") == []
    assert await texts(store, "renew") == ["please renew the subscription"]
    assert await texts(store, "subscription") == [
        "another subscription question",
        "please renew the subscription",
    ]


PUNCTUATION = '*** "() -- ;'
HOSTILE = [
    '"',
    '""',
    '"station',
    "*",
    "station*",
    "NEAR(station near)",
    "near",
    "NEAR",
    "station OR meet",
    "meet AND",
    "NOT meet",
    "(meet",
    "meet)",
    "-meet",
    "+meet",
    "^meet",
    "text:meet",
    "meet:*",
    "'); DROP TABLE messages; --",
    "1' OR '1'='1",
    "meet & station | !x",
    "<-> meet",
    "\\",
    "meet\\",
    "%_%",
    "ÿ\u0000meet",
    "{meet}",
    "½",
    "ـ",
    "①",
    "ａｂ",
    "𝔘𝔫𝔦",
    "x\u200by",
    "\u0301",
    "meet" * 60,
    " ".join(["meet"] * 40),
]


async def test_hostile_queries_find_text_or_are_refused_cleanly(store):
    w = World(store)
    d = await w.dialog()
    await w.say(d, "meet me near the station", "1' OR '1'='1 drop table messages")
    for q in HOSTILE:
        try:
            await texts(store, q)
        except BadSearch:
            assert not any(c.isalnum() for c in q), q  # refused only when there is no word
    # the words of operator-ish input are text
    assert await texts(store, "NEAR") == ["meet me near the station"]
    assert await texts(store, '"station"') == ["meet me near the station"]
    assert await texts(store, '"station" NEAR') == ["meet me near the station"]
    assert await texts(store, "NEAR(station near)") == []  # "near(station": the two words side by side
    assert await texts(store, "(near the station)") == ["meet me near the station"]
    assert await texts(store, "'); DROP TABLE messages; --") == ["1' OR '1'='1 drop table messages"]
    assert await texts(store, "meet OR nothing") == []  # OR is a word like any other
    for q in ("", "   ", "*", '"', "()", "-- ;", "'"):
        with pytest.raises(BadSearch):
            await texts(store, q)
    assert await texts(store, "meet") == ["meet me near the station"]  # still there


VIEWERS = [
    Viewer("anna", False, frozenset({"support"})),
    Viewer("boris", False, frozenset({"support"})),
    Viewer("vera", False, frozenset({"sales"})),
    Viewer("nobody", False, frozenset()),
    Viewer("admin", True, frozenset({"support", "sales"})),
]


async def test_the_search_shows_exactly_the_dialogs_can_view_dialog_allows(store):
    w = World(store)
    made = [
        await w.dialog("support", "queued"),
        await w.dialog("sales", "queued"),
        await w.dialog("support", "offered", offered_to=["anna", "boris"]),
        await w.dialog("sales", "offered", offered_to=["vera"]),
        await w.dialog("support", "assigned", operator="anna"),
        await w.dialog("support", "assigned", operator="boris"),
        await w.dialog("support", "assigned", operator="boris", invited=["anna"]),
        await w.dialog("sales", "assigned", operator="vera", invited=["boris", "anna"]),
        await w.dialog("sales", "assigned", operator="vera", responsible="anna"),
        await w.dialog("support", "closed", operator="anna"),
        await w.dialog("support", "closed", operator="boris", responsible="vera"),
        await w.dialog("sales", "closed", operator="vera", invited=["nobody"]),
        await w.dialog("other", "queued", responsible="nobody"),
        await w.dialog("support", "assigned", operator="vera"),  # transferred across lines
    ]
    for d in made:
        await w.say(d, f"common words of {d}")
    for v in VIEWERS:
        access = None if v.admin else SearchAccess(v.login, v.lines)
        rows, _ = await store.search_messages("common", access=access, limit=200)
        found = {r["dialog"]["id"] for r in rows}
        allowed = {d for d in made if can_view_dialog(v, w.dialogs[d], lead_responsible=w.responsible[d])}
        assert found == allowed, v.login
        assert len(rows) == len(allowed)  # one message each: a join never repeats a row


# ---- over HTTP ---------------------------------------------------------------------------------------------


async def call(op: Any, path: str) -> tuple[int, Any]:
    async with op.session.get(f"{op.base}{path}", headers=op.headers) as r:
        return r.status, await r.json()


async def test_search_route_shape_filters_and_who_finds_what(tmp_path, start_daemon):
    d = await start_daemon(
        settings_from(
            tmp_path, config(tmp_path, [line("support", ["anna", "boris"]), line("sales", ["vera"])])
        )
    )
    anna, boris, admin = await d.operator("anna"), await d.operator("boris"), await d.operator("admin")
    w = World(d.daemon.store)
    sales_queue = await w.dialog("sales", "queued")
    boris_own = await w.dialog("support", "assigned", operator="boris")
    anna_own = await w.dialog("support", "assigned", operator="anna")
    (in_sales,) = await w.say(sales_queue, "Где посылка?")
    (in_boris,) = await w.say(boris_own, "посылка пришла мятая")
    in_anna, _ = await w.say(anna_own, "Посылка потерялась", "note: ask the warehouse")

    status, body = await call(anna, f"/api/search?q={quote('ПОСЫЛКА')}")
    assert status == 200, body
    assert set(body) == {"results", "next"} and body["next"] is None
    assert [r["message"]["id"] for r in body["results"]] == [in_anna]  # not the colleague's, not sales'
    (hit,) = body["results"]
    assert hit["message"]["text"] == "Посылка потерялась" and hit["message"]["dialog_id"] == anna_own
    assert hit["dialog"]["id"] == anna_own and hit["dialog"]["line_name"] == "Support"
    assert hit["dialog"]["operator"] == "anna" and "unread" not in hit["dialog"]
    full = await anna.get(f"/api/dialogs/{anna_own}")
    assert hit["dialog"] == {
        k: v for k, v in full.items() if k != "unread"
    }  # as the dialog's own page shows it

    # a line she is not in: nothing of it (not refused)
    status, body = await call(anna, "/api/search?q=посылка&line=sales")
    assert status == 200 and body == {"results": [], "next": None}
    status, body = await call(boris, "/api/search?q=посылка")
    assert [r["message"]["id"] for r in body["results"]] == [in_boris]
    # the admin sees every line, with filters and pages
    status, body = await call(admin, "/api/search?q=посылка&limit=2")
    assert [r["message"]["id"] for r in body["results"]] == [in_anna, in_boris] and body["next"]
    status, rest = await call(admin, f"/api/search?q=посылка&limit=2&cursor={body['next']}")
    assert [r["message"]["id"] for r in rest["results"]] == [in_sales] and rest["next"] is None
    status, body = await call(admin, "/api/search?q=посылка&line=sales&state=queued")
    assert [r["message"]["id"] for r in body["results"]] == [in_sales]
    status, body = await call(admin, "/api/search?q=посылка&operator=boris&state=open&channel=widget")
    assert [r["message"]["id"] for r in body["results"]] == [in_boris]
    at = w.clock.isoformat().replace("+00:00", "Z")
    status, body = await call(admin, f"/api/search?q=посылка&since={quote(at)}")
    assert status == 200 and body["results"] == []  # the newest one is a minute before the note
    status, body = await call(admin, "/api/search?q=посылка&until=2026-11-02T09:02:00")  # no offset: UTC
    assert [r["message"]["id"] for r in body["results"]] == [in_sales]

    # bad input: a clean 400 with its code, never a 500
    for path, code in [
        ("/api/search", "missing_field"),
        ("/api/search?q=", "bad_field"),
        ("/api/search?q=" + quote(PUNCTUATION), "bad_field"),
        ("/api/search?q=a&limit=0", "bad_field"),
        ("/api/search?q=a&limit=51", "bad_field"),
        ("/api/search?q=a&limit=x", "bad_field"),
        ("/api/search?q=a&state=archived", "bad_field"),
        ("/api/search?q=a&since=yesterday", "bad_field"),
        ("/api/search?q=a&until=2026-13-01", "bad_field"),
        ("/api/search?q=a&cursor=nonsense", "bad_field"),
    ]:
        status, body = await call(anna, path)
        assert status == 400 and body["code"] == code and body["message"], (path, body)
    for q in HOSTILE:
        status, body = await call(anna, f"/api/search?q={quote(q)}")
        assert status in (200, 400), (q, status, body)

    async with aiohttp.ClientSession() as stranger, stranger.get(f"{d.base}/api/search?q=посылка") as r:
        assert r.status == 401


async def test_the_closed_list_comes_a_page_at_a_time(tmp_path, start_daemon):
    d = await start_daemon(settings_from(tmp_path, config(tmp_path, [line("support", ["anna"])])))
    anna, admin = await d.operator("anna"), await d.operator("admin")
    w = World(d.daemon.store)
    # activity is the last message's time; the three newest share one, so the id orders them (and a page ends
    # inside that tie)
    closed = [
        await w.dialog(
            "support", "closed", operator="anna", last_message_at=T0 + timedelta(minutes=min(i, 4))
        )
        for i in range(7)
    ]
    await w.dialog("support", "closed", operator="boris")  # a colleague's: not in her list
    seen: list[str] = []
    cursor = None
    while True:
        path = "/api/dialogs?state=closed&limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = await anna.get(path)
        seen += [x["id"] for x in body["dialogs"]]
        cursor = body["next"]
        if cursor is None:
            break
        assert len(body["dialogs"]) == 2
    assert seen == list(reversed(closed))  # no gaps, no repeats, latest activity first
    assert len((await anna.get("/api/dialogs?state=closed"))["dialogs"]) == 7  # the default page holds them
    assert len((await admin.get("/api/dialogs?state=closed"))["dialogs"]) == 8
    assert (await admin.get("/api/dialogs?state=closed"))["next"] is None
    assert (await anna.get("/api/dialogs?state=open"))["next"] is None
    for bad in ("cursor=zzz", "limit=0", "limit=101", "cursor=" + quote("bm9wZQ")):
        status, body = await call(anna, f"/api/dialogs?state=closed&{bad}")
        assert status == 400 and body["code"] == "bad_field", bad


@pytest.mark.backends("postgresql")
async def test_postgresql_keeps_the_search_column_whoever_writes(store):
    """PostgreSQL: 0012's trigger computes `messages.search_tsv` on every insert (the batch statement's `SELECT *`
    of a record, a plain INSERT naming its columns) and on a write of the text or of the column itself."""
    from sqlalchemy import text

    w = World(store)
    d = await w.dialog()
    (mid,) = await w.say(d, "Пингвин SOUP")
    column = text("SELECT search_tsv::text FROM messages WHERE id = :i")
    async with store.engine.begin() as conn:
        assert await conn.scalar(column, {"i": mid}) == "'soup':2 'пингвин':1"
        await conn.execute(text("UPDATE messages SET search_tsv = NULL WHERE id = :i"), {"i": mid})
        assert await conn.scalar(column, {"i": mid}) == "'soup':2 'пингвин':1"
        await conn.execute(
            text(
                "INSERT INTO messages (id, dialog_id, channel, account, direction, author_kind, author_name, text,"
                " visibility, attachments, created_at, edits, delivery_attempts) VALUES (:i, :d, 'widget', 'main',"
                " 'in', 'customer', '', 'Ещё', 'public', '[]', now(), '[]', 0)"
            ),
            {"i": "zz" + mid, "d": d},
        )
        assert await conn.scalar(column, {"i": "zz" + mid}) == "'ещё':1"
    assert await texts(store, "ещё") == ["Ещё"]


@pytest.mark.backends("postgresql")
async def test_postgresql_id_windows_give_exactly_the_one_query_pages(store):
    """PostgreSQL: with statistics (after ANALYZE) a search of common words runs by id windows, newest first
    (crm_core/search.py `_pg_windows`); its pages are exactly those of the one query without them, for every viewer
    and filter, from any cursor."""
    from sqlalchemy import text

    from crm_core import search_pg

    w = World(store)
    made = [
        await w.dialog("support", "assigned", operator="anna"),
        await w.dialog("sales", "closed", operator="vera"),
        await w.dialog("support", "queued"),
        await w.dialog("sales", "assigned", operator="boris", invited=["anna"]),
    ]
    for i in range(300):
        await w.say(
            made[i % 4] if i % 7 else made[(i // 7) % 4], f"hello parcel {i}" + (" late" if i % 5 else "")
        )
    async with store.engine.begin() as conn:
        await conn.execute(text("ANALYZE messages"))

    async def pages(query: str, access: SearchAccess | None, **filters: Any) -> list[str]:
        seen: list[str] = []
        cursor = None
        while True:
            rows, cursor = await store.search_messages(
                query, access=access, filters=SearchFilters(**filters), cursor=cursor, limit=7
            )
            seen += [r["id"] for r in rows]
            if cursor is None:
                return seen

    cases = [
        ("parcel", None, {}),
        ("late parcel", None, {}),
        ("late", SearchAccess("anna", frozenset({"sales"})), {}),
        ("hello", None, {"state": "closed"}),
        ("hello late", SearchAccess("boris", frozenset()), {"lines": ["sales"]}),
    ]
    windowed = []
    for query, access, filters in cases:
        store._search_stats = None
        windowed.append(await pages(query, access, **filters))
    assert len(store._search_stats[1].bounds) > 50 and store._search_stats[1].has_common(["late", "parcel"])
    # the same searches as one query each (no statistics: no windows)
    store._search_stats = (float("inf"), search_pg.PgStats((), ()))
    for (query, access, filters), got in zip(cases, windowed, strict=True):
        assert got == await pages(query, access, **filters), query
        assert got, query
    assert len(windowed[0]) == 300 and windowed[0] == sorted(windowed[0], reverse=True)

"""Several phones and e-mails per lead, the duplicate keys the triggers keep, merging leads and undoing a merge: one
contract on SQLite and PostgreSQL, with a property test that random merges and undos lose and duplicate nothing."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from crm_core.ids import new_id
from crm_core.merges import MergeRefused
from crm_core.models import dialogs, duplicate_keys, identities, lead_contacts, leads, messages
from crm_core.recognition import normalize_email, normalize_phone
from crm_core.store import Changes, Store

BACKENDS = ("sqlite", "postgresql")  # tests/integration/conftest.py runs each test on both stores

NOW = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)


def customer(
    name: str,
    *,
    phone: str | None = None,
    email: str | None = None,
    dialogs_n: int = 1,
    msgs: int = 2,
    at=NOW,
) -> tuple[Changes, str]:
    """A lead with one telegram identity, `dialogs_n` closed dialogs of `msgs` messages each."""
    lead_id, ident_id = new_id(), new_id()
    ext = new_id()
    ch = Changes(
        leads=[
            {
                "id": lead_id,
                "name": name,
                "phone": normalize_phone(phone),  # normalised, as the engine writes them
                "email": normalize_email(email),
                "status": "new",
                "created_at": at,
                "updated_at": at,
            }
        ],
        identities=[
            {
                "id": ident_id,
                "lead_id": lead_id,
                "channel": "telegram",
                "account": "shop_bot",
                "external_id": ext,
                "display_name": name,
                "profile": {},
                "created_at": at,
            }
        ],
    )
    for _ in range(dialogs_n):
        ch.dialogs_new.append(dialog(lead_id, ident_id, ext, at))
        for _ in range(msgs):
            ch.messages.append(message(ch.dialogs_new[-1]["id"], at))
    return ch, lead_id


def dialog(lead_id: str, ident_id: str, chat: str, at: datetime, state: str = "closed") -> dict[str, Any]:
    return {
        "id": new_id(),
        "lead_id": lead_id,
        "identity_id": ident_id,
        "line_id": "support",
        "channel": "telegram",
        "account": "shop_bot",
        "chat_id": chat,
        "state": state,
        "offered_to": [],
        "excluded": [],
        "created_at": at,
        "updated_at": at,
    }


def message(dialog_id: str, at: datetime) -> dict[str, Any]:
    return {
        "id": new_id(),
        "dialog_id": dialog_id,
        "channel": "telegram",
        "account": "shop_bot",
        "external_id": new_id(),
        "direction": "in",
        "author_kind": "customer",
        "text": "hello",
        "attachments": [],
        "created_at": at,
    }


async def add(store: Store, *args: Any, **kw: Any) -> str:
    ch, lead_id = customer(*args, **kw)
    await store.apply(ch)
    return lead_id


async def rows(store: Store, table: Any) -> list[dict[str, Any]]:
    async with store.engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(select(table))).mappings()]


async def counts(store: Store) -> dict[tuple[str, str], int]:
    return {(r["criterion"], r["key"]): r["leads"] for r in await rows(store, duplicate_keys)}


async def test_a_lead_keeps_several_phones_and_emails_and_is_recognised_by_any(store: Store) -> None:
    lead = await add(store, "Иван Петров", phone="8 916 000-00-01")
    await store.set_contacts(
        lead,
        phones=[
            {"value": "+79160000001", "comment": "mobile"},
            {"value": "+74950000002", "comment": "second number: her assistant"},
        ],
        emails=[
            {"value": "ivan@example.com", "comment": "work"},
            {"value": "home@example.org", "comment": ""},
        ],
        now=NOW,
    )
    card = await store.get_lead(lead)
    assert card is not None
    assert [(c["value"], c["comment"]) for c in card["phones"]] == [
        ("+79160000001", "mobile"),
        ("+74950000002", "second number: her assistant"),
    ]
    assert card["phone"] == "+79160000001" and card["email"] == "ivan@example.com"
    for phone, email in (("8 495 000-00-02", None), (None, "HOME@example.org"), ("+7 916 000 00 01", None)):
        found = await store.find_leads_by_contact(phone=phone, email=email)
        assert [r["id"] for r in found] == [lead], (phone, email)
    assert [r["id"] for r in await store.search_leads("495000")] == [lead]
    # removing the first phone makes the next one the lead's own
    await store.set_contacts(lead, phones=[{"value": "+74950000002", "comment": ""}], emails=None, now=NOW)
    card = await store.get_lead(lead)
    assert card is not None and card["phone"] == "+74950000002"
    assert await store.find_leads_by_contact(phone="+79160000001") == []


async def test_the_duplicate_keys_follow_every_write_of_a_lead(store: Store) -> None:
    a = await add(store, "Иван Петров", phone="+79160000001", email="ivan@example.com")
    b = await add(store, "Петров Иван", phone="8 916 000-00-01")
    await add(store, "Visitor AB12")  # a made-up name is nobody's duplicate
    c = await add(store, "Анна", email="IVAN@example.com")
    got = await counts(store)
    assert got[("name", "иван петров")] == 2
    assert got[("phone", "+79160000001")] == 2 and got[("email", "ivan@example.com")] == 2
    assert not any(k[0] == "name" and "visitor" in k[1] for k in got)
    assert await store.duplicate_keys("name") == ["иван петров"]
    assert await store.duplicate_keys("phone") == ["+79160000001"]
    assert await store.duplicate_keys("email", after="ivan@example.com") == []
    # a rename and a changed e-mail move the counts at once (no rescan)
    await store.update_lead(b, {"name": "Пётр Сидоров"}, NOW)
    await store.set_contacts(c, phones=None, emails=[{"value": "anna@example.com"}], now=NOW)
    got = await counts(store)
    assert got.get(("name", "иван петров"), 0) == 1 and got[("email", "ivan@example.com")] == 1
    assert await store.duplicate_keys("name") == [] and await store.duplicate_keys("email") == []
    members = await store.duplicate_members("phone", ["+79160000001"])
    assert sorted(m["id"] for m in members) == sorted([a, b])
    assert {m["id"]: (m["dialog_count"], m["message_count"]) for m in members} == {a: (1, 2), b: (1, 2)}
    # an operator's list holds only keys of leads they own or handle
    await store.update_lead(a, {"responsible": "anna"}, NOW)
    assert await store.duplicate_keys("phone", within="anna") == ["+79160000001"]
    assert await store.duplicate_keys("phone", within="boris") == []


async def test_a_skipped_pair_is_remembered_once(store: Store) -> None:
    a = await add(store, "Иван Петров")
    b = await add(store, "Иван Петров")
    await store.skip_duplicates(b, a, "anna", NOW)
    await store.skip_duplicates(a, b, "boris", NOW)
    assert await store.skipped_pairs([a, b]) == {frozenset((a, b))}


async def test_merge_moves_every_link_and_undo_puts_everything_back(store: Store) -> None:
    main = await add(store, "Иван Петров", phone="+79160000001", dialogs_n=2)
    dup = await add(store, "Петров Иван", phone="+79160000001", email="ivan@example.com", dialogs_n=3)
    before = {t.name: sorted(map(repr, await rows(store, t))) for t in (identities, dialogs, lead_contacts)}
    keys_before = await counts(store)
    merge_id = await store.merge_leads(main, [dup], {"name": "Иван Петров-Водкин"}, by="admin", now=NOW)
    card = await store.get_lead(main)
    assert card is not None
    assert len(card["dialogs"]) == 5 and sum(len(d["transcript"]) for d in card["dialogs"]) == 10
    assert [c["value"] for c in card["emails"]] == ["ivan@example.com"] and len(card["phones"]) == 1
    assert card["name"] == "Иван Петров-Водкин" and len(card["identities"]) == 2
    gone = await store.get_lead(dup)
    assert gone is not None and gone["merged_into"] == main and gone["dialogs"] == []
    assert [r["id"] for r in await store.search_leads("Петров")] == [main]
    assert await store.duplicate_keys("phone") == [] and await store.duplicate_keys("name") == []
    with pytest.raises(MergeRefused) as refused:
        await store.merge_leads(main, [dup], {}, by="admin", now=NOW)
    assert refused.value.code == "merged_already"
    # the customer writes again after the merge: a new dialog of the duplicate's identity on the main record
    async with store.engine.connect() as conn:
        ident = (
            await conn.execute(select(identities).where(identities.c.display_name == "Петров Иван"))
        ).first()
    assert ident is not None and ident.lead_id == main
    later = dialog(main, ident.id, ident.external_id, NOW + timedelta(hours=1), state="queued")
    await store.apply(Changes(dialogs_new=[later], messages=[message(later["id"], NOW + timedelta(hours=1))]))

    undone = await store.undo_merge(merge_id, by="admin", now=NOW + timedelta(hours=2))
    assert undone == {"main_id": main, "restored": [dup]}
    after = {t.name: sorted(map(repr, await rows(store, t))) for t in (identities, dialogs, lead_contacts)}
    assert after["identities"] == before["identities"] and after["lead_contacts"] == before["lead_contacts"]
    moved = {r["id"]: r["lead_id"] for r in await rows(store, dialogs)}
    assert moved[later["id"]] == dup  # it came from the duplicate's identity: it stays with that record
    assert (
        sum(1 for v in moved.values() if v == main) == 2 and sum(1 for v in moved.values() if v == dup) == 4
    )
    card = await store.get_lead(main)
    assert card is not None and card["name"] == "Иван Петров" and card["email"] is None
    assert await counts(store) == keys_before
    with pytest.raises(MergeRefused) as refused:
        await store.undo_merge(merge_id, by="admin", now=NOW)
    assert refused.value.code == "undone_already"
    journal = await store.list_merges()
    assert [(j["id"], j["undone_by"]) for j in journal] == [(merge_id, "admin")]


async def test_a_merge_with_a_thousand_dialogs_moves_them_all(store: Store) -> None:
    main = await add(store, "Иван Петров", dialogs_n=1, msgs=1)
    dup = await add(store, "Иван Петров", dialogs_n=1000, msgs=1)
    merge_id = await store.merge_leads(main, [dup], {}, by="admin", now=NOW)
    assert {r["lead_id"] for r in await rows(store, dialogs)} == {main}
    await store.undo_merge(merge_id, by="admin", now=NOW)
    owners = [r["lead_id"] for r in await rows(store, dialogs)]
    assert owners.count(dup) == 1000 and owners.count(main) == 1


async def test_random_merges_and_undos_keep_every_message_exactly_once(store: Store) -> None:
    rnd = random.Random(20261208)
    ids = [
        await add(
            store,
            rnd.choice(["Иван Петров", "Анна Смирнова", "Ivan Petrov"]),
            phone=rnd.choice([None, "+79160000001", "+79160000002"]),
            email=rnd.choice([None, "a@example.com"]),
            dialogs_n=rnd.randint(0, 3),
            msgs=rnd.randint(1, 3),
        )
        for _ in range(12)
    ]
    all_messages = sorted(r["id"] for r in await rows(store, messages))
    contacts_at_start = sorted(map(repr, await rows(store, lead_contacts)))
    journal: list[str] = []
    for step in range(30):
        live = [r["id"] for r in await rows(store, leads) if r["merged_into"] is None]
        if journal and (rnd.random() < 0.4 or len(live) < 2):
            merge_id = journal.pop()  # the newest first: an older one may name a main merged since
            await store.undo_merge(merge_id, by="admin", now=NOW + timedelta(minutes=step))
        elif len(live) >= 2:
            picked = rnd.sample(live, rnd.randint(2, min(4, len(live))))
            journal.append(
                await store.merge_leads(
                    picked[0], picked[1:], {}, by="admin", now=NOW + timedelta(minutes=step)
                )
            )
        # every message is in exactly one dialog of exactly one live lead, and the keys agree with the contacts
        lead_rows = {r["id"]: r for r in await rows(store, leads)}
        dialog_owner = {r["id"]: r["lead_id"] for r in await rows(store, dialogs)}
        msgs = await rows(store, messages)
        assert sorted(m["id"] for m in msgs) == all_messages
        assert all(lead_rows[dialog_owner[m["dialog_id"]]]["merged_into"] is None for m in msgs)
        contact_counts: dict[tuple[str, str], int] = {}
        for c in await rows(store, lead_contacts):
            assert lead_rows[c["lead_id"]]["merged_into"] is None
            contact_counts[(c["kind"], c["value"])] = contact_counts.get((c["kind"], c["value"]), 0) + 1
        assert {k: v for k, v in (await counts(store)).items() if k[0] != "name"} == contact_counts
    while journal:
        await store.undo_merge(journal.pop(), by="admin", now=NOW + timedelta(hours=1))
    assert sorted(map(repr, await rows(store, lead_contacts))) == contacts_at_start
    assert all(r["merged_into"] is None for r in await rows(store, leads)) and len(ids) == 12

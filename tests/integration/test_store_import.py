"""The store's bulk-import path (the future CSV import of contacts) and the lookup by phone/e-mail."""

from __future__ import annotations

from typing import Any

from crm_core.store import Store

BACKENDS = ("sqlite", "postgresql")  # tests/integration/conftest.py runs each test on both stores
N = 300


def contact(i: int, *, name: str | None = None, channel: str = "telegram") -> dict[str, Any]:
    """A contact row as a CSV import will hand it over, with raw (not normalised) phone and e-mail."""
    return {
        "name": name or f"Customer {i}",
        "phone": f"8 (916) {i // 10000:03d}-{i // 100 % 100:02d}-{i % 100:02d}",
        "email": f" Customer.{i}@Example.COM ",
        "identity": {
            "channel": channel,
            "account": "shop_bot",
            "external_id": str(100_000 + i),
            "display_name": f"@customer{i}",
        },
    }


async def test_import_creates_a_lead_and_an_identity_per_row(store: Store) -> None:
    created = await store.import_contacts(contact(i) for i in range(N))
    assert created == N
    assert await store.count("leads") == N
    assert await store.count("identities") == N


async def test_a_contact_is_found_by_phone_email_and_channel_identity(store: Store) -> None:
    await store.import_contacts((contact(i) for i in range(N)), chunk_size=64)  # several transactions
    by_phone = await store.find_leads_by_contact(phone="+7 916 000-01-23")
    assert [(lead["name"], lead["phone"]) for lead in by_phone] == [("Customer 123", "+79160000123")]
    by_email = await store.find_leads_by_contact(email="customer.123@example.com")
    assert [lead["id"] for lead in by_email] == [by_phone[0]["id"]]
    assert by_email[0]["email"] == "customer.123@example.com" and by_email[0]["status"] == "new"

    idents = await store.find_identities([("telegram", "shop_bot", "100123")])
    ident = idents[("telegram", "shop_bot", "100123")]
    assert ident["lead_id"] == by_phone[0]["id"] and ident["display_name"] == "@customer123"

    # either criterion matches; both name two different leads here
    both = await store.find_leads_by_contact(phone="89160000007", email="CUSTOMER.8@example.com")
    assert sorted(lead["name"] for lead in both) == ["Customer 7", "Customer 8"]


async def test_unknown_or_invalid_contacts_match_nothing(store: Store) -> None:
    await store.import_contacts(contact(i) for i in range(10))
    assert await store.find_leads_by_contact(phone="+7 999 999-99-99") == []
    assert await store.find_leads_by_contact(email="nobody@example.com") == []
    assert await store.find_leads_by_contact(phone="call me", email="not an address") == []
    assert await store.find_leads_by_contact() == []


async def test_importing_the_same_identities_again_skips_them(store: Store) -> None:
    assert await store.import_contacts(contact(i) for i in range(N)) == N
    # the same file again, with edited names: existing identities are skipped whole, leads untouched
    again = await store.import_contacts(contact(i, name=f"Renamed {i}") for i in range(N))
    assert again == 0
    assert await store.count("leads") == N and await store.count("identities") == N
    found = await store.find_leads_by_contact(email="customer.5@example.com")
    assert [lead["name"] for lead in found] == ["Customer 5"]

    # half known, half new: only the new ones are created
    mixed = await store.import_contacts(contact(i) for i in range(N // 2, N + N // 2))
    assert mixed == N // 2
    assert await store.count("identities") == N + N // 2


async def test_a_duplicate_identity_within_one_import_is_created_once(store: Store) -> None:
    rows = [contact(1), contact(2), contact(1, name="Second copy"), contact(3)]
    # also across chunk boundaries
    assert await store.import_contacts(rows * 3, chunk_size=3) == 3
    assert await store.count("leads") == 3 and await store.count("identities") == 3
    found = await store.find_leads_by_contact(email="customer.1@example.com")
    assert [lead["name"] for lead in found] == ["Customer 1"]


async def test_the_same_external_id_on_another_channel_is_another_identity(store: Store) -> None:
    await store.import_contacts([contact(1)])
    assert await store.import_contacts([contact(1, channel="vk")]) == 1
    assert await store.count("identities") == 2


async def test_rows_without_identity_and_with_invalid_contacts(store: Store) -> None:
    rows = [
        {"name": "Walk-in", "phone": "+44 20 7946 0958", "email": None},
        {"name": "Bad data", "phone": "ask at the desk", "email": "no-at-sign", "identity": None},
    ]
    assert await store.import_contacts(rows) == 2
    assert await store.count("leads") == 2 and await store.count("identities") == 0
    walk_in = await store.find_leads_by_contact(phone="00442079460958")
    assert [(lead["name"], lead["email"]) for lead in walk_in] == [("Walk-in", None)]
    bad = await store.search_leads("bad data")
    assert [(lead["phone"], lead["email"]) for lead in bad] == [(None, None)]

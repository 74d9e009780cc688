"""Leads as a list to work from, on both stores: filters, sorts, keyset pages that neither skip nor repeat a lead,
an operator's own leads only, and handing many leads to another responsible at once (admins), each change on the
lead's history."""

from __future__ import annotations

from typing import Any

BACKENDS = ("sqlite", "postgresql")  # tests/integration/conftest.py runs each test on both stores


async def call(op: Any, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    return await op.call(method, path, body)


async def _pages(op: Any, query: str) -> list[str]:
    ids: list[str] = []
    cursor = ""
    while True:
        page = await op.get(f"/api/leads/list?{query}&limit=3{cursor}")
        ids += [x["id"] for x in page["leads"]]
        if page["next"] is None:
            return ids
        cursor = f"&cursor={page['next']}"


async def test_filters_sorts_and_pages_and_an_operators_own_leads(crm):
    d, anna, vera, admin = crm
    made = []
    for i in range(8):
        status, lead = await call(
            admin,
            "POST",
            "/api/leads",
            {
                "name": f"Клиент Номер{chr(0x430 + i)}",
                "phones": [f"+7916000000{i}"],
                "responsible": "anna" if i % 2 else "vera",
                "status": "new" if i < 5 else "proposal",
                "force": True,
            },
        )
        assert status == 201
        made.append(lead)
    everyone = await _pages(admin, "sort=created&order=asc")
    assert everyone == [x["id"] for x in made]  # every lead once, across pages of three
    assert await _pages(admin, "sort=created") == list(reversed(everyone))
    by_name = await _pages(admin, "sort=name")
    assert by_name == [x["id"] for x in sorted(made, key=lambda x: x["name"].lower())]
    assert set(await _pages(admin, "status=proposal")) == {x["id"] for x in made[5:]}
    assert set(await _pages(admin, "responsible=anna&status=new")) == {made[1]["id"], made[3]["id"]}
    assert await _pages(admin, "q=9160000004") == [made[4]["id"]]
    assert set(await _pages(anna, "responsible=vera")) == {
        x["id"] for x in made[1::2]
    }  # her own, whatever asked
    # the other line's operator: her own leads, none of anna's
    assert set(await _pages(vera, "responsible=anna")) == {x["id"] for x in made[0::2]}
    assert await _pages(admin, "responsible=none") == []
    for bad in ("sort=age", "limit=0", "status=lost", "created_from=yesterday", "cursor=nonsense"):
        status, body = await call(admin, "GET", f"/api/leads/list?{bad}")
        assert status == 400, bad
    # a leaving employee's clients go to a colleague at once, each on its history
    status, body = await call(
        anna, "POST", "/api/leads/hand-over", {"ids": [made[0]["id"]], "responsible": "anna"}
    )
    assert (status, body["code"]) == (403, "forbidden")
    ids = [x["id"] for x in made[1::2]]
    status, body = await call(
        admin, "POST", "/api/leads/hand-over", {"ids": [*ids, made[0]["id"]], "responsible": "vera"}
    )
    assert status == 200 and sorted(body["changed"]) == sorted(ids)  # made[0] was vera's already
    assert set(await _pages(admin, "responsible=vera")) == {x["id"] for x in made}
    card = await admin.get(f"/api/leads/{ids[0]}")
    assert [(e["kind"], e["from"], e["to"], e["by"]) for e in card["history"]] == [
        ("responsible", "anna", "vera", "admin")
    ]
    status, body = await call(admin, "POST", "/api/leads/hand-over", {"ids": ids, "responsible": "nobody"})
    assert (status, body["code"]) == (400, "unknown_operator")

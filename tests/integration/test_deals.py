"""Deals over REST on both stores: a stage move refused with the fields it still needs, the timeline, a lead's
conversion keeping its dialogs, lists with filters and keyset pages, the board, saved filters, bulk hand-over, and who
may see and change what."""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Any

import aiohttp
import pytest

import tests.conftest

BACKENDS = ("sqlite", "postgresql")  # tests/integration/conftest.py runs each test on both stores

CRM = {
    "fields": {
        "deal": [
            {"id": "site", "name": "Client's site", "type": "link"},
            {"id": "address", "name": "Delivery address", "type": "address"},
            {"id": "kind", "name": "Kind", "type": "list", "values": ["retail", "wholesale"]},
            {"id": "extras", "name": "Extras", "type": "list", "values": ["gift", "rush"], "multiple": True},
            {"id": "event", "name": "Event date", "type": "date"},
            {"id": "vip", "name": "VIP", "type": "boolean"},
            {"id": "scan", "name": "Signed contract", "type": "file"},
        ],
        "contact": [{"id": "birthday", "name": "Birthday", "type": "date"}],
        "lead": [
            {"id": "budget", "name": "Budget", "type": "number"},
            {"id": "came_from", "name": "Came from", "type": "list", "values": ["ads", "friends"]},
        ],
    },
    "pipelines": [
        {
            "id": "sales",
            "name": "Sales",
            "currency": "EUR",
            "stages": [
                {"id": "new"},
                {"id": "contract", "required": ["contact", "site"]},
                {"id": "invoice", "required": ["amount"]},
                {"id": "shipping", "required": ["address"]},
                {"id": "won", "kind": "won"},
                {"id": "lost", "kind": "lost"},
            ],
        },
        {
            "id": "service",
            "stages": [{"id": "open"}, {"id": "done", "kind": "won"}, {"id": "dropped", "kind": "lost"}],
        },
    ],
}


@pytest.fixture
async def deals(tmp_path, start_daemon):  # type: ignore[no-untyped-def]
    data = tests.conftest.config(
        tmp_path, [tests.conftest.line("support", ["anna"]), tests.conftest.line("sales", ["vera"])]
    )
    data["crm"] = CRM
    d = await start_daemon(tests.conftest.settings_from(tmp_path, data))
    return d, await d.operator("anna"), await d.operator("vera"), await d.operator("admin")


async def _lead(op: Any, name: str, **more: Any) -> dict[str, Any]:
    status, lead = await op.call("POST", "/api/leads", {"name": name, "force": True, **more})
    assert status == 201, lead
    return lead


async def test_a_stage_move_needs_every_field_up_to_it_and_the_timeline_keeps_each_step(deals):
    d, anna, vera, admin = deals
    lead = await _lead(anna, "Olga Smirnova", phones=["+79161234567"])
    status, deal = await anna.call(
        "POST", "/api/deals", {"lead_id": lead["id"], "title": " Kitchen\nset\u0000"}
    )
    assert status == 201, deal
    assert (deal["pipeline"], deal["stage"], deal["currency"], deal["responsible"]) == (
        "sales",
        "new",
        "EUR",
        "anna",
    )
    assert deal["title"] == "Kitchen set" and deal["customer"]["name"] == "Olga Smirnova"
    assert deal["customer"]["phones"][0]["value"] == "+79161234567"

    # skipping to the invoice needs the contract's fields too, named in the pipeline's order
    status, refused = await anna.call(
        "PATCH", f"/api/deals/{deal['id']}", {"version": deal["version"], "stage": "invoice"}
    )
    assert status == 409 and refused["code"] == "required_fields"
    assert [m["id"] for m in refused["missing"]] == ["contact", "site", "amount"]
    assert refused["missing"][1]["name"] == "Client's site"

    # a bad value of a custom field is refused by name, and nothing changes
    status, bad = await anna.call(
        "PATCH",
        f"/api/deals/{deal['id']}",
        {"version": deal["version"], "fields": {"site": "javascript:alert(1)"}},
    )
    assert status == 400 and bad["field"] == "site"

    # the contact comes with the conversion of the customer's lead (the deals it has join it); then the fields and
    # the move in one PATCH
    status, made = await anna.call(
        "POST", f"/api/leads/{lead['id']}/convert", {"company": "Smirnov & Co", "deal": None}
    )
    assert status == 201 and made["deal"] is None and made["contact"]
    status, again = await anna.call("POST", f"/api/leads/{lead['id']}/convert", {"deal": None})
    assert again["contact"] == made["contact"]  # one contact per customer
    deal = await anna.get(f"/api/deals/{deal['id']}")
    assert deal["contact"]["id"] == made["contact"]
    body = {
        "version": deal["version"],
        "stage": "invoice",
        "amount": 1500,
        "fields": {"site": "https://smirnova.example"},
    }
    status, moved = await anna.call("PATCH", f"/api/deals/{deal['id']}", body)
    assert status == 200 and moved["stage"] == "invoice", moved
    contact = await anna.get(f"/api/contacts/{made['contact']}")
    assert contact["name"] == "Olga Smirnova" and contact["company"]["name"] == "Smirnov & Co"
    assert [x["id"] for x in contact["deals"]] == [deal["id"]] and contact["editable"] is True


async def test_a_deal_moves_through_its_stages_when_filled_and_closes(deals):
    d, anna, vera, admin = deals
    lead = await _lead(anna, "Pavel Orlov")
    status, made = await anna.call("POST", f"/api/leads/{lead['id']}/convert", {"company": "Orlov LLC"})
    assert status == 201 and made["deal"] and made["company"]
    deal = await anna.get(f"/api/deals/{made['deal']}")
    assert deal["contact"]["id"] == made["contact"] and deal["company"]["name"] == "Orlov LLC"
    assert deal["title"] == "Pavel Orlov" and deal["source"] == "conversion"
    converted = await anna.get(f"/api/leads/{lead['id']}")
    assert converted["status"] == "converted"  # the first won status of the lead pipeline

    body = {
        "version": deal["version"],
        "stage": "invoice",
        "amount": "1 500,5",
        "fields": {"site": "https://orlov.example"},
    }
    status, deal = await anna.call("PATCH", f"/api/deals/{deal['id']}", body)
    assert status == 200, deal
    assert (deal["stage"], deal["amount"], deal["fields"]) == (
        "invoice",
        "1500.50",
        {"site": "https://orlov.example"},
    )
    # a stale version is refused, whatever it asks
    status, stale = await anna.call(
        "PATCH", f"/api/deals/{deal['id']}", {"version": body["version"], "title": "X"}
    )
    assert status == 409 and stale["code"] == "changed"
    # won needs every working stage's fields: the address is still missing
    status, refused = await anna.call(
        "PATCH", f"/api/deals/{deal['id']}", {"version": deal["version"], "stage": "won"}
    )
    assert status == 409 and [m["id"] for m in refused["missing"]] == ["address"]
    status, deal = await anna.call(
        "PATCH",
        f"/api/deals/{deal['id']}",
        {
            "version": deal["version"],
            "stage": "won",
            "fields": {"address": "Tverskaya 1", "extras": ["rush", "gift"]},
        },
    )
    assert status == 200, deal
    assert deal["won"] is True and deal["closed_at"] is not None
    assert deal["fields"]["extras"] == ["rush", "gift"] and deal["fields"]["site"] == "https://orlov.example"
    status, _ = await anna.call("POST", f"/api/deals/{deal['id']}/notes", {"text": "Paid <b>in full</b>"})
    assert status == 201
    deal = await anna.get(f"/api/deals/{deal['id']}")
    steps = [(e["kind"], e["from"], e["to"]) for e in reversed(deal["timeline"])]
    assert steps == [
        ("created", None, "new"),
        ("stage", "new", "invoice"),
        ("stage", "invoice", "won"),
        ("note", None, None),
    ]
    assert deal["timeline"][0]["text"] == "Paid <b>in full</b>" and deal["timeline"][0]["by"] == "anna"

    # unknown stage, bad amount, bad currency: a 400 each
    for change, code in (
        ({"stage": "nowhere"}, "unknown_stage"),
        ({"amount": "-5"}, "bad_field"),
        ({"currency": "eur"}, "bad_field"),
    ):
        status, answer = await anna.call(
            "PATCH", f"/api/deals/{deal['id']}", {"version": deal["version"], **change}
        )
        assert (status, answer["code"]) == (400, code), answer


async def test_conversion_keeps_the_dialogs_and_the_customers_next_dialog_joins_the_deal(deals):
    d, anna, vera, admin = deals
    visitor = await d.visitor("support")
    await visitor.say("I need a kitchen")
    dialog_id = (await anna.expect("dialog.offered"))["dialog_id"]
    await anna.reply(dialog_id, "Happy to help")
    lead_id = (await anna.expect("dialog.assigned"))["dialog"]["lead"]["id"]
    status, made = await anna.call(
        "POST", f"/api/leads/{lead_id}/convert", {"deal": {"title": "Kitchen", "amount": 900}}
    )
    assert status == 201, made
    deal = await anna.get(f"/api/deals/{made['deal']}")
    assert [x["id"] for x in deal["dialogs"]] == [dialog_id]
    assert deal["amount"] == "900.00" and deal["responsible"] == "anna"
    lead = await anna.get(f"/api/leads/{lead_id}")
    assert [x["id"] for x in lead["dialogs"]] == [dialog_id]  # the dialogs stay the customer's
    assert len(lead["identities"]) == 1
    # vera has nothing to do with this customer: not their deal, not their contact
    status, _ = await vera.call("GET", f"/api/deals/{made['deal']}")
    assert status == 403
    status, _ = await vera.call("GET", f"/api/contacts/{made['contact']}")
    assert status == 403
    status, _ = await vera.call(
        "PATCH", f"/api/deals/{made['deal']}", {"version": deal["version"], "title": "Mine"}
    )
    assert status == 403
    status, _ = await vera.call("POST", f"/api/leads/{lead_id}/convert", {})
    assert status == 403
    # invited into anna's dialog, vera reads the deal (and its file field's route finds it) but does not change it
    await anna.send({"type": "invite", "dialog_id": dialog_id, "operator": "vera"})
    await vera.expect("dialog.invited")
    card = await vera.get(f"/api/deals/{made['deal']}")
    assert card["editable"] is False and [x["id"] for x in card["dialogs"]] == [dialog_id]
    status, refused = await vera.call(
        "PATCH", f"/api/deals/{made['deal']}", {"version": card["version"], "title": "X"}
    )
    assert (status, refused["code"]) == (403, "forbidden")
    form = aiohttp.FormData()
    form.add_field("file", b"x", filename="x.txt")
    async with vera.session.post(
        f"{vera.base}/api/deals/{made['deal']}/fields/scan/file", data=form, headers=vera.headers
    ) as r:
        assert r.status == 403
    status, _ = await vera.call("POST", f"/api/leads/{lead_id}/convert", {})
    assert status == 403


async def test_lists_filter_sort_and_page_and_an_operator_lists_their_own(deals):
    d, anna, vera, admin = deals
    made = []
    for i in range(7):
        lead = await _lead(admin, f"Customer {i}", responsible="anna" if i % 2 else "vera")
        status, deal = await admin.call(
            "POST",
            "/api/deals",
            {
                "lead_id": lead["id"],
                "title": f"Deal {chr(0x430 + i)}",
                "amount": 100 * (7 - i),
                "responsible": "anna" if i % 2 else "vera",
                "pipeline": "service" if i == 6 else "sales",
                "fields": {"kind": "wholesale" if i < 3 else "retail", "vip": i == 2},
            },
        )
        assert status == 201, deal
        made.append(deal)

    async def pages(op: Any, query: str) -> list[str]:
        ids: list[str] = []
        cursor = ""
        while True:
            page = await op.get(f"/api/deals/list?{query}&limit=2{cursor}")
            ids += [x["id"] for x in page["deals"]]
            if page["next"] is None:
                return ids
            cursor = f"&cursor={page['next']}"

    assert await pages(admin, "sort=created&order=asc") == [x["id"] for x in made]
    assert await pages(admin, "sort=amount&order=desc") == [x["id"] for x in made]
    assert await pages(admin, "sort=title") == [x["id"] for x in made]
    assert set(await pages(admin, "f.kind=wholesale")) == {x["id"] for x in made[:3]}
    assert await pages(admin, "f.vip=true") == [made[2]["id"]]
    assert set(await pages(admin, "pipeline=service")) == {made[6]["id"]}
    assert set(await pages(admin, "q=customer 4")) == {made[4]["id"]}
    assert set(await pages(anna, "")) == {x["id"] for x in made if x["responsible"] == "anna"}
    assert set(await pages(anna, "responsible=vera")) == {x["id"] for x in made if x["responsible"] == "anna"}
    status, bad = await admin.call("GET", "/api/deals/list?f.nope=1")
    assert (status, bad["code"]) == (400, "bad_field")
    status, bad = await admin.call("GET", "/api/deals/list?cursor=forged")
    assert (status, bad["code"]) == (400, "bad_field")

    board = await admin.get("/api/deals/board?pipeline=sales")
    new = next(s for s in board["stages"] if s["id"] == "new")
    assert new["count"] == 6 and new["amount"] == "2700.00"

    # a saved filter is its owner's only
    status, saved = await anna.call(
        "POST", "/api/filters", {"entity": "deals", "name": "My wholesale", "query": {"f.kind": "wholesale"}}
    )
    assert status == 201
    assert (await anna.get("/api/filters?entity=deals"))["filters"] == [saved]
    assert (await vera.get("/api/filters?entity=deals"))["filters"] == []
    status, _ = await vera.call("DELETE", f"/api/filters/{saved['id']}")
    assert status == 404
    status, _ = await anna.call("DELETE", f"/api/filters/{saved['id']}")
    assert status == 200

    # the export holds what the list shows, a column per custom field, formulas defused
    status, _ = await admin.call(
        "PATCH", f"/api/deals/{made[0]['id']}", {"version": made[0]["version"], "request": "=HYPERLINK(1)"}
    )
    assert status == 200
    async with admin.session.get(
        f"{admin.base}/api/deals/export?f.kind=wholesale", headers=admin.headers
    ) as r:
        assert r.headers["Content-Disposition"] == 'attachment; filename="deals.csv"'
        rows = list(csv.reader(io.StringIO((await r.read()).decode("utf-8-sig"))))
    assert (
        rows[0][-7:] == ["site", "address", "kind", "extras", "event", "vip", "scan"] and rows[0][0] == "id"
    )
    assert [x[0] for x in rows[1:]] == [x["id"] for x in made[:3]]  # oldest first
    assert rows[1][10] == "'=HYPERLINK(1)" and rows[1][-5] == "wholesale" and rows[3][-2] == "true"
    async with anna.session.get(f"{anna.base}/api/deals/export", headers=anna.headers) as r:
        mine = list(csv.reader(io.StringIO((await r.read()).decode("utf-8-sig"))))[1:]
    assert {x[0] for x in mine} == {x["id"] for x in made if x["responsible"] == "anna"}

    # a deal without an amount comes after every other in the amount's order, either way, on both stores
    lead = await _lead(admin, "Customer without amount")
    status, bare = await admin.call("POST", "/api/deals", {"lead_id": lead["id"], "title": "No amount yet"})
    assert status == 201 and bare["amount"] is None
    sales = [x["id"] for x in made if x["pipeline"] == "sales"]
    assert await pages(admin, "pipeline=sales&sort=amount&order=desc") == [*sales, bare["id"]]
    assert await pages(admin, "pipeline=sales&sort=amount&order=asc") == [*reversed(sales), bare["id"]]

    # a leaving employee's deals handed to another at once (admins only), each change on its timeline
    status, _ = await anna.call(
        "POST", "/api/deals/hand-over", {"ids": [made[1]["id"]], "responsible": "anna"}
    )
    assert status == 403
    veras = [x["id"] for x in made if x["responsible"] == "vera"]
    status, done = await admin.call("POST", "/api/deals/hand-over", {"ids": veras, "responsible": "anna"})
    assert status == 200 and sorted(done["changed"]) == sorted(veras)
    card = await anna.get(f"/api/deals/{veras[0]}")
    assert (card["timeline"][0]["kind"], card["timeline"][0]["from"], card["timeline"][0]["to"]) == (
        "responsible",
        "vera",
        "anna",
    )


async def _deal_of(op: Any, lead_id: str, count: int = 1) -> list[dict[str, Any]]:
    """The customer's deals once the engine's follow-up made them (it runs after the dialog's batch)."""
    for _ in range(100):
        found = (await op.get("/api/deals/list?q=&limit=50"))["deals"]
        mine = [x for x in found if x["lead_id"] == lead_id]
        if len(mine) >= count:
            return mine
        await asyncio.sleep(0.05)
    raise AssertionError(f"no deal for {lead_id}")


async def test_a_line_that_creates_deals_keeps_every_later_conversation_in_the_same_deal(
    tmp_path, start_daemon
):
    data = tests.conftest.config(
        tmp_path, [{**tests.conftest.line("shop", ["anna"]), "crm": {"create": "deal"}}]
    )
    data["crm"] = CRM
    settings = tests.conftest.settings_from(tmp_path, data)
    d = await start_daemon(settings)
    anna, admin = await d.operator("anna"), await d.operator("admin")
    visitor = await d.visitor("shop")
    await visitor.say("Do you deliver sofas?")
    dialog_id = (await anna.expect("dialog.offered"))["dialog_id"]
    await anna.reply(dialog_id, "We do")
    lead_id = (await anna.expect("dialog.assigned"))["dialog"]["lead"]["id"]
    (deal,) = await _deal_of(admin, lead_id)
    card = await admin.get(f"/api/deals/{deal['id']}")
    assert (card["pipeline"], card["stage"], card["line_id"]) == ("sales", "new", "shop")
    assert [x["id"] for x in card["dialogs"]] == [dialog_id] and card["contact"] is not None
    for _ in range(100):  # the operator who took the dialog owns the deal nobody owned
        card = await admin.get(f"/api/deals/{deal['id']}")
        if card["responsible"] == "anna":
            break
        await asyncio.sleep(0.05)
    assert card["responsible"] == "anna"
    assert (await anna.get(f"/api/leads/{lead_id}"))["status"] == "converted"
    assert (await anna.get(f"/api/deals/{deal['id']}"))["editable"] is True

    await anna.send({"type": "close", "dialog_id": dialog_id})
    await anna.expect("dialog.closed")
    await visitor.say("One more question")
    second = (await anna.expect("dialog.offered", lambda f: f["dialog_id"] != dialog_id))["dialog_id"]
    for _ in range(100):
        card = await admin.get(f"/api/deals/{deal['id']}")
        if len(card["dialogs"]) == 2:
            break
        await asyncio.sleep(0.05)
    assert [x["id"] for x in card["dialogs"]] == [second, dialog_id]  # the same card, newest first
    assert len(await _deal_of(admin, lead_id)) == 1

    # a closed deal: the customer's next conversation starts another
    status, closed = await admin.call(
        "PATCH", f"/api/deals/{deal['id']}", {"version": card["version"], "stage": "lost"}
    )
    assert status == 200 and closed["won"] is False
    await anna.reply(second, "Anything else?")
    await anna.send({"type": "close", "dialog_id": second})
    await anna.expect("dialog.closed", lambda f: f["dialog_id"] == second)
    await visitor.say("Back again")
    third = (await anna.expect("dialog.offered", lambda f: f["dialog_id"] not in (dialog_id, second)))[
        "dialog_id"
    ]
    deals = await _deal_of(admin, lead_id, 2)
    newest = next(x for x in deals if x["id"] != deal["id"])
    assert [x["id"] for x in (await admin.get(f"/api/deals/{newest['id']}"))["dialogs"]] == [third]


async def test_dialogs_opened_before_a_line_created_deals_get_theirs_at_the_next_start(
    tmp_path, start_daemon
):
    data = tests.conftest.config(tmp_path, [tests.conftest.line("shop", ["anna"])])
    d = await start_daemon(tests.conftest.settings_from(tmp_path, data))
    anna = await d.operator("anna")
    visitor = await d.visitor("shop")
    await visitor.say("hello")
    dialog_id = (await anna.expect("dialog.offered"))["dialog_id"]
    assert (await (await d.operator("admin")).get("/api/deals/list"))["deals"] == []
    await d.daemon.stop()
    data["lines"][0]["crm"] = {"create": "deal"}
    d = await start_daemon(tests.conftest.settings_from(tmp_path, data))
    admin = await d.operator("admin")
    lead_id = (await admin.get("/api/leads/list"))["leads"][0]["id"]
    (deal,) = await _deal_of(admin, lead_id)
    assert [x["id"] for x in (await admin.get(f"/api/deals/{deal['id']}"))["dialogs"]] == [dialog_id]


async def test_custom_fields_of_leads_and_contacts_are_checked_kept_and_filtered(deals):
    d, anna, vera, admin = deals
    status, lead = await anna.call(
        "POST",
        "/api/leads",
        {"name": "Инна Ким", "fields": {"budget": "5000", "came_from": "ads"}, "force": True},
    )
    assert status == 201 and lead["fields"] == {"budget": 5000, "came_from": "ads"}
    other = await _lead(anna, "Олег Ли", fields={"budget": 10})
    status, bad = await anna.call("PATCH", f"/api/leads/{lead['id']}", {"fields": {"came_from": "tv"}})
    assert (status, bad["code"], bad["field"]) == (400, "bad_field", "came_from")
    status, changed = await anna.call("PATCH", f"/api/leads/{lead['id']}", {"fields": {"budget": None}})
    assert status == 200 and changed["fields"] == {"came_from": "ads"}
    found = (await anna.get("/api/leads/list?f.came_from=ads"))["leads"]
    assert [x["id"] for x in found] == [lead["id"]]
    assert [x["id"] for x in (await anna.get("/api/leads/list?f.budget=10"))["leads"]] == [other["id"]]
    status, bad = await anna.call("GET", "/api/leads/list?f.budget=lots")
    assert (status, bad["code"]) == (400, "bad_field")
    async with anna.session.get(f"{anna.base}/api/leads/export?f.came_from=ads", headers=anna.headers) as r:
        lines = (await r.read()).decode("utf-8-sig").splitlines()
    assert lines[0].endswith(",budget,came_from") and len(lines) == 2
    assert lines[1].startswith(f"{lead['id']},Инна Ким,") and lines[1].endswith(",,ads")

    status, made = await anna.call(
        "POST", f"/api/leads/{lead['id']}/convert", {"company": "Ким и партнёры", "deal": None}
    )
    assert status == 201
    status, contact = await anna.call(
        "PATCH",
        f"/api/contacts/{made['contact']}",
        {"fields": {"birthday": "1990-02-03"}, "company": "Ким и Ко"},
    )
    assert status == 200, contact
    assert contact["fields"] == {"birthday": "1990-02-03"} and contact["company"]["name"] == "Ким и Ко"
    status, bad = await anna.call(
        "PATCH", f"/api/contacts/{made['contact']}", {"fields": {"birthday": "3 Feb"}}
    )
    assert (status, bad["field"]) == (400, "birthday")
    listed = (await anna.get("/api/contacts/list?f.birthday=1990-02-03"))["contacts"]
    assert [x["id"] for x in listed] == [made["contact"]] and listed[0]["name"] == "Инна Ким"
    assert (await vera.get("/api/contacts/list"))["contacts"] == []  # not hers
    assert listed[0]["company"]["name"] == "Ким и Ко"
    async with anna.session.get(f"{anna.base}/api/contacts/export?separator=;", headers=anna.headers) as r:
        rows = list(csv.reader(io.StringIO((await r.read()).decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == [
        "id",
        "name",
        "phone",
        "email",
        "company",
        "responsible",
        "created_at",
        "updated_at",
        "birthday",
    ]
    assert [(x[0], x[1], x[4], x[8]) for x in rows[1:]] == [
        (made["contact"], "Инна Ким", "Ким и Ко", "1990-02-03")
    ]
    async with vera.session.get(f"{vera.base}/api/contacts/export", headers=vera.headers) as r:
        assert len((await r.read()).decode("utf-8-sig").splitlines()) == 1  # the header only: none are hers
    status, _ = await vera.call("PATCH", f"/api/contacts/{made['contact']}", {"fields": {}})
    assert status == 403
    names = [c["name"] for c in (await anna.get("/api/companies?query=ким"))["companies"]]
    assert names == ["Ким и Ко", "Ким и партнёры"]


async def test_a_file_field_takes_an_upload_gives_it_back_to_who_may_read_it_and_never_a_ref_by_hand(deals):
    d, anna, vera, admin = deals
    lead = await _lead(anna, "Semyon Gorbunkov")
    status, deal = await anna.call("POST", "/api/deals", {"lead_id": lead["id"], "title": "Diamonds"})
    path = f"/api/deals/{deal['id']}/fields/scan/file"
    form = aiohttp.FormData(quote_fields=False)  # the name as a browser sends it
    form.add_field(
        "file", b"%PDF-1.4 signed <script>", filename="contract <1>.pdf", content_type="application/pdf"
    )
    async with anna.session.post(f"{anna.base}{path}", data=form, headers=anna.headers) as r:
        assert r.status == 201, await r.text()
        value = (await r.json())["scan"]
    assert value["name"] == "contract <1>.pdf" and value["size"] == 24
    async with anna.session.get(f"{anna.base}{path}", headers=anna.headers) as r:
        assert r.status == 200
        assert await r.read() == b"%PDF-1.4 signed <script>"
        assert r.headers["Content-Disposition"].startswith("attachment;")  # never rendered as a page of ours
        assert r.headers["Content-Type"] == "application/octet-stream"
    async with vera.session.get(f"{vera.base}{path}", headers=vera.headers) as r:
        assert r.status == 404  # not her deal: not even whether it exists
    card = await anna.get(f"/api/deals/{deal['id']}")
    assert card["fields"]["scan"]["name"] == "contract <1>.pdf"
    # another field's change keeps the file; a ref given by hand is refused; null clears it
    status, card = await anna.call(
        "PATCH", f"/api/deals/{deal['id']}", {"version": card["version"], "fields": {"vip": True}}
    )
    assert status == 200 and card["fields"]["scan"]["ref"] == value["ref"]
    status, bad = await anna.call(
        "PATCH",
        f"/api/deals/{deal['id']}",
        {"version": card["version"], "fields": {"scan": {"ref": value["ref"], "name": "x"}}},
    )
    assert (status, bad["field"]) == (400, "scan")
    status, card = await anna.call(
        "PATCH", f"/api/deals/{deal['id']}", {"version": card["version"], "fields": {"scan": None}}
    )
    assert status == 200 and "scan" not in card["fields"]
    async with anna.session.post(
        f"{anna.base}/api/deals/{deal['id']}/fields/site/file", data=aiohttp.FormData(), headers=anna.headers
    ) as r:
        assert r.status == 404  # not a file field


async def test_a_lines_own_lead_pipeline_gives_its_new_customers_its_first_status(tmp_path, start_daemon):
    vip = {
        **tests.conftest.line("vip", ["anna"]),
        "crm": {"statuses": ["negotiation", "converted", "rejected"]},
    }
    data = tests.conftest.config(tmp_path, [vip, tests.conftest.line("support", ["anna"])])
    d = await start_daemon(tests.conftest.settings_from(tmp_path, data))
    anna = await d.operator("anna")
    for line_id in ("vip", "support"):
        visitor = await d.visitor(line_id)
        await visitor.say(f"hello from {line_id}")
        await anna.expect("dialog.offered")
    admin = await d.operator("admin")
    statuses = [
        x["status"] for x in (await admin.get("/api/leads/list?responsible=none&sort=created"))["leads"]
    ]
    assert statuses == ["new", "negotiation"]  # newest first: support's customer, then vip's
    meta = await anna.get("/api/meta")
    assert {ln["id"]: ln["statuses"] for ln in meta["lines"]} == {
        "vip": ["negotiation", "converted", "rejected"],
        "support": None,
    }

"""Duplicate control over REST on a running daemon: creating a lead warns of duplicates, the duplicate list per
viewer, merging with a per-field choice and a confirmation, the journal and the undo (admins only), and the engine
carrying on with a merged customer's conversation on both stores."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson

BACKENDS = ("sqlite", "postgresql")  # tests/integration/conftest.py runs each test on both stores


async def call(op: Any, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    return await op.call(method, path, body)


async def test_duplicates_merge_journal_and_undo_with_their_access(crm):
    d, anna, vera, admin = crm
    status, ivan = await call(
        admin,
        "POST",
        "/api/leads",
        {"name": "Иван Петров", "phones": ["8 916 000-00-01"], "emails": [], "responsible": "anna"},
    )
    assert status == 201 and ivan["phones"] == [{"value": "+79160000001", "comment": ""}]
    new = {
        "name": "Петров Иван",
        "phones": [{"value": "+7 916 000 00 01", "comment": "mobile"}, "+7 495 000 00 02"],
        "emails": ["ivan@example.com"],
        "responsible": "vera",
    }
    status, body = await call(admin, "POST", "/api/leads", new)
    assert (status, body["code"]) == (409, "likely_duplicates")
    assert [x["id"] for x in body["duplicates"]] == [ivan["id"]]
    status, body = await call(vera, "POST", "/api/leads", new)  # vera cannot see anna's lead: only told of it
    assert (status, body["code"], body["duplicates"], body["hidden"]) == (409, "likely_duplicates", [], 1)
    # an operator's lead by hand is their own, whoever the body names
    status, own = await call(vera, "POST", "/api/leads", {"name": "Вера Клиент", "responsible": "anna"})
    assert status == 201 and own["responsible"] == "vera"
    status, petrov = await call(admin, "POST", "/api/leads", {**new, "force": True})
    assert status == 201 and len(petrov["phones"]) == 2 and petrov["responsible"] == "vera"
    status, body = await call(admin, "POST", "/api/leads", {"name": "Иван", "phones": ["not a phone"]})
    assert (status, body["code"]) == (400, "bad_field")

    # the admin sees the group (by phone and by name); anna and vera each see only their own lead: no group
    for by in ("phone", "name"):
        page = await admin.get(f"/api/duplicates?by={by}")
        assert len(page["groups"]) == 1, by
        group = page["groups"][0]
        assert {group["main"]["id"], group["others"][0]["id"]} == {ivan["id"], petrov["id"]}
        assert group["others"][0]["matches"] == {"name": 1, "phone": 1, "email": 0}
    assert (await anna.get("/api/duplicates?by=phone"))["groups"] == []
    assert (await vera.get("/api/duplicates?by=name"))["groups"] == []
    status, body = await call(admin, "GET", "/api/duplicates?by=address")
    assert (status, body["code"]) == (400, "bad_field")

    merge = {"main": ivan["id"], "duplicates": [petrov["id"]], "choose": {"name": petrov["id"]}}
    for path in (
        "/api/merges/preview",
        "/api/merges",
    ):  # vera's lead is not anna's to see side by side or merge
        status, body = await call(anna, "POST", path, merge)
        assert (status, body["code"]) == (403, "forbidden"), path
    status, preview = await call(admin, "POST", "/api/merges/preview", merge)
    assert status == 200 and preview["result"]["name"] == "Петров Иван"
    assert [c["value"] for c in preview["result"]["phones"]] == ["+79160000001", "+74950000002"]
    assert preview["warnings"] == [
        {"code": "takes_from_operator", "lead_id": petrov["id"], "operator": "vera"}
    ]
    status, body = await call(admin, "POST", "/api/merges", {**merge, "choose": {"name": "someone"}})
    assert (status, body["code"]) == (400, "bad_field")
    status, body = await call(admin, "POST", "/api/merges", merge)
    assert (status, body["code"]) == (409, "confirm_needed") and body["warnings"][0]["operator"] == "vera"
    status, done = await call(admin, "POST", "/api/merges", {**merge, "confirm": True})
    assert status == 200 and done["lead"]["name"] == "Петров Иван"
    card = await admin.get(f"/api/leads/{ivan['id']}")
    assert [c["value"] for c in card["phones"]] == ["+79160000001", "+74950000002"]
    assert card["emails"] == [{"value": "ivan@example.com", "comment": ""}]
    assert (await admin.get(f"/api/leads/{petrov['id']}"))["merged_into"] == ivan["id"]
    status, body = await call(admin, "PATCH", f"/api/leads/{petrov['id']}", {"name": "x"})
    assert (status, body["code"]) == (409, "merged_already")
    assert (await admin.get("/api/duplicates?by=phone"))["groups"] == []

    for who in (anna, vera):
        status, body = await call(who, "GET", "/api/merges")
        assert (status, body["code"]) == (403, "forbidden")
        status, body = await call(who, "POST", f"/api/merges/{done['merge_id']}/undo")
        assert (status, body["code"]) == (403, "forbidden")
    journal = (await admin.get("/api/merges"))["merges"]
    assert [(j["id"], j["by"], j["duplicates"][0]["id"]) for j in journal] == [
        (done["merge_id"], "admin", petrov["id"])
    ]
    assert journal[0]["fields"]["name"] == {"before": "Иван Петров", "after": "Петров Иван"}
    status, undone = await call(admin, "POST", f"/api/merges/{done['merge_id']}/undo")
    assert status == 200 and undone["restored"] == [petrov["id"]]
    status, body = await call(admin, "POST", f"/api/merges/{done['merge_id']}/undo")
    assert (status, body["code"]) == (409, "undone_already")
    back = await admin.get(f"/api/leads/{petrov['id']}")
    assert back["merged_into"] is None and [c["comment"] for c in back["phones"]] == ["mobile", ""]
    card = await admin.get(f"/api/leads/{ivan['id']}")
    assert card["name"] == "Иван Петров" and [c["value"] for c in card["phones"]] == ["+79160000001"]
    assert (await admin.get("/api/merges"))["merges"][0]["undone_by"] == "admin"

    # "not duplicates": the pair leaves the list; only for leads the operator may see
    status, body = await call(vera, "POST", "/api/duplicates/skip", {"a": ivan["id"], "b": petrov["id"]})
    assert (status, body["code"]) == (403, "forbidden")
    status, _ = await call(admin, "POST", "/api/duplicates/skip", {"a": ivan["id"], "b": petrov["id"]})
    assert status == 200 and (await admin.get("/api/duplicates?by=phone"))["groups"] == []


async def test_the_lead_card_edits_several_phones_and_emails(crm):
    d, anna, vera, admin = crm
    status, lead = await call(
        anna, "POST", "/api/leads", {"name": "Анна Смирнова", "phones": ["+79160000009"]}
    )
    assert status == 201 and lead["responsible"] == "anna"
    status, card = await anna.patch(
        f"/api/leads/{lead['id']}",
        {
            "phones": [
                {"value": "+79160000009", "comment": "work"},
                {"value": "8 495 111 22 33", "comment": "home"},
            ],
            "emails": ["anna@example.com", "ANNA@example.com"],
        },
    )
    assert status == 200 and [(c["value"], c["comment"]) for c in card["phones"]] == [
        ("+79160000009", "work"),
        ("+74951112233", "home"),
    ]
    assert card["emails"] == [{"value": "anna@example.com", "comment": ""}]  # one address once
    status, card = await anna.patch(f"/api/leads/{lead['id']}", {"phone": "+7 999 000 00 00"})
    assert [c["value"] for c in card["phones"]] == ["+79990000000", "+74951112233"] and card[
        "phone"
    ] == "+79990000000"
    status, body = await anna.patch(f"/api/leads/{lead['id']}", {"emails": ["nope"]})
    assert (status, body["code"]) == (400, "bad_field")
    status, body = await vera.patch(f"/api/leads/{lead['id']}", {"phones": []})
    assert (status, body["code"]) == (403, "forbidden")
    found = (await anna.get("/api/leads?query=4951112233"))["leads"]
    assert [x["id"] for x in found] == [lead["id"]]


async def test_a_merged_customer_keeps_writing_to_the_same_operator_and_undo_returns_the_dialogs(crm):
    d, anna, vera, admin = crm
    first, second = await d.visitor("support"), await d.visitor("support")
    ids = []
    for v in (first, second):
        await v.say("hello")
        dialog_id = (await anna.expect("dialog.offered"))["dialog_id"]
        await anna.reply(dialog_id, "hi")
        assigned = await anna.expect("dialog.assigned", lambda f, i=dialog_id: f["dialog"]["id"] == i)
        ids.append((dialog_id, assigned["dialog"]["lead"]["id"]))
    (d1, lead1), (d2, lead2) = ids
    status, done = await call(admin, "POST", "/api/merges", {"main": lead1, "duplicates": [lead2]})
    assert status == 200, done
    await second.say("are you there?")  # the open dialog moved to the main record: the engine reads it again
    got = await anna.expect("message", lambda f: f["message"]["text"] == "are you there?")
    assert got["dialog_id"] == d2
    await anna.reply(d2, "yes")
    card = await admin.get(f"/api/leads/{lead1}")
    assert {x["id"] for x in card["dialogs"]} == {d1, d2}
    assert [m["text"] for m in next(x for x in card["dialogs"] if x["id"] == d2)["transcript"]] == [
        "hello",
        "hi",
        "are you there?",
        "yes",
    ]
    status, _ = await call(admin, "POST", f"/api/merges/{done['merge_id']}/undo")
    assert status == 200
    await second.say("thanks")
    got = await anna.expect("message", lambda f: f["message"]["text"] == "thanks")
    assert got["dialog_id"] == d2
    assert {x["id"] for x in (await admin.get(f"/api/leads/{lead2}"))["dialogs"]} == {d2}
    assert await d.daemon.store.count("messages") == 7


async def _import(op: Any, data: bytes, query: str = "") -> tuple[int, list[dict[str, Any]]]:
    form = aiohttp.FormData()
    form.add_field("file", data, filename="leads.csv", content_type="text/csv")
    async with op.session.post(f"{op.base}/api/leads/import{query}", data=form, headers=op.headers) as r:
        if r.content_type != "application/x-ndjson":
            return r.status, [await r.json()]
        return r.status, [orjson.loads(x) for x in (await r.read()).splitlines()]


async def test_csv_import_streams_its_progress_and_export_honours_the_filter(crm):
    d, anna, vera, admin = crm
    rows = "".join(f"Клиент Номер{chr(0x430 + i % 30)};+7916{i:07d};\n" for i in range(4500))
    data = ("ФИО;Телефон;Почта\n" + rows + "Плохой;не телефон;\n").encode("windows-1251")
    status, body = await _import(anna, data, "?dry_run=1")
    assert (status, body[0]["code"]) == (403, "forbidden")  # importing is an admin's
    status, lines = await _import(admin, data, "?dry_run=1")
    assert status == 200 and lines[0]["type"] == "columns" and lines[0]["encoding"] == "windows-1251"
    assert lines[0]["columns"] == {"0": "name", "1": "phone", "2": "email"} and lines[0]["total"] == 4501
    assert [x["done"] for x in lines if x["type"] == "progress"] == [2000, 4000, 4501]
    report = lines[-1]
    assert (report["type"], report["dry_run"], report["created"], report["rejected"]) == (
        "report",
        True,
        4500,
        1,
    )
    assert report["rejected_rows"] == [{"line": 4502, "reason": "'не телефон' is not a valid phone"}]
    assert (await admin.get("/api/leads"))["leads"] == []
    status, lines = await _import(admin, data, "?map=" + '{"Почта": "skip"}')
    assert status == 200 and lines[-1]["created"] == 4500
    status, lines = await _import(admin, data)
    assert lines[-1]["created"] == 0 and lines[-1]["duplicates"] == 4500  # a second run creates nothing
    status, body = await _import(admin, b"\x00\x01", "?encoding=koi8-r")
    assert (status, body[0]["code"]) == (400, "bad_file")
    status, body = await _import(admin, data, "?on_duplicate=merge")
    assert (status, body[0]["code"]) == (400, "bad_field")

    async with admin.session.get(
        f"{admin.base}/api/leads/export?q=79160000042&separator=;", headers=admin.headers
    ) as r:
        assert r.status == 200 and r.headers["Content-Disposition"].startswith("attachment")
        text = (await r.read()).decode("utf-8-sig")
    assert text.splitlines()[1].split(";")[2] == "+79160000042" and len(text.splitlines()) == 2
    async with anna.session.get(f"{anna.base}/api/leads/export", headers=anna.headers) as r:
        assert (
            r.status == 200 and len((await r.text()).splitlines()) == 1
        )  # anna owns none of them: the header alone


async def test_every_status_and_responsible_change_is_on_the_leads_timeline(crm):
    d, anna, vera, admin = crm
    v = await d.visitor("support")
    await v.say("hello")
    dialog_id = (await anna.expect("dialog.offered"))["dialog_id"]
    await anna.reply(dialog_id, "hi")
    lead_id = (await anna.expect("dialog.assigned"))["dialog"]["lead"]["id"]
    status, _ = await anna.patch(f"/api/leads/{lead_id}", {"status": "in_progress"})
    assert status == 200
    status, body = await anna.patch(f"/api/leads/{lead_id}", {"reason": "no status given"})
    assert (status, body["code"]) == (400, "bad_field")
    status, card = await anna.patch(
        f"/api/leads/{lead_id}", {"status": "rejected", "reason": "Went to a competitor"}
    )
    assert status == 200
    status, _ = await admin.patch(f"/api/leads/{lead_id}", {"responsible": "vera"})
    card = await admin.get(f"/api/leads/{lead_id}")
    got = [(e["kind"], e["from"], e["to"], e["by"], e["reason"]) for e in reversed(card["history"])]
    assert got == [
        ("responsible", None, "anna", None, None),  # the routing gave her the customer when she answered
        ("status", "new", "in_progress", "anna", None),
        ("status", "in_progress", "rejected", "anna", "Went to a competitor"),
        ("responsible", "anna", "vera", "admin", None),
    ]
    meta = await anna.get("/api/meta")
    assert [(p["id"], p["kind"]) for p in meta["pipeline"]][-2:] == [
        ("converted", "won"),
        ("rejected", "rejected"),
    ]
    # a merge brings the duplicate's timeline along, and the undo takes it back
    status, other = await call(admin, "POST", "/api/leads", {"name": "Someone Else", "responsible": "vera"})
    status, _ = await admin.patch(f"/api/leads/{other['id']}", {"status": "proposal"})
    status, done = await call(admin, "POST", "/api/merges", {"main": other["id"], "duplicates": [lead_id]})
    assert status == 200
    merged = await admin.get(f"/api/leads/{other['id']}")
    assert len(merged["history"]) == 5
    await call(admin, "POST", f"/api/merges/{done['merge_id']}/undo")
    assert len((await admin.get(f"/api/leads/{lead_id}"))["history"]) == 4

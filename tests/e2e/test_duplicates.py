"""Duplicate control in a real Chromium: an admin finds the duplicates of "Иван Петров" by phone, merges them with a
per-field choice (confirming that a customer leaves an operator), reads the merge history, undoes the merge, and the
dialogs are back on both records; an operator sees only their own leads' duplicates. Desktop and 390x844."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.conftest import config, line, settings_from
from tests.e2e.test_browser import ARTIFACTS
from tests.e2e.test_console_defects import DESKTOP, OPERATORS, PHONE, _page, _sign_in, chromium

pytestmark = pytest.mark.e2e


async def _two_ivans(tmp_path, start_daemon):
    """Two widget customers, both "Иван Петров" with one phone: anna's and boris's, a dialog each."""
    d = await start_daemon(
        settings_from(tmp_path, config(tmp_path, [line("support", ["anna", "boris"])], operators=OPERATORS))
    )
    anna, admin = await d.operator("anna"), await d.operator("admin")
    leads = []
    for text in ("Where is my order?", "Хочу вернуть товар"):
        v = await d.visitor("support")
        await v.say(text)
        dialog_id = (await anna.expect("dialog.offered", lambda f, t=text: True))["dialog_id"]
        await anna.reply(dialog_id, "Checking")
        assigned = await anna.expect("dialog.assigned", lambda f, i=dialog_id: f["dialog"]["id"] == i)
        leads.append((assigned["dialog"]["lead"]["id"], dialog_id))
    for (lead_id, _), (name, owner) in zip(
        leads, (("Иван Петров", "anna"), ("Петров Иван", "boris")), strict=True
    ):
        status, _ = await admin.patch(
            f"/api/leads/{lead_id}", {"name": name, "phones": ["+7 916 000-00-01"], "responsible": owner}
        )
        assert status == 200
    return d, admin, leads


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
async def test_find_merge_with_a_choice_see_the_history_and_undo(tmp_path, start_daemon, viewport):
    d, admin, ((lead1, dialog1), (lead2, dialog2)) = await _two_ivans(tmp_path, start_daemon)
    tag = "desktop" if viewport is DESKTOP else "phone"
    errors: list[str] = []
    ARTIFACTS.mkdir(exist_ok=True)
    async with chromium() as browser:
        page = await _page(browser, errors, viewport=viewport)
        await _sign_in(page, d, "admin")
        await page.click(
            "#dup-open" if viewport is DESKTOP else "#dup-open-side"
        )  # beside the search on a phone
        await expect(page.locator("#dup-view")).to_be_visible()
        group = page.locator(".dup-group")
        await expect(group).to_have_count(1, timeout=10_000)
        await expect(group.locator(".dup-match")).to_have_text("matches by phone: 1, same full name")
        await page.screenshot(path=str(ARTIFACTS / f"duplicates-{tag}.png"), full_page=True)

        await group.get_by_role("button", name="Merge…").click()
        merge = page.locator("#dup-merge")
        await expect(merge.locator(".merge-table")).to_be_visible()
        # keep the duplicate's spelling of the name: its radio in the name row
        await merge.locator('input[name="merge-name"]').nth(1).check()
        await expect(merge.locator("tbody tr").first.locator(".merge-result")).to_have_text(
            await merge.locator('input[name="merge-name"]').nth(1).locator("xpath=..").inner_text()
        )
        await merge.locator("#merge-go").click()
        await expect(page.locator(".toast").last).to_contain_text("confirm")  # boris loses a customer: say so
        await merge.locator("#merge-confirm").check()
        await page.screenshot(path=str(ARTIFACTS / f"merge-{tag}.png"), full_page=True)
        await merge.locator("#merge-go").click()
        await expect(page.locator(".dup-empty")).to_be_visible(timeout=10_000)

        lead = await admin.get(f"/api/leads/{lead1}")
        merged = lead1 if lead["merged_into"] is None else lead["merged_into"]
        assert {x["id"] for x in (await admin.get(f"/api/leads/{merged}"))["dialogs"]} == {dialog1, dialog2}

        await page.click("#dup-journal-tab")
        entry = page.locator(".merge-entry")
        await expect(entry).to_have_count(1)
        await expect(entry).to_contain_text("dialogs moved: 1")
        await page.screenshot(path=str(ARTIFACTS / f"merge-history-{tag}.png"), full_page=True)
        await entry.get_by_role("button", name="Undo").click()
        await expect(entry).to_contain_text("Undone by Alice Admin")
        assert [x["id"] for x in (await admin.get(f"/api/leads/{lead1}"))["dialogs"]] == [dialog1]
        assert [x["id"] for x in (await admin.get(f"/api/leads/{lead2}"))["dialogs"]] == [dialog2]

        await page.click('.dup-tab[data-by="name"]')
        await expect(page.locator(".dup-group")).to_have_count(1)
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= viewport["width"], width  # nothing pushes the page sideways
        assert errors == []


async def test_an_operator_sees_only_the_duplicates_they_may_merge(tmp_path, start_daemon):
    d, admin, leads = await _two_ivans(tmp_path, start_daemon)
    async with admin.session.post(
        f"{d.base}/api/leads",
        json={"name": "Иван Петров", "phones": ["+79160000001"], "responsible": "boris", "force": True},
        headers=admin.headers,
    ) as r:
        assert r.status == 201
        borises = (await r.json())["id"]
    errors: list[str] = []
    async with chromium() as browser:
        page = await _page(browser, errors, viewport=DESKTOP)
        await _sign_in(page, d, "anna")
        await page.click("#dup-open")
        # anna handles both customers' dialogs: their records are hers to merge; boris's own lead is not hers to see
        group = page.locator(".dup-group")
        await expect(group).to_have_count(1, timeout=10_000)
        await expect(group.locator(".dup-other")).to_have_count(1)
        assert borises not in await group.inner_html()
        await expect(page.locator("#dup-journal-tab")).to_be_hidden()  # the history is an admin's
        assert errors == []


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
async def test_an_admin_checks_a_csv_file_then_imports_it_and_exports_the_leads(
    tmp_path, start_daemon, viewport
):
    d = await start_daemon(
        settings_from(tmp_path, config(tmp_path, [line("support", ["anna"])], operators=OPERATORS))
    )
    admin = await d.operator("admin")
    data = "ФИО;Телефон;Заметка\nИван Петров;8 916 000-00-01;звонить днём\nАнна;не телефон;\n".encode(
        "windows-1251"
    )
    tag = "desktop" if viewport is DESKTOP else "phone"
    errors: list[str] = []
    async with chromium() as browser:
        page = await _page(browser, errors, viewport=viewport)
        await _sign_in(page, d, "admin")
        await page.click("#dup-open" if viewport is DESKTOP else "#dup-open-side")
        await page.click("#imp-open")
        await page.set_input_files(
            "#imp-file", files=[{"name": "leads.csv", "mimeType": "text/csv", "buffer": data}]
        )
        await page.click("#imp-check")
        report = page.locator("#imp-report")
        await expect(report).to_contain_text(
            "Nothing was changed. The import would make new: 1", timeout=10_000
        )
        await expect(report).to_contain_text("Line 3: 'не телефон' is not a valid phone")
        await expect(page.locator("#imp-columns select")).to_have_count(3)
        await expect(page.locator("#imp-columns select").nth(2)).to_have_value(
            "skip"
        )  # "Заметка" is no field
        assert (await admin.get("/api/leads"))["leads"] == []
        await page.screenshot(path=str(ARTIFACTS / f"lead-import-{tag}.png"), full_page=True)
        await page.click("#imp-run")
        await expect(report).to_contain_text("Imported: new: 1", timeout=10_000)
        bar = page.locator("#imp-progress")  # the bar reached the file's end
        assert await bar.get_attribute("max") == "2" and await bar.evaluate("b => b.value") == 2
        leads = (await admin.get("/api/leads"))["leads"]
        assert [(x["name"], x["phone"]) for x in leads] == [("Иван Петров", "+79160000001")]
        href = await page.locator("#exp-link").get_attribute("href")
        assert href == "/api/leads/export"
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= viewport["width"], width
        assert errors == []


async def test_the_card_shows_the_status_scale_and_the_history_with_a_rejections_reason(
    tmp_path, start_daemon
):
    d = await start_daemon(
        settings_from(tmp_path, config(tmp_path, [line("support", ["anna"])], operators=OPERATORS))
    )
    anna = await d.operator("anna")
    v = await d.visitor("support")
    await v.say("Сколько стоит доставка?")
    dialog_id = (await anna.expect("dialog.offered"))["dialog_id"]
    await anna.reply(dialog_id, "Уточняю")
    working = [p for p in (await anna.get("/api/meta"))["pipeline"] if p["kind"] == "work"]
    errors: list[str] = []
    async with chromium() as browser:
        for viewport in (DESKTOP, PHONE):
            page = await _page(browser, errors, viewport=viewport)
            await _sign_in(page, d, "anna")
            await page.locator('[data-list="mine"] [data-dialog-id]').first.click()
            # the working steps, and on the phone (after the rejection on the desktop) the end it reached
            ends = 0 if viewport is DESKTOP else 1
            await expect(page.locator("#lead-scale .scale-step")).to_have_count(len(working) + ends)
            await expect(page.locator("#lead-history li").last).to_contain_text(
                "Responsible: Nobody → Anna Petrova (routing)"
            )
            if viewport is DESKTOP:
                await page.select_option("#lead-status", "rejected")
                await expect(page.locator("#lead-reason")).to_be_visible()
                await page.fill("#lead-reason", "Ушёл к конкурентам")
                await page.click("#lead-save")
                await expect(page.locator("#lead-history li").first).to_contain_text(
                    "Status: New → Rejected (Anna Petrova)"
                )
                await expect(page.locator("#lead-history .history-reason").first).to_have_text(
                    "Ушёл к конкурентам"
                )
                await expect(page.locator("#lead-scale .scale-end")).to_have_text("Rejected")
            await page.locator("#lead").screenshot(
                path=str(ARTIFACTS / f"lead-history-{'desktop' if viewport is DESKTOP else 'phone'}.png")
            )
    assert errors == []


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
async def test_an_admin_works_from_the_lead_list_and_hands_leads_over(tmp_path, start_daemon, viewport):
    d = await start_daemon(
        settings_from(tmp_path, config(tmp_path, [line("support", ["anna"])], operators=OPERATORS))
    )
    admin = await d.operator("admin")
    for i, name in enumerate(["Анна Смирнова", "Борис Иванов", "Вера Петрова"]):
        async with admin.session.post(
            f"{d.base}/api/leads",
            json={"name": name, "phones": [f"+7916000001{i}"], "responsible": "anna", "force": True},
            headers=admin.headers,
        ) as r:
            assert r.status == 201
    tag = "desktop" if viewport is DESKTOP else "phone"
    errors: list[str] = []
    async with chromium() as browser:
        page = await _page(browser, errors, viewport=viewport)
        await _sign_in(page, d, "admin")
        await page.click("#list-open" if viewport is DESKTOP else "#list-open-side")
        rows = page.locator("#list-rows tr[data-lead-id]")
        await expect(rows).to_have_count(3)
        await page.select_option("#list-sort", "name")
        await expect(rows.first).to_contain_text("Анна Смирнова")
        await page.fill("#list-q", "9160000011")
        await page.press("#list-q", "Enter")
        await expect(rows).to_have_count(1)
        await expect(rows.first).to_contain_text("Борис Иванов")
        await page.fill("#list-q", "")
        await page.press("#list-q", "Enter")
        await expect(rows).to_have_count(3)
        await rows.nth(0).locator("input[type=checkbox]").check()
        await rows.nth(2).locator("input[type=checkbox]").check()
        await page.select_option("#list-to", "boris")
        await page.screenshot(path=str(ARTIFACTS / f"lead-list-{tag}.png"), full_page=True)
        await page.click("#list-hand")
        await expect(page.locator(".toast").last).to_contain_text("Leads handed over: 2")
        await page.select_option("#list-responsible", "boris")
        await expect(rows).to_have_count(2)
        # the export takes the list's filters: the file holds exactly the leads shown
        href = await page.locator("#list-export").get_attribute("href")
        assert href == "/api/leads/export?responsible=boris"
        async with admin.session.get(f"{d.base}{href}", headers=admin.headers) as r:
            exported = (await r.read()).decode("utf-8-sig").splitlines()
        assert len(exported) == 3 and all("boris" in line for line in exported[1:])
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= viewport["width"], width
        await rows.first.locator(".dup-name").click()  # the card of that lead, history and all
        await expect(page.locator("#lead-history li").first).to_contain_text(
            "Responsible: Anna Petrova → Boris Ivanov"
        )
        assert errors == []


async def test_one_page_at_a_time_the_board_included(tmp_path, start_daemon):
    d = await start_daemon(
        settings_from(tmp_path, config(tmp_path, [line("support", ["anna"])], operators=OPERATORS))
    )
    errors: list[str] = []
    async with chromium() as browser:
        page = await _page(browser, errors, viewport=DESKTOP)
        await _sign_in(page, d, "admin")
        shown = {v: page.locator(f"#{v}") for v in ("layout", "dup-view", "list-view", "board-view")}

        async def only(view: str) -> None:
            for name, loc in shown.items():
                await (expect(loc).to_be_visible() if name == view else expect(loc).to_be_hidden())

        await page.click("#dup-open")
        await only("dup-view")
        await page.click("#list-open")
        await only("list-view")
        await expect(page.locator("#dup-open")).to_have_attribute("aria-pressed", "false")
        await page.click("#board-open")
        await only("board-view")
        await expect(page.locator("#list-open")).to_have_attribute("aria-pressed", "false")
        await page.click("#dup-open")
        await only("dup-view")
        await page.click("#dup-back")
        await only("layout")
        assert errors == []

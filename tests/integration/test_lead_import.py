"""Importing leads from CSV with duplicate control and exporting them, on both stores and from the command line:
a dry run changes nothing and says what would happen, a second run of the same file creates nothing, `update` fills
what the leads lack, the export honours its filter and reads back."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from crm_core.csv_leads import rows
from crm_core.lead_lists import LeadFilter
from crm_core.store import Store
from router.app import cli
from tests.conftest import config, line

BACKENDS = ("sqlite", "postgresql")  # tests/integration/conftest.py runs each test on both stores

NOW = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)
FILE = (
    "ФИО;Телефон;E-mail;Ответственный\n"
    'Иван Петров;"8 916 000-00-01, 8 495 000-00-02";ivan@example.com;anna\n'
    "Петров Иван;+7 916 000 00 01;;\n"  # the same phone as the line before: a duplicate within the file
    "Анна Смирнова;;anna@example.com;\n"
    "Без контактов Человек;;;\n"
    "Сломанный;не телефон;;\n"
)


def checked(text: str = FILE):  # type: ignore[no-untyped-def]
    return rows(text, statuses=["new"], operators=["anna"])[2]


async def test_dry_run_then_import_then_again_is_idempotent(store: Store) -> None:
    await store.create_lead(
        {"name": "Анна С.", "status": "new"}, phones=[], emails=[{"value": "anna@example.com"}], now=NOW
    )
    dry = await store.import_leads(checked(), dry_run=True, now=NOW, chunk_size=2)
    assert (dry.created, dry.duplicates, dry.rejected) == (2, 2, 1)
    assert dry.lines["created"] == [2, 5] and dry.lines["duplicates"] == [3, 4]
    assert dry.reasons == [{"line": 6, "reason": "'не телефон' is not a valid phone"}]
    assert await store.count("leads") == 1  # a dry run writes nothing
    done: list[int] = []
    real = await store.import_leads(checked(), now=NOW, chunk_size=2, progress=done.append)
    assert real.view() == {**dry.view(), "dry_run": False} and done == [2, 4, 5]
    assert await store.count("leads") == 3
    ivan = (await store.find_leads_by_contact(phone="+74950000002"))[0]
    card = await store.get_lead(ivan["id"])
    assert card is not None and card["responsible"] == "anna" and card["source"] == "import"
    assert [c["value"] for c in card["phones"]] == ["+79160000001", "+74950000002"]
    again = await store.import_leads(checked(), now=NOW)
    assert (again.created, again.duplicates) == (0, 4) and await store.count("leads") == 3


async def test_update_fills_what_the_lead_lacks_and_create_makes_new_ones(store: Store) -> None:
    lead = await store.create_lead(
        {"name": "", "status": "new"}, phones=[{"value": "+79160000001"}], emails=[], now=NOW
    )
    report = await store.import_leads(checked(), on_duplicate="update", now=NOW)
    # row 3 names the same lead as row 2 and brings nothing new
    assert (report.created, report.updated, report.unchanged, report.duplicates) == (2, 1, 1, 0)
    card = await store.get_lead(lead)
    assert card is not None and card["name"] == "Иван Петров" and card["email"] == "ivan@example.com"
    assert [c["value"] for c in card["phones"]] == ["+79160000001", "+74950000002"]
    unchanged = await store.import_leads(checked(), on_duplicate="update", now=NOW)
    assert unchanged.updated == 0 and unchanged.unchanged >= 1
    forced = await store.import_leads(
        checked("Имя;Телефон\nИван Петров;+79160000001\n"), on_duplicate="create", now=NOW
    )
    assert forced.created == 1 and len(await store.find_leads_by_contact(phone="+79160000001")) == 2
    assert await store.duplicate_keys("phone") == ["+79160000001"]  # and duplicate control sees them at once


async def test_export_honours_the_filter_and_pages(store: Store) -> None:
    await store.import_leads(checked(), now=NOW)
    pages = [p async for p in store.export_leads(LeadFilter(), page=1)]
    assert len(pages) == 3 and all(len(p) == 1 for p in pages)
    found = [r["name"] async for p in store.export_leads(LeadFilter(query="4950000002")) for r in p]
    assert found == ["Иван Петров"]
    mine = [r["name"] async for p in store.export_leads(LeadFilter(responsible="anna")) for r in p]
    assert mine == ["Иван Петров"]


def test_the_command_line_imports_with_a_progress_bar_and_exports(tmp_path, store_url, capsys) -> None:
    cfg = tmp_path / "openlines.yaml"
    settings = config(tmp_path, [line("support", ["anna"])])
    if store_url:
        settings["storage"] = {"url": store_url}
    import yaml

    cfg.write_text(yaml.safe_dump(settings, allow_unicode=True))
    assert cli.main(["migrate", "--config", str(cfg)]) == 0
    src = tmp_path / "leads.csv"
    src.write_bytes(FILE.replace("ФИО", "Клиент").encode("windows-1251"))
    assert cli.main(["import", "leads", str(src), "--config", str(cfg), "--dry-run"]) == 0
    out = capsys.readouterr()
    report = json.loads(out.out[out.out.index("{") :])
    assert (report["encoding"], report["created"], report["dry_run"]) == ("windows-1251", 3, True)
    assert "5 / 5 rows (100%)" in out.err
    assert cli.main(["import", "leads", str(src), "--config", str(cfg), "--map", "Клиент=name"]) == 0
    capsys.readouterr()
    dst = tmp_path / "out.csv"
    assert cli.main(["export", "leads", "--config", str(cfg), "--out", str(dst), "--separator", ";"]) == 0
    text = dst.read_bytes().decode("utf-8-sig")
    assert text.count("\r\n") == 4 and "+79160000001, +74950000002" in text
    assert cli.main(["import", "leads", str(tmp_path / "missing.csv"), "--config", str(cfg)]) == 3

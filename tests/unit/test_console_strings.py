"""The console's two strings files name the same texts, and every text the page and its modules ask for is there
(a missing key shows as the key itself to an operator)."""

from __future__ import annotations

import re
from pathlib import Path

CONSOLE = Path(__file__).resolve().parents[2] / "widget" / "console"
KEY = re.compile(r'^\s*"([^"]+)":', re.M)


def _keys(name: str) -> set[str]:
    return set(KEY.findall((CONSOLE / "strings" / name).read_text(encoding="utf-8")))


def test_english_and_russian_name_the_same_texts():
    en, ru = _keys("en.js"), _keys("ru.js")
    assert len(en) > 400
    assert sorted(en - ru) == [] and sorted(ru - en) == []


def test_every_text_the_page_and_the_modules_ask_for_exists():
    en = _keys("en.js")
    html = (CONSOLE / "index.html").read_text(encoding="utf-8")
    asked = set(re.findall(r'data-i18n(?:-[a-z-]+)?="([^"]+)"', html))
    for js in CONSOLE.glob("*.js"):
        # t("key") and t(`key`) with a literal key (keys built at run time, e.g. `state.${s}`, are left out)
        asked |= set(re.findall(r'\bt\(\s*["`]([a-z0-9_.]+)["`]', js.read_text(encoding="utf-8")))
    assert sorted(asked - en) == []

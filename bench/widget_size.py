"""What a site's page loads of the widget before the visitor opens the chat: the loader and one strings file (the
larger language's), raw and gzipped as a web server sends them (level 6, the usual default). Issue 19's goal is at
most 30 KB gzipped."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

SITE = Path(__file__).resolve().parent.parent / "widget" / "site"
LOADED = ("loader.js",)  # always
STRINGS = ("strings.en.js", "strings.ru.js")  # one of them, by the page's language
GOAL_KB = 30.0


def section_widget() -> dict[str, Any]:
    """Each file's bytes and gzipped bytes, and the gzipped total a page loads before the chat is opened."""
    files = {}
    for name in (*LOADED, *STRINGS):
        data = (SITE / name).read_bytes()
        files[name] = {"bytes": len(data), "gzip": len(gzip.compress(data, compresslevel=6, mtime=0))}
    strings = max(files[s]["gzip"] for s in STRINGS)
    return {"files": files, "before_open_gzip": sum(files[n]["gzip"] for n in LOADED) + strings}

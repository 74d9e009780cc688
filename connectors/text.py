"""Cutting a long outbound text into the parts a messenger accepts, at a natural boundary where one is near."""

from __future__ import annotations

from collections.abc import Callable

Measure = Callable[[str], int]


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, as Telegram counts its limits."""
    return sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)


def split_text(text: str, limit: int, *, measure: Measure = len) -> list[str]:
    """Parts of at most `limit` (as `measure` counts), cut at a paragraph, line or word boundary when near."""
    parts: list[str] = []
    rest = text.strip()
    while measure(rest) > limit:
        fits = _fitting(rest, limit, measure)
        window = rest[:fits]
        cut, skip = fits, 0
        for sep in ("\n\n", "\n", " "):
            at = window.rfind(sep)
            if at >= fits // 2:  # a boundary in the first half would make needlessly small parts
                cut, skip = at, len(sep)
                break
        head = rest[:cut].rstrip()
        if head:
            parts.append(head)
        rest = rest[cut + skip :].lstrip()
    if rest:
        parts.append(rest)
    return parts


def _fitting(text: str, limit: int, measure: Measure) -> int:
    """How many characters of `text` fit in `limit`."""
    if measure is len:
        return min(limit, len(text))
    used = 0
    for i, ch in enumerate(text):
        used += measure(ch)
        if used > limit:
            return i
    return len(text)

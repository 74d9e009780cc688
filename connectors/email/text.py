"""PURE: a mail body as the console shows it: HTML made readable text, quoted history and signature cut off."""

from __future__ import annotations

import re
from html.parser import HTMLParser

# content that is never text a person wrote: it must not reach the console even as plain characters
_DROPPED = {"script", "style", "title", "template", "head"}
_BLOCKS = {
    "address", "article", "aside", "center", "dd", "div", "dl", "dt", "figure", "footer", "form",
    "header", "li", "main", "nav", "ol", "section", "table", "tbody", "thead", "tfoot", "tr", "ul",
}  # fmt: skip
_PARAGRAPHS = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "hr"}
_SPACE = re.compile(r"[ \t\r\n\f\v\u00a0]+")


class _Text(HTMLParser):
    """Collects the text of an HTML body line by line; lines inside <blockquote> are quoted with "> "."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[tuple[int, str]] = []  # (quote depth, text)
        self.line: list[str] = []
        self.quote = 0
        self.dropped: list[str] = []  # the open elements whose content is dropped
        self.pre = 0
        self.links: list[str | None] = []
        self.link_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body" and "head" in self.dropped:  # a <head> never closed ends where <body> starts
            del self.dropped[self.dropped.index("head") :]
        if tag in _DROPPED:
            self.dropped.append(tag)
            return
        if self.dropped:
            return
        if tag == "br":
            self._end_line(force=True)
        elif tag in _PARAGRAPHS:
            self._end_line(blank=True)
            if tag == "blockquote":
                self.quote += 1
            elif tag == "pre":
                self.pre += 1
        elif tag in _BLOCKS:
            self._end_line()
            if tag == "li":
                self.line.append("- ")
        elif tag in ("td", "th"):
            if self.line and not self.line[-1].endswith(" "):
                self.line.append(" ")
        elif tag == "a":
            href = dict(attrs).get("href") or ""
            self.links.append(href if href.startswith(("http://", "https://")) else None)
            self.link_text.append("")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROPPED:  # <script/> has no content to drop
            return
        self.handle_starttag(tag, attrs)
        if tag not in ("br", "hr", "a"):
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROPPED:
            if tag in self.dropped:
                while self.dropped.pop() != tag:
                    pass
            return
        if self.dropped:
            return
        if tag in _PARAGRAPHS:
            self._end_line(blank=True)
            if tag == "blockquote" and self.quote:
                self.quote -= 1
            elif tag == "pre" and self.pre:
                self.pre -= 1
        elif tag in _BLOCKS:
            self._end_line()
        elif tag == "a" and self.links:
            href, text = self.links.pop(), self.link_text.pop()
            if href and href.rstrip("/") not in text:
                self.line.append(f" ({href})")

    def handle_data(self, data: str) -> None:
        if self.dropped:
            return
        if not self.pre:
            data = _SPACE.sub(" ", data)
            if not "".join(self.line).strip():
                data = data.lstrip()
        if self.link_text:
            self.link_text[-1] += data
        self.line.append(data)

    def _end_line(self, *, blank: bool = False, force: bool = False) -> None:
        text = "".join(self.line).rstrip()
        self.line = []
        if text or force:
            self.lines.append((self.quote, text))
        if blank and self.lines and self.lines[-1][1]:
            self.lines.append((self.quote, ""))

    def result(self) -> str:
        self._end_line()
        out: list[str] = []
        for depth, text in self.lines:
            line = ("> " * depth + text).rstrip() if text else ""
            if not line and (not out or not out[-1]):
                continue  # never two blank lines in a row
            out.append(line)
        return "\n".join(out).strip("\n")


def html_to_text(html: str) -> str:
    """Readable text of an HTML mail body: no markup, no script or style content, quotes as "> " lines."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    return parser.result()


# ---- quoted history and signatures --------------------------------------------------------------------

_SIGNATURE = re.compile(r"^-- ?$")
_ORIGINAL = re.compile(
    r"^\s*-{2,}\s*(original message|исходное сообщение|ursprüngliche nachricht)\s*-{2,}\s*$", re.IGNORECASE
)
# an attribution names a date or an address: "My manager wrote:" in the customer's own text is not one
_ATTRIBUTION = [
    re.compile(
        r"^.{0,400}[\d@].{0,400}\s(wrote|a écrit|schrieb|пишет|написал|написала|написал\(а\))\s*:\s*$",
        re.IGNORECASE | re.DOTALL,
    ),
    # Gmail in Russian, Yandex, Mail.ru: "пн, 23 нояб. 2026 г. в 10:00, Иван <ivan@example.ru>:"
    re.compile(r"^.{0,400}<[^<>\s]+@[^<>\s]+>\s*:\s*$", re.DOTALL),
]
_HEADER_FROM = re.compile(r"^\s*\*?(from|от|de|von)\s*:\*?\s*\S", re.IGNORECASE)
_HEADER_NEXT = re.compile(
    r"^\s*\*?(sent|date|to|subject|отправлено|дата|кому|тема|envoyé|gesendet)\s*:", re.IGNORECASE
)
_RULE = re.compile(r"^\s*([_=-])\1{5,}\s*$")  # a line of ____ or ---- that separates the quoted mail


def _attribution(lines: list[str], i: int) -> int:
    """How many lines an "On … wrote:" line spans at `i` (clients wrap long ones), 0 if it is none."""
    for span in (1, 2, 3):
        if i + span > len(lines):
            break
        joined = " ".join(line.strip() for line in lines[i : i + span])
        if any(p.match(joined) for p in _ATTRIBUTION):
            return span
        if not lines[i + span - 1].strip():
            break
    return 0


def _outlook_header(lines: list[str], i: int) -> bool:
    """A quoted mail's header block ("From: … / Sent: … / To: …") starts at `i`."""
    if not _HEADER_FROM.match(lines[i]):
        return False
    following = [line for line in lines[i + 1 : i + 4] if line.strip()]
    return any(_HEADER_NEXT.match(line) for line in following)


def strip_quotes(text: str) -> str:
    """The new text of a reply: quoted history (EN/RU attributions, "> " blocks, Outlook headers) and the
    signature after "-- " removed; the whole text when nothing would be left."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    cut = len(lines)
    skipped: set[int] = set()
    i = 0
    while i < len(lines):
        line = lines[i]
        if _SIGNATURE.match(line) or _ORIGINAL.match(line) or _outlook_header(lines, i):
            cut = i
            break
        span = _attribution(lines, i)
        if span:
            following = next((x for x in lines[i + span :] if x.strip()), None)
            if following is not None and not following.lstrip().startswith(">"):
                cut = i  # the quoted mail follows unmarked: everything below is history
                break
            skipped.update(range(i, i + span))
            i += span
            continue
        i += 1
    kept = [
        line for j, line in enumerate(lines[:cut]) if j not in skipped and not line.lstrip().startswith(">")
    ]
    while kept and (not kept[-1].strip() or _RULE.match(kept[-1])):
        kept.pop()
    result = _squeeze("\n".join(kept)).strip()
    return result or text.strip()


def _squeeze(text: str) -> str:
    """At most one blank line in a row (removed quotes leave gaps)."""
    return re.sub(r"\n[ \t]*(\n[ \t]*)+\n", "\n\n", text)

"""The customer rates the answer by e-mail: the question's mail carries one link per score to a small page this
connector serves itself (GET /email/rate/{token}?score=N), where the customer confirms the choice, may add a
comment, and sends it (POST) — which is what becomes a CustomerRating.

Why a page and not a link that records at once: mail scanners and link previews open every link of a mail (GET);
only the customer's POST records anything. The token in the link is the capability: signed with the daemon's key,
it carries the line's account, the conversation, the dialog, the scale and the page's language, and lasts
RATING_TTL. The page is self-contained (inline style, no script, no external resources), escapes everything it
shows, and a POST from a foreign Origin is refused.
"""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Collection
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import structlog
from aiohttp import web

from connectors.base import ConnectorContext, RouteTable, Signer
from connectors.origins import split_origin
from queues.messages import (
    RATE_WITHIN,
    RATING_COMMENT_MAX,
    RATING_SCORES,
    CustomerRating,
    OutboundMessage,
    event_ts,
)

log = structlog.get_logger("connectors.email")
CHANNEL = "email"
KIND = "email.rating"
PATH = "/email/rate/"
# seconds a rating link works: as long as the engine takes the rating (its mail goes out at the closing), so the
# page never thanks for a rating that would be refused
RATING_TTL = int(RATE_WITHIN.total_seconds())
_FOREVER = 100 * 365 * 86400  # tells an expired genuine token (410) from a forged one (404)
COMMENT_LIMIT = RATING_COMMENT_MAX  # characters of the optional comment kept
FORM_LIMIT = 16 * 1024  # bytes of a POSTed form read
SCORES = {"like": RATING_SCORES["like"], "five": tuple(reversed(RATING_SCORES["five"]))}  # the best first
_CYRILLIC = re.compile(r"[\u0400-\u04FF]")

_TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Rate our answer",
        "question": "How would you rate our answer?",
        "comment": "Comment (optional)",
        "send": "Send",
        "thanks": "Thank you for your rating!",
        "your_rating": "Your rating: {label}",
        "your_comment": "Your comment:",
        "change": "You can change your rating with the link in the mail while it works.",
        "not_found": "This link is not valid.",
        "expired": "This link has expired.",
        "foreign": "This form can only be sent from its own page.",
        "choose": "Please choose a rating.",
        "later": "Something went wrong. Please try again later.",
        "mail_intro": "Rate our answer:",
        "like1": "Good",
        "like0": "Bad",
    },
    "ru": {
        "title": "Оцените наш ответ",
        "question": "Как вы оцениваете наш ответ?",
        "comment": "Комментарий (необязательно)",
        "send": "Отправить",
        "thanks": "Спасибо за оценку!",
        "your_rating": "Ваша оценка: {label}",
        "your_comment": "Ваш комментарий:",
        "change": "Пока ссылка из письма действует, оценку можно изменить.",
        "not_found": "Ссылка недействительна.",
        "expired": "Срок действия ссылки истёк.",
        "foreign": "Эту форму можно отправить только с её собственной страницы.",
        "choose": "Пожалуйста, выберите оценку.",
        "later": "Что-то пошло не так. Попробуйте позже.",
        "mail_intro": "Оцените наш ответ:",
        "like1": "Хорошо",
        "like0": "Плохо",
    },
}


def language_of(text: str) -> str:
    """The page's language: Russian when the question (written in the line's language) is, else English."""
    return "ru" if _CYRILLIC.search(text) else "en"


def label(scale: str, score: int, lang: str) -> str:
    """How a score reads in the mail and on the page."""
    if scale == "like":
        return f"{'👍' if score else '👎'} {_TEXTS[lang][f'like{score}']}"
    return f"{score} {'★' * score}"


# ---- the token and the links ---------------------------------------------------------------------------------


def make_token(
    signer: Signer, account: str, chat_id: str, dialog_id: str, scale: str, lang: str, comment: bool = False
) -> str:
    """The capability to rate one dialog of one conversation on its scale (`comment`: with a comment box)."""
    payload = {"k": KIND, "a": account, "c": chat_id, "d": dialog_id, "s": scale, "l": lang}
    return signer.sign({**payload, "m": 1} if comment else payload)


def read_token(signer: Signer, token: str) -> dict[str, Any] | str:
    """The payload of a genuine, unexpired rating token, else "expired" (genuine but old) or "invalid"."""
    if len(token) > 2048:
        return "invalid"
    payload = signer.verify(token, max_age_seconds=RATING_TTL)
    if payload is None:
        old = signer.verify(token, max_age_seconds=_FOREVER)
        return "expired" if _valid(old) else "invalid"
    return payload if _valid(payload) else "invalid"


def _valid(p: dict[str, Any] | None) -> bool:
    if p is None or p.get("k") != KIND:
        return False
    if not all(isinstance(p.get(k), str) and p[k] for k in ("a", "c", "d", "s", "l")):
        return False
    return p["s"] in SCORES and p["l"] in _TEXTS


def links(
    signer: Signer,
    base_url: str,
    msg: OutboundMessage,
) -> tuple[str, list[tuple[str, str]]] | None:
    """The mail's lead-in line and its (label, URL) per score, best first, for a message asking for a rating;
    None for a scale we do not know."""
    scale = msg.ask_rating or ""
    if scale not in SCORES:
        return None
    lang = language_of(msg.text)
    token = make_token(signer, msg.account, msg.chat_id, msg.dialog_id, scale, lang, msg.ask_comment)
    base = base_url.rstrip("/") + PATH + token
    return _TEXTS[lang]["mail_intro"], [(label(scale, s, lang), f"{base}?score={s}") for s in SCORES[scale]]


# ---- the page ----------------------------------------------------------------------------------------------------

_STYLE = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;background:#f4f5f7;color:#1d2129;"
    "margin:0;padding:2rem 1rem}main{max-width:28rem;margin:0 auto;background:#fff;border-radius:12px;"
    "padding:1.5rem;box-shadow:0 1px 4px rgba(0,0,0,.08)}h1{font-size:1.25rem;margin:0 0 1rem}"
    "fieldset{border:0;padding:0;margin:0 0 1rem;display:flex;flex-wrap:wrap;gap:.5rem}"
    "label.choice{border:1px solid #ccd0d5;border-radius:8px;padding:.5rem .75rem;cursor:pointer}"
    "label.choice:has(input:checked){border-color:#1a73e8;background:#e8f0fe}"
    "textarea{width:100%;box-sizing:border-box;min-height:5rem;font:inherit;margin:.25rem 0 1rem}"
    "button{background:#1a73e8;color:#fff;border:0;border-radius:8px;padding:.6rem 1.2rem;font:inherit;"
    "cursor:pointer}.note{color:#5f6368;font-size:.9rem}blockquote{white-space:pre-wrap;margin:.5rem 0;"
    "padding:.5rem .75rem;border-left:3px solid #ccd0d5;background:#f8f9fa}"
)
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'"
    ),
    # same-origin, not no-referrer: under no-referrer a browser sends the form's POST with `Origin: null`, which
    # the Origin check refuses; the page loads nothing from elsewhere, so the token (in the URL) goes nowhere else
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def _page(lang: str, title: str, body: str, status: int = 200) -> web.Response:
    doc = (
        f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f'<meta name="robots" content="noindex"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body><main>{body}</main></body></html>\n"
    )
    return web.Response(
        status=status, text=doc, content_type="text/html", charset="utf-8", headers=dict(_HEADERS)
    )


def _message(lang: str, key: str, status: int) -> web.Response:
    t = _TEXTS[lang]
    return _page(lang, t["title"], f"<h1>{html.escape(t[key])}</h1>", status)


def form_page(
    p: dict[str, Any], chosen: int | None, status: int = 200, error: str | None = None
) -> web.Response:
    """The question with its choices (the one from the mail's link preselected), a comment box and Send."""
    lang, scale = p["l"], p["s"]
    t = _TEXTS[lang]
    choices = "".join(
        f'<label class="choice"><input type="radio" name="score" value="{s}"'
        f"{' checked' if s == chosen else ''} required> {html.escape(label(scale, s, lang))}</label>"
        for s in SCORES[scale]
    )
    problem = f'<p class="note" role="alert">{html.escape(t[error])}</p>' if error else ""
    comment = (
        f'<label for="comment">{html.escape(t["comment"])}</label>'
        f'<textarea id="comment" name="comment" maxlength="{COMMENT_LIMIT}"></textarea>'
        if p.get("m")
        else ""
    )
    body = (
        f"<h1>{html.escape(t['question'])}</h1>{problem}"
        f'<form method="post"><fieldset>{choices}</fieldset>{comment}'
        f'<button type="submit">{html.escape(t["send"])}</button></form>'
    )
    return _page(lang, t["title"], body, status)


def thanks_page(p: dict[str, Any], score: int, comment: str | None) -> web.Response:
    """The thank-you page, showing what was recorded (the comment escaped)."""
    lang, t = p["l"], _TEXTS[p["l"]]
    rated = html.escape(t["your_rating"].format(label=label(p["s"], score, lang)))
    said = (
        f"<p>{html.escape(t['your_comment'])}</p><blockquote>{html.escape(comment)}</blockquote>"
        if comment
        else ""
    )
    body = f'<h1>{html.escape(t["thanks"])}</h1><p>{rated}</p>{said}<p class="note">{html.escape(t["change"])}</p>'
    return _page(lang, t["title"], body)


def _score(value: Any, scale: str) -> int | None:
    if not isinstance(value, str) or not value.isdigit() or len(value) > 2:
        return None
    score = int(value)
    return score if score in SCORES[scale] else None


def _origin_ok(request: web.Request, public_url: str | None) -> bool:
    """A browser's POST names its page's origin: it must be ours (absent: not a browser form, the token
    decides). Ours is the public URL's origin, or the one the request came to."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    theirs = split_origin(origin)
    own = public_url or f"{request.scheme}://{request.host}"
    mine = split_origin(f"{urlsplit(own).scheme}://{urlsplit(own).netloc}")
    return theirs is not None and mine is not None and theirs[0] is not None and theirs == mine


class RatingPages:
    """The rating page's routes, for the accounts (mailboxes) of this connector."""

    def __init__(self, ctx: ConnectorContext, accounts: Collection[str]) -> None:
        self.ctx = ctx
        self.accounts = set(accounts)

    def mount(self, routes: RouteTable) -> None:
        """GET shows the page, POST records the rating."""
        routes.add("GET", PATH + "{token}", self.show)
        routes.add("POST", PATH + "{token}", self.record)

    def _payload(self, request: web.Request) -> dict[str, Any] | web.Response:
        found = read_token(self.ctx.signer, request.match_info.get("token", ""))
        lang = "ru" if "ru" in request.headers.get("Accept-Language", "")[:5].lower() else "en"
        if found == "expired":
            return _message(lang, "expired", 410)
        if isinstance(found, str) or found["a"] not in self.accounts:
            return _message(lang, "not_found", 404)
        return found

    async def show(self, request: web.Request) -> web.StreamResponse:
        """The question with its choices; it records nothing (mail scanners open links too)."""
        p = self._payload(request)
        if isinstance(p, web.Response):
            return p
        return form_page(p, _score(request.query.get("score"), p["s"]))

    async def record(self, request: web.Request) -> web.StreamResponse:
        """The customer's choice (and comment) as a CustomerRating, then the thank-you page."""
        p = self._payload(request)
        if isinstance(p, web.Response):
            return p
        if not _origin_ok(request, self.ctx.public_url):
            log.info(
                "email.rating.refused",
                reason="foreign_origin",
                origin=request.headers.get("Origin", "")[:100],
            )
            return _message(p["l"], "foreign", 403)
        try:
            if (request.content_length or 0) > FORM_LIMIT:
                raise ValueError("too large")
            form = await request.post()
        except Exception:  # a malformed or oversized body is the customer's problem, never a 500
            return form_page(p, None, 400, "choose")
        score = _score(form.get("score"), p["s"])
        if score is None:
            return form_page(p, None, 400, "choose")
        raw = form.get("comment")
        taken = p.get("m") and isinstance(raw, str) and raw.strip()
        comment = raw.strip()[:COMMENT_LIMIT] if taken and isinstance(raw, str) else None
        rating = CustomerRating(
            event_id=f"email:{p['a']}:rating:{uuid.uuid4().hex}",
            channel=CHANNEL,
            account=p["a"],
            chat_id=p["c"],
            dialog_id=p["d"],
            score=score,
            ts=event_ts(datetime.now(UTC)),
            comment=comment,
        )
        try:
            await self.ctx.sink.publish([rating])
        except Exception:
            log.exception("email.rating.publish_failed", account=p["a"])
            return _message(p["l"], "later", 503)
        log.info("email.rating.recorded", account=p["a"], dialog_id=p["d"], score=score)
        return thanks_page(p, score, comment)

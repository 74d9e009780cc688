"""What the widget tells a visitor of the line's forms and files at hello (the pre-chat and off-hours forms, what
may be attached), and a `form` frame's answers checked into the visitor's message (queues/forms.py decides)."""

from __future__ import annotations

from typing import Any

import structlog

from connectors.base import LineStatusReader
from connectors.widget_frames import MAX_CLIENT_MSG_ID, WidgetError
from connectors.widget_settings import WidgetSettings
from queues.forms import check_answers, contacts, transcript
from queues.messages import SenderProfile

log = structlog.get_logger("connectors.widget")


def files_view(settings: WidgetSettings) -> dict[str, Any] | None:
    """What the widget is told of the files it may send (None: none), so it can say no before uploading."""
    f = settings.files
    if not f.enabled:
        return None
    return {"max_bytes": f.max_bytes, "types": list(f.types), "per_message": f.per_message}


async def offline_view(
    reader: LineStatusReader | None, settings: WidgetSettings, account: str, *, signed: bool
) -> dict[str, Any] | None:
    """What the widget shows while the line does not work (its `offline` block), or None while it works (or when
    that is not known: the chat as usual rather than no chat)."""
    rule = settings.offline
    if rule is None or reader is None:
        return None
    try:
        now = await reader.status(account)
    except Exception as exc:  # Redis away
        log.warning("widget.status.failed", line=account, error=str(exc))
        return None
    reason = None if now is None else offline_reason(rule.when, is_open=now.open, staffed=now.staffed)
    if reason is None:
        return None
    form = rule.form.view() if rule.form is not None and not signed else None  # a signed-in user is known
    return {"reason": reason, "text": rule.text, "form": form}


def offline_reason(when: str, *, is_open: bool, staffed: bool) -> str | None:
    """PURE: why the line counts as not working now by its `offline.when` ("closed" or "nobody_online"), or
    None while it works."""
    if not is_open and when in ("closed", "closed_or_nobody"):
        return "closed"
    if not staffed and when in ("nobody_online", "closed_or_nobody"):
        return "nobody_online"
    return None


def form_message(
    settings: WidgetSettings, frame: dict[str, Any], visitor: str
) -> tuple[str, str, SenderProfile]:
    """A `form` frame (`form`: "prechat", the default, or "offline") as the visitor's message: its client_msg_id,
    its text (one "Label: answer" line per answer) and the customer as the answers name them (their phone and
    e-mail not verified: they fill the lead and never join it to another); a WidgetError otherwise."""
    which = frame.get("form", "prechat")
    if which == "prechat":
        form = settings.prechat
    elif which == "offline":
        form = settings.offline.form if settings.offline is not None else None
    else:
        raise WidgetError("bad_field", "form must be prechat or offline")
    if form is None:
        raise WidgetError("form_off", f"this line has no {which} form")
    cmid = frame.get("client_msg_id")
    if not isinstance(cmid, str) or not 0 < len(cmid) <= MAX_CLIENT_MSG_ID:
        raise WidgetError("bad_field", f"client_msg_id must be a string of 1-{MAX_CLIENT_MSG_ID} characters")
    answers, wrong = check_answers(form, frame.get("values"))
    if wrong:
        raise WidgetError("bad_form", "some answers need a look", fields=wrong)
    text = transcript(form, answers)
    if not text:
        raise WidgetError("empty_message", "the form is empty")
    given = contacts(form, answers)
    profile = SenderProfile(
        display_name=given.get("name") or f"Visitor {visitor[-4:].upper()}",
        phone=given.get("phone"),
        email=given.get("email"),
        verified=False,
    )
    return cmid, text, profile

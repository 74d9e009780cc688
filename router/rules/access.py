"""PURE: who may see and do what. Operators see the queue of their lines, dialogs offered to them, their own
dialogs and the leads they are responsible for; admins see everything and may take over or transfer any dialog."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Viewer:
    """The operator asking, with their role and the lines whose queue they are in."""

    login: str
    admin: bool
    lines: frozenset[str]


def can_view_dialog(v: Viewer, d: Mapping[str, Any], *, lead_responsible: str | None = None) -> bool:
    """Whether the viewer may read the dialog and its messages."""
    if v.admin or d.get("operator") == v.login or v.login in (d.get("offered_to") or ()):
        return True
    if v.login in (d.get("invited") or ()):  # a colleague the operator invited in
        return True
    if d.get("state") == "queued" and d.get("line_id") in v.lines:
        return True
    return lead_responsible == v.login


def can_view_lead(v: Viewer, lead: Mapping[str, Any], dialogs: Collection[Mapping[str, Any]] = ()) -> bool:
    """Whether the viewer may read (and edit) the lead: theirs, or the customer of a dialog they may see now."""
    if v.admin or lead.get("responsible") == v.login:
        return True
    return any(d.get("state") != "closed" and can_view_dialog(v, d) for d in dialogs)


def can_edit_lead(v: Viewer, lead: Mapping[str, Any], dialogs: Collection[Mapping[str, Any]] = ()) -> bool:
    """Whether the viewer may change the lead: as `can_view_lead`, but a colleague invited into one of its dialogs
    only reads the card (the dialog's operator stays responsible for the customer)."""
    if v.admin or lead.get("responsible") == v.login:
        return True
    return any(d.get("state") != "closed" and can_view_dialog(v, {**d, "invited": ()}) for d in dialogs)


def lead_audience(admins: Iterable[str], leads: Iterable[Mapping[str, Any]]) -> set[str]:
    """Whose consoles show these leads (in lists, headers, cards): the admins, each lead's responsible, and the
    operators holding or offered one of its open dialogs (`open_dialogs`, or its `dialogs` but the closed)."""
    out = set(admins)
    for lead in leads:
        if lead.get("responsible"):
            out.add(lead["responsible"])
        for d in lead.get("open_dialogs") or lead.get("dialogs") or ():
            if d.get("state") != "closed":
                out.update(x for x in (d.get("operator"), *(d.get("offered_to") or ())) if x)
    return out


def command_refusal(v: Viewer, command: str, d: Mapping[str, Any]) -> tuple[str, str] | None:
    """Why the viewer may not send this console command for the dialog, or None when they may."""
    if v.admin:
        return None
    mine = d.get("operator") == v.login
    offered = v.login in (d.get("offered_to") or ())
    in_line = d.get("line_id") in v.lines
    guest = v.login in (d.get("invited") or ())
    # a colleague of the line may try to take or answer: the dialog's state says whether it is still free; an
    # internal note needs the dialog visible (a colleague's dialog is not: the note would land in it unseen)
    allowed = {
        "take": offered or in_line or mine,
        "reply": mine or offered or in_line or (guest and bool(d.get("guests_reply"))),
        "note": can_view_dialog(v, d),
        "skip": offered,
        "transfer": mine,
        "close": mine,
        "invite": mine,
        "leave": mine or guest,
    }.get(command, False)
    if allowed:
        return None
    if command == "skip":
        return ("not_offered", "the dialog is not offered to you")
    return ("forbidden", "this dialog is not yours to act on")

"""PURE: colleagues invited into a dialog (Bitrix24's "consult"): who invites and removes them, and when a guest's
public answer is allowed. The dialog stays its operator's throughout."""

from __future__ import annotations

from router.rules.dialog import ASSIGNED, CLOSED, Dialog, Invited, Left, Outcome, evolve
from router.rules.dialogs import _fail


def invite(d: Dialog, by: str, guest: str, *, replies: bool, admin: bool = False) -> Outcome:
    """The dialog's operator (or an admin) invites a colleague to follow it and write internal notes (and public
    replies when `replies`, for every guest of the dialog); inviting them again changes only that permission."""
    if d.state != ASSIGNED:
        return _fail(d, "bad_state", "only a dialog an operator has can have guests")
    if d.operator != by and not admin:
        return _fail(d, "forbidden", "only the dialog's operator invites colleagues")
    if guest == d.operator:
        return _fail(d, "bad_field", f"the dialog is {guest}'s already")
    if guest in d.invited and d.guests_reply == replies:
        return Outcome(d)
    invited = d.invited if guest in d.invited else (*d.invited, guest)
    return Outcome(evolve(d, invited=invited, guests_reply=replies), (Invited(guest, by, replies),))


def answers_as_guest(d: Dialog, operator: str) -> bool:
    """Whether the operator's public answer is a guest's (it takes nothing: the dialog stays its operator's)."""
    return operator in d.invited and d.operator != operator


def guest_answer_refusal(d: Dialog) -> tuple[str, str] | None:
    """Why a guest may not answer the customer (None: they may): only in an assigned dialog whose operator allowed
    guests to answer. Being in the dialog's line does not do instead: the dialog is taken."""
    if d.state == CLOSED:
        return ("bad_state", "the dialog is closed")
    if d.state != ASSIGNED or not d.guests_reply:
        return ("forbidden", "answering the customer is not allowed to guests of this dialog")
    return None


def leave(d: Dialog, guest: str, *, by: str, admin: bool = False) -> Outcome:
    """A guest leaves the dialog, or its operator (or an admin) takes them out."""
    if guest not in d.invited:
        return _fail(d, "not_invited", f"{guest} is not a guest of this dialog")
    if by not in (guest, d.operator) and not admin:
        return _fail(d, "forbidden", "only the guest or the dialog's operator can end the invitation")
    rest = tuple(g for g in d.invited if g != guest)
    return Outcome(evolve(d, invited=rest, guests_reply=d.guests_reply and bool(rest)), (Left(guest, by),))

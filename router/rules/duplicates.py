"""PURE: duplicate control. Which record of a group of likely duplicates is the main one, which fields match, what
the main record holds after a merge, and whom a merge would take a customer from."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# the single-valued fields a merge decides (phones and e-mails are combined, never chosen)
MERGE_FIELDS = ("name", "status", "responsible", "source")
_EPOCH = datetime.min.isoformat()


@dataclass(frozen=True, slots=True)
class Member:
    """A lead of a duplicate group with what ranks it: its links, and whether the viewer may merge it."""

    lead: Mapping[str, Any]  # the lead's row with its "phones" and "emails" lists
    dialogs: int = 0
    messages: int = 0
    editable: bool = True

    @property
    def id(self) -> str:
        """The lead's id."""
        return str(self.lead["id"])


@dataclass(frozen=True, slots=True)
class Group:
    """A main record and the records likely to duplicate it, each with what matched."""

    criterion: str
    key: str
    main: Member
    others: list[tuple[Member, dict[str, int]]] = field(default_factory=list)


def completeness(lead: Mapping[str, Any]) -> int:
    """How many of the lead's fields are filled (a phone or e-mail each counts)."""
    filled = sum(1 for f in ("name", "responsible", "source") if lead.get(f))
    return filled + len(lead.get("phones") or ()) + len(lead.get("emails") or ())


def rank(m: Member) -> tuple[Any, ...]:
    """The order of a group, best first when sorted descending: records the viewer may merge first, then the most
    linked (dialogs, then messages), the most recently changed, the most complete; the id keeps it stable."""
    changed = m.lead.get("updated_at")
    when = changed.isoformat() if isinstance(changed, datetime) else str(changed or _EPOCH)
    return (m.editable, m.dialogs, m.messages, when, completeness(m.lead), m.id)


def matches(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, int]:
    """What two leads share: their full name (1 or 0), and how many phones and e-mails."""
    out = {"name": int(bool(a.get("name_key")) and a.get("name_key") == b.get("name_key"))}
    for kind, key in (("phone", "phones"), ("email", "emails")):
        mine = {c["value"] for c in a.get(key) or ()}
        out[kind] = len(mine & {c["value"] for c in b.get(key) or ()})
    return out


def arrange(
    criterion: str, key: str, members: Sequence[Member], skipped: Collection[frozenset[str]]
) -> list[Group]:
    """The groups a key's leads make: the best record is the main one, with every other not marked "not a
    duplicate" of it; those that were may still duplicate one another, and make groups of their own."""
    rest = sorted(members, key=rank, reverse=True)
    groups: list[Group] = []
    while len(rest) >= 2:
        main, others = rest[0], rest[1:]
        paired = [o for o in others if frozenset((main.id, o.id)) not in skipped]
        if paired:
            groups.append(Group(criterion, key, main, [(o, matches(main.lead, o.lead)) for o in paired]))
        rest = [o for o in others if o not in paired]
    return groups


def merged_fields(
    main: Mapping[str, Any], duplicates: Sequence[Mapping[str, Any]], choose: Mapping[str, str]
) -> dict[str, Any]:
    """The main record's fields that a merge changes: a field the user chose takes that record's value; any other
    keeps the main record's value when it has one, else takes the first duplicate's that has one. Raises
    ValueError for a choice of a field or a record outside the merge."""
    records = {str(main["id"]): main, **{str(d["id"]): d for d in duplicates}}
    out: dict[str, Any] = {}
    for name, source in choose.items():
        if name not in MERGE_FIELDS:
            raise ValueError(f"{name} is not a field a merge chooses")
        if source not in records:
            raise ValueError(f"{source} is not one of the records merged")
    for name in MERGE_FIELDS:
        if name in choose:
            value = records[choose[name]].get(name)
        else:
            value = main.get(name) or next((d[name] for d in duplicates if d.get(name)), main.get(name))
        if value != main.get(name):
            out[name] = value
    return out


def merge_warnings(
    main: Mapping[str, Any], duplicates: Sequence[Mapping[str, Any]], fields: Mapping[str, Any]
) -> list[dict[str, str]]:
    """The operators a merge takes a customer from: the responsible of a duplicate who will not be responsible for
    the merged record."""
    after = fields.get("responsible", main.get("responsible"))
    return [
        {"code": "takes_from_operator", "lead_id": str(d["id"]), "operator": str(d["responsible"])}
        for d in duplicates
        if d.get("responsible") and d["responsible"] != after
    ]

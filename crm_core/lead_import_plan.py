"""PURE: what an import does with a chunk of checked rows (crm_core/csv_leads.py), given which leads the store has
for their keys: which rows are new leads (and their contacts), which are duplicates left out, which fill a lead in
`update` mode — and what such a fill changes. crm_core/lead_files.py reads the store and writes what this says."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from crm_core.csv_leads import LeadRow
from crm_core.ids import new_id
from crm_core.recognition import name_fields, name_key

ON_DUPLICATE = ("skip", "update", "create")
# a key is "KIND VALUE" in one string: a million of them in a dict are no work for the garbage collector (tuples
# are tracked, and each of its full collections walked them all: a quarter of a big import's time)
SEP = " "


def keys_of(row: LeadRow) -> list[str]:
    """The keys a row is matched by: its e-mails, then its phones; its full name when it has neither."""
    keys = [f"email{SEP}{e}" for e in row.emails] + [f"phone{SEP}{p}" for p in row.phones]
    if not keys and (k := name_key(row.name)) is not None:
        keys.append(f"name{SEP}{k}")
    return keys


@dataclass
class ImportState:
    """What an import remembers from chunk to chunk: the lead each key stands for (stored or made by this import),
    and the leads this import made."""

    seen: dict[str, str] = field(default_factory=dict)
    made: set[str] = field(default_factory=set)


@dataclass
class ChunkPlan:
    """A chunk's decisions: new leads with all their contacts, rows that fill a stored lead, and each row's outcome
    (`created`, `duplicates`; the fills' are the fill's own) by line."""

    new_leads: list[dict[str, Any]] = field(default_factory=list)
    new_contacts: list[dict[str, Any]] = field(default_factory=list)
    fills: dict[str, list[LeadRow]] = field(default_factory=dict)
    outcomes: list[tuple[str, int]] = field(default_factory=list)


def plan_chunk(
    chunk: list[LeadRow],
    found: Mapping[str, str],
    state: ImportState,
    *,
    on_duplicate: str,
    status: str,
    now: datetime,
) -> ChunkPlan:
    """Decide each row: a duplicate (a key a stored lead in `found`, or an earlier row, has) is left out (`skip`,
    or a repeat of a lead this import made), fills that lead (`update`), or is made anyway (`create`)."""
    plan = ChunkPlan()
    for row in chunk:
        keys = keys_of(row)
        match = next(
            (state.seen.get(k) or found.get(k) for k in keys if state.seen.get(k) or found.get(k)), None
        )
        if match is not None and on_duplicate != "create":
            if on_duplicate == "skip" or match in state.made:
                plan.outcomes.append(("duplicates", row.line))
            else:
                plan.fills.setdefault(match, []).append(row)
            for k in keys:
                state.seen.setdefault(k, match)
            continue
        lead_id = new_id()
        plan.new_leads.append(
            {
                "id": lead_id,
                **name_fields(row.name),
                "phone": row.phones[0] if row.phones else None,
                "email": row.emails[0] if row.emails else None,
                "status": row.fields.get("status") or status,
                "responsible": row.fields.get("responsible"),
                "source": row.fields.get("source") or "import",
                "created_at": now,
                "updated_at": now,
            }
        )
        for kind, values in (("phone", row.phones), ("email", row.emails)):
            plan.new_contacts += [
                {"lead_id": lead_id, "kind": kind, "value": v, "comment": "", "position": i}
                for i, v in enumerate(values)
            ]
        for k in keys:
            state.seen.setdefault(k, lead_id)
        state.made.add(lead_id)
        plan.outcomes.append(("created", row.line))
    return plan


@dataclass
class Fill:
    """What rows in `update` mode change on one stored lead: contacts to add, its fields to set, each row's
    outcome (`updated` or `unchanged`)."""

    adds: list[dict[str, Any]] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    outcomes: list[tuple[str, int]] = field(default_factory=list)


def fill_lead(lead: Mapping[str, Any], contacts: Mapping[str, list[str]], rows: list[LeadRow]) -> Fill:
    """The rows, in order, give the lead the phones and e-mails it lacks (appended after its own) and its empty
    name, responsible, source and first phone or e-mail; `contacts`: its values by "phones" and "emails"."""
    out = Fill()
    now = dict(lead)
    have = {m: list(contacts.get(m) or ()) for m in ("phones", "emails")}
    for row in rows:
        changed = False
        for kind, many, given in (("phone", "phones", row.phones), ("email", "emails", row.emails)):
            for v in given:
                if v in have[many]:
                    continue
                out.adds.append(
                    {
                        "lead_id": lead["id"],
                        "kind": kind,
                        "value": v,
                        "comment": "",
                        "position": len(have[many]),
                    }
                )
                have[many].append(v)
                changed = True
                if not now.get(kind):
                    now[kind] = out.values[kind] = v
        for f in ("responsible", "source"):
            if row.fields.get(f) and not now.get(f):
                now[f] = out.values[f] = row.fields[f]
                changed = True
        if not now.get("name") and row.name:
            now["name"] = row.name
            out.values.update(name_fields(row.name))
            changed = True
        out.outcomes.append(("updated" if changed else "unchanged", row.line))
    return out

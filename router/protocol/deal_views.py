"""The public shapes of deals, contacts and companies (docs/protocol.md, "Deals")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from router.protocol.times import iso
from router.protocol.views import message_view


def amount_text(minor: int | None) -> str | None:
    """An amount in minor units as a decimal string ("1500.00"): exact, whatever the client's numbers are."""
    if minor is None:
        return None
    sign = "-" if minor < 0 else ""
    whole, cents = divmod(abs(minor), 100)
    return f"{sign}{whole}.{cents:02d}"


def deal_view(row: Mapping[str, Any], *, stale: bool = False) -> dict[str, Any]:
    """A deal as lists and the board show it."""
    return {
        "id": row["id"],
        "title": row.get("title") or "",
        "pipeline": row["pipeline"],
        "stage": row["stage"],
        "amount": amount_text(row.get("amount")),
        "currency": row["currency"],
        "lead_id": row["lead_id"],
        "customer_name": row.get("customer_name") or (row.get("customer") or {}).get("name") or "",
        "contact_id": row.get("contact_id"),
        "company_id": row.get("company_id"),
        "responsible": row.get("responsible"),
        "line_id": row.get("line_id"),
        "source": row.get("source"),
        "request": row.get("request") or "",
        "fields": row.get("fields") or {},
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
        "activity_at": iso(row["activity_at"]),
        "closed_at": iso(row.get("closed_at")),
        "won": row.get("won"),
        # what a PATCH gives back, to be refused if the deal changed meanwhile (microseconds: exact)
        "version": row["updated_at"].isoformat(),
        "stale": stale,
    }


def company_view(row: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A company (None stays None)."""
    return None if row is None else {"id": row["id"], "name": row["name"]}


def timeline_view(row: Mapping[str, Any]) -> dict[str, Any]:
    """One line of a deal's timeline."""
    return {
        "id": row["id"],
        "kind": row["kind"],
        "from": row.get("from_value"),
        "to": row.get("to_value"),
        "by": row.get("by"),
        "text": row.get("text"),
        "at": iso(row["at"]),
    }


def deal_card_view(row: Mapping[str, Any], line_names: Mapping[str, str], *, stale: bool) -> dict[str, Any]:
    """A deal with its customer, contact, company, dialogs and timeline."""
    contact = row.get("contact")
    return {
        **deal_view(row, stale=stale),
        "customer": customer_view(row["customer"]),
        "contact": None if contact is None else {"id": contact["id"], "fields": contact.get("fields") or {}},
        "company": company_view(row.get("company")),
        "dialogs": [
            {
                "id": d["id"],
                "line_id": d["line_id"],
                "line_name": line_names.get(d["line_id"], d["line_id"]),
                "channel": d["channel"],
                "state": d["state"],
                "operator": d.get("operator"),
                "created_at": iso(d["created_at"]),
                "closed_at": iso(d.get("closed_at")),
                "last_message_text": d.get("last_message_text"),
                "last_message_at": iso(d.get("last_message_at")),
                "transcript": [message_view(m) for m in d.get("transcript", ())],
            }
            for d in row.get("dialogs", ())
        ],
        "timeline": [timeline_view(e) for e in row.get("timeline", ())],
    }


def _contacts(rows: Any) -> list[dict[str, str]]:
    return [{"value": c["value"], "comment": c.get("comment") or ""} for c in rows or ()]


def customer_view(row: Mapping[str, Any]) -> dict[str, Any]:
    """The customer of a deal or contact: the lead's id, name, status, responsible, phones and e-mails."""
    return {
        "id": row.get("id"),
        "name": row.get("name") or "",
        "status": row.get("status"),
        "responsible": row.get("responsible"),
        "phones": _contacts(row.get("phones")),
        "emails": _contacts(row.get("emails")),
    }


def contact_view(row: Mapping[str, Any]) -> dict[str, Any]:
    """A contact: the customer's name, phones and e-mails (the lead's), its company, fields and deals."""
    customer = row.get("customer") or {}
    return {
        "id": row["id"],
        "lead_id": row["lead_id"],
        "name": customer.get("name", row.get("name")) or "",
        "phones": [
            {"value": c["value"], "comment": c.get("comment") or ""} for c in customer.get("phones", ())
        ]
        or ([{"value": row["phone"], "comment": ""}] if row.get("phone") else []),
        "emails": [
            {"value": c["value"], "comment": c.get("comment") or ""} for c in customer.get("emails", ())
        ]
        or ([{"value": row["email"], "comment": ""}] if row.get("email") else []),
        # a card has the company's row, a list's row its name
        "company": company_view(row.get("company"))
        or ({"id": row["company_id"], "name": row["company_name"]} if row.get("company_name") else None),
        "company_id": row.get("company_id"),
        "responsible": row.get("responsible"),
        "fields": row.get("fields") or {},
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
        "deals": [deal_view(d) for d in row.get("deals", ())],
    }

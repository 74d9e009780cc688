"""The JSON shapes of the public protocol (docs/protocol.md): dialogs, messages, leads, operators."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from queues.bus import DeadLetter
from queues.messages import to_dict
from router.protocol.times import iso


def dialog_view(row: Mapping[str, Any], line_names: Mapping[str, str]) -> dict[str, Any]:
    """A dialog summary from a store row (or a `dialog_row`) with optional lead_name/lead_status."""
    last = None
    if row.get("last_message_at") is not None:
        last = {
            "text": row.get("last_message_text") or "",
            "ts": iso(row["last_message_at"]),
            "author_kind": row.get("last_message_author"),
        }
    return {
        "id": row["id"],
        "line_id": row["line_id"],
        "line_name": line_names.get(row["line_id"], row["line_id"]),
        "channel": row["channel"],
        "state": row["state"],
        "operator": row.get("operator"),
        "offered_to": list(row.get("offered_to") or []),
        "offer_deadline": iso(row.get("offer_deadline")),
        "invited": list(row.get("invited") or []),
        "guests_reply": bool(row.get("guests_reply")),
        "lead": {
            "id": row["lead_id"],
            "name": row.get("lead_name") or row.get("customer_name") or "",
            "status": row.get("lead_status"),
        },
        "customer_name": row.get("customer_name") or "",
        "created_at": iso(row["created_at"]),
        "closed_at": iso(row.get("closed_at")),
        "last_message": last,
        # the customer's rating of the answer (like: 1/0; five: 1..5), their comment, when (None: not rated)
        "rating": row.get("rating"),
        "rating_comment": row.get("rating_comment"),
        "rated_at": iso(row.get("rated_at")),
    }


def message_view(row: Mapping[str, Any]) -> dict[str, Any]:
    """A stored message as the console sees it."""
    return {
        "id": row["id"],
        "dialog_id": row["dialog_id"],
        "author": {
            "kind": row["author_kind"],
            "id": row.get("author_id"),
            "name": row.get("author_name") or "",
        },
        "text": row["text"],
        "ts": iso(row["created_at"]),
        "visibility": row.get("visibility", "public"),
        "attachments": [
            {**a, "url": f"/api/dialogs/{row['dialog_id']}/messages/{row['id']}/attachments/{i}"}
            for i, a in enumerate(row.get("attachments") or [])
        ],
        "edited_at": iso(row.get("edited_at")),
        "edits": list(row.get("edits") or []),
        "delivery": (
            {"state": row["delivery_state"], "error": row.get("delivery_error")}
            if row.get("delivery_state")
            else None
        ),
    }


def lead_view(row: Mapping[str, Any]) -> dict[str, Any]:
    """A lead without its identities and dialogs."""
    return {
        "id": row["id"],
        "name": row.get("name") or "",
        "phone": row.get("phone"),
        "email": row.get("email"),
        # every phone and e-mail with its comment where the row carries them, else the lead's own
        "phones": _contacts(row, "phones", "phone"),
        "emails": _contacts(row, "emails", "email"),
        "status": row["status"],
        "responsible": row.get("responsible"),
        "source": row.get("source"),
        "created_at": iso(row["created_at"]),
        "updated_at": iso(row["updated_at"]),
        "merged_into": row.get("merged_into"),
        "fields": row.get("fields") or {},  # custom fields (crm.fields.lead)
    }


def _contacts(row: Mapping[str, Any], many: str, one: str) -> list[dict[str, str]]:
    if many in row:
        return [{"value": c["value"], "comment": c.get("comment") or ""} for c in row[many]]
    return [{"value": row[one], "comment": ""}] if row.get(one) else []


def lead_card_view(row: Mapping[str, Any], line_names: Mapping[str, str]) -> dict[str, Any]:
    """A lead with its identities, and every dialog with its transcript."""
    out = lead_view(row)
    out["identities"] = [
        {
            "channel": i["channel"],
            "account": i["account"],
            "external_id": i["external_id"],
            "display_name": i.get("display_name") or "",
        }
        for i in row.get("identities", [])
    ]
    out["dialogs"] = [
        {**dialog_view(d, line_names), "transcript": [message_view(m) for m in d.get("transcript", [])]}
        for d in row.get("dialogs", [])
    ]
    out["history"] = [
        {
            "kind": e["kind"],
            "from": e.get("from_value"),
            "to": e.get("to_value"),
            "by": e.get("by"),
            "reason": e.get("reason"),
            "at": iso(e["at"]),
        }
        for e in row.get("history", [])
    ]
    return out


def dead_letter_view(d: DeadLetter) -> dict[str, Any]:
    """A dead letter as the admin API shows it: the event as its fields, the error, how often it was tried."""
    return {
        "id": d.id,
        "stream": d.stream,
        "key": d.key,
        "kind": d.event.kind,
        "event": to_dict(d.event),
        "error": d.error,
        "deliveries": d.deliveries,
        "at": d.at,
    }


# the journal's kinds a console shows in the thread, as system lines (the rest are bookkeeping: deadlines, the
# first response time, consent, responsible changes of the lead)
THREAD_EVENTS = (
    "invited",
    "left",
    "offered",
    "withdrawn",
    "queued",
    "assigned",
    "transferred",
    "closed",
    "reopened",
    "auto_reply",
    "no_answer",
    "rated",
)


def event_view(row: Mapping[str, Any]) -> dict[str, Any]:
    """A dialog event as the console's thread shows it: what, who, when, and its details."""
    return {
        "id": row["id"],
        "kind": row["kind"],
        "operator": row.get("operator"),
        "data": row.get("data") or {},
        "at": iso(row["at"]),
    }

"""What a customer may read back of their own conversations in their channel (the site widget's history): the public
messages of every dialog of one channel identity, a page at a time, newest first; never an operators' internal note,
nor a message whose delivery failed (the customer never got it)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from crm_core.models import dialogs, identities, messages

_COLUMNS = (
    messages.c.id,
    messages.c.dialog_id,
    messages.c.author_kind,
    messages.c.author_name,
    messages.c.text,
    messages.c.attachments,
    messages.c.external_id,
    messages.c.created_at,
    messages.c.author_id,  # a bot's question asking for a rating names its scale there
    dialogs.c.rating,
)


def _customers_public(channel: str, account: str, external_id: str) -> Select[Any]:
    # identity (unique index) -> its dialogs (ix_dialogs_identity) -> their messages (ix_messages_dialog)
    return (
        select(*_COLUMNS)
        .join(dialogs, dialogs.c.id == messages.c.dialog_id)
        .join(identities, identities.c.id == dialogs.c.identity_id)
        .where(
            identities.c.channel == channel,
            identities.c.account == account,
            identities.c.external_id == external_id,
            messages.c.visibility == "public",
            or_(messages.c.delivery_state.is_(None), messages.c.delivery_state != "failed"),
        )
    )


async def public_page(
    engine: AsyncEngine, channel: str, account: str, external_id: str, *, before: str | None, limit: int
) -> tuple[list[dict[str, Any]], bool]:
    """Up to `limit` public messages of the identity's dialogs older than the message id `before` (the newest
    when None), oldest first, and whether there are older ones. Ids are time-ordered, so they page by time."""
    q = _customers_public(channel, account, external_id)
    if before is not None:
        q = q.where(messages.c.id < before)
    q = q.order_by(messages.c.id.desc()).limit(limit + 1)
    async with engine.connect() as conn:
        rows = [dict(r) for r in (await conn.execute(q)).mappings().all()]
    more = len(rows) > limit
    rows = rows[:limit]
    rows.reverse()
    return rows, more


async def public_message(
    engine: AsyncEngine, channel: str, account: str, external_id: str, message_id: str
) -> dict[str, Any] | None:
    """One public message of the identity's dialogs, or None (not theirs, internal, undelivered, or unknown)."""
    q = _customers_public(channel, account, external_id).where(messages.c.id == message_id)
    async with engine.connect() as conn:
        row = (await conn.execute(q)).mappings().first()
    return dict(row) if row else None

"""The CRM schema as SQLAlchemy Core tables (the hot path inserts rows in batches, never ORM objects)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.expression import false, true
from sqlalchemy.types import TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on SQLite (naive storage) and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


Id = String(32)

leads = Table(
    "leads",
    metadata,
    Column("id", Id, primary_key=True),
    Column("name", Text, nullable=False, default=""),
    Column("phone", String(64)),
    Column("email", String(320)),
    Column("status", String(64), nullable=False),
    Column("responsible", String(64)),
    Column("source", String(200)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_leads_phone", "phone"),
    Index("ix_leads_email", "email"),
    Index("ix_leads_responsible", "responsible"),
)

identities = Table(
    "identities",
    metadata,
    Column("id", Id, primary_key=True),
    Column("lead_id", Id, ForeignKey("leads.id"), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("account", String(128), nullable=False),
    Column("external_id", String(255), nullable=False),
    Column("display_name", Text, nullable=False, default=""),
    Column("profile", JSON, nullable=False, default=dict),
    Column("created_at", UTCDateTime, nullable=False),
    # the customer may forbid us to write to them in their channel (VK message_deny): no outbound then
    Column("messages_allowed", Boolean, nullable=False, default=True, server_default=true()),
    UniqueConstraint("channel", "account", "external_id", name="uq_identities_channel_account_external"),
    Index("ix_identities_lead", "lead_id"),
)

dialogs = Table(
    "dialogs",
    metadata,
    Column("id", Id, primary_key=True),
    Column("lead_id", Id, ForeignKey("leads.id"), nullable=False),
    Column("identity_id", Id, ForeignKey("identities.id"), nullable=False),
    Column("line_id", String(64), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("account", String(128), nullable=False),
    Column("chat_id", String(255), nullable=False),
    Column("state", String(16), nullable=False),
    Column("operator", String(64)),
    Column("offered_to", JSON, nullable=False, default=list),
    Column("offer_deadline", UTCDateTime),
    Column("excluded", JSON, nullable=False, default=list),
    Column("last_offered", String(64)),
    Column("preferred", String(64)),
    Column("queued_since", UTCDateTime),
    Column("retry_at", UTCDateTime),
    Column("customer_name", Text, nullable=False, default=""),
    Column("source_tag", String(200)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("closed_at", UTCDateTime),
    Column("first_response_at", UTCDateTime),
    Column("last_message_at", UTCDateTime),
    Column("last_message_text", Text),
    Column("last_message_author", String(16)),
    # auto-replies: stored with the dialog so a restart never sends one twice for the same trigger
    Column("off_hours_key", String(64)),
    Column("answer_due", UTCDateTime),
    Column("no_answer_sent", Boolean, nullable=False, default=False, server_default=false()),
    Column("auto_close_at", UTCDateTime),
    Index("ix_dialogs_state_line", "state", "line_id"),
    Index("ix_dialogs_operator_state", "operator", "state"),
    Index("ix_dialogs_identity", "identity_id", "created_at"),
    Index("ix_dialogs_lead", "lead_id"),
)

messages = Table(
    "messages",
    metadata,
    Column("id", Id, primary_key=True),
    Column("dialog_id", Id, ForeignKey("dialogs.id"), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("account", String(128), nullable=False),
    # the channel's own id of this message: the idempotency key, unique per (channel, account)
    Column("external_id", String(255)),
    Column("direction", String(8), nullable=False),  # "in" | "out"
    Column("author_kind", String(16), nullable=False),  # customer | operator | bot | system
    Column("author_id", String(64)),
    Column("author_name", Text, nullable=False, default=""),
    Column("text", Text, nullable=False, default=""),
    Column("visibility", String(16), nullable=False, default="public"),
    Column("attachments", JSON, nullable=False, default=list),
    Column("created_at", UTCDateTime, nullable=False),
    Column("edited_at", UTCDateTime),
    Column(
        "edits", JSON, nullable=False, default=list, server_default="[]"
    ),  # earlier texts of an edited message: [{text, at}]
    # outbound delivery: queued -> sent | failed (with the reason); None for messages that go nowhere
    Column("delivery_state", String(16)),
    Column("delivery_error", Text),
    Column("delivery_attempts", Integer, nullable=False, default=0, server_default="0"),
    Column("delivery_ref", String(255)),  # the channel's own id of what it delivered
    Column("delivered_at", UTCDateTime),
    UniqueConstraint("channel", "account", "external_id", name="uq_messages_channel_account_external"),
    Index("ix_messages_dialog", "dialog_id", "id"),
)

dialog_events = Table(
    "dialog_events",
    metadata,
    Column("id", Id, primary_key=True),
    Column("dialog_id", Id, ForeignKey("dialogs.id"), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("operator", String(64)),
    Column("data", JSON, nullable=False, default=dict),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_dialog_events_dialog", "dialog_id", "at"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Id, primary_key=True),
    Column("stream", String(128), nullable=False),
    Column("key", String(255)),
    Column("payload", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("channel", String(32), primary_key=True),
    Column("account", String(128), primary_key=True),
    Column("key", String(128), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", String(64), primary_key=True),  # sha256 of the token: a leaked table is no login
    Column("login", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

attachments = Table(
    "attachments",
    metadata,
    Column("id", Id, primary_key=True),
    Column("message_id", Id, ForeignKey("messages.id"), nullable=False),
    Column("name", Text, nullable=False),
    Column("mime", String(255), nullable=False),
    Column("size", Integer),
    Column("ref", Text),
    Column("url", Text),
    Index("ix_attachments_message", "message_id"),
)

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
from sqlalchemy.sql.expression import false, text, true
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


class PortableText(TypeDecorator[str]):
    """Text bound the same on every store: PostgreSQL refuses NUL in text and a value longer than a VARCHAR's
    length (one such value would fail the whole batch), where SQLite stores both; so on PostgreSQL NUL is
    dropped and a bounded string is cut to its column's length. The DDL is the plain type's."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if dialect.name != "postgresql" or not isinstance(value, str):
            return value
        if "\x00" in value:
            value = value.replace("\x00", "")
        length = getattr(self.impl_instance, "length", None)
        return value[:length] if length and len(value) > length else value


class SafeText(PortableText):
    """TEXT (see PortableText)."""

    impl = Text
    cache_ok = True


class SafeString(PortableText):
    """VARCHAR(n) (see PortableText)."""

    impl = String
    cache_ok = True


Id = SafeString(32)

leads = Table(
    "leads",
    metadata,
    Column("id", Id, primary_key=True),
    Column("name", SafeText, nullable=False, default=""),
    # the name as searches compare it (crm_core.recognition.fold): SQLite's lower() is ASCII-only; the store sets it
    # wherever it writes a name
    Column("name_search", SafeText, nullable=False, default=""),
    Column("phone", SafeString(64)),
    Column("email", SafeString(320)),
    Column("status", SafeString(64), nullable=False),
    Column("responsible", SafeString(64)),
    Column("source", SafeString(200)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # duplicate control (migration 0015): the name as full names are compared (crm_core.recognition.name_key; the
    # store sets it with the name), and the lead this one was merged into (a merged lead is kept for the undo)
    Column("name_key", SafeString(200)),
    Column("merged_into", Id),
    Column("fields", JSON(none_as_null=True)),  # custom fields (crm.fields.lead; migration 0018); NULL: none
    Index("ix_leads_phone", "phone"),
    Index("ix_leads_email", "email"),
    Index("ix_leads_responsible", "responsible"),
    Index("ix_leads_name_key", "name_key"),
    # the lists' orders and status filter (crm_core/lead_lists.py, migration 0017)
    Index("ix_leads_updated", "updated_at", "id"),
    Index("ix_leads_created", "created_at", "id"),
    Index("ix_leads_name_sort", "name_search", "id"),
    Index("ix_leads_status", "status", "updated_at", "id"),
)

# every phone and e-mail of a lead (leads.phone / leads.email keep the first of each, position 0); a lead's insert
# or a fill of its phone or e-mail adds the value here by trigger (migration 0015), so every writer keeps them
lead_contacts = Table(
    "lead_contacts",
    metadata,
    Column("lead_id", Id, ForeignKey("leads.id"), primary_key=True),
    Column("kind", SafeString(8), primary_key=True),  # phone | email
    Column("value", SafeString(320), primary_key=True),  # normalised (crm_core.recognition)
    Column("comment", SafeText, nullable=False, default="", server_default=""),
    Column("position", Integer, nullable=False, default=0, server_default="0"),
    Index("ix_lead_contacts_value", "kind", "value"),
)

# how many live leads share a key (criterion name | phone | email), kept by triggers (migration 0015): the
# duplicate list reads the keys with more than one
duplicate_keys = Table(
    "duplicate_keys",
    metadata,
    Column("criterion", SafeString(8), primary_key=True),
    Column("key", SafeString(320), primary_key=True),
    Column("leads", Integer, nullable=False),
    Index(
        "ix_duplicate_keys_shared",
        "criterion",
        "key",
        sqlite_where=text("leads > 1"),
        postgresql_where=text("leads > 1"),
    ),
)

# pairs of leads a user said are not duplicates (lead_a < lead_b)
duplicate_skips = Table(
    "duplicate_skips",
    metadata,
    Column("lead_a", Id, primary_key=True),
    Column("lead_b", Id, primary_key=True),
    Column("by", SafeString(64), nullable=False),
    Column("at", UTCDateTime, nullable=False),
)

# the merge journal: who merged which leads into which, the records before and every link moved (for the undo)
lead_merges = Table(
    "lead_merges",
    metadata,
    Column("id", Id, primary_key=True),
    Column("main_id", Id, nullable=False),
    Column("by", SafeString(64), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("record", JSON, nullable=False),
    Column("undone_by", SafeString(64)),
    Column("undone_at", UTCDateTime),
    Index("ix_lead_merges_at", "at"),
    Index("ix_lead_merges_main", "main_id"),
)

identities = Table(
    "identities",
    metadata,
    Column("id", Id, primary_key=True),
    Column("lead_id", Id, ForeignKey("leads.id"), nullable=False),
    Column("channel", SafeString(32), nullable=False),
    Column("account", SafeString(128), nullable=False),
    Column("external_id", SafeString(255), nullable=False),
    Column("display_name", SafeText, nullable=False, default=""),
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
    Column("line_id", SafeString(64), nullable=False),
    Column("channel", SafeString(32), nullable=False),
    Column("account", SafeString(128), nullable=False),
    Column("chat_id", SafeString(255), nullable=False),
    Column("state", SafeString(16), nullable=False),
    Column("operator", SafeString(64)),
    Column("offered_to", JSON, nullable=False, default=list),
    Column("offer_deadline", UTCDateTime),
    Column("excluded", JSON, nullable=False, default=list),
    Column("last_offered", SafeString(64)),
    Column("preferred", SafeString(64)),
    Column("queued_since", UTCDateTime),
    Column("retry_at", UTCDateTime),
    Column("customer_name", SafeText, nullable=False, default=""),
    Column("source_tag", SafeString(200)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("closed_at", UTCDateTime),
    Column("first_response_at", UTCDateTime),
    Column("last_message_at", UTCDateTime),
    Column("last_message_text", SafeText),
    Column("last_message_author", SafeString(16)),
    # auto-replies: stored with the dialog so a restart never sends one twice for the same trigger
    Column("off_hours_key", SafeString(64)),
    Column("answer_due", UTCDateTime),
    Column("no_answer_sent", Boolean, nullable=False, default=False, server_default=false()),
    Column("auto_close_at", UTCDateTime),
    # colleagues invited into the dialog (logins), and whether they may answer the customer too
    Column("invited", JSON, nullable=False, default=list, server_default="[]"),
    Column("guests_reply", Boolean, nullable=False, default=False, server_default=false()),
    # the customer's rating of the answer (the line's scale: 0/1 like/dislike or 1..5) with an optional comment;
    # a later rating of the same dialog replaces it
    Column("rating", Integer),
    Column("rating_comment", SafeText),
    Column("rated_at", UTCDateTime),
    # bumped by every write: a batch's UPDATE expects the version its worker read (a stale worker's batch fails)
    Column("version", Integer, nullable=False, default=0, server_default="0"),
    Index("ix_dialogs_state_line", "state", "line_id"),
    Index("ix_dialogs_operator_state", "operator", "state"),
    Index("ix_dialogs_identity", "identity_id", "created_at"),
    Index("ix_dialogs_lead", "lead_id"),
    Index("ix_dialogs_closed", "closed_at"),  # the board's last 24 hours
)

messages = Table(
    "messages",
    metadata,
    Column("id", Id, primary_key=True),
    Column("dialog_id", Id, ForeignKey("dialogs.id"), nullable=False),
    Column("channel", SafeString(32), nullable=False),
    Column("account", SafeString(128), nullable=False),
    # the channel's own id of this message: the idempotency key, unique per (channel, account)
    Column("external_id", SafeString(255)),
    Column("direction", SafeString(8), nullable=False),  # "in" | "out"
    Column("author_kind", SafeString(16), nullable=False),  # customer | operator | bot | system
    Column("author_id", SafeString(64)),
    Column("author_name", SafeText, nullable=False, default=""),
    Column("text", SafeText, nullable=False, default=""),
    Column("visibility", SafeString(16), nullable=False, default="public"),
    Column("attachments", JSON, nullable=False, default=list),
    Column("created_at", UTCDateTime, nullable=False),
    Column("edited_at", UTCDateTime),
    Column(
        "edits", JSON, nullable=False, default=list, server_default="[]"
    ),  # earlier texts of an edited message: [{text, at}]
    # outbound delivery: queued -> sent | failed (with the reason); None for messages that go nowhere
    Column("delivery_state", SafeString(16)),
    Column("delivery_error", SafeText),
    Column("delivery_attempts", Integer, nullable=False, default=0, server_default="0"),
    Column("delivery_ref", SafeString(255)),  # the channel's own id of what it delivered
    Column("delivered_at", UTCDateTime),
    UniqueConstraint("channel", "account", "external_id", name="uq_messages_channel_account_external"),
    Index("ix_messages_dialog", "dialog_id", "id"),
)

dialog_events = Table(
    "dialog_events",
    metadata,
    Column("id", Id, primary_key=True),
    Column("dialog_id", Id, ForeignKey("dialogs.id"), nullable=False),
    Column("kind", SafeString(32), nullable=False),
    Column("operator", SafeString(64)),
    Column("data", JSON, nullable=False, default=dict),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_dialog_events_dialog", "dialog_id", "at"),
)

# a lead's journal: every change of its status or responsible (who, when, from → to; a rejection's words), shown
# on the card's timeline; the engine writes the responsible its routing gives, the console the rest
lead_events = Table(
    "lead_events",
    metadata,
    Column("id", Id, primary_key=True),
    Column("lead_id", Id, ForeignKey("leads.id"), nullable=False),
    Column("kind", SafeString(16), nullable=False),  # status | responsible
    Column("from_value", SafeString(64)),
    Column("to_value", SafeString(64)),
    Column("by", SafeString(64)),  # an operator's login; None: the routing
    Column("reason", SafeText),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_lead_events_lead", "lead_id", "at"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Id, primary_key=True),
    Column("stream", SafeString(128), nullable=False),
    Column("key", SafeString(255)),
    Column("payload", SafeText, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

checkpoints = Table(
    "checkpoints",
    metadata,
    Column("channel", SafeString(32), primary_key=True),
    Column("account", SafeString(128), primary_key=True),
    Column("key", SafeString(128), primary_key=True),
    Column("value", SafeText, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("id", SafeString(64), primary_key=True),  # sha256 of the token: a leaked table is no login
    Column("login", SafeString(64), nullable=False),
    # a fingerprint of the credential the session was made with: a changed password ends the sessions made before
    Column("credential", SafeString(64), nullable=False, default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
)

# files operators uploaded to send with a reply, and widget visitors' files (login "", dialog_id "", their line's
# account and visitor id set): one that no message references after a grace is removed
uploads = Table(
    "uploads",
    metadata,
    Column("ref", SafeString(64), primary_key=True),  # the attachment store's key
    Column("login", SafeString(64), nullable=False),
    Column("dialog_id", Id, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("account", SafeString(64)),  # a visitor's upload: the widget line's account ...
    Column("chat_id", SafeString(64)),  # ... and the visitor
    Index("ix_uploads_created", "created_at"),
)

attachments = Table(
    "attachments",
    metadata,
    Column("id", Id, primary_key=True),
    Column("message_id", Id, ForeignKey("messages.id"), nullable=False),
    Column("name", SafeText, nullable=False),
    Column("mime", SafeString(255), nullable=False),
    Column("size", Integer),
    Column("ref", SafeText),
    Column("url", SafeText),
    Index("ix_attachments_message", "message_id"),
)

# an operator's own quick answers (the shared ones of a line are in the YAML); a shortcut is unique per operator
quick_answers = Table(
    "quick_answers",
    metadata,
    Column("id", Id, primary_key=True),
    Column("owner", SafeString(64), nullable=False),
    Column("title", SafeText, nullable=False),
    Column("text", SafeText, nullable=False),
    Column("shortcut", SafeString(64)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("owner", "shortcut", name="uq_quick_answers_owner_shortcut"),
    Index("ix_quick_answers_owner", "owner"),
)

# how far each operator has read each dialog: the customer messages after `read_at` are unread for them
read_marks = Table(
    "read_marks",
    metadata,
    Column("operator", SafeString(64), primary_key=True),
    Column("dialog_id", Id, primary_key=True),
    Column("read_at", UTCDateTime, nullable=False),
)

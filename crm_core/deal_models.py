"""The CRM beyond a lead (migration 0018): companies, contacts, deals with their journal and dialogs, and saved list
filters. A contact is a converted lead: its name, phones, e-mails and identities are the lead's (the customer's one
record, which recognition keys on), so every channel's later contact finds it; the contact adds a company and its
custom fields."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, Column, ForeignKey, Index, Table, UniqueConstraint

from crm_core.models import Id, SafeString, SafeText, UTCDateTime, metadata

companies = Table(
    "companies",
    metadata,
    Column("id", Id, primary_key=True),
    Column("name", SafeText, nullable=False),
    Column("name_search", SafeText, nullable=False, default=""),  # crm_core.recognition.fold of the name
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_companies_name", "name_search", "id"),
)

contacts = Table(
    "contacts",
    metadata,
    Column("id", Id, primary_key=True),
    Column("lead_id", Id, ForeignKey("leads.id"), nullable=False),
    Column("company_id", Id, ForeignKey("companies.id")),
    Column("responsible", SafeString(64)),
    Column("fields", JSON, nullable=False, default=dict),  # custom fields (crm.fields.contact)
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("lead_id", name="uq_contacts_lead_id"),  # one contact per customer
    Index("ix_contacts_updated", "updated_at", "id"),
    Index("ix_contacts_company", "company_id"),
    Index("ix_contacts_responsible", "responsible", "updated_at", "id"),
)

deals = Table(
    "deals",
    metadata,
    Column("id", Id, primary_key=True),
    Column("title", SafeText, nullable=False, default=""),
    Column("title_search", SafeText, nullable=False, default=""),
    Column("pipeline", SafeString(64), nullable=False),
    Column("stage", SafeString(64), nullable=False),
    Column("amount", BigInteger),  # minor units (cents): exact, and sorted as numbers on both stores
    Column("currency", SafeString(3), nullable=False),
    Column("lead_id", Id, ForeignKey("leads.id"), nullable=False),  # the customer (their identities, dialogs)
    Column("contact_id", Id, ForeignKey("contacts.id")),
    Column("company_id", Id, ForeignKey("companies.id")),
    Column("responsible", SafeString(64)),
    Column("line_id", SafeString(64)),  # the line whose conversation created it (None: by hand)
    Column("source", SafeString(200)),
    Column("request", SafeText, nullable=False, default=""),  # what the customer needs, in words
    Column("fields", JSON, nullable=False, default=dict),  # custom fields (crm.fields.deal)
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("activity_at", UTCDateTime, nullable=False),  # the last change, message or dialog (reminders)
    Column("closed_at", UTCDateTime),
    Column("won", Boolean),
    # "<lead>:<pipeline>" while the deal is the one a returning customer's conversations join (open, made by a
    # conversation or converted); unique, so two routers meeting the same new customer make one deal
    Column("open_key", SafeString(120)),
    UniqueConstraint("open_key", name="uq_deals_open_key"),
    # the lists' sorts, alone and after the filters an operator's and a stage's lists use (an equality on the first
    # column, the order from the rest: no sort, and a keyset page reads its 50 rows); the board's counts and sums
    # from one covering index, `closed_at` last in it (first, SQLite's skip-scan would take it for "open" and sort)
    Index("ix_deals_updated", "updated_at", "id"),
    Index("ix_deals_created", "created_at", "id"),
    Index("ix_deals_activity", "activity_at", "id"),
    Index("ix_deals_amount", "amount", "id"),
    Index("ix_deals_title", "title_search", "id"),
    Index("ix_deals_stage", "pipeline", "stage", "updated_at", "id"),
    Index("ix_deals_board", "pipeline", "stage", "amount", "closed_at"),
    Index("ix_deals_responsible", "responsible", "updated_at", "id"),
    Index("ix_deals_resp_created", "responsible", "created_at", "id"),
    Index("ix_deals_resp_activity", "responsible", "activity_at", "id"),
    Index("ix_deals_resp_amount", "responsible", "amount", "id"),
    Index("ix_deals_lead", "lead_id"),
    Index("ix_deals_contact", "contact_id"),
)

deal_events = Table(
    "deal_events",
    metadata,
    Column("id", Id, primary_key=True),
    Column("deal_id", Id, ForeignKey("deals.id"), nullable=False),
    Column(
        "kind", SafeString(16), nullable=False
    ),  # created | stage | responsible | note | dialog | converted
    Column("from_value", SafeString(64)),
    Column("to_value", SafeString(64)),
    Column("by", SafeString(64)),  # an operator's login; None: a conversation
    Column("text", SafeText),  # a note's words
    Column("at", UTCDateTime, nullable=False),
    Index("ix_deal_events_deal", "deal_id", "at"),
)

# the dialogs of a deal (its timeline): a link, so the engine's batch path writes dialogs as before
deal_dialogs = Table(
    "deal_dialogs",
    metadata,
    Column("dialog_id", Id, ForeignKey("dialogs.id"), primary_key=True),
    Column("deal_id", Id, ForeignKey("deals.id"), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Index("ix_deal_dialogs_deal", "deal_id", "at"),
)

saved_filters = Table(
    "saved_filters",
    metadata,
    Column("id", Id, primary_key=True),
    Column("owner", SafeString(64), nullable=False),
    Column("entity", SafeString(16), nullable=False),  # leads | contacts | deals
    Column("name", SafeText, nullable=False),
    Column("query", JSON, nullable=False),  # the list's query parameters
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_saved_filters_owner", "owner", "entity"),
)

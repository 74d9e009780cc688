"""deals: companies, contacts (a converted lead), deals with a stage pipeline, their journal and dialogs, saved list
filters, and the custom fields of leads

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 20:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

ID = sa.String(length=32)
AT = sa.DateTime(timezone=True)


def upgrade() -> None:
    # a plain ALTER on both stores (a batch copy of `leads` would drop its triggers, migration 0015)
    op.add_column("leads", sa.Column("fields", sa.JSON(none_as_null=True), nullable=True))
    op.create_table(
        "companies",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("name_search", sa.Text(), nullable=False),
        sa.Column("created_at", AT, nullable=False),
        sa.Column("updated_at", AT, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_companies"),
    )
    op.create_index("ix_companies_name", "companies", ["name_search", "id"])
    op.create_table(
        "contacts",
        sa.Column("id", ID, nullable=False),
        sa.Column("lead_id", ID, nullable=False),
        sa.Column("company_id", ID, nullable=True),
        sa.Column("responsible", sa.String(length=64), nullable=True),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("created_at", AT, nullable=False),
        sa.Column("updated_at", AT, nullable=False),
        sa.ForeignKeyConstraint(["lead_id"], ["leads.id"], name="fk_contacts_lead_id_leads"),
        sa.ForeignKeyConstraint(["company_id"], ["companies.id"], name="fk_contacts_company_id_companies"),
        sa.PrimaryKeyConstraint("id", name="pk_contacts"),
        sa.UniqueConstraint("lead_id", name="uq_contacts_lead_id"),
    )
    op.create_index("ix_contacts_updated", "contacts", ["updated_at", "id"])
    op.create_index("ix_contacts_company", "contacts", ["company_id"])
    op.create_index("ix_contacts_responsible", "contacts", ["responsible", "updated_at", "id"])
    op.create_table(
        "deals",
        sa.Column("id", ID, nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("title_search", sa.Text(), nullable=False),
        sa.Column("pipeline", sa.String(length=64), nullable=False),
        sa.Column("stage", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("lead_id", ID, nullable=False),
        sa.Column("contact_id", ID, nullable=True),
        sa.Column("company_id", ID, nullable=True),
        sa.Column("responsible", sa.String(length=64), nullable=True),
        sa.Column("line_id", sa.String(length=64), nullable=True),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.Column("request", sa.Text(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("created_at", AT, nullable=False),
        sa.Column("updated_at", AT, nullable=False),
        sa.Column("activity_at", AT, nullable=False),
        sa.Column("closed_at", AT, nullable=True),
        sa.Column("won", sa.Boolean(), nullable=True),
        sa.Column("open_key", sa.String(length=120), nullable=True),
        sa.ForeignKeyConstraint(["lead_id"], ["leads.id"], name="fk_deals_lead_id_leads"),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], name="fk_deals_contact_id_contacts"),
        sa.ForeignKeyConstraint(["company_id"], ["companies.id"], name="fk_deals_company_id_companies"),
        sa.PrimaryKeyConstraint("id", name="pk_deals"),
        sa.UniqueConstraint("open_key", name="uq_deals_open_key"),
    )
    for name, cols in (
        ("ix_deals_updated", ["updated_at", "id"]),
        ("ix_deals_created", ["created_at", "id"]),
        ("ix_deals_activity", ["activity_at", "id"]),
        ("ix_deals_amount", ["amount", "id"]),
        ("ix_deals_title", ["title_search", "id"]),
        ("ix_deals_stage", ["pipeline", "stage", "updated_at", "id"]),
        ("ix_deals_board", ["pipeline", "stage", "amount", "closed_at"]),
        ("ix_deals_responsible", ["responsible", "updated_at", "id"]),
        ("ix_deals_resp_created", ["responsible", "created_at", "id"]),
        ("ix_deals_resp_activity", ["responsible", "activity_at", "id"]),
        ("ix_deals_resp_amount", ["responsible", "amount", "id"]),
        ("ix_deals_lead", ["lead_id"]),
        ("ix_deals_contact", ["contact_id"]),
    ):
        op.create_index(name, "deals", cols)
    op.create_table(
        "deal_events",
        sa.Column("id", ID, nullable=False),
        sa.Column("deal_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("from_value", sa.String(length=64), nullable=True),
        sa.Column("to_value", sa.String(length=64), nullable=True),
        sa.Column("by", sa.String(length=64), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("at", AT, nullable=False),
        sa.ForeignKeyConstraint(["deal_id"], ["deals.id"], name="fk_deal_events_deal_id_deals"),
        sa.PrimaryKeyConstraint("id", name="pk_deal_events"),
    )
    op.create_index("ix_deal_events_deal", "deal_events", ["deal_id", "at"])
    op.create_table(
        "deal_dialogs",
        sa.Column("dialog_id", ID, nullable=False),
        sa.Column("deal_id", ID, nullable=False),
        sa.Column("at", AT, nullable=False),
        sa.ForeignKeyConstraint(["dialog_id"], ["dialogs.id"], name="fk_deal_dialogs_dialog_id_dialogs"),
        sa.ForeignKeyConstraint(["deal_id"], ["deals.id"], name="fk_deal_dialogs_deal_id_deals"),
        sa.PrimaryKeyConstraint("dialog_id", name="pk_deal_dialogs"),
    )
    op.create_index("ix_deal_dialogs_deal", "deal_dialogs", ["deal_id", "at"])
    op.create_table(
        "saved_filters",
        sa.Column("id", ID, nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("entity", sa.String(length=16), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("query", sa.JSON(), nullable=False),
        sa.Column("created_at", AT, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_saved_filters"),
    )
    op.create_index("ix_saved_filters_owner", "saved_filters", ["owner", "entity"])


def downgrade() -> None:
    for table in ("saved_filters", "deal_dialogs", "deal_events", "deals", "contacts", "companies"):
        op.drop_table(table)
    op.drop_column("leads", "fields")  # SQLite 3.35+ drops a column in place

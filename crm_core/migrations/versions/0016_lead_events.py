"""lead journal: every change of a lead's status or responsible (who, when, from → to, a rejection's words)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08 14:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lead_events",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("lead_id", sa.String(length=32), sa.ForeignKey("leads.id"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("from_value", sa.String(length=64), nullable=True),
        sa.Column("to_value", sa.String(length=64), nullable=True),
        sa.Column("by", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_lead_events"),
    )
    op.create_index("ix_lead_events_lead", "lead_events", ["lead_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_lead_events_lead", table_name="lead_events")
    op.drop_table("lead_events")

"""read marks: how far each operator has read each dialog (unread counts that survive a reload)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 00:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "read_marks",
        sa.Column("operator", sa.String(64), primary_key=True),
        sa.Column("dialog_id", sa.String(32), primary_key=True),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("read_marks")

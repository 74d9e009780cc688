"""quick answers: an operator's own canned responses

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 00:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quick_answers",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("shortcut", sa.String(64)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("owner", "shortcut", name="uq_quick_answers_owner_shortcut"),
    )
    op.create_index("ix_quick_answers_owner", "quick_answers", ["owner"])


def downgrade() -> None:
    op.drop_index("ix_quick_answers_owner", table_name="quick_answers")
    op.drop_table("quick_answers")

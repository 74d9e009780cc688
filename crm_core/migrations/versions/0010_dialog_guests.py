"""dialog guests: colleagues invited into a dialog, and whether they may answer the customer

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 01:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("dialogs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("invited", sa.JSON(), server_default="[]", nullable=False))
        batch_op.add_column(
            sa.Column("guests_reply", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("dialogs", schema=None) as batch_op:
        batch_op.drop_column("guests_reply")
        batch_op.drop_column("invited")

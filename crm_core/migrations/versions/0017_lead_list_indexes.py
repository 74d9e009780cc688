"""lists of leads: the orders a list is sorted by (updated, created, name; ties by id), and its status filter

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-08 15:00:00
"""

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

INDEXES = {
    "ix_leads_updated": ["updated_at", "id"],
    "ix_leads_created": ["created_at", "id"],
    "ix_leads_name_sort": ["name_search", "id"],
    "ix_leads_status": ["status", "updated_at", "id"],
}


def upgrade() -> None:
    for name, cols in INDEXES.items():
        op.create_index(name, "leads", cols)


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="leads")

"""hardening: a folded name for searches in every script, sessions bound to their credential, tracked uploads

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 21:30:00
"""

import sqlalchemy as sa
from alembic import op

from crm_core.recognition import fold

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

CHUNK = 5_000


def upgrade() -> None:
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name_search", sa.Text(), server_default="", nullable=False))
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("credential", sa.String(64), server_default="", nullable=False))
    op.create_table(
        "uploads",
        sa.Column("ref", sa.String(64), primary_key=True),
        sa.Column("login", sa.String(64), nullable=False),
        sa.Column("dialog_id", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_uploads_created", "uploads", ["created_at"])
    # the folded names of the leads there are (Python's casefold: no database folds every script alike)
    conn = op.get_bind()
    leads = sa.table(
        "leads", sa.column("id", sa.String), sa.column("name", sa.Text), sa.column("name_search")
    )
    last = ""
    while True:
        rows = conn.execute(
            sa.select(leads.c.id, leads.c.name).where(leads.c.id > last).order_by(leads.c.id).limit(CHUNK)
        ).all()
        if not rows:
            break
        conn.execute(
            leads.update()
            .where(leads.c.id == sa.bindparam("lead_id"))
            .values(name_search=sa.bindparam("folded")),
            [{"lead_id": r.id, "folded": fold(r.name)} for r in rows],
        )
        last = rows[-1].id


def downgrade() -> None:
    op.drop_index("ix_uploads_created", table_name="uploads")
    op.drop_table("uploads")
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_column("credential")
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.drop_column("name_search")

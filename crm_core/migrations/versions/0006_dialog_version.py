"""dialog version: the batch that changes a dialog expects the version it read (fences a stale router worker)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 22:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# PostgreSQL: the one-statement batch (crm_core/pg_batch.py) counts the dialogs its UPDATE matched and calls this,
# which fails the whole statement (and so the batch's transaction) when one of them had a newer version
CHECK_VERSIONS = """
CREATE OR REPLACE FUNCTION openlines_check_versions(expected bigint, matched bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
  IF matched < expected THEN
    RAISE EXCEPTION 'stale dialog: % of % dialogs changed since this worker read them', expected - matched, expected
      USING ERRCODE = 'OLST1';
  END IF;
  RETURN matched;
END
$$
"""


def upgrade() -> None:
    with op.batch_alter_table("dialogs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), server_default="0", nullable=False))
    if op.get_context().dialect.name == "postgresql":
        op.execute(CHECK_VERSIONS)


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS openlines_check_versions(bigint, bigint)")
    with op.batch_alter_table("dialogs", schema=None) as batch_op:
        batch_op.drop_column("version")

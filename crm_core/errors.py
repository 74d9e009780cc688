"""The store's own errors, shared by its batch writers (crm_core/sqlalchemy_batch.py, crm_core/pg_batch.py,
crm_core/sqlite_batch.py)."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError

DuplicateKey = (
    IntegrityError  # a concurrent writer stored the same idempotency key first: redeliver the batch
)


class StaleDialog(Exception):
    """A dialog the batch changes has a newer version in the store than the batch expected: another router worker
    wrote it (this one lost its partition). Nothing of the batch was written."""

"""The whole schema in one `metadata`: the engine's tables (crm_core/models.py) and the CRM's beyond a lead
(crm_core/deal_models.py), for the migrations and the test that compares them."""

from __future__ import annotations

from crm_core import deal_models  # noqa: F401  (its tables join `metadata`)
from crm_core.models import metadata

__all__ = ["metadata"]

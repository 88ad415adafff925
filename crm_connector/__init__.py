"""The CRM: its interface and errors (see ``base``), the SQL CRM and its factory."""

from __future__ import annotations

import os
from pathlib import Path

from crm_connector.base import (
    CRM,
    DEAL_STATUSES,
    OUTCOMES,
    BookingRequest,
    CRMError,
    CRMUnavailableError,
    Deal,
    DealNotFoundError,
    Handoff,
    InvalidTransitionError,
    SlotTakenError,
    check_outcome,
)
from crm_connector.sql import SqlCRM

__all__ = [
    "CRM",
    "DEAL_STATUSES",
    "DEFAULT_DB_URL",
    "BookingRequest",
    "CRMError",
    "CRMUnavailableError",
    "Deal",
    "DealNotFoundError",
    "Handoff",
    "InvalidTransitionError",
    "SlotTakenError",
    "OUTCOMES",
    "SqlCRM",
    "check_outcome",
    "create_crm",
]

DEFAULT_DB_URL = "sqlite:///var/crm.db"


def create_crm(url: str | None = None) -> CRM:
    """Open the CRM at ``url``, else at ``CRM_DB_URL``, else at ./var/crm.db."""
    if url is None:
        url = os.environ.get("CRM_DB_URL") or DEFAULT_DB_URL
    if url == DEFAULT_DB_URL:
        Path("var").mkdir(exist_ok=True)
    return SqlCRM(url)

"""The CRM: its interface and errors (see ``base``), the SQL CRM and its factory."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from business.profile import CRM_BACKENDS, DEFAULT_PROFILE
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
    "mirror_backend",
]

DEFAULT_DB_URL = "sqlite:///var/crm.db"


def create_crm(url: str | None = None, *, outbox: bool | None = None) -> CRM:
    """Open the CRM at ``url``, else at ``CRM_DB_URL``, else at ./var/crm.db.

    ``outbox`` (queue every change for Bitrix24) defaults to whether the business
    profile's ``crm.backend`` is ``bitrix24``.
    """
    if url is None:
        url = os.environ.get("CRM_DB_URL") or DEFAULT_DB_URL
    if url == DEFAULT_DB_URL:
        Path("var").mkdir(exist_ok=True)
    if outbox is None:
        outbox = mirror_backend() == "bitrix24"
    return SqlCRM(url, outbox=outbox)


def mirror_backend() -> str:
    """The profile's ``crm.backend``: ``sql`` without a profile or a ``crm`` section.

    Only this one setting is read, so that the CRM's own commands keep working with
    a profile that the bot would refuse (the bot validates the whole file itself).
    """
    path = Path(os.environ.get("BUSINESS_PROFILE") or DEFAULT_PROFILE)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return "sql"
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise CRMError(f"{path.name}: cannot read the business profile") from exc
    section = raw.get("crm") if isinstance(raw, dict) else None
    backend = section.get("backend", "sql") if isinstance(section, dict) else "sql"
    if backend not in CRM_BACKENDS:
        raise CRMError(
            f"{path.name}: crm.backend: use one of: {', '.join(CRM_BACKENDS)}"
        )
    return str(backend)

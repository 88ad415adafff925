"""What every action needs: the business profile, the CRM and the clock, made once."""

from __future__ import annotations

import logging
import os
from datetime import datetime
from functools import lru_cache

from business.profile import BusinessProfile, load_profile
from crm_connector import CRM, create_crm

logger = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def profile() -> BusinessProfile:
    loaded = load_profile()
    logger.info("Business profile loaded from %s", loaded.source)
    return loaded


@lru_cache(maxsize=1)
def crm() -> CRM:
    # With Bitrix24 configured every change is also queued for the outbox worker.
    return create_crm(outbox=profile().crm.backend == "bitrix24")


def now() -> datetime:
    """The current time in the business timezone.

    `ASSISTANT_NOW` (ISO 8601) pins the clock; tests use it to book on known days.
    """
    pinned = os.environ.get("ASSISTANT_NOW")
    if pinned:
        return datetime.fromisoformat(pinned).astimezone(profile().timezone)
    return datetime.now(profile().timezone)

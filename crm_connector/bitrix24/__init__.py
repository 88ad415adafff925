"""The Bitrix24 mirror: REST client, deal sync, outbox worker and stage-event endpoint.

Settings live in the business profile's ``crm.bitrix24`` section; the two secrets come
from the environment: the inbound webhook URL (`WEBHOOK_ENV`) and the outbound
webhook's application token (`TOKEN_ENV`). Errors are the client's (see ``client``).
"""

from __future__ import annotations

import os

from business.profile import Bitrix24Settings
from crm_connector.bitrix24.client import (
    Bitrix24Client,
    Bitrix24ConfigError,
    RetryPolicy,
)

WEBHOOK_ENV = "BITRIX24_WEBHOOK_URL"
TOKEN_ENV = "BITRIX24_APP_TOKEN"


def client_from_env(settings: Bitrix24Settings) -> Bitrix24Client:
    """A client for the webhook URL in the environment, or Bitrix24ConfigError."""
    url = os.environ.get(WEBHOOK_ENV, "").strip()
    if not url:
        raise Bitrix24ConfigError(f"{WEBHOOK_ENV} is not set")
    return Bitrix24Client(
        url,
        timeout=settings.timeout_seconds,
        burst=settings.burst,
        per_second=settings.per_second,
        retry=RetryPolicy(backoff=settings.retry_backoff_seconds),
    )

"""A thin async client for Bitrix24 REST through an inbound webhook URL.

Errors (all keep Bitrix24's ``error`` code and ``error_description``)::

    Bitrix24Error                 base; also a CRMError
    ├── Bitrix24ConfigError       no webhook URL, or one of the wrong shape
    ├── Bitrix24AuthError         401 NO_AUTH_FOUND, 403 insufficient_scope
    ├── Bitrix24NotFoundError     400 "Not found" (classic CRM methods)
    ├── Bitrix24RequestError      any other 400: the call itself is wrong
    ├── Bitrix24OperationLimit    429 OPERATION_TIME_LIMIT past our wait budget
    └── Bitrix24UnavailableError  503, 5xx, timeouts, dropped connections after retries

The webhook URL carries the secret, so it is never logged; `mask_url` shows it safely.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx

from crm_connector.base import CRMError, CRMUnavailableError

logger = logging.getLogger(__name__)

_WEBHOOK = re.compile(r"^(https?://[^/\s]+(?:/[^\s]*)?)/rest/(\d+)/([^/\s]+)/?$")


class Bitrix24Error(CRMError):
    """Base of the client's errors; ``code`` and ``description`` come from Bitrix24."""

    def __init__(
        self, method: str, code: str, description: str, status: int | None = None
    ) -> None:
        self.method = method
        self.code = code
        self.description = description
        self.status = status
        shown = f"{code}: {description}" if code else description
        where = f"HTTP {status}" if status else "no answer"
        super().__init__(f"Bitrix24 {method} failed ({where}): {shown}")


class Bitrix24ConfigError(Bitrix24Error):
    """The settings do not fit: no webhook URL, a bad one, a stage the portal lacks."""

    def __init__(self, message: str) -> None:
        CRMError.__init__(self, f"Bitrix24 settings: {message}")
        self.method, self.code, self.description, self.status = "-", "", message, None


class Bitrix24AuthError(Bitrix24Error):
    """The webhook secret is wrong or lacks the scope (crm) the call needs."""


class Bitrix24NotFoundError(Bitrix24Error):
    """The entity does not exist (400 with the text in error_description)."""


class Bitrix24RequestError(Bitrix24Error):
    """Bitrix24 refused the call's content; repeating it will not help."""


class Bitrix24OperationLimit(Bitrix24Error):
    """The method's 10-minute time budget is spent until ``reset_at`` (Unix time)."""

    def __init__(self, method: str, description: str, reset_at: float) -> None:
        super().__init__(method, "OPERATION_TIME_LIMIT", description, 429)
        self.reset_at = reset_at


class Bitrix24UnavailableError(Bitrix24Error, CRMUnavailableError):
    """Bitrix24 stayed overloaded, failing or unreachable through every retry."""


def mask_url(url: str) -> str:
    """The webhook URL with its secret replaced, safe for logs and messages."""
    match = _WEBHOOK.match(url.strip())
    if not match:
        return "<a Bitrix24 webhook URL>"
    return f"{match.group(1)}/rest/{match.group(2)}/***/"


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep trying a call before giving it back to the outbox."""

    attempts: int = 4
    backoff: float = 0.5
    max_backoff: float = 8.0
    # The longest wait for OPERATION_TIME_LIMIT to reset inside one call.
    max_reset_wait: float = 30.0


class RateLimiter:
    """A token bucket: ``burst`` calls at once, then ``per_second`` on average.

    It keeps ``headroom`` tokens below the portal's own bucket, so that network
    jitter between our clock and the portal's never tips it over its limit.
    """

    def __init__(self, burst: int, per_second: float, headroom: int | None = None):
        if headroom is None:
            headroom = max(1, burst // 10)
        self.capacity = float(max(1, burst - headroom))
        self.per_second = per_second
        self._tokens = self.capacity
        self._stamp = time.monotonic()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                self._tokens = min(
                    self.capacity, self._tokens + (now - self._stamp) * self.per_second
                )
                self._stamp = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return
                await asyncio.sleep((1 - self._tokens) / self.per_second)

    def drain(self) -> None:
        """Spend every token: the portal told us its bucket is full."""
        self._tokens = 0
        self._stamp = time.monotonic()


class Bitrix24Client:
    """Calls REST methods as JSON POSTs; one client per process, shared by tasks.

    Reads (and updates, which set the same values again) are retried on 5xx and
    dropped connections; ``*.add`` calls are not, because a lost answer may hide a
    created entity: the outbox looks the entity up before creating it again.
    """

    def __init__(
        self,
        webhook_url: str,
        *,
        timeout: float = 10.0,
        burst: int = 50,
        per_second: float = 2.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        match = _WEBHOOK.match((webhook_url or "").strip())
        if not match:
            raise Bitrix24ConfigError(
                "the webhook URL must look like https://PORTAL/rest/1/SECRET/"
            )
        self._base = match.group(0).rstrip("/") + "/"
        self.masked_url = mask_url(webhook_url)
        self.limiter = RateLimiter(burst, per_second)
        self.retry = retry or RetryPolicy()
        self.calls = 0
        self.limit_hits = 0
        self._reset_at: dict[str, float] = {}
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout), transport=transport, follow_redirects=False
        )

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """The ``result`` of one method call."""
        return (await self.call_full(method, params))["result"]

    async def call_full(
        self, method: str, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The whole answer (``result``, ``total``, ``next``, ``time``)."""
        # A batch may hold adds, and a lost answer hides which of them ran.
        repeatable = not method.endswith(".add") and method != "batch"
        policy = self.retry
        attempt = 0
        while True:
            attempt += 1
            await self._wait_for_reset(method)
            await self.limiter.acquire()
            try:
                return await self._post(method, params or {})
            except Bitrix24OperationLimit as exc:
                self._reset_at[method] = exc.reset_at
                if exc.reset_at - time.time() > policy.max_reset_wait:
                    raise
                failure: Bitrix24Error = exc
            except Bitrix24UnavailableError as exc:
                if exc.code == "QUERY_LIMIT_EXCEEDED":
                    self.limit_hits += 1
                    self.limiter.drain()
                elif not repeatable:
                    raise
                failure = exc
            if attempt >= policy.attempts:
                raise failure
            delay = min(policy.max_backoff, policy.backoff * 2 ** (attempt - 1))
            delay *= 0.5 + random.random() / 2
            logger.debug("Bitrix24 %s: %s; retry in %.1f s", method, failure, delay)
            await asyncio.sleep(delay)

    async def batch(
        self, commands: dict[str, tuple[str, dict[str, Any]]], halt: bool = True
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Run up to 50 calls as one request: (results, errors) by command key.

        A later command may use an earlier one's answer as ``$result[key]``.
        """
        if not 0 < len(commands) <= 50:
            raise ValueError("a batch holds 1 to 50 commands")
        cmd = {
            key: f"{name}?{php_query(args)}" for key, (name, args) in commands.items()
        }
        answer = await self.call("batch", {"halt": int(halt), "cmd": cmd})
        results = answer.get("result") if isinstance(answer, dict) else None
        errors = answer.get("result_error") if isinstance(answer, dict) else None
        return (
            results if isinstance(results, dict) else {},
            errors if isinstance(errors, dict) else {},
        )

    async def list_all(
        self, method: str, params: dict[str, Any], limit: int = 5000
    ) -> list[dict[str, Any]]:
        """Every row of a list method, page by page (50 a page)."""
        rows: list[dict[str, Any]] = []
        start: int | None = 0
        while start is not None and len(rows) < limit:
            answer = await self.call_full(method, {**params, "start": start})
            page = answer.get("result") or []
            rows.extend(page)
            start = answer.get("next")
        return rows

    async def close(self) -> None:
        await self._http.aclose()

    async def _wait_for_reset(self, method: str) -> None:
        reset_at = self._reset_at.get(method)
        if reset_at is None:
            return
        delay = reset_at - time.time()
        if delay > self.retry.max_reset_wait:
            raise Bitrix24OperationLimit(
                method, "the method's time budget is spent", reset_at
            )
        if delay > 0:
            await asyncio.sleep(delay)
        self._reset_at.pop(method, None)

    async def _post(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        try:
            response = await self._http.post(f"{self._base}{method}.json", json=params)
        except httpx.TimeoutException as exc:
            raise Bitrix24UnavailableError(
                method, "TIMEOUT", "no answer in time"
            ) from exc
        except httpx.HTTPError as exc:
            raise Bitrix24UnavailableError(
                method, "CONNECTION", f"connection failed ({type(exc).__name__})"
            ) from exc

        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            body = {}
        code = str(body.get("error") or "")
        description = str(body.get("error_description") or "")
        status = response.status_code
        if status == 200 and "result" in body and not code:
            return body
        if status == 429 or code == "OPERATION_TIME_LIMIT":
            timing = body.get("time")
            if not isinstance(timing, dict):
                timing = {}
            reset_at = _number(timing.get("operating_reset_at"), time.time() + 10)
            raise Bitrix24OperationLimit(method, description, reset_at)
        if status in (401, 403):
            raise Bitrix24AuthError(method, code, description, status)
        if status == 400 and description.lower().startswith("not found"):
            raise Bitrix24NotFoundError(method, code, description, status)
        if status >= 500 or status == 200:
            raise Bitrix24UnavailableError(
                method, code or "SERVER_ERROR", description or "no valid answer", status
            )
        raise Bitrix24RequestError(method, code, description, status)


def php_query(params: dict[str, Any]) -> str:
    """``params`` as the PHP-style query Bitrix24 reads (``fields[PHONE][0][VALUE]=…``)."""
    pairs: list[tuple[str, str]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}[{key}]" if prefix else str(key), item)
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                walk(f"{prefix}[{index}]", item)
        elif isinstance(value, bool):
            pairs.append((prefix, "Y" if value else "N"))
        else:
            pairs.append((prefix, "" if value is None else str(value)))

    walk("", params)
    return urlencode(pairs)


def _number(value: Any, default: float) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default

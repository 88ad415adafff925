"""The REST client against the fake portal: limits, retries, errors, pages, batch."""

from __future__ import annotations

import time

import httpx
import pytest

from crm_connector.bitrix24.client import (
    Bitrix24AuthError,
    Bitrix24Client,
    Bitrix24ConfigError,
    Bitrix24NotFoundError,
    Bitrix24OperationLimit,
    Bitrix24RequestError,
    Bitrix24UnavailableError,
    RetryPolicy,
    mask_url,
    php_query,
)
from tests.crm_connector.bitrix24.conftest import FAST_RETRY, run
from tests.fakes.bitrix24_api import FakeBitrix24, Fault


@pytest.fixture
def fake():
    with FakeBitrix24(burst=10, per_second=20) as portal:
        yield portal


def client_for(portal: FakeBitrix24, **options) -> Bitrix24Client:
    options.setdefault("retry", FAST_RETRY)
    options.setdefault("burst", portal.burst)
    options.setdefault("per_second", portal.per_second)
    return Bitrix24Client(portal.webhook_url, timeout=2, **options)


def call(portal: FakeBitrix24, method: str, params=None, **options):
    async def go():
        client = client_for(portal, **options)
        try:
            return await client.call(method, params)
        finally:
            await client.close()

    return run(go())


def test_the_limiter_keeps_a_burst_then_the_rate_without_a_503(fake):
    async def go() -> float:
        client = client_for(fake)
        started = time.monotonic()
        try:
            for _ in range(30):
                await client.call("crm.status.list")
        finally:
            await client.close()
        return time.monotonic() - started

    elapsed = run(go())

    assert fake.calls.limit_hits == 0
    # 9 at once (the burst less the headroom), then 21 at 20 a second.
    assert elapsed >= 21 / 20 * 0.9


def test_without_our_limiter_the_portal_answers_503(fake):
    async def go() -> None:
        client = client_for(fake, burst=1000, per_second=1000, retry=RetryPolicy(1))
        try:
            for _ in range(30):
                await client.call("crm.status.list")
        finally:
            await client.close()

    with pytest.raises(Bitrix24UnavailableError, match="QUERY_LIMIT_EXCEEDED"):
        run(go())
    assert fake.calls.limit_hits == 1


@pytest.mark.parametrize(
    "kinds",
    [("error500",), ("limit503",), ("drop",), ("error500", "limit503", "drop")],
    ids=["500", "503", "dropped", "all-three"],
)
def test_reads_are_retried_through_passing_faults(fake, kinds):
    fake.faults.extend(Fault(kind, "crm.status.list") for kind in kinds)

    stages = call(fake, "crm.status.list")

    assert len(stages) == 6
    assert fake.calls.by_method["crm.status.list"] == len(kinds) + 1


def test_an_add_is_not_repeated_after_a_500(fake):
    fake.faults.append(Fault("error500", "crm.contact.add"))

    with pytest.raises(Bitrix24UnavailableError, match="HTTP 500"):
        call(fake, "crm.contact.add", {"fields": {"NAME": "Анна"}})
    assert fake.calls.by_method["crm.contact.add"] == 1


def test_an_add_refused_by_the_rate_limit_is_sent_again(fake):
    fake.faults.append(Fault("limit503", "crm.contact.add"))

    assert call(fake, "crm.contact.add", {"fields": {"NAME": "Анна"}}) == 1


def test_a_method_over_its_time_budget_waits_for_the_reset(fake):
    fake.operating_reset_at["crm.deal.list"] = time.time() + 1.0
    started = time.monotonic()

    assert call(fake, "crm.deal.list", {"filter": {}}) == []
    assert time.monotonic() - started >= 0.8


def test_a_reset_too_far_away_is_given_back_with_its_time(fake):
    reset_at = time.time() + 300
    fake.operating_reset_at["crm.deal.list"] = reset_at

    with pytest.raises(Bitrix24OperationLimit) as caught:
        call(fake, "crm.deal.list")
    assert caught.value.reset_at == pytest.approx(reset_at)


@pytest.mark.parametrize(
    ("method", "params", "error", "text"),
    [
        ("crm.deal.get", {"id": 404}, Bitrix24NotFoundError, "HTTP 400): Not found"),
        (
            "crm.deal.add",
            {"fields": {"OPPORTUNITY": "1"}},
            Bitrix24RequestError,
            "Required fields are not filled: TITLE",
        ),
        ("crm.nothing.here", {}, Bitrix24RequestError, "ERROR_METHOD_NOT_FOUND"),
    ],
    ids=["not-found", "bad-fields", "unknown-method"],
)
def test_errors_keep_the_description(fake, method, params, error, text):
    with pytest.raises(error) as caught:
        call(fake, method, params)
    assert text in str(caught.value)
    assert caught.value.description


def test_a_wrong_secret_is_an_auth_error_that_never_shows_it(fake):
    url = fake.webhook_url.replace(fake.secret, "wrong-secret-value")

    async def go() -> None:
        client = Bitrix24Client(url, retry=FAST_RETRY)
        try:
            await client.call("crm.deal.get", {"id": 1})
        finally:
            await client.close()

    with pytest.raises(Bitrix24AuthError) as caught:
        run(go())
    assert caught.value.status == 401 and caught.value.code == "NO_AUTH_FOUND"
    assert "wrong-secret-value" not in str(caught.value)


def test_the_portal_down_is_unavailable_after_the_retries(fake):
    fake.down = True

    with pytest.raises(Bitrix24UnavailableError):
        call(fake, "crm.status.list")
    assert fake.calls.by_method["crm.status.list"] == 0


@pytest.mark.parametrize(
    "url",
    ["", "https://salon.bitrix24.ru/", "https://salon.bitrix24.ru/rest/x/abc/"],
    ids=["empty", "no-rest-path", "user-not-a-number"],
)
def test_a_malformed_webhook_url_is_a_settings_error(url):
    with pytest.raises(Bitrix24ConfigError):
        Bitrix24Client(url)


def test_the_masked_url_hides_the_secret():
    masked = mask_url("https://salon.bitrix24.ru/rest/1/abcdef123456/")

    assert masked == "https://salon.bitrix24.ru/rest/1/***/"


def test_lists_come_in_pages_of_50_with_string_values(fake):
    for n in range(120):
        fake.add_contact(f"Клиент {n}", f"+7999000{n:04d}")

    async def go():
        client = client_for(fake, burst=50, per_second=1000)
        try:
            first = await client.call_full("crm.contact.list", {"start": 0})
            rows = await client.list_all("crm.contact.list", {})
        finally:
            await client.close()
        return first, rows

    fake.burst, fake.per_second = 50, 1000
    first, rows = run(go())

    assert (first["total"], first["next"], len(first["result"])) == (120, 50, 50)
    assert len(rows) == 120
    assert rows[0]["ID"] == "1" and isinstance(rows[0]["PHONE"][0]["VALUE"], str)


def test_batch_answers_200_with_errors_per_key(fake):
    fake.add_contact("Анна", "+79990000001")

    answer = call(
        fake,
        "batch",
        {
            "halt": 0,
            "cmd": {"known": "crm.contact.get?id=1", "gone": "crm.deal.get?id=9"},
        },
    )

    assert answer["result"]["known"]["NAME"] == "Анна"
    assert answer["result_error"]["gone"]["error_description"] == "Not found"


def test_the_fake_reads_form_bodies_and_query_strings(fake):
    body = php_query({"fields": {"NAME": "Ольга", "PHONE": [{"VALUE": "89990000002"}]}})

    with httpx.Client() as http:
        added = http.post(
            f"{fake.webhook_url}crm.contact.add",
            content=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        got = http.get(f"{fake.webhook_url}crm.contact.get.json?id=1")

    assert added.status_code == 200 and added.json()["result"] == 1
    assert "operating_reset_at" in added.json()["time"]
    assert got.json()["result"]["PHONE"][0]["VALUE"] == "89990000002"


def test_a_read_slower_than_the_timeout_is_tried_again(fake):
    fake.faults.append(Fault("slow", "crm.status.list", seconds=2))

    async def go():
        client = Bitrix24Client(fake.webhook_url, timeout=0.3, retry=FAST_RETRY)
        try:
            return await client.call("crm.status.list")
        finally:
            await client.close()

    assert len(run(go())) == 6
    assert fake.calls.injected["slow"] == 1

"""A fake Bitrix24 portal on 127.0.0.1 that speaks the REST API's wire format.

It follows ../shared/facts/bitrix24.md: ``/rest/{user}/{secret}/{method}[.json]``,
JSON, form and query bodies, ``result`` with ``time``, string values in get/list
answers, pages of 50 with ``next``/``total``, ``batch``, the error shapes (400 with an
empty ``error``, 401 NO_AUTH_FOUND, 429 OPERATION_TIME_LIMIT, 503
QUERY_LIMIT_EXCEEDED from a leaky bucket), injectable faults, and the outbound
ONCRMDEALUPDATE webhook when a deal's stage changes.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import ClientSession, ClientTimeout, web

PAGE = 50
DEFAULT_STAGES = [
    ("NEW", "Новая заявка", "10"),
    ("PREPARATION", "Записан", "20"),
    ("EXECUTING", "В работе", "30"),
    ("WON", "Пришёл", "40"),
    ("LOSE", "Не пришёл", "50"),
    ("APOLOGY", "Отменена", "60"),
]
_KEY = re.compile(r"([^\[\]]+)|\[([^\[\]]*)\]")
_REFERENCE = re.compile(r"\$result\[(\w+)\](?:\[(\w+)\])?")


@dataclass
class Fault:
    """One injected failure: ``kind`` is error500, limit503, slow, drop or drop_after."""

    kind: str
    method: str | None = None
    seconds: float = 0.0


@dataclass
class Calls:
    by_method: Counter[str] = field(default_factory=Counter)
    limit_hits: int = 0
    injected: Counter[str] = field(default_factory=Counter)
    auth_failures: int = 0


class FakeBitrix24:
    """Run with ``with FakeBitrix24() as portal:``; ``portal.webhook_url`` is the secret URL."""

    def __init__(
        self,
        *,
        user_id: int = 1,
        secret: str = "t0ps3cr3tw3bh00k",
        burst: int = 50,
        per_second: float = 2.0,
        outbound_url: str | None = None,
        app_token: str = "app-token-123",
        stages: list[tuple[str, str, str]] | None = None,
    ) -> None:
        self.user_id = user_id
        self.secret = secret
        self.burst = burst
        self.per_second = per_second
        self.outbound_url = outbound_url
        self.app_token = app_token
        self.stages = list(stages or DEFAULT_STAGES)
        self.contacts: dict[int, dict[str, Any]] = {}
        self.deals: dict[int, dict[str, Any]] = {}
        self.comments: list[dict[str, Any]] = []
        self.webhooks_sent: list[tuple[int, int]] = []  # (deal id, HTTP status)
        self.calls = Calls()
        self.faults: list[Fault] = []
        self.fault_rate = 0.0
        self.fault_kinds: tuple[str, ...] = ("error500", "limit503", "drop_after")
        self.operating_reset_at: dict[str, float] = {}
        self.down = False
        self._random = random.Random(5)
        self._ids = 0
        self._bucket = 0.0
        self._bucket_at = time.monotonic()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0

    # Life cycle

    def __enter__(self) -> FakeBitrix24:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def webhook_url(self) -> str:
        return f"{self.base_url}/rest/{self.user_id}/{self.secret}/"

    def start(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._serve, args=(ready,), name="fake-bitrix24", daemon=True
        )
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the fake Bitrix24 did not start")

    def stop(self) -> None:
        loop = self._loop
        if loop is None:
            return
        asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop = None

    def _serve(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        app = web.Application()
        app.router.add_route("*", "/rest/{user}/{secret}/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", self.port)
        loop.run_until_complete(site.start())
        ready.set()
        loop.run_forever()
        loop.close()

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        # Handlers still sleeping in a "slow" fault end here, not with the loop.
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    # What a test does in the portal's own UI

    def add_contact(self, name: str, phone: str) -> int:
        with self._lock:
            return self._contact_add({"NAME": name, "PHONE": [{"VALUE": phone}]})

    def move_deal(self, deal_id: int, stage_id: str, amount: str | None = None) -> int:
        """A manager drags the deal to ``stage_id``; returns the webhook's HTTP status."""
        fields: dict[str, Any] = {"STAGE_ID": stage_id}
        if amount is not None:
            fields["OPPORTUNITY"] = amount
        with self._lock:
            changed = self._deal_update(deal_id, fields)
        if not changed or self._loop is None:
            return 0
        future = asyncio.run_coroutine_threadsafe(
            self._send_webhook(deal_id), self._loop
        )
        return future.result(15)

    def deals_by_origin(self) -> Counter[str]:
        with self._lock:
            return Counter(str(d.get("ORIGIN_ID")) for d in self.deals.values())

    # The HTTP side

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"].removesuffix(".json")
        if (
            request.match_info["user"] != str(self.user_id)
            or request.match_info["secret"] != self.secret
        ):
            self.calls.auth_failures += 1
            return _error(401, "NO_AUTH_FOUND", "Wrong authorization data")
        if self.down:
            return _error(500, "INTERNAL_SERVER_ERROR", "Internal server error")
        with self._lock:
            if not self._take_token():
                self.calls.limit_hits += 1
                return _error(503, "QUERY_LIMIT_EXCEEDED", "Too many requests")
            self.calls.by_method[method] += 1
            reset_at = self.operating_reset_at.get(method, 0.0)
        if reset_at > time.time():
            return _error(
                429,
                "OPERATION_TIME_LIMIT",
                "Method is blocked due to operation time limit.",
                {"operating_reset_at": reset_at},
            )
        params = await _params(request)

        fault = self._next_fault(method)
        if fault is not None:
            self.calls.injected[fault.kind] += 1
            if fault.kind == "error500":
                return _error(500, "INTERNAL_SERVER_ERROR", "Internal server error")
            if fault.kind == "limit503":
                return _error(503, "QUERY_LIMIT_EXCEEDED", "Too many requests")
            if fault.kind == "slow":
                await asyncio.sleep(fault.seconds)
            if fault.kind == "drop":
                return _drop(request)

        started = time.time()
        try:
            with self._lock:
                result = self._call(method, params)
        except _ApiError as exc:
            return _error(exc.status, exc.code, exc.description)
        if fault is not None and fault.kind == "drop_after":
            return _drop(request)
        body: dict[str, Any] = {"result": result.value, "time": _timing(started)}
        if result.total is not None:
            body["total"] = result.total
        if result.next is not None:
            body["next"] = result.next
        return web.json_response(body)

    def _take_token(self) -> bool:
        now = time.monotonic()
        self._bucket = max(
            0.0, self._bucket - (now - self._bucket_at) * self.per_second
        )
        self._bucket_at = now
        if self._bucket + 1 > self.burst:
            return False
        self._bucket += 1
        return True

    def _next_fault(self, method: str) -> Fault | None:
        with self._lock:
            for index, fault in enumerate(self.faults):
                if fault.method in (None, method):
                    return self.faults.pop(index)
            if self.fault_rate and self._random.random() < self.fault_rate:
                kind = self._random.choice(self.fault_kinds)
                if kind == "drop_after" and not method.endswith((".add", "batch")):
                    kind = "drop"
                return Fault(kind, method)
        return None

    async def _send_webhook(self, deal_id: int) -> int:
        if not self.outbound_url:
            return 0
        form = {
            "event": "ONCRMDEALUPDATE",
            "event_handler_id": "7",
            "data[FIELDS][ID]": str(deal_id),
            "ts": str(int(time.time())),
            "auth[domain]": "salon.bitrix24.ru",
            "auth[client_endpoint]": "https://salon.bitrix24.ru/rest/",
            "auth[server_endpoint]": "https://oauth.bitrix.info/rest/",
            "auth[member_id]": "a1b2c3d4e5",
            "auth[application_token]": self.app_token,
        }
        try:
            async with ClientSession(timeout=ClientTimeout(total=5)) as session:
                async with session.post(self.outbound_url, data=form) as response:
                    status = response.status
        except (OSError, asyncio.TimeoutError):
            status = -1  # Bitrix24 drops the event; it never retries
        self.webhooks_sent.append((deal_id, status))
        return status

    # Methods

    def _call(self, method: str, params: dict[str, Any]) -> _Result:
        if method == "batch":
            return self._batch(params)
        handler = _METHODS.get(method)
        if handler is None:
            raise _ApiError(404, "ERROR_METHOD_NOT_FOUND", "Method not found!")
        return handler(self, params)

    def _batch(self, params: dict[str, Any]) -> _Result:
        commands = params.get("cmd") or {}
        if not isinstance(commands, dict) or len(commands) > 50:
            raise _ApiError(400, "", "Batch must hold 1 to 50 commands")
        halt = str(params.get("halt", "0")) not in ("0", "", "false")
        results: dict[str, Any] = {}
        errors: dict[str, Any] = {}
        totals: dict[str, Any] = {}
        nexts: dict[str, Any] = {}
        for key, command in commands.items():
            name, _, query = str(command).partition("?")
            pairs = [(k, _refer(v, results)) for k, v in parse_qsl(query)]
            self.calls.by_method[name] += 1
            try:
                answer = self._call(name, _nested(pairs))
            except _ApiError as exc:
                errors[key] = {"error": exc.code, "error_description": exc.description}
                if halt:
                    break
                continue
            results[key] = answer.value
            if answer.total is not None:
                totals[key] = answer.total
            if answer.next is not None:
                nexts[key] = answer.next
        return _Result(
            {
                "result": results,
                "result_error": errors or [],
                "result_total": totals or [],
                "result_next": nexts or [],
                "result_time": [],
            }
        )

    def _new_id(self) -> int:
        self._ids += 1
        return self._ids

    def _contact_add(self, fields: dict[str, Any]) -> int:
        contact_id = self._new_id()
        phones = [
            {
                "ID": str(self._new_id()),
                "VALUE_TYPE": p.get("VALUE_TYPE", "WORK"),
                "VALUE": str(p.get("VALUE", "")),
                "TYPE_ID": "PHONE",
            }
            for p in _multifield(fields.get("PHONE"))
        ]
        self.contacts[contact_id] = {
            **{k: v for k, v in fields.items() if k != "PHONE"},
            "ID": contact_id,
            "PHONE": phones,
        }
        return contact_id

    def _deal_update(self, deal_id: int, fields: dict[str, Any]) -> bool:
        deal = self.deals.get(deal_id)
        if deal is None:
            raise _ApiError(400, "", "Not found")
        old_stage = deal.get("STAGE_ID")
        deal.update(fields)
        return deal.get("STAGE_ID") != old_stage


class _ApiError(Exception):
    def __init__(self, status: int, code: str, description: str) -> None:
        super().__init__(description)
        self.status, self.code, self.description = status, code, description


@dataclass
class _Result:
    value: Any
    total: int | None = None
    next: int | None = None


def _fields(params: dict[str, Any]) -> dict[str, Any]:
    fields = params.get("fields")
    if not isinstance(fields, dict) or not fields:
        raise _ApiError(400, "", "Parameter 'fields' must be array.")
    return fields


def _entity_id(params: dict[str, Any]) -> int:
    try:
        return int(params.get("id") or params.get("ID") or 0)
    except (TypeError, ValueError):
        return 0


def _contact_add(portal: FakeBitrix24, params: dict[str, Any]) -> _Result:
    return _Result(portal._contact_add(_fields(params)))


def _get(rows: dict[int, dict[str, Any]], params: dict[str, Any]) -> _Result:
    row = rows.get(_entity_id(params))
    if row is None:
        raise _ApiError(400, "", "Not found")
    return _Result(_as_strings(row))


def _contact_get(portal: FakeBitrix24, params: dict[str, Any]) -> _Result:
    return _get(portal.contacts, params)


def _deal_add(portal: FakeBitrix24, params: dict[str, Any]) -> _Result:
    fields = dict(_fields(params))
    if not fields.get("TITLE"):
        raise _ApiError(400, "", "Required fields are not filled: TITLE")
    contact_ids = fields.pop("CONTACT_IDS", None) or []
    if fields.get("CONTACT_ID") and not contact_ids:
        contact_ids = [fields["CONTACT_ID"]]
    for contact_id in contact_ids:
        if int(contact_id) not in portal.contacts:
            raise _ApiError(400, "", f"Contact {contact_id} is not found")
    deal_id = portal._new_id()
    portal.deals[deal_id] = {
        "STAGE_ID": "NEW",
        "CATEGORY_ID": 0,
        **fields,
        "ID": deal_id,
        "CONTACT_ID": contact_ids[0] if contact_ids else None,
    }
    return _Result(deal_id)


def _deal_get(portal: FakeBitrix24, params: dict[str, Any]) -> _Result:
    return _get(portal.deals, params)


def _deal_update(portal: FakeBitrix24, params: dict[str, Any]) -> _Result:
    portal._deal_update(_entity_id(params), _fields(params))
    return _Result(True)


def _list(rows: list[dict[str, Any]], params: dict[str, Any]) -> _Result:
    wanted = params.get("filter") or {}
    matched = [
        row
        for row in rows
        if all(str(row.get(key)) == str(value) for key, value in wanted.items())
    ]
    select = params.get("select") or []
    if select and "*" not in select:
        matched = [
            {k: v for k, v in row.items() if k in select or k == "ID"}
            for row in matched
        ]
    start = int(params.get("start") or 0)
    count = start != -1
    start = max(start, 0)
    page = [_as_strings(row) for row in matched[start : start + PAGE]]
    more = start + PAGE < len(matched)
    return _Result(
        page,
        total=len(matched) if count else None,
        next=start + PAGE if more and count else None,
    )


def _deal_list(portal: FakeBitrix24, params: dict[str, Any]) -> _Result:
    return _list(sorted(portal.deals.values(), key=lambda d: d["ID"]), params)


def _contact_list(portal: FakeBitrix24, params: dict[str, Any]) -> _Result:
    return _list(sorted(portal.contacts.values(), key=lambda c: c["ID"]), params)


def _findbycomm(portal: FakeBitrix24, params: dict[str, Any]) -> _Result:
    if str(params.get("type", "")).upper() not in ("PHONE", "EMAIL"):
        raise _ApiError(400, "", "Communication type is not supported")
    values = params.get("values") or []
    if isinstance(values, dict):
        values = list(values.values())
    if not values or len(values) > 20:
        raise _ApiError(400, "", "Values are not specified or too many")
    wanted = {str(v) for v in values}
    found = sorted(
        contact_id
        for contact_id, contact in portal.contacts.items()
        if any(p["VALUE"] in wanted for p in contact.get("PHONE", []))
    )
    # Bitrix24 answers an empty list, not an object, when nothing matches.
    return _Result({"CONTACT": found} if found else [])


def _comment_add(portal: FakeBitrix24, params: dict[str, Any]) -> _Result:
    fields = _fields(params)
    if str(fields.get("ENTITY_TYPE", "")).lower() != "deal":
        raise _ApiError(400, "", "ENTITY_TYPE is not supported")
    if _entity_id({"id": fields.get("ENTITY_ID")}) not in portal.deals:
        raise _ApiError(400, "", "Not found")
    comment_id = portal._new_id()
    portal.comments.append({**fields, "ID": comment_id})
    return _Result(comment_id)


def _comment_list(portal: FakeBitrix24, params: dict[str, Any]) -> _Result:
    wanted = params.get("filter") or {}
    if str(wanted.get("ENTITY_TYPE", "")).lower() != "deal":
        raise _ApiError(400, "", "ENTITY_TYPE is required")
    rows = [
        {**c, "ENTITY_TYPE": "deal"}
        for c in portal.comments
        if str(c.get("ENTITY_ID")) == str(wanted.get("ENTITY_ID"))
    ]
    return _list(rows, {k: v for k, v in params.items() if k != "filter"})


def _stage_rows(portal: FakeBitrix24, prefix: str) -> list[dict[str, Any]]:
    return [
        {
            "ID": str(index + 1),
            "ENTITY_ID": "DEAL_STAGE",
            "STATUS_ID": f"{prefix}{status_id}",
            "NAME": name,
            "SORT": sort,
        }
        for index, (status_id, name, sort) in enumerate(portal.stages)
    ]


def _status_list(portal: FakeBitrix24, params: dict[str, Any]) -> _Result:
    wanted = (params.get("filter") or {}).get("ENTITY_ID")
    rows = _stage_rows(portal, "") if wanted in (None, "DEAL_STAGE") else []
    return _Result([_as_strings(r) for r in rows])


def _category_stages(portal: FakeBitrix24, params: dict[str, Any]) -> _Result:
    category = _entity_id(params)
    prefix = f"C{category}:" if category else ""
    return _Result([_as_strings(r) for r in _stage_rows(portal, prefix)])


_METHODS = {
    "crm.contact.add": _contact_add,
    "crm.contact.get": _contact_get,
    "crm.contact.list": _contact_list,
    "crm.deal.add": _deal_add,
    "crm.deal.get": _deal_get,
    "crm.deal.update": _deal_update,
    "crm.deal.list": _deal_list,
    "crm.duplicate.findbycomm": _findbycomm,
    "crm.timeline.comment.add": _comment_add,
    "crm.timeline.comment.list": _comment_list,
    "crm.status.list": _status_list,
    "crm.dealcategory.stage.list": _category_stages,
}


# Wire helpers


async def _params(request: web.Request) -> dict[str, Any]:
    pairs = list(parse_qsl(request.query_string))
    if request.can_read_body:
        raw = await request.read()
        if request.content_type == "application/json":
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                body = {}
            params = _nested(pairs)
            if isinstance(body, dict):
                params.update(body)
            return params
        pairs.extend(parse_qsl(raw.decode("utf-8", "replace")))
    return _nested(pairs)


def _nested(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """PHP-style keys (``fields[PHONE][0][VALUE]``) as nested dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = [a or b for a, b in _KEY.findall(key)]
        node: Any = root
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            if last:
                node[part or str(len(node))] = value
            else:
                node = node.setdefault(part or str(len(node)), {})
    return _listify(root)


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    converted = {k: _listify(v) for k, v in node.items()}
    if converted and all(k.isdigit() for k in converted):
        return [converted[k] for k in sorted(converted, key=int)]
    return converted


def _refer(value: str, results: dict[str, Any]) -> str:
    """Replace ``$result[key]`` and ``$result[key][FIELD]`` with earlier answers."""

    def answer(match: re.Match[str]) -> str:
        found = results.get(match.group(1))
        if match.group(2) and isinstance(found, dict):
            found = found.get(match.group(2))
        return "" if found is None else str(found)

    return _REFERENCE.sub(answer, value)


def _multifield(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        value = list(value.values())
    for item in value or []:
        if isinstance(item, dict):
            yield item


def _as_strings(row: dict[str, Any]) -> dict[str, Any]:
    def text(value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, bool):
            return "Y" if value else "N"
        if isinstance(value, list):
            return [text(v) for v in value]
        if isinstance(value, dict):
            return {k: text(v) for k, v in value.items()}
        return str(value)

    return {key: text(value) for key, value in row.items()}


def _timing(started: float) -> dict[str, Any]:
    finished = time.time()
    return {
        "start": started,
        "finish": finished,
        "duration": finished - started,
        "processing": finished - started,
        "date_start": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(started)),
        "date_finish": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(finished)),
        "operating_reset_at": int(finished) + 600,
        "operating": 0,
    }


def _error(
    status: int, code: str, description: str, timing: dict[str, Any] | None = None
) -> web.Response:
    body: dict[str, Any] = {"error": code, "error_description": description}
    if timing:
        body["time"] = timing
    return web.json_response(body, status=status)


def _drop(request: web.Request) -> web.StreamResponse:
    # The connection closes with no answer at all, as when a proxy cuts it.
    if request.transport is not None:
        request.transport.close()
    raise asyncio.CancelledError

"""The business profile: services, prices, hours, staff and FAQ read from business.yml.

Errors: every problem in the file raises `ProfileError`, whose message names the file and
the field (for example ``business.yml: services[1].duration_minutes: ...``), so an owner
can fix the file without reading a traceback.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
import yaml

DEFAULT_PROFILE = Path(__file__).resolve().parent.parent / "business.yml"
ASSIGNMENT_RULES = ("round_robin", "none")
CRM_BACKENDS = ("sql", "bitrix24")
DEAL_STAGE_KEYS = ("booked", "attended", "no_show", "cancelled")
BITRIX24_KEYS = (
    "category_id",
    "currency",
    "stages",
    "fields",
    "users",
    "sources",
    "default_source",
    "conversation_url",
    "inbound",
    "rate",
    "timeout_seconds",
    "retry_backoff_seconds",
)
_UF_FIELD = re.compile(r"^UF_CRM_[A-Z0-9_]{1,40}$")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
_HOURS = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")
_LEAD = re.compile(r"^(\d{1,4})\s*([dhm])$")
_LEAD_MINUTES = {"d": 24 * 60, "h": 60, "m": 1}

# A weekday (0 = Monday) -> opening and closing time, or None when closed.
WeeklyHours = dict[int, tuple[time, time] | None]


class ProfileError(ValueError):
    """The business profile is missing, unreadable or has an invalid field."""


@dataclass(frozen=True)
class Service:
    id: str
    name: str
    duration_minutes: int
    price: Decimal
    synonyms: tuple[str, ...] = ()


@dataclass(frozen=True)
class Staff:
    id: str
    name: str
    service_ids: tuple[str, ...]
    hours: WeeklyHours | None = None
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Manager:
    id: str
    name: str
    # The manager's Telegram user id: who may press the managers' bot's buttons.
    telegram_user_id: int | None = None


HOT_LEAD_KINDS = ("booking", "handoff", "misunderstood", "keywords")


@dataclass(frozen=True)
class OwnerReport:
    """When the weekly KPI report goes to the owner's Telegram chat.

    The chat is a number in the profile or the name of an environment variable that
    holds it (``chat_id_env``), so that a private chat id need not be committed.
    """

    weekday: int  # 0 = Monday
    at: time
    chat_id: int | None = None
    chat_id_env: str | None = None

    def resolve_chat_id(self) -> int | None:
        if self.chat_id is not None:
            return self.chat_id
        raw = os.environ.get(self.chat_id_env or "", "").strip()
        try:
            return int(raw) if raw else None
        except ValueError:
            return None


@dataclass(frozen=True)
class ManagersBotSettings:
    """The managers' Telegram bot: who may act, what is a hot lead, the hand-off SLA."""

    # Chats (besides the one in MANAGERS_BOT_CHAT_ID) where managers may press buttons.
    chat_ids: tuple[int, ...] = ()
    # Minutes within which a manager should take a hand-off; later counts as missed.
    handoff_sla_minutes: int = 15
    hot_leads: tuple[str, ...] = ("booking", "handoff", "misunderstood")
    # The profile's own rule: a client message with one of these words is a hot lead.
    hot_keywords: tuple[str, ...] = ()
    owner_report: OwnerReport | None = None


@dataclass(frozen=True)
class FaqEntry:
    question: str
    answer: str
    keywords: tuple[str, ...] = ()


@dataclass(frozen=True)
class Motivation:
    """A manager's pay for a report period: a fixed part plus a percent of revenue.

    Only the services of clients who were booked and came count (attended visits).
    """

    fixed: Decimal = Decimal(0)
    percent: Decimal = Decimal(5)

    def bonus(self, attended_revenue: Decimal) -> Decimal:
        return self.fixed + self.percent * attended_revenue / 100


@dataclass(frozen=True)
class Reminders:
    """When clients are reminded of a visit, and the night hours they never are.

    ``before_minutes`` are ahead of the visit, largest first; an empty tuple turns
    reminders off. The quiet window runs from ``quiet_start`` to ``quiet_end`` in the
    business timezone and may wrap midnight; ``None`` means no quiet hours.
    """

    before_minutes: tuple[int, ...] = (24 * 60, 2 * 60)
    quiet_hours: tuple[time, time] | None = (time(21, 0), time(9, 0))

    def is_quiet(self, moment: time) -> bool:
        if self.quiet_hours is None:
            return False
        start, end = self.quiet_hours
        if start < end:
            return start <= moment < end
        return moment >= start or moment < end


@dataclass(frozen=True)
class Bitrix24Settings:
    """How deals are mirrored to Bitrix24 (the webhook URL itself is a secret: env)."""

    category_id: int = 0
    currency: str = "RUB"
    # Our deal status -> the portal's stage, by its name or STATUS_ID.
    stages: dict[str, str] = field(
        default_factory=lambda: {
            "booked": "Записан",
            "attended": "Пришёл",
            "no_show": "Не пришёл",
            "cancelled": "Отменена",
        }
    )
    starts_at_field: str | None = "UF_CRM_BOOKING_AT"
    service_field: str | None = "UF_CRM_SERVICE"
    # Our manager id -> the Bitrix24 user id the deal is assigned to.
    users: dict[str, int] = field(default_factory=dict)
    # Our channel name -> the portal's SOURCE_ID; others get default_source.
    sources: dict[str, str] = field(default_factory=dict)
    default_source: str = "OTHER"
    conversation_url: str | None = None
    inbound_host: str = "127.0.0.1"
    inbound_port: int = 5056
    burst: int = 50
    per_second: float = 2.0
    timeout_seconds: float = 10.0
    # First wait before a failed call is repeated; it doubles on each retry.
    retry_backoff_seconds: float = 0.5


@dataclass(frozen=True)
class CrmSettings:
    """Which CRM mirrors the built-in one: none (`sql`) or Bitrix24."""

    backend: str = "sql"
    bitrix24: Bitrix24Settings = field(default_factory=Bitrix24Settings)


@dataclass(frozen=True)
class BusinessProfile:
    name: str
    timezone: ZoneInfo
    address: str
    phone: str
    privacy_policy_url: str
    hours: WeeklyHours
    slot_step_minutes: int
    min_lead_minutes: int
    horizon_days: int
    services: tuple[Service, ...]
    staff: tuple[Staff, ...]
    managers: tuple[Manager, ...]
    faq: tuple[FaqEntry, ...] = ()
    # How new deals get a manager: "round_robin" (in turn) or "none" (left unassigned).
    manager_assignment: str = "round_robin"
    motivation: Motivation = field(default_factory=Motivation)
    managers_bot: ManagersBotSettings = field(default_factory=ManagersBotSettings)
    reminders: Reminders = field(default_factory=Reminders)
    crm: CrmSettings = field(default_factory=CrmSettings)
    source: str = field(default="business.yml", compare=False)

    def service(self, service_id: str) -> Service | None:
        return next((s for s in self.services if s.id == service_id), None)

    def staff_member(self, staff_id: str) -> Staff | None:
        return next((s for s in self.staff if s.id == staff_id), None)

    def staff_for(self, service_id: str) -> tuple[Staff, ...]:
        return tuple(s for s in self.staff if service_id in s.service_ids)

    def hours_of(self, staff: Staff | None, day: date) -> tuple[time, time] | None:
        """Working hours on `day`: the staff member's own hours, else the business's."""
        weekly = staff.hours if staff is not None and staff.hours else self.hours
        return weekly.get(day.weekday())

    def now(self) -> datetime:
        return datetime.now(self.timezone)

    def hours_text(self) -> str:
        """Opening hours in Russian, consecutive days with the same hours grouped."""
        names = ("пн", "вт", "ср", "чт", "пт", "сб", "вс")
        groups: list[tuple[int, int, tuple[time, time] | None]] = []
        for day in range(7):
            hours = self.hours.get(day)
            if groups and groups[-1][2] == hours:
                groups[-1] = (groups[-1][0], day, hours)
            else:
                groups.append((day, day, hours))
        parts = []
        for first, last, hours in groups:
            days = names[first] if first == last else f"{names[first]}–{names[last]}"
            if hours is None:
                parts.append(f"{days}: выходной")
            else:
                parts.append(
                    f"{days}: {hours[0]:%H:%M}–{hours[1]:%H:%M}",
                )
        return ", ".join(parts)


def load_profile(path: str | os.PathLike[str] | None = None) -> BusinessProfile:
    """Read and validate the profile from `path`, `$BUSINESS_PROFILE` or business.yml."""
    chosen = Path(path or os.environ.get("BUSINESS_PROFILE") or DEFAULT_PROFILE)
    label = chosen.name
    try:
        raw = yaml.safe_load(chosen.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise ProfileError(f"{chosen}: the business profile file is missing") from error
    except (OSError, UnicodeDecodeError) as error:
        raise ProfileError(f"{chosen}: cannot read the file ({error})") from error
    except yaml.YAMLError as error:
        raise ProfileError(f"{label}: not valid YAML ({error})") from error
    if not isinstance(raw, dict):
        raise ProfileError(f"{label}: the top level must be a mapping of fields")
    return _Reader(label).profile(raw)


class _Reader:
    """Turns the raw YAML mapping into a BusinessProfile, naming the field of any error."""

    def __init__(self, label: str) -> None:
        self.label = label

    def fail(self, where: str, problem: str) -> ProfileError:
        return ProfileError(f"{self.label}: {where}: {problem}")

    def text(
        self, raw: dict[str, Any], key: str, where: str, required: bool = True
    ) -> str:
        value = raw.get(key)
        if value is None and not required:
            return ""
        if not isinstance(value, str | int) or isinstance(value, bool):
            raise self.fail(f"{where}{key}", "a text value is required")
        value = str(value).strip()
        if not value:
            raise self.fail(f"{where}{key}", "must not be empty")
        return value

    def choice(
        self, raw: dict[str, Any], key: str, allowed: tuple[str, ...], default: str
    ) -> str:
        value = raw.get(key, default)
        if value not in allowed:
            raise self.fail(key, f"use one of: {', '.join(allowed)}")
        return str(value)

    def whole(
        self, raw: dict[str, Any], key: str, where: str, low: int, high: int
    ) -> int:
        value = raw.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(f"{where}{key}", "a whole number is required")
        if not low <= value <= high:
            raise self.fail(f"{where}{key}", f"must be between {low} and {high}")
        return value

    def words(self, raw: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
        value = raw.get(key) or []
        if not isinstance(value, list) or not all(
            isinstance(v, str) and v.strip() for v in value
        ):
            raise self.fail(f"{where}{key}", "a list of non-empty texts is required")
        return tuple(v.strip() for v in value)

    def ident(self, raw: dict[str, Any], where: str, seen: set[str]) -> str:
        value = raw.get("id")
        if not isinstance(value, str) or not _ID.match(value):
            raise self.fail(
                f"{where}id", "use latin lower-case letters, digits, '-' or '_'"
            )
        if value in seen:
            raise self.fail(f"{where}id", f"'{value}' is used twice")
        seen.add(value)
        return value

    def items(self, raw: dict[str, Any], key: str, required: bool) -> list[Any]:
        value = raw.get(key)
        if value is None and not required:
            return []
        if not isinstance(value, list) or (required and not value):
            raise self.fail(key, "a non-empty list is required")
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                raise self.fail(f"{key}[{index}]", "each entry must be a mapping")
        return value

    def weekly_hours(self, value: Any, where: str) -> WeeklyHours:
        if not isinstance(value, dict):
            raise self.fail(where, f"a mapping of weekdays ({', '.join(WEEKDAYS)})")
        unknown = set(value) - set(WEEKDAYS)
        if unknown:
            raise self.fail(where, f"unknown weekday {sorted(map(str, unknown))[0]!r}")
        hours: WeeklyHours = {}
        for index, day in enumerate(WEEKDAYS):
            spec = value.get(day, "closed")
            if spec in (None, False, "closed", "выходной"):
                hours[index] = None
                continue
            match = _HOURS.match(str(spec).strip())
            if not match:
                raise self.fail(
                    f"{where}.{day}", "write hours as 09:00-21:00 or closed"
                )
            h1, m1, h2, m2 = (int(g) for g in match.groups())
            if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
                raise self.fail(f"{where}.{day}", "not a valid time of day")
            opens = time(h1, m1)
            closes = time(23, 59) if h2 == 24 else time(h2, m2)
            if closes <= opens:
                raise self.fail(f"{where}.{day}", "closing time must be after opening")
            hours[index] = (opens, closes)
        return hours

    def profile(self, raw: dict[str, Any]) -> BusinessProfile:
        tz_name = self.text(raw, "timezone", "")
        try:
            timezone = ZoneInfo(tz_name)
        except (ZoneInfoNotFoundError, ValueError) as error:
            raise self.fail("timezone", f"unknown time zone {tz_name!r}") from error

        phone = self.text(raw, "phone", "")
        try:
            parsed = phonenumbers.parse(phone, "RU")
        except phonenumbers.NumberParseException as error:
            raise self.fail("phone", "not a phone number") from error
        if not phonenumbers.is_valid_number(parsed):
            raise self.fail("phone", "not a valid phone number")

        policy = self.text(raw, "privacy_policy_url", "")
        if not policy.startswith(("https://", "http://")):
            raise self.fail("privacy_policy_url", "must be an http(s) link")

        services = self.services(raw)
        service_ids = {s.id for s in services}
        staff = self.staff(raw, service_ids)
        for service in services:
            if not any(service.id in s.service_ids for s in staff):
                raise self.fail(
                    "services", f"nobody on the staff does service '{service.id}'"
                )

        seen: set[str] = set()
        managers = tuple(
            Manager(
                id=self.ident(item, f"managers[{i}].", seen),
                name=self.text(item, "name", f"managers[{i}]."),
                telegram_user_id=self.chat_id(
                    item.get("telegram_user_id"), f"managers[{i}].telegram_user_id"
                ),
            )
            for i, item in enumerate(self.items(raw, "managers", required=False))
        )
        faq = tuple(
            FaqEntry(
                question=self.text(item, "question", f"faq[{i}]."),
                answer=self.text(item, "answer", f"faq[{i}]."),
                keywords=self.words(item, "keywords", f"faq[{i}]."),
            )
            for i, item in enumerate(self.items(raw, "faq", required=False))
        )
        return BusinessProfile(
            name=self.text(raw, "name", ""),
            timezone=timezone,
            address=self.text(raw, "address", ""),
            phone=phonenumbers.format_number(
                parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL
            ),
            privacy_policy_url=policy,
            hours=self.weekly_hours(raw.get("hours"), "hours"),
            slot_step_minutes=self.whole(raw, "slot_step_minutes", "", 5, 240),
            min_lead_minutes=self.whole(raw, "min_lead_minutes", "", 0, 7 * 24 * 60),
            horizon_days=self.whole(raw, "horizon_days", "", 1, 366),
            services=services,
            staff=staff,
            managers=managers,
            faq=faq,
            manager_assignment=self.choice(
                raw, "manager_assignment", ASSIGNMENT_RULES, "round_robin"
            ),
            motivation=self.motivation(raw.get("motivation")),
            managers_bot=self.managers_bot(raw.get("managers_bot"), managers),
            reminders=self.reminders(raw.get("reminders")),
            crm=self.crm(raw.get("crm"), {m.id for m in managers}),
            source=self.label,
        )

    def chat_id(self, value: Any, where: str) -> int | None:
        """A Telegram user or chat id: a whole number, negative for groups."""
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value == 0:
            raise self.fail(where, "a Telegram id (a whole number, not 0) is required")
        return value

    def managers_bot(
        self, section: Any, managers: tuple[Manager, ...]
    ) -> ManagersBotSettings:
        if section is None:
            return ManagersBotSettings()
        if not isinstance(section, dict):
            raise self.fail("managers_bot", "a mapping of settings is required")
        known = {"chat_ids", "handoff_sla_minutes", "hot_leads", "hot_keywords"}
        unknown = set(section) - known - {"owner_report"}
        if unknown:
            raise self.fail(
                f"managers_bot.{sorted(map(str, unknown))[0]}", "unknown setting"
            )
        chats = section.get("chat_ids") or []
        if not isinstance(chats, list):
            raise self.fail("managers_bot.chat_ids", "a list of Telegram chat ids")
        chat_ids = tuple(
            self.chat_id(c, f"managers_bot.chat_ids[{i}]") or 0
            for i, c in enumerate(chats)
        )
        kinds = self.words(section, "hot_leads", "managers_bot.") or (
            ManagersBotSettings.hot_leads
        )
        for kind in kinds:
            if kind not in HOT_LEAD_KINDS:
                raise self.fail(
                    "managers_bot.hot_leads",
                    f"use some of: {', '.join(HOT_LEAD_KINDS)}",
                )
        keywords = self.words(section, "hot_keywords", "managers_bot.")
        if "keywords" in kinds and not keywords:
            raise self.fail("managers_bot.hot_keywords", "list the words of the rule")
        ids = {m.telegram_user_id for m in managers} - {None}
        if not ids:
            raise self.fail(
                "managers[].telegram_user_id",
                "the managers' bot needs at least one manager's Telegram user id",
            )
        sla = (
            self.whole(section, "handoff_sla_minutes", "managers_bot.", 1, 24 * 60)
            if "handoff_sla_minutes" in section
            else ManagersBotSettings.handoff_sla_minutes
        )
        return ManagersBotSettings(
            chat_ids=chat_ids,
            handoff_sla_minutes=sla,
            hot_leads=tuple(kinds),
            hot_keywords=tuple(k.lower() for k in keywords),
            owner_report=self.owner_report(section.get("owner_report")),
        )

    def owner_report(self, section: Any) -> OwnerReport | None:
        where = "managers_bot.owner_report"
        if section is None:
            return None
        if not isinstance(section, dict):
            raise self.fail(
                where, "a mapping of weekday, time and chat_id or chat_id_env"
            )
        day = section.get("weekday")
        if day not in WEEKDAYS:
            raise self.fail(f"{where}.weekday", f"use one of: {', '.join(WEEKDAYS)}")
        match = re.match(r"^(\d{1,2}):(\d{2})$", str(section.get("time", "")).strip())
        if not match or int(match[1]) > 23 or int(match[2]) > 59:
            raise self.fail(f"{where}.time", "write the time as 09:00")
        chat_id = self.chat_id(section.get("chat_id"), f"{where}.chat_id")
        env = section.get("chat_id_env")
        if env is not None and (not isinstance(env, str) or not env.strip()):
            raise self.fail(
                f"{where}.chat_id_env", "the name of a variable is required"
            )
        if (chat_id is None) == (env is None):
            raise self.fail(where, "give exactly one of chat_id and chat_id_env")
        return OwnerReport(
            weekday=WEEKDAYS.index(day),
            at=time(int(match[1]), int(match[2])),
            chat_id=chat_id,
            chat_id_env=env.strip() if env else None,
        )

    def motivation(self, section: Any) -> Motivation:
        if section is None:
            return Motivation()
        if not isinstance(section, dict):
            raise self.fail("motivation", "a mapping of fixed and percent")
        values = {}
        for key, default in (("fixed", Decimal(0)), ("percent", Decimal(5))):
            value = section.get(key)
            try:
                number = default if value is None else Decimal(str(value))
            except InvalidOperation:
                number = Decimal(-1)
            if isinstance(value, bool) or not number.is_finite() or number < 0:
                raise self.fail(
                    f"motivation.{key}", "a number, zero or more, is needed"
                )
            values[key] = number
        return Motivation(**values)

    def reminders(self, section: Any) -> Reminders:
        if section is None:
            return Reminders()
        if not isinstance(section, dict):
            raise self.fail("reminders", "a mapping of before and quiet_hours")
        unknown = set(section) - {"before", "quiet_hours"}
        if unknown:
            raise self.fail(
                "reminders", f"unknown field {sorted(map(str, unknown))[0]!r}"
            )
        before = section.get("before", ["1d", "2h"])
        if not isinstance(before, list):
            raise self.fail("reminders.before", "a list such as [1d, 2h, 30m]")
        minutes: list[int] = []
        for index, item in enumerate(before):
            match = _LEAD.match(str(item).strip()) if isinstance(item, str) else None
            if match is None:
                raise self.fail(
                    f"reminders.before[{index}]", "write a time ahead as 1d, 2h or 30m"
                )
            value = int(match.group(1)) * _LEAD_MINUTES[match.group(2)]
            if not 10 <= value <= 14 * 24 * 60:
                raise self.fail(
                    f"reminders.before[{index}]",
                    "must be between 10 minutes and 14 days",
                )
            if value in minutes:
                raise self.fail(
                    f"reminders.before[{index}]", f"{item!r} is listed twice"
                )
            minutes.append(value)
        return Reminders(
            before_minutes=tuple(sorted(minutes, reverse=True)),
            quiet_hours=self.quiet_hours(section.get("quiet_hours", "21:00-09:00")),
        )

    def quiet_hours(self, spec: Any) -> tuple[time, time] | None:
        if spec in (None, False, "none"):
            return None
        match = _HOURS.match(str(spec).strip())
        if not match:
            raise self.fail(
                "reminders.quiet_hours", "write the night as 21:00-09:00 or none"
            )
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
            raise self.fail("reminders.quiet_hours", "not a valid time of day")
        if (h1, m1) == (h2, m2):
            raise self.fail("reminders.quiet_hours", "the start and the end are equal")
        return time(h1, m1), time(h2, m2)

    def crm(self, section: Any, manager_ids: set[str]) -> CrmSettings:
        if section is None:
            return CrmSettings()
        if not isinstance(section, dict):
            raise self.fail("crm", "a mapping with backend and its settings")
        unknown = set(section) - {"backend", "bitrix24"}
        if unknown:
            raise self.fail("crm", f"unknown setting {sorted(map(str, unknown))[0]!r}")
        backend = section.get("backend", "sql")
        if backend not in CRM_BACKENDS:
            raise self.fail("crm.backend", f"use one of: {', '.join(CRM_BACKENDS)}")
        raw = section.get("bitrix24") or {}
        if not isinstance(raw, dict):
            raise self.fail("crm.bitrix24", "a mapping of Bitrix24 settings")
        return CrmSettings(backend=backend, bitrix24=self.bitrix24(raw, manager_ids))

    def bitrix24(self, raw: dict[str, Any], manager_ids: set[str]) -> Bitrix24Settings:
        where = "crm.bitrix24."
        unknown = set(raw) - set(BITRIX24_KEYS)
        if unknown:
            name = sorted(map(str, unknown))[0]
            raise self.fail(f"{where}{name}", "unknown setting")
        defaults = Bitrix24Settings()
        values: dict[str, Any] = {}
        if "category_id" in raw:
            values["category_id"] = self.whole(raw, "category_id", where, 0, 10**6)
        if "currency" in raw:
            values["currency"] = self.text(raw, "currency", where).upper()
        stages = dict(defaults.stages)
        stages.update(self.names(raw, "stages", where, DEAL_STAGE_KEYS))
        values["stages"] = stages
        uf = self.names(raw, "fields", where, ("starts_at", "service"), empty=True)
        for key, value in uf.items():
            if value and not _UF_FIELD.match(value):
                raise self.fail(
                    f"{where}fields.{key}", "a user field name like UF_CRM_SERVICE"
                )
            values[f"{key}_field"] = value or None
        users = self.names(raw, "users", where, None)
        for manager_id, user_id in users.items():
            if manager_id not in manager_ids:
                raise self.fail(f"{where}users.{manager_id}", "no such manager")
            if not user_id.isdigit() or int(user_id) < 1:
                raise self.fail(f"{where}users.{manager_id}", "a Bitrix24 user id")
        values["users"] = {k: int(v) for k, v in users.items()}
        values["sources"] = self.names(raw, "sources", where, None)
        if "default_source" in raw:
            values["default_source"] = self.text(raw, "default_source", where)
        if raw.get("conversation_url") is not None:
            link = self.text(raw, "conversation_url", where)
            if not link.startswith(("https://", "http://")) or "{id}" not in link:
                raise self.fail(
                    f"{where}conversation_url", "an http(s) link with {id} in it"
                )
            values["conversation_url"] = link
        inbound = self.names(raw, "inbound", where, ("host", "port"))
        if "host" in inbound:
            values["inbound_host"] = inbound["host"]
        if "port" in inbound:
            values["inbound_port"] = int(
                self.number(inbound["port"], f"{where}inbound.port", 1, 65535)
            )
        rate = self.names(raw, "rate", where, ("burst", "per_second"))
        if "burst" in rate:
            values["burst"] = int(
                self.number(rate["burst"], f"{where}rate.burst", 1, 10**4)
            )
        if "per_second" in rate:
            values["per_second"] = self.number(
                rate["per_second"], f"{where}rate.per_second", 0.01, 10**4
            )
        if "timeout_seconds" in raw:
            values["timeout_seconds"] = self.number(
                raw["timeout_seconds"], f"{where}timeout_seconds", 0.1, 60
            )
        if "retry_backoff_seconds" in raw:
            values["retry_backoff_seconds"] = self.number(
                raw["retry_backoff_seconds"], f"{where}retry_backoff_seconds", 0.001, 60
            )
        return Bitrix24Settings(**values)

    def names(
        self,
        raw: dict[str, Any],
        key: str,
        where: str,
        allowed: tuple[str, ...] | None,
        empty: bool = False,
    ) -> dict[str, str]:
        value = raw.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(f"{where}{key}", "a mapping is required")
        out: dict[str, str] = {}
        for name, item in value.items():
            if allowed is not None and name not in allowed:
                raise self.fail(
                    f"{where}{key}.{name}", f"use one of: {', '.join(allowed)}"
                )
            if item is None and empty:
                out[str(name)] = ""
                continue
            if isinstance(item, bool) or not isinstance(item, str | int | float):
                raise self.fail(f"{where}{key}.{name}", "a text or number is required")
            text = str(item).strip()
            if not text:
                raise self.fail(f"{where}{key}.{name}", "must not be empty")
            out[str(name)] = text
        return out

    def number(self, value: Any, where: str, low: float, high: float) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = float("nan")
        if isinstance(value, bool) or not low <= number <= high:
            raise self.fail(where, f"a number between {low:g} and {high:g}")
        return number

    def services(self, raw: dict[str, Any]) -> tuple[Service, ...]:
        seen: set[str] = set()
        services = []
        for i, item in enumerate(self.items(raw, "services", required=True)):
            where = f"services[{i}]."
            price = item.get("price")
            try:
                amount = Decimal(str(price))
            except InvalidOperation as error:
                raise self.fail(
                    f"{where}price", "a number of rubles is required"
                ) from error
            if isinstance(price, bool) or not amount.is_finite() or amount < 0:
                raise self.fail(f"{where}price", "a number of rubles is required")
            services.append(
                Service(
                    id=self.ident(item, where, seen),
                    name=self.text(item, "name", where),
                    duration_minutes=self.whole(
                        item, "duration_minutes", where, 5, 720
                    ),
                    price=amount.quantize(Decimal("0.01")),
                    synonyms=self.words(item, "synonyms", where),
                )
            )
        return tuple(services)

    def staff(self, raw: dict[str, Any], service_ids: set[str]) -> tuple[Staff, ...]:
        seen: set[str] = set()
        staff = []
        for i, item in enumerate(self.items(raw, "staff", required=True)):
            where = f"staff[{i}]."
            does = self.words(item, "services", where)
            if not does:
                raise self.fail(f"{where}services", "list at least one service id")
            for service_id in does:
                if service_id not in service_ids:
                    raise self.fail(f"{where}services", f"no service '{service_id}'")
            own = item.get("hours")
            staff.append(
                Staff(
                    id=self.ident(item, where, seen),
                    name=self.text(item, "name", where),
                    service_ids=does,
                    hours=None
                    if own is None
                    else self.weekly_hours(own, f"{where}hours"),
                    aliases=self.words(item, "aliases", where),
                )
            )
        return tuple(staff)

"""The Bitrix24 mirror of the built-in CRM: contacts, deals, stages and comments.

Errors: everything raised is a `Bitrix24Error` from ``client`` (a `CRMError`); a
stage the profile names but the portal lacks is a `Bitrix24ConfigError`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from business.profile import Bitrix24Settings, BusinessProfile
from business.russian import counted
from crm_connector.base import Deal
from crm_connector.bitrix24.client import (
    Bitrix24Client,
    Bitrix24ConfigError,
    Bitrix24NotFoundError,
    Bitrix24RequestError,
)
from crm_connector.bitrix24.store import Link

logger = logging.getLogger(__name__)

# ORIGINATOR_ID of every deal we create; ORIGIN_ID is our deal id.
ORIGINATOR = "booking-assistant"
CHANNEL_NAMES = {
    "telegram": "Telegram",
    "whatsapp": "WhatsApp",
    "widget": "виджет на сайте",
    "rest": "сайт",
}


@dataclass(frozen=True)
class StageMap:
    """Our deal statuses and the portal's stage ids, both ways."""

    to_stage: dict[str, str]

    def status_of(self, stage_id: str) -> str | None:
        for status, stage in self.to_stage.items():
            if stage == stage_id:
                return status
        return None


@dataclass(frozen=True)
class RemoteOutcome:
    """What a deal in Bitrix24 says about one of our deals."""

    deal_id: int
    status: str | None
    amount: Decimal | None


def phone_forms(phone: str) -> list[str]:
    """The forms Bitrix24 may hold a Russian number in: +7…, 7…, 8…"""
    digits = "".join(ch for ch in phone if ch.isdigit())
    if len(digits) == 11 and digits[0] in "78":
        national = digits[1:]
        return [f"+7{national}", f"7{national}", f"8{national}"]
    return [phone if phone.startswith("+") else f"+{digits}", digits]


class Bitrix24Mirror:
    """Sends our deals to Bitrix24 and reads their stages back."""

    def __init__(
        self,
        client: Bitrix24Client,
        settings: Bitrix24Settings,
        profile: BusinessProfile | None = None,
    ) -> None:
        self.client = client
        self.settings = settings
        self.profile = profile
        self._stages: StageMap | None = None

    async def stages(self, refresh: bool = False) -> StageMap:
        """Our statuses mapped to the portal's stage ids, by stage name or id."""
        if self._stages is not None and not refresh:
            return self._stages
        category = self.settings.category_id
        if category == 0:
            rows = await self.client.call(
                "crm.status.list", {"filter": {"ENTITY_ID": "DEAL_STAGE"}}
            )
        else:
            rows = await self.client.call(
                "crm.dealcategory.stage.list", {"id": category}
            )
        portal = [(str(r.get("STATUS_ID")), str(r.get("NAME", ""))) for r in rows or []]
        mapped: dict[str, str] = {}
        for status, wanted in self.settings.stages.items():
            found = next((sid for sid, _ in portal if sid == wanted), None)
            if found is None:
                found = next(
                    (
                        sid
                        for sid, name in portal
                        if name.casefold() == wanted.casefold()
                    ),
                    None,
                )
            if found is None:
                names = ", ".join(name for _, name in portal) or "none"
                raise Bitrix24ConfigError(
                    f"no stage {wanted!r} for {status} in funnel {category}"
                    f" (stages: {names})",
                )
            mapped[status] = found
        self._stages = StageMap(mapped)
        return self._stages

    async def sync(
        self, deal: Deal, link: Link, checkpoint: Callable[[Link], Awaitable[None]]
    ) -> Link:
        """Make the Bitrix24 deal match ``deal``; the caller saves the link returned.

        ``checkpoint`` must store the link durably before a create is sent: a retry
        after a lost answer (or a crash) then looks the deal up by ORIGIN_ID, and
        the comment by its text, instead of making a second one.
        """
        fields = await self.deal_fields(deal)
        digest = _digest(fields)
        created = False

        if link.b24_deal_id is None and link.add_sent:
            link.b24_deal_id = await self.find_deal(deal.id)
            link.synced = None

        if link.b24_deal_id is None:
            if link.b24_contact_id is None:
                link.b24_contact_id = await self.find_contact(deal)
            link.add_sent = link.comment_sent = True
            await checkpoint(link)
            await self._create(deal, link, fields)
            link.synced, created = digest, True
        elif link.synced != digest:
            await self.client.call(
                "crm.deal.update", {"id": link.b24_deal_id, "fields": fields}
            )
            link.synced = digest
            logger.info("Deal %s updated in Bitrix24 (%s)", deal.id, deal.status)

        if not link.comment_posted:
            summary = self.summary(deal)
            # A deal made just now has no comment; an older one may have, if an
            # earlier attempt sent it and lost the answer.
            seen = link.comment_sent and not created
            if not (seen and await self._has_comment(link, summary)):
                if not link.comment_sent:
                    link.comment_sent = True
                    await checkpoint(link)
                await self.client.call(
                    "crm.timeline.comment.add",
                    {
                        "fields": {
                            "ENTITY_ID": link.b24_deal_id,
                            "ENTITY_TYPE": "deal",
                            "COMMENT": summary,
                        }
                    },
                )
            link.comment_posted = True
        return link

    async def _create(self, deal: Deal, link: Link, fields: dict[str, Any]) -> None:
        """Contact (if new), deal and comment in one batch: one request of the limit."""
        contact: Any = link.b24_contact_id
        commands: dict[str, tuple[str, dict[str, Any]]] = {}
        if contact is None:
            commands["contact"] = ("crm.contact.add", self._contact_fields(deal))
            contact = "$result[contact]"
        commands["deal"] = (
            "crm.deal.add",
            {
                "fields": {
                    **fields,
                    "CONTACT_ID": contact,
                    "CONTACT_IDS": [contact],
                    "ORIGINATOR_ID": ORIGINATOR,
                    "ORIGIN_ID": str(deal.id),
                }
            },
        )
        commands["comment"] = (
            "crm.timeline.comment.add",
            {
                "fields": {
                    "ENTITY_ID": "$result[deal]",
                    "ENTITY_TYPE": "deal",
                    "COMMENT": self.summary(deal),
                }
            },
        )
        results, errors = await self.client.batch(commands, halt=True)

        if "contact" in results:
            link.b24_contact_id = int(results["contact"])
        if "deal" in results:
            link.b24_deal_id = int(results["deal"])
            logger.info("Deal %s created in Bitrix24 as %s", deal.id, link.b24_deal_id)
        if "comment" in results:
            link.comment_posted = True
        for key, error in errors.items():
            detail = error if isinstance(error, dict) else {}
            raise Bitrix24RequestError(
                commands[key][0],
                str(detail.get("error") or ""),
                str(detail.get("error_description") or error),
                200,
            )
        if link.b24_deal_id is None:
            raise Bitrix24RequestError("batch", "", "no deal id in the answer", 200)

    async def _has_comment(self, link: Link, text: str) -> bool:
        rows = await self.client.list_all(
            "crm.timeline.comment.list",
            {"filter": {"ENTITY_ID": link.b24_deal_id, "ENTITY_TYPE": "deal"}},
        )
        return any(str(row.get("COMMENT", "")) == text for row in rows)

    async def find_deal(self, deal_id: int) -> int | None:
        rows = await self.client.call(
            "crm.deal.list",
            {
                "filter": {"ORIGINATOR_ID": ORIGINATOR, "ORIGIN_ID": str(deal_id)},
                "select": ["ID"],
                "start": -1,
            },
        )
        return int(rows[0]["ID"]) if rows else None

    async def find_contact(self, deal: Deal) -> int | None:
        """The oldest contact with the deal's phone in any of its stored forms."""
        found = await self.client.call(
            "crm.duplicate.findbycomm",
            {
                "type": "PHONE",
                "values": phone_forms(deal.phone),
                "entity_type": "CONTACT",
            },
        )
        ids = found.get("CONTACT") if isinstance(found, dict) else None
        return min(int(i) for i in ids) if ids else None

    def _contact_fields(self, deal: Deal) -> dict[str, Any]:
        return {
            "fields": {
                "NAME": deal.contact_name.strip() or "Клиент",
                "PHONE": [{"VALUE": deal.phone, "VALUE_TYPE": "MOBILE"}],
                "SOURCE_ID": self._source(deal.channel),
            }
        }

    async def deal_fields(self, deal: Deal) -> dict[str, Any]:
        settings = self.settings
        stages = await self.stages()
        amount = deal.amount_paid if deal.amount_paid is not None else deal.price
        fields: dict[str, Any] = {
            "TITLE": f"{deal.service_name}: запись {self._when(deal)}",
            "CATEGORY_ID": settings.category_id,
            "STAGE_ID": stages.to_stage[deal.status],
            "OPPORTUNITY": f"{amount:.2f}",
            "CURRENCY_ID": settings.currency,
            "SOURCE_ID": self._source(deal.channel),
            "COMMENTS": self._conversation(deal),
        }
        user = settings.users.get(deal.manager_id or "")
        if user is not None:
            fields["ASSIGNED_BY_ID"] = user
        if settings.starts_at_field:
            fields[settings.starts_at_field] = self._local(deal).isoformat()
        if settings.service_field:
            fields[settings.service_field] = deal.service_name
        return fields

    async def outcome(self, b24_deal_id: int) -> RemoteOutcome | None:
        """Our deal and the outcome its stage means; None for a deal not ours."""
        try:
            remote = await self.client.call("crm.deal.get", {"id": b24_deal_id})
        except Bitrix24NotFoundError:
            return None
        if str(remote.get("ORIGINATOR_ID") or "") != ORIGINATOR:
            return None
        try:
            deal_id = int(str(remote.get("ORIGIN_ID")))
        except ValueError:
            return None
        stage = str(remote.get("STAGE_ID") or "")
        status = (await self.stages()).status_of(stage)
        if status is None:
            status = (await self.stages(refresh=True)).status_of(stage)
        amount: Decimal | None = None
        if status == "attended":
            try:
                amount = Decimal(str(remote.get("OPPORTUNITY") or "0"))
            except InvalidOperation:
                amount = None
            if amount is not None and amount <= 0:
                amount = None
        return RemoteOutcome(deal_id, status, amount)

    def summary(self, deal: Deal) -> str:
        """The timeline comment: what the client booked in the chat, in Russian."""
        channel = CHANNEL_NAMES.get(deal.channel, deal.channel)
        staff = deal.staff_id
        if self.profile is not None:
            member = self.profile.staff_member(deal.staff_id)
            staff = member.name if member else staff
        duration = counted(deal.duration_minutes, "минута", "минуты", "минут")
        lines = [
            f"Клиент записался через {channel}.",
            f"Услуга: {deal.service_name}, мастер: {staff}.",
            f"Время: {self._when(deal)}, {duration}.",
            f"Стоимость: {_rubles(deal.price)} ₽.",
            self._conversation(deal),
        ]
        # Known limit: the summary is built from the booking, not from the dialogue's
        # text; lifts when the LLM layer writes hand-off summaries.
        return "\n".join(lines)

    def _conversation(self, deal: Deal) -> str:
        link = self.settings.conversation_url
        if link:
            return f"Диалог: {link.replace('{id}', deal.conversation_id)}"
        return f"Диалог: {deal.conversation_id} ({deal.channel})"

    def _source(self, channel: str) -> str:
        return self.settings.sources.get(channel, self.settings.default_source)

    def _local(self, deal: Deal) -> Any:
        if self.profile is None:
            return deal.starts_at
        return deal.starts_at.astimezone(self.profile.timezone)

    def _when(self, deal: Deal) -> str:
        return f"{self._local(deal):%d.%m.%Y %H:%M}"


def _digest(fields: dict[str, Any]) -> str:
    text = json.dumps(fields, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _rubles(amount: Decimal) -> str:
    return f"{amount:,.2f}".replace(",", " ").replace(".", ",").replace(",00", "")

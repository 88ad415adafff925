"""The managers' bot at work: posts lead cards, handles taps and replies, relays a
taken-over conversation both ways and sends the owner's weekly report.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from telegram import CallbackQuery, Message, Update
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from business.profile import BusinessProfile, Manager
from conversation_log import ConversationLog
from crm_connector import CRM, CRMError, create_crm
from crm_connector.base import InvalidTransitionError
from crm_connector.outcomes import reassign, record_outcome
from managers_bot import cards, owner_report
from managers_bot.errors import ManagersBotError, RasaApiError
from managers_bot.leads import HotLead, LeadFinder, open_events
from managers_bot.rasa_api import RasaApi
from managers_bot.settings import Settings
from managers_bot.store import Card, Store

logger = logging.getLogger(__name__)

CURSOR = "events_cursor"
SOURCE = "managers_bot"
REFUSAL = "Кнопки и команды этого бота доступны только менеджерам из профиля бизнеса."
Clock = Callable[[], float]


def mask(conversation_id: str) -> str:
    """A conversation id for logs: the channel prefix and the last two characters."""
    prefix, _, rest = conversation_id.rpartition(":")
    return f"{prefix + ':' if prefix else ''}…{rest[-2:]}"


class ManagersBot:
    def __init__(
        self,
        settings: Settings,
        profile: BusinessProfile,
        *,
        clock: Clock = time.time,
        crm: CRM | None = None,
    ) -> None:
        self.settings = settings
        self.profile = profile
        self.clock = clock
        self.store = Store(settings.db_url)
        self.finder = LeadFinder(
            open_events(settings.tracker_url), profile.managers_bot
        )
        self.log = ConversationLog(settings.tracker_url)
        self.crm = crm or create_crm(settings.crm_url)
        self.rasa = RasaApi(
            settings.rasa_url, settings.rasa_token, settings.timeout_seconds
        )
        self.managers = {
            m.telegram_user_id: m for m in profile.managers if m.telegram_user_id
        }
        self.chats = {settings.chat_id, *profile.managers_bot.chat_ids}
        self.app: Application = self._build_app()
        self._leads: dict[int, HotLead] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def _build_app(self) -> Application:
        t = self.settings.timeout_seconds
        app = (
            ApplicationBuilder()
            .token(self.settings.token)
            .base_url(f"{self.settings.api_url}/bot")
            .base_file_url(f"{self.settings.api_url}/file/bot")
            .updater(None)
            .connect_timeout(t)
            .read_timeout(t)
            .write_timeout(t)
            .pool_timeout(t)
            .build()
        )
        app.add_handler(CallbackQueryHandler(self.on_button))
        app.add_handler(CommandHandler("report", self.on_report))
        app.add_handler(CommandHandler("bot", self.on_back_to_bot))
        app.add_handler(
            MessageHandler(
                filters.REPLY & filters.TEXT & ~filters.COMMAND, self.on_reply
            )
        )
        app.add_error_handler(self.on_error)
        return app

    # Life cycle

    async def start(self, background: bool = True) -> None:
        await self.app.initialize()
        await self.app.start()
        if self.store.get_state(CURSOR) is None:
            # A first start: the cards begin now, not with the whole history.
            latest = await asyncio.to_thread(self.finder.latest_id)
            self.store.set_state(CURSOR, str(latest))
        if self.settings.webhook_url:
            await self.app.bot.set_webhook(
                self.settings.webhook_url,
                secret_token=self.settings.webhook_secret,
                allowed_updates=["message", "callback_query"],
            )
        schedule = self.profile.managers_bot.owner_report
        if schedule is not None and schedule.resolve_chat_id() is None:
            logger.info(
                "The weekly report is off: %s holds no chat id", schedule.chat_id_env
            )
        if not self.managers:
            logger.warning(
                "No manager in the profile has a telegram_user_id: nobody can act"
            )
        if background:
            self._tasks.append(asyncio.create_task(self._loop()))
        logger.info("Managers' bot started")

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.app.stop()
        await self.app.shutdown()
        self.store.close()
        self.log.close()
        self.finder.engine.dispose()

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # the loop must outlive any one failure
                logger.exception("Managers' bot: a poll failed; retrying")
            await asyncio.sleep(self.settings.poll_seconds)

    async def tick(self) -> None:
        """One round: new hot leads, client messages to relay, a report if due."""
        await self.poll_events()
        await self.send_due_report()

    async def process(self, payload: dict[str, Any]) -> None:
        update = Update.de_json(payload, self.app.bot)
        await self.app.process_update(update)

    # Hot leads and relayed client messages

    async def poll_events(self) -> None:
        cursor = int(self.store.get_state(CURSOR) or 0)
        takeovers = {c.conversation_id: c for c in self.store.takeovers()}
        batch = await asyncio.to_thread(self.finder.scan, cursor, takeovers)
        for lead in batch.leads:
            card = self.store.add_card(
                key=lead.key,
                kind=lead.kind,
                conversation_id=lead.conversation_id,
                deal_id=lead.deal_id,
                handoff_id=lead.handoff_id,
                event_id=lead.event_id,
                requested_at=lead.requested_at,
            )
            if card is not None:
                self._leads[card.id] = lead
        new_cursor = batch.cursor
        for message in batch.messages:
            card = takeovers[message.conversation_id]
            sent = await self._send(
                card, f"💬 Клиент: {message.text}", reply_to=card.message_id
            )
            if not sent:
                # Read this message again next round: the managers must not miss it,
                # and the cards found after it are kept once by their keys.
                new_cursor = message.event_id - 1
                break
        if new_cursor != cursor:
            self.store.set_state(CURSOR, str(new_cursor))
        # Cards not yet in the chat (new ones, or the chat was down): post them now.
        for card in self.store.unposted_cards():
            await self._post_card(card)

    async def _post_card(self, card: Card) -> None:
        if card.text is None:
            details = await asyncio.to_thread(self.finder.details, card.conversation_id)
            text = cards.card_text(
                card, self._leads.get(card.id), details, self.profile
            )
            # A hand-off in a conversation with a booking: the buttons mark that deal.
            deal_id = card.deal_id if card.deal_id is not None else details.deal_id
            self.store.update_card(card.id, text=text, deal_id=deal_id)
            card = replace(card, text=text, deal_id=deal_id)
        # Known limit: a crash between the post and saving its message id posts the
        # card again after the restart; lifts with Telegram-side idempotency, which
        # the Bot API does not offer.
        try:
            sent = await self.app.bot.send_message(
                self.settings.chat_id,
                card.text or "",
                reply_markup=cards.keyboard(card),
            )
        except TelegramError as error:
            logger.warning("Card %s not posted yet: %s", card.id, type(error).__name__)
            return
        self.store.remember_message(
            card.id, sent.chat_id, sent.message_id, is_card=True
        )
        logger.info(
            "Card %s (%s) posted for %s", card.id, card.kind, mask(card.conversation_id)
        )

    async def _send(self, card: Card, text: str, reply_to: int | None = None) -> bool:
        try:
            sent = await self.app.bot.send_message(
                card.chat_id or self.settings.chat_id,
                text,
                reply_to_message_id=reply_to,
            )
        except TelegramError as error:
            logger.warning(
                "Message for card %s not sent: %s", card.id, type(error).__name__
            )
            return False
        self.store.remember_message(card.id, sent.chat_id, sent.message_id)
        return True

    async def _refresh(self, card: Card) -> None:
        """Show the card's state (who took it, the outcome) in the managers' chat."""
        if card.message_id is None or card.chat_id is None:
            return
        text = "\n".join([card.text or "", "", *cards.status_lines(card, self.profile)])
        try:
            await self.app.bot.edit_message_text(
                text.strip(),
                chat_id=card.chat_id,
                message_id=card.message_id,
                reply_markup=cards.keyboard(card),
            )
        except TelegramError as error:
            logger.warning("Card %s not updated: %s", card.id, type(error).__name__)

    # Who may act

    def _manager_of(self, user_id: int | None, chat_id: int | None) -> Manager | None:
        manager = self.managers.get(user_id or 0)
        if manager is None or chat_id not in self.chats:
            return None
        return manager

    # Buttons

    async def on_button(
        self, update: Update, context: ContextTypes.DEFAULT_TYPE
    ) -> None:
        query = update.callback_query
        if query is None:
            return
        chat_id = query.message.chat.id if query.message else None
        manager = self._manager_of(query.from_user.id, chat_id)
        action, _, raw_id = (query.data or "").partition(":")
        card = self.store.card(int(raw_id)) if raw_id.isdigit() else None
        if manager is None:
            logger.info("A tap from an unknown user or chat was refused")
            await _answer(query, REFUSAL, alert=True)
            return
        if card is None:
            await _answer(query, "Эта карточка больше не действует.", alert=True)
            return
        if action == cards.TAKE:
            await self._take(query, card, manager.id)
        elif action in (cards.CAME, cards.NO_SHOW, cards.CANCEL):
            await self._mark(query, card, action, manager.id)
        elif action == cards.BACK_TO_BOT:
            await self._back_to_bot(card, manager.id, query=query)
        else:
            await _answer(query, "Неизвестная кнопка.", alert=True)

    async def _take(self, query: CallbackQuery, card: Card, manager_id: str) -> None:
        taken = self.store.take(card.id, manager_id, self.clock())
        if taken is None:
            await _answer(query, "Эта карточка больше не действует.", alert=True)
            return
        card = taken.card
        if not taken.won:
            names = {m.id: m.name for m in self.profile.managers}
            who = names.get(card.taken_by or "", card.taken_by)
            text = (
                "Вы уже ведёте эту заявку."
                if card.taken_by == manager_id
                else (f"Эту заявку уже взял(а) {who}.")
            )
            await _answer(query, text, alert=True)
            return

        logger.info("Card %s taken by %s", card.id, manager_id)
        await asyncio.to_thread(self._record_take, card, manager_id)
        if card.kind != "booking" and self.store.set_takeover(card.id, True):
            try:
                await self.rasa.pause(card.conversation_id)
            except RasaApiError as error:
                self.store.set_takeover(card.id, False)
                logger.warning(
                    "Could not pause %s: %s", mask(card.conversation_id), error
                )
                await self._send(
                    card,
                    "Не удалось остановить бота в этом разговоре: Rasa недоступна. "
                    "Заявка за вами; свяжитесь с клиентом по телефону.",
                    reply_to=card.message_id,
                )
        await _answer(query, "Заявка ваша.")
        await self._refresh(self.store.card(card.id) or card)

    def _record_take(self, card: Card, manager_id: str) -> None:
        """The pick-up in the lead's log, and the deal given to the manager."""
        taken_at = card.taken_at or self.clock()
        self.log.append_slots(
            card.conversation_id,
            [
                (
                    "handoff_taken",
                    {
                        "card_id": card.id,
                        "kind": card.kind,
                        "handoff_id": card.handoff_id,
                        "deal_id": card.deal_id,
                        "manager_id": manager_id,
                        "pickup_seconds": round(taken_at - card.requested_at, 1),
                    },
                )
            ],
            at=taken_at,
        )
        if card.deal_id is not None:
            try:
                reassign(self.crm, self.log, card.deal_id, manager_id)
            except CRMError as error:
                logger.warning("Deal %s not reassigned: %s", card.deal_id, error)

    async def _mark(
        self, query: CallbackQuery, card: Card, action: str, manager_id: str
    ) -> None:
        if card.deal_id is None:
            await _answer(
                query, "У этой заявки нет записи, отмечать нечего.", alert=True
            )
            return
        status = {cards.CAME: "attended", cards.NO_SHOW: "no_show"}.get(
            action, "cancelled"
        )
        try:
            recorded = await asyncio.to_thread(
                record_outcome,
                self.crm,
                self.log,
                card.deal_id,
                status,
                source=SOURCE,
            )
        except InvalidTransitionError:
            await _answer(query, "Отменённую запись отметить нельзя.", alert=True)
            return
        except (CRMError, ValueError, ManagersBotError) as error:
            logger.warning("Deal %s not marked: %s", card.deal_id, error)
            await _answer(
                query, "Не получилось отметить, попробуйте ещё раз.", alert=True
            )
            return
        self.store.update_card(card.id, outcome=status)
        logger.info("Deal %s marked %s by %s", card.deal_id, status, manager_id)
        done = cards.OUTCOMES[status].capitalize()
        await _answer(query, done if recorded.changed else "Уже отмечено.")
        await self._refresh(self.store.card(card.id) or card)

    # Takeover

    async def _back_to_bot(
        self,
        card: Card,
        manager_id: str,
        query: CallbackQuery | None = None,
        message: Message | None = None,
    ) -> None:
        if not self.store.set_takeover(card.id, False):
            text = "Разговор и так ведёт бот."
        else:
            try:
                await self.rasa.resume(card.conversation_id)
                text = "Разговор снова ведёт бот."
            except RasaApiError as error:
                self.store.set_takeover(card.id, True)
                logger.warning(
                    "Could not resume %s: %s", mask(card.conversation_id), error
                )
                text = "Rasa недоступна, попробуйте вернуть разговор позже."
        logger.info("Card %s: %s", card.id, text)
        if query is not None:
            await _answer(query, text)
        elif message is not None:
            await message.reply_text(text)
        await self._refresh(self.store.card(card.id) or card)

    async def on_back_to_bot(
        self, update: Update, context: ContextTypes.DEFAULT_TYPE
    ) -> None:
        message = update.effective_message
        if message is None or update.effective_user is None:
            return
        manager = self._manager_of(update.effective_user.id, message.chat.id)
        if manager is None:
            await message.reply_text(REFUSAL)
            return
        card = self._card_replied_to(message)
        if card is None:
            await message.reply_text("Отправьте /bot ответом на карточку заявки.")
            return
        await self._back_to_bot(card, manager.id, message=message)

    def _card_replied_to(self, message: Message) -> Card | None:
        target = message.reply_to_message
        if target is None:
            return None
        return self.store.card_of_message(message.chat.id, target.message_id)

    async def on_reply(
        self, update: Update, context: ContextTypes.DEFAULT_TYPE
    ) -> None:
        message = update.effective_message
        if message is None or update.effective_user is None or not message.text:
            return
        card = self._card_replied_to(message)
        if card is None:
            return  # a reply to something else: ordinary chat between managers
        manager = self._manager_of(update.effective_user.id, message.chat.id)
        if manager is None:
            await message.reply_text(REFUSAL)
            return
        if card.taken_by != manager.id or not card.takeover:
            names = {m.id: m.name for m in self.profile.managers}
            text = (
                "Сначала нажмите «Взять» на карточке."
                if card.taken_by is None
                else f"Разговор ведёт {names.get(card.taken_by, card.taken_by)}."
                if card.taken_by != manager.id
                else "Разговор ведёт бот; сообщение клиенту не отправлено."
            )
            await message.reply_text(text)
            return

        now = self.clock()
        waiting = await asyncio.to_thread(
            self.finder.latest_client_message_at, card.conversation_id
        )
        since = card.last_reply_at or 0.0
        response = round(now - waiting, 1) if waiting and waiting > since else None
        try:
            await self.rasa.say(
                card.conversation_id,
                message.text,
                [
                    (
                        "manager_reply",
                        {
                            "card_id": card.id,
                            "manager_id": manager.id,
                            "response_seconds": response,
                        },
                    )
                ],
            )
        except RasaApiError as error:
            logger.warning(
                "Reply to %s not sent: %s", mask(card.conversation_id), error
            )
            await message.reply_text(
                "Не отправлено: бот клиента недоступен. Повторите позже."
            )
            return
        self.store.update_card(card.id, last_reply_at=now)
        self.store.remember_message(card.id, message.chat.id, message.message_id)

    # The owner's report

    async def on_report(
        self, update: Update, context: ContextTypes.DEFAULT_TYPE
    ) -> None:
        message = update.effective_message
        if message is None or update.effective_user is None:
            return
        owner = self.profile.managers_bot.owner_report
        owner_chat = owner.resolve_chat_id() if owner else None
        allowed = self._manager_of(update.effective_user.id, message.chat.id) or (
            owner_chat is not None and message.chat.id == owner_chat
        )
        if not allowed:
            await message.reply_text(REFUSAL)
            return
        since, until = owner_report.last_week(self._now().date())
        await self._send_report(message.chat.id, since, until)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), self.profile.timezone)

    async def send_due_report(self) -> bool:
        schedule = self.profile.managers_bot.owner_report
        chat_id = schedule.resolve_chat_id() if schedule else None
        if schedule is None or chat_id is None:
            return False
        since, until = owner_report.due_week(schedule, self._now())
        period = f"week:{since.isoformat()}"
        if not self.store.claim_report(period, chat_id):
            return False
        try:
            await self._send_report(chat_id, since, until)
        except TelegramError:
            self.store.release_report(period, chat_id)
            raise
        logger.info("Weekly report for %s sent to the owner", since)
        return True

    async def _send_report(self, chat_id: int, since, until) -> None:
        report = await asyncio.to_thread(
            owner_report.build, self.settings.tracker_url, self.profile, since, until
        )
        await self.app.bot.send_message(chat_id, report.text)
        if report.html is not None:
            await self.app.bot.send_document(
                chat_id,
                io.BytesIO(report.html.encode("utf-8")),
                filename=report.filename,
                caption=report.caption,
            )

    async def on_error(
        self, update: object, context: ContextTypes.DEFAULT_TYPE
    ) -> None:
        logger.error(
            "Managers' bot: an update failed: %s", type(context.error).__name__
        )


async def _answer(query: CallbackQuery, text: str, alert: bool = False) -> None:
    try:
        await query.answer(text, show_alert=alert)
    except TelegramError as error:
        logger.warning("Callback not answered: %s", type(error).__name__)

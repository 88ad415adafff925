"""Reminders in the KPI report: delivered, answered, and no lead made of them."""

from __future__ import annotations

from datetime import date

from kpi_reports import compute_report
from tests.kpi_reports.conftest import EventLog, omsk

WEEK = (date(2026, 12, 1), date(2026, 12, 7))
DEC2, DEC3, DEC9 = (2026, 12, 2), (2026, 12, 3), (2026, 12, 9)


def reminder(log: EventLog, sender: str, at, deal_id: int, reminder_id: int) -> None:
    """What Rasa writes for a reminder: a new session, the outside trigger, the text."""
    log.session(sender, at)
    log.add(
        sender,
        at,
        "user",
        {"text": None, "input_channel": "rest", "parse_data": {}},
        intent_name="EXTERNAL_reminder",
    )
    log.bot(sender, at)
    log.slot(sender, at, "reminder", {"reminder_id": reminder_id, "deal_id": deal_id})


def answer(log: EventLog, sender: str, at, deal_id: int, reply: str) -> None:
    log.user(sender, at)
    log.slot(sender, at, "reminder_answer", {"deal_id": deal_id, "answer": reply})
    log.bot(sender, at)


def booked(log: EventLog, sender: str, hour: int, deal_id: int, visit_hour: int):
    """A lead of 2 December booked for the next day."""
    log.session(sender, omsk(DEC2, hour, 0))
    log.user(sender, omsk(DEC2, hour, 0))
    log.bot(sender, omsk(DEC2, hour, 0, 5))
    log.booking(sender, omsk(DEC2, hour, 2), deal_id, omsk(DEC3, visit_hour, 0), 1500)


def test_reminders_and_answers_are_counted_once_per_deal(db_url, profile):
    log = EventLog()
    booked(log, "a", 10, 1, 15)
    reminder(log, "a", omsk(DEC2, 15, 0), 1, 11)
    answer(log, "a", omsk(DEC2, 15, 5), 1, "confirmed")
    answer(log, "a", omsk(DEC2, 15, 6), 1, "confirmed")  # pressed twice
    reminder(log, "a", omsk(DEC3, 13, 0), 1, 12)
    # B confirms, then cancels from the second reminder: the latest answer counts.
    booked(log, "b", 11, 2, 16)
    reminder(log, "b", omsk(DEC2, 16, 0), 2, 21)
    answer(log, "b", omsk(DEC2, 16, 1), 2, "confirmed")
    reminder(log, "b", omsk(DEC3, 14, 0), 2, 22)
    answer(log, "b", omsk(DEC3, 14, 1), 2, "cancelled")
    # C asks to move; its reminder of next week is outside the period.
    booked(log, "c", 12, 3, 18)
    reminder(log, "c", omsk(DEC3, 9, 0), 3, 31)
    answer(log, "c", omsk(DEC3, 9, 1), 3, "move")
    reminder(log, "c", omsk(DEC9, 9, 0), 3, 32)
    log.write(db_url)

    report = compute_report(db_url, profile, *WEEK)

    assert report["reminders_sent"] == 5
    assert report["reminder_confirmations"] == 1
    assert report["reminder_cancellations"] == 1
    assert report["reminder_moves"] == 1
    # Sessions opened by a reminder are not leads, even after the client answers.
    assert report["leads"] == 3
    assert report["bookings"] == 3


def test_an_empty_period_has_zero_reminders(db_url, profile):
    log = EventLog()
    log.session("a", omsk(DEC2, 10, 0))
    log.user("a", omsk(DEC2, 10, 0))
    log.write(db_url)

    report = compute_report(db_url, profile, *WEEK)

    assert [report[k] for k in ("reminders_sent", "reminder_confirmations")] == [0, 0]

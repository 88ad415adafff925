"""The KPI figures of hand-built event logs, the same on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine

from business.profile import BusinessProfile, Manager, Motivation
from kpi_reports import ReportError, TrackerStoreError, compute_report, summary
from tests.kpi_reports.conftest import EventLog, lavanda_week, omsk

WEEK = (date(2026, 12, 1), date(2026, 12, 7))
BONUS_RULE = Motivation(fixed=Decimal(20000), percent=Decimal(5))


@pytest.fixture()
def salon(profile: BusinessProfile) -> BusinessProfile:
    """The demo profile with a third manager who has no deals at all."""
    return dataclasses.replace(
        profile, managers=(*profile.managers, Manager("svetlana", "Светлана"))
    )


def test_week_totals(week_url: str, salon: BusinessProfile):
    report = compute_report(week_url, salon, *WEEK, motivation=BONUS_RULE)

    assert report["period"] == {
        "since": "2026-12-01",
        "until": "2026-12-07",
        "timezone": "Asia/Omsk",
    }
    # Leads: A (session began 23:58 the day before), C's second session, D (18:30 UTC
    # is 00:30 in Omsk), G, H. Not B (first message on 30 November), not F (8 Dec).
    assert report["leads"] == 5
    # A, G and H left a phone; C's phone is only carried over from November.
    assert report["qualified_leads"] == 3
    # First replies: A 20 s, C 420 s, G 300 s, H 60 s, D never -> C and D missed.
    assert report["missed_leads"] == 2
    assert report["processed_share"] == 0.6
    assert report["first_response_seconds"] == {
        "median": 180.0,  # (60 + 300) / 2
        "p90": 384.0,  # 300 + 0.7 * (420 - 300)
        "under_5_min_share": 0.75,
    }
    # First booked this week: deals 1, 2 (B), 4, 7, 8; deal 3 only re-copied, 9 next week.
    assert report["bookings"] == 5
    assert report["lead_to_booking"] == 1.0
    # Starting this week: 1 (no-show, then attended 1800), 2 (attended, price 2000),
    # 4 (moved from 9 Dec to 6 Dec, attended 800, marked twice), 7 cancelled, 8 no-show.
    assert report["visits"] == 3
    assert report["no_shows"] == 1
    assert report["cancellations"] == 1
    assert report["show_rate"] == 0.75
    assert report["no_show_rate"] == 0.25
    assert report["revenue"] == 4600
    assert report["average_check"] == 1533.33
    # Clients who came: A, B, C; only C came before (deal 3 in November).
    assert report["repeat_client_share"] == 0.3333
    # Up to 7 Dec: 1800 + 2000 + 1200 + 800 from three clients.
    assert report["ltv"] == 1933.33


def test_week_by_channel(week_url: str, salon: BusinessProfile):
    by_channel = compute_report(week_url, salon, *WEEK)["by_channel"]

    assert sorted(by_channel) == ["telegram", "whatsapp", "widget"]
    telegram = by_channel["telegram"]
    assert (telegram["leads"], telegram["qualified_leads"]) == (3, 2)
    assert (telegram["missed_leads"], telegram["processed_share"]) == (1, 0.6667)
    assert telegram["first_response_seconds"] == {
        "median": 300.0,
        "p90": 396.0,  # 300 + 0.8 * 120
        "under_5_min_share": 0.6667,
    }
    assert (telegram["bookings"], telegram["visits"]) == (3, 2)
    assert (telegram["cancellations"], telegram["revenue"]) == (1, 2600)
    assert telegram["average_check"] == 1300
    # B's deal counts for WhatsApp, the channel of the session it was booked in.
    whatsapp = by_channel["whatsapp"]
    assert (whatsapp["leads"], whatsapp["bookings"], whatsapp["lead_to_booking"]) == (
        1,
        2,
        2.0,
    )
    assert (whatsapp["visits"], whatsapp["no_shows"], whatsapp["show_rate"]) == (
        1,
        1,
        0.5,
    )
    assert whatsapp["revenue"] == 2000
    widget = by_channel["widget"]
    assert widget["leads"] == widget["missed_leads"] == 1
    assert widget["processed_share"] == 0.0
    assert widget["first_response_seconds"] == {
        "median": None,
        "p90": None,
        "under_5_min_share": None,
    }
    assert (widget["bookings"], widget["revenue"], widget["average_check"]) == (
        0,
        0,
        None,
    )


def test_week_managers_and_bonuses(week_url: str, salon: BusinessProfile):
    managers = compute_report(week_url, salon, *WEEK, motivation=BONUS_RULE)["managers"]

    assert managers == [
        # Deal 1 was booked for Dmitry and reassigned to Irina; deal 7 cancelled.
        {
            "id": "irina",
            "name": "Ирина",
            "leads": 2,
            "bookings": 2,
            "visits": 1,
            "revenue": 1800,
            "bonus": 20090,
        },
        # Deal 2 (assigned after booking) and deal 4; B is last week's lead.
        {
            "id": "dmitry",
            "name": "Дмитрий",
            "leads": 1,
            "bookings": 2,
            "visits": 2,
            "revenue": 2800,
            "bonus": 20140,
        },
        {
            "id": "svetlana",
            "name": "Светлана",
            "leads": 0,
            "bookings": 0,
            "visits": 0,
            "revenue": 0,
            "bonus": 20000,
        },
        # Not in the profile: listed under the id the events carry.
        {
            "id": "pavel",
            "name": "pavel",
            "leads": 1,
            "bookings": 1,
            "visits": 0,
            "revenue": 0,
            "bonus": 20000,
        },
    ]


def test_week_by_day(week_url: str, salon: BusinessProfile):
    by_day = compute_report(week_url, salon, *WEEK)["by_day"]

    assert by_day == [
        # Leads A (00:01) and D (00:30 in Omsk); deals 1 and 2 first booked.
        {"date": "2026-12-01", "leads": 2, "bookings": 2, "visits": 0},
        # Lead G, deal 7 booked; B came for deal 2 at 10:00.
        {"date": "2026-12-02", "leads": 1, "bookings": 1, "visits": 1},
        # A came for deal 1 (a no-show first, attended after all).
        {"date": "2026-12-03", "leads": 0, "bookings": 0, "visits": 1},
        # C's second session; deal 4 first booked (for 9 Dec, moved on 5 Dec).
        {"date": "2026-12-04", "leads": 1, "bookings": 1, "visits": 0},
        # Lead H and deal 8; deal 4's move is not a new booking.
        {"date": "2026-12-05", "leads": 1, "bookings": 1, "visits": 0},
        # Deal 4 at its moved time, marked twice; deal 8 a no-show.
        {"date": "2026-12-06", "leads": 0, "bookings": 0, "visits": 1},
        # F wrote at 18:30 UTC on 7 December, already the 8th in Omsk.
        {"date": "2026-12-07", "leads": 0, "bookings": 0, "visits": 0},
    ]


def test_week_first_response_histogram(week_url: str, salon: BusinessProfile):
    report = compute_report(week_url, salon, *WEEK)

    # A 20 s; H 60 s and G 300 s (the 5 minutes still count as answered); C 420 s;
    # D never answered.
    assert report["first_response_histogram"] == [
        {"bucket": "<1 мин", "leads": 1},
        {"bucket": "1–5 мин", "leads": 2},
        {"bucket": "5–15 мин", "leads": 1},
        {"bucket": "15–60 мин", "leads": 0},
        {"bucket": ">1 ч", "leads": 0},
        {"bucket": "без ответа", "leads": 1},
    ]
    in_time = sum(b["leads"] for b in report["first_response_histogram"][:2])
    assert in_time == report["leads"] - report["missed_leads"]


@pytest.mark.parametrize(
    ("wait", "bucket"),
    [
        pytest.param(59.9, "<1 мин", id="under-a-minute"),
        pytest.param(60, "1–5 мин", id="one-minute"),
        pytest.param(300, "1–5 мин", id="five-minutes"),
        pytest.param(300.1, "5–15 мин", id="just-over-five"),
        pytest.param(900, "5–15 мин", id="fifteen-minutes"),
        pytest.param(3600, "15–60 мин", id="an-hour"),
        pytest.param(3601, ">1 ч", id="over-an-hour"),
    ],
)
def test_first_response_bucket_bounds(
    db_url: str, profile: BusinessProfile, wait: float, bucket: str
):
    log = EventLog()
    start = omsk((2026, 12, 2), 10, 0)
    log.session("c", start)
    log.user("c", start)
    log.bot("c", datetime.fromtimestamp(start.timestamp() + wait, start.tzinfo))
    log.write(db_url)

    histogram = compute_report(db_url, profile, *WEEK)["first_response_histogram"]

    assert [b["bucket"] for b in histogram if b["leads"]] == [bucket]


def test_progress_is_reported_while_scanning(
    db_url: str, profile: BusinessProfile, monkeypatch: pytest.MonkeyPatch
):
    log = lavanda_week()
    log.write(db_url)
    monkeypatch.setattr(summary, "CHUNK", 10)
    calls: list[int] = []

    compute_report(db_url, profile, *WEEK, progress=calls.append)

    # The summary folds session starts, messages, replies and the four slots it needs,
    # ten events at a time here.
    read = sum(
        1
        for row in log.rows
        if row["type_name"] in ("session_started", "user", "bot")
        or row["action_name"] in ("phone", "booking", "deal_outcome", "deal_manager")
    )
    assert calls == [*range(10, read, 10), read]
    assert calls  # the week holds a few dozen of them


def test_next_day_in_omsk_belongs_to_the_next_period(
    week_url: str, salon: BusinessProfile
):
    report = compute_report(week_url, salon, date(2026, 12, 8), date(2026, 12, 8))

    # F wrote at 18:30 UTC on 7 December and booked deal 9 at 00:35 on 8 December.
    assert (report["leads"], report["bookings"]) == (1, 1)
    assert report["by_channel"]["widget"]["leads"] == 1
    assert report["first_response_seconds"]["median"] == 30.0
    assert report["visits"] == 0
    assert report["repeat_client_share"] is None
    assert report["ltv"] == 1933.33
    assert report["by_day"] == [
        {"date": "2026-12-08", "leads": 1, "bookings": 1, "visits": 0}
    ]
    assert report["first_response_histogram"][0] == {"bucket": "<1 мин", "leads": 1}


def test_a_period_before_any_event_gives_zeros_and_nulls(
    week_url: str, salon: BusinessProfile
):
    report = compute_report(week_url, salon, date(2026, 1, 1), date(2026, 1, 7))

    zeros = ("leads", "qualified_leads", "missed_leads", "bookings", "visits")
    assert all(report[key] == 0 for key in zeros)
    assert (report["no_shows"], report["cancellations"], report["revenue"]) == (0, 0, 0)
    nulls = ("processed_share", "lead_to_booking", "show_rate", "no_show_rate")
    assert all(report[key] is None for key in nulls)
    assert report["average_check"] is None
    assert report["repeat_client_share"] is None
    assert report["ltv"] is None
    assert report["first_response_seconds"]["median"] is None
    assert report["by_channel"] == {}
    assert [m["bonus"] for m in report["managers"]] == [0, 0, 0]
    assert report["by_day"] == [
        {"date": f"2026-01-0{day}", "leads": 0, "bookings": 0, "visits": 0}
        for day in range(1, 8)
    ]
    assert [b["leads"] for b in report["first_response_histogram"]] == [0] * 6
    json.dumps(report)


def test_a_deal_marked_in_one_period_and_visited_in_another(
    db_url: str, profile: BusinessProfile
):
    # Booked on 30 Nov for 2 Dec: a booking of one week, a visit of the next.
    log = EventLog()
    log.session("c", omsk((2026, 11, 30), 12, 0))
    log.user("c", omsk((2026, 11, 30), 12, 0))
    log.bot("c", omsk((2026, 11, 30), 12, 0, 2))
    log.booking("c", omsk((2026, 11, 30), 12, 1), 1, omsk((2026, 12, 2), 10, 0), 990.5)
    log.outcome("c", omsk((2026, 12, 2), 11, 0), 1, "attended")
    log.write(db_url)

    before = compute_report(db_url, profile, date(2026, 11, 30), date(2026, 11, 30))
    after = compute_report(db_url, profile, *WEEK)

    assert (before["bookings"], before["visits"]) == (1, 0)
    assert (after["bookings"], after["visits"], after["revenue"]) == (0, 1, 990.5)
    assert after["managers"][0]["bonus"] == 0  # no manager on the deal


def test_since_after_until_is_an_error(week_url: str, profile: BusinessProfile):
    with pytest.raises(ReportError, match="after it ends"):
        compute_report(week_url, profile, date(2026, 12, 7), date(2026, 12, 1))


def test_empty_store_is_an_error(db_url: str, profile: BusinessProfile):
    EventLog().write(db_url)

    with pytest.raises(TrackerStoreError, match="holds no events"):
        compute_report(db_url, profile, *WEEK)


def test_store_without_events_table_is_an_error(db_url: str, profile):
    create_engine(db_url).connect().close()  # an existing, empty database

    with pytest.raises(TrackerStoreError, match="no events table"):
        compute_report(db_url, profile, *WEEK)


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("sqlite:////nonexistent/tracker.db", id="sqlite-missing-file"),
        pytest.param(
            "postgresql://postgres@127.0.0.1:1/test?connect_timeout=2",
            id="postgresql-refused",
        ),
        pytest.param("not a url", id="garbage"),
    ],
)
def test_unreachable_store_is_an_error(url: str, profile: BusinessProfile):
    with pytest.raises(TrackerStoreError):
        compute_report(url, profile, *WEEK)


def test_malformed_deal_events_are_skipped_not_fatal(
    db_url: str, profile: BusinessProfile
):
    log = EventLog()
    log.session("c", omsk((2026, 12, 2), 12, 0))
    log.user("c", omsk((2026, 12, 2), 12, 0))
    log.slot("c", omsk((2026, 12, 2), 12, 1), "booking", {"service_id": "manicure"})
    log.slot("c", omsk((2026, 12, 2), 12, 2), "deal_outcome", {"deal_id": 5})
    log.slot("c", omsk((2026, 12, 2), 12, 3), "booking", None)  # a slot reset
    log.booking("c", omsk((2026, 12, 2), 12, 4), 6, omsk((2026, 12, 3), 9, 0), 700)
    log.outcome("c", omsk((2026, 12, 3), 10, 0), 6, "attended", -5)
    log.outcome("c", omsk((2026, 12, 3), 10, 1), 6, "came")
    # No offset: read in the business timezone, so 23:30 on 7 Dec is still this week.
    naive = datetime(2026, 12, 7, 23, 30)
    log.booking("c", omsk((2026, 12, 4), 9, 0), 7, naive, 100)
    log.outcome("c", omsk((2026, 12, 7), 23, 59), 7, "attended")
    log.write(db_url)

    report = compute_report(db_url, profile, *WEEK)

    assert (report["leads"], report["bookings"]) == (1, 2)
    assert (report["visits"], report["revenue"]) == (1, 100)


def test_an_engine_is_used_and_left_open(week_url: str, profile: BusinessProfile):
    engine = create_engine(week_url, future=True)

    first = compute_report(engine, profile, *WEEK)
    second = compute_report(engine, profile, *WEEK)

    assert first == second
    assert first["leads"] == 5
    engine.dispose()


def test_a_period_of_years_counts_the_week_once(week_url: str, salon: BusinessProfile):
    week = compute_report(week_url, salon, *WEEK)

    years = compute_report(week_url, salon, date(2025, 1, 1), date(2030, 12, 31))

    assert len(years["by_day"]) == 2191
    assert sum(day["leads"] for day in years["by_day"]) >= week["leads"]
    assert [
        d for d in years["by_day"] if d["date"] in ("2026-12-01", "2026-12-07")
    ] == [d for d in week["by_day"] if d["date"] in ("2026-12-01", "2026-12-07")]


def test_days_of_23_and_25_hours_in_a_zone_with_clock_changes(
    db_url: str, profile: BusinessProfile
):
    berlin = ZoneInfo("Europe/Berlin")
    log = EventLog()
    moments = {
        "a": datetime(2026, 3, 28, 23, 59, tzinfo=berlin),  # before the spring change
        "b": datetime(2026, 3, 29, 23, 30, tzinfo=berlin),  # on the 23-hour day
        "c": datetime(2026, 3, 30, 0, 30, tzinfo=berlin),
        "d": datetime(2026, 10, 25, 23, 30, tzinfo=berlin),  # on the 25-hour day
        "e": datetime(2026, 10, 26, 0, 10, tzinfo=berlin),
    }
    for sender, at in moments.items():
        log.session(sender, at)
        log.user(sender, at)
    log.write(db_url)
    in_berlin = dataclasses.replace(profile, timezone=berlin)

    report = compute_report(db_url, in_berlin, date(2026, 3, 28), date(2026, 10, 26))

    busy = {d["date"]: d["leads"] for d in report["by_day"] if d["leads"]}
    assert busy == {
        "2026-03-28": 1,
        "2026-03-29": 1,
        "2026-03-30": 1,
        "2026-10-25": 1,
        "2026-10-26": 1,
    }

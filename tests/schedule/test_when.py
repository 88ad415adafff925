"""Tests for reading when a client wants a visit from free Russian text."""

from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

import pytest

from schedule.when import WhenPreference, parse_when

OMSK = ZoneInfo("Asia/Omsk")
THURSDAY = datetime(2026, 12, 3, 10, 0, tzinfo=OMSK)
FRIDAY_EVENING = datetime(2026, 12, 4, 18, 30, tzinfo=OMSK)
SUNDAY = datetime(2026, 12, 6, 11, 0, tzinfo=OMSK)
LATE_DECEMBER = datetime(2026, 12, 20, 12, 0, tzinfo=OMSK)
NEW_YEARS_EVE = datetime(2026, 12, 31, 9, 0, tzinfo=OMSK)


def _days(text: str, now: datetime = THURSDAY) -> tuple[date | None, date | None]:
    found = parse_when(text, now)
    assert found is not None, text
    return found.date_from, found.date_to


def _times(text: str, now: datetime = THURSDAY) -> tuple[time | None, ...]:
    found = parse_when(text, now)
    assert found is not None, text
    return found.exact_time, found.time_from, found.time_to


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [
        pytest.param("сегодня", date(2026, 12, 3), date(2026, 12, 3), id="today"),
        pytest.param("завтра", date(2026, 12, 4), date(2026, 12, 4), id="tomorrow"),
        pytest.param(
            "послезавтра", date(2026, 12, 5), date(2026, 12, 5), id="day-after"
        ),
        pytest.param(
            "через 2 дня", date(2026, 12, 5), date(2026, 12, 5), id="in-2-days"
        ),
        pytest.param(
            "через два дня", date(2026, 12, 5), date(2026, 12, 5), id="in-two-days"
        ),
        pytest.param(
            "через неделю", date(2026, 12, 10), date(2026, 12, 10), id="in-a-week"
        ),
        pytest.param("в пятницу", date(2026, 12, 4), date(2026, 12, 4), id="friday"),
        pytest.param("в пт", date(2026, 12, 4), date(2026, 12, 4), id="fri-short"),
        pytest.param(
            "на субботу", date(2026, 12, 5), date(2026, 12, 5), id="on-saturday"
        ),
        pytest.param(
            "в понедельник", date(2026, 12, 7), date(2026, 12, 7), id="monday"
        ),
        pytest.param("во вторник", date(2026, 12, 8), date(2026, 12, 8), id="tuesday"),
        pytest.param("в среду", date(2026, 12, 9), date(2026, 12, 9), id="wednesday"),
        pytest.param(
            "в четверг", date(2026, 12, 3), date(2026, 12, 3), id="weekday-is-today"
        ),
        pytest.param(
            "в воскресенье", date(2026, 12, 6), date(2026, 12, 6), id="sunday"
        ),
        pytest.param(
            "в следующую пятницу",
            date(2026, 12, 11),
            date(2026, 12, 11),
            id="next-friday-is-next-week",
        ),
        pytest.param(
            "в следующий четверг",
            date(2026, 12, 10),
            date(2026, 12, 10),
            id="next-thursday-on-thursday",
        ),
        pytest.param(
            "в эту субботу", date(2026, 12, 5), date(2026, 12, 5), id="this-saturday"
        ),
        pytest.param("на выходных", date(2026, 12, 5), date(2026, 12, 6), id="weekend"),
        pytest.param(
            "на следующих выходных",
            date(2026, 12, 12),
            date(2026, 12, 13),
            id="next-weekend",
        ),
        pytest.param(
            "на этой неделе", date(2026, 12, 3), date(2026, 12, 6), id="this-week"
        ),
        pytest.param(
            "на следующей неделе",
            date(2026, 12, 7),
            date(2026, 12, 13),
            id="next-week",
        ),
        pytest.param("15.12", date(2026, 12, 15), date(2026, 12, 15), id="dd.mm"),
        pytest.param(
            "15.12.2026", date(2026, 12, 15), date(2026, 12, 15), id="dd.mm.yyyy"
        ),
        pytest.param("15.12.27", date(2027, 12, 15), date(2027, 12, 15), id="dd.mm.yy"),
        pytest.param("15/12", date(2026, 12, 15), date(2026, 12, 15), id="dd/mm"),
        pytest.param(
            "15 декабря", date(2026, 12, 15), date(2026, 12, 15), id="month-name"
        ),
        pytest.param(
            "15 дек.", date(2026, 12, 15), date(2026, 12, 15), id="month-abbreviation"
        ),
        pytest.param(
            "3 декабря", date(2026, 12, 3), date(2026, 12, 3), id="month-name-today"
        ),
        pytest.param(
            "2 декабря", date(2027, 12, 2), date(2027, 12, 2), id="month-name-past"
        ),
        pytest.param(
            "1 января", date(2027, 1, 1), date(2027, 1, 1), id="january-next-year"
        ),
        pytest.param(
            "5 марта 2027 г.", date(2027, 3, 5), date(2027, 3, 5), id="with-year"
        ),
        pytest.param("15-го", date(2026, 12, 15), date(2026, 12, 15), id="15th"),
        pytest.param(
            "2 числа", date(2027, 1, 2), date(2027, 1, 2), id="day-of-next-month"
        ),
        pytest.param(
            "с 10 по 15 декабря",
            date(2026, 12, 10),
            date(2026, 12, 15),
            id="date-range",
        ),
        pytest.param(
            "с 15.12 по 20.12",
            date(2026, 12, 15),
            date(2026, 12, 20),
            id="numeric-date-range",
        ),
        pytest.param(
            "с 28 декабря по 3 января",
            date(2026, 12, 28),
            date(2027, 1, 3),
            id="range-over-new-year",
        ),
    ],
)
def test_days_are_read_relative_to_now(text: str, first: date, last: date) -> None:
    assert _days(text) == (first, last)


@pytest.mark.parametrize(
    ("text", "exact", "after", "before"),
    [
        pytest.param("в 15:00", time(15), None, None, id="colon"),
        pytest.param("в 14:30", time(14, 30), None, None, id="colon-minutes"),
        pytest.param("15:00", time(15), None, None, id="colon-alone"),
        pytest.param("в 15.30", time(15, 30), None, None, id="dotted-after-v"),
        pytest.param("в 9.00", time(9), None, None, id="dotted-zero-minutes"),
        pytest.param("в 10 утра", time(10), None, None, id="morning-qualifier"),
        pytest.param("в 7 вечера", time(19), None, None, id="evening-qualifier"),
        pytest.param("в 3 часа дня", time(15), None, None, id="afternoon-qualifier"),
        pytest.param("10 утра", time(10), None, None, id="qualifier-no-preposition"),
        pytest.param("в 12 ночи", time(0), None, None, id="midnight"),
        pytest.param("в полдень", time(12), None, None, id="noon"),
        pytest.param("к 18", time(18), None, None, id="by-hour-is-exact"),
        pytest.param("в 11", time(11), None, None, id="bare-hour-morning"),
        pytest.param("в 3", time(15), None, None, id="bare-small-hour-is-pm"),
        pytest.param("после 15", None, time(15), None, id="after-hour"),
        pytest.param("после 3", None, time(15), None, id="after-small-hour"),
        pytest.param("не раньше 16:30", None, time(16, 30), None, id="not-before"),
        pytest.param("до 12", None, None, time(12), id="until-hour"),
        pytest.param("не позже 18", None, None, time(18), id="not-later"),
        pytest.param("не позднее 18:00", None, None, time(18), id="not-later-than"),
        pytest.param("с 12 до 14", None, time(12), time(14), id="window"),
        pytest.param("с 2 до 6", None, time(14), time(18), id="window-pm"),
        pytest.param("с 10 до 2", None, time(10), time(14), id="window-over-noon"),
        pytest.param("между 12 и 14", None, time(12), time(14), id="between"),
        pytest.param("10:00-12:30", None, time(10), time(12, 30), id="colon-window"),
        pytest.param("с 10.30 до 12.30", None, time(10, 30), time(12, 30), id="dots"),
        pytest.param("утром", None, time(9), time(12), id="morning"),
        pytest.param("с утра", None, time(9), time(12), id="from-morning"),
        pytest.param("пораньше", None, time(9), time(12), id="earlier"),
        pytest.param("днём", None, time(12), time(17), id="daytime-yo"),
        pytest.param("днем", None, time(12), time(17), id="daytime-e"),
        pytest.param("в обед", None, time(12), time(14), id="lunch"),
        pytest.param("после обеда", None, time(14), None, id="after-lunch"),
        pytest.param("до обеда", None, None, time(12), id="before-lunch"),
        pytest.param("вечером", None, time(17), time(21), id="evening"),
        pytest.param("попозже", None, time(17), None, id="later"),
        pytest.param("после работы", None, time(18), None, id="after-work"),
        pytest.param("утром в 7", time(7), None, None, id="morning-bare-hour"),
        pytest.param("вечером в 8", time(20), None, None, id="evening-bare-hour"),
        pytest.param("утром после 10", None, time(10), time(12), id="intersection"),
    ],
)
def test_times_of_day(
    text: str, exact: time | None, after: time | None, before: time | None
) -> None:
    found = parse_when(text, THURSDAY)

    assert found is not None
    assert (found.exact_time, found.time_from, found.time_to) == (exact, after, before)
    assert (found.date_from, found.date_to) == (None, None)


@pytest.mark.parametrize(
    ("text", "day", "exact", "after", "before"),
    [
        pytest.param(
            "завтра после 15",
            date(2026, 12, 4),
            None,
            time(15),
            None,
            id="tomorrow-after-15",
        ),
        pytest.param(
            "в пятницу утром",
            date(2026, 12, 4),
            None,
            time(9),
            time(12),
            id="friday-morning",
        ),
        pytest.param(
            "15.12 в 14:30",
            date(2026, 12, 15),
            time(14, 30),
            None,
            None,
            id="date-and-time",
        ),
        pytest.param(
            "сегодня вечером",
            date(2026, 12, 3),
            None,
            time(17),
            time(21),
            id="tonight",
        ),
        pytest.param(
            "Запишите на маникюр завтра в 15:00, Анна, 8 913 123-45-67",
            date(2026, 12, 4),
            time(15),
            None,
            None,
            id="booking-with-phone",
        ),
        pytest.param(
            "Анна +7 (913) 123-45-67, в субботу в 11",
            date(2026, 12, 5),
            time(11),
            None,
            None,
            id="phone-first",
        ),
        pytest.param(
            "нет, давайте в субботу",
            date(2026, 12, 5),
            None,
            None,
            None,
            id="correction",
        ),
        pytest.param(
            "в субботу в 11",
            date(2026, 12, 5),
            time(11),
            None,
            None,
            id="saturday-at-11",
        ),
        pytest.param(
            "Сегодня в 9",
            date(2026, 12, 3),
            time(9),
            None,
            None,
            id="past-time-is-kept",
        ),
        pytest.param(
            "в пятницу, 5 декабря",
            date(2026, 12, 5),
            None,
            None,
            None,
            id="calendar-date-outranks-weekday",
        ),
        pytest.param(
            "не завтра, а послезавтра с утра",
            date(2026, 12, 5),
            None,
            time(9),
            time(12),
            id="last-day-wins",
        ),
        pytest.param(
            "15 декабря к 10:30",
            date(2026, 12, 15),
            time(10, 30),
            None,
            None,
            id="month-name-and-time",
        ),
        pytest.param(
            "через 2 часа",
            date(2026, 12, 3),
            time(12),
            None,
            None,
            id="in-two-hours",
        ),
        pytest.param(
            "доброе утро, можно завтра?",
            date(2026, 12, 4),
            None,
            None,
            None,
            id="greeting-is-not-morning",
        ),
        pytest.param(
            "  ЗАВТРА   ПОСЛЕ   ОБЕДА!!! ",
            date(2026, 12, 4),
            None,
            time(14),
            None,
            id="upper-case-and-spaces",
        ),
    ],
)
def test_combinations(
    text: str, day: date, exact: time | None, after: time | None, before: time | None
) -> None:
    found = parse_when(text, THURSDAY)

    assert found is not None
    assert (found.date_from, found.date_to) == (day, day)
    assert (found.exact_time, found.time_from, found.time_to) == (exact, after, before)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("маникюр", id="service"),
        pytest.param("Анна", id="name"),
        pytest.param("привет", id="greeting"),
        pytest.param("", id="empty"),
        pytest.param("8 913 123-45-67", id="phone-8"),
        pytest.param("+7 913 123 45 67", id="phone-plus7"),
        pytest.param("89131234567", id="phone-digits"),
        pytest.param("стоит 1500 руб", id="price"),
        pytest.param("до 1 500 р.", id="price-with-until"),
        pytest.param("скидка 15%", id="percent"),
        pytest.param("в 2 раза дешевле", id="times-cheaper"),
        pytest.param("нас будет 3 человека", id="people-count"),
        pytest.param("маникюр и 2 дизайна", id="number-in-sentence"),
        pytest.param("на 2 часа", id="duration"),
        pytest.param("раз в неделю", id="per-week"),
        pytest.param("0", id="zero"),
        pytest.param("24", id="not-an-hour"),
        pytest.param("32.12", id="impossible-date"),
        pytest.param("с днём рождения", id="birthday"),
        pytest.param("добрый вечер", id="good-evening"),
    ],
)
def test_text_without_a_day_or_time_gives_none(text: str) -> None:
    assert parse_when(text, THURSDAY) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("15", time(15), id="hour"),
        pytest.param(" 18. ", time(18), id="hour-with-punctuation"),
        pytest.param("3", time(15), id="small-hour-is-pm"),
    ],
)
def test_a_bare_number_is_a_time_only_as_the_whole_message(
    text: str, expected: time
) -> None:
    assert _times(text) == (expected, None, None)


def test_a_bare_number_inside_a_sentence_is_ignored() -> None:
    assert parse_when("хочу 15", THURSDAY) is None


@pytest.mark.parametrize(
    ("text", "first", "exact"),
    [
        pytest.param("15.12", date(2026, 12, 15), None, id="valid-date-is-a-date"),
        pytest.param("на 15.12", date(2026, 12, 15), None, id="na-keeps-a-date"),
        pytest.param("в 15.12", None, time(15, 12), id="v-makes-a-time"),
        pytest.param("завтра 15.30", date(2026, 12, 4), time(15, 30), id="not-a-date"),
        pytest.param("15/10", date(2027, 10, 15), None, id="slash-is-a-date"),
    ],
)
def test_dotted_numbers_follow_the_documented_rule(
    text: str, first: date | None, exact: time | None
) -> None:
    found = parse_when(text, THURSDAY)

    assert found is not None
    assert (found.date_from, found.exact_time) == (first, exact)


@pytest.mark.parametrize(
    ("now", "text", "first", "last"),
    [
        pytest.param(FRIDAY_EVENING, "в пятницу", date(2026, 12, 4), None, id="fri"),
        pytest.param(
            FRIDAY_EVENING, "в следующую пятницу", date(2026, 12, 11), None, id="n-fri"
        ),
        pytest.param(FRIDAY_EVENING, "в пн", date(2026, 12, 7), None, id="fri-mon"),
        pytest.param(
            FRIDAY_EVENING,
            "на этой неделе",
            date(2026, 12, 4),
            date(2026, 12, 6),
            id="fri-this-week",
        ),
        pytest.param(
            SUNDAY, "на выходных", date(2026, 12, 6), None, id="sunday-weekend"
        ),
        pytest.param(
            SUNDAY, "в субботу", date(2026, 12, 12), None, id="sunday-saturday"
        ),
        pytest.param(
            SUNDAY,
            "на следующей неделе",
            date(2026, 12, 7),
            date(2026, 12, 13),
            id="sunday-next-week",
        ),
        pytest.param(
            LATE_DECEMBER, "15.12", date(2027, 12, 15), None, id="dd.mm-rolls-over"
        ),
        pytest.param(
            LATE_DECEMBER,
            "15 декабря",
            date(2027, 12, 15),
            None,
            id="month-name-rolls-over",
        ),
        pytest.param(
            LATE_DECEMBER, "15-го", date(2027, 1, 15), None, id="day-rolls-over"
        ),
        pytest.param(LATE_DECEMBER, "5.01", date(2027, 1, 5), None, id="january-dd.mm"),
        pytest.param(
            NEW_YEARS_EVE, "31.12", date(2026, 12, 31), None, id="today-dd.mm"
        ),
        pytest.param(
            NEW_YEARS_EVE, "завтра", date(2027, 1, 1), None, id="tomorrow-new-year"
        ),
        pytest.param(
            NEW_YEARS_EVE,
            "через неделю",
            date(2027, 1, 7),
            None,
            id="week-over-new-year",
        ),
        pytest.param(
            NEW_YEARS_EVE,
            "29 февраля",
            date(2028, 2, 29),
            None,
            id="leap-day",
        ),
    ],
)
def test_other_clocks(now: datetime, text: str, first: date, last: date | None) -> None:
    assert _days(text, now) == (first, last or first)


def test_span_covers_the_expressions_in_the_original_text() -> None:
    text = "Запишите на маникюр Завтра в 15:00, Анна, 8 913 123-45-67"

    found = parse_when(text, THURSDAY)

    assert found is not None
    assert found.text == "Завтра в 15:00"
    assert text[found.start : found.end] == found.text


def test_yo_and_ye_are_the_same() -> None:
    with_yo = parse_when("Днём", THURSDAY)
    with_ye = parse_when("днем", THURSDAY)

    assert with_yo is not None and with_ye is not None
    assert (with_yo.time_from, with_yo.time_to) == (time(12), time(17))
    assert (with_ye.time_from, with_ye.time_to) == (time(12), time(17))
    assert with_yo.text == "Днём"


def test_days_are_read_in_the_timezone_of_now() -> None:
    # 03:00 on 4 December in Omsk is still 3 December in UTC.
    early = datetime(2026, 12, 4, 3, 0, tzinfo=OMSK)

    assert _days("сегодня", early) == (date(2026, 12, 4), date(2026, 12, 4))
    assert _days("сегодня", early.astimezone(timezone.utc)) == (
        date(2026, 12, 3),
        date(2026, 12, 3),
    )


def test_naive_now_is_rejected() -> None:
    with pytest.raises(ValueError):
        parse_when("завтра", datetime(2026, 12, 3, 10, 0))


@pytest.mark.parametrize(
    ("text", "today", "expected"),
    [
        pytest.param("завтра после 15", THURSDAY, "завтра после 15:00", id="tomorrow"),
        pytest.param(
            "4 декабря утром", None, "в пятницу, 4 декабря, утром", id="no-today"
        ),
        pytest.param(
            "15.12 в 14:30", THURSDAY, "во вторник, 15 декабря, в 14:30", id="d"
        ),
        pytest.param("с 12 до 14", THURSDAY, "с 12:00 до 14:00", id="window"),
        pytest.param("до обеда", THURSDAY, "до 12:00", id="until"),
        pytest.param("сегодня вечером", THURSDAY, "сегодня вечером", id="tonight"),
        pytest.param(
            "на выходных", THURSDAY, "в выходные, 5 и 6 декабря", id="weekend"
        ),
        pytest.param(
            "на следующей неделе днём",
            THURSDAY,
            "с 7 по 13 декабря днём",
            id="next-week",
        ),
        pytest.param(
            "1 января в 10:00",
            THURSDAY,
            "в пятницу, 1 января 2027 года, в 10:00",
            id="next-year",
        ),
    ],
)
def test_describe(text: str, today: datetime | None, expected: str) -> None:
    found = parse_when(text, THURSDAY)

    assert found is not None
    assert found.describe(today.date() if today else None) == expected


def test_preference_is_a_frozen_value() -> None:
    found = parse_when("завтра", THURSDAY)

    assert isinstance(found, WhenPreference)
    with pytest.raises(AttributeError):
        found.date_from = None  # type: ignore[misc]

"""Reading of a client's free Russian text about when they want a visit.

`parse_when` turns a message such as "завтра после 15" or "15.12 в 14:30" into a
`WhenPreference`: a range of acceptable days and either a precise clock time or a
window of start times, all in the wall-clock time of the business (the tzinfo of the
``now`` the caller passes; the parser never reads the system clock).

How the work is split. A small regex layer over the lower-cased text (``ё`` read as
``е``) finds the candidate expressions and claims their character spans, so a span
used once is never read twice; phone numbers, prices, percentages and greetings such
as "доброе утро" are claimed first as noise. dateparser (``languages=["ru"]``) then
resolves the expressions it gets right: "сегодня", "завтра", "послезавтра",
"через 2 дня", "через две недели", "через месяц", "через 2 часа", and the day and
month of "15 декабря" / "3 дек." / "1 мая 2027". The rest is computed here, because
dateparser 1.2.0 answers it wrongly (checked against its output):

- "15.12" is read by dateparser as 15:12 today, and "15.12.26" with
  ``PREFER_DATES_FROM="future"`` as 2126; numeric dates are read here.
- a month-name date on the current day ("3 декабря" on 3 December) is moved by
  dateparser to next year; the year of a month-name date without a year is chosen
  here (the first such day today or later).
- a weekday equal to today ("четверг" on a Thursday) is moved by dateparser to next
  week, and "следующий вторник" is not understood; weekdays are resolved here.
- parts of the day ("утром", "после обеда") and windows ("с 12 до 14") are not
  modelled by dateparser at all.

Rules for ambiguous text:

- A weekday ("в пятницу", "на пт") is the nearest such day, today included; with
  "следующий"/"будущий" it is that weekday of next calendar week (Monday to Sunday).
  "на выходных" is the nearest Saturday-Sunday still ahead (only Sunday when today is
  Sunday); "на следующих выходных" is the weekend of next calendar week.
  "на этой неделе" is today to Sunday, "на следующей неделе" next Monday to Sunday.
- A date without a year ("15.12", "15 декабря", "1 января") is its first occurrence
  today or later; "15-го" / "15 числа" is the next 15th of a month, today included.
- "D.M" is a date when it is a valid day and month, otherwise a time when it is a
  valid "H.MM" ("завтра 15.30"). After "в", "к", "около", "после", "с", "от", "до"
  a valid "H.MM" is always a time: "в 15.12" is 15:12, "на 15.12" is 15 December.
  "D/M" is always a date. "с 15.12 по 20.12" (or with a dash) is a range of dates,
  "с 10.30 до 12.30" a window of times.
- A bare hour ("в 3", "после 5", "с 2 до 6") is ambiguous: with a morning word in
  the message it stays as said, with a later part of the day ("вечером", "после
  обеда") an hour below 12 gets 12 added, and otherwise hours 1-7 are read as
  afternoon (13:00-19:00) because service businesses are closed at night. Times with
  minutes ("7:30") or with "утра"/"дня"/"вечера"/"ночи" are taken as written.
- "в", "к", "на" (only with minutes), "около" and a bare "15:00" give an exact time;
  "после", "с", "от", "не раньше" a ``time_from``; "до", "не позже" a ``time_to``.
- Parts of the day: "утром", "с утра", "пораньше" 09:00-12:00; "днём" 12:00-17:00;
  "в обед" 12:00-14:00, so "до обеда" is before 12:00 and "после обеда" from 14:00;
  "вечером" 17:00-21:00; "попозже" from 17:00; "после работы" from 18:00;
  "в первой/второй половине дня" before/from 13:00; "в полдень" exactly 12:00.
- A message that is only a number from 1 to 23 ("15") is an exact time, with the
  bare-hour rule above ("3" is 15:00); a number anywhere else is ignored.
- When several day expressions are found the last one wins, except that an explicit
  calendar date outranks any weekday or relative word ("в пятницу, 5 декабря" is
  5 December even though that is a Saturday). An exact time wins over windows, and a preference carries either an
  exact time or a window, never both; several windows are intersected ("утром после
  10" is 10:00-12:00), or the last one wins if they do not overlap.
- Past days and times are not rejected here: "сегодня в 9" said at 10:00 is today
  09:00, and the schedule explains that it has passed.

Cost: dateparser loads its Russian data on first use (about 0.1 s; `warm_up` does it
at server start); after that a call takes about 1 ms with one dateparser lookup and
well under 0.1 ms without one.

Known limit: hours spelled as words ("в три", "в половине пятого"), a month without a
day ("в январе"), "до 15 декабря" (read as that one day), "в 15-16" and alternatives
("в субботу или воскресенье", read as the last one) are not understood; lifts when
the NLU pipeline extracts them as entities.
"""

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import dateparser

from business.russian import MONTHS_GENITIVE, ON_WEEKDAY

__all__ = ["WhenPreference", "parse_when", "warm_up"]

_WEEKDAY_PHRASES = ON_WEEKDAY
_NAMED_WINDOWS: dict[tuple[time | None, time | None], str] = {
    (time(9), time(12)): "утром",
    (time(12), time(17)): "днём",
    (time(17), time(21)): "вечером",
}


@dataclass(frozen=True)
class WhenPreference:
    """When a client wants a visit; ``None`` fields carry no constraint."""

    date_from: date | None
    date_to: date | None
    time_from: time | None
    time_to: time | None
    exact_time: time | None
    start: int
    end: int
    text: str

    def describe(self, today: date | None = None) -> str:
        """Say the preference in Russian, e.g. "в пятницу, 4 декабря, утром".

        With ``today`` given, the nearest days are named "сегодня", "завтра" and
        "послезавтра", and a year other than the current one is spelled out.
        """
        day = self._describe_days(today)
        clock = self._describe_time()
        if day and clock:
            glue = ", " if day.startswith((*_WEEKDAY_PHRASES, "в выходные")) else " "
            return f"{day}{glue}{clock}"
        return day or clock

    def _describe_days(self, today: date | None) -> str:
        first, last = self.date_from, self.date_to
        if first is None:
            return f"по {_day_month(last, today)}" if last is not None else ""
        if last is None:
            return f"с {_day_month(first, today)}"

        if last == first:
            relative = _relative_day_word(first, today)
            if relative:
                return relative
            weekday = _WEEKDAY_PHRASES[first.weekday()]
            return f"{weekday}, {_day_month(first, today)}"
        same_month = (first.year, first.month) == (last.year, last.month)
        first_text = str(first.day) if same_month else _day_month(first, today)
        if first.weekday() == 5 and last == first + timedelta(days=1):
            return f"в выходные, {first_text} и {_day_month(last, today)}"
        return f"с {first_text} по {_day_month(last, today)}"

    def _describe_time(self) -> str:
        if self.exact_time is not None:
            return f"в {_clock(self.exact_time)}"
        named = _NAMED_WINDOWS.get((self.time_from, self.time_to))
        if named:
            return named
        if self.time_from is not None and self.time_to is not None:
            return f"с {_clock(self.time_from)} до {_clock(self.time_to)}"
        if self.time_from is not None:
            return f"после {_clock(self.time_from)}"
        if self.time_to is not None:
            return f"до {_clock(self.time_to)}"
        return ""


def _relative_day_word(day: date, today: date | None) -> str:
    if today is None:
        return ""
    return {0: "сегодня", 1: "завтра", 2: "послезавтра"}.get((day - today).days, "")


def _day_month(day: date, today: date | None) -> str:
    text = f"{day.day} {MONTHS_GENITIVE[day.month - 1]}"
    if today is not None and day.year != today.year:
        text += f" {day.year} года"
    return text


def _clock(value: time) -> str:
    return f"{value.hour}:{value.minute:02d}"


@dataclass(frozen=True)
class _Clock:
    """A time of day as said; a bare hour ("в 3") may still mean 03:00 or 15:00."""

    hour: int
    minute: int = 0
    ambiguous: bool = False


@dataclass
class _Found:
    """One expression found in the text and what it says."""

    start: int
    end: int
    date_from: date | None = None
    date_to: date | None = None
    calendar: bool = False
    exact: _Clock | None = None
    time_from: _Clock | None = None
    time_to: _Clock | None = None
    day_part: bool = False


@dataclass(frozen=True)
class _Context:
    text: str
    now: datetime
    today: date
    midnight: datetime


# --- patterns --------------------------------------------------------------------

_MONTH = r"(?:янв|фев|мар|апр|ма[йяе]|июн|июл|авг|сен|окт|ноя|дек)[а-я]*\.?"
_EXACT_PREPS = ("в", "во", "к", "на", "около", "примерно в")
_FROM_PREPS = ("после", "с", "со", "от", "не раньше", "не раньше чем")
_TO_PREPS = ("до", "не позже", "не позднее", "не позже чем", "не позднее чем")
_PREP = (
    r"(?P<prep>в|во|к|на|около|примерно\s+в|после|со|с|от|до"
    r"|не\s+(?:раньше|позже|позднее)(?:\s+чем)?)"
)
_QUALIFIER = (
    r"(?:\s*(?:ч\b\.?|час(?:а|ов)?\b))?(?:\s+(?P<q{n}>утра|дня|вечера|ночи)\b)?"
)
# Words after a number that make it a count or a price rather than an hour.
_NOT_AN_HOUR = (
    r"(?!\s*(?:раз|руб|р\b|₽|%|мин|шт|чел|лет|год|дн|дет|реб|подруг|процент|тыс"
    r"|процедур|сеанс|этаж|кабинет|зал|числ|недел|нед\b|месяц|мес\b|кг|см|мм|мл"
    r"|гр|г\b|км|м\b|балл|фото|пальц|ногт|зуб|-|" + _MONTH + r"))"
)
_NO_DIGIT_BEFORE = r"(?<![\d.,:/+\-])"
_NO_DIGIT_AFTER = r"(?!\d|[.,:/]\d)"

_NOISE = re.compile(
    # Phone numbers, then prices and percentages, then greetings.
    r"\+?\d(?:[\s\-()]*\d){6,}"
    r"|\d{1,3}(?:\s\d{3})*(?:[.,]\d+)?\s*(?:руб\w*|р\.|₽|тыс\w*|%)"
    r"|\b(?:доброе\s+утро|доброго\s+утра|с\s+добрым\s+утром|добрый\s+(?:день|вечер)"
    r"|доброго\s+(?:дня|вечера)|хорошего\s+(?:дня|вечера)|днем\s+рождени\w+"
    r"|день\s+рождени\w+)\b"
)
_DATE_RANGE = re.compile(
    r"\b(?:с|со|от)\s+(?P<d1>\d{1,2})(?:-?го)?\s*(?:(?P<m1>" + _MONTH + r")\s*)?"
    r"(?:по|до|-|–|—)\s*(?P<d2>\d{1,2})(?:-?го)?\s+(?P<m2>" + _MONTH + r")"
    r"|\b(?:с|со|от)\s+(?P<d3>\d{1,2})[./](?P<n3>\d{1,2})\s*(?:по|-|–|—)\s*"
    r"(?P<d4>\d{1,2})[./](?P<n4>\d{1,2})" + _NO_DIGIT_AFTER
)
_TIME_RANGE = re.compile(
    r"(?:\b(?:с|со|от|между)\s+)(?P<h1>\d{1,2})(?:(?P<s1>[:.])(?P<m1>\d{2}))?"
    + _QUALIFIER.format(n=1)
    + r"\s*(?P<link>до|по|и|-|–|—)\s*(?P<h2>\d{1,2})(?:(?P<s2>[:.])(?P<m2>\d{2}))?"
    + _QUALIFIER.format(n=2)
    + _NO_DIGIT_AFTER
    + _NOT_AN_HOUR
    + r"|"
    + _NO_DIGIT_BEFORE
    + r"(?P<h3>\d{1,2}):(?P<m3>\d{2})\s*(?:-|–|—)\s*(?P<h4>\d{1,2}):(?P<m4>\d{2})(?!\d)"
)
_AFTER_PERIOD = re.compile(
    r"\bчерез\s+(?:(?:\d{1,3}|[а-я]+)\s+)?"
    r"(?:дн(?:я|ей)|день|недел[юиь]\w*|месяц\w*|час(?:а|ов)?|полчаса|минут\w*)\b"
)
_MONTH_DATE = re.compile(
    r"\b(?P<day>\d{1,2})(?:-?го|-е)?\s+(?P<month>" + _MONTH + r")"
    r"(?:\s+(?P<year>\d{4})(?:\s*(?:г\b\.?|года\b))?)?"
)
_NUMERIC_DATE = re.compile(
    r"(?:\b(?P<prep>в|во|к|около|после|со|с|от|до)\s+)?"
    + _NO_DIGIT_BEFORE
    + r"(?P<a>\d{1,2})(?P<sep>[./])(?P<b>\d{1,2})(?:(?P=sep)(?P<year>\d{4}|\d{2}))?"
    + _NO_DIGIT_AFTER
)
_DAY_OF_MONTH = re.compile(
    _NO_DIGIT_BEFORE + r"\b(?P<day>\d{1,2})(?:-?го\b|-е\b|\s+числ[аоу]\b)"
)
_RELATIVE_DAY = re.compile(r"\b(?:сегодня|послезавтра|завтра)\b")
_WHICH = r"эт\w*|текущ\w*|следующ\w*|след\w*|будущ\w*|ближайш\w*"
_WEEK = re.compile(
    # "в неделю" alone is "per week" ("раз в неделю"), so a bare week needs "на неделе".
    r"\b(?:на|в|во)\s+(?P<which>" + _WHICH + r")\s+(?P<what>недел[еюи])\b"
    r"|\bна\s+(?P<what3>неделе)\b"
    r"|\b(?:(?:на|в|во)\s+)?(?:(?P<which2>" + _WHICH + r")\s+)?"
    r"(?P<what2>выходн(?:ые|ых))\b"
)
_WEEKDAY = re.compile(
    r"\b(?:(?:в|во|на|к|по)\s+)?(?:(?P<which>эт\w*|следующ\w*|след\w*|будущ\w*"
    r"|ближайш\w*)\s+)?(?P<day>понедельник\w*|вторник\w*|сред[аеуы]|четверг\w*"
    r"|пятниц\w*|суббот\w*|воскресень\w*|пн|вт|ср|чт|пт|сб|вс)\b"
)
_WEEKDAY_STEMS = ("пон", "вт", "ср", "ч", "пя", "су", "вос")
_WEEKDAY_SHORT = ("пн", "вт", "ср", "чт", "пт", "сб", "вс")
_DAY_PARTS = [
    (r"в\s+первой\s+половине\s+дня", None, time(13)),
    (r"во\s+второй\s+половине\s+дня", time(13), None),
    (r"до\s+обеда", None, time(12)),
    (r"после\s+обеда", time(14), None),
    (r"(?:в|на)\s+обед|в\s+обеденное\s+время", time(12), time(14)),
    (r"до\s+вечера", None, time(17)),
    (r"после\s+работы", time(18), None),
    (r"с\s+(?:самого\s+)?утра|утром|утречком|пораньше|на\s+утро", time(9), time(12)),
    (r"в\s+течени[ие]\s+дня|днем", time(12), time(17)),
    (
        r"вечером|вечерком|под\s+вечер|ближе\s+к\s+вечеру|на\s+вечер",
        time(17),
        time(21),
    ),
    (r"попозже|попозднее", time(17), None),
]
_DAY_PART = re.compile(
    "|".join(
        rf"\b(?P<p{i}>{pattern})\b" for i, (pattern, _, _) in enumerate(_DAY_PARTS)
    )
)
_NOON = re.compile(r"\b(?:в\s+)?полдень\b")
_COLON_TIME = re.compile(
    r"(?:\b"
    + _PREP
    + r"\s+)?"
    + _NO_DIGIT_BEFORE
    + r"(?P<h>\d{1,2}):(?P<m>\d{2})(?!\d)"
)
_HOUR = re.compile(
    r"\b"
    + _PREP.replace("|на|", "|")
    + r"\s+(?P<h>\d{1,2})"
    + _NO_DIGIT_AFTER
    + r"(?:\s*(?:ч\b\.?|час(?:а|ов)?\b))?(?:\s+(?P<q>утра|дня|вечера|ночи)\b)?"
    + _NOT_AN_HOUR
    + r"|"
    + _NO_DIGIT_BEFORE
    + r"\b(?P<h2>\d{1,2})(?:\s*(?:ч\b\.?|час(?:а|ов)?\b)\s+(?P<q2>дня)"
    r"|(?:\s*(?:ч\b\.?|час(?:а|ов)?\b))?\s+(?P<q3>утра|вечера|ночи))\b"
)
_BARE_NUMBER = re.compile(r"^[\s.,!?]*(?P<h>\d{1,2})[\s.,!?]*$")


# --- public API --------------------------------------------------------------------


def parse_when(text: str, now: datetime) -> WhenPreference | None:
    """Read when the client wants a visit, or ``None`` if the text names no day or time.

    ``now`` must be timezone-aware and in the business's timezone; days and times are
    read and returned in its wall-clock time. ``start``/``end``/``text`` cover every
    expression used, from the first to the last.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("parse_when needs a timezone-aware now")

    lowered = _normalise(text)
    local = now.replace(tzinfo=None)
    ctx = _Context(
        text=lowered,
        now=local,
        today=local.date(),
        midnight=datetime.combine(local.date(), time()),
    )
    found = _scan(ctx)
    if not found:
        return None

    date_from, date_to = _choose_days(found)
    exact, time_from, time_to = _choose_time(found)
    start = min(item.start for item in found)
    end = max(item.end for item in found)
    return WhenPreference(
        date_from=date_from,
        date_to=date_to,
        time_from=time_from,
        time_to=time_to,
        exact_time=exact,
        start=start,
        end=end,
        text=text[start:end],
    )


def warm_up() -> None:
    """Load dateparser's Russian data now, so the first client does not wait for it.

    The first dateparser call takes about 0.1 s; call this once at server start.
    """
    base = datetime(2000, 1, 1)
    for expr, prefer in (
        ("завтра", "future"),
        ("через 2 дня", "future"),
        ("3 декабря", "current_period"),
    ):
        _dateparser(expr, base, prefer)


# --- scanning ----------------------------------------------------------------------


def _normalise(text: str) -> str:
    # Per character, so that offsets in the result are offsets in the original.
    chars = []
    for char in text:
        lower = char.lower()
        chars.append(lower if len(lower) == 1 else char)
    return "".join(chars).replace("ё", "е")


def _scan(ctx: _Context) -> list[_Found]:
    taken: list[tuple[int, int]] = []
    found: list[_Found] = []

    def free(start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e in taken)

    for match in _NOISE.finditer(ctx.text):
        taken.append(match.span())

    readers = (
        (_DATE_RANGE, _read_date_range),
        (_TIME_RANGE, _read_time_range),
        (_AFTER_PERIOD, _read_after_period),
        (_MONTH_DATE, _read_month_date),
        (_NUMERIC_DATE, _read_numeric_date),
        (_DAY_OF_MONTH, _read_day_of_month),
        (_RELATIVE_DAY, _read_relative_day),
        (_WEEK, _read_week),
        (_WEEKDAY, _read_weekday),
        (_DAY_PART, _read_day_part),
        (_NOON, _read_noon),
        (_COLON_TIME, _read_colon_time),
        (_HOUR, _read_hour),
        (_BARE_NUMBER, _read_bare_number),
    )
    for pattern, reader in readers:
        for match in pattern.finditer(ctx.text):
            if not free(*match.span()):
                continue
            item = reader(match, ctx)
            if item is not None:
                taken.append((item.start, item.end))
                found.append(item)

    found.sort(key=lambda item: item.start)
    return found


def _dateparser(expr: str, base: datetime, prefer: str) -> datetime | None:
    # The base is always a midnight: dateparser keeps every distinct settings dict
    # in a process-wide registry, so a base with seconds would grow it per message.
    return dateparser.parse(
        expr,
        languages=["ru"],
        settings={
            "RELATIVE_BASE": base,
            "PREFER_DATES_FROM": prefer,
            "DATE_ORDER": "DMY",
            "RETURN_AS_TIMEZONE_AWARE": False,
        },
    )


def _next_occurrence(day: int, month: int, today: date) -> date | None:
    """The first day with this day and month that is today or later."""
    for year in range(today.year, today.year + 9):
        try:
            candidate = date(year, month, day)
        except ValueError:
            continue
        if candidate >= today:
            return candidate
    return None


def _single_day(match: re.Match[str], day: date) -> _Found:
    return _Found(*match.span(), date_from=day, date_to=day)


def _read_date_range(match: re.Match[str], ctx: _Context) -> _Found | None:
    if match["d3"] is not None:
        first_month, last_month = int(match["n3"]), int(match["n4"])
        if not (1 <= first_month <= 12 and 1 <= last_month <= 12):
            return None
    else:
        last = _dateparser(f"{match['d2']} {match['m2']}", ctx.midnight, "future")
        if last is None:
            return None
        first_month = last_month = last.month
        if match["m1"]:
            first = _dateparser(f"{match['d1']} {match['m1']}", ctx.midnight, "future")
            if first is None:
                return None
            first_month = first.month

    first_day = _next_occurrence(
        int(match["d1"] or match["d3"]), first_month, ctx.today
    )
    if first_day is None:
        return None
    last_day = _next_occurrence(int(match["d2"] or match["d4"]), last_month, first_day)
    if last_day is None:
        return None
    return _Found(*match.span(), date_from=first_day, date_to=last_day, calendar=True)


def _read_time_range(match: re.Match[str], ctx: _Context) -> _Found | None:
    if match["h3"] is not None:
        first = _make_clock(match["h3"], match["m3"], None)
        last = _make_clock(match["h4"], match["m4"], None)
    else:
        dotted = "." in (match["s1"] or "", match["s2"] or "")
        if dotted and match["link"] == "по":
            return None  # "с 10.12 по 15.12" is a range of dates
        first = _make_clock(match["h1"], match["m1"], match["q1"])
        last = _make_clock(match["h2"], match["m2"], match["q2"])
    if first is None or last is None:
        return None
    return _Found(*match.span(), time_from=first, time_to=last)


def _read_after_period(match: re.Match[str], ctx: _Context) -> _Found | None:
    parsed = _dateparser(match[0], ctx.midnight, "future")
    if parsed is None:
        return None
    if "час" in match[0] or "мин" in match[0]:
        moment = ctx.now + (parsed - ctx.midnight)
        clock = _Clock(moment.hour, moment.minute)
        return _Found(
            *match.span(), date_from=moment.date(), date_to=moment.date(), exact=clock
        )
    return _single_day(match, parsed.date())


def _read_month_date(match: re.Match[str], ctx: _Context) -> _Found | None:
    expr = f"{match['day']} {match['month']} {match['year'] or ''}".strip()
    parsed = _dateparser(expr, ctx.midnight, "current_period")
    if parsed is None:
        return None
    if match["year"]:
        day = parsed.date()
    else:
        upcoming = _next_occurrence(parsed.day, parsed.month, ctx.today)
        if upcoming is None:
            return None
        day = upcoming
    return _Found(*match.span(), date_from=day, date_to=day, calendar=True)


def _read_numeric_date(match: re.Match[str], ctx: _Context) -> _Found | None:
    a, b, year = int(match["a"]), int(match["b"]), match["year"]
    as_time = _Clock(a, b) if a <= 23 and b <= 59 and len(match["b"]) == 2 else None
    if match["sep"] == "." and year is None and as_time is not None and match["prep"]:
        return _clock_with_prep(match, match["prep"], as_time)

    day: date | None
    if year is not None:
        full_year = int(year) + (2000 if len(year) == 2 else 0)
        try:
            day = date(full_year, b, a)
        except ValueError:
            day = None
    else:
        day = _next_occurrence(a, b, ctx.today) if 1 <= b <= 12 else None
    if day is not None:
        start = match.start("a")
        return _Found(start, match.end(), date_from=day, date_to=day, calendar=True)
    if match["sep"] == "." and year is None and as_time is not None:
        return _clock_with_prep(match, match["prep"], as_time)
    return None


def _read_day_of_month(match: re.Match[str], ctx: _Context) -> _Found | None:
    wanted = int(match["day"])
    if not 1 <= wanted <= 31:
        return None
    year, month = ctx.today.year, ctx.today.month
    for _ in range(13):
        try:
            candidate = date(year, month, wanted)
        except ValueError:
            candidate = None
        if candidate is not None and candidate >= ctx.today:
            return _single_day(match, candidate)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return None


def _read_relative_day(match: re.Match[str], ctx: _Context) -> _Found | None:
    parsed = _dateparser(match[0], ctx.midnight, "future")
    if parsed is None:
        return None
    return _single_day(match, parsed.date())


def _read_week(match: re.Match[str], ctx: _Context) -> _Found | None:
    which = match["which"] or match["which2"] or ""
    what = match["what"] or match["what2"] or match["what3"]
    later = which.startswith(("след", "будущ"))
    today = ctx.today
    next_monday = today + timedelta(days=7 - today.weekday())

    if what.startswith("недел"):
        if later:
            first, last = next_monday, next_monday + timedelta(days=6)
        else:
            first, last = today, next_monday - timedelta(days=1)
    elif later:
        first = next_monday + timedelta(days=5)
        last = first + timedelta(days=1)
    else:
        saturday = today + timedelta(days=(5 - today.weekday()) % 7)
        if today.weekday() == 6:
            first = last = today
        else:
            first, last = saturday, saturday + timedelta(days=1)
    return _Found(*match.span(), date_from=first, date_to=last)


def _read_weekday(match: re.Match[str], ctx: _Context) -> _Found | None:
    name = match["day"]
    if name in _WEEKDAY_SHORT:
        weekday = _WEEKDAY_SHORT.index(name)
    else:
        weekday = next(
            i for i, stem in enumerate(_WEEKDAY_STEMS) if name.startswith(stem)
        )
    today = ctx.today
    if (match["which"] or "").startswith(("след", "будущ")):
        next_monday = today + timedelta(days=7 - today.weekday())
        day = next_monday + timedelta(days=weekday)
    else:
        day = today + timedelta(days=(weekday - today.weekday()) % 7)
    return _single_day(match, day)


def _read_day_part(match: re.Match[str], ctx: _Context) -> _Found | None:
    index = next(i for i in range(len(_DAY_PARTS)) if match[f"p{i}"] is not None)
    _, first, last = _DAY_PARTS[index]
    return _Found(
        *match.span(),
        time_from=_Clock(first.hour) if first else None,
        time_to=_Clock(last.hour) if last else None,
        day_part=True,
    )


def _read_noon(match: re.Match[str], ctx: _Context) -> _Found | None:
    return _Found(*match.span(), exact=_Clock(12))


def _read_colon_time(match: re.Match[str], ctx: _Context) -> _Found | None:
    clock = _make_clock(match["h"], match["m"], None)
    if clock is None:
        return None
    return _clock_with_prep(match, match["prep"], clock)


def _read_hour(match: re.Match[str], ctx: _Context) -> _Found | None:
    if match["h"] is not None:
        clock = _make_clock(match["h"], None, match["q"])
        prep = match["prep"]
    else:
        clock = _make_clock(match["h2"], None, match["q2"] or match["q3"])
        prep = None
    if clock is None:
        return None
    return _clock_with_prep(match, prep, clock)


def _read_bare_number(match: re.Match[str], ctx: _Context) -> _Found | None:
    hour = int(match["h"])
    if not 1 <= hour <= 23:
        return None
    return _Found(*match.span("h"), exact=_Clock(hour, ambiguous=True))


def _make_clock(hour: str, minute: str | None, qualifier: str | None) -> _Clock | None:
    """A clock from the digits and the part-of-day word said with them."""
    h, m = int(hour), int(minute) if minute else 0
    if h > 23 or m > 59:
        return None
    if qualifier in ("дня", "вечера") and h < 12:
        h = h + 12 if qualifier == "вечера" or h <= 7 else h
    elif qualifier == "ночи":
        h = 0 if h == 12 else h + 12 if 6 <= h < 12 else h
    ambiguous = minute is None and qualifier is None
    return _Clock(h, m, ambiguous)


def _clock_with_prep(match: re.Match[str], prep: str | None, clock: _Clock) -> _Found:
    prep = " ".join(prep.split()) if prep else None
    start, end = match.span()
    if prep is None or prep in _EXACT_PREPS:
        return _Found(start, end, exact=clock)
    if prep in _FROM_PREPS:
        return _Found(start, end, time_from=clock)
    if prep in _TO_PREPS:
        return _Found(start, end, time_to=clock)
    raise AssertionError(f"unhandled preposition {prep!r}")


# --- combining ---------------------------------------------------------------------


def _choose_days(found: list[_Found]) -> tuple[date | None, date | None]:
    days = [item for item in found if item.date_from or item.date_to]
    if not days:
        return None, None
    calendar = [item for item in days if item.calendar]
    chosen = (calendar or days)[-1]
    return chosen.date_from, chosen.date_to


def _choose_time(
    found: list[_Found],
) -> tuple[time | None, time | None, time | None]:
    parts = [item for item in found if item.day_part]
    context = parts[-1] if parts else None

    exact = [item.exact for item in found if item.exact is not None]
    if exact:
        return _resolve(exact[-1], context), None, None

    window: tuple[time | None, time | None] | None = None
    for item in found:
        if item.time_from is None and item.time_to is None:
            continue
        first = _resolve(item.time_from, context) if item.time_from else None
        last = _resolve(item.time_to, context) if item.time_to else None
        if first is not None and last is not None and last <= first and last.hour < 12:
            last = last.replace(hour=last.hour + 12)  # "с 10 до 2" ends at 14:00
        window = (first, last) if window is None else _intersect(window, (first, last))
    if window is None:
        return None, None, None
    return None, window[0], window[1]


def _resolve(clock: _Clock, context: _Found | None) -> time:
    """Turn a clock as said into a time of day, reading bare hours by the context."""
    hour = clock.hour
    if not clock.ambiguous or hour >= 12:
        return time(hour, clock.minute)

    if context is not None:
        first = context.time_from.hour if context.time_from else 0
        last = context.time_to.hour if context.time_to else 24
        if last <= 13:
            return time(hour, clock.minute)  # a morning word: "утром в 7" is 07:00
        if first <= hour + 12 <= last:
            return time(hour + 12, clock.minute)  # "вечером в 8" is 20:00
        if first <= hour <= last:
            return time(hour, clock.minute)
    if 1 <= hour <= 7:
        hour += 12
    return time(hour, clock.minute)


def _intersect(
    old: tuple[time | None, time | None], new: tuple[time | None, time | None]
) -> tuple[time | None, time | None]:
    firsts = [value for value in (old[0], new[0]) if value is not None]
    lasts = [value for value in (old[1], new[1]) if value is not None]
    first = max(firsts) if firsts else None
    last = min(lasts) if lasts else None
    if first is not None and last is not None and first >= last:
        return new
    return first, last

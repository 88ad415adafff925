"""``python -m kpi_reports``: one period's KPI report as a table, JSON, CSV or HTML.

Every error (a bad date, a period that ends before it starts, a tracker store that is
missing, unreachable or empty, a broken profile) becomes one line on stderr and a
non-zero exit; the output file is written only once the whole report is ready. On a
terminal, stderr shows how many events have been read while a long scan runs.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import NoReturn, TextIO

from business.profile import DEFAULT_PROFILE, ProfileError, load_profile
from business.russian import plural
from kpi_reports.compare import with_comparison
from kpi_reports.engine import compute_report, refresh_summary
from kpi_reports.errors import ReportError
from kpi_reports.html import render_html
from kpi_reports.render import render_csv, render_json, render_table
from kpi_reports.wording import NBSP

DEFAULT_DB = "sqlite:///var/tracker.db"
PROG = "kpi_reports"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PROG}: error: {message}\n")


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _parser() -> _Parser:
    parser = _Parser(
        prog=f"python -m {PROG}",
        description="KPI report of the tracker store for whole days in the "
        "business timezone.",
    )
    parser.add_argument("--since", type=_day, help="first day, YYYY-MM-DD")
    parser.add_argument("--until", type=_day, help="last day (inclusive), YYYY-MM-DD")
    parser.add_argument(
        "--last-week",
        action="store_true",
        help="Monday to Sunday of the previous week in the business timezone",
    )
    parser.add_argument(
        "--last-14-days",
        action="store_true",
        help="the last 14 whole days, compared with the 14 days before them",
    )
    parser.add_argument(
        "--compare-since", type=_day, help="first day of the other period"
    )
    parser.add_argument(
        "--compare-until", type=_day, help="last day of the other period"
    )
    parser.add_argument(
        "--format", choices=("table", "json", "csv", "html"), default="table"
    )
    parser.add_argument(
        "--refresh",
        action="store_true",
        help="only bring the report summary up to date (for a timer), print nothing",
    )
    parser.add_argument("--output", type=Path, help="write to FILE instead of stdout")
    parser.add_argument(
        "--db",
        default=os.environ.get("TRACKER_STORE_URL") or DEFAULT_DB,
        help="tracker store URL (default: $TRACKER_STORE_URL or %(default)s)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=Path(os.environ.get("BUSINESS_PROFILE") or DEFAULT_PROFILE),
        help="business profile (default: $BUSINESS_PROFILE or business.yml)",
    )
    return parser


class _Progress:
    """Events read so far, rewritten in place on one terminal line."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.shown = False

    def __call__(self, rows: int) -> None:
        count = f"{rows:,}".replace(",", NBSP)
        words = plural(rows, "событие", "события", "событий")
        self.stream.write(f"\rпрочитано {count} {words}…")
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")  # back to the line start, erase to its end
            self.stream.flush()
            self.shown = False


def last_week(today: date) -> tuple[date, date]:
    """Monday and Sunday of the week before the one holding `today`."""
    monday = today - timedelta(days=today.weekday() + 7)
    return monday, monday + timedelta(days=6)


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.refresh:
        return _refresh(args)
    shortcuts = args.last_week + args.last_14_days
    if shortcuts > 1 or (shortcuts and (args.since or args.until)):
        parser.error("use one of --last-week, --last-14-days, or --since and --until")
    if not shortcuts and not (args.since and args.until):
        parser.error("give --since and --until, --last-week or --last-14-days")
    if bool(args.compare_since) != bool(args.compare_until):
        parser.error("give both --compare-since and --compare-until")
    if args.last_14_days and args.compare_since:
        parser.error("--last-14-days already compares with the 14 days before")

    # Pipes and files get no progress: scripts and tests read a clean stderr.
    progress = _Progress(sys.stderr) if sys.stderr.isatty() else None
    try:
        profile = load_profile(args.profile)
        today = profile.now().date()
        since, until = args.since, args.until
        other = (args.compare_since, args.compare_until)
        if args.last_week:
            since, until = last_week(today)
        elif args.last_14_days:
            since, until = today - timedelta(days=14), today - timedelta(days=1)
            other = (today - timedelta(days=28), today - timedelta(days=15))
        report = compute_report(args.db, profile, since, until, progress=progress)
        if other[0] is not None and other[1] is not None:
            previous = compute_report(
                args.db, profile, other[0], other[1], progress=progress
            )
            report = with_comparison(report, previous)
    except (ProfileError, ReportError) as error:
        return _fail(str(error))
    finally:
        if progress is not None:
            progress.clear()

    if args.format == "json":
        text = render_json(report)
    elif args.format == "csv":
        text = render_csv(report)
    elif args.format == "html":
        text = render_html(report, profile.name)
    else:
        text = render_table(report, profile.name)
    if args.output is None:
        sys.stdout.write(text)
        return 0
    try:
        partial = args.output.with_name(args.output.name + ".part")
        partial.write_text(text, encoding="utf-8")
        partial.replace(args.output)
    except OSError as error:
        return _fail(f"cannot write {args.output}: {error.strerror or error}")
    return 0


def _refresh(args: argparse.Namespace) -> int:
    progress = _Progress(sys.stderr) if sys.stderr.isatty() else None
    try:
        refresh_summary(args.db, load_profile(args.profile), progress)
    except (ProfileError, ReportError) as error:
        return _fail(str(error))
    finally:
        if progress is not None:
            progress.clear()
    return 0


def _fail(message: str) -> int:
    first = message.strip().splitlines()[0] if message.strip() else "failed"
    print(f"{PROG}: error: {first}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())

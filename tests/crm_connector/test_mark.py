"""`crm_connector mark` and `assign`: the CRM and the lead's event log move together."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, select

from conversation_log import ConversationLog
from conversation_log.append import EVENTS
from crm_connector import InvalidTransitionError, SqlCRM
from crm_connector.outcomes import next_manager, record_outcome
from tests.conftest import ROOT
from tests.crm_connector.helpers import booking


def log_with_conversation(url: str, sender: str = "conv-1") -> ConversationLog:
    engine = create_engine(url)
    EVENTS.metadata.create_all(engine)
    engine.dispose()
    log = ConversationLog(url)
    log.append_slots(sender, [("phone", "+79991234567")])
    return log


def slot_events(url: str, name: str) -> list[dict]:
    engine = create_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(
            select(EVENTS.c.data)
            .where(EVENTS.c.action_name == name)
            .order_by(EVENTS.c.id)
        ).all()
    engine.dispose()
    return [json.loads(data)["value"] for (data,) in rows]


def test_outcome_goes_to_the_crm_and_the_log(db_url):
    crm, log = SqlCRM(db_url), log_with_conversation(db_url)
    deal = crm.book(booking("k1"))

    done = record_outcome(
        crm, log, deal.id, "attended", amount=Decimal("2700"), manager_id="irina"
    )
    again = record_outcome(
        crm, log, deal.id, "attended", amount=Decimal("2700"), manager_id="irina"
    )

    assert done.changed and not again.changed
    assert crm.get_deal(deal.id).amount_paid == Decimal("2700.00")
    assert crm.get_deal(deal.id).manager_id == "irina"
    assert slot_events(db_url, "deal_manager") == [
        {"deal_id": deal.id, "manager_id": "irina"}
    ]
    (outcome,) = slot_events(db_url, "deal_outcome")
    assert outcome == {
        "deal_id": deal.id,
        "status": "attended",
        "amount": 2700.0,
        "manager_id": "irina",
        "source": "cli",
    }


def test_a_refused_mark_writes_nothing_anywhere(db_url):
    crm, log = SqlCRM(db_url), log_with_conversation(db_url)
    deal = crm.cancel(crm.book(booking("k1")).id)

    with pytest.raises(InvalidTransitionError):
        record_outcome(crm, log, deal.id, "attended")

    assert slot_events(db_url, "deal_outcome") == []
    assert crm.get_deal(deal.id).status == "cancelled"


@pytest.mark.parametrize(
    ("managers", "last", "expected"),
    [
        (["irina", "dmitry"], None, "irina"),
        (["irina", "dmitry"], "irina", "dmitry"),
        (["irina", "dmitry"], "dmitry", "irina"),
        (["irina", "dmitry"], "gone", "irina"),
        ([], "irina", None),
    ],
    ids=["first", "next", "wraps", "unknown-last", "no-managers"],
)
def test_round_robin(managers, last, expected):
    assert next_manager(managers, last) == expected


@pytest.fixture
def stores(tmp_path):
    crm_url = f"sqlite:///{tmp_path / 'crm.db'}"
    log_url = f"sqlite:///{tmp_path / 'tracker.db'}"
    crm = SqlCRM(crm_url)
    crm.book(booking("k1"))
    crm.close()
    log_with_conversation(log_url).close()
    return crm_url, log_url


def cli(stores, *args: str) -> subprocess.CompletedProcess:
    crm_url, log_url = stores
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "crm_connector",
            *args,
            "--db",
            crm_url,
            "--log",
            log_url,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "BUSINESS_PROFILE": str(ROOT / "business.yml")},
    )


def test_cli_marks_a_visit_once(stores):
    first = cli(
        stores, "mark", "1", "attended", "--amount", "1800", "--manager", "dmitry"
    )
    second = cli(
        stores, "mark", "1", "attended", "--amount", "1800", "--manager", "dmitry"
    )

    assert first.returncode == 0, first.stderr
    assert "пришёл (recorded)" in first.stdout
    assert "nothing changed" in second.stdout
    assert len(slot_events(stores[1], "deal_outcome")) == 1


def test_cli_no_show_later_marked_attended(stores):
    assert cli(stores, "mark", "1", "no_show").returncode == 0
    assert cli(stores, "mark", "1", "attended").returncode == 0

    statuses = [e["status"] for e in slot_events(stores[1], "deal_outcome")]
    assert statuses == ["no_show", "attended"]


def test_cli_reassigns(stores):
    done = cli(stores, "assign", "1", "irina")

    assert done.returncode == 0, done.stderr
    assert slot_events(stores[1], "deal_manager") == [
        {"deal_id": 1, "manager_id": "irina"}
    ]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("mark", "99", "attended"), 1, "no deal with id 99"),
        (("mark", "1", "attended", "--amount", "-5"), 2, "zero or more rubles"),
        (("mark", "1", "attended", "--amount", "много"), 2, "not an amount"),
        (("mark", "1", "came"), 2, "invalid choice"),
        (("mark", "1", "no_show", "--amount", "100"), 1, "only with 'attended'"),
        (("mark", "1", "attended", "--manager", "boss"), 1, "unknown manager 'boss'"),
        (("assign", "1", "boss"), 1, "unknown manager 'boss'"),
    ],
    ids=[
        "unknown-deal",
        "negative-amount",
        "garbage-amount",
        "unknown-outcome",
        "amount-on-no-show",
        "unknown-manager",
        "assign-unknown-manager",
    ],
)
def test_cli_bad_input_gets_one_line_and_writes_nothing(stores, args, code, message):
    done = cli(stores, *args)

    assert done.returncode == code
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert slot_events(stores[1], "deal_outcome") == []


def test_cli_mark_on_a_cancelled_deal(stores):
    cli(stores, "mark", "1", "cancelled")

    done = cli(stores, "mark", "1", "attended")

    assert done.returncode == 1
    assert done.stderr.strip() == "crm_connector: deal 1 is cancelled"


def test_cli_with_the_log_down_changes_nothing_in_the_crm(stores):
    crm_url, _ = stores
    down = (crm_url, "postgresql://postgres@127.0.0.1:1/test")

    done = cli(down, "mark", "1", "attended")

    assert done.returncode == 1
    assert "conversation log" in done.stderr and "Traceback" not in done.stderr
    assert SqlCRM(crm_url).get_deal(1).status == "booked"

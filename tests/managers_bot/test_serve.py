"""``python -m managers_bot serve``: off without a token, clear about bad settings,
and serving the webhook with the real process when configured."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from tests.e2e.harness import ROOT, free_port
from tests.managers_bot.conftest import MANAGERS_CHAT, TOKEN


def env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("MANAGERS_BOT_")}
    base.update(PYTHONPATH=str(ROOT), NO_PROXY="127.0.0.1,localhost", **extra)
    return base


def test_without_a_token_the_bot_is_off_and_says_so_once():
    done = subprocess.run(
        [sys.executable, "-m", "managers_bot", "serve"],
        env=env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0
    lines = [line for line in done.stderr.splitlines() if "managers_bot" in line]
    assert len(lines) == 1 and "off: MANAGERS_BOT_TOKEN is not set" in lines[0]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        pytest.param({}, "MANAGERS_BOT_CHAT_ID", id="no-chat-id"),
        pytest.param(
            {"MANAGERS_BOT_CHAT_ID": "managers"},
            "MANAGERS_BOT_CHAT_ID",
            id="chat-id-not-a-number",
        ),
        pytest.param(
            {"MANAGERS_BOT_CHAT_ID": "-1", "MANAGERS_BOT_PORT": "web"},
            "MANAGERS_BOT_PORT",
            id="port-not-a-number",
        ),
    ],
)
def test_bad_settings_are_one_line_and_exit_1(extra, message):
    done = subprocess.run(
        [sys.executable, "-m", "managers_bot", "serve"],
        env=env(MANAGERS_BOT_TOKEN=TOKEN, **extra),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 1
    assert done.stderr.startswith("managers_bot: error: ")
    assert message in done.stderr and TOKEN not in done.stderr


def test_the_process_sets_its_webhook_and_refuses_forged_calls(
    fake_api, stores, tmp_path
):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "managers_bot", "serve"],
        env=env(
            MANAGERS_BOT_TOKEN=TOKEN,
            MANAGERS_BOT_CHAT_ID=str(MANAGERS_CHAT),
            MANAGERS_BOT_API_URL=fake_api.url,
            MANAGERS_BOT_PORT=str(port),
            MANAGERS_BOT_WEBHOOK_URL="https://bot.example/telegram/webhook",
            MANAGERS_BOT_WEBHOOK_SECRET="the-secret",
            TRACKER_STORE_URL=stores["tracker"],
            CRM_DB_URL=stores["crm"],
        ),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        (hook,) = fake_api.wait_for("setWebhook")
        deadline = time.monotonic() + 30
        codes = {}
        while time.monotonic() < deadline and len(codes) < 2:
            for secret in ("the-secret", "forged"):
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/telegram/webhook",
                    data=b'{"update_id": 1}',
                    headers={
                        "Content-Type": "application/json",
                        "X-Telegram-Bot-Api-Secret-Token": secret,
                    },
                )
                try:
                    with urllib.request.urlopen(request, timeout=5) as response:
                        codes[secret] = response.status
                except urllib.error.HTTPError as error:
                    codes[secret] = error.code
                except urllib.error.URLError:
                    time.sleep(0.2)
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)

    assert hook.params["url"] == "https://bot.example/telegram/webhook"
    assert hook.params["secret_token"] == "the-secret"
    assert codes == {"the-secret": 200, "forged": 403}
    assert TOKEN not in output and "the-secret" not in output

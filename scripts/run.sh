#!/usr/bin/env bash
# Starts the action server and Rasa on 127.0.0.1, the reminder scheduler beside them,
# the managers' bot when its token is set, and a timer that keeps the KPI summary
# current; prints how to talk to the bot and stops everything on Ctrl-C. `make run`
# calls it after installing and training.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
mkdir -p var

# Rasa's HTTP API (reminders and the managers' bot talk to it) always needs a token;
# without one of your own, this run makes a random one.
if [ -z "${RASA_API_TOKEN:-}" ]; then
    RASA_API_TOKEN=$("$BIN/python" -c 'import secrets; print(secrets.token_hex(16))')
fi
export RASA_API_TOKEN RASA_URL=${RASA_URL:-http://127.0.0.1:5005}

SANIC_HOST=127.0.0.1 "$BIN/rasa" run actions --actions actions --port 5055 \
    >var/actions.log 2>&1 &
actions_pid=$!
"$BIN/rasa" run --interface 127.0.0.1 --port 5005 --model models/booking.tar.gz \
    --credentials credentials.yml --endpoints endpoints.yml --cors "*" \
    --enable-api --auth-token "$RASA_API_TOKEN" \
    >var/rasa.log 2>&1 &
rasa_pid=$!
helpers=()
"$BIN/python" -m reminders serve >var/reminders.log 2>&1 &
helpers+=($!)
if [ -n "${MANAGERS_BOT_TOKEN:-}" ]; then
    "$BIN/python" -m managers_bot serve >var/managers_bot.log 2>&1 &
    helpers+=($!)
fi
mirror=$("$BIN/python" -c 'from crm_connector import mirror_backend; print(mirror_backend())')
if [ "$mirror" = bitrix24 ]; then
    "$BIN/python" -m crm_connector worker >var/bitrix24.log 2>&1 &
    helpers+=($!)
fi
(
    trap 'kill "$nap" 2>/dev/null; exit 0' TERM
    while :; do
        sleep 600 & nap=$!
        wait "$nap"
        "$BIN/python" -m kpi_reports --refresh >>var/kpi.log 2>&1
    done
) &
helpers+=($!)

stop() {
    trap - INT TERM EXIT
    echo
    echo "Stopping the bot..."
    kill "${helpers[@]}" "$rasa_pid" "$actions_pid" 2>/dev/null || true
    wait "${helpers[@]}" "$rasa_pid" "$actions_pid" 2>/dev/null || true
    echo "Stopped."
}
trap 'stop; exit 0' INT TERM
trap stop EXIT

echo "Starting the action server and Rasa (logs in var/actions.log, var/rasa.log)..."
for _ in $(seq 1 180); do
    if curl -fs http://127.0.0.1:5005/ >/dev/null && curl -fs http://127.0.0.1:5055/health >/dev/null; then
        break
    fi
    if ! kill -0 "$rasa_pid" 2>/dev/null || ! kill -0 "$actions_pid" 2>/dev/null; then
        echo "A server failed to start; see var/rasa.log and var/actions.log." >&2
        exit 1
    fi
    sleep 1
done

widget_note=""
if [ ! -f channels/webchat_static/vendor/socket.io.min.js ]; then
    widget_note=" (not built: needs npm; run 'make widget')"
fi

bitrix_note="off (crm.backend: sql; see docs/bitrix24.md)"
if [ "$mirror" = bitrix24 ]; then
    bitrix_note="on: deals mirrored by the outbox worker (log: var/bitrix24.log)"
fi
managers_note="off (set MANAGERS_BOT_TOKEN; see docs/managers-bot.md)"
if [ -n "${MANAGERS_BOT_TOKEN:-}" ]; then
    managers_note="on, 127.0.0.1:5006 (log: var/managers_bot.log)"
fi

cat <<TEXT

The bot is running: Rasa on http://127.0.0.1:5005, actions on http://127.0.0.1:5055.
Talk to it through the REST channel, for example:

  curl -s http://127.0.0.1:5005/webhooks/rest/webhook \\
       -H 'Content-Type: application/json' \\
       -d '{"sender": "demo", "message": "Здравствуйте! Хочу на маникюр завтра после 15"}'

Or chat in the terminal:  .venv/bin/python scripts/chat.py
Website widget demo:      http://127.0.0.1:5005/webhooks/webchat/demo$widget_note
Deals in the CRM:         .venv/bin/python -m crm_connector deals
Last week's KPI report:   .venv/bin/python -m kpi_reports --last-week
Reminders:                .venv/bin/python -m reminders list   (log: var/reminders.log)
Managers' bot:            $managers_note
Bitrix24:                 $bitrix_note
Telegram, WhatsApp:       /webhooks/telegram/webhook, /webhooks/whatsapp/webhook
                          (off until their tokens are set; docs/channels-*.md)
Press Ctrl-C to stop.
TEXT
wait -n "$rasa_pid" "$actions_pid"
echo "A server stopped; see var/rasa.log and var/actions.log." >&2
exit 1

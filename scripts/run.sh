#!/usr/bin/env bash
# Starts the action server and Rasa on 127.0.0.1, prints how to talk to the bot, and
# stops both on Ctrl-C. `make run` calls it after installing and training.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
mkdir -p var

SANIC_HOST=127.0.0.1 "$BIN/rasa" run actions --actions actions --port 5055 \
    >var/actions.log 2>&1 &
actions_pid=$!
"$BIN/rasa" run --interface 127.0.0.1 --port 5005 --model models/booking.tar.gz \
    --credentials credentials.yml --endpoints endpoints.yml --cors "*" \
    >var/rasa.log 2>&1 &
rasa_pid=$!

stop() {
    trap - INT TERM EXIT
    echo
    echo "Stopping the bot..."
    kill "$rasa_pid" "$actions_pid" 2>/dev/null || true
    wait "$rasa_pid" "$actions_pid" 2>/dev/null || true
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

cat <<TEXT

The bot is running: Rasa on http://127.0.0.1:5005, actions on http://127.0.0.1:5055.
Talk to it through the REST channel, for example:

  curl -s http://127.0.0.1:5005/webhooks/rest/webhook \\
       -H 'Content-Type: application/json' \\
       -d '{"sender": "demo", "message": "Здравствуйте! Хочу на маникюр завтра после 15"}'

Or chat in the terminal:  .venv/bin/python scripts/chat.py
Website widget demo:      http://127.0.0.1:5005/webhooks/webchat/demo$widget_note
Deals in the CRM:         .venv/bin/python -m crm_connector deals
Press Ctrl-C to stop.
TEXT
wait -n "$rasa_pid" "$actions_pid"
echo "A server stopped; see var/rasa.log and var/actions.log." >&2
exit 1

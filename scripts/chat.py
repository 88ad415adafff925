"""A terminal chat with the running bot through Rasa's REST channel."""

from __future__ import annotations

import json
import sys
import urllib.request
import uuid

URL = "http://127.0.0.1:5005/webhooks/rest/webhook"


def send(sender: str, text: str) -> list[dict]:
    body = json.dumps({"sender": sender, "message": text}).encode()
    request = urllib.request.Request(
        URL, data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def main() -> int:
    sender = f"terminal-{uuid.uuid4().hex[:8]}"
    buttons: list[dict] = []
    print("Пишите боту; номер кнопки выбирает её; пустая строка — выход.")
    while True:
        try:
            text = input("> ").strip()
        except EOFError:
            return 0
        if not text:
            return 0
        if text.isdigit() and 0 < int(text) <= len(buttons):
            text = buttons[int(text) - 1]["payload"]
        buttons = []
        for reply in send(sender, text):
            if reply.get("text"):
                print(reply["text"])
            for button in reply.get("buttons") or []:
                buttons.append(button)
                print(f"  [{len(buttons)}] {button['title']}")


if __name__ == "__main__":
    sys.exit(main())

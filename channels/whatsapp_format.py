"""Rasa's bot messages as WhatsApp Cloud API message bodies, within WhatsApp's limits.

Pure functions, no I/O: text, reply buttons for one to three options, a list message
for four to ten, several lists beyond ten; titles shortened so that a slot offer keeps
its time, and payloads too long for an id swapped for short ids by the caller.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

TEXT_LIMIT = 4096
INTERACTIVE_BODY_LIMIT = 1024
MAX_BUTTONS = 3
BUTTON_TITLE_LIMIT = 20
BUTTON_ID_LIMIT = 256
MAX_LIST_ROWS = 10
ROW_TITLE_LIMIT = 24
ROW_DESCRIPTION_LIMIT = 72
ROW_ID_LIMIT = 200
LIST_BUTTON_LABEL = "Выбрать"
MORE_OPTIONS_BODY = "Ещё варианты:"
CHOOSE_BODY = "Выберите вариант:"
TEMPLATE_PARAM_LIMIT = 1024

_TIME = re.compile(r"\b\d{1,2}:\d{2}\b")
# A slot title as actions/texts.py writes it: "завтра, 4 декабря, 15:00 · Анна".
_SLOT = re.compile(
    r"^(?P<day>[^,]+), (?P<date>\d{1,2}) (?P<month>[^\s,]+), "
    r"(?P<time>\d{1,2}:\d{2})(?: · (?P<who>.+))?$"
)
_RELATIVE_DAYS = ("сегодня", "завтра", "послезавтра")

IdFor = Callable[[str, int], str]


def shorten(title: str, limit: int) -> str:
    """`title` within `limit` characters; a slot offer keeps its day and time."""
    title = " ".join(title.split())
    if len(title) <= limit:
        return title
    slot = _SLOT.match(title)
    if slot:
        for candidate in _slot_candidates(slot, limit):
            if len(candidate) <= limit:
                return candidate
    return _cut(title, limit)


def _slot_candidates(slot: re.Match[str], limit: int) -> list[str]:
    day, time_ = slot["day"], slot["time"]
    date = f"{slot['date']} {slot['month'][:3]}"
    when = [f"{day}, {date}, {time_}"]
    if day in _RELATIVE_DAYS:
        when.append(f"{day}, {time_}")
    else:
        when += [f"{day} {date} {time_}", f"{date}, {time_}", f"{date} {time_}"]
    who = slot["who"]
    if not who:
        return when
    named = [f"{w} · {who}" for w in when]
    # Rather a master's name cut short than a lost time.
    cut = [f"{w} · {_cut(who, limit - len(w) - 3)}" for w in when if len(w) < limit - 5]
    return named + cut + when


def _cut(text: str, limit: int) -> str:
    """`text` cut at a word boundary with an ellipsis, a time inside it kept."""
    if len(text) <= limit:
        return text
    if limit <= 1:
        return text[:limit]
    found = _TIME.search(text)
    if found and found.end() > limit - 1 and len(found[0]) + 2 <= limit:
        head = _cut(text[: found.start()].rstrip(" ,·"), limit - len(found[0]) - 1)
        return f"{head} {found[0]}".strip()
    room = text[: limit - 1]
    if " " in room and room.rfind(" ") >= limit // 3:
        room = room[: room.rfind(" ")]
    return room.rstrip(" ,·—-") + "…"


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Pieces of `text` within `limit`, split at paragraph, line or word ends."""
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[:limit]
        cut = max(window.rfind("\n\n"), window.rfind("\n"))
        if cut < limit // 2:
            cut = window.rfind(" ")
        if cut < limit // 2:
            cut = limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces


def text_message(body: str) -> dict[str, Any]:
    return {"type": "text", "text": {"body": body, "preview_url": False}}


def render(
    text: str, buttons: list[dict[str, Any]], id_for: IdFor
) -> list[dict[str, Any]]:
    """The message bodies (without `to`) for one bot message, in sending order.

    `id_for(payload, limit)` gives the id a reply should carry: the payload itself
    when it fits, else a short id that the caller can map back.
    """
    options, seen = [], set()
    for option in buttons:
        if option.get("title") and option.get("payload"):
            if option["payload"] not in seen:
                seen.add(option["payload"])
                options.append(option)
    if not options:
        return [text_message(p) for p in split_text(text)]

    pieces = split_text(text, TEXT_LIMIT)
    if pieces and len(pieces[-1]) > INTERACTIVE_BODY_LIMIT:
        pieces += split_text(pieces.pop(), INTERACTIVE_BODY_LIMIT)
    body = pieces.pop() if pieces else CHOOSE_BODY
    messages = [text_message(p) for p in pieces]

    if len(options) <= MAX_BUTTONS:
        replies = _reply_buttons(options, id_for)
        if replies is not None:
            return [*messages, _button_message(body, replies)]

    for start in range(0, len(options), MAX_LIST_ROWS):
        chunk = options[start : start + MAX_LIST_ROWS]
        messages.append(
            _list_message(body if start == 0 else MORE_OPTIONS_BODY, chunk, id_for)
        )
    return messages


def _reply_buttons(
    options: list[dict[str, Any]], id_for: IdFor
) -> list[dict[str, Any]] | None:
    """Reply buttons, or None when a title would be cut or no longer differ.

    A list message shows a cut title's full words in its row description.
    """
    titles = [shorten(str(o["title"]), BUTTON_TITLE_LIMIT) for o in options]
    if len(set(titles)) < len(titles) or any(t.endswith("…") for t in titles):
        return None
    return [
        {
            "type": "reply",
            "reply": {"id": id_for(str(o["payload"]), BUTTON_ID_LIMIT), "title": t},
        }
        for o, t in zip(options, titles, strict=True)
    ]


def _button_message(body: str, replies: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": body},
            "action": {"buttons": replies},
        },
    }


def _list_message(
    body: str, options: list[dict[str, Any]], id_for: IdFor
) -> dict[str, Any]:
    rows = []
    for option in options:
        full = " ".join(str(option["title"]).split())
        row: dict[str, Any] = {
            "id": id_for(str(option["payload"]), ROW_ID_LIMIT),
            "title": shorten(full, ROW_TITLE_LIMIT),
        }
        if row["title"] != full:
            row["description"] = _cut(full, ROW_DESCRIPTION_LIMIT)
        rows.append(row)
    return {
        "type": "interactive",
        "interactive": {
            "type": "list",
            "body": {"text": body},
            "action": {"button": LIST_BUTTON_LABEL, "sections": [{"rows": rows}]},
        },
    }


def template_message(name: str, language: str, text: str | None) -> dict[str, Any]:
    """A template message; `text`, when given, fills the body's one parameter."""
    template: dict[str, Any] = {"name": name, "language": {"code": language}}
    if text is not None:
        # Template parameters may hold no line breaks, tabs or runs of spaces.
        flat = _cut(" ".join(text.split()), TEMPLATE_PARAM_LIMIT)
        template["components"] = [
            {"type": "body", "parameters": [{"type": "text", "text": flat}]}
        ]
    return {"type": "template", "template": template}

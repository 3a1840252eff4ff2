"""A long conversation, as much of it as the next turn needs.

Rasa rebuilds the whole session from its events on every message, replays them, sends all of them
to the action server and lets the policies walk them: each message of a 300-message conversation
cost about ten times the first. Nothing this assistant decides looks further back than a few turns
(its rules are short, its answers read the slots), so a long session is cut to its opening, the state
at the cut (every slot's value, the active form) and the last turns.

Works on the JSON form of Rasa events, so it has no Rasa imports.
"""

from __future__ import annotations

from typing import Any

KEEP_EVENTS = 120  # the tail kept: about ten turns of this assistant (10–14 events a turn)
COMPACT_ABOVE = 240  # sessions shorter than this are used as they are
OPENING_LIMIT = 40  # events looked at for the session's opening (before its first user message)


def is_listen(event: dict[str, Any]) -> bool:
    return event.get("event") == "action" and event.get("name") == "action_listen"


def assemble(
    opening: list[dict[str, Any]], state: list[dict[str, Any]], tail: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The cut session: its opening, the state at the cut (slot and active_loop events, stamped with
    the cut's time so they sort there), then the tail."""
    stamp = tail[0].get("timestamp") if tail else None
    return opening + [{**event, "timestamp": stamp} for event in state] + tail


def _opening(events: list[dict[str, Any]]) -> int:
    """Index just after the session's opening (action_session_start, session_started, carried-over
    slots, the first action_listen): everything before the first user message."""
    for index, event in enumerate(events):
        if event.get("event") == "user":
            return index
    return len(events)


def _cut(events: list[dict[str, Any]], start: int, keep: int) -> int | None:
    """Where the tail begins: an `action_listen` at least `keep` events from the end, so the tail
    starts with a whole turn."""
    for index in range(max(start, len(events) - keep), len(events)):
        if is_listen(events[index]):
            return index
    return None


def compact_events(
    events: list[dict[str, Any]], keep: int = KEEP_EVENTS, above: int = COMPACT_ABOVE
) -> list[dict[str, Any]] | None:
    """The session's events cut short, or None when it is short enough to use whole.

    Result: the opening, then one `slot` event for every slot the cut-out middle set (its value at the
    cut) and the `active_loop` at the cut, then the tail from an `action_listen` on."""
    if len(events) <= above:
        return None
    start = _opening(events)
    cut = _cut(events, start, keep)
    if cut is None or cut <= start:
        return None
    slots: dict[str, Any] = {}
    loop: dict[str, Any] | None = None
    for event in events[start:cut]:
        kind = event.get("event")
        if kind == "slot":
            slots[str(event.get("name"))] = event.get("value")
        elif kind == "active_loop":
            loop = event
        elif kind in ("restart", "reset_slots"):
            slots = {}
            loop = {"event": "active_loop", "name": None} if kind == "restart" else loop
    state: list[dict[str, Any]] = [{"event": "slot", "name": name, "value": value} for name, value in slots.items()]
    if loop is not None:
        state.append(loop)
    return assemble(events[:start], state, events[cut:])

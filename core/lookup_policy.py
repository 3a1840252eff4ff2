"""When a conversation may look up a card: the lock-out after failed verifications and the hourly cap."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable, Protocol

MAX_FAILURES = 3  # failed verifications before the lock-out
LOCKOUT = timedelta(minutes=30)
MAX_LOOKUPS_PER_HOUR = 10
WINDOW = timedelta(hours=1)


class AttemptLike(Protocol):
    """One recorded lookup attempt (read-only: the registry's records are frozen)."""

    @property
    def at(self) -> datetime: ...

    @property
    def verified(self) -> bool: ...


@dataclass(frozen=True)
class Decision:
    """Whether a lookup may go ahead; if not, why ("locked" or "rate_limited") and for how long."""

    allowed: bool
    reason: str | None = None
    retry_after: timedelta = timedelta(0)  # how long until a refused lookup may be tried again


def lookup_decision(attempts: Iterable[AttemptLike], now: datetime) -> Decision:
    """Decide from the conversation's attempts of the last hour (any order).

    Three failed verifications in a row lock the conversation for 30 minutes from the third; a
    successful one resets the count, and so does the end of a lock-out. Separately, at most ten
    lookups an hour.
    """
    recent = sorted((a for a in attempts if a.at > now - WINDOW), key=lambda a: a.at)
    failures, locked_until = 0, None
    for attempt in recent:
        if locked_until is not None and attempt.at < locked_until:
            continue  # refused lookups are not recorded, but be safe if one was
        failures = 0 if attempt.verified else failures + 1
        if failures >= MAX_FAILURES:
            locked_until, failures = attempt.at + LOCKOUT, 0
    if locked_until is not None and locked_until > now:
        return Decision(False, "locked", locked_until - now)
    if len(recent) >= MAX_LOOKUPS_PER_HOUR:
        return Decision(False, "rate_limited", recent[-MAX_LOOKUPS_PER_HOUR].at + WINDOW - now)
    return Decision(True)

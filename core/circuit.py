"""A circuit breaker: after a part fails, stop waiting on it for a while and answer at once.

Pure logic with an injectable clock. Used in the Rasa server for the action server
(`channels/resilience.py`): one timed-out call opens the circuit, calls in the next seconds fail
fast, and the first call after that tries the part again (and closes the circuit if it answers).
"""

from __future__ import annotations

import time
from collections.abc import Callable


class CircuitBreaker:
    """Open for `open_seconds` after a failure; closed again by the first success after it."""

    def __init__(self, open_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.open_seconds = open_seconds
        self._clock = clock
        self._open_until = 0.0

    def allows_call(self) -> bool:
        """Whether to try the part now (closed, or open long enough to try again)."""
        return self._clock() >= self._open_until

    def failed(self) -> None:
        self._open_until = self._clock() + self.open_seconds

    def succeeded(self) -> None:
        self._open_until = 0.0

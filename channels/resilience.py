"""What the Rasa server does when a part fails: answer fast and say so, never leak, never go silent.

Every channel module of this project imports this and calls `install()`, so the Rasa server process
(which imports the channels named in credentials.yml before it serves) has it whatever channels run.

- Log records pass through `core.log_privacy` (ID numbers masked, quoted message text withheld):
  Rasa writes the user's text into its error lines, on the timeout path too.
- The action server gets `ACTION_SERVER_TIMEOUT` seconds (default 4) instead of Rasa's fixed five
  minutes (`rasa.core.constants.DEFAULT_REQUEST_TIMEOUT`, which Rasa 3.6 offers no setting for).
  When it times out, refuses the connection or errs, the person gets the "service busy" phrase of
  knowledge/service.yml in their language, once per turn, and for the next
  `ACTION_SERVER_RETRY_AFTER` seconds (default 10) calls fail fast instead of waiting again. The
  conversation goes on as soon as the action server answers again.
- Rasa validates every action-server response with `jsonschema.validate`, which checks the schema
  itself again on every call: profiled, that was most of the Rasa server's CPU per message. The
  check now uses one validator built (and its schema checked) once; what is accepted is unchanged.
- Rasa finds an event's class by walking every subclass of `Event` (`Event.resolve_by_type`, for
  each event of the tracker it reads on every message): profiled, 6% of the Rasa server's CPU. The
  classes are now looked up by name, the walk redone only for a name not yet seen; unknown names
  still go to Rasa's own lookup (its default, or its error).
- `guard_message_handler` wraps a channel's handler (REST, socket.io; WeChat answers with its own
  error phrase, channels/wechat/channel.py): if handling the message fails (tracker store or lock
  store down), the person gets the same phrase instead of nothing.
- A tracker store that cannot be read fails the message instead of starting it afresh: Rasa's
  `FailSafeTrackerStore` would answer from an empty conversation (region, topic and a lookup half
  done all forgotten, then written to memory only), so the guard's "busy" is the clearer answer and
  what is stored stays as it was. Writing is unchanged: a failed save keeps Rasa's memory fallback.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any, Awaitable, Callable, List, Optional

import aiohttp
import rasa.core.actions.action as rasa_actions
from rasa.core.actions.action import ActionExecutionRejection
from rasa.core.channels.channel import UserMessage
from rasa.core.tracker_store import FailSafeTrackerStore
from rasa.shared.core.events import BotUttered, Event, UserUttered
from rasa.shared.exceptions import RasaException

from core.circuit import CircuitBreaker
from core.knowledge import knowledge
from core.language import DEFAULT_LANGUAGE, LANGUAGES, TRADITIONAL, detect_language, to_traditional, writes_traditional
from core.log_privacy import install as install_log_privacy

logger = logging.getLogger(__name__)

TIMEOUT_ENV = "ACTION_SERVER_TIMEOUT"
RETRY_AFTER_ENV = "ACTION_SERVER_RETRY_AFTER"
BUSY_PHRASE = "service_busy"

_breaker = CircuitBreaker(10.0)
_installed = False


def busy_text(language: Optional[str], script: Optional[str] = None) -> str:
    """The "service is busy, try again or call 12333" phrase in the person's language and script."""
    language = language if language in LANGUAGES else DEFAULT_LANGUAGE
    text = knowledge().phrase(BUSY_PHRASE, language)
    return to_traditional(text) if language == "zh" and script == TRADITIONAL else text


def _said_busy_this_turn(tracker: Any, text: str) -> bool:
    for event in reversed(tracker.events):
        if isinstance(event, UserUttered):
            return False
        if isinstance(event, BotUttered) and event.text == text:
            return True
    return False


def _busy_events(tracker: Any) -> List[Event]:
    # The language slot is kept up to date by the action server, so when it fails the slot may be
    # a turn behind: a pinned language first, then the latest message's own script.
    typed = getattr(getattr(tracker, "latest_message", None), "text", None) or ""
    language = tracker.get_slot("language_pinned") or detect_language(typed) or tracker.get_slot("language")
    script = TRADITIONAL if writes_traditional(typed) else tracker.get_slot("script")
    text = busy_text(language, script)
    return [] if _said_busy_this_turn(tracker, text) else [BotUttered(text)]


def _guarded_run(original: Callable[..., Awaitable[List[Event]]]) -> Callable[..., Awaitable[List[Event]]]:
    async def run(self: Any, output_channel: Any, nlg: Any, tracker: Any, domain: Any) -> List[Event]:
        if not _breaker.allows_call():
            return _busy_events(tracker)
        try:
            events = await original(self, output_channel, nlg, tracker, domain)
        except ActionExecutionRejection:
            raise  # the action's own answer ("not me"), part of how forms work: not a failure
        except (asyncio.TimeoutError, aiohttp.ClientError, RasaException) as error:
            _breaker.failed()
            # The error's name only: its text may quote the request.
            logger.error(
                "Action server failed on '%s' (%s); said the service is busy", self.name(), type(error).__name__
            )
            return _busy_events(tracker)
        _breaker.succeeded()
        return events

    run.__wrapped__ = original  # type: ignore[attr-defined]
    return run


def _validate_with_one_validator() -> Callable[[Any, Any], bool]:
    """RemoteAction._validate_action_result with the schema checked once, not on every response."""
    from jsonschema import ValidationError
    from jsonschema.validators import validator_for

    schema = rasa_actions.RemoteAction.action_response_format_spec()
    validator_class = validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema)

    def validate(self: Any, result: Any) -> bool:
        try:
            validator.validate(result)
            return True
        except ValidationError as error:
            error.message += (
                ". Failed to validate Action server response from API, make sure your response from the "
                "Action endpoint is valid."
            )
            raise error

    return validate


def _event_class_by_name(
    resolve: Callable[[str, Optional[type]], Optional[type]],
) -> Callable[[str, Optional[type]], Optional[type]]:
    """`Event.resolve_by_type` with the classes looked up by name: the first subclass of that name,
    as Rasa's walk finds it; a name not found is walked again, then left to `resolve`."""
    from rasa.shared.utils.common import all_subclasses

    known: dict[str, type] = {}

    def resolve_by_type(type_name: str, default: Optional[type] = None) -> Optional[type]:
        found = known.get(type_name)
        if found is None:
            for subclass in all_subclasses(Event):
                known.setdefault(subclass.type_name, subclass)
            found = known.get(type_name)
        return found if found is not None else resolve(type_name, default)

    return resolve_by_type


def _seconds(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name) or default)
    except ValueError:
        logger.warning("%s is not a number; using %.0f s", name, default)
        return default


def install() -> None:
    """Install the log redaction, the action-server timeout, the busy answer, the one-validator
    response check and the event classes by name (idempotent)."""
    global _installed
    install_log_privacy()
    if _installed:
        return
    rasa_actions.DEFAULT_REQUEST_TIMEOUT = _seconds(TIMEOUT_ENV, 4.0)  # read by RemoteAction.run
    _breaker.open_seconds = _seconds(RETRY_AFTER_ENV, 10.0)
    rasa_actions.RemoteAction.run = _guarded_run(rasa_actions.RemoteAction.run)
    rasa_actions.RemoteAction._validate_action_result = _validate_with_one_validator()
    Event.resolve_by_type = staticmethod(_event_class_by_name(Event.resolve_by_type))
    FailSafeTrackerStore.retrieve = _strict_retrieve
    _installed = True


class TrackerStoreUnavailable(RasaException):
    """The conversation could not be read from the tracker store."""


async def _strict_retrieve(self: FailSafeTrackerStore, sender_id: str) -> Optional[Any]:
    """`FailSafeTrackerStore.retrieve` that raises instead of returning "no conversation yet"."""
    try:
        return await self._tracker_store.retrieve(sender_id)
    except Exception as error:
        logger.error("The tracker store could not be read (%s)", type(error).__name__)
        raise TrackerStoreUnavailable(type(error).__name__) from error


def guard_message_handler(
    on_new_message: Callable[[UserMessage], Awaitable[Any]],
) -> Callable[[UserMessage], Awaitable[Any]]:
    """`on_new_message` that, when handling fails, tells the person the service is busy."""

    async def handle(message: UserMessage) -> Any:
        try:
            return await on_new_message(message)
        except Exception as error:  # noqa: BLE001 - whatever broke, the person gets an answer
            logger.error("Handling a message failed (%s); said the service is busy", type(error).__name__)
            language = detect_language(message.text or "")
            if message.output_channel is not None:
                await message.output_channel.send_text_message(message.sender_id or "", busy_text(language))
            return None

    return handle


def close_circuit() -> None:
    """Forget an earlier failure (for tests, which share one process)."""
    _breaker.succeeded()

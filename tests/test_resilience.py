"""channels/resilience.py and core/circuit.py: a failing action server gets a fast, clear answer."""

from __future__ import annotations

import asyncio
from typing import Any, List

import aiohttp
import pytest
from rasa.core.actions.action import ActionExecutionRejection
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.exceptions import RasaException

from channels import resilience
from core.circuit import CircuitBreaker
from core.language import to_traditional


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_breaker_opens_after_a_failure_and_retries_later() -> None:
    clock = Clock()
    breaker = CircuitBreaker(10.0, clock)
    assert breaker.allows_call()
    breaker.failed()
    assert not breaker.allows_call()
    clock.now += 9.9
    assert not breaker.allows_call()
    clock.now += 0.2
    assert breaker.allows_call()
    breaker.succeeded()
    assert breaker.allows_call()


class FakeTracker:
    def __init__(self, language: str = "zh", script: str | None = None, events: List[Any] | None = None) -> None:
        self.slots = {"language": language, "script": script}
        self.events = events if events is not None else [UserUttered("你好")]

    @property
    def latest_message(self) -> UserUttered:
        return next(e for e in reversed(self.events) if isinstance(e, UserUttered))

    def get_slot(self, name: str) -> Any:
        return self.slots.get(name)


class Action:
    def __init__(self, error: BaseException | None = None) -> None:
        self.error, self.calls = error, 0

    def name(self) -> str:
        return "action_answer_topic"


def guarded(action: Action):
    async def original(self: Action, *_: Any) -> List[Any]:
        self.calls += 1
        if self.error:
            raise self.error
        return ["ok"]

    return resilience._guarded_run(original)


@pytest.fixture(autouse=True)
def closed_circuit() -> None:
    resilience.close_circuit()


def run(action: Action, tracker: FakeTracker) -> List[Any]:
    return asyncio.run(guarded(action)(action, None, None, tracker, None))


@pytest.mark.parametrize(
    "error", [asyncio.TimeoutError(), aiohttp.ClientConnectionError("refused"), RasaException("500")]
)
def test_a_failing_action_server_gets_the_busy_phrase_in_the_persons_language(kb, error) -> None:
    events = run(Action(error), FakeTracker("zh", events=[UserUttered("How do I activate my card?")]))
    assert events == [BotUttered(kb.phrase("service_busy", "en"))]  # the latest message's language


def test_once_per_turn_and_fast_while_the_circuit_is_open(kb) -> None:
    tracker = FakeTracker("zh")
    first = run(Action(asyncio.TimeoutError()), tracker)
    tracker.events += first
    waiting = Action()
    assert run(waiting, tracker) == []  # already said this turn, and the server is not asked
    assert waiting.calls == 0
    tracker.events.append(UserUttered("还在吗"))
    assert run(waiting, tracker) == [BotUttered(kb.phrase("service_busy", "zh"))]


def test_the_conversation_goes_on_when_the_server_answers_again() -> None:
    run(Action(asyncio.TimeoutError()), FakeTracker())
    resilience._breaker._open_until = 0.0  # the retry window has passed
    assert run(Action(), FakeTracker()) == ["ok"]


def test_traditional_writers_get_it_in_traditional(kb) -> None:
    events = run(Action(asyncio.TimeoutError()), FakeTracker("zh", "traditional", [UserUttered("12333")]))
    assert events[0].text == to_traditional(kb.phrase("service_busy", "zh"))
    written = run(Action(asyncio.TimeoutError()), FakeTracker("zh", None, [UserUttered("激活需要帶什麼證件")]))
    assert written[0].text == to_traditional(kb.phrase("service_busy", "zh"))


def test_a_pinned_language_wins(kb) -> None:
    tracker = FakeTracker("en", events=[UserUttered("社保卡在哪里激活")])
    tracker.slots["language_pinned"] = "en"
    assert run(Action(asyncio.TimeoutError()), tracker)[0].text == kb.phrase("service_busy", "en")


def test_a_forms_rejection_is_not_a_failure() -> None:
    with pytest.raises(ActionExecutionRejection):
        run(Action(ActionExecutionRejection("validate_card_status_form")), FakeTracker())
    assert resilience._breaker.allows_call()


def test_a_failed_message_handler_answers_busy_in_the_language_of_the_message(kb) -> None:
    async def broken(_: UserMessage) -> None:
        raise ConnectionError("tracker store down")

    collector = CollectingOutputChannel()
    asyncio.run(resilience.guard_message_handler(broken)(UserMessage("How do I activate?", collector, "s")))
    assert collector.messages == [{"recipient_id": "s", "text": kb.phrase("service_busy", "en")}]


def test_action_responses_are_still_validated_by_rasas_schema() -> None:
    from jsonschema import ValidationError

    validate = resilience._validate_with_one_validator()
    assert validate(None, {"events": [{"event": "slot", "name": "topic", "value": "x"}], "responses": []})
    with pytest.raises(ValidationError, match="Failed to validate Action server response"):
        validate(None, {"events": [{"no_event_key": 1}], "responses": []})
    with pytest.raises(ValidationError):
        validate(None, {"events": "not a list"})


def test_event_classes_by_name_are_rasas_own_and_unknown_names_go_to_rasa() -> None:
    """The cached lookup gives, for every event name, the first subclass of `Event` with that name
    (what Rasa's walk returns); an unknown name goes to Rasa's own lookup; events read back the same."""
    from rasa.shared.core.events import ActionExecuted, Event, SlotSet
    from rasa.shared.utils.common import all_subclasses

    asked: list[tuple[str, Any]] = []

    def rasas_lookup(name: str, default: Any = None) -> Any:
        asked.append((name, default))
        return default

    resolve = resilience._event_class_by_name(rasas_lookup)
    subclasses = all_subclasses(Event)
    names = {cls.type_name for cls in subclasses}
    assert len(names) > 15
    for name in names:
        assert resolve(name) is next(cls for cls in subclasses if cls.type_name == name)
    assert asked == []  # every known name answered from the cache
    assert resolve("no_such_event", SlotSet) is SlotSet
    assert asked == [("no_such_event", SlotSet)]
    resilience.install()
    assert Event.resolve_by_type("topic") is None  # Rasa's answer for its old TopicSet events
    with pytest.raises(ValueError, match="Unknown event name"):
        Event.resolve_by_type("no_such_event")
    events = [ActionExecuted("action_listen"), UserUttered("你好"), SlotSet("region", "上海市")]
    assert [Event.from_parameters(e.as_dict()) for e in events] == events

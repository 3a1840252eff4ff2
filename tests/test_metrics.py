"""Metrics without running servers: label clamping (core/metrics.py), the Rasa server's counting and
routes (channels/ops.py), and the action server's executor, lookups and readiness (actions/metrics.py)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any, Dict, List, Optional

import aiohttp
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from rasa.core.channels.channel import UserMessage, register
from rasa.shared.core.events import UserUttered
from rasa_sdk import Action
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.interfaces import ActionExecutionRejection
from sanic import Sanic

from actions.metrics import MeteredActionExecutor, count_lookup, expected_actions, readiness
from channels import ops, resilience
from core import metrics
from core.dialogue import FALLBACK_INTENT


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# --- core/metrics.py ----------------------------------------------------------------------------------


def test_intents_are_domain_intents_or_other() -> None:
    known = metrics.known_intents()
    assert {"ask_how_to_activate", "request_human", "inform", FALLBACK_INTENT, "out_of_scope"} <= known
    assert metrics.intent_label("ask_password") == "ask_password"
    assert metrics.intent_label(FALLBACK_INTENT) == FALLBACK_INTENT
    for forged in ("made_up_intent", "ask_password ", "ASK_PASSWORD", "11010519491231002X", "张三", "a" * 500):
        assert metrics.intent_label(forged) == "other"
    for strange in ({"name": "ask_password"}, ["ask_password"], 42):
        assert metrics.intent_label(strange) == "other"
    assert metrics.intent_label(None) == metrics.intent_label("") == "none"
    assert metrics.intent_label("x", known={"x"}) == "x"


def test_channels_outcomes_methods_statuses_and_actions_are_clamped() -> None:
    assert [metrics.channel_label(c) for c in ("rest", "socketio", "wechat", "cmdline")] == [
        "rest",
        "socketio",
        "wechat",
        "cmdline",
    ]
    assert metrics.channel_label("my_own_channel") == "other" and metrics.channel_label(None) == "none"
    assert all(metrics.outcome_label(o) == o for o in metrics.LOOKUP_OUTCOMES)
    assert metrics.outcome_label("found 11010519491231002X") == "other"
    assert metrics.method_label("get") == "GET" and metrics.method_label("BREW") == "other"
    assert metrics.status_label(200) == "200" and metrics.status_label(999) == metrics.status_label("200") == "other"
    assert metrics.action_label("action_x", {"action_x"}) == "action_x"
    assert metrics.action_label("action_y", {"action_x"}) == "other"


def test_domain_names_read_the_domain() -> None:
    intents, actions = metrics.domain_names()
    assert "ask_card_status" in intents and "action_card_status_lookup" in actions
    assert metrics.metric_name("messages_total") == "shebaoka_messages_total"


def test_exposition_is_prometheus_text() -> None:
    body, content_type = metrics.exposition()
    assert content_type.startswith("text/plain")
    names = {family.name for family in text_string_to_metric_families(body.decode("utf-8"))}
    assert "shebaoka_messages" in names and "shebaoka_errors" in names


# --- channels/ops.py ----------------------------------------------------------------------------------


def test_recording_a_message_counts_fallbacks_and_handoffs() -> None:
    before = {
        "fallback": value("shebaoka_fallbacks_total", channel="rest"),
        "handoff": value("shebaoka_handoffs_total", channel="rest"),
        "count": value("shebaoka_message_seconds_count", channel="rest"),
        "other": value("shebaoka_messages_total", channel="other", intent="other"),
    }
    ops.record_message("rest", FALLBACK_INTENT, 0.02)
    ops.record_message("rest", "request_human", 0.03)
    ops.record_message("forged_channel", "forged_intent", 0.04)
    assert value("shebaoka_fallbacks_total", channel="rest") == before["fallback"] + 1
    assert value("shebaoka_handoffs_total", channel="rest") == before["handoff"] + 1
    assert value("shebaoka_message_seconds_count", channel="rest") == before["count"] + 2
    assert value("shebaoka_messages_total", channel="other", intent="other") == before["other"] + 1
    forged = {"channel": "forged_channel", "intent": "other"}
    assert REGISTRY.get_sample_value("shebaoka_messages_total", forged) is None


class FakeTracker:
    def __init__(self, intent: Optional[str]) -> None:
        self.latest_message = UserUttered("text", intent={"name": intent} if intent else {})


def test_handling_counts_the_intent_the_nlu_gave() -> None:
    async def log_message(processor: Any, message: UserMessage, should_save_tracker: bool = True) -> FakeTracker:
        return FakeTracker(processor.intent)

    noting = ops._noting_intent(log_message)

    async def handle(agent: Any, message: UserMessage) -> List[Dict[str, Any]]:
        await noting(agent, message, should_save_tracker=False)
        return []

    handle_message = ops._metered_handle_message(handle)
    message = UserMessage("社保卡密码忘了怎么办", input_channel="socketio")
    before = value("shebaoka_messages_total", channel="socketio", intent="ask_password")
    forged = value("shebaoka_messages_total", channel="socketio", intent="other")
    asyncio.run(handle_message(SimpleNamespace(intent="ask_password"), message))
    asyncio.run(handle_message(SimpleNamespace(intent="made_up_intent"), message))
    assert value("shebaoka_messages_total", channel="socketio", intent="ask_password") == before + 1
    assert value("shebaoka_messages_total", channel="socketio", intent="other") == forged + 1
    # Outside a handled message (Rasa's HTTP API) log_message still works and counts nothing.
    assert asyncio.run(noting(SimpleNamespace(intent="greet"), message)).latest_message.intent["name"] == "greet"


def test_a_failing_handler_is_counted_and_still_raises() -> None:
    async def broken(agent: Any, message: UserMessage) -> None:
        raise ConnectionError("tracker store down")

    handle_message = ops._metered_handle_message(broken)
    errors = value("shebaoka_errors_total", kind="handler")
    unparsed = value("shebaoka_messages_total", channel="rest", intent="none")
    with pytest.raises(ConnectionError):
        asyncio.run(handle_message(object(), UserMessage("hi", input_channel="rest")))
    assert value("shebaoka_errors_total", kind="handler") == errors + 1
    assert value("shebaoka_messages_total", channel="rest", intent="none") == unparsed + 1


def test_the_busy_answer_counts_an_action_server_error() -> None:
    class Refused:
        def name(self) -> str:
            return "action_answer_topic"

    async def refused(self: Any, output_channel: Any, nlg: Any, tracker: Any, domain: Any) -> List[Any]:
        raise aiohttp.ClientConnectionError("refused")

    tracker = SimpleNamespace(
        events=[UserUttered("你好")], latest_message=UserUttered("你好"), get_slot=lambda name: None
    )
    before = value("shebaoka_errors_total", kind="action_server")
    try:
        events = asyncio.run(resilience._guarded_run(refused)(Refused(), None, None, tracker, None))
    finally:
        resilience.close_circuit()
    assert events and events[0].text == resilience.busy_text("zh")
    assert value("shebaoka_errors_total", kind="action_server") == before + 1


def test_install_is_idempotent() -> None:
    import rasa.core.agent

    handle_message = rasa.core.agent.Agent.handle_message
    ops.install()
    assert rasa.core.agent.Agent.handle_message is handle_message
    assert getattr(handle_message, "__wrapped__", None) is not None


def test_the_routes_are_at_the_servers_root() -> None:
    """rasa.core.channels.channel.register joins url_prefix() onto "/webhooks/"; "/" puts them at the root."""
    app = Sanic("ops_routes_test")
    register([ops.OpsInput()], app, route="/webhooks/")
    app.router.finalize()
    paths = {"/" + route.path.lstrip("/") for route in app.router.routes}
    assert {"/metrics", "/health", "/ready"} <= paths
    assert not any("webhooks" in path for path in paths)


# --- actions/metrics.py -------------------------------------------------------------------------------


class MetricsTestAction(Action):
    def name(self) -> str:
        return "action_metrics_test_ok"

    def run(self, dispatcher: CollectingDispatcher, tracker: Any, domain: Dict[str, Any]) -> List[Dict[str, Any]]:
        dispatcher.utter_message(text="ok")
        return []


class MetricsTestBroken(Action):
    def name(self) -> str:
        return "action_metrics_test_broken"

    def run(self, dispatcher: CollectingDispatcher, tracker: Any, domain: Dict[str, Any]) -> List[Dict[str, Any]]:
        raise RuntimeError("broken")


class MetricsTestRejecting(Action):
    def name(self) -> str:
        return "action_metrics_test_rejecting"

    def run(self, dispatcher: CollectingDispatcher, tracker: Any, domain: Dict[str, Any]) -> List[Dict[str, Any]]:
        raise ActionExecutionRejection(self.name())


def call(action: str) -> Dict[str, Any]:
    return {"next_action": action, "tracker": {"sender_id": "metrics-test"}, "domain": {}}


def test_the_executor_counts_runs_errors_and_time_by_registered_name() -> None:
    executor = MeteredActionExecutor()
    for action in (MetricsTestAction, MetricsTestBroken, MetricsTestRejecting):
        executor.register_action(action)
    assert MeteredActionExecutor.latest is executor
    names = ("action_metrics_test_ok", "action_metrics_test_broken", "action_metrics_test_rejecting", "other")
    runs = {name: value("shebaoka_action_runs_total", action=name) for name in names}
    errors = {name: value("shebaoka_action_errors_total", action=name) for name in names}

    result = asyncio.run(executor.run(call("action_metrics_test_ok")))
    assert result is not None and result["responses"][0]["text"] == "ok"
    with pytest.raises(RuntimeError):
        asyncio.run(executor.run(call("action_metrics_test_broken")))
    with pytest.raises(ActionExecutionRejection):
        asyncio.run(executor.run(call("action_metrics_test_rejecting")))
    with pytest.raises(Exception):  # noqa: B017 - rasa-sdk's ActionNotFoundException
        asyncio.run(executor.run(call("action_made_up_by_a_caller")))

    assert {name: value("shebaoka_action_runs_total", action=name) - runs[name] for name in names} == dict.fromkeys(
        names, 1.0
    )
    assert {name: value("shebaoka_action_errors_total", action=name) - errors[name] for name in names} == {
        "action_metrics_test_ok": 0.0,
        "action_metrics_test_broken": 1.0,
        "action_metrics_test_rejecting": 0.0,  # a form's "not me" is no failure
        "other": 1.0,
    }
    assert REGISTRY.get_sample_value("shebaoka_action_runs_total", {"action": "action_made_up_by_a_caller"}) is None
    assert value("shebaoka_action_seconds_count", action="action_metrics_test_ok") >= 1


def test_lookup_outcomes_are_counted_and_clamped() -> None:
    found, other = value("shebaoka_lookups_total", outcome="found"), value("shebaoka_lookups_total", outcome="other")
    count_lookup("found")
    count_lookup("11010519491231002X")
    assert value("shebaoka_lookups_total", outcome="found") == found + 1
    assert value("shebaoka_lookups_total", outcome="other") == other + 1
    for outcome in metrics.LOOKUP_OUTCOMES:  # every series there from the start
        assert REGISTRY.get_sample_value("shebaoka_lookups_total", {"outcome": outcome}) is not None


def test_ready_needs_every_domain_action_and_the_knowledge_base() -> None:
    assert "action_card_status_lookup" in expected_actions() and "action_listen" not in expected_actions()
    ok, report = readiness(None)
    assert not ok and report["status"] == "not ready"
    empty = MeteredActionExecutor()
    ok, report = readiness(empty)
    assert not ok and "action_card_status_lookup" in report["missing_actions"]
    loaded = MeteredActionExecutor()
    loaded.register_package("actions")
    ok, report = readiness(loaded)
    assert ok, report
    assert report == {"status": "ready", "actions": len(loaded.actions), "missing_actions": [], "knowledge": True}

"""The Rasa server's operations endpoints and metrics: /metrics, /health, /ready at the server's root.

Registered in credentials.yml as `channels.ops.OpsInput` (a "channel" only so that `rasa run` mounts
its routes; it takes no messages). Importing this module installs, once, what it counts:

- `shebaoka_messages_total{channel,intent}`: every user message the agent handled, with its intent
  after the NLU (an intent outside domain.yml, e.g. a forged ``/made_up`` payload, is ``other``;
  ``none`` when the message never reached the NLU, e.g. no model loaded or the tracker store down);
- `shebaoka_fallbacks_total{channel}` (intent nlu_fallback), `shebaoka_handoffs_total{channel}`
  (intent request_human);
- `shebaoka_message_seconds{channel}`: the time to handle one message, the conversation lock's wait
  included (its `_count` is the number of messages);
- `shebaoka_errors_total{kind}`: ``action_server`` each time channels/resilience.py answers "service
  busy" instead of an action (the action server timed out, refused or erred, or is being given a
  rest), ``handler`` each time handling a message raised (a store down: the REST channel's
  `guard_message_handler` then answers "busy").

It wraps `rasa.core.agent.Agent.handle_message` (timing, counting, errors; every channel's messages
go through it) and `rasa.core.processor.MessageProcessor.log_message` (which returns the tracker
with the parsed message: the intent), in the style of channels/resilience.py.

Routes (no prefix: `url_prefix()` is "/", and Sanic drops the doubled slash):
    GET /metrics   Prometheus text format (labels from fixed sets only; no text, ID or name)
    GET /health    {"status": "ok"} while the process serves
    GET /ready     200 {"status": "ready"} when the agent has a loaded model, else 503
    POST /nlu/parse  {"text": "..."} → the model's intent ranking and entities, for the staff desk
                   (web/server.py), so the web server loads no model of its own. With NLU_PARSE_TOKEN
                   set it needs "Authorization: Bearer <token>"; without, only callers on this machine.

The first three need no token. In production /metrics should be reachable only from the monitoring
network: deploy/haproxy.cfg publishes the channels' paths only (404 for /metrics, /health, /ready
through the balancer), so scrape each Rasa server on its own address.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, List, Optional, Text

import rasa.core.agent as rasa_agent
import rasa.core.processor as rasa_processor
from prometheus_client import Counter, Histogram
from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from channels import resilience
from core.dialogue import FALLBACK_INTENT
from core.metrics import HANDOFF_INTENT, SECONDS_BUCKETS, channel_label, exposition, intent_label, metric_name

resilience.install()

MESSAGES = Counter(
    metric_name("messages_total"), "User messages handled, by channel and intent (after the NLU)", ["channel", "intent"]
)
FALLBACKS = Counter(metric_name("fallbacks_total"), "User messages whose intent was nlu_fallback", ["channel"])
HANDOFFS = Counter(metric_name("handoffs_total"), "User messages asking for a person (request_human)", ["channel"])
MESSAGE_SECONDS = Histogram(
    metric_name("message_seconds"), "Time to handle one user message", ["channel"], buckets=SECONDS_BUCKETS
)
ERRORS = Counter(metric_name("errors_total"), "Failures the person was told about, by kind", ["kind"])
ERROR_KINDS = ("action_server", "handler")


@dataclass
class _Turn:
    """What the NLU made of the message being handled (filled in by `log_message`)."""

    intent: Optional[str] = None


# The message the current task is handling: set by Agent.handle_message, read by log_message.
_turn: ContextVar[Optional[_Turn]] = ContextVar("shebaoka_turn", default=None)
_installed = False


def record_message(channel: Any, intent: Any, seconds: float) -> None:
    """Count one handled message (labels clamped to their fixed sets)."""
    channel, intent = channel_label(channel), intent_label(intent)
    MESSAGES.labels(channel=channel, intent=intent).inc()
    MESSAGE_SECONDS.labels(channel=channel).observe(seconds)
    if intent == FALLBACK_INTENT:
        FALLBACKS.labels(channel=channel).inc()
    elif intent == HANDOFF_INTENT:
        HANDOFFS.labels(channel=channel).inc()


def _metered_handle_message(original: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def handle_message(self: Any, message: UserMessage) -> Any:
        turn = _Turn()
        token = _turn.set(turn)
        started = time.perf_counter()
        try:
            return await original(self, message)
        except Exception:
            ERRORS.labels(kind="handler").inc()
            raise
        finally:
            _turn.reset(token)
            record_message(message.input_channel, turn.intent, time.perf_counter() - started)

    handle_message.__wrapped__ = original  # type: ignore[attr-defined]
    return handle_message


def _noting_intent(original: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def log_message(self: Any, message: UserMessage, *args: Any, **kwargs: Any) -> Any:
        tracker = await original(self, message, *args, **kwargs)
        turn = _turn.get()
        if turn is not None:
            latest = getattr(tracker, "latest_message", None)
            turn.intent = (getattr(latest, "intent", None) or {}).get("name")
        return tracker

    log_message.__wrapped__ = original  # type: ignore[attr-defined]
    return log_message


def _counting_busy(original: Callable[[Any], List[Any]]) -> Callable[[Any], List[Any]]:
    def busy_events(tracker: Any) -> List[Any]:
        ERRORS.labels(kind="action_server").inc()
        return original(tracker)

    busy_events.__wrapped__ = original  # type: ignore[attr-defined]
    return busy_events


def install() -> None:
    """Count messages, fallbacks, handoffs, handling time and failures in this process (idempotent)."""
    global _installed
    if _installed:
        return
    rasa_agent.Agent.handle_message = _metered_handle_message(rasa_agent.Agent.handle_message)
    rasa_processor.MessageProcessor.log_message = _noting_intent(rasa_processor.MessageProcessor.log_message)
    # resilience's guarded RemoteAction.run looks `_busy_events` up in its module at each call.
    resilience._busy_events = _counting_busy(resilience._busy_events)  # type: ignore[assignment]
    for kind in ERROR_KINDS:  # both series from the start, at 0
        ERRORS.labels(kind=kind)
    _installed = True


install()


async def metrics(request: Request) -> HTTPResponse:
    """Prometheus' text format."""
    body, content_type = exposition()
    return response.raw(body, content_type=content_type)


async def health(request: Request) -> HTTPResponse:
    """The process serves."""
    return response.json({"status": "ok"})


async def ready(request: Request) -> HTTPResponse:
    """Ready for traffic: the agent has a loaded model."""
    agent = getattr(request.app.ctx, "agent", None)
    if agent is not None and agent.is_ready():
        return response.json({"status": "ready"})
    return response.json({"status": "not ready", "reason": "no model loaded"}, status=503)


PARSE_TOKEN_ENV = "NLU_PARSE_TOKEN"
MAX_PARSE_CHARS = 2000


def _parse_allowed(request: Request) -> bool:
    """With NLU_PARSE_TOKEN set, the caller must send it as a bearer token; without it, only callers
    on this machine (the staff desk of `make run`) may parse."""
    token = os.environ.get(PARSE_TOKEN_ENV, "")
    if token:
        given = request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
    return ipaddress.ip_address(request.ip or "0.0.0.0").is_loopback


async def parse(request: Request) -> HTTPResponse:
    """The NLU of this server's model for one text (intent ranking, entities) — what the staff
    desk ranks topics with, so the web server needs no model copy of its own."""
    if not _parse_allowed(request):
        return response.json({"error": "forbidden"}, status=403)
    body = request.json if isinstance(request.json, dict) else None
    text = body.get("text") if body else None
    if not isinstance(text, str) or not text.strip():
        return response.json({"error": "'text' must be a non-empty string"}, status=400)
    agent = getattr(request.app.ctx, "agent", None)
    if agent is None or not agent.is_ready():
        return response.json({"error": "no model loaded"}, status=503)
    parsed = await agent.parse_message(text[:MAX_PARSE_CHARS])
    return response.json(
        {
            "intent": parsed.get("intent"),
            "intent_ranking": parsed.get("intent_ranking") or [],
            "entities": parsed.get("entities") or [],
        }
    )


class OpsInput(InputChannel):
    """Not a chat channel: mounts /metrics, /health and /ready at the Rasa server's root."""

    @classmethod
    def name(cls) -> Text:
        return "ops"

    def url_prefix(self) -> Text:
        # rasa.core.channels.channel.register joins this onto "/webhooks/": "/" replaces that path.
        return "/"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        blueprint = Blueprint("shebaoka_ops")  # no url_prefix of its own (see url_prefix)
        blueprint.add_route(metrics, "/metrics", methods=["GET"])
        blueprint.add_route(health, "/health", methods=["GET"])
        blueprint.add_route(ready, "/ready", methods=["GET"])
        blueprint.add_route(parse, "/nlu/parse", methods=["POST"])
        return blueprint

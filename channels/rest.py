"""Rasa's REST channel, refusing malformed requests with HTTP 400 and a reason.

Rasa's `RestInput` answers a body whose `message` is not a string (or a body that is not a JSON
object) with `[]` or a server error: to the sender that is silence. This channel keeps its name
and URL (`POST /webhooks/rest/webhook`) and checks the body first; and when handling a message
fails (a store down) it answers with the "service busy" phrase. Configured in credentials.yml.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint
from sanic.exceptions import InvalidUsage
from sanic.request import Request

from channels import resilience

resilience.install()

MAX_SENDER_CHARS = 256
MAX_MESSAGE_CHARS = 20_000  # far above any question (the pipeline reads the first 1,000)


def _body(request: Request) -> Dict[Text, Any]:
    try:
        body = request.json
    except Exception:  # noqa: BLE001 - Sanic's own parse error; the reason is what matters
        raise InvalidUsage("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise InvalidUsage('the body must be a JSON object: {"sender": "...", "message": "..."}')
    return body


class ValidatedRestInput(RestInput):
    """`RestInput` whose sender and message must be strings of sensible length (else 400), and whose
    sender is told the service is busy when handling the message fails (channels/resilience.py)."""

    @classmethod
    def name(cls) -> Text:
        return "rest"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        return super().blueprint(resilience.guard_message_handler(on_new_message))

    async def _extract_sender(self, req: Request) -> Optional[Text]:
        sender = _body(req).get("sender")
        if not isinstance(sender, str) or not sender.strip():
            raise InvalidUsage('"sender" must be a non-empty string (the conversation\'s id)')
        if len(sender) > MAX_SENDER_CHARS:
            raise InvalidUsage(f'"sender" is longer than {MAX_SENDER_CHARS} characters')
        return sender

    def _extract_message(self, req: Request) -> Optional[Text]:
        message = _body(req).get("message")
        if not isinstance(message, str):
            raise InvalidUsage('"message" must be a string')
        if len(message) > MAX_MESSAGE_CHARS:
            raise InvalidUsage(f'"message" is longer than {MAX_MESSAGE_CHARS} characters')
        return message

"""Rasa's socket.io channel, with session persistence that works on python-socketio 5.10 and later.

Rasa 3.6 calls `sio.enter_room(...)` without `await` in its `session_request` handler. Since
python-socketio 5.10 that method is a coroutine, so the socket never joins the session's room and every
reply to a persistent session is lost (RasaHQ/rasa#13027). This subclass registers the same handler,
awaiting the call; everything else is Rasa's channel. Use it in credentials.yml under the name
`channels.socketio_session.SessionSocketIOInput` with the usual socketio settings.
"""

from __future__ import annotations

import inspect
import uuid
from typing import Any, Awaitable, Callable, Dict, Optional, Text

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketIOInput
from sanic import Blueprint

from channels import resilience

resilience.install()  # log redaction and the action-server timeout in the Rasa server process


class SessionSocketIOInput(SocketIOInput):
    """SocketIOInput whose session_request handler awaits `enter_room`."""

    @classmethod
    def name(cls) -> Text:
        return "socketio"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        # A store that is down: the person is told the service is busy instead of nothing.
        blueprint = super().blueprint(resilience.guard_message_handler(on_new_message))
        sio = self.sio
        assert sio is not None

        async def session_request(sid: Text, data: Optional[Dict]) -> None:
            data = data or {}
            if not data.get("session_id"):
                data["session_id"] = uuid.uuid4().hex
            if self.session_persistence:
                joined = sio.enter_room(sid, data["session_id"], namespace=self.namespace)
                if inspect.isawaitable(joined):  # a coroutine since python-socketio 5.10
                    await joined
            await sio.emit("session_confirm", data["session_id"], room=sid, namespace=self.namespace)

        sio.on("session_request", session_request, namespace=self.namespace)  # replaces Rasa's handler
        return blueprint

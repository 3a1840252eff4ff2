"""A persistent SQL tracker store that never writes ID numbers or lookup names.

Rasa Open Source stores events as they are; this store writes a redacted copy of each event instead
(see `core.redaction`). Configure it in endpoints.yml:

    tracker_store:
      type: tracker_store.redacting.RedactingSQLTrackerStore
      db: var/tracker.sqlite3           # SQLite by default
      # or set TRACKER_STORE_URL=postgresql://user@host:5432/db to use PostgreSQL

Because Rasa reloads the tracker from the store on every message, the conversation itself never sees
a raw value again either: the lookup form keeps only digests and masked forms in its slots.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any, Optional, Text

from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY
from sqlalchemy.engine import make_url

from core.redaction import RedactionState, follow_event, redact_event

logger = logging.getLogger(__name__)
URL_ENV = "TRACKER_STORE_URL"


class RedactingSQLTrackerStore(SQLTrackerStore):
    """`SQLTrackerStore` whose saved events are redacted copies."""

    def __init__(
        self,
        domain: Optional[Domain] = None,
        dialect: Text = "sqlite",
        host: Optional[Text] = None,
        port: Optional[int] = None,
        db: Text = "var/tracker.sqlite3",
        username: Optional[Text] = None,
        password: Optional[Text] = None,
        event_broker: Optional[EventBroker] = None,
        login_db: Optional[Text] = None,
        query: Optional[dict] = None,
        **kwargs: Any,
    ) -> None:
        url = os.environ.get(URL_ENV)
        if url:
            parsed = make_url(url)
            dialect, host, port = parsed.get_backend_name(), parsed.host, parsed.port
            db, username, password = parsed.database, parsed.username, parsed.password
        elif dialect == "sqlite":
            os.makedirs(os.path.dirname(os.path.abspath(db)), exist_ok=True)
        if event_broker is not None:
            # A broker would publish the raw events; this store exists to prevent exactly that.
            logger.warning("RedactingSQLTrackerStore ignores the configured event broker")
        super().__init__(
            domain=domain,
            dialect=dialect,
            host=host,
            port=port,
            db=db,
            username=username,
            password=password,
            event_broker=None,
            login_db=login_db,
            query=query,
            **kwargs,
        )

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Store the events not stored yet, each as a redacted copy."""
        with self.session_scope() as session:
            stored = self._event_query(session, tracker.sender_id, fetch_events_from_all_sessions=False).count()
            state = RedactionState()
            for index, event in enumerate(tracker.events):
                if index < stored:
                    follow_event(event.as_dict(), state)  # stored already: only the form state matters
                    continue
                data = redact_event(event.as_dict(), state)
                session.add(
                    self.SQLEvent(
                        sender_id=tracker.sender_id,
                        type_name=event.type_name,
                        timestamp=data.get("timestamp"),
                        intent_name=data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
                        action_name=data.get("name"),
                        data=json.dumps(data),
                    )
                )
            session.commit()

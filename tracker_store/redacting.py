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
from sqlalchemy import func
from sqlalchemy.engine import make_url

from core.redaction import RedactionState, follow_event, redact_event
from core.tracker_compaction import COMPACT_ABOVE, KEEP_EVENTS, OPENING_LIMIT, assemble, is_listen

logger = logging.getLogger(__name__)
URL_ENV = "TRACKER_STORE_URL"
STORED_EVENTS = "_redacting_store_stored_events"  # set on the trackers this store gives out and saves


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

    async def retrieve(self, sender_id: Text) -> Optional[DialogueStateTracker]:
        """The latest session, a long one cut to its opening, its state and its last turns
        (`core.tracker_compaction`): each message then costs about the same, however long the
        conversation. The stored events stay whole; `retrieve_full_tracker` gives all of them."""
        with self.session_scope() as session:
            events = self._session_events(session, sender_id)
        if not self.domain or not events:
            return None
        tracker = DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        setattr(tracker, STORED_EVENTS, len(tracker.events))
        return tracker

    def _session_events(self, session: Any, sender_id: Text) -> list[dict[str, Any]]:
        """The latest session's events as JSON, a long session cut (`core.tracker_compaction`) by
        queries that read only its end, its opening and the last value of each slot."""
        column = self.SQLEvent
        base = self._event_query(session, sender_id, fetch_events_from_all_sessions=False).order_by(None)
        rows = base.with_entities(column.id, column.data).order_by(column.id.desc()).limit(COMPACT_ABOVE + 1).all()
        if len(rows) <= COMPACT_ABOVE:
            return [json.loads(row.data) for row in reversed(rows)]
        tail = [(row.id, json.loads(row.data)) for row in reversed(rows[:KEEP_EVENTS])]
        cut = next((i for i, (_, event) in enumerate(tail) if is_listen(event)), None)
        head = base.with_entities(column.id, column.data).order_by(column.id).limit(OPENING_LIMIT).all()
        opening: list[tuple[int, dict[str, Any]]] = []
        for row in head:
            event = json.loads(row.data)
            if event.get("event") == "user":
                break
            opening.append((row.id, event))
        if cut is None or len(opening) == len(head):  # no turn boundary, or an odd session: use it whole
            return [json.loads(row.data) for row in base.with_entities(column.data).order_by(column.id)]
        cut_id = tail[cut][0]
        after = opening[-1][0] if opening else 0
        reset = (
            base.with_entities(func.max(column.id))
            .filter(column.type_name.in_(("restart", "reset_slots")), column.id < cut_id)
            .scalar()
        )
        after = max(after, reset or 0)
        latest_per_slot = (
            base.with_entities(func.max(column.id))
            .filter(column.type_name == "slot", column.id > after, column.id < cut_id)
            .group_by(column.action_name)
        )
        slot_ids = [row[0] for row in latest_per_slot.all()]
        state_rows = session.query(column.data).filter(column.id.in_(slot_ids)).order_by(column.id).all()
        state = [json.loads(row.data) for row in state_rows] if slot_ids else []
        loop = (
            base.with_entities(column.data)
            .filter(column.type_name == "active_loop", column.id > after, column.id < cut_id)
            .order_by(column.id.desc())
            .first()
        )
        if loop is not None:
            state.append(json.loads(loop.data))
        elif reset:
            state.append({"event": "active_loop", "name": None})
        return assemble([e for _, e in opening], state, [e for _, e in tail[cut:]])

    def _already_stored(self, session: Any, tracker: DialogueStateTracker) -> int:
        """How many of `tracker.events` are in the store: known for a tracker this store gave out
        (compacted or not); else the stored count, or, for a cut tracker that lost its mark, the
        events up to the last stored timestamp."""
        known = getattr(tracker, STORED_EVENTS, None)
        if isinstance(known, int):
            return known
        query = self._event_query(session, tracker.sender_id, fetch_events_from_all_sessions=False)
        stored = query.count()
        if stored <= len(tracker.events):
            return stored
        last = max((row.timestamp or 0.0) for row in query.with_entities(self.SQLEvent.timestamp))
        return sum(1 for event in tracker.events if (event.timestamp or 0.0) <= last)

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Store the events not stored yet, each as a redacted copy."""
        with self.session_scope() as session:
            stored = self._already_stored(session, tracker)
            state = RedactionState()
            rows = []
            for index, event in enumerate(tracker.events):
                if index < stored:
                    follow_event(event.as_dict(), state)  # stored already: only the form state matters
                    continue
                data = redact_event(event.as_dict(), state)
                rows.append(
                    {
                        "sender_id": tracker.sender_id,
                        "type_name": event.type_name,
                        "timestamp": data.get("timestamp"),
                        "intent_name": data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
                        "action_name": data.get("name"),
                        "data": json.dumps(data),
                    }
                )
            if rows:  # one INSERT for the turn's events, not the ORM's unit of work per event
                session.execute(self.SQLEvent.__table__.insert(), rows)
            session.commit()
        setattr(tracker, STORED_EVENTS, len(tracker.events))

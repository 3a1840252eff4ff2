"""Rasa's Redis lock store, plus: a ticket held by a Rasa server that died is not waited for.

Rasa serialises the messages of one conversation with a ticket lock in Redis: a message takes a
ticket and waits until the tickets before it are done or expired (`TICKET_LOCK_LIFETIME` seconds
after they were issued). When a Rasa server dies while it handles messages, their tickets stay
until they expire, and the next message of each such conversation waits on the server it reached,
holding one of that server's slots in the balancer (maxconn, deploy/haproxy.cfg). Measured in
`tests/cluster` with 50 conversations: when the killed server had started all four of its
messages, the four next messages held every slot of the survivor, and nothing was answered for
18 s.

This store records which server issued each ticket (a key per ticket, `lockmeta:owner:<conversation>:<n>`),
and each server keeps a heartbeat key (`lockmeta:alive:<server>`, `ALIVE_SECONDS` long, renewed every
`BEAT_SECONDS` by a thread) from its first ticket on. A waiting message drops the tickets before it whose
server's heartbeat is gone: a dead server's tickets are overtaken within `ALIVE_SECONDS` (3) instead
of the lock lifetime. Tickets without an owner key (written by Rasa's own store) and tickets of live
servers expire only as Rasa's do, so the lifetime stays the bound for a server that is alive but slow.

Configure it in endpoints.cluster.yml (the settings are Rasa's `RedisLockStore`'s):

    lock_store:
      type: tracker_store.lock_store.LiveRedisLockStore
      url: 127.0.0.1
      port: 6379
      db: 1
"""

from __future__ import annotations

import logging
import math
import threading
import uuid
from collections import deque
from typing import Any, Optional, Text

from rasa.core.lock import TicketLock
from rasa.core.lock_store import DEFAULT_REDIS_LOCK_STORE_KEY_PREFIX, LOCK_LIFETIME, LockError, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

logger = logging.getLogger(__name__)

ALIVE_SECONDS = 3  # a server whose heartbeat is older than this is taken for dead
BEAT_SECONDS = 1.0  # how often a server renews its heartbeat


class LiveRedisLockStore(RedisLockStore):
    """`RedisLockStore` that does not wait for the tickets of a server that died."""

    def __init__(self, endpoint_config: Optional[EndpointConfig] = None, **kwargs: Any) -> None:
        if endpoint_config is not None:  # how Rasa creates a lock store named by its module path
            kwargs = {"host": endpoint_config.url or "localhost", **endpoint_config.kwargs, **kwargs}
        super().__init__(**kwargs)
        self.server_id = uuid.uuid4().hex
        self._beating = threading.Event()
        self._stopped = threading.Event()
        self._beat_lock = threading.Lock()

    # -- keys -------------------------------------------------------------------------------------

    @property
    def _meta_prefix(self) -> str:
        """Beside Rasa's keys (`[<prefix>:]lock:<conversation>`), never among them: a conversation
        ID is chosen by the client and could otherwise name one of these keys."""
        return self.key_prefix[: -len(DEFAULT_REDIS_LOCK_STORE_KEY_PREFIX)] + "lockmeta:"

    def _owner_key(self, conversation_id: Text, number: int) -> str:
        return f"{self._meta_prefix}owner:{conversation_id}:{number}"

    def _alive_key(self, server_id: str) -> str:
        return f"{self._meta_prefix}alive:{server_id}"

    # -- the heartbeat ----------------------------------------------------------------------------

    def beat(self) -> None:
        """Renew this server's heartbeat once."""
        self.red.set(self._alive_key(self.server_id), "1", ex=ALIVE_SECONDS)

    def _keep_beating(self) -> None:
        while not self._stopped.wait(BEAT_SECONDS):
            try:
                self.beat()
            except Exception as exc:  # Redis away for a moment: the next beat tries again
                logger.warning("lock store heartbeat failed: %s", type(exc).__name__)

    def _start_beating(self) -> None:
        if self._beating.is_set():
            return
        with self._beat_lock:
            if not self._beating.is_set():
                self.beat()
                threading.Thread(target=self._keep_beating, name="lock-heartbeat", daemon=True).start()
                self._beating.set()

    def stop(self) -> None:
        """Stop the heartbeat (tests; a server that exits stops it anyway)."""
        self._stopped.set()

    # -- Rasa's lock store ------------------------------------------------------------------------

    def issue_ticket(self, conversation_id: Text, lock_lifetime: float = LOCK_LIFETIME) -> int:
        """Rasa's `issue_ticket`, with the ticket's owner written before the ticket is saved (so no
        server sees the ticket without it). Ticket numbers start again once a lock is deleted, so
        the record holds the ticket's expiry too: a record left by an earlier ticket of the same
        number does not match, and is ignored."""
        try:
            self._start_beating()
            lock = self.get_or_create_lock(conversation_id)
            number = lock.issue_ticket(lock_lifetime)
            ticket = lock.tickets[-1]
            self.red.set(
                self._owner_key(conversation_id, number),
                f"{self.server_id} {ticket.expires!r}",
                ex=math.ceil(lock_lifetime) + 1,
            )
            self.save_lock(lock)
            return number
        except Exception as exc:  # as Rasa's: the message handler turns it into "busy"
            raise LockError(f"Error while acquiring lock. Error:\n{exc}") from exc

    def get_lock(self, conversation_id: Text) -> Optional[TicketLock]:
        """The lock without the tickets of servers that died (`update_lock`, called while a message
        waits, saves it so)."""
        lock = super().get_lock(conversation_id)
        if lock is None or not lock.tickets:
            return lock
        records = self.red.mget([self._owner_key(conversation_id, t.number) for t in lock.tickets])
        owners: dict[int, str] = {}
        for ticket, record in zip(lock.tickets, records, strict=True):
            server, _, expires = (record or b"").decode(errors="replace").partition(" ")
            if server and server != self.server_id and expires == repr(ticket.expires):
                owners[ticket.number] = server
        if not owners:
            return lock
        servers = sorted(set(owners.values()))
        alive = dict(zip(servers, self.red.mget([self._alive_key(s) for s in servers]), strict=True))
        dead = {number for number, server in owners.items() if alive[server] is None}
        if dead:
            logger.warning("lock store: %d ticket(s) of a server that stopped are not waited for", len(dead))
            lock.tickets = deque(t for t in lock.tickets if t.number not in dead)
        return lock

    def cleanup(self, conversation_id: Text, ticket_number: int) -> None:
        super().cleanup(conversation_id, ticket_number)
        self.red.delete(self._owner_key(conversation_id, ticket_number))

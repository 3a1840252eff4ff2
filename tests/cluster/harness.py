"""Running scripts/run-cluster for the tests, talking to it through its balancer, reading what it stored.

Everything is on 127.0.0.1: the cluster on free ports, a private PostgreSQL database per run (created
here, dropped afterwards), a private Redis key prefix for the conversation locks.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import aiohttp
import redis
import requests
import sqlalchemy
import websockets
from sqlalchemy.engine import make_url

from tests.support import required as support_required

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "activation.tar.gz"
PG_ADMIN_URL = os.environ.get("CLUSTER_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
REDIS_LOCK_DB = 1
START_TIMEOUT = 360.0  # seconds: two Rasa servers load TensorFlow and the model on 2 cores
RASA_MAXCONN = 4  # requests HAProxy lets into one Rasa server at once (CLUSTER_RASA_MAXCONN)
WECHAT_TOKEN = "cluster-test-wechat-token"


def required() -> bool:
    """REQUIRE_CLUSTER set (CI): a missing piece fails the tests instead of skipping them."""
    return support_required("REQUIRE_CLUSTER")


def haproxy_binary() -> Optional[str]:
    """Debian's haproxy (in /usr/sbin, which is not on every PATH)."""
    return shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin:/usr/local/sbin")


def missing_pieces() -> list[str]:
    """What the cluster needs and this machine lacks (empty: everything is there)."""
    missing = []
    if haproxy_binary() is None:
        missing.append("haproxy is not installed (apt-get install -y haproxy)")
    if not MODEL.exists():
        missing.append(f"{MODEL} is missing (make train)")
    engine = sqlalchemy.create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
    try:
        engine.connect().close()
    except Exception as exc:  # noqa: BLE001 - any failure means unreachable
        missing.append(f"PostgreSQL at {PG_ADMIN_URL} is unreachable ({str(exc).splitlines()[0]})")
    finally:
        engine.dispose()
    try:
        redis.Redis(host=REDIS_HOST, port=REDIS_PORT, socket_timeout=3, socket_connect_timeout=3).ping()
    except redis.RedisError as exc:
        missing.append(f"Redis at {REDIS_HOST}:{REDIS_PORT} is unreachable ({exc})")
    return missing


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports that nothing listens on at the moment."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass
class Cluster:
    """A running scripts/run-cluster and where to reach and inspect it."""

    url: str
    stats_url: str
    workdir: Path
    database_url: str
    lock_prefix: str
    process: subprocess.Popen
    started_in: float = 0.0

    def pid(self, name: str) -> int:
        """The process id of ``rasa1``, ``actions2``, ``haproxy``… as run-cluster wrote it."""
        return int((self.workdir / f"{name}.pid").read_text().strip())

    def server_states(self, backend: str = "rasa") -> dict[str, dict[str, str]]:
        """HAProxy's statistics of each server of ``backend``: {"rasa1": {"status": "UP", "stot": …}}."""
        body = requests.get(f"{self.stats_url};csv", timeout=5).text.lstrip("# ")
        rows = csv.DictReader(io.StringIO(body))
        summary = ("FRONTEND", "BACKEND")
        return {row["svname"]: row for row in rows if row["pxname"] == backend and row["svname"] not in summary}

    def log_tail(self, name: str, characters: int = 3000) -> str:
        """The end of one process's log (rasa1, haproxy, cluster…), for failure messages."""
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace")[-characters:] if path.exists() else f"(no {path})"


def _admin_engine() -> sqlalchemy.engine.Engine:
    return sqlalchemy.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})


def start_cluster(workdir: Path) -> Cluster:
    """Create a private database, start scripts/run-cluster on free ports, wait until it is ready."""
    workdir.mkdir(parents=True, exist_ok=True)
    run_id = uuid.uuid4().hex[:10]
    database = f"cluster_test_{run_id}"
    admin = _admin_engine()
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'CREATE DATABASE "{database}"'))
    admin.dispose()
    database_url = str(make_url(PG_ADMIN_URL).set(database=database))
    port, stats, actions_lb, rasa1, rasa2, actions1, actions2 = free_ports(7)
    env = {
        **os.environ,
        "PATH": f"{os.environ.get('PATH', '')}:/usr/sbin",
        "CLUSTER_DIR": str(workdir),
        "CLUSTER_PORT": str(port),
        "CLUSTER_STATS_PORT": str(stats),
        "CLUSTER_ACTIONS_LB_PORT": str(actions_lb),
        "CLUSTER_RASA_PORTS": f"{rasa1} {rasa2}",
        "CLUSTER_ACTION_PORTS": f"{actions1} {actions2}",
        "CLUSTER_RASA_MAXCONN": str(RASA_MAXCONN),
        "CLUSTER_START_TIMEOUT": str(int(START_TIMEOUT)),
        "CLUSTER_PG_URL": database_url,
        "TRACKER_STORE_URL": database_url,
        "CARD_REGISTRY_URL": database_url,
        "CARD_REGISTRY_SECRET": "cluster-test-registry-secret",
        "REDIS_LOCK_PREFIX": f"clustertest{run_id}",
        "REDIS_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/0",
        "WECHAT_TOKEN": WECHAT_TOKEN,
        "WECHAT_API_BASE": "http://127.0.0.1:9",  # never called: every test reply is passive
    }
    for var in (
        "RASA_AUTH_TOKEN",
        "SANIC_WORKERS",
        "TICKET_LOCK_LIFETIME",
        "REDIS_LOCK_HOST",
        "REDIS_LOCK_PORT",
        "REDIS_LOCK_DB",
    ):
        env.pop(var, None)
    log = (workdir / "cluster.log").open("ab")
    started = time.monotonic()
    process = subprocess.Popen(
        ["bash", str(ROOT / "scripts" / "run-cluster")],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so a failed stop can still end all of it
    )
    cluster = Cluster(
        url=f"http://127.0.0.1:{port}",
        stats_url=f"http://127.0.0.1:{stats}/stats",
        workdir=workdir,
        database_url=database_url,
        lock_prefix=f"clustertest{run_id}",
        process=process,
    )
    deadline = started + START_TIMEOUT + 30
    while not (workdir / "ready").exists():
        if process.poll() is not None or time.monotonic() > deadline:
            stop_cluster(cluster)
            tail = cluster.log_tail("cluster")
            raise RuntimeError(f"run-cluster did not become ready (exit {process.returncode}):\n{tail}")
        time.sleep(1)
    cluster.started_in = time.monotonic() - started
    return cluster


def stop_cluster(cluster: Cluster) -> None:
    """SIGTERM run-cluster (it stops what it started), then drop the database and the lock keys."""
    if cluster.process.poll() is None:
        cluster.process.send_signal(signal.SIGTERM)
        try:
            cluster.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(cluster.process.pid, signal.SIGKILL)  # the group this test started, by its id
            cluster.process.wait(timeout=10)
    database = make_url(cluster.database_url).database
    admin = _admin_engine()
    with admin.connect() as connection:
        connection.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    admin.dispose()
    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=REDIS_LOCK_DB, socket_timeout=3)
    keys = list(client.scan_iter(match=f"{cluster.lock_prefix}:*", count=500))
    if keys:
        client.delete(*keys)


# --------------------------------------------------------------------------------------- traffic


@dataclass
class Turn:
    """One message sent through the balancer and what came back."""

    sender: str
    index: int
    text: str
    started: float
    ended: float = 0.0
    status: Optional[int] = None
    served_by: Optional[str] = None
    reply: str = ""
    error: Optional[str] = None

    @property
    def answered(self) -> bool:
        return self.status == 200 and bool(self.reply.strip())


def say(session: requests.Session, url: str, sender: str, index: int, text: str, timeout: float) -> Turn:
    """POST one message to the REST channel; never raises."""
    turn = Turn(sender, index, text, time.monotonic())
    try:
        response = session.post(
            f"{url}/webhooks/rest/webhook", json={"sender": sender, "message": text}, timeout=timeout
        )
        turn.status, turn.served_by = response.status_code, response.headers.get("X-Served-By")
        if response.status_code == 200:
            turn.reply = "\n".join(message.get("text", "") for message in response.json())
        else:
            turn.error = response.text[:200]
    except (requests.RequestException, ValueError) as exc:
        turn.error = repr(exc)
    turn.ended = time.monotonic()
    return turn


@dataclass
class Load:
    """Conversations run at once, each message after the previous one's answer."""

    url: str
    plans: dict[str, list[str]]
    deadline: float  # time.monotonic() after which no further message is sent
    request_timeout: float = 150.0
    turns: list[Turn] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    on_turn: Optional[Callable[[Turn], None]] = None

    def _conversation(self, sender: str) -> None:
        with requests.Session() as session:
            for index, text in enumerate(self.plans[sender]):
                if time.monotonic() > self.deadline:
                    return
                turn = say(session, self.url, sender, index, text, self.request_timeout)
                with self._lock:
                    self.turns.append(turn)
                if self.on_turn is not None:
                    self.on_turn(turn)

    def run(self) -> float:
        """Run every conversation to its end (or the deadline); the seconds it took."""
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=len(self.plans)) as pool:
            for future in [pool.submit(self._conversation, sender) for sender in self.plans]:
                future.result()
        return time.monotonic() - started

    def of(self, sender: str) -> list[Turn]:
        """The turns of one conversation, in order."""
        return sorted((turn for turn in self.turns if turn.sender == sender), key=lambda turn: turn.index)


# --------------------------------------------------------------------------------------- storage


def stored_events(database_url: str, senders: Iterable[str]) -> dict[str, list[dict]]:
    """Every event of each conversation in the tracker store's ``events`` table, in insertion order."""
    wanted = list(senders)
    engine = sqlalchemy.create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sqlalchemy.text("SELECT sender_id, data FROM events WHERE sender_id = ANY(:senders) ORDER BY id"),
                {"senders": wanted},
            ).all()
    finally:
        engine.dispose()
    events: dict[str, list[dict]] = {sender: [] for sender in wanted}
    for sender, data in rows:
        events[sender].append(json.loads(data))
    return events


# --------------------------------------------------------------------------------------- socket.io


@dataclass
class SocketIOExchange:
    """What a socket.io conversation through the balancer saw."""

    polling_servers: list[str]  # X-Served-By of each polling request before the upgrade
    replies: list[dict[str, Any]]  # bot_uttered events, received over the websocket


async def socketio_exchange(
    url: str, session_id: str, message: str, until: str | tuple[str, ...], timeout: float = 60
) -> SocketIOExchange:
    """Talk to Rasa's socket.io channel as the browser's client does: Engine.IO 4 long-polling (open,
    namespace connect, its acknowledgement), then the upgrade to a websocket, then the session and
    one message, collecting ``bot_uttered`` events until one contains ``until`` (or ``timeout``).

    Written out here because python-engineio's own asyncio client needs a newer aiohttp than Rasa pins.
    """
    deadline = time.monotonic() + timeout
    base = f"{url}/socket.io/?EIO=4"
    servers: list[str] = []
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:

        async def poll(method: str, sid: Optional[str] = None, body: Optional[str] = None) -> str:
            query = f"{base}&transport=polling" + (f"&sid={sid}" if sid else "")
            async with http.request(method, query, data=body) as response:
                servers.append(response.headers.get("X-Served-By", "?"))
                text = await response.text()
                assert response.status == 200, f"{method} polling: {response.status} {text[:200]}"
                return text

        opened = await poll("GET")
        assert opened.startswith("0"), opened
        sid = json.loads(opened[1:])["sid"]
        assert (await poll("POST", sid, "40")).lower() == "ok"
        acknowledged = await poll("GET", sid)
        assert any(packet.startswith("40") for packet in acknowledged.split("\x1e")), acknowledged

    ws_url = base.replace("http://", "ws://", 1) + f"&transport=websocket&sid={sid}"
    replies: list[dict[str, Any]] = []
    async with websockets.connect(ws_url, open_timeout=20, close_timeout=5) as websocket:
        await websocket.send("2probe")
        assert await asyncio.wait_for(websocket.recv(), 20) == "3probe"
        await websocket.send("5")  # upgrade done: from here on, the websocket only
        await websocket.send("42" + json.dumps(["session_request", {"session_id": session_id}]))
        await websocket.send("42" + json.dumps(["user_uttered", {"message": message, "session_id": session_id}]))
        wanted = (until,) if isinstance(until, str) else until
        while time.monotonic() < deadline and not any(
            line in reply.get("text", "") for reply in replies for line in wanted
        ):
            try:
                packet = await asyncio.wait_for(websocket.recv(), max(0.1, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                break
            if packet == "2":  # the server's ping
                await websocket.send("3")
            elif isinstance(packet, str) and packet.startswith("42"):
                event, *data = json.loads(packet[2:])
                if event == "bot_uttered" and data:
                    replies.append(data[0])
    return SocketIOExchange(servers, replies)

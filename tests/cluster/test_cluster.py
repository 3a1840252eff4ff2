"""The assistant as a cluster (scripts/run-cluster): 2 Rasa servers and 2 action servers behind HAProxy,
conversations in PostgreSQL, conversation locks in Redis.

Checked through the balancer on 127.0.0.1 only, with every loop bounded in count and time:
- routing: REST, socket.io (sticky, upgraded to a websocket) and WeChat reach the Rasa servers, a
  WeChat retry answered by the other server is recognised (the shared Redis store), nothing else of
  Rasa is published;
- 50 conversations at once, 20 messages each, every conversation served by both Rasa servers: every
  message answered with its topic's answer, every tracker holds every message once, in order;
- one Rasa server killed (SIGKILL) under that load: only the requests in flight on it at that
  moment may fail (at most twice its maxconn, see the test; the first hang-up takes it out of the
  pool), everything sent later is answered by
  the other server, no tracker is corrupted, and the killed server, restarted by run-cluster, gets
  traffic again.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from typing import Optional

import pytest
import requests
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker

from channels.wechat.crypto import compute_signature
from channels.wechat.messages import parse_xml
from core.knowledge import KnowledgeBase
from tests.cluster.harness import (
    RASA_MAXCONN,
    ROOT,
    WECHAT_TOKEN,
    Cluster,
    Load,
    Turn,
    say,
    socketio_exchange,
    stored_events,
)
from tests.support import topic_answers

pytestmark = pytest.mark.cluster

# Real questions, with the topic and language of the answer they must get.
QUESTIONS: list[tuple[str, str, str]] = [
    ("社保卡在哪里激活", "ask_how_to_activate", "zh"),
    ("激活要带什么", "ask_required_documents", "zh"),
    ("How much does activation cost?", "ask_activation_fee", "en"),
    ("社保卡密码忘了怎么办", "ask_password", "zh"),
    ("社保卡丢了怎么挂失", "ask_lost_or_replace_card", "zh"),
    ("Do I need to bring my ID card to activate?", "ask_required_documents", "en"),
    ("Can someone else activate the card for me?", "ask_activate_for_someone", "en"),
    ("社保卡激活有期限吗", "ask_activation_deadline", "zh"),
    ("电子社保卡怎么申领", "ask_electronic_card", "zh"),
    ("How do I activate my social security card?", "ask_how_to_activate", "en"),
    ("激活要收费吗", "ask_activation_fee", "zh"),
    ("What is the deadline for activating the card?", "ask_activation_deadline", "en"),
    ("I forgot my card password", "ask_password", "en"),
    ("可以让家人代办激活吗", "ask_activate_for_someone", "zh"),
    ("激活后能做什么", "ask_after_activation", "zh"),
]
Plan = list[tuple[str, Optional[str], str]]  # (message, topic of its answer or None, language)
# Naming the city answers the previous question again, for Guangzhou, in Chinese.
REGION = "我在广州"
PHASE_TIMEOUT = 240.0  # seconds: no message of a load is sent after this


def plan_for(conversation: int, length: int) -> Plan:
    """The messages of one conversation: questions in a rotation of its own, the city every 5th."""
    plan: Plan = []
    asked = 0
    for index in range(length):
        if index % 5 == 4:
            plan.append((REGION, None, "zh"))
        else:
            plan.append(QUESTIONS[(conversation * 7 + asked) % len(QUESTIONS)])
            asked += 1
    return plan


def first_lines(kb: KnowledgeBase, topic: str, language: str) -> set[str]:
    """The first lines of every answer of `topic` (its general answer or an entry's: the NLU picks)."""
    return {answer.splitlines()[0] for answer in topic_answers(kb, topic, language)}


def expected_lines(kb: KnowledgeBase, plan: Plan, index: int, failed: set[int]) -> set[str]:
    """First lines of the answers message ``index`` may get (one, unless an earlier message failed).

    For the city the answer is the previous question's; if that question failed (it was in flight on
    the killed server), the store may or may not have it, so the one before is accepted as well.
    """
    text, topic, language = plan[index]
    if topic is not None:
        return first_lines(kb, topic, language)
    lines: set[str] = set()
    for earlier in range(index - 1, -1, -1):
        earlier_topic = plan[earlier][1]
        if earlier_topic is None:
            continue
        lines |= first_lines(kb, earlier_topic, language)
        if earlier not in failed:
            break
    return lines


def reply_problems(kb: KnowledgeBase, load: Load, plans: dict[str, Plan]) -> list[str]:
    """Every answered message whose reply is not its topic's answer."""
    problems = []
    for sender, plan in plans.items():
        turns = load.of(sender)
        failed = {turn.index for turn in turns if not turn.answered}
        for turn in turns:
            if turn.answered and not any(line in turn.reply for line in expected_lines(kb, plan, turn.index, failed)):
                problems.append(f"{sender} #{turn.index} {turn.text!r} got {turn.reply[:80]!r}")
    return problems


def tracker_problems(cluster: Cluster, load: Load, domain: Domain) -> list[str]:
    """Every conversation whose stored tracker is not exactly what was said.

    Each answered message must be stored once, in the order sent, with a bot reply after it; a failed
    one (in flight on a killed server) at most once; an unsent one not at all. Every conversation must
    load back as a Rasa tracker with the same user messages.
    """
    problems = []
    for sender, events in stored_events(cluster.database_url, load.plans).items():
        turns = load.of(sender)
        users = [(position, event["text"]) for position, event in enumerate(events) if event.get("event") == "user"]
        stored = iter(users)
        current = next(stored, None)
        for turn in turns:
            if current is not None and current[1] == turn.text:
                position = current[0]
                following = events[position + 1 : next((p for p, _ in users if p > position), len(events))]
                if turn.answered and not any(event.get("event") == "bot" for event in following):
                    problems.append(f"{sender} #{turn.index}: stored without a bot reply")
                current = next(stored, None)
            elif turn.answered:
                problems.append(f"{sender} #{turn.index} {turn.text!r} answered but not stored in order")
        if current is not None:
            leftover = [current[1], *[text for _, text in stored]]
            problems.append(f"{sender}: stored messages beyond what was sent (duplicates?): {leftover}")
        tracker = DialogueStateTracker.from_dict(sender, events, domain.slots)
        reloaded = [event.text for event in tracker.events if event.type_name == "user"]
        if reloaded != [text for _, text in users]:
            problems.append(f"{sender}: the tracker does not load back with its messages")
    return problems


def report(line: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Print a measurement even under -q (CI's log shows it)."""
    with capsys.disabled():
        print(f"\n[cluster] {line}")


@pytest.fixture(scope="module")
def domain() -> Domain:
    """The assistant's domain (its slots, to load trackers back)."""
    return Domain.load(str(ROOT / "domain.yml"))


# --------------------------------------------------------------------------------------- routing


def test_balancer_checks_health_and_publishes_only_the_channels(
    cluster: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    report(f"run-cluster ready in {cluster.started_in:.0f} s", capsys)
    home = requests.get(f"{cluster.url}/", timeout=10)
    assert home.status_code == 200 and "Hello from Rasa" in home.text
    assert home.headers.get("X-Served-By") in ("rasa1", "rasa2")
    assert requests.get(f"{cluster.url}/webhooks/rest/", timeout=10).json()["status"] == "ok"
    # Rasa's HTTP API, model and status routes are not published through the balancer.
    for path in ("/status", "/version", "/conversations/x/tracker", "/model/parse"):
        assert requests.get(f"{cluster.url}{path}", timeout=10).status_code == 404, path
    rasa, actions = cluster.server_states("rasa"), cluster.server_states("actions")
    assert {name: row["status"] for name, row in rasa.items()} == {"rasa1": "UP", "rasa2": "UP"}
    assert {name: row["status"] for name, row in actions.items()} == {"actions1": "UP", "actions2": "UP"}


async def test_socketio_goes_through_sticky_and_upgrades_to_a_websocket(cluster: Cluster, kb: KnowledgeBase) -> None:
    expected = tuple(first_lines(kb, "ask_how_to_activate", "zh"))
    for _ in range(3):  # a few sessions: each must stay on one server while it polls
        exchange = await socketio_exchange(cluster.url, uuid.uuid4().hex, "社保卡在哪里激活", until=expected)
        assert len(set(exchange.polling_servers)) == 1, exchange.polling_servers
        assert any(line in reply.get("text", "") for reply in exchange.replies for line in expected), exchange.replies


def _wechat_post(cluster: Cluster, msg_id: str, content: str, openid: str) -> requests.Response:
    timestamp, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
    params = {"signature": compute_signature(WECHAT_TOKEN, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}
    body = (
        f"<xml><ToUserName><![CDATA[gh_cluster]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{timestamp}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    )
    return requests.post(f"{cluster.url}/webhooks/wechat/webhook", params=params, data=body.encode("utf-8"), timeout=30)


def test_wechat_retry_reaching_the_other_server_is_answered_once(cluster: Cluster, kb: KnowledgeBase) -> None:
    msg_id, openid = str(uuid.uuid4().int % 10**18), f"o-cluster-{uuid.uuid4().hex[:8]}"
    first = _wechat_post(cluster, msg_id, "激活要带什么", openid)
    assert first.status_code == 200, first.text
    content = parse_xml(first.content)["Content"]
    assert any(line in content for line in first_lines(kb, "ask_required_documents", "zh")), content
    # WeChat retries with the same MsgId; wherever the retry lands, it is not answered again.
    servers = {first.headers["X-Served-By"]}
    for _ in range(6):
        retry = _wechat_post(cluster, msg_id, "激活要带什么", openid)
        assert retry.status_code == 200 and retry.text == "success", retry.text
        servers.add(retry.headers["X-Served-By"])
        if len(servers) == 2:
            break
    assert servers == {"rasa1", "rasa2"}


# --------------------------------------------------------------------------------------- load


def test_50_conversations_of_20_messages_over_both_servers(
    cluster: Cluster, kb: KnowledgeBase, domain: Domain, capsys: pytest.CaptureFixture[str]
) -> None:
    run = uuid.uuid4().hex[:6]
    plans = {f"load-{run}-{number:02d}": plan_for(number, 20) for number in range(50)}
    messages = {sender: [text for text, _, _ in plan] for sender, plan in plans.items()}
    load = Load(cluster.url, messages, time.monotonic() + PHASE_TIMEOUT)
    seconds = load.run()
    latencies = sorted(turn.ended - turn.started for turn in load.turns)
    p50, p95 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.95)]
    report(
        f"50 x 20 messages: {len(load.turns)} in {seconds:.1f} s = {len(load.turns) / seconds:.1f} msg/s through the "
        f"balancer, latency p50 {p50:.2f} s, p95 {p95:.2f} s, max {latencies[-1]:.2f} s",
        capsys,
    )

    assert len(load.turns) == 1000, "the load did not finish within its time"
    unanswered = [turn for turn in load.turns if not turn.answered]
    assert not unanswered, [(turn.sender, turn.index, turn.status, turn.error) for turn in unanswered[:5]]
    assert not reply_problems(kb, load, plans)
    one_server = [sender for sender in plans if {turn.served_by for turn in load.of(sender)} != {"rasa1", "rasa2"}]
    assert not one_server, f"conversations served by one Rasa server only: {one_server}"
    served = {name: int(row["stot"]) for name, row in cluster.server_states("rasa").items()}
    assert all(count >= 300 for count in served.values()), served
    assert not tracker_problems(cluster, load, domain)


# --------------------------------------------------------------------------------------- failure


WATCH_LAG = 5.0  # seconds StateWatch may notice a state change late
LOCK_WAIT_BOUND = 15.0  # seconds: below the lock lifetime (20), above a message's worst time under this load (~8)


class StateWatch:
    """Polls HAProxy's view of one server (every 0.5 s, until stopped) and notes when it changes."""

    def __init__(self, cluster: Cluster, server: str) -> None:
        self.cluster, self.server = cluster, server
        self.changes: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            try:
                status = self.cluster.server_states("rasa")[self.server]["status"]
            except (requests.RequestException, KeyError):
                continue
            if not self.changes or self.changes[-1][1] != status:
                self.changes.append((time.monotonic(), status))

    def first(self, status: str, after: float) -> Optional[float]:
        """When the server was first seen in ``status`` after ``after``."""
        return next((at for at, seen in self.changes if seen == status and at > after), None)

    def back_up(self, kill: float) -> Optional[float]:
        """When the server was seen UP again after being DOWN after ``kill``."""
        down = self.first("DOWN", kill)
        return None if down is None else self.first("UP", down)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def test_killing_one_rasa_server_mid_load(
    cluster: Cluster, kb: KnowledgeBase, domain: Domain, capsys: pytest.CaptureFixture[str]
) -> None:
    victim, survivor = "rasa1", "rasa2"
    victim_pid = cluster.pid(victim)
    run = uuid.uuid4().hex[:6]
    plans = {f"kill-{run}-{number:02d}": plan_for(number + 3, 10) for number in range(50)}
    killed_at: list[float] = []
    answered_at_kill: list[int] = []
    answered_before = threading.Event()
    count = [0]
    count_lock = threading.Lock()

    def count_answered(turn: Turn) -> None:
        with count_lock:
            count[0] += turn.answered
            if count[0] >= 120:
                answered_before.set()

    def kill_when_loaded() -> None:
        if answered_before.wait(timeout=120):
            with count_lock:
                killed_at.append(time.monotonic())
                answered_at_kill.append(count[0])
            os.kill(victim_pid, signal.SIGKILL)  # the Rasa server run-cluster started, by its id

    log_before = len(cluster.log_tail("haproxy", 10**8))
    watch = StateWatch(cluster, victim)
    killer = threading.Thread(target=kill_when_loaded, daemon=True)
    killer.start()
    load = Load(
        cluster.url,
        {sender: [text for text, _, _ in plan] for sender, plan in plans.items()},
        time.monotonic() + PHASE_TIMEOUT,
        on_turn=count_answered,
    )
    seconds = load.run()
    killer.join(timeout=5)
    assert killed_at, "the load never got far enough to kill a server"
    kill = killed_at[0]

    # Run-cluster starts the killed server again; the balancer's health checks put it back.
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and watch.back_up(kill) is None:
        time.sleep(1)
    watch.stop()
    down, up = watch.first("DOWN", kill), watch.back_up(kill)
    failed = [turn for turn in load.turns if not turn.answered]
    after_kill = [turn for turn in load.turns if turn.started > kill]
    report(
        f"kill: {len(load.turns)} messages in {seconds:.1f} s, {victim} SIGKILLed after {answered_at_kill[0]} "
        f"answers at +{kill - load.turns[0].started:.1f} s, marked DOWN after {(down or kill) - kill:.1f} s, back UP "
        f"{(up or kill) - kill:.0f} s after the kill; {len(failed)} failed (in flight at the kill), "
        f"{len(after_kill)} sent after the kill",
        capsys,
    )

    # Only the requests in flight on the killed server may fail: those it was processing (at most its
    # maxconn), and those HAProxy handed it on the slots they freed before it was out of the pool
    # (at most maxconn again; seen: at most one). All were sent before the kill, failed at once,
    # and HAProxy logged each as a 502 from the killed server (SH: the server hung up). Nothing sent
    # after the kill may fail.
    assert len(failed) <= 2 * RASA_MAXCONN, [(turn.sender, turn.index, turn.status, turn.error) for turn in failed]
    # The first request the dying server hung up on took it out of the pool (deploy/haproxy.cfg:
    # observe layer7), not the first refused connection, which comes only once its socket is closed:
    # waiting for that let up to 9 requests fail.
    haproxy_log = cluster.log_tail("haproxy", 10**8)
    went_down = [line for line in haproxy_log[log_before:].splitlines() if f"Server rasa/{victim} is DOWN" in line]
    assert went_down and "Health analyze" in went_down[0] and "(http)" in went_down[0], went_down
    timing = [(turn.sender, turn.index, round(turn.started - kill, 2), round(turn.ended - kill, 2)) for turn in failed]
    assert all(turn.started < kill for turn in failed), f"a message sent after the kill failed: {timing}"
    assert all(kill < turn.ended < kill + 5 for turn in failed), f"a failure took over 5 s to come back: {timing}"
    rest_errors = [line for line in haproxy_log.splitlines() if "/webhooks/rest/" in line and " 200 " not in line]
    assert len(rest_errors) == len(failed) and all(
        f"rasa/{victim} " in line and " 502 " in line for line in rest_errors
    )
    assert len(load.turns) == 500, "the load did not finish within its time"
    assert len(after_kill) >= 100
    # A conversation whose message died with the server still held a ticket of Rasa's lock; its next
    # message does not wait for that ticket's lifetime (TICKET_LOCK_LIFETIME, 20 s), holding a slot of
    # the survivor: the lock store sees the dead server's heartbeat gone (3 s) and goes on
    # (tracker_store/lock_store.py). With Rasa's own store every run had such a 20 s wait, and when
    # four came at once the survivor answered nothing for 18 s.
    slowest = max(after_kill, key=lambda turn: turn.ended - turn.started)
    assert slowest.ended - slowest.started < LOCK_WAIT_BOUND, (slowest.sender, slowest.index, slowest.served_by)
    # Until the restarted server is back, the survivor answers everything. "Back" is when the watch
    # saw it UP, polling every 0.5 s from a thread that shares the GIL with 50 load threads on a
    # busy machine: it can see the change seconds late, so the last seconds before are left out.
    while_down = [turn for turn in after_kill if up is None or turn.ended < up - WATCH_LAG]
    assert {turn.served_by for turn in while_down} == {survivor}
    assert not reply_problems(kb, load, plans)
    assert not tracker_problems(cluster, load, domain)

    # The killed server rejoins: a new process, UP, and the balancer sends it messages again.
    assert up is not None, f"{victim} did not come back:\n{cluster.log_tail(victim)}"
    assert cluster.pid(victim) != victim_pid
    # Both servers in the balancer's rotation before the rejoin is judged: under the load just run,
    # the survivor too may have been marked down for a moment (on-error mark-down, rise 2).
    both_up = {victim: "UP", survivor: "UP"}
    deadline = time.monotonic() + 30
    while {name: row["status"] for name, row in cluster.server_states("rasa").items()} != both_up:
        assert time.monotonic() < deadline, f"not both UP 30 s after the rejoin: {cluster.server_states('rasa')}"
        time.sleep(0.5)
    sender = f"rejoin-{run}"
    with requests.Session() as session:
        turns = [
            say(session, cluster.url, sender, number, text, 60) for number, (text, _, _) in enumerate(plan_for(1, 8))
        ]
    assert all(turn.answered for turn in turns)
    assert {turn.served_by for turn in turns} == {victim, survivor}
    log = (cluster.workdir / "cluster.log").read_text(errors="replace")
    assert f"{victim} exited" in log and "starting it again (1/5)" in log  # run-cluster tells the operator
    summary = {"seconds": seconds, "failed": len(failed), "after_kill": len(after_kill), "rejoined_after": up - kill}
    (cluster.workdir / "kill-summary.json").write_text(json.dumps(summary), encoding="utf-8")

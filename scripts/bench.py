"""Speed and memory of this assistant, side by side with a stock Rasa bot (`rasa init`), in one run.

Usage (from the project root, after `make train`):

    PYTHONPATH=. .venv/bin/python scripts/bench.py [--duration 20] [--long 300] [--stock-dir DIR] [--keep]

The machine is noisy, so every figure is measured for both bots in the same run and printed with the
ratio (this assistant / stock bot). The stock bot is `rasa init --no-prompt` in a temporary folder
(trained by `rasa init` itself, about a minute) with the same Rasa, its own action server and its
default in-memory tracker store. This assistant runs as `make run` starts it (action server +
scripts/run-rasa), on free ports, with its tracker store in a temporary SQLite file and the sample
card registry in another; the web pages' server (`python -m web.server`) is started at the end only
to measure its memory, since it loads the model too.

Measured for each bot:
  * seconds from process start to serving: the first successful answer on the REST channel;
  * closed-loop REST load at 1, 10 and 30 concurrent conversations (each sends its next message when
    the last is answered, a new conversation every few messages), for a fixed duration each:
    throughput and p50 / p95 / p99 latency; the two bots take turns at each level;
  * one long conversation (300 messages): mean latency of the first 20 and the last 20, and growth;
  * the NLU alone: every real question of tests/nlu_real/ (Chinese and English, the same texts for
    both bots) through Rasa's own /model/parse, one at a time: mean, p50 and p95 (the HTTP API is on
    for this run only, with a throwaway token);
  * resident memory (now and peak, VmRSS / VmHWM from /proc, children included) of every process.

Only 127.0.0.1 is contacted; no card lookups are made (they are rate limited). It measures, it does not
test: the exit status is 0 whatever the figures (1 only when a bot could not be started). Every process
it starts runs in its own process group and is stopped on exit, on errors and on Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, Callable, Optional, Sequence

import aiohttp
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.review import file_examples  # noqa: E402

VENV_BIN = ROOT / ".venv" / "bin"
RASA = VENV_BIN / "rasa"
PYTHON = VENV_BIN / "python"
MODEL = ROOT / "models" / "activation.tar.gz"
SAMPLE_CARDS = ROOT / "data" / "registry" / "sample_cards.csv"
BENCH_SECRET = "bench-only-registry-secret"
BENCH_API_TOKEN = "bench-only-api-token"  # both bots' HTTP API (/model/parse), this run only
HOST = "127.0.0.1"

START_TIMEOUT = 300.0  # seconds for a server to come up (Rasa loads TensorFlow and the model)
INIT_TIMEOUT = 900.0  # seconds for `rasa init` (it trains the stock model)
REQUEST_TIMEOUT = 60.0  # seconds for one REST answer
LONG_CAP = 300.0  # seconds at most for the long conversation of one bot
LEVELS = (1, 10, 30)
WARMUP_SECONDS = 4.0
EDGE = 20  # messages at each end of the long conversation
MIB = 1024  # kB per MiB (/proc reports kB)

# Targets, for reference (the script reports them, it does not enforce them).
TARGET_START_S = 20.0
TARGET_THROUGHPUT_10 = 30.0
TARGET_P95_10_MS = 400.0
TARGET_RATIO_10 = 2.5
TARGET_GROWTH = 1.5
TARGET_RSS_MIB = 1.2 * 1024

# What each bot understands. One closed-loop conversation is one pass through its list.
ASSISTANT_SCRIPT = (
    "社保卡在哪里激活",
    "激活要带什么",
    "How much does activation cost?",
    "我在广州",
    "拿到卡多久内要激活",
    "Can my daughter activate the card for me?",
    "忘记密码怎么办",
    "谢谢",
)
STOCK_SCRIPT = ("hello", "I am sad", "yes", "are you a bot?", "great", "I am feeling very good", "no", "bye")
# What both bots' NLU parses, one text at a time, through Rasa's own /model/parse: the real questions
# (tests/nlu_real/), the same texts for both, so the ratio is the pipelines' cost on real messages.
PARSE_SETS = (ROOT / "tests" / "nlu_real" / "zh.yml", ROOT / "tests" / "nlu_real" / "en.yml")

# --------------------------------------------------------------------------------------------------
# Processes


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Proc:
    """A process this script started, in its own process group, with its log file."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    started: float  # time.monotonic() just before it was started

    def tail(self, chars: int = 3000) -> str:
        """The end of the process's log."""
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")[-chars:]
        except OSError:
            return ""


class Processes:
    """Every process started by the benchmark; `stop_all` ends them (process groups)."""

    def __init__(self) -> None:
        self.started: list[Proc] = []

    def start(self, name: str, cmd: Sequence[str | Path], *, cwd: Path, env: dict[str, str], log: Path) -> Proc:
        """Start `cmd` in a new session (its own process group), output to `log`."""
        with log.open("wb") as out:
            began = time.monotonic()
            popen = subprocess.Popen(
                [str(part) for part in cmd],
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        proc = Proc(name, popen, log, began)
        self.started.append(proc)
        return proc

    def stop(self, proc: Proc, grace: float = 20.0) -> None:
        """SIGTERM the process group, then SIGKILL it if it has not ended after `grace` seconds."""
        _signal_group(proc.popen, signal.SIGTERM)
        try:
            proc.popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
        # Whatever is left in the group (children that ignored SIGTERM) gets SIGKILL.
        _signal_group(proc.popen, signal.SIGKILL)
        try:
            proc.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        if proc in self.started:
            self.started.remove(proc)

    def stop_all(self) -> None:
        """Stop every process still running, newest first (SIGTERM to all, then SIGKILL to stragglers)."""
        procs = list(reversed(self.started))
        for proc in procs:
            _signal_group(proc.popen, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for proc in procs:
            try:
                proc.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for proc in procs:
            _signal_group(proc.popen, signal.SIGKILL)
            try:
                proc.popen.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.started.clear()


def _signal_group(popen: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    """Send `sig` to the process group that `popen` leads (it was started in a new session)."""
    try:
        os.killpg(popen.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants (from /proc/*/stat)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may contain spaces: the parent pid follows the last ")".
        fields = stat[stat.rfind(")") + 2 :].split()
        parents.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(parents.get(current, []))
    return tree


def cpu_seconds(pid: int) -> float:
    """User + system CPU time, in seconds, of `pid` and its descendants (0 for a process that is gone)."""
    ticks = 0
    for member in process_tree(pid):
        try:
            stat = Path(f"/proc/{member}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    return ticks / os.sysconf("SC_CLK_TCK")


def memory_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) in kB of `pid` and its descendants, summed; (0, 0) for a process that is gone."""
    rss = hwm = 0
    for member in process_tree(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                rss += int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm += int(line.split()[1])
    return rss, hwm


# --------------------------------------------------------------------------------------------------
# Bots


@dataclass
class Bot:
    """One running bot: its REST URL, its processes and what was measured about it."""

    label: str
    rasa_url: str
    script: tuple[str, ...]
    procs: dict[str, Proc] = field(default_factory=dict)
    start_seconds: Optional[float] = None
    actions_seconds: Optional[float] = None
    loads: dict[int, LoadResult] = field(default_factory=dict)
    cpu_ms: dict[int, dict[str, float]] = field(default_factory=dict)  # level → process → CPU ms per answer
    long: Optional[LongResult] = None
    parse_seconds: list[float] = field(default_factory=list)  # /model/parse, one text at a time
    memory: dict[str, tuple[int, int]] = field(default_factory=dict)  # process name → (rss kB, hwm kB)
    notes: list[str] = field(default_factory=list)

    @property
    def webhook(self) -> str:
        """The REST channel's URL."""
        return f"{self.rasa_url}/webhooks/rest/webhook"


def base_env(pythonpath: Path) -> dict[str, str]:
    """The environment of every server: quiet TensorFlow, no telemetry, our PYTHONPATH."""
    env = {
        **os.environ,
        "PYTHONPATH": str(pythonpath),
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "RASA_TELEMETRY_ENABLED": "false",
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        "PYTHONUNBUFFERED": "1",
    }
    for var in ("RASA_AUTH_TOKEN", "TRACKER_STORE_URL", "RASA_ENDPOINTS", "RASA_CREDENTIALS", "RASA_PORT"):
        env.pop(var, None)
    return env


def create_stock_bot(workdir: Path, procs: Processes) -> tuple[Path, float]:
    """`rasa init --no-prompt` in `workdir/stock` (it trains a model); the folder and the seconds it took."""
    stock = workdir / "stock"
    stock.mkdir(parents=True)  # rasa init refuses a folder that does not exist
    print(f"creating the stock bot: rasa init --no-prompt --init-dir {stock} (trains a model, about a minute)")
    proc = procs.start(
        "rasa init",
        [RASA, "init", "--no-prompt", "--init-dir", stock],
        cwd=workdir,
        env=base_env(stock),
        log=workdir / "stock-init.log",
    )
    try:
        code = proc.popen.wait(timeout=INIT_TIMEOUT)
    except subprocess.TimeoutExpired:
        procs.stop(proc)
        raise RuntimeError(f"rasa init did not finish in {INIT_TIMEOUT:.0f} s:\n{proc.tail()}") from None
    seconds = time.monotonic() - proc.started
    procs.stop(proc)
    if code != 0 or not list((stock / "models").glob("*.tar.gz")):
        raise RuntimeError(f"rasa init failed (exit {code}):\n{proc.tail()}")
    return stock, seconds


def start_stock_bot(stock: Path, workdir: Path, procs: Processes) -> Bot:
    """The stock bot's action server and Rasa server (REST channel from its credentials.yml) on free ports."""
    action_port, rasa_port = free_port(), free_port()
    endpoints = workdir / "stock-endpoints.yml"
    endpoints.write_text(f'action_endpoint:\n  url: "http://{HOST}:{action_port}/webhook"\n', encoding="utf-8")
    env = base_env(stock)
    bot = Bot("stock bot", f"http://{HOST}:{rasa_port}", STOCK_SCRIPT)
    bot.procs["actions"] = procs.start(
        "stock actions",
        [RASA, "run", "actions", "--port", str(action_port), "--actions", "actions"],
        cwd=stock,
        env=env,
        log=workdir / "stock-actions.log",
    )
    bot.procs["rasa"] = procs.start(
        "stock rasa",
        [
            RASA,
            "run",
            "--model",
            "models",
            "--endpoints",
            endpoints,
            "--credentials",
            "credentials.yml",
            "--port",
            str(rasa_port),
            "--log-file",
            workdir / "stock-rasa.log",
            "--enable-api",
            "--auth-token",
            BENCH_API_TOKEN,
        ],
        cwd=stock,
        env=env,
        log=workdir / "stock-rasa-stdout.log",
    )
    wait_until_serving(bot, f"http://{HOST}:{action_port}/health")
    return bot


def assistant_env(workdir: Path) -> dict[str, str]:
    """This assistant's environment: temporary card registry, empty WeChat settings (channel off)."""
    env = base_env(ROOT)
    env["CARD_REGISTRY_URL"] = f"sqlite:///{workdir / 'registry.sqlite3'}"
    env["CARD_REGISTRY_SECRET"] = BENCH_SECRET
    env["OPS_DB_URL"] = f"sqlite:///{workdir / 'ops.sqlite3'}"
    env["TRACKER_STORE_URL"] = f"sqlite:///{workdir / 'tracker.sqlite3'}"  # what the dashboard reads
    for var in ("WECHAT_TOKEN", "WECHAT_APP_ID", "WECHAT_APP_SECRET", "WECHAT_AES_KEY", "WECHAT_API_BASE", "REDIS_URL"):
        env[var] = ""
    return env


def start_assistant(workdir: Path, procs: Processes) -> Bot:
    """This assistant as `make run` starts it: action server + scripts/run-rasa, on free ports."""
    env = assistant_env(workdir)
    subprocess.run(
        [PYTHON, "-m", "core.import_cards", SAMPLE_CARDS, "--url", env["CARD_REGISTRY_URL"]],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    action_port, rasa_port = free_port(), free_port()
    endpoints = workdir / "endpoints.yml"
    endpoints.write_text(
        f'action_endpoint:\n  url: "http://{HOST}:{action_port}/webhook"\n'
        "tracker_store:\n  type: tracker_store.redacting.RedactingSQLTrackerStore\n"
        f"  dialect: sqlite\n  db: {workdir / 'tracker.sqlite3'}\n",
        encoding="utf-8",
    )
    env.update(
        {
            "RASA_PORT": str(rasa_port),
            "RASA_ENDPOINTS": str(endpoints),
            "RASA_LOG_FILE": str(workdir / "rasa.log"),
            "RASA_CORS_ORIGINS": f"http://{HOST}",
            "RASA_AUTH_TOKEN": BENCH_API_TOKEN,  # scripts/run-rasa turns the HTTP API on with it
        }
    )
    bot = Bot("this assistant", f"http://{HOST}:{rasa_port}", ASSISTANT_SCRIPT)
    bot.procs["actions"] = procs.start(
        "actions",
        [str(PYTHON), "-m", "actions.server", "--port", str(action_port), "--actions", "actions"],
        cwd=ROOT,
        env=env,
        log=workdir / "actions.log",
    )
    bot.procs["rasa"] = procs.start(
        "rasa", [ROOT / "scripts" / "run-rasa"], cwd=ROOT, env=env, log=workdir / "rasa-stdout.log"
    )
    wait_until_serving(bot, f"http://{HOST}:{action_port}/health")
    return bot


def _check_alive(proc: Proc) -> None:
    if proc.popen.poll() is not None:
        raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.tail()}")


def wait_until_serving(bot: Bot, actions_health: str) -> None:
    """Poll until the action server is healthy and the REST channel gives a first answer; record both times."""
    rasa, actions = bot.procs["rasa"], bot.procs["actions"]
    began = min(rasa.started, actions.started)
    deadline = began + START_TIMEOUT
    sender = f"bench-start-{uuid.uuid4().hex[:8]}"
    while time.monotonic() < deadline:
        _check_alive(rasa)
        _check_alive(actions)
        if bot.actions_seconds is None:
            try:
                if requests.get(actions_health, timeout=2).status_code == 200:
                    bot.actions_seconds = time.monotonic() - actions.started
            except requests.RequestException:
                pass
        try:
            response = requests.post(bot.webhook, json={"sender": sender, "message": bot.script[0]}, timeout=30)
            if response.status_code == 200 and response.json():
                bot.start_seconds = time.monotonic() - rasa.started
                break
        except (requests.RequestException, ValueError):
            pass
        time.sleep(0.2)
    else:
        raise RuntimeError(f"{bot.label} did not answer within {START_TIMEOUT:.0f} s:\n{rasa.tail()}")
    while bot.actions_seconds is None and time.monotonic() < deadline:
        _check_alive(actions)
        try:
            if requests.get(actions_health, timeout=2).status_code == 200:
                bot.actions_seconds = time.monotonic() - actions.started
        except requests.RequestException:
            time.sleep(0.2)


BENCH_STAFF = ("bench-desk", "bench staff password, local only")


def start_web_server(bot: Bot, workdir: Path, procs: Processes) -> float:
    """Start the web pages' server as `make run` does (the staff desk asks the Rasa server's NLU);
    seconds until its /health says the desk can rank."""
    port = free_port()
    env = assistant_env(workdir)
    subprocess.run(
        [PYTHON, "-m", "web.staff_users", "add", BENCH_STAFF[0]],
        cwd=ROOT,
        env={**env, "STAFF_PASSWORD": BENCH_STAFF[1]},
        check=True,
        capture_output=True,
    )
    proc = procs.start(
        "web",
        [
            PYTHON,
            "-m",
            "web.server",
            "--port",
            str(port),
            "--rasa-url",
            bot.rasa_url,
            "--nlu-url",
            f"{bot.rasa_url}/nlu/parse",
        ],
        cwd=ROOT,
        env=env,
        log=workdir / "web.log",
    )
    bot.procs["web"] = proc
    url = f"http://{HOST}:{port}"
    while time.monotonic() < proc.started + START_TIMEOUT:
        _check_alive(proc)
        try:
            health = requests.get(f"{url}/health", timeout=2).json()
            if health.get("model") in ("ready", "remote"):
                break
            if health.get("model") == "failed":
                raise RuntimeError(f"the web server could not load the model:\n{proc.tail()}")
        except (requests.RequestException, ValueError):
            pass
        time.sleep(0.2)
    else:
        raise RuntimeError(f"the web server's model was not ready within {START_TIMEOUT:.0f} s:\n{proc.tail()}")
    seconds = time.monotonic() - proc.started
    staff = requests.Session()  # what the staff desk does, so its memory is that of a used server
    login = staff.post(
        f"{url}/api/staff/login",
        json={"username": BENCH_STAFF[0], "password": BENCH_STAFF[1]},
        headers={"Origin": url},
        timeout=REQUEST_TIMEOUT,
    )
    login.raise_for_status()
    csrf = {"X-CSRF-Token": login.json()["csrf"]}
    for text in ASSISTANT_SCRIPT[:5]:
        staff.post(
            f"{url}/api/staff/query", json={"text": text}, headers=csrf, timeout=REQUEST_TIMEOUT
        ).raise_for_status()
    for path in ("/api/staff/review", "/api/staff/dashboard"):
        staff.get(f"{url}{path}", timeout=REQUEST_TIMEOUT).raise_for_status()
    return seconds


# --------------------------------------------------------------------------------------------------
# Load


@dataclass
class LoadResult:
    """One closed-loop run: answers within the window, their latencies (s), failures."""

    concurrency: int
    duration: float
    answered: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: int = 0  # HTTP errors, timeouts, refused connections
    empty: int = 0  # 200 with no bot message

    @property
    def throughput(self) -> float:
        """Answered messages per second."""
        return self.answered / self.duration

    def percentile_ms(self, p: float) -> Optional[float]:
        """Nearest-rank percentile of the latencies, in ms."""
        return percentile(self.latencies, p) * 1000 if self.latencies else None


@dataclass
class LongResult:
    """The long conversation: the latency (s) of each message, in order."""

    latencies: list[float]
    wanted: int
    errors: int

    @property
    def first_ms(self) -> Optional[float]:
        """Mean latency of the first EDGE messages, ms."""
        return mean_ms(self.latencies[:EDGE]) if len(self.latencies) >= 2 * EDGE else None

    @property
    def last_ms(self) -> Optional[float]:
        """Mean latency of the last EDGE messages, ms."""
        return mean_ms(self.latencies[-EDGE:]) if len(self.latencies) >= 2 * EDGE else None


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p in 0–100) of a non-empty sequence."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def mean_ms(values: Sequence[float]) -> float:
    """Mean in milliseconds of values in seconds."""
    return sum(values) / len(values) * 1000


async def send(session: aiohttp.ClientSession, url: str, sender: str, text: str) -> Optional[bool]:
    """One REST message: True when answered, False for an empty answer, None for an error."""
    try:
        async with session.post(url, json={"sender": sender, "message": text}) as response:
            if response.status != 200:
                await response.read()
                return None
            return bool(await response.json())
    except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
        return None


async def closed_loop(bot: Bot, concurrency: int, duration: float) -> LoadResult:
    """`concurrency` conversations, each sending its next message when the last is answered, for `duration` s.

    A conversation is one pass through the bot's script (a new sender each time). Workers stop sending
    at the end of the window; answers that arrive after it count for latency only."""
    result = LoadResult(concurrency, duration)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    run = uuid.uuid4().hex[:6]
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as session:
        end = time.perf_counter() + duration

        async def worker(index: int) -> None:
            conversation = 0
            while time.perf_counter() < end:
                sender = f"bench-{run}-{concurrency}-{index}-{conversation}"
                for text in bot.script:
                    began = time.perf_counter()
                    if began >= end:
                        return
                    answered = await send(session, bot.webhook, sender, text)
                    finished = time.perf_counter()
                    if answered is None:
                        result.errors += 1
                        await asyncio.sleep(0.1)  # a dead server must not turn this into a busy loop
                        continue
                    result.latencies.append(finished - began)
                    if not answered:
                        result.empty += 1
                    elif finished <= end:
                        result.answered += 1
                conversation += 1

        tasks = [asyncio.create_task(worker(i)) for i in range(concurrency)]
        try:
            await asyncio.wait(tasks, timeout=duration + REQUEST_TIMEOUT + 10)
        finally:
            for task in tasks:
                task.cancel()
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, Exception) and not isinstance(outcome, asyncio.CancelledError):
                raise outcome
    return result


async def long_conversation(bot: Bot, messages: int) -> LongResult:
    """One conversation of `messages` messages (the script, cycled), sent one after another."""
    latencies: list[float] = []
    errors = 0
    sender = f"bench-long-{uuid.uuid4().hex[:8]}"
    give_up = time.perf_counter() + LONG_CAP
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for number in range(messages):
            if time.perf_counter() > give_up:
                bot.notes.append(f"long conversation stopped after {number} messages ({LONG_CAP:.0f} s cap)")
                break
            began = time.perf_counter()
            answered = await send(session, bot.webhook, sender, bot.script[number % len(bot.script)])
            if answered is None:
                errors += 1
                continue
            latencies.append(time.perf_counter() - began)
    return LongResult(latencies, messages, errors)


def parse_texts() -> list[str]:
    """The texts of the real-question sets, entity markup removed (core.review reads NLU files so)."""
    return [text for path in PARSE_SETS for texts in file_examples(path).values() for text in texts]


def parse_one_at_a_time(bot: Bot, texts: Sequence[str]) -> None:
    """Each text through the bot's /model/parse (Rasa's HTTP API), one after another; the seconds
    of each answered request land in `bot.parse_seconds`."""
    url = f"{bot.rasa_url}/model/parse?token={BENCH_API_TOKEN}"
    errors = 0
    with requests.Session() as session:
        for text in texts:
            began = time.perf_counter()
            try:
                response = session.post(url, json={"text": text}, timeout=REQUEST_TIMEOUT)
                ok = response.status_code == 200 and "intent" in response.json()
            except (requests.RequestException, ValueError):
                ok = False
            if ok:
                bot.parse_seconds.append(time.perf_counter() - began)
            else:
                errors += 1
    if errors:
        bot.notes.append(f"/model/parse: {errors} of {len(texts)} texts not parsed")


def record_memory(bot: Bot) -> None:
    """Now and peak resident memory of each of the bot's processes (children included)."""
    for name, proc in bot.procs.items():
        bot.memory[name] = memory_kb(proc.popen.pid)


# --------------------------------------------------------------------------------------------------
# Report


@dataclass
class Row:
    """One line of the table."""

    metric: str
    this: Optional[float]
    stock: Optional[float]
    fmt: str = "{:.1f}"
    target: str = ""
    ok: Optional[Callable[[float, Optional[float]], bool]] = None  # (this, stock) → target met
    ratio: bool = True


def rows_for(assistant: Bot, stock: Bot, web_seconds: Optional[float]) -> list[Row]:
    """Every row of the report."""
    rows = [
        Row(
            "start → first REST answer (s)",
            assistant.start_seconds,
            stock.start_seconds,
            target=f"≤ {TARGET_START_S:.0f} s",
            ok=lambda this, _: this <= TARGET_START_S,
        ),
        Row("start → action server healthy (s)", assistant.actions_seconds, stock.actions_seconds),
        Row("web server: start → model ready (s)", web_seconds, None, ratio=False),
    ]
    for level in LEVELS:
        a, s = assistant.loads.get(level), stock.loads.get(level)
        at10 = level == 10
        rows.append(
            Row(
                f"{level:>2} concurrent: throughput (msg/s)",
                a.throughput if a else None,
                s.throughput if s else None,
                target=f"≥ {TARGET_THROUGHPUT_10:.0f}, ≥ {TARGET_RATIO_10}× stock" if at10 else "",
                ok=(
                    (lambda this, other: this >= TARGET_THROUGHPUT_10 and other is not None and this >= 2.5 * other)
                    if at10
                    else None
                ),
            )
        )
        for p in (50, 95, 99):
            rows.append(
                Row(
                    f"{level:>2} concurrent: p{p} latency (ms)",
                    a.percentile_ms(p) if a else None,
                    s.percentile_ms(p) if s else None,
                    fmt="{:.0f}",
                    target=f"≤ {TARGET_P95_10_MS:.0f} ms" if at10 and p == 95 else "",
                    ok=(lambda this, _: this <= TARGET_P95_10_MS) if at10 and p == 95 else None,
                )
            )
        if at10:
            for key, label in (("rasa", "Rasa server"), ("actions", "action server")):
                rows.append(
                    Row(
                        f"10 concurrent: CPU per message, {label} (ms)",
                        assistant.cpu_ms.get(level, {}).get(key),
                        stock.cpu_ms.get(level, {}).get(key),
                        fmt="{:.0f}",
                    )
                )
        rows.append(
            Row(
                f"{level:>2} concurrent: errors + empty answers",
                (a.errors + a.empty) if a else None,
                (s.errors + s.empty) if s else None,
                fmt="{:.0f}",
                ratio=False,
            )
        )
    al, sl = assistant.long, stock.long
    length = al.wanted if al else (sl.wanted if sl else 0)
    rows += [
        Row(
            f"{length}-msg conversation: first {EDGE} mean (ms)",
            al.first_ms if al else None,
            sl.first_ms if sl else None,
            fmt="{:.0f}",
        ),
        Row(
            f"{length}-msg conversation: last {EDGE} mean (ms)",
            al.last_ms if al else None,
            sl.last_ms if sl else None,
            fmt="{:.0f}",
        ),
        Row(
            f"{length}-msg conversation: growth (last/first)",
            _growth(al),
            _growth(sl),
            fmt="{:.2f}×",
            target=f"≤ {TARGET_GROWTH}×",
            ok=lambda this, _: this <= TARGET_GROWTH,
        ),
    ]
    for label, pick in (
        ("mean", mean_ms),
        ("p50", lambda seconds: percentile(seconds, 50) * 1000),
        ("p95", lambda seconds: percentile(seconds, 95) * 1000),
    ):
        rows.append(
            Row(
                f"NLU parse, real questions: {label} (ms)",
                pick(assistant.parse_seconds) if assistant.parse_seconds else None,
                pick(stock.parse_seconds) if stock.parse_seconds else None,
            )
        )
    names = {"rasa": "Rasa server", "actions": "action server", "web": "web server"}
    for key, label in names.items():
        for index, kind in ((1, "peak"), (0, "now")):
            rows.append(
                Row(
                    f"RSS {label}, {kind} (MiB)",
                    _mib(assistant.memory, key, index),
                    _mib(stock.memory, key, index),
                    fmt="{:.0f}",
                    target=f"≤ {TARGET_RSS_MIB / 1024:.1f} GiB" if kind == "peak" else "",
                    ok=(lambda this, _: this <= TARGET_RSS_MIB) if kind == "peak" else None,
                    ratio=key != "web",
                )
            )
    for index, kind in ((1, "peak"), (0, "now")):
        rows.append(
            Row(
                f"RSS all processes, {kind} (MiB)",
                _mib_total(assistant.memory, index),
                _mib_total(stock.memory, index),
                fmt="{:.0f}",
                target=f"≤ {TARGET_RSS_MIB / 1024:.1f} GiB (if summed)" if kind == "peak" else "",
                ok=(lambda this, _: this <= TARGET_RSS_MIB) if kind == "peak" else None,
            )
        )
    rows.append(
        Row(
            "RSS all processes but web server, peak (MiB)",
            _mib_total({k: v for k, v in assistant.memory.items() if k != "web"}, 1),
            _mib_total(stock.memory, 1),
            fmt="{:.0f}",
            target=f"≤ {TARGET_RSS_MIB / 1024:.1f} GiB (if summed)",
            ok=lambda this, _: this <= TARGET_RSS_MIB,
        )
    )
    return rows


def _growth(long: Optional[LongResult]) -> Optional[float]:
    if long is None or long.first_ms is None or long.last_ms is None or long.first_ms == 0:
        return None
    return long.last_ms / long.first_ms


def _mib(memory: dict[str, tuple[int, int]], key: str, index: int) -> Optional[float]:
    return memory[key][index] / MIB if key in memory else None


def _mib_total(memory: dict[str, tuple[int, int]], index: int) -> Optional[float]:
    return sum(values[index] for values in memory.values()) / MIB if memory else None


def format_table(rows: list[Row]) -> str:
    """The report as a Markdown table: metric | this assistant | stock bot | ratio | target | met."""
    header = ("metric", "this assistant", "stock bot", "ratio (this/stock)", "target", "met")
    lines: list[tuple[str, ...]] = []
    for row in rows:
        this = row.fmt.format(row.this) if row.this is not None else "–"
        stock = row.fmt.format(row.stock) if row.stock is not None else "–"
        ratio = "–"
        if row.ratio and row.this is not None and row.stock:
            ratio = f"{row.this / row.stock:.2f}"
        met = ""
        if row.ok is not None:
            met = "–" if row.this is None else ("yes" if row.ok(row.this, row.stock) else "no")
        lines.append((row.metric, this, stock, ratio, row.target, met))
    widths = [max(len(header[i]), *(len(line[i]) for line in lines)) for i in range(len(header))]

    def render(cells: Sequence[str]) -> str:
        padded = [cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(cells)]
        padded[4] = cells[4].ljust(widths[4])
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([render(header), rule, *(render(line) for line in lines)])


# --------------------------------------------------------------------------------------------------
# Main


def _on_sigterm(signum: int, frame: Optional[FrameType]) -> Any:
    raise KeyboardInterrupt(f"signal {signum}")


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load at each concurrency (20)")
    parser.add_argument("--long", type=int, default=300, help="messages in the long conversation (300)")
    parser.add_argument("--stock-dir", type=Path, help="reuse a stock bot made by `rasa init` (skips training)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, databases)")
    args = parser.parse_args(argv)
    if args.long < 2 * EDGE:
        parser.error(f"--long must be at least {2 * EDGE}")
    return args


def measure(args: argparse.Namespace, workdir: Path, procs: Processes) -> tuple[Bot, Bot, Optional[float]]:
    """Start both bots, run every measurement, stop them; the bots with their figures."""
    if args.stock_dir:
        stock_dir = args.stock_dir.resolve()
        if not list((stock_dir / "models").glob("*.tar.gz")):
            raise RuntimeError(f"{stock_dir} has no trained model in models/")
    else:
        stock_dir, init_seconds = create_stock_bot(workdir, procs)
        print(f"  rasa init (project + training): {init_seconds:.0f} s")
    print("starting the stock bot (action server + Rasa) ...")
    stock = start_stock_bot(stock_dir, workdir, procs)
    print(f"  answering after {stock.start_seconds:.1f} s")
    print("starting this assistant (action server + scripts/run-rasa) ...")
    assistant = start_assistant(workdir, procs)
    print(f"  answering after {assistant.start_seconds:.1f} s")
    bots = (assistant, stock)

    for bot in bots:
        print(f"warming up {bot.label} ({WARMUP_SECONDS:.0f} s at 10 concurrent) ...")
        asyncio.run(closed_loop(bot, 10, WARMUP_SECONDS))
    for level in LEVELS:
        for bot in bots:
            print(f"load: {bot.label}, {level} concurrent, {args.duration:.0f} s ...", flush=True)
            cpu_before = {name: cpu_seconds(proc.popen.pid) for name, proc in bot.procs.items()}
            result = asyncio.run(closed_loop(bot, level, args.duration))
            bot.loads[level] = result
            answers = max(1, len(result.latencies))
            bot.cpu_ms[level] = {
                name: (cpu_seconds(proc.popen.pid) - cpu_before[name]) * 1000 / answers
                for name, proc in bot.procs.items()
            }
            p95 = result.percentile_ms(95)
            print(
                f"  {result.throughput:.1f} msg/s, p95 {p95:.0f} ms, {result.errors} errors, {result.empty} empty"
                if p95 is not None
                else f"  no answers ({result.errors} errors)"
            )
    for bot in bots:
        print(f"long conversation: {bot.label}, {args.long} messages ...", flush=True)
        bot.long = asyncio.run(long_conversation(bot, args.long))
        growth = _growth(bot.long)
        print(f"  {len(bot.long.latencies)} answered, growth {growth:.2f}×" if growth else "  too few answers")
    texts = parse_texts()
    for bot in bots:
        print(f"NLU: {bot.label}, {len(texts)} real questions through /model/parse, one at a time ...", flush=True)
        parse_one_at_a_time(bot, texts[:10])  # warm-up
        bot.parse_seconds.clear()
        parse_one_at_a_time(bot, texts)
        if bot.parse_seconds:
            print(f"  mean {mean_ms(bot.parse_seconds):.1f} ms")

    web_seconds: Optional[float] = None
    print("starting the web pages' server (loads the model) to measure its memory ...")
    try:
        web_seconds = start_web_server(assistant, workdir, procs)
        print(f"  model ready after {web_seconds:.1f} s")
    except (RuntimeError, requests.RequestException) as error:
        assistant.notes.append(f"web server not measured: {str(error).splitlines()[0]}")
    for bot in bots:
        record_memory(bot)
    return assistant, stock, web_seconds


def main(argv: Optional[list[str]] = None) -> int:
    """Run the benchmark and print the table; 0 whatever the figures, 1 when a bot could not be started."""
    args = parse_args(argv)
    if not MODEL.exists():
        print(f"{MODEL} is missing: run `make train` first", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, _on_sigterm)
    began = time.monotonic()
    load_before = os.getloadavg()[0]
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    procs = Processes()
    try:
        assistant, stock, web_seconds = measure(args, workdir, procs)
    except RuntimeError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; stopping every process", file=sys.stderr)
        return 130
    finally:
        procs.stop_all()
        if args.keep:
            print(f"logs and databases kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    total = time.monotonic() - began
    print()
    print(
        f"Speed and memory: this assistant vs a stock `rasa init` bot, same run, {os.cpu_count()} CPUs, "
        f"load average {load_before:.2f} at the start and {os.getloadavg()[0]:.2f} at the end"
    )
    print(
        f"(load: closed loop, {args.duration:.0f} s per level, client in this process; "
        f"the stock bot keeps its default in-memory tracker store, this assistant uses SQLite)"
    )
    print()
    print(format_table(rows_for(assistant, stock, web_seconds)))
    for bot in (assistant, stock):
        for note in bot.notes:
            print(f"note ({bot.label}): {note}")
    print()
    print(f"total run time: {total:.0f} s ({total / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

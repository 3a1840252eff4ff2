"""The web front ends: the chat page, the 12333 staff reference desk and the centre's staff pages.

Run from the project root:

    python -m web.server [--port 8080] [--rasa-url http://localhost:5005]
                         [--nlu-url http://127.0.0.1:5005/nlu/parse | --model models/activation.tar.gz]

Routes:
    /                   chat page; the browser talks to Rasa's socket.io channel directly
    /staff              staff reference desk
    /staff/login        staff login: every /staff… page and /api/staff/… API needs a staff session (web/auth.py)
    /staff/review, /staff/dashboard, /staff/handoff and their APIs: web/staff_ops.py
    /config.json        where the browser finds Rasa (RASA_PUBLIC_URL)
    /static/...         page scripts and styles; /vendor/… socket.io and Chart.js from web/node_modules
    /health             {"status": "ok", "model": "remote" | "loading" | "ready" | "failed" | "none"}
    /api/regions        provinces and prefectures for the region picker
    /api/staff/query    POST {text, region?} → the three most likely topics, answered from knowledge/

The staff desk ranks topics with the trained Rasa model (the same NLU the assistant uses): by default
it asks the Rasa server (`POST /nlu/parse`, channels/ops.py), so this process holds no model copy;
with `--model` it loads one itself, in the background at start-up. Answers are composed by
`core.compose` from the knowledge base.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from sqlalchemy.engine import Engine

from core.compose import compose_answer, region_note
from core.dashboard import tracker_engine as dashboard_tracker_engine
from core.knowledge import KnowledgeBase, load_knowledge
from core.language import LANGUAGES
from core.ops_store import OpsStore
from core.regions import all_regions, find_region
from core.text_input import MAX_CHARS
from web.auth import StaffAuth, setup_staff_auth
from web.metrics import install_metrics
from web.staff_ops import setup_staff_ops

logger = logging.getLogger("web.server")  # not "__main__" under python -m

WEB_DIR = Path(__file__).resolve().parent
STATIC_DIR = WEB_DIR / "static"
# The socket.io client comes from the npm registry (`npm ci --prefix web`), never from a CDN.
VENDOR_DIR = WEB_DIR / "node_modules" / "socket.io-client" / "dist"
# Browser libraries served from web/node_modules (npm ci --prefix web): name → folder.
VENDOR_FILES = {
    "socket.io.min.js": VENDOR_DIR,
    "socket.io.min.js.map": VENDOR_DIR,
    "chart.umd.min.js": WEB_DIR / "node_modules" / "chart.js" / "dist",  # the staff dashboard's charts
    "chart.umd.min.js.map": WEB_DIR / "node_modules" / "chart.js" / "dist",
}

TOP_TOPICS = 3
MAX_BODY_BYTES = 64 * 1024
SOCKETIO_PATH = "/socket.io"  # credentials.yml keeps Rasa's default socketio_path

DEFAULT_PORT = 8080
DEFAULT_RASA_URL = "http://localhost:5005"
DEFAULT_MODEL = "models/activation.tar.gz"
DEFAULT_NLU_URL = "http://127.0.0.1:5005/nlu/parse"  # channels/ops.py on the Rasa server
NLU_TIMEOUT = 10.0


class IntentParser(Protocol):
    """What the staff desk needs from a Rasa agent (a test can pass a fake)."""

    async def parse_message(self, message_data: str) -> dict[str, Any]: ...


class NluUnavailable(Exception):
    """The Rasa server's NLU could not be asked (down, refused, timed out, or no model yet)."""


class RasaNlu:
    """The staff desk's ranking from the Rasa server's own model (`POST /nlu/parse`,
    channels/ops.py): the web server then holds no second copy of the model (about 0.9 GB)."""

    def __init__(self, url: str, token: str | None = None, timeout: float = NLU_TIMEOUT) -> None:
        self.url = url
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def parse_message(self, message_data: str) -> dict[str, Any]:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        try:
            async with self._session.post(self.url, json={"text": message_data}, headers=self.headers) as reply:
                if reply.status != 200:
                    raise NluUnavailable(f"the Rasa server answered {reply.status}")
                parsed: dict[str, Any] = await reply.json()
                return parsed
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            raise NluUnavailable(type(error).__name__) from error

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


@dataclass
class ModelState:
    """The NLU model of this process: loading in the background, ready, or failed."""

    path: Path | None
    agent: IntentParser | None = None
    error: str | None = None

    @property
    def status(self) -> str:
        """`remote` (the Rasa server's model), `ready`, `failed`, `loading`, or `none`."""
        if isinstance(self.agent, RasaNlu):
            return "remote"
        if self.agent is not None:
            return "ready"
        if self.error is not None:
            return "failed"
        return "loading" if self.path is not None else "none"


@dataclass(frozen=True)
class Settings:
    """What the pages need to know about the rest of the system."""

    rasa_url: str
    socketio_path: str = SOCKETIO_PATH


KB_KEY = web.AppKey("kb", KnowledgeBase)
MODEL_KEY = web.AppKey("model", ModelState)
SETTINGS_KEY = web.AppKey("settings", Settings)
REGIONS_KEY = web.AppKey("regions", list)
LOADER_KEY = web.AppKey("loader", asyncio.Task)
CSP_KEY = web.AppKey("csp", str)


def load_agent(model_path: Path) -> IntentParser:
    """Load the trained Rasa model. Slow (TensorFlow, spaCy, the pipeline): run it in a worker thread."""
    # Imported here so the server answers /health while TensorFlow is still being imported.
    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog

    # Rasa's structured logs would otherwise print every parsed message, i.e. callers' questions.
    configure_structlog(logging.INFO)
    return Agent.load(str(model_path))


def content_security_policy(rasa_url: str) -> str:
    """Scripts and styles from this server only; connections to this server and to Rasa (http and ws)."""
    parts = urlsplit(rasa_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"the Rasa URL must be an http(s) URL, not {rasa_url!r}")
    socket_scheme = "wss" if parts.scheme == "https" else "ws"
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            f"connect-src 'self' {parts.scheme}://{parts.netloc} {socket_scheme}://{parts.netloc}",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def region_list(kb: KnowledgeBase) -> list[dict[str, Any]]:
    """Every province- and prefecture-level division for the picker, with the aliases it can be searched by."""
    return [
        {
            "name": region.name,
            "name_en": region.name_en,
            "level": region.level,
            "province": region.province,
            "aliases": list(region.aliases),
            "has_notes": region.name in kb.regions,
        }
        for region in all_regions()
    ]


def article_report(kb: KnowledgeBase, ref: str) -> dict[str, Any]:
    """One legal-basis article in full, with the law it belongs to."""
    law, article = kb.articles[ref]
    return {
        "id": ref,
        "law": law["name"],
        "number": article["number"],
        "issuer": law["issuer"],
        "date": law["date"],
        "document_number": law.get("document_number"),
        "excerpt": bool(article.get("excerpt")),
        "text": {language: article["text"][language].strip() for language in LANGUAGES},
        "source": law.get("source"),
    }


def topic_report(kb: KnowledgeBase, topic: str, confidence: float, region: str | None) -> dict[str, Any]:
    """Everything the staff member may read out for one topic, composed as the assistant would answer."""
    entry = kb.topics[topic]
    report: dict[str, Any] = {
        "intent": topic,
        "confidence": round(float(confidence), 4),
        "title": entry["title"],
        "varies_by_region": entry["varies_by_region"],
        "answer": {language: "\n\n".join(compose_answer(kb, topic, language, None)) for language in LANGUAGES},
        "region_answer": None,
        "region_notes": None,
        "legal_note": entry.get("legal_note"),
        "articles": [article_report(kb, ref) for ref in entry["legal_basis"]],
        "sources": entry["sources"],
    }
    if region:
        report["region_answer"] = {
            language: "\n\n".join(compose_answer(kb, topic, language, region)) for language in LANGUAGES
        }
        report["region_notes"] = {language: region_note(kb, topic, region, language) for language in LANGUAGES}
    return report


def likely_topics(kb: KnowledgeBase, parsed: dict[str, Any], limit: int = TOP_TOPICS) -> list[tuple[str, float]]:
    """The most likely knowledge-base topics in the model's ranking (fallback and small talk skipped)."""
    ranking = parsed.get("intent_ranking") or ([parsed["intent"]] if parsed.get("intent") else [])
    topics: list[tuple[str, float]] = []
    for item in ranking:
        name = item.get("name")
        if name in kb.topics and name not in (t for t, _ in topics):
            topics.append((name, float(item.get("confidence") or 0.0)))
    return topics[:limit]


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def chat_page(request: web.Request) -> web.FileResponse:
    """The chat page."""
    return web.FileResponse(STATIC_DIR / "chat.html")


async def staff_page(request: web.Request) -> web.FileResponse:
    """The staff reference desk."""
    return web.FileResponse(STATIC_DIR / "staff.html")


async def config(request: web.Request) -> web.Response:
    """Where the chat widget finds Rasa's socket.io endpoint."""
    settings = request.app[SETTINGS_KEY]
    return web.json_response({"rasaUrl": settings.rasa_url, "socketPath": settings.socketio_path})


async def vendor_file(request: web.Request) -> web.StreamResponse:
    """The socket.io client, straight from web/node_modules."""
    name = request.match_info["name"]
    folder = VENDOR_FILES.get(name)
    path = folder / name if folder else None
    if path is None or not path.is_file():
        return web.Response(status=404, text="not found (run: npm ci --prefix web)")
    return web.FileResponse(path)


async def health(request: web.Request) -> web.Response:
    """Liveness, and whether the staff desk's model is ready."""
    return web.json_response({"status": "ok", "model": request.app[MODEL_KEY].status})


async def regions(request: web.Request) -> web.Response:
    """Provinces and prefectures: canonical name, English name, level, province, aliases."""
    return web.json_response({"regions": request.app[REGIONS_KEY]})


async def staff_query(request: web.Request) -> web.Response:
    """The three most likely topics for a caller's question, with answers, regional variant and law."""
    try:
        body = await request.json()
    except ValueError:
        return _error(400, 'the body must be JSON: {"text": "...", "region": "..."}')
    if not isinstance(body, dict):
        return _error(400, "the body must be a JSON object")
    text, region_name = body.get("text"), body.get("region")
    if not isinstance(text, str) or not text.strip():
        return _error(400, "'text' must be a non-empty string")
    if region_name is not None and not isinstance(region_name, str):
        return _error(400, "'region' must be a string")
    region = find_region(region_name) if region_name else None
    if region_name and region is None:
        return _error(400, f"unknown region: {region_name[:50]}")

    state = request.app[MODEL_KEY]
    if state.agent is None:
        message = "the model failed to load" if state.error else "the model is still loading, try again shortly"
        return web.json_response({"error": message, "model": state.status}, status=503, headers={"Retry-After": "5"})

    truncated = len(text) > MAX_CHARS
    text = text[:MAX_CHARS]
    # A leading "/" would make Rasa read the text as an intent payload instead of running the model.
    try:
        parsed = await state.agent.parse_message(text.strip().lstrip("/"))
    except NluUnavailable as error:
        logger.warning("staff desk: the Rasa server's NLU is not available (%s)", error)
        return web.json_response(
            {"error": "the assistant's server is not reachable, try again shortly", "model": state.status},
            status=503,
            headers={"Retry-After": "5"},
        )
    kb = request.app[KB_KEY]
    return web.json_response(
        {
            "text": text,
            "truncated": truncated,
            "max_chars": MAX_CHARS,
            "region": {"name": region.name, "name_en": region.name_en} if region else None,
            "topics": [
                topic_report(kb, topic, confidence, region.name if region else None)
                for topic, confidence in likely_topics(kb, parsed)
            ],
        }
    )


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Content-Security-Policy"] = request.app[CSP_KEY]
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers.setdefault("Cache-Control", "no-cache")


async def _load_in_background(state: ModelState) -> None:
    assert state.path is not None
    loop = asyncio.get_running_loop()
    try:
        state.agent = await loop.run_in_executor(None, load_agent, state.path)
        logger.info("model loaded from %s; the staff desk is ready", state.path)
    except Exception as error:  # a broken model must not take the chat page down with it
        state.error = f"{type(error).__name__}: {error}"
        logger.exception("could not load the model from %s", state.path)


async def _start_loading(app: web.Application) -> None:
    state = app[MODEL_KEY]
    if state.agent is None and state.path is not None:
        app[LOADER_KEY] = asyncio.create_task(_load_in_background(state))


async def _stop_loading(app: web.Application) -> None:
    task = app.get(LOADER_KEY)
    if task is not None and not task.done():
        task.cancel()
    agent = app[MODEL_KEY].agent
    if isinstance(agent, RasaNlu):
        await agent.close()


def create_app(
    *,
    rasa_url: str = DEFAULT_RASA_URL,
    model_path: Path | str | None = None,
    agent: IntentParser | None = None,
    kb: KnowledgeBase | None = None,
    staff_auth: StaffAuth | Engine | None = None,
    ops_store: OpsStore | None = None,
    tracker_engine: Engine | None = None,
) -> web.Application:
    """The web application. With `model_path`, the model loads in the background on start-up;
    with `agent`, that object ranks the intents (tests). `staff_auth`: the staff accounts and sessions
    (a `web.auth.StaffAuth`, or an engine; default: the operations database of OPS_DB_URL).
    `ops_store`: feedback, review queue and handoff codes (default: on the engine given as
    `staff_auth`, else OPS_DB_URL); `tracker_engine`: Rasa's tracker store, read by the dashboard
    (default: TRACKER_STORE_URL, else var/tracker.sqlite3)."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[KB_KEY] = kb or load_knowledge()
    app[SETTINGS_KEY] = Settings(rasa_url=rasa_url.rstrip("/"))
    app[CSP_KEY] = content_security_policy(rasa_url)
    app[MODEL_KEY] = ModelState(path=Path(model_path) if model_path and agent is None else None, agent=agent)
    app[REGIONS_KEY] = region_list(app[KB_KEY])
    auth = setup_staff_auth(app, staff_auth)  # /staff… and /api/staff/… need a staff login (web/auth.py)
    if ops_store is None:  # one operations database: staff accounts, feedback, queue, handoff codes
        ops_store = OpsStore(auth.store.engine)
    setup_staff_ops(app, ops_store, tracker_engine or dashboard_tracker_engine(), app[KB_KEY])
    # aiohttp 3.9 with aiosignal 1.4 types these callbacks wrongly (a signal of handlers of handlers).
    app.on_response_prepare.append(_security_headers)  # type: ignore[arg-type]
    app.on_startup.append(_start_loading)  # type: ignore[arg-type]
    app.on_cleanup.append(_stop_loading)  # type: ignore[arg-type]
    app.router.add_get("/", chat_page)
    app.router.add_get("/staff", staff_page)
    app.router.add_get("/config.json", config)
    app.router.add_get("/health", health)
    app.router.add_get("/api/regions", regions)
    app.router.add_post("/api/staff/query", staff_query)
    app.router.add_get("/vendor/{name}", vendor_file)
    app.router.add_static("/static", STATIC_DIR)
    install_metrics(app)  # /metrics and /ready, open like /health (web/metrics.py)
    if not (VENDOR_DIR / "socket.io.min.js").is_file():
        logger.warning("%s is missing: run `npm ci --prefix web`; the chat page cannot connect", VENDOR_DIR)
    return app


def main(argv: list[str] | None = None) -> None:
    """Command line: serve the pages until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m web.server", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default=os.environ.get("WEB_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("WEB_PORT", DEFAULT_PORT)))
    parser.add_argument(
        "--rasa-url",
        default=os.environ.get("RASA_PUBLIC_URL", DEFAULT_RASA_URL),
        help="Rasa's URL as the browser sees it (its socket.io channel)",
    )
    parser.add_argument(
        "--nlu-url",
        default=os.environ.get("NLU_URL", DEFAULT_NLU_URL),
        help="the Rasa server's /nlu/parse, which the staff desk ranks topics with (NLU_PARSE_TOKEN if set)",
    )
    parser.add_argument(
        "--model",
        default=os.environ.get("WEB_MODEL") or None,
        help=f"load this trained model here instead of asking the Rasa server (e.g. {DEFAULT_MODEL}; ~0.9 GB)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    remote = None if args.model else RasaNlu(args.nlu_url, os.environ.get("NLU_PARSE_TOKEN") or None)
    app = create_app(rasa_url=args.rasa_url, model_path=args.model, agent=remote)
    logger.info("chat page http://%s:%d/  staff desk http://%s:%d/staff", args.host, args.port, args.host, args.port)
    web.run_app(app, host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()

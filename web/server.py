"""The web front ends: the chat page and the 12333 staff reference desk.

Run from the project root:

    python -m web.server [--port 8080] [--rasa-url http://localhost:5005] [--model models/activation.tar.gz]

Routes:
    /                   chat page; the browser talks to Rasa's socket.io channel directly
    /staff              staff reference desk
    /config.json        where the browser finds Rasa (RASA_PUBLIC_URL)
    /static/...         page scripts and styles; /vendor/socket.io.min.js from web/node_modules
    /health             {"status": "ok", "model": "loading" | "ready" | "failed" | "none"}
    /api/regions        provinces and prefectures for the region picker
    /api/staff/query    POST {text, region?} → the three most likely topics, answered from knowledge/

The staff desk ranks topics with the trained Rasa model (the same NLU the assistant uses), loaded once in
the background at start-up; answers are composed by `core.compose` from the knowledge base.
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

from aiohttp import web

from core.compose import compose_answer, region_note
from core.knowledge import KnowledgeBase, load_knowledge
from core.language import LANGUAGES
from core.regions import all_regions, find_region
from core.text_input import MAX_CHARS

logger = logging.getLogger("web.server")  # not "__main__" under python -m

WEB_DIR = Path(__file__).resolve().parent
STATIC_DIR = WEB_DIR / "static"
# The socket.io client comes from the npm registry (`npm ci --prefix web`), never from a CDN.
VENDOR_DIR = WEB_DIR / "node_modules" / "socket.io-client" / "dist"
VENDOR_FILES = frozenset({"socket.io.min.js", "socket.io.min.js.map"})

TOP_TOPICS = 3
MAX_BODY_BYTES = 64 * 1024
SOCKETIO_PATH = "/socket.io"  # credentials.yml keeps Rasa's default socketio_path

DEFAULT_PORT = 8080
DEFAULT_RASA_URL = "http://localhost:5005"
DEFAULT_MODEL = "models/activation.tar.gz"


class IntentParser(Protocol):
    """What the staff desk needs from a Rasa agent (a test can pass a fake)."""

    async def parse_message(self, message_data: str) -> dict[str, Any]: ...


@dataclass
class ModelState:
    """The NLU model of this process: loading in the background, ready, or failed."""

    path: Path | None
    agent: IntentParser | None = None
    error: str | None = None

    @property
    def status(self) -> str:
        """`ready`, `failed`, `loading`, or `none` when no model was configured."""
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
    path = VENDOR_DIR / name
    if name not in VENDOR_FILES or not path.is_file():
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
    parsed = await state.agent.parse_message(text.strip().lstrip("/"))
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


def create_app(
    *,
    rasa_url: str = DEFAULT_RASA_URL,
    model_path: Path | str | None = None,
    agent: IntentParser | None = None,
    kb: KnowledgeBase | None = None,
) -> web.Application:
    """The web application. With `model_path`, the model loads in the background on start-up;
    with `agent`, that object ranks the intents (tests)."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[KB_KEY] = kb or load_knowledge()
    app[SETTINGS_KEY] = Settings(rasa_url=rasa_url.rstrip("/"))
    app[CSP_KEY] = content_security_policy(rasa_url)
    app[MODEL_KEY] = ModelState(path=Path(model_path) if model_path and agent is None else None, agent=agent)
    app[REGIONS_KEY] = region_list(app[KB_KEY])
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
    parser.add_argument("--model", default=os.environ.get("RASA_MODEL", DEFAULT_MODEL), help="trained model (.tar.gz)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(rasa_url=args.rasa_url, model_path=args.model)
    logger.info("chat page http://%s:%d/  staff desk http://%s:%d/staff", args.host, args.port, args.host, args.port)
    web.run_app(app, host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()

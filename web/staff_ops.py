"""Staff pages that run the centre: the review queue, the dashboard and handoff codes.

Routes (all behind staff login, `web.auth.staff_middleware`, by their /staff and /api/staff prefix):

    /staff/review                   review queue page
    GET  /api/staff/review          open questions grouped as near-duplicates, newest first, with the
                                    model's guess; the labels a staff member may assign
    POST /api/staff/review/assign   {"ids": [...], "label": "<intent>|out_of_scope|needs_new_answer"}
    /staff/dashboard                dashboard page (charts drawn by Chart.js from web/node_modules)
    GET  /api/staff/dashboard?days=14
    /staff/handoff                  handoff-code page
    GET  /api/staff/handoff/{code}  the conversation's redacted summary (written to the audit log);
                                    404 unknown, 410 expired

Every text a citizen typed reaches these pages already redacted (`core.ops_store`) and is shown
with textContent only, never as markup.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy.engine import Engine

from core.dashboard import dashboard, read_messages
from core.knowledge import KnowledgeBase
from core.ops_store import NEEDS_NEW_ANSWER, OUT_OF_SCOPE, OpsStore, normalise_code
from core.review import group_items
from web.auth import audit, staff_user

OPS_KEY = web.AppKey("ops_store", OpsStore)
TRACKER_KEY = web.AppKey("tracker_engine", Engine)
OPS_KB_KEY = web.AppKey("ops_kb", KnowledgeBase)

STATIC_DIR = Path(__file__).resolve().parent / "static"
MAX_DAYS = 90
MAX_ASSIGN = 500


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def labels(kb: KnowledgeBase) -> list[dict[str, Any]]:
    """What an item can be assigned: every topic, then out of scope and "needs a new answer"."""
    found = [{"value": name, "title": entry["title"]} for name, entry in kb.topics.items()]
    found.append({"value": OUT_OF_SCOPE, "title": {"zh": "不属于本服务范围", "en": "Out of scope"}})
    found.append({"value": NEEDS_NEW_ANSWER, "title": {"zh": "需要新的回答", "en": "Needs a new answer"}})
    return found


def page(name: str) -> Any:
    async def handler(request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC_DIR / name)

    return handler


async def review_queue(request: web.Request) -> web.Response:
    store = request.app[OPS_KEY]
    items = await asyncio.to_thread(store.review_items, assigned=False)
    done = await asyncio.to_thread(store.review_items, assigned=True, limit=50)
    kb = request.app[OPS_KB_KEY]
    return web.json_response(
        {
            "groups": [group.as_dict() for group in group_items(items)],
            "open": len(items),
            "recently_assigned": [
                {
                    "id": i.id,
                    "text": i.text,
                    "label": i.label,
                    "assigned_by": i.assigned_by,
                    "assigned_at": i.assigned_at.isoformat() if i.assigned_at else None,
                }
                for i in done
            ],
            "labels": labels(kb),
        }
    )


async def review_assign(request: web.Request) -> web.Response:
    try:
        body = await request.json()
    except ValueError:
        return _error(400, 'the body must be JSON: {"ids": [...], "label": "..."}')
    if not isinstance(body, dict):
        return _error(400, "the body must be a JSON object")
    ids, label = body.get("ids"), body.get("label")
    if not isinstance(ids, list) or not ids or len(ids) > MAX_ASSIGN or not all(isinstance(i, int) for i in ids):
        return _error(400, f"'ids' must be a list of 1–{MAX_ASSIGN} item numbers")
    allowed = {entry["value"] for entry in labels(request.app[OPS_KB_KEY])}
    if not isinstance(label, str) or label not in allowed:
        return _error(400, "'label' must be a topic, out_of_scope or needs_new_answer")
    staff = staff_user(request)
    count = await asyncio.to_thread(request.app[OPS_KEY].assign, ids, label, staff)
    audit(request, "review.assign", f"{label}:{len(ids)}")
    return web.json_response({"assigned": count, "label": label})


async def dashboard_data(request: web.Request) -> web.Response:
    try:
        days = int(request.query.get("days", "14"))
    except ValueError:
        return _error(400, "'days' must be a number")
    days = max(1, min(days, MAX_DAYS))
    today = datetime.now(timezone.utc).date()
    since_day = today - timedelta(days=days - 1)
    since = datetime(since_day.year, since_day.month, since_day.day, tzinfo=timezone.utc)
    store = request.app[OPS_KEY]
    kb = request.app[OPS_KB_KEY]
    try:
        messages = await asyncio.to_thread(read_messages, request.app[TRACKER_KEY], since)
    except Exception as error:  # the dashboard says the tracker store is unreachable, not 500
        return _error(503, f"the conversation store cannot be read ({type(error).__name__})")
    feedback = await asyncio.to_thread(store.feedback, since, 100_000)
    reviewed = [
        i for i in await asyncio.to_thread(store.review_items, assigned=None, limit=5000) if i.created_at >= since
    ]
    data = dashboard(messages, feedback, reviewed, topics=kb.topics, since=since_day, until=today)
    data["topic_titles"] = {name: entry["title"] for name, entry in kb.topics.items()}
    return web.json_response(data)


async def handoff_lookup(request: web.Request) -> web.Response:
    code = normalise_code(request.match_info["code"])[:16]
    if not code:
        return _error(400, "a handoff code has letters and digits")
    handoff = await asyncio.to_thread(request.app[OPS_KEY].handoff, code)
    audit(request, "handoff.open", code if handoff else f"{code} (unknown)")
    if handoff is None:
        return _error(404, "no such handoff code")
    if handoff.expired():
        return web.json_response(
            {"error": "this handoff code has expired", "expired_at": handoff.expires_at.isoformat()}, status=410
        )
    return web.json_response(
        {
            "code": handoff.code,
            "created_at": handoff.created_at.isoformat(),
            "expires_at": handoff.expires_at.isoformat(),
            "channel": handoff.channel,
            "language": handoff.language,
            "region": handoff.region,
            "identity_verified": handoff.identity_verified,
            "summary": handoff.summary,
        }
    )


def setup_staff_ops(app: web.Application, store: OpsStore, tracker: Engine, kb: KnowledgeBase) -> None:
    """Add the review queue, dashboard and handoff routes to the web app."""
    app[OPS_KEY] = store
    app[TRACKER_KEY] = tracker
    app[OPS_KB_KEY] = kb
    app.router.add_get("/staff/review", page("staff-review.html"))
    app.router.add_get("/staff/dashboard", page("staff-dashboard.html"))
    app.router.add_get("/staff/handoff", page("staff-handoff.html"))
    app.router.add_get("/api/staff/review", review_queue)
    app.router.add_post("/api/staff/review/assign", review_assign)
    app.router.add_get("/api/staff/dashboard", dashboard_data)
    app.router.add_get("/api/staff/handoff/{code}", handoff_lookup)

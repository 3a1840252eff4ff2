"""The web server's metrics and readiness: `install_metrics(app)` adds the middleware and the routes.

- `shebaoka_web_requests_total{route,method,status}`: every request, by the matched route's canonical
  path ("/api/staff/query", "/vendor/{name}", "/static"), never the raw path: a request no route
  matches is ``unmatched``; an invented method is ``other``.
- `shebaoka_web_request_seconds{route}`: the time to answer one request (histogram).

Routes (open, no login, like /health):
    GET /metrics   Prometheus text format
    GET /ready     200 {"status": "ready", "knowledge": true, "model": ...} when the knowledge base is
                   loaded, else 503; "model" is the staff desk model's state (loading, ready, failed,
                   none), which does not decide readiness: the chat page works without it

In production /metrics should be reachable only from the monitoring network: publish the chat page
and the staff desk through the reverse proxy, and leave /metrics (and /ready) to the internal address
the monitoring scrapes (README: "Metrics and health").

This module does not import web.server (run as `python -m web.server`, that would be a second copy
with other app keys): it finds the knowledge base and the model state among the app's values.
"""

from __future__ import annotations

import time
from typing import Any, Awaitable, Callable

from aiohttp import web
from prometheus_client import Counter, Histogram

from core.knowledge import KnowledgeBase
from core.metrics import SECONDS_BUCKETS, exposition, method_label, metric_name, status_label

UNMATCHED = "unmatched"

REQUESTS = Counter(
    metric_name("web_requests_total"), "Web requests, by route, method and status", ["route", "method", "status"]
)
REQUEST_SECONDS = Histogram(
    metric_name("web_request_seconds"), "Time to answer one web request", ["route"], buckets=SECONDS_BUCKETS
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def route_label(request: web.Request) -> str:
    """The canonical path of the route that matched ("/vendor/{name}"), or ``unmatched``."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else UNMATCHED


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count and time every request."""
    route, started = route_label(request), time.perf_counter()
    status: Any = 500
    try:
        answer = await handler(request)
        status = answer.status
        return answer
    except web.HTTPException as error:  # 404s, redirects, 401s raised by handlers or other middleware
        status = error.status
        raise
    finally:
        REQUESTS.labels(route=route, method=method_label(request.method), status=status_label(status)).inc()
        REQUEST_SECONDS.labels(route=route).observe(time.perf_counter() - started)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus' text format."""
    body, content_type = exposition()
    return web.Response(body=body, headers={"Content-Type": content_type})


def _model_status(app: web.Application) -> str | None:
    # web.server.ModelState: the one app value with an `agent` and a `status`.
    for value in app.values():
        status = getattr(value, "status", None)
        if hasattr(value, "agent") and isinstance(status, str):
            return status
    return None


async def ready(request: web.Request) -> web.Response:
    """Ready for traffic once the knowledge base is loaded; says how far the staff desk model is."""
    app = request.app
    loaded = any(isinstance(value, KnowledgeBase) for value in app.values())
    body = {"status": "ready" if loaded else "not ready", "knowledge": loaded, "model": _model_status(app)}
    return web.json_response(body, status=200 if loaded else 503)


def install_metrics(app: web.Application) -> None:
    """Add the metrics middleware (outermost, so it sees every answer) and /metrics, /ready."""
    app.middlewares.insert(0, metrics_middleware)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/ready", ready)

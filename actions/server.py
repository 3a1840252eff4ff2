"""Start the action server with /metrics and /ready: rasa-sdk's own server, with this project's plugin.

    python -m actions.server --port 5055 --actions actions   (every flag of `rasa run actions`)

rasa-sdk 3.6 calls `plugin_manager().hook.attach_sanic_app_extensions(app=app)` on start-up, but
finds plugins only in an installed `rasa_sdk_plugins` package. This launcher registers the hook
implementation itself, makes rasa-sdk's app use `MeteredActionExecutor` (actions/metrics.py), then
runs rasa-sdk's own `main` with the same command line (`--actions` defaults to this project's
`actions`). Started as `rasa run actions` instead, the server works as before, without these routes.

Routes added to rasa-sdk's (/webhook, /actions, /health):
    GET /metrics   Prometheus text format (action names, lookup outcomes; never an ID or a name)
    GET /ready     200 when every action domain.yml names is registered and the knowledge base is
                   loaded, else 503; the JSON says what is missing

No token: in production /metrics should be reachable only from the monitoring network (the action
server listens on an internal address; deploy/haproxy.cfg's action frontend is on 127.0.0.1).

The executor imports every module of `actions`, this one too: importing it does nothing else.
"""

from __future__ import annotations

import sys
from typing import Any, List, Optional

import pluggy
import rasa_sdk.endpoint as endpoint
from rasa_sdk.plugin import plugin_manager
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from actions.metrics import MeteredActionExecutor, readiness
from core.metrics import exposition

DEFAULT_ACTIONS = "actions"
hookimpl = pluggy.HookimplMarker("rasa_sdk")


async def metrics(request: Request) -> HTTPResponse:
    """Prometheus' text format."""
    body, content_type = exposition()
    return response.raw(body, content_type=content_type)


async def ready(request: Request) -> HTTPResponse:
    """Ready for traffic: the project's actions registered, the knowledge base loaded."""
    ok, report = readiness(MeteredActionExecutor.latest)
    return response.json(report, status=200 if ok else 503)


class OpsPlugin:
    """rasa-sdk's plugin hook: the /metrics and /ready routes."""

    @hookimpl
    def attach_sanic_app_extensions(self, app: Sanic) -> None:
        app.add_route(metrics, "/metrics", methods=["GET"], name="shebaoka_metrics")
        app.add_route(ready, "/ready", methods=["GET"], name="shebaoka_ready")


PLUGIN = OpsPlugin()


def install() -> None:
    """Make rasa-sdk's `create_app` use the metered executor and attach the routes (idempotent)."""
    endpoint.ActionExecutor = MeteredActionExecutor  # create_app's `ActionExecutor()` reads this name
    manager = plugin_manager()
    if not manager.is_registered(PLUGIN):
        manager.register(PLUGIN)


def create_app(action_package_name: Any = DEFAULT_ACTIONS, **kwargs: Any) -> Sanic:
    """rasa-sdk's app with the plugin's routes, as `rasa_sdk.endpoint.run` builds it (tests)."""
    install()
    app = endpoint.create_app(action_package_name, **kwargs)
    plugin_manager().hook.attach_sanic_app_extensions(app=app)
    return app


def main(argv: Optional[List[str]] = None) -> None:
    """Parse rasa-sdk's command line and run its server with the plugin."""
    import rasa_sdk.__main__

    args = endpoint.create_argument_parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.actions is None:
        args.actions = DEFAULT_ACTIONS
    install()
    rasa_sdk.__main__.main_from_args(args)


if __name__ == "__main__":
    main()

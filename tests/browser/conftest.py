"""Browser fixtures: the web server in front of the running assistant, and headless Debian Chromium.

The staff pages need a login: the web server gets an operations database (OPS_DB_URL) with one staff
account made by `python -m web.staff_users add`, and `log_in` goes through the real login page.

Without /usr/bin/chromium these tests are skipped, unless REQUIRE_BROWSER is set (CI): then they fail.
Screenshots go to tests/artifacts/ (gitignored).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, Dialog, Page, expect, sync_playwright

from tests.support import ROOT, START_TIMEOUT, Stack, free_port, wait_until_up

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "tests" / "artifacts"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
STAFF_USER = "browser-desk"
STAFF_PASSWORD = "browser-test staff password"  # of the test's own database only
REPLY_TIMEOUT_MS = 60_000  # the first reply waits for the action server and TensorFlow to warm up
expect.set_options(timeout=REPLY_TIMEOUT_MS)


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium: skip when it is missing, or fail when REQUIRE_BROWSER is set."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing (apt-get install -y chromium)"
        if os.environ.get("REQUIRE_BROWSER"):
            pytest.fail(f"REQUIRE_BROWSER is set but {message}")
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="module")
def browser(chromium: Path) -> Iterator[Browser]:
    """Headless Chromium for one test module.

    Module scope, not session: while Playwright's sync API runs it holds an asyncio loop on this thread,
    and the async tests collected after tests/browser could not run their own loop.
    """
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium), args=LAUNCH_ARGS)
        yield launched
        launched.close()


def add_staff_user(env: dict[str, str], name: str, password: str) -> None:
    """A staff account in the web server's database, as an administrator makes one."""
    subprocess.run(
        [sys.executable, "-m", "web.staff_users", "add", name],
        env={**env, "STAFF_PASSWORD": password}, cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip


@pytest.fixture(scope="session")
def web_env(chromium: Path, stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The web server's environment: the stack's, with an operations database (the stack's, else one of
    its own) holding the staff account STAFF_USER."""
    env = dict(stack.env)
    env.setdefault("OPS_DB_URL", f"sqlite:///{tmp_path_factory.mktemp('ops') / 'ops.sqlite3'}")
    env.setdefault("TRACKER_STORE_URL", f"sqlite:///{stack.tracker_db}")  # what the dashboard counts
    add_staff_user(env, STAFF_USER, STAFF_PASSWORD)
    return env


@pytest.fixture(scope="session")
def web_url(
    chromium: Path, stack: Stack, web_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """`python -m web.server` on a free port, pointed at the stack's Rasa (its socket.io and its /nlu/parse).

    Asks for `chromium` first so a missing browser skips before the stack is started.
    """
    port = free_port()
    log_path = tmp_path_factory.mktemp("web") / "web.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "web.server", "--port", str(port),
                "--rasa-url", stack.rasa_url, "--nlu-url", f"{stack.rasa_url}/nlu/parse",
            ],
            cwd=ROOT, env=web_env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{url}/health", process, log_path)
        deadline = time.monotonic() + START_TIMEOUT
        while (status := requests.get(f"{url}/health", timeout=5).json()["model"]) not in ("ready", "remote"):
            if status == "failed" or time.monotonic() > deadline or process.poll() is not None:
                raise RuntimeError(f"the web server's model did not load:\n{log_path.read_text()[-3000:]}")
            time.sleep(1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh browser profile per test: empty localStorage, a new conversation."""
    fresh = browser.new_context(locale="zh-CN", viewport={"width": 1100, "height": 850})
    fresh.set_default_timeout(REPLY_TIMEOUT_MS)
    yield fresh
    fresh.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    """A page that records console errors and dialogs (an alert would mean markup was executed)."""
    opened = context.new_page()
    opened.console_errors = []  # type: ignore[attr-defined]
    opened.dialogs = []  # type: ignore[attr-defined]
    opened.on("console", lambda m: m.type == "error" and opened.console_errors.append(m.text))
    opened.on("pageerror", lambda error: opened.console_errors.append(str(error)))

    def on_dialog(dialog: Dialog) -> None:
        opened.dialogs.append(dialog.message)
        dialog.dismiss()

    opened.on("dialog", on_dialog)
    yield opened
    # A CSP violation or a script error is a bug even when the page looks right.
    assert opened.console_errors == []
    assert opened.dialogs == []


def log_in(
    page: Page, web_url: str, path: str = "/staff", user: str = STAFF_USER, password: str = STAFF_PASSWORD
) -> None:
    """Open a staff page without a session: the server sends the browser to the login page; log in
    there, and the browser is back on `path`."""
    page.goto(f"{web_url}{path}")
    expect(page).to_have_url(re.compile(r"/staff/login\?next="))
    page.fill("#username", user)
    page.fill("#password", password)
    page.click("#login-button")
    expect(page).to_have_url(f"{web_url}{path}")


def screenshot(page: Page, name: str) -> Path:
    """Save a full-page screenshot to tests/artifacts/<name>.png."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path

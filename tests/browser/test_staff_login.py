"""Staff login in headless Chromium: the login page, lock-out, logout, and redirects without a session."""

from __future__ import annotations

import re
import subprocess
import sys
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import STAFF_PASSWORD, STAFF_USER, add_staff_user, log_in, screenshot
from tests.support import ROOT
from web.auth import COOKIE_NAME, LOGIN_REFUSED

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def login_next(url: str) -> str | None:
    """The page a login page's URL sends back to, or None when `url` is not the login page."""
    parts = urlsplit(url)
    return parse_qs(parts.query).get("next", [None])[0] if parts.path == "/staff/login" else None


REFUSED_LOGIN = re.compile(r"Failed to load resource: the server responded with a status of 401")


def forget_refused_logins(page: Page) -> None:
    """Chromium logs every 401 answer as a console error; a refused login is one on purpose."""
    page.console_errors[:] = [e for e in page.console_errors if not REFUSED_LOGIN.search(e)]  # type: ignore[attr-defined]


def submit(page: Page, user: str, password: str) -> int:
    """Fill in the form and send it; the status of the login's answer."""
    page.fill("#username", user)
    page.fill("#password", password)
    with page.expect_response(lambda r: r.url.endswith("/api/staff/login") and r.request.method == "POST") as sent:
        page.click("#login-button")
    return sent.value.status


def test_a_staff_page_without_a_session_goes_to_the_login_page(page: Page, web_url: str) -> None:
    page.goto(f"{web_url}/staff/review?reason=fallback")
    expect(page.locator("#login-form")).to_be_visible()
    assert login_next(page.url) == "/staff/review?reason=fallback"
    expect(page.locator("#setup")).to_be_hidden()  # there is an account: no "how to make one" note
    answer = page.request.get(f"{web_url}/api/staff/session")
    assert answer.status == 401
    screenshot(page, "staff-login")


def test_log_in_through_the_page(context: BrowserContext, page: Page, web_url: str) -> None:
    log_in(page, web_url, "/staff")
    expect(page.locator("#staff-user")).to_have_text(STAFF_USER)
    nav = page.locator("#staff-nav")
    for href in ("/staff", "/staff/review", "/staff/dashboard", "/staff/handoff"):
        expect(nav.locator(f'a[href="{href}"]')).to_have_count(1)
    expect(nav.locator('a[aria-current="page"]')).to_have_attribute("href", "/staff")
    expect(page.locator("#staff-logout")).to_be_visible()
    cookie = next(c for c in context.cookies(web_url) if c["name"] == COOKIE_NAME)
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict" and cookie["path"] == "/"
    assert COOKIE_NAME not in page.evaluate("document.cookie")  # out of reach of the page's scripts
    # The desk's query is a POST: it carries the CSRF token, so it is answered.
    page.fill("#question", "社保卡在哪里激活")
    expect(page.locator(".topic")).to_have_count(3)
    screenshot(page, "staff-desk-logged-in")


def test_next_must_be_a_local_path(page: Page, web_url: str) -> None:
    page.goto(f"{web_url}/staff/login?next=https://example.org/phish")
    assert submit(page, STAFF_USER, STAFF_PASSWORD) == 200
    expect(page).to_have_url(f"{web_url}/staff")


def test_wrong_passwords_lock_the_account(page: Page, web_url: str, web_env: dict[str, str]) -> None:
    user, password = "lockout-desk", "the lockout test password"
    add_staff_user(web_env, user, password)
    page.goto(f"{web_url}/staff/login")
    for _ in range(5):
        assert submit(page, user, "not the password at all") == 401
        expect(page.locator("#message")).to_have_text(LOGIN_REFUSED)
        expect(page.locator("#password")).to_have_value("")
    # Locked: the right password is refused as well, with the same message.
    assert submit(page, user, password) == 401
    expect(page.locator("#message")).to_have_text(LOGIN_REFUSED)
    expect(page).to_have_url(f"{web_url}/staff/login")
    screenshot(page, "staff-login-locked")
    listing = subprocess.run(
        [sys.executable, "-m", "web.staff_users", "list"],
        env=web_env, cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    assert re.search(rf"^{user}\s.*locked until", listing, re.MULTILINE), listing
    forget_refused_logins(page)


def test_logout_returns_to_the_login_page(context: BrowserContext, page: Page, web_url: str) -> None:
    log_in(page, web_url, "/staff")
    page.click("#staff-logout")
    expect(page).to_have_url(f"{web_url}/staff/login")
    expect(page.locator("#login-form")).to_be_visible()
    assert not [c for c in context.cookies(web_url) if c["name"] == COOKIE_NAME]
    page.goto(f"{web_url}/staff")
    expect(page.locator("#login-form")).to_be_visible()
    assert login_next(page.url) == "/staff"

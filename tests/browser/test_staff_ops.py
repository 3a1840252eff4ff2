"""The centre's pages in headless Chromium: 👍/👎 on the chat page, the review queue (a citizen's
markup shown as text, a topic assigned), the dashboard's charts, and a handoff code opened."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect
from sqlalchemy import create_engine

from core.ops_store import OpsStore
from tests.browser.conftest import log_in, screenshot
from tests.support import Stack, new_sender, texts

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)> zkqx jwbnv mplok'
RAW = '<b>社保卡</b><script>alert("queue")</script><img src=x onerror=alert(2)>怎么激活呀'
CODE = re.compile(r"[：:]\s*([A-Z0-9]{6})")


def ops_store(web_env: dict[str, str]) -> OpsStore:
    return OpsStore(create_engine(web_env["OPS_DB_URL"], future=True))


def test_thumbs_down_on_the_chat_page_is_stored_with_what_was_missing(page: Page, web_url: str, web_env) -> None:
    page.goto(web_url)
    expect(page.locator('#status[data-state="connected"]')).to_be_attached()
    page.fill("#input", "社保卡密码忘了怎么办")
    page.press("#input", "Enter")
    down = page.locator(".feedback__button--down")
    expect(down).to_have_count(1)
    down.click()
    expect(page.locator(".msg--bot", has_text="缺少了什么")).to_be_visible()
    page.fill(".feedback__input", "没说在哪个网点改密码")
    page.click(".feedback__send")
    expect(page.locator(".msg--bot", has_text="谢谢，已转给工作人员")).to_be_visible()
    # the rated answer shows thanks instead of the buttons, after a reload too
    page.reload()
    expect(page.locator(".feedback__thanks")).to_have_count(1)
    saved = [f for f in ops_store(web_env).feedback() if f.channel == "socketio"]
    assert saved and saved[0].rating == "down" and saved[0].topics == ["ask_password"]
    assert saved[0].comment == "没说在哪个网点改密码" and saved[0].question == "社保卡密码忘了怎么办"


def test_review_queue_shows_markup_as_text_and_assigns_a_topic(page: Page, web_url: str, stack: Stack, web_env) -> None:
    # Typed into the chat: the input cleaning removes markup before anything is stored.
    stack.say(XSS, new_sender())
    # Stored by any other way (an older row, another writer): the page must still show it as text.
    ops_store(web_env).add_review_item(sender_id="b", channel="wechat", reason="fallback", text=RAW)
    log_in(page, web_url, "/staff/review")
    expect(page.locator("body[data-loaded=true]")).to_be_attached()
    typed = page.locator("tr.ops__group", has=page.locator(".ops__text", has_text="jwbnv mplok"))
    expect(typed).to_have_count(1)
    assert typed.locator(".ops__text").inner_text() == "zkqx jwbnv mplok"
    raw = page.locator("tr.ops__group", has=page.locator(".ops__text", has_text="怎么激活呀"))
    assert raw.locator(".ops__text").inner_text() == RAW  # shown as typed, never run (a dialog fails the test)
    assert page.locator("#groups img, #groups script, #groups b").count() == 0
    screenshot(page, "staff-review")
    typed.locator("select").select_option("ask_how_to_activate")
    typed.locator("button").click()
    expect(page.locator("#status")).to_contain_text("Assigned")
    expect(page.locator("tr.ops__group", has=page.locator(".ops__text", has_text="jwbnv mplok"))).to_have_count(0)
    expect(page.locator("#assigned li", has_text="jwbnv mplok")).to_contain_text("browser-desk")
    assigned = [i for i in ops_store(web_env).review_items(assigned=True) if i.text == "zkqx jwbnv mplok"]
    assert assigned and assigned[0].label == "ask_how_to_activate" and assigned[0].assigned_by == "browser-desk"


def test_review_queue_shows_the_topic_a_person_chose_apart_from_the_models_guess(
    page: Page, web_url: str, web_env, kb
) -> None:
    store = ops_store(web_env)
    text = "qvzx plorb 卡被锁住了"  # its own words: other tests' items must not group with it
    store.add_review_item(
        sender_id="m", channel="rest", reason="fallback", text=text, guess="ask_password", guess_confidence=0.21
    )
    store.add_review_item(sender_id="p", channel="rest", reason="runner_up", text=text, guess="report_card_problem")
    log_in(page, web_url, "/staff/review")
    expect(page.locator("body[data-loaded=true]")).to_be_attached()
    group = page.locator("tr.ops__group", has=page.locator(".ops__text", has_text="qvzx plorb"))
    expect(group).to_have_count(1)
    chosen = kb.topics["report_card_problem"]["title"]
    expect(group.locator(".ops__chosen")).to_have_text(f"用户选择 Person chose: {chosen['zh']} · {chosen['en']}")
    guessed = kb.topics["ask_password"]["title"]
    expect(group.locator(".ops__guess")).to_contain_text(f"{guessed['zh']} · {guessed['en']} (21%)")
    expect(group.locator("select")).to_have_value("report_card_problem")  # the person's choice comes first


def test_dashboard_draws_its_charts(page: Page, web_url: str, stack: Stack) -> None:
    stack.say("社保卡在哪里激活", new_sender())
    log_in(page, web_url, "/staff/dashboard")
    expect(page.locator("body[data-loaded=true]")).to_be_attached()
    drawn = page.evaluate(
        "['chart-messages','chart-answered','chart-feedback','chart-topics']"
        ".map((id) => Boolean(window.Chart.getChart(document.getElementById(id))))"
    )
    assert drawn == [True, True, True, True]
    messages = int(page.locator(".ops__tile-value").nth(1).inner_text())
    assert messages >= 1
    expect(page.locator("#rows tr").first).to_be_visible()
    # every figure of a row under its heading (the corrected answers' column among them)
    assert page.locator("#rows tr").first.locator("td").count() == page.locator("thead th").count() == 10
    expect(page.locator(".ops__tile-label", has_text="Corrected")).to_be_visible()
    screenshot(page, "staff-dashboard")


def test_a_handoff_code_opens_the_redacted_summary(page: Page, web_url: str, stack: Stack) -> None:
    sender = new_sender()
    stack.say("社保卡怎么激活", sender)
    reply = texts(stack.say("我要转人工", sender))
    code = CODE.search(reply)
    assert code, reply
    log_in(page, web_url, "/staff/handoff")
    page.fill("#code", code.group(1).lower())
    page.press("#code", "Enter")
    expect(page.locator("#summary")).to_be_visible()
    expect(page.locator("#facts")).to_contain_text(code.group(1))
    expect(page.locator("#topics")).to_contain_text("How to activate")
    expect(page.locator("#questions")).to_contain_text("社保卡怎么激活")
    page.fill("#code", "ZZZZZZ")
    page.press("#code", "Enter")
    expect(page.locator("#status")).to_contain_text("No such code")
    # Chromium logs the API's 404 for the unknown code as a failed resource: that one is expected.
    page.console_errors[:] = [e for e in page.console_errors if "404 (Not Found)" not in e]  # type: ignore[attr-defined]


def test_a_forged_csrf_token_is_refused_in_the_browser(page: Page, web_url: str) -> None:
    log_in(page, web_url, "/staff/review")
    expect(page.locator("body[data-loaded=true]")).to_be_attached()
    statuses = page.evaluate(
        """async () => {
            const post = (token) => fetch('/api/staff/review/assign', {
                method: 'POST', credentials: 'same-origin',
                headers: {'Content-Type': 'application/json', ...(token ? {'X-CSRF-Token': token} : {})},
                body: JSON.stringify({ids: [1], label: 'ask_password'}),
            }).then((r) => r.status);
            return [await post('forged-token'), await post(null)];
        }"""
    )
    assert statuses == [403, 403]
    # Chromium logs the refused requests as failed resources: expected here.
    page.console_errors[:] = [e for e in page.console_errors if "403 (Forbidden)" not in e]  # type: ignore[attr-defined]

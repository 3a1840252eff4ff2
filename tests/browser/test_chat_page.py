"""The chat page in headless Chromium against the running assistant (socket.io channel).

Expected texts come from knowledge/ (the first line of a topic's answer, service phrases), never from
copies in this file.
"""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from core.knowledge import KnowledgeBase
from tests.browser.conftest import screenshot
from tests.support import Stack, question_with_runner_up, topic_answers

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

BOT = ".msg--bot .msg__bubble"
USER = ".msg--user .msg__bubble"


def first_line(kb: KnowledgeBase, topic: str, language: str) -> re.Pattern[str]:
    """The first line of any of a topic's answers (its general one or an entry's: the NLU picks) as
    the page shows it (a "- " line becomes a list item)."""
    lines = [answer.splitlines()[0].removeprefix("- ") for answer in topic_answers(kb, topic, language)]
    return re.compile("|".join(re.escape(line) for line in lines))


def open_chat(page: Page, web_url: str) -> None:
    page.goto(f"{web_url}/")
    expect(page.locator('#status[data-state="connected"]')).to_be_attached()


def ask(page: Page, text: str) -> None:
    page.fill("#input", text)
    page.press("#input", "Enter")


def transcript(page: Page) -> list[str]:
    return page.locator(".chat__log > li").all_inner_texts()


def test_chinese_and_english_questions_with_the_legal_line(page: Page, web_url: str, kb: KnowledgeBase) -> None:
    open_chat(page, web_url)
    ask(page, "社保卡在哪里激活")
    answer = page.locator(BOT, has_text=first_line(kb, "ask_how_to_activate", "zh"))
    expect(answer).to_be_visible()
    expect(answer).to_contain_text("银行")

    legal = page.locator(".msg--legal .msg__bubble").last
    expect(legal).to_contain_text("⚖")
    # sources as short labelled links: the site's name is the link text, not the address
    source = legal.locator("a").first
    expect(source).to_have_attribute("href", re.compile(r"^https?://"))
    assert not source.inner_text().startswith("http")
    # related questions of the topic as buttons under the answer
    expect(page.locator(".msg--bot .chip").first).to_be_visible()
    styles = page.evaluate(
        """() => {
            const style = (el) => getComputedStyle(el);
            const legal = style(document.querySelector('.msg--legal .msg__bubble'));
            const normal = style(document.querySelector('.msg--bot:not(.msg--legal) .msg__bubble'));
            return {legalSize: parseFloat(legal.fontSize), normalSize: parseFloat(normal.fontSize),
                    border: legal.borderLeftWidth, legalColor: legal.color, normalColor: normal.color};
        }"""
    )
    assert styles["legalSize"] < styles["normalSize"]
    assert styles["border"] == "3px" and styles["legalColor"] != styles["normalColor"]

    ask(page, "How do I activate my social security card?")
    expect(page.locator(BOT, has_text=first_line(kb, "ask_how_to_activate", "en"))).to_be_visible()
    screenshot(page, "chat-zh-en")


def test_unintelligible_text_offers_topic_buttons(page: Page, web_url: str, kb: KnowledgeBase) -> None:
    open_chat(page, web_url)
    ask(page, "asdfgh qwerty")
    expect(page.locator(".chip").first).to_be_visible()
    # a suggestion that answers its topic (the legal-basis one lists the laws instead)
    legal_titles = kb.topics["ask_legal_basis"]["title"].values()
    chip = next(c for c in page.locator(".chip").all() if c.inner_text() not in legal_titles)
    title = chip.inner_text()
    topic = next(name for name, entry in kb.topics.items() if title in entry["title"].values())
    language = "zh" if kb.topics[topic]["title"]["zh"] == title else "en"
    chip.click()
    expect(page.locator(USER).last).to_have_text(title)  # the title, not the /intent payload
    expect(page.locator(BOT, has_text=first_line(kb, topic, language))).to_be_visible()
    # the used buttons are gone (the answer's own related questions may contain the title's words)
    expect(page.locator(".chip", has_text=re.compile(f"^{re.escape(title)}$"))).to_have_count(0)
    assert not any(text.startswith("/") for text in page.locator(USER).all_inner_texts())
    screenshot(page, "chat-fallback-buttons")


def test_a_question_between_two_topics_offers_the_other_one_a_tap_away(
    page: Page, web_url: str, stack: Stack, kb: KnowledgeBase
) -> None:
    question, button, answered, offered = question_with_runner_up(stack)
    language = "zh" if re.search(r"[\u4e00-\u9fff]", question) else "en"
    open_chat(page, web_url)
    ask(page, question)
    expect(page.locator(BOT, has_text=first_line(kb, answered, language))).to_be_visible()
    expect(page.locator(".chip").first).to_have_text(button["title"])  # first under the answer
    screenshot(page, "chat-runner-up")
    page.locator(".chip").first.click()
    expect(page.locator(USER).last).to_have_text(button["title"])  # "I meant: …", not the payload
    expect(page.locator(BOT, has_text=first_line(kb, offered, language))).to_be_visible()
    expect(page.locator(".msg--legal")).to_have_count(2)
    screenshot(page, "chat-runner-up-tapped")


def test_the_conversation_survives_a_reload(page: Page, web_url: str, kb: KnowledgeBase) -> None:
    open_chat(page, web_url)
    ask(page, "社保卡在哪里激活")
    expect(page.locator(".msg--legal")).to_have_count(1)
    before = transcript(page)
    session = json.loads(page.evaluate("localStorage.getItem('shebaoka.chat.v1')"))["sessionId"]

    page.reload()
    expect(page.locator('#status[data-state="connected"]')).to_be_attached()
    assert transcript(page) == before
    stored = json.loads(page.evaluate("localStorage.getItem('shebaoka.chat.v1')"))
    assert stored["sessionId"] == session  # same Rasa conversation, not a new one

    ask(page, "要带什么材料")  # the restored session still answers
    expect(page.locator(".msg--legal")).to_have_count(2)
    screenshot(page, "chat-after-reload")


def test_markup_is_shown_literally(page: Page, web_url: str) -> None:
    open_chat(page, web_url)
    text = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    ask(page, text)
    expect(page.locator(USER).last).to_have_text(text)
    expect(page.locator(".msg--bot")).not_to_have_count(0)  # the bot answered (fallback), nothing ran
    assert page.locator(".chat__log script, .chat__log img").count() == 0
    # The page fixture fails the test if an alert dialog opened.


def test_language_toggle_switches_answers_without_a_bubble(page: Page, web_url: str, kb: KnowledgeBase) -> None:
    open_chat(page, web_url)
    page.click(".lang__button[data-lang=en]")
    expect(page.locator("#send")).to_have_text("Send")
    expect(page.locator(BOT, has_text=kb.phrase("language_switched", "en"))).to_be_visible()
    expect(page.locator(".msg--user")).to_have_count(0)  # the /switch_language payload is hidden
    ask(page, "社保卡在哪里激活")  # Chinese words, but English was chosen
    expect(page.locator(BOT, has_text=first_line(kb, "ask_how_to_activate", "en"))).to_be_visible()


def test_phone_screen(context: BrowserContext, page: Page, web_url: str, kb: KnowledgeBase) -> None:
    page.set_viewport_size({"width": 360, "height": 740})
    open_chat(page, web_url)
    ask(page, "社保卡激活期限是多久")
    expect(page.locator(".msg--legal")).to_have_count(1)
    expect(page.locator(".msg--bot a").first).to_be_visible()  # the variations' sources are links
    link = page.locator(".msg--bot a").first
    assert link.get_attribute("rel") == "noopener noreferrer"
    assert link.get_attribute("href").startswith(("http://", "https://"))
    assert page.evaluate("document.documentElement.scrollWidth") <= 360  # nothing wider than the phone
    screenshot(page, "chat-phone-360")

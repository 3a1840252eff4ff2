"""The staff reference desk in headless Chromium: ranking by the trained model, answers from knowledge/."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from core.compose import compose_answer
from core.knowledge import KnowledgeBase
from tests.browser.conftest import log_in, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


def open_desk(page: Page, web_url: str) -> None:
    log_in(page, web_url, "/staff")  # through the login page, as a staff member would
    expect(page.locator("#region option")).not_to_have_count(1)  # the region list has loaded


def test_question_shows_three_topics_with_confidence_and_law(page: Page, web_url: str, kb: KnowledgeBase) -> None:
    open_desk(page, web_url)
    page.fill("#question", "社保卡在哪里激活")  # typing alone triggers the (debounced) query
    cards = page.locator(".topic")
    expect(cards).to_have_count(3)
    expect(cards.first).to_have_attribute("data-intent", "ask_how_to_activate")
    shown = page.locator(".confidence__value").all_inner_texts()
    assert all(re.fullmatch(r"<?\d+%", t) for t in shown)
    percents = [int(t.strip("<%")) for t in shown]
    assert percents == sorted(percents, reverse=True) and percents[0] >= 50

    first = cards.first
    entry = kb.topics["ask_how_to_activate"]
    expect(first.locator(".panel--zh")).to_contain_text(entry["answer"]["zh"].splitlines()[0].removeprefix("- "))
    first.locator("[role=tab][data-tab=en]").click()
    expect(first.locator(".panel--en")).to_contain_text(entry["answer"]["en"].splitlines()[0].removeprefix("- "))
    first.locator("[role=tab][data-tab=law]").click()
    _, article = kb.articles[entry["legal_basis"][0]]
    expect(first.locator(".panel--law")).to_contain_text(article["text"]["zh"].strip()[:40])
    expect(first.locator(".panel--law")).to_contain_text(article["text"]["en"].strip()[:40])
    first.locator("[role=tab][data-tab=sources]").click()
    linked = next(s for s in entry["sources"] if s["url"].startswith("http"))
    expect(first.locator(f'.panel--sources a[href="{linked["url"]}"]')).to_be_visible()
    screenshot(page, "staff-results")


def test_region_note_and_copy(context: BrowserContext, page: Page, web_url: str, kb: KnowledgeBase) -> None:
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=web_url)
    open_desk(page, web_url)
    page.fill("#question", "社保卡怎么激活")
    page.press("#question", "Enter")
    expect(page.locator(".topic").first).to_have_attribute("data-intent", "ask_how_to_activate")

    page.fill("#region-search", "上海")
    page.press("#region-search", "Enter")  # picks the first match
    expect(page.locator("#region-chosen")).to_contain_text("上海市")
    first = page.locator(".topic").first
    note = kb.notes_for("上海市", "ask_how_to_activate")[0]
    expect(first.locator(".panel--region")).to_be_visible()  # picking a region shows its tab
    expect(first.locator(".panel--region .region-notes")).to_contain_text(note["zh"][:30])
    expect(first.locator(".panel--region .region-notes")).to_contain_text(note["en"][:30])
    screenshot(page, "staff-region")

    first.locator("[role=tab][data-tab=zh]").click()
    copy = first.locator(".panel--zh .copy")
    copy.click()
    expect(copy).to_have_text("已复制 / Copied")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == "\n\n".join(compose_answer(kb, "ask_how_to_activate", "zh", None))


def test_markup_in_the_question_does_not_run(page: Page, web_url: str) -> None:
    open_desk(page, web_url)
    page.fill("#question", "<img src=x onerror=alert(1)>社保卡激活要带什么")
    expect(page.locator(".topic")).not_to_have_count(0)
    assert page.locator("#results img, #results script").count() == 0

"""Tests for core.compose: every expected text is looked up in the knowledge base (fixture `kb`)."""

from __future__ import annotations

import pytest

from core.card_registry import CardStatus
from core.compose import (
    MAX_EXAMPLES,
    STARTER_TOPICS,
    cite_articles,
    compose_answer,
    compose_answers,
    compose_status,
    link,
    list_laws,
    quote_articles,
    regional_parts,
    topic_buttons,
)
from core.knowledge import KnowledgeBase
from core.language import LANGUAGES
from core.regions import display_name, region_chain
from tests.support import CONTRACT_TOPICS

TOPICS = sorted(CONTRACT_TOPICS)
# A city with no notes at all in the knowledge base, in a province with none either.
CITY_WITHOUT_NOTES = "合肥市"
MASKED_ID = "110105********002X"
MASKED_NAME = "张*"


def _note_lines(kb: KnowledgeBase, topic: str, region: str, language: str) -> list[str]:
    return [
        kb.phrase(
            "region_note",
            language,
            region=display_name(place, language),
            note=note[language],
            source=link(note["source"]),
        )
        for place in region_chain(region)
        for note in kb.notes_for(place, topic)
    ]


def _variation_lines(kb: KnowledgeBase, topic: str, language: str) -> list[str]:
    return [
        kb.phrase("variation", language, where=v["where"][language], rule=v["rule"][language], source=link(v["source"]))
        for v in (kb.topics[topic].get("variations") or [])[:MAX_EXAMPLES]
    ]


def _regions_with_note(kb: KnowledgeBase, topic: str) -> list[str]:
    return sorted(name for name in kb.regions if kb.notes_for(name, topic))


# ---------------------------------------------------------------- compose_answer


def test_test_data_assumptions(kb: KnowledgeBase) -> None:
    assert set(TOPICS) == set(kb.topics)
    assert CITY_WITHOUT_NOTES not in kb.regions
    assert all(place not in kb.regions for place in region_chain(CITY_WITHOUT_NOTES))


@pytest.mark.parametrize("topic", TOPICS)
@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("region", [None, "上海市", "揭阳市", CITY_WITHOUT_NOTES])
def test_answer_then_legal_line(kb: KnowledgeBase, topic: str, language: str, region: str | None) -> None:
    messages = compose_answer(kb, topic, language, region)
    assert isinstance(messages, list) and len(messages) == 2
    answer, legal = messages
    assert answer.startswith(kb.topics[topic]["answer"][language].strip())
    assert legal.startswith("⚖")
    assert "{" not in answer and "}" not in answer
    assert "None" not in answer


@pytest.mark.parametrize("topic", TOPICS)
def test_answer_in_the_right_language(kb: KnowledgeBase, topic: str) -> None:
    zh = compose_answer(kb, topic, "zh", None)[0]
    en = compose_answer(kb, topic, "en", None)[0]
    assert kb.topics[topic]["answer"]["en"].strip() not in zh
    assert kb.topics[topic]["answer"]["zh"].strip() not in en
    assert kb.phrase("region_invite", "en") not in zh


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(
    ("topic", "region"),
    [
        ("ask_activation_deadline", "中山市"),
        ("ask_lost_or_replace_card", "苏州市"),
        ("ask_password", "广州市"),
        ("ask_password", "上海市"),
        ("ask_how_to_activate", "北京市"),
    ],
)
def test_region_with_note(kb: KnowledgeBase, topic: str, region: str, language: str) -> None:
    assert kb.notes_for(region, topic)
    answer = compose_answer(kb, topic, language, region)[0]
    for note in kb.notes_for(region, topic):
        assert note[language] in answer
        assert note["source"] in answer
    for line in _note_lines(kb, topic, region, language):
        assert line in answer
    # the region's own rule replaces the list of other places' rules and the invitation
    assert kb.phrase("variations_heading", language) not in answer
    for line in _variation_lines(kb, topic, language):
        assert line not in answer
    assert kb.phrase("region_invite", language) not in answer
    assert kb.phrase("region_unknown_note", language, region=display_name(region, language)) not in answer


@pytest.mark.parametrize("language", LANGUAGES)
def test_province_note_applies_to_its_cities(kb: KnowledgeBase, language: str) -> None:
    # 广东省 has an ask_activation_deadline note; 汕头市 has none of its own.
    topic, city = "ask_activation_deadline", "汕头市"
    assert not kb.notes_for(city, topic) and kb.notes_for("广东省", topic)
    answer = compose_answer(kb, topic, language, city)[0]
    for line in _note_lines(kb, topic, "广东省", language):
        assert line in answer
    assert display_name("广东省", language) in answer
    assert kb.phrase("variations_heading", language) not in answer


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("topic", [t for t in TOPICS if t != "request_human"])
def test_region_without_note_on_varying_topic(kb: KnowledgeBase, topic: str, language: str) -> None:
    unknown = kb.phrase("region_unknown_note", language, region=display_name(CITY_WITHOUT_NOTES, language))
    answer = compose_answer(kb, topic, language, CITY_WITHOUT_NOTES)[0]
    if kb.topics[topic]["varies_by_region"]:
        assert unknown in answer
        assert display_name(CITY_WITHOUT_NOTES, language) in answer
    else:
        assert unknown not in answer
    assert kb.phrase("region_invite", language) not in answer  # the region is known


def test_region_unknown_note_names_the_region_in_english(kb: KnowledgeBase) -> None:
    answer = compose_answer(kb, "ask_how_to_activate", "en", CITY_WITHOUT_NOTES)[0]
    assert "Hefei" in answer
    assert CITY_WITHOUT_NOTES not in answer


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_general_frame_is_called_one(kb: KnowledgeBase, language: str) -> None:
    # The audit: a legal line citing the Measures' Article 3 for fees read as if the article set fees.
    line = cite_articles(kb, "ask_activation_fee", language)
    assert line.startswith(kb.phrase("legal_line_frame", language, citations="")[:6])
    assert not cite_articles(kb, "ask_how_to_activate", language).startswith(line[:6])


@pytest.mark.parametrize("language", LANGUAGES)
def test_unofficial_sources_are_marked_in_the_short_line(kb: KnowledgeBase, language: str) -> None:
    from core.compose import sources_line

    official = {"title": "广州人社", "url": "https://rsj.gz.gov.cn/x", "kind": "official"}
    web = {"title": "某网站", "url": "http://example.org/", "kind": "web"}
    line = sources_line(kb, [web, official], language)
    mark = kb.phrase("unofficial_mark", language)
    assert line.index("广州人社") < line.index("某网站")  # official first
    assert f"[某网站](http://example.org/){mark}" in line and f"[广州人社](https://rsj.gz.gov.cn/x){mark}" not in line


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("topic", TOPICS)
def test_without_region(kb: KnowledgeBase, topic: str, language: str) -> None:
    entry = kb.topics[topic]
    answer = compose_answer(kb, topic, language, None)[0]
    invite = kb.phrase("region_invite", language)
    if entry["varies_by_region"]:
        assert invite in answer
        assert answer.endswith(invite)
        variations = entry.get("variations") or []
        if variations:
            assert kb.phrase("variations_heading", language) in answer
            assert kb.phrase("variations_footer", language) in answer
            for variation in variations[:MAX_EXAMPLES]:  # at most three examples: then "tell me your city"
                assert variation["source"] in answer
                assert variation["rule"][language] in answer
            for variation in variations[MAX_EXAMPLES:]:
                assert variation["source"] not in answer
            for line in _variation_lines(kb, topic, language):
                assert line in answer
    else:
        assert invite not in answer
        assert answer.startswith(entry["answer"][language].strip())
        for variation in entry.get("variations") or []:
            assert variation["source"] in answer


def test_some_varying_topics_have_variations(kb: KnowledgeBase) -> None:
    with_variations = [t for t, e in kb.topics.items() if e["varies_by_region"] and e.get("variations")]
    assert "ask_activation_deadline" in with_variations
    assert "ask_password" in with_variations


@pytest.mark.parametrize("language", LANGUAGES)
def test_fixed_variations_of_non_varying_topic_are_never_shown(kb: KnowledgeBase, language: str) -> None:
    entry = kb.topics["ask_electronic_card"]
    assert entry["varies_by_region"] is False and entry["variations"]
    answer = compose_answer(kb, "ask_electronic_card", language, None)[0]
    for variation in entry["variations"]:
        assert variation["source"] in answer


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("topic", TOPICS)
def test_legal_line_names_every_cited_article(kb: KnowledgeBase, topic: str, language: str) -> None:
    legal = compose_answer(kb, topic, language, None)[1]
    assert legal.startswith("⚖")
    for ref in kb.topics[topic]["legal_basis"]:
        law, article = kb.articles[ref]
        assert article["number"][language] in legal, ref
        assert law.get("short_name", law["name"])[language] in legal, ref


@pytest.mark.parametrize("language", LANGUAGES)
def test_legal_line_does_not_depend_on_region(kb: KnowledgeBase, language: str) -> None:
    lines = {compose_answer(kb, "ask_password", language, r)[1] for r in (None, "上海市", CITY_WITHOUT_NOTES)}
    assert len(lines) == 1


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(("region", "number"), [("上海市", "962222"), ("杭州市", "96225")])
def test_request_human_local_hotline(kb: KnowledgeBase, region: str, number: str, language: str) -> None:
    hotline = kb.regions[region]["hotline"]
    assert hotline["number"] == number
    answer = compose_answer(kb, "request_human", language, region)[0]
    assert number in answer
    assert kb.phrase("local_hotline", language, name=hotline[language], number=number) in answer
    assert kb.service["hotline"]["number"] in answer  # the national one is still there


@pytest.mark.parametrize("language", LANGUAGES)
def test_request_human_without_local_hotline(kb: KnowledgeBase, language: str) -> None:
    # A region without its own hotline entry and without one in its province gets no local line.
    answer = compose_answer(kb, "request_human", language, CITY_WITHOUT_NOTES)[0]
    for entry in kb.regions.values():
        if entry.get("hotline"):
            assert entry["hotline"]["number"] not in answer


@pytest.mark.parametrize("topic", [t for t in TOPICS if t != "request_human"])
def test_local_hotline_only_for_request_human(kb: KnowledgeBase, topic: str) -> None:
    hotline = kb.regions["杭州市"]["hotline"]
    answer = compose_answer(kb, topic, "en", "杭州市")[0]
    assert kb.phrase("local_hotline", "en", name=hotline["en"], number=hotline["number"]) not in answer


# ---------------------------------------------------------------- quote_articles, list_laws


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("topic", TOPICS)
def test_quote_articles(kb: KnowledgeBase, topic: str, language: str) -> None:
    messages = quote_articles(kb, topic, language)
    assert len(messages) == 1
    text = messages[0]
    entry = kb.topics[topic]
    assert text.startswith(kb.phrase("legal_heading_topic", language, topic=entry["title"][language]))
    for ref in entry["legal_basis"]:
        law, article = kb.articles[ref]
        assert article["text"][language].strip() in text, ref
        assert law["name"][language] in text
        assert law["issuer"][language] in text
        assert law["date"] in text
        assert article["number"][language] in text
        if article.get("excerpt"):
            assert kb.phrase("excerpt_mark", language) in text
    note = entry.get("legal_note")
    assert text.endswith(note[language].strip() if note else kb.phrase("legal_national_gap", language))


@pytest.mark.parametrize("topic", TOPICS)
def test_quote_articles_full_chinese_text(kb: KnowledgeBase, topic: str) -> None:
    text = quote_articles(kb, topic, "zh")[0]
    for ref in kb.topics[topic]["legal_basis"]:
        law, article = kb.articles[ref]
        block = kb.phrase(
            "legal_article",
            "zh",
            law=law["name"]["zh"],
            number=article["number"]["zh"],
            excerpt=kb.phrase("excerpt_mark", "zh") if article.get("excerpt") else "",
            issuer=law["issuer"]["zh"],
            date=law["date"],
            text=article["text"]["zh"].strip(),
        )
        assert block in text


@pytest.mark.parametrize("language", LANGUAGES)
def test_list_laws(kb: KnowledgeBase, language: str) -> None:
    text = list_laws(kb, language)
    assert text.startswith(kb.phrase("legal_no_topic", language))
    assert text.endswith(kb.phrase("legal_national_gap", language))
    law_lines = [line for line in text.splitlines() if line.startswith("- ")]
    assert len(law_lines) == len(kb.laws)
    for law, line in zip(kb.laws.values(), law_lines, strict=True):
        assert law["name"][language] in line
        assert law["issuer"][language] in line
        assert law["date"] in line


# ---------------------------------------------------------------- topic_buttons


@pytest.mark.parametrize("language", LANGUAGES)
def test_topic_buttons(kb: KnowledgeBase, language: str) -> None:
    buttons = topic_buttons(kb, STARTER_TOPICS, language)
    assert buttons == [{"title": kb.topics[t]["title"][language], "payload": f"/{t}"} for t in STARTER_TOPICS]


def test_topic_buttons_every_topic_and_unknown_skipped(kb: KnowledgeBase) -> None:
    buttons = topic_buttons(kb, [*TOPICS, "ask_weather"], "en")
    assert [b["payload"] for b in buttons] == [f"/{t}" for t in TOPICS]
    assert topic_buttons(kb, [], "zh") == []
    assert set(STARTER_TOPICS) <= set(kb.topics)


# ---------------------------------------------------------------- compose_status


def _status(kb: KnowledgeBase, status: str, language: str, **values: str | None) -> str:
    messages = compose_status(
        kb,
        status,
        language,
        city=values.pop("city", "广州市"),
        masked_id=MASKED_ID,
        masked_name=MASKED_NAME,
        **values,
    )
    assert len(messages) == 1
    return messages[0]


FULL_RECORD = {"outlet": "广州市社会保障卡服务中心", "deadline": "2027-06-30", "applied_on": "2025-08-15"}


def _fill(kb: KnowledgeBase, template: str, city: str, language: str, **values: str) -> str:
    fill = {"city": display_name(city, language), "outlet": "", "deadline": "", "applied_on": ""}
    fill.update(values)
    return template.format(hotline=kb.service["hotline"]["number"], **fill)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("status", [s.value for s in CardStatus])
def test_status_every_status(kb: KnowledgeBase, status: str, language: str) -> None:
    entry = kb.card_status[status]
    text = _status(kb, status, language, **FULL_RECORD)
    assert MASKED_ID in text
    assert MASKED_NAME in text
    assert text.startswith(
        kb.phrase("lookup_masked", language, id=MASKED_ID, name=MASKED_NAME, city=display_name("广州市", language))
    )
    assert _fill(kb, entry[language], "广州市", language, **FULL_RECORD) in text
    assert _fill(kb, entry["next"][language], "广州市", language, **FULL_RECORD) in text
    assert "{" not in text and "None" not in text


@pytest.mark.parametrize("language", LANGUAGES)
def test_status_city_in_the_reply_language(kb: KnowledgeBase, language: str) -> None:
    text = _status(kb, "in_production", language, city="揭阳市")
    assert display_name("揭阳市", language) in text
    if language == "en":
        assert "Jieyang" in text and "揭阳市" not in text


@pytest.mark.parametrize("language", LANGUAGES)
def test_issued_not_activated_with_deadline(kb: KnowledgeBase, language: str) -> None:
    entry = kb.card_status["issued_not_activated"]
    text = _status(kb, "issued_not_activated", language, city=CITY_WITHOUT_NOTES, deadline="2027-06-30")
    assert "2027-06-30" in text
    assert _fill(kb, entry["next"][language], CITY_WITHOUT_NOTES, language, deadline="2027-06-30") in text
    assert entry["if"]["deadline"][language] not in text


@pytest.mark.parametrize("language", LANGUAGES)
def test_issued_not_activated_without_deadline(kb: KnowledgeBase, language: str) -> None:
    entry = kb.card_status["issued_not_activated"]
    text = _status(kb, "issued_not_activated", language, city=CITY_WITHOUT_NOTES, deadline=None)
    assert _fill(kb, entry["if"]["deadline"][language], CITY_WITHOUT_NOTES, language) in text
    assert _fill(kb, entry["next"][language], CITY_WITHOUT_NOTES, language) not in text
    # no region note for a city the knowledge base knows nothing about, and no "no information" line
    assert kb.phrase("region_unknown_note", language, region=display_name(CITY_WITHOUT_NOTES, language)) not in text


@pytest.mark.parametrize("language", LANGUAGES)
def test_ready_for_collection_with_and_without_outlet(kb: KnowledgeBase, language: str) -> None:
    entry = kb.card_status["ready_for_collection"]
    outlet = FULL_RECORD["outlet"]
    with_outlet = _status(kb, "ready_for_collection", language, outlet=outlet)
    assert outlet in with_outlet
    assert _fill(kb, entry["next"][language], "广州市", language, outlet=outlet) in with_outlet
    without = _status(kb, "ready_for_collection", language, outlet=None)
    assert _fill(kb, entry["if"]["outlet"][language], "广州市", language) in without
    assert _fill(kb, entry["next"][language], "广州市", language) not in without
    assert display_name("广州市", language) in without


@pytest.mark.parametrize("language", LANGUAGES)
def test_issued_not_activated_in_beijing_adds_the_local_note(kb: KnowledgeBase, language: str) -> None:
    notes = kb.notes_for("北京市", "ask_how_to_activate")
    assert notes
    text = _status(kb, "issued_not_activated", language, city="北京市", deadline="2027-06-30")
    for line in _note_lines(kb, "ask_how_to_activate", "北京市", language):
        assert line in text
    for note in notes:
        assert note["source"] in text


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("status", [s.value for s in CardStatus if s.value != "issued_not_activated"])
def test_local_note_only_when_not_activated(kb: KnowledgeBase, status: str, language: str) -> None:
    text = _status(kb, status, language, city="北京市", **FULL_RECORD)
    for note in kb.notes_for("北京市", "ask_how_to_activate"):
        assert note[language] not in text


@pytest.mark.parametrize("language", LANGUAGES)
def test_application_received_shows_the_date(kb: KnowledgeBase, language: str) -> None:
    text = _status(kb, "application_received", language, applied_on="2025-09-01")
    assert "2025-09-01" in text


# --- several questions in one message ---------------------------------------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_one_topic_through_compose_answers_is_compose_answer(kb: KnowledgeBase, language: str) -> None:
    assert compose_answers(kb, ["ask_password"], language, "北京市") == compose_answer(
        kb, "ask_password", language, "北京市"
    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_several_topics_each_under_its_heading_then_one_legal_line(kb: KnowledgeBase, language: str) -> None:
    topics = ["ask_activation_fee", "ask_how_to_activate", "ask_password"]
    messages = compose_answers(kb, topics, language, None)
    assert len(messages) == len(topics) + 1
    for number, (message, topic) in enumerate(zip(messages, topics, strict=False), start=1):
        heading = kb.phrase("question_heading", language, number=str(number), topic=kb.topics[topic]["title"][language])
        assert message.startswith(heading)
        assert kb.topics[topic]["answer"][language].strip() in message
    invite = kb.phrase("region_invite", language)
    assert sum(m.count(invite) for m in messages) == 1 and invite in messages[-2]
    assert messages[-1] == cite_articles(kb, topics, language)
    for topic in topics:
        assert cite_articles(kb, topic, language)  # each topic's own line is part of the combined one
        for ref in kb.topics[topic]["legal_basis"]:
            assert kb.articles[ref][1]["number"][language] in messages[-1]


@pytest.mark.parametrize("language", LANGUAGES)
def test_combined_legal_line_names_each_article_once(kb: KnowledgeBase, language: str) -> None:
    shared = [t for t in kb.topics if "card-measures-3" in kb.topics[t]["legal_basis"]][:2]
    assert len(shared) == 2
    line = cite_articles(kb, shared, language)
    number = kb.articles["card-measures-3"][1]["number"][language]
    assert line.count(number) == 1


def test_with_a_region_no_invitation(kb: KnowledgeBase) -> None:
    messages = compose_answers(kb, ["ask_how_to_activate", "ask_required_documents"], "zh", "揭阳市")
    assert not any(kb.phrase("region_invite", "zh") in m for m in messages)
    assert any("揭阳" in m for m in messages[:-1])


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_place_line_shared_by_several_answers_is_said_once(kb: KnowledgeBase, language: str) -> None:
    """ "我在揭阳，社保卡怎么激活？要带什么？": the line that there is no local information for the
    city belongs to both answers, and is said once, after the first."""
    topics = ["ask_how_to_activate", "ask_required_documents"]
    lines = [regional_parts(kb, t, language, "揭阳市", [], invite=False) for t in topics]
    shared = set(lines[0]) & set(lines[1])
    assert shared  # the premise: both topics give the same line for this city
    messages = compose_answers(kb, topics, language, "揭阳市")
    for line in shared:
        assert sum(m.count(line) for m in messages) == 1
        assert line in messages[0]


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_local_rule_that_conflicts_elsewhere_is_flagged_as_local(kb: KnowledgeBase, language: str) -> None:
    # Dongguan's own deadline note and Guangdong's both show; the list of other places' rules does
    # not, but the flag that this is no national rule stays (audit: a conflict must stay visible).
    topic = "ask_activation_deadline"
    assert kb.topics[topic]["variations"] and kb.notes_for("广东省", topic)
    answer = compose_answer(kb, topic, language, "汕头市")[0]
    assert kb.phrase("local_rule_flag", language) in answer
    assert kb.phrase("variations_heading", language) not in answer


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_flag_where_the_topic_has_no_conflicting_rules(kb: KnowledgeBase, language: str) -> None:
    for topic, entry in kb.topics.items():
        if entry.get("variations"):
            continue
        for region in kb.regions:
            assert kb.phrase("local_rule_flag", language) not in compose_answer(kb, topic, language, region)[0]

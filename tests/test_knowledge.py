"""Tests for core.knowledge: the real knowledge base, its honesty rules, and malformed copies."""

from __future__ import annotations

import re
import shutil
import string
from pathlib import Path

import pytest
import yaml

from core.card_registry import CardStatus
from core.identity import validate_id_number
from core.knowledge import DEFAULT_DIR, KnowledgeBase, KnowledgeError, load_knowledge
from core.language import LANGUAGES
from tests.support import CONTRACT_TOPICS

KINDS = {"official", "web"}

# The values the composer and the actions pass to each phrase ({hotline} is always available).
PHRASE_VALUES: dict[str, set[str]] = {
    "region_note": {"region", "note", "source"},
    "region_unknown_note": {"region"},
    "variation": {"where", "rule", "source"},
    "legal_line": {"citations"},
    "legal_heading_topic": {"topic"},
    "runner_up_button": {"topic"},
    "question_heading": {"number", "topic"},
    "legal_article": {"law", "number", "excerpt", "issuer", "date", "text"},
    "local_hotline": {"name", "number"},
    "lookup_masked": {"id", "name", "city"},
    "lookup_locked": {"minutes"},
    "lookup_rate_limited": {"minutes"},
    "region_noted": {"region"},
    "region_changed_followup": {"region"},
    "handoff_code": {"code", "hours"},
    "sources_line": {"links"},
    "legal_line_frame": {"citations"},
}
# Phrases the actions ask for by name (compose.py, actions.py, status_lookup.py), and the WeChat
# channel (channels/wechat/channel.py).
USED_PHRASES = (
    set(PHRASE_VALUES)
    | {
        "region_invite",
        "local_rule_flag",
        "variations_heading",
        "variations_footer",
        "excerpt_mark",
        "legal_no_topic",
        "legal_no_topic_offer",
        "legal_national_gap",
        "inform_without_region",
        "fallback",
        "no_words",
        "out_of_scope",
        "out_of_scope_hotline",
        "language_switched",
        "lookup_no_match",
        "lookup_unavailable",
        "name_problem",
        "ask_id_number",
        "ask_holder_name",
        "wechat_welcome",
        "wechat_unsupported",
        "wechat_error",
        "service_busy",
        # actions/operations.py: feedback on answers
        "feedback_thanks",
        "feedback_missing",
        "feedback_comment_thanks",
        "feedback_nothing_yet",
        "wechat_feedback_prompt",
        "feedback_helpful",
        "feedback_not_helpful",
        # actions.py: the sources of an answer on request
        "sources_heading",
        "sources_none",
        "unofficial_mark",
    }
    | {f"id_problem_{p}" for p in ("length", "characters", "region_code", "birth_date", "check_digit")}
)
STATUS_VALUES = {"city", "outlet", "deadline", "applied_on", "hotline"}


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


# ---------------------------------------------------------------- the real knowledge base


def test_real_knowledge_base_loads(kb: KnowledgeBase) -> None:
    assert isinstance(kb, KnowledgeBase)
    assert kb.directory == DEFAULT_DIR
    assert LANGUAGES == ("zh", "en")
    assert kb.topics and kb.laws and kb.articles and kb.regions and kb.card_status


def test_exactly_the_contract_topics_have_files(kb: KnowledgeBase) -> None:
    assert len(CONTRACT_TOPICS) == 20
    files = {p.stem for p in (DEFAULT_DIR / "topics").glob("*.yml")}
    assert files == set(CONTRACT_TOPICS)
    assert set(kb.topics) == set(CONTRACT_TOPICS)


@pytest.mark.parametrize("topic", sorted(CONTRACT_TOPICS))
def test_topic_complete(kb: KnowledgeBase, topic: str) -> None:
    entry = kb.topics[topic]
    assert entry["topic"] == topic
    assert isinstance(entry["varies_by_region"], bool)
    for language in LANGUAGES:
        assert entry["answer"][language].strip(), language
        assert entry["title"][language].strip(), language
    assert re.search(r"[\u4e00-\u9fff]", entry["answer"]["zh"])
    assert re.search(r"[A-Za-z]{3,}", entry["answer"]["en"])
    assert entry["sources"]
    for source in entry["sources"]:
        assert source["title"].strip() and source["url"].strip()
        assert source["kind"] in KINDS
    assert entry["legal_basis"]


@pytest.mark.parametrize("topic", sorted(CONTRACT_TOPICS))
def test_variations_are_bilingual_and_sourced_from_the_topic_sources(kb: KnowledgeBase, topic: str) -> None:
    entry = kb.topics[topic]
    urls = {s["url"] for s in entry["sources"]}
    for variation in entry.get("variations") or []:
        for language in LANGUAGES:
            assert variation["where"][language].strip()
            assert variation["rule"][language].strip()
        assert variation["source"] in urls


def test_every_legal_basis_resolves_to_a_bilingual_article(kb: KnowledgeBase) -> None:
    cited = 0
    for topic, entry in kb.topics.items():
        for ref in entry["legal_basis"]:
            assert ref in kb.articles, (topic, ref)
            law, article = kb.articles[ref]
            assert article["id"] == ref
            assert kb.laws[law["id"]] is law
            for language in LANGUAGES:
                assert article["text"][language].strip(), (ref, language)
                assert article["number"][language].strip(), (ref, language)
                assert law["name"][language].strip()
                assert law["issuer"][language].strip()
            assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", law["date"])
            cited += 1
    assert cited >= len(kb.topics)


def test_article_ids_unique_across_laws(kb: KnowledgeBase) -> None:
    ids = [a["id"] for law in kb.laws.values() for a in law["articles"]]
    assert len(ids) == len(set(ids)) == len(kb.articles)


def test_every_region_note_has_source_and_kind(kb: KnowledgeBase) -> None:
    notes = 0
    for name, entry in kb.regions.items():
        assert entry["region"] == name
        assert entry["name_en"].strip()
        for note in entry["notes"]:
            assert note["topic"] in kb.topics, (name, note["topic"])
            assert note["source"].strip(), name
            assert note["kind"] in KINDS, name
            for language in LANGUAGES:
                assert note[language].strip(), (name, language)
            notes += 1
        hotline = entry.get("hotline")
        if hotline:
            assert re.fullmatch(r"\d{5,8}", hotline["number"])
            assert hotline["zh"].strip() and hotline["en"].strip()
    assert notes > 0
    assert kb.notes_for("火星市", "ask_how_to_activate") == []


def test_web_and_official_notes_cite_a_url(kb: KnowledgeBase) -> None:
    for name, entry in kb.regions.items():
        for note in entry["notes"]:
            if note["kind"] in {"web", "official"}:
                assert note["source"].startswith(("http://", "https://")), (name, note["topic"], note["source"])


def test_every_card_status_has_an_entry(kb: KnowledgeBase) -> None:
    statuses = {status.value for status in CardStatus}
    assert statuses <= set(kb.card_status)
    assert set(kb.card_status) == statuses  # and nothing the registry cannot hold


@pytest.mark.parametrize("status", [s.value for s in CardStatus])
def test_card_status_entry_complete(kb: KnowledgeBase, status: str) -> None:
    entry = kb.card_status[status]
    for language in LANGUAGES:
        assert entry[language].strip()
        assert entry["next"][language].strip()
        assert _fields(entry[language]) <= STATUS_VALUES
        assert _fields(entry["next"][language]) <= STATUS_VALUES
    assert _fields(entry["zh"]) == _fields(entry["en"])
    assert _fields(entry["next"]["zh"]) == _fields(entry["next"]["en"])
    for key, alternative in (entry.get("if") or {}).items():
        # an alternative exists for a value the next step needs, and does without it
        assert key in _fields(entry["next"]["zh"])
        for language in LANGUAGES:
            assert alternative[language].strip()
            assert key not in _fields(alternative[language])
            assert _fields(alternative[language]) <= STATUS_VALUES


def test_every_phrase_the_actions_use_exists(kb: KnowledgeBase) -> None:
    assert USED_PHRASES <= set(kb.service["phrases"])


def test_id_problem_phrases_cover_every_validation_problem(kb: KnowledgeBase) -> None:
    problems = {
        validate_id_number(raw).problem
        for raw in ("123", "11010519491231002A", "99010519491231002X", "110105194913310020", "110105194912310021")
    }
    assert problems == {"length", "characters", "region_code", "birth_date", "check_digit"}
    for problem in problems:
        assert f"id_problem_{problem}" in kb.service["phrases"]


@pytest.mark.parametrize("key", sorted(yaml.safe_load((DEFAULT_DIR / "service.yml").read_text("utf-8"))["phrases"]))
def test_phrase_bilingual_and_formats(kb: KnowledgeBase, key: str) -> None:
    phrase = kb.service["phrases"][key]
    assert set(phrase) == {"zh", "en"}
    expected = PHRASE_VALUES.get(key, set())
    for language in LANGUAGES:
        assert phrase[language].strip(), language
        fields = _fields(phrase[language])
        assert fields - {"hotline"} == expected, (key, language)
        values = {name: f"<<{name}>>" for name in expected}
        text = kb.phrase(key, language, **values)
        assert "{" not in text and "}" not in text
        for name in expected:
            assert f"<<{name}>>" in text
        if "hotline" in fields:
            assert kb.service["hotline"]["number"] in text


def test_hotline_and_scope(kb: KnowledgeBase) -> None:
    assert re.fullmatch(r"\d{5}", kb.service["hotline"]["number"])
    for language in LANGUAGES:
        assert kb.service["scope"][language].strip()
        assert kb.service["hotline"][language].strip()


# ---------------------------------------------------------------- honesty


def _digits(text: str) -> set[str]:
    return set(re.findall(r"\d+", text))


def _answers(kb: KnowledgeBase, topic: str, language: str) -> list[str]:
    """The topic's general answer and every entry's answer: all of them speak for the whole country."""
    return [kb.topics[topic]["answer"][language]] + [e["answer"][language] for e in kb.entries(topic)]


def test_activation_deadline_national_answer_has_no_local_figure(kb: KnowledgeBase) -> None:
    entry = kb.topics["ask_activation_deadline"]
    myth = {
        "zh": re.compile(r"只是个别地方|不是全国"),
        "en": re.compile(r"not (?:a )?national|no national|only local", re.I),
    }
    for language in LANGUAGES:
        for text in (entry["answer"][language], entry["legal_note"][language]):
            assert "300" not in text
            assert "半年" not in text
            assert not re.search(r"half a year|six months|\b\d+ (days|months)", text, re.IGNORECASE)
        # the only number the general answer may carry is the hotline (the legal note cites Article 3)
        assert _digits(entry["answer"][language]) <= {kb.service["hotline"]["number"]}
        # an entry may name a figure only to say it is not a national rule
        for text in _answers(kb, "ask_activation_deadline", language)[1:]:
            if "300" in text or "半年" in text or re.search(r"\b\d+ (days|months)", text):
                assert myth[language].search(text), text


def test_activation_deadline_figures_only_in_sourced_variations(kb: KnowledgeBase) -> None:
    entry = kb.topics["ask_activation_deadline"]
    rules = [(v["rule"]["zh"], v["rule"]["en"], v["source"]) for v in entry["variations"]]
    urls = {s["url"] for s in entry["sources"]}
    with_300 = [r for r in rules if "300" in r[0]]
    with_half_year = [r for r in rules if "半年" in r[0]]
    assert with_300 and with_half_year
    for _zh, en, source in with_300 + with_half_year:
        assert source in urls
        assert en.strip()
    assert all("300" in en for _zh, en, _ in with_300)


def test_the_figures_repeated_online_are_each_named_as_not_national(kb: KnowledgeBase) -> None:
    """The audit found the "3 years" claim never mentioned: the myth entry names every figure that
    circulates (300 days, half a year, one year, three years) and says none is a national rule."""
    entry = next(e for e in kb.entries("ask_activation_deadline") if e["key"] == "is_300_days_national")
    zh, en = entry["answer"]["zh"], entry["answer"]["en"]
    for figure in ("300天", "半年", "一年", "三年"):
        assert figure in zh, figure
    for figure in ("300 days", "half a year", "one year", "three years"):
        assert figure in en, figure
    assert zh.startswith("不是") and en.startswith("No.")


def test_password_national_answer_has_no_lock_out_count(kb: KnowledgeBase) -> None:
    for language in LANGUAGES:
        for text in _answers(kb, "ask_password", language):
            # 12333, and the six digits of the electronic card's own password (set in the app)
            assert _digits(text) <= {kb.service["hotline"]["number"], "6"}, text
            assert not re.search(r"[一二三四五六七八九十两\d]\s*次", text), text
            assert not re.search(r"\b(three|six|five)\b", text, re.IGNORECASE), text
            assert "123456" not in text


def test_password_answers_say_whether_a_lock_clears_and_online_reset_is_local(kb: KnowledgeBase) -> None:
    """The audit's password gaps: whether a lock clears by itself, and whether the card's password can
    be reset online. Neither is set nationally, and the answers say so rather than promise either."""
    entries = {e["key"]: e for e in kb.entries("ask_password")}
    locked, forgot = entries["locked_password"]["answer"], entries["forgot_password"]["answer"]
    assert "自动解除" in locked["zh"] and "没有全国统一规定" in locked["zh"]
    assert "clears by itself" in locked["en"] and "not set nationally" in locked["en"]
    assert "网上重置" in forgot["zh"] and "各地不同" in forgot["zh"]
    assert "reset online" in forgot["en"] and "differs by region" in forgot["en"]


def test_the_medical_security_hotline_is_named_with_an_official_source(kb: KnowledgeBase) -> None:
    """The audit's gap: 12393, the national medical security hotline, for medical-insurance questions
    and treatment in another region — cited to the National Healthcare Security Administration."""
    for topic, key in (("request_human", "hotline_number"), ("ask_after_activation", "treatment_elsewhere")):
        entry = next(e for e in kb.entries(topic) if e["key"] == key)
        for language in LANGUAGES:
            assert "12393" in entry["answer"][language], (topic, key, language)
        assert any(s["kind"] == "official" and "nhsa.gov.cn" in s["url"] for s in entry["sources"])


def test_the_medical_insurance_e_voucher_is_told_apart_from_the_electronic_card(kb: KnowledgeBase) -> None:
    """The audit's gap: the medical-insurance e-voucher (医保电子凭证, issued by the NHSA) is not the
    electronic social security card (issued by HRSS); an entry says so, with its sources."""
    entry = next(e for e in kb.entries("ask_electronic_card") if e["key"] == "ecard_vs_medical_voucher")
    zh, en = entry["answer"]["zh"], entry["answer"]["en"]
    assert zh.startswith("不是") and "医保电子凭证" in zh and "国家医保局" in zh and "人社部门" in zh
    assert en.startswith("No.") and "e-voucher" in en and "National Healthcare Security Administration" in en
    assert any("nhsa.gov.cn" in s["url"] and s["kind"] == "official" for s in entry["sources"])


def test_password_lock_out_counts_only_in_sourced_variations(kb: KnowledgeBase) -> None:
    entry = kb.topics["ask_password"]
    urls = {s["url"] for s in entry["sources"]}
    counts = set()
    for variation in entry["variations"]:
        match = re.search(r"(\d+)次锁卡", variation["rule"]["zh"])
        if match:
            counts.add(match.group(1))
            assert match.group(1) in variation["rule"]["en"]
            assert variation["source"] in urls
    assert {"3", "6"} <= counts  # the conflicting counts are kept as regional examples


# ---------------------------------------------------------------- malformed copies


@pytest.fixture
def kb_copy(tmp_path: Path) -> Path:
    target = tmp_path / "knowledge"
    shutil.copytree(DEFAULT_DIR, target)
    return target


def _edit_yaml(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def test_copy_loads_unchanged(kb_copy: Path, kb: KnowledgeBase) -> None:
    copy = load_knowledge(kb_copy)
    assert copy.directory == kb_copy
    assert copy.topics == kb.topics
    assert copy.regions == kb.regions


def test_roundtrip_through_yaml_dump_still_loads(kb_copy: Path) -> None:
    # the malformed-file tests rewrite files with yaml.safe_dump; that alone must not break them
    path = kb_copy / "topics" / "ask_activation_fee.yml"
    _edit_yaml(path, lambda data: None)
    assert load_knowledge(kb_copy).topics["ask_activation_fee"]["topic"] == "ask_activation_fee"


def test_missing_answer_language(kb_copy: Path) -> None:
    path = kb_copy / "topics" / "ask_activation_fee.yml"
    _edit_yaml(path, lambda data: data["answer"].pop("en"))
    with pytest.raises(KnowledgeError) as error:
        load_knowledge(kb_copy)
    message = str(error.value)
    assert str(path) in message
    assert "key 'answer'" in message
    assert "'en'" in message


def test_unknown_article_in_legal_basis(kb_copy: Path) -> None:
    path = kb_copy / "topics" / "ask_password.yml"

    def change(data: dict) -> None:
        data["legal_basis"].append("sil-999")

    _edit_yaml(path, change)
    index = yaml.safe_load(path.read_text(encoding="utf-8"))["legal_basis"].index("sil-999")
    with pytest.raises(KnowledgeError) as error:
        load_knowledge(kb_copy)
    message = str(error.value)
    assert str(path) in message
    assert f"key 'legal_basis/{index}'" in message
    assert "sil-999" in message


def test_region_that_does_not_exist(kb_copy: Path) -> None:
    path = kb_copy / "regions.yml"

    def change(data: dict) -> None:
        data["regions"][1]["region"] = "火星市"

    _edit_yaml(path, change)
    with pytest.raises(KnowledgeError) as error:
        load_knowledge(kb_copy)
    message = str(error.value)
    assert str(path) in message
    assert "key 'regions/1/region'" in message
    assert "火星市" in message


def test_region_short_name_is_not_canonical(kb_copy: Path) -> None:
    path = kb_copy / "regions.yml"

    def change(data: dict) -> None:
        data["regions"][0]["region"] = "北京"

    _edit_yaml(path, change)
    with pytest.raises(KnowledgeError) as error:
        load_knowledge(kb_copy)
    assert str(path) in str(error.value)
    assert "key 'regions/0/region'" in str(error.value)


def test_region_note_on_unknown_topic(kb_copy: Path) -> None:
    path = kb_copy / "regions.yml"

    def change(data: dict) -> None:
        data["regions"][0]["notes"][0]["topic"] = "ask_weather"

    _edit_yaml(path, change)
    with pytest.raises(KnowledgeError) as error:
        load_knowledge(kb_copy)
    assert str(path) in str(error.value)
    assert "key 'regions/0/notes/0/topic'" in str(error.value)
    assert "ask_weather" in str(error.value)


def test_broken_yaml_syntax(kb_copy: Path) -> None:
    path = kb_copy / "topics" / "ask_activation_deadline.yml"
    lines = path.read_text(encoding="utf-8").splitlines()
    title_line = next(i for i, line in enumerate(lines) if line.startswith("title:"))
    assert lines[title_line].endswith("}")
    lines[title_line] = lines[title_line][:-1]  # unclosed flow mapping
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(KnowledgeError) as error:
        load_knowledge(kb_copy)
    message = str(error.value)
    assert message.startswith(f"{path}:")
    assert "not valid YAML" in message
    # a syntax error has no key yet: the message points at the line where the broken key starts
    assert f"line {title_line + 1}," in message


def test_broken_yaml_in_laws(kb_copy: Path) -> None:
    path = kb_copy / "laws.yml"
    path.write_text(path.read_text(encoding="utf-8") + "\n  - id: [unclosed\n", encoding="utf-8")
    with pytest.raises(KnowledgeError) as error:
        load_knowledge(kb_copy)
    assert str(path) in str(error.value)
    assert "not valid YAML" in str(error.value)


def test_topic_name_must_match_file(kb_copy: Path) -> None:
    path = kb_copy / "topics" / "ask_activation_fee.yml"
    _edit_yaml(path, lambda data: data.update(topic="ask_fee"))
    with pytest.raises(KnowledgeError) as error:
        load_knowledge(kb_copy)
    assert str(path) in str(error.value)
    assert "key 'topic'" in str(error.value)


def test_missing_file(kb_copy: Path) -> None:
    (kb_copy / "service.yml").unlink()
    with pytest.raises(KnowledgeError) as error:
        load_knowledge(kb_copy)
    assert str(kb_copy / "service.yml") in str(error.value)


def test_bad_source_kind(kb_copy: Path) -> None:
    path = kb_copy / "topics" / "ask_scam_warning.yml"
    _edit_yaml(path, lambda data: data["sources"][0].update(kind="rumour"))
    with pytest.raises(KnowledgeError) as error:
        load_knowledge(kb_copy)
    assert str(path) in str(error.value)
    assert "key 'sources/0/kind'" in str(error.value)


def test_knowledge_error_is_a_value_error() -> None:
    assert issubclass(KnowledgeError, ValueError)


@pytest.mark.parametrize(
    "url", ["shared/seeds/000_135126211ff60622.txt", "../notes.md", "http://a b", "javascript:alert(3)"]
)
def test_a_source_must_be_a_public_web_address(kb_copy: Path, url: str) -> None:
    # Citizens see these: a path inside some checkout is no source they can open.
    path = kb_copy / "topics" / "ask_activation_fee.yml"
    _edit_yaml(path, lambda data: data["sources"][0].update(url=url))
    with pytest.raises(KnowledgeError) as error:
        load_knowledge(kb_copy)
    assert "key 'sources/0/url'" in str(error.value)


def test_a_region_note_source_must_be_a_public_web_address(kb_copy: Path) -> None:
    path = kb_copy / "regions.yml"
    _edit_yaml(path, lambda data: data["regions"][0]["notes"][0].update(source="shared/seeds/x.txt"))
    with pytest.raises(KnowledgeError, match="key 'regions/0/notes/0/source'"):
        load_knowledge(kb_copy)


# --- the audit's wrong facts must not come back -------------------------------------------------------


def _national_texts(kb: KnowledgeBase) -> list[str]:
    """Every text that speaks for the whole country: topic answers and card-status explanations (a
    region note may rightly say what one bank allows there)."""
    texts = [text for topic in kb.topics for language in LANGUAGES for text in _answers(kb, topic, language)]
    for entry in kb.card_status.values():
        texts += [entry[language] for language in LANGUAGES] + [entry["next"][language] for language in LANGUAGES]
    return texts


def test_no_national_answer_says_any_branch_in_china_activates_the_card(kb: KnowledgeBase) -> None:
    # Only one reprinted page said so; the rule is usually a branch of the card's bank in the issuing
    # city, with some banks accepting others.
    wrong = re.compile(
        r"全国任一.{0,4}网点|任一网点激活"
        r"|any (?:of its )?branch(?:es)? (?:of that bank )?in China|any outlet of the bank",
        re.IGNORECASE,
    )
    offending = [text for text in _national_texts(kb) if wrong.search(text)]
    assert not offending


def test_the_hangzhou_fee_is_not_stated_as_twenty_yuan(kb: KnowledgeBase) -> None:
    # An SEO page's "20 yuan offline" was shown as Hangzhou's fee; the figure is not confirmed.
    hangzhou_variations = [
        {"zh": v["rule"]["zh"], "en": v["rule"]["en"]}
        for v in kb.topics["ask_activation_fee"].get("variations") or []
        if "杭州" in v["where"]["zh"]
    ]
    for note in kb.notes_for("杭州市", "ask_activation_fee") + hangzhou_variations:
        assert not re.search(
            r"补办20元|现场补办20|costs? .{0,30}20 yuan at|20 yuan at a service", note["zh"] + note["en"]
        )
        assert "96225" in note["zh"] and "96225" in note["en"]


# --- the audit's misleading statements ----------------------------------------------------------------


def _every_text(kb: KnowledgeBase) -> list[str]:
    """Every text a person can be shown: national texts, legal notes and region notes."""
    texts = _national_texts(kb)
    for entry in kb.topics.values():
        if entry.get("legal_note"):
            texts += [entry["legal_note"][language] for language in LANGUAGES]
    for region in kb.regions.values():
        texts += [note[language] for note in region["notes"] for language in LANGUAGES]
    return texts


def test_direct_settlement_is_cited_to_article_29(kb: KnowledgeBase) -> None:
    # Art. 2 only sets up the insurance schemes; Art. 29 is the one on direct settlement.
    legal_basis = kb.topics["ask_after_activation"]["legal_basis"]
    assert "sil-29" in legal_basis and "sil-2" not in legal_basis
    law, article = kb.articles["sil-29"]
    assert law["id"] == "social-insurance-law"
    assert article["excerpt"] is False
    assert "直接结算" in article["text"]["zh"] and "异地就医" in article["text"]["zh"]


def test_scams_are_not_cited_to_the_confidentiality_article(kb: KnowledgeBase) -> None:
    entry = kb.topics["ask_scam_warning"]
    assert "sil-81" not in entry["legal_basis"]
    # the schema wants one reference, so the note must say plainly that none covers scams
    assert "没有" in entry["legal_note"]["zh"]
    assert re.search(r"\bno national\b", entry["legal_note"]["en"], re.IGNORECASE)


def test_no_text_says_consultation_is_free(kb: KnowledgeBase) -> None:
    # Social Insurance Law Art. 74(4): checking and verifying one's records is free, not consultation.
    wrong = re.compile(
        r"免费(?:获得|提供)?咨询|咨询(?:服务)?(?:是|也是|都是)?免费|consultation,? (?:is )?free|free consultation"
        r"|get consultation free|consultation free of charge",
        re.IGNORECASE,
    )
    assert not [text for text in _every_text(kb) if wrong.search(text)]


def test_the_guardian_age_is_not_a_flat_national_sixteen(kb: KnowledgeBase) -> None:
    # "Under 16" is a common local rule; Beijing uses under 18.
    for text in _national_texts(kb):
        if re.search(r"16周岁", text):
            assert "18周岁" in text, text
        if re.search(r"\bunder 16\b", text):
            assert "under 18" in text, text


def test_article_16_is_quoted_whole_and_grounds_local_rules(kb: KnowledgeBase) -> None:
    _, article = kb.articles["card-measures-16"]
    assert article["excerpt"] is False
    for phrase in ("应用管理规程", "使用范围", "使用期限", "挂失、补发程序", "（五）"):
        assert phrase in article["text"]["zh"]
    assert kb.topics["ask_regional_differences"]["legal_basis"][0] == "card-measures-16"


def test_general_frame_citations_say_so(kb: KnowledgeBase) -> None:
    # The short legal line cannot say "general frame", so the legal note must.
    for topic in ("ask_activation_fee", "ask_required_documents", "ask_third_generation_card", "ask_password"):
        note = kb.topics[topic]["legal_note"]
        assert "总体框架" in note["zh"] or "总的框架" in note["zh"], topic
        assert "general frame" in note["en"], topic
    assert "没有关于电子社保卡的条文" in kb.topics["ask_electronic_card"]["legal_note"]["zh"]


def test_card_production_is_not_said_to_take_weeks(kb: KnowledgeBase) -> None:
    for status in ("application_received", "in_production"):
        for language in LANGUAGES:
            assert not re.search(r"数周|weeks", kb.card_status[status]["next"][language])


def test_national_facts_are_not_filed_under_one_region(kb: KnowledgeBase) -> None:
    # The 10-year validity is the bank function's everywhere; Yongkang's figures are not Jinhua's.
    assert any("10年" in text for text in _answers(kb, "ask_lost_or_replace_card", "zh"))
    assert any("10-year" in text for text in _answers(kb, "ask_lost_or_replace_card", "en"))
    for region in kb.regions.values():
        for note in region["notes"]:
            assert "10年有效期" not in note["zh"] or region["region"] == "南京市"
            assert "永康" not in note["zh"]


def test_request_human_explains_local_12333_centres(kb: KnowledgeBase) -> None:
    answer = kb.topics["request_human"]["answer"]
    assert "区号" in answer["zh"] and "area code" in answer["en"]


# ---------------------------------------------------------------- question-level entries and length


def _answer_cases(kb: KnowledgeBase) -> list[tuple[str, str | None]]:
    return [(topic, None) for topic in sorted(kb.topics)] + [
        (topic, entry["key"]) for topic in sorted(kb.topics) for entry in kb.entries(topic)
    ]


def test_every_topic_has_question_level_entries(kb: KnowledgeBase) -> None:
    few = {topic: len(kb.entries(topic)) for topic in kb.topics if len(kb.entries(topic)) < 4}
    assert not few, f"topics with fewer than 4 entries: {few}"
    for topic in kb.topics:
        for entry in kb.entries(topic):
            assert entry["sources"], (topic, entry["key"])
            for language in LANGUAGES:
                assert entry["question"][language].strip() and entry["answer"][language].strip()
                assert len(entry["asked_as"][language]) >= 8, (topic, entry["key"], language)


def test_every_answer_fits_the_main_bubble(kb: KnowledgeBase) -> None:
    from core.knowledge import MAX_ANSWER_CHARS

    too_long = []
    for topic, key in _answer_cases(kb):
        item = kb.entry(topic, key) if key else kb.topics[topic]
        for language in LANGUAGES:
            text = item["answer"][language].strip()
            if len(text) > MAX_ANSWER_CHARS[language] or "http://" in text or "https://" in text:
                too_long.append(f"{topic}/{key or '-'} {language}: {len(text)}")
    assert not too_long, too_long


def test_replies_are_short_for_every_entry_and_region(kb: KnowledgeBase) -> None:
    """Every entry (and the general answer) × no region and every region with a note on the topic, in
    both languages: the main bubble within the limit, at most three regional examples, every
    message within one WeChat message (2,048 bytes), the legal line and the sources last."""
    from core.compose import MAX_EXAMPLES, compose_entry
    from core.knowledge import MAX_ANSWER_CHARS

    problems = []
    for topic, key in _answer_cases(kb):
        places = [None] + [name for name in sorted(kb.regions) if kb.notes_for(name, topic)]
        for region in places:
            for language in LANGUAGES:
                messages = compose_entry(kb, topic, key, language, region)
                case = f"{topic}/{key or '-'} @{region or '-'} {language}"
                if len(messages[0]) > MAX_ANSWER_CHARS[language]:
                    problems.append(f"{case}: main bubble {len(messages[0])}")
                for message in messages:
                    if len(message.encode("utf-8")) > 2048:
                        problems.append(f"{case}: a message of {len(message.encode('utf-8'))} bytes")
                if sum(message.count("\n- ") for message in messages[1:-1]) > MAX_EXAMPLES:
                    problems.append(f"{case}: more than {MAX_EXAMPLES} regional examples")
                assert (
                    messages[-1].startswith("⚖") and kb.phrase("sources_line", language, links="")[:3] in messages[-1]
                )
    assert not problems, problems[:20]

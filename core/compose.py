"""Composing replies from the knowledge base: national answer, regional note, variations, legal basis.

Pure functions over a `KnowledgeBase`; the Rasa actions only pick the inputs and send the output.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from core.dialogue import INSTEAD_OF_ENTITY
from core.knowledge import KnowledgeBase
from core.regions import display_name, region_chain

# Topics offered when there is nothing better to offer (no words, legal basis without a topic).
STARTER_TOPICS = ("ask_how_to_activate", "ask_required_documents", "ask_activation_deadline")
MAX_EXAMPLES = 3  # regional examples shown with an answer; then "rules differ — tell me your city"
MAX_SOURCES = 3  # sources shown under an answer; all of them when asked ("来源" / "sources")
MAX_RELATED = 3  # related questions offered as buttons


def link(url: str, label: str | None = None) -> str:
    """A short labelled link, `[label](url)`: the chat page shows the label as the link, WeChat an
    <a>; the label is the source's title, else its site."""
    name = (label or urlsplit(url).netloc or url).strip().replace("[", "(").replace("]", ")")
    return f"[{name}]({url})"


def region_note(kb: KnowledgeBase, topic: str, region: str | None, language: str) -> list[str]:
    """Lines about `topic` for `region`: its own notes, then its province's; if the topic varies by
    region and nothing is known for the place, say so and point to the local hotline."""
    if not region:
        return []
    lines = []
    for place in region_chain(region):
        for note in kb.notes_for(place, topic):
            lines.append(
                kb.phrase(
                    "region_note",
                    language,
                    region=display_name(place, language),
                    note=note[language],
                    source=link(note["source"]),
                )
            )
    if not lines and kb.topics[topic]["varies_by_region"]:
        lines.append(kb.phrase("region_unknown_note", language, region=display_name(region, language)))
    return lines


def variation_lines(
    kb: KnowledgeBase, topic: str, language: str, variations: Sequence[dict[str, Any]] | None = None
) -> list[str]:
    """Conflicting local rules presented as regional examples with their sources, never as national
    (at most MAX_EXAMPLES: the region invitation that follows says the rules differ)."""
    variations = list(kb.topics[topic].get("variations") or []) if variations is None else list(variations)
    if not variations:
        return []
    lines = [kb.phrase("variations_heading", language)]
    lines += [
        kb.phrase("variation", language, where=v["where"][language], rule=v["rule"][language], source=link(v["source"]))
        for v in variations[:MAX_EXAMPLES]
    ]
    lines.append(kb.phrase("variations_footer", language))
    return lines


def cite_articles(kb: KnowledgeBase, topics: str | Sequence[str], language: str) -> str:
    """The short legal-basis line that ends an answer: each law once, with its article numbers (for
    one topic, or every topic of a message that asked several)."""
    names = [topics] if isinstance(topics, str) else list(topics)
    frame = all(kb.topics[t].get("legal_frame_only") for t in names)
    return _legal_line(kb, _article_refs(kb, topics), bool(frame), language)


def _legal_line(kb: KnowledgeBase, refs: Sequence[str], frame: bool, language: str) -> str:
    """ "⚖ 依据：…", or "⚖ 总的框架：…" when the articles only frame what the answer says."""
    return kb.phrase("legal_line_frame" if frame else "legal_line", language, citations=_citations(kb, refs, language))


def _citations(kb: KnowledgeBase, refs: Sequence[str], language: str) -> str:
    """Article references as a citation: each law once, with its article numbers."""
    by_law: dict[str, list[str]] = {}
    for ref in refs:
        law, article = kb.articles[ref]
        name = law.get("short_name", law["name"])[language]
        numbers = by_law.setdefault(name, [])
        if article["number"][language] not in numbers:
            numbers.append(article["number"][language])
    if language == "zh":
        return "；".join(f"《{name}》{'、'.join(numbers)}" for name, numbers in by_law.items())
    return "; ".join(f"{name}, {' / '.join(numbers)}" for name, numbers in by_law.items())


def _article_refs(kb: KnowledgeBase, topics: str | Sequence[str]) -> list[str]:
    """The articles behind the topics, each once, in the order the topics cite them."""
    refs: list[str] = []
    for topic in [topics] if isinstance(topics, str) else topics:
        refs += [ref for ref in kb.topics[topic]["legal_basis"] if ref not in refs]
    return refs


def hotline_lines(kb: KnowledgeBase, region: str | None, language: str) -> list[str]:
    """The local hotline of the region or its province, when the knowledge base has one."""
    for place in region_chain(region) if region else []:
        hotline = (kb.regions.get(place) or {}).get("hotline")
        if hotline:
            return [kb.phrase("local_hotline", language, name=hotline[language], number=hotline["number"])]
    return []


def answer_parts(kb: KnowledgeBase, topic: str, language: str, region: str | None, *, invite: bool = True) -> list[str]:
    """A topic's answer as paragraphs: the national answer, the regional part, an invitation to name
    a city when the topic varies by region and none is known (unless `invite` is off), the local
    hotline."""
    entry = kb.topics[topic]
    variations = entry.get("variations") or []
    return [entry["answer"][language].strip()] + regional_parts(kb, topic, language, region, variations, invite=invite)


def regional_parts(
    kb: KnowledgeBase,
    topic: str,
    language: str,
    region: str | None,
    variations: Sequence[dict[str, Any]],
    *,
    invite: bool = True,
) -> list[str]:
    """What an answer says about places, as paragraphs: the note for the region (or its province),
    otherwise the conflicting local rules in `variations` as examples, an invitation to name a city
    when the topic varies by region and none is known (unless `invite` is off), the local hotline."""
    entry = kb.topics[topic]
    parts: list[str] = []
    hotlines = hotline_lines(kb, region, language) if topic == "request_human" else []
    # A local hotline is the regional answer to "can I talk to a person": no "no information" line.
    notes = region_note(kb, topic, region, language) if not hotlines or kb.notes_for(region or "", topic) else []
    if notes:
        parts.append("\n".join(notes))
    # Conflicting figures are shown as regional examples unless the person's own region has a note.
    has_own_note = region is not None and any(kb.notes_for(place, topic) for place in region_chain(region))
    examples = [] if has_own_note else variation_lines(kb, topic, language, variations)
    if examples:
        parts.append("\n".join(examples))
    elif has_own_note and variations and entry["varies_by_region"]:
        # The place's own rule is shown instead of other places', but it is still a local rule that
        # conflicts with others: say so, so that it is not read as the national one.
        parts.append(kb.phrase("local_rule_flag", language))
    if invite and entry["varies_by_region"] and not region:
        parts.append(kb.phrase("region_invite", language))
    return parts + hotlines


def compose_answer(kb: KnowledgeBase, topic: str, language: str, region: str | None) -> list[str]:
    """The reply to a topic question, as messages: the answer (with regional part) and the legal line."""
    return ["\n\n".join(answer_parts(kb, topic, language, region)), cite_articles(kb, topic, language)]


def compose_answers(kb: KnowledgeBase, topics: Sequence[str], language: str, region: str | None) -> list[str]:
    """The reply to a message that asked several topics: each answer under its topic's title, in the
    order asked, then one invitation to name a city (if any answer varies by region) and one legal
    line for all of them."""
    if len(topics) == 1:
        return compose_answer(kb, topics[0], language, region)
    messages, said = [], set()
    for n, topic in enumerate(topics, start=1):
        answer, *regional = answer_parts(kb, topic, language, region, invite=False)
        # A place's line said for an earlier topic ("no local information for X …") is not repeated.
        regional = [part for part in regional if part not in said]
        said.update(regional)
        heading = kb.phrase("question_heading", language, number=str(n), topic=kb.topics[topic]["title"][language])
        messages.append("\n\n".join([heading, answer, *regional]))
    if not region and any(kb.topics[t]["varies_by_region"] for t in topics):
        messages[-1] += "\n\n" + kb.phrase("region_invite", language)
    return messages + [cite_articles(kb, topics, language)]


def quote_articles(kb: KnowledgeBase, topics: str | Sequence[str], language: str) -> list[str]:
    """The full text of the articles behind one topic (or each topic of a message that asked several)
    with law, article number, issuer and date, each article once, then each topic's legal note."""
    names = [topics] if isinstance(topics, str) else list(topics)
    title = "、".join if language == "zh" else " / ".join
    blocks = [kb.phrase("legal_heading_topic", language, topic=title([kb.topics[t]["title"][language] for t in names]))]
    for ref in _article_refs(kb, names):
        law, article = kb.articles[ref]
        blocks.append(
            kb.phrase(
                "legal_article",
                language,
                law=law["name"][language],
                number=article["number"][language],
                excerpt=kb.phrase("excerpt_mark", language) if article.get("excerpt") else "",
                issuer=law["issuer"][language],
                date=law["date"],
                text=article["text"][language].strip(),
            )
        )
    for topic in names:
        note = kb.topics[topic].get("legal_note")
        text = note[language].strip() if note else kb.phrase("legal_national_gap", language)
        if text not in blocks:
            blocks.append(text)
    return ["\n\n".join(blocks)]


def list_laws(kb: KnowledgeBase, language: str) -> str:
    """The laws the assistant cites, one line each, and the honest note on what they do not regulate."""
    lines = [kb.phrase("legal_no_topic", language)]
    for law in kb.laws.values():
        lines.append(
            f"- {law['name'][language]}（{law['issuer'][language]}，{law['date']}）"
            if language == "zh"
            else f"- {law['name'][language]} ({law['issuer'][language]}, {law['date']})"
        )
    lines.append(kb.phrase("legal_national_gap", language))
    return "\n".join(lines)


def topic_buttons(kb: KnowledgeBase, topics: list[str] | tuple[str, ...], language: str) -> list[dict[str, Any]]:
    """Buttons that ask a topic question again: title in the person's language, payload the intent."""
    return [{"title": kb.topics[t]["title"][language], "payload": f"/{t}"} for t in topics if t in kb.topics]


def compose_status(
    kb: KnowledgeBase,
    status: str,
    language: str,
    *,
    city: str,
    masked_id: str,
    masked_name: str,
    outlet: str | None = None,
    deadline: str | None = None,
    applied_on: str | None = None,
) -> list[str]:
    """A verified holder's card status in plain words, what to do next, and how to activate in the
    card's city when it is not activated yet."""
    entry = kb.card_status[status]
    values = {"city": display_name(city, language), "outlet": outlet, "deadline": deadline, "applied_on": applied_on}
    # A next step that needs a value the record lacks has an alternative under `if`.
    missing = [key for key in (entry.get("if") or {}) if not values.get(key)]
    next_step = entry["if"][missing[0]][language] if missing else entry["next"][language]
    fill = {k: v or "" for k, v in values.items()}
    lines = [
        kb.phrase("lookup_masked", language, id=masked_id, name=masked_name, city=fill["city"]),
        entry[language].format(hotline=kb.service["hotline"]["number"], **fill),
        next_step.format(hotline=kb.service["hotline"]["number"], **fill),
    ]
    if status == "issued_not_activated":
        if any(kb.notes_for(place, "ask_how_to_activate") for place in region_chain(city)):
            lines.append("\n".join(region_note(kb, "ask_how_to_activate", city, language)))
    return ["\n\n".join(lines)]


def answer_entry(kb: KnowledgeBase, topics: Sequence[str], region: str | None) -> str:
    """Which knowledge entries an answer came from: each topic, with the region whose own note was
    used (`ask_password@广州市`), joined by `+` — what feedback and the review queue record."""
    parts = []
    for topic in topics:
        place = next((p for p in region_chain(region) if kb.notes_for(p, topic)), None) if region else None
        parts.append(f"{topic}@{place}" if place else topic)
    return "+".join(parts)


# -- question-level entries ---------------------------------------------------------------------


def _legal_refs(kb: KnowledgeBase, topic: str, key: str | None) -> list[str]:
    entry = kb.entry(topic, key)
    return list(entry["legal_basis"]) if entry and entry.get("legal_basis") else list(kb.topics[topic]["legal_basis"])


def sources_line(kb: KnowledgeBase, sources: Sequence[dict[str, Any]], language: str) -> str:
    """ "来源：" and the first MAX_SOURCES sources as short labelled links (official ones first)."""
    ranked = sorted(sources, key=lambda s: s.get("kind") != "official")
    mark = kb.phrase("unofficial_mark", language)
    links = " · ".join(
        link(s["url"], s.get("title")) + ("" if s.get("kind") == "official" else mark) for s in ranked[:MAX_SOURCES]
    )
    return kb.phrase("sources_line", language, links=links)


def answer_sources(kb: KnowledgeBase, topic: str, key: str | None) -> list[dict[str, Any]]:
    """The sources of an answer: the entry's, else the topic's."""
    entry = kb.entry(topic, key)
    return list(entry["sources"]) if entry else list(kb.topics[topic]["sources"])


def related_buttons(
    kb: KnowledgeBase, topic: str, key: str | None, language: str, runner_up: str | None = None
) -> list[dict[str, Any]]:
    """Up to MAX_RELATED other entries of the topic, as buttons that ask them; first, if the question
    may have meant another topic (`runner_up`, see core.dialogue.runner_up_topic), a button that asks
    that topic ("我想问的是：异地激活与使用"), naming the topic it is instead of."""
    other = [
        {
            "title": kb.phrase("runner_up_button", language, topic=b["title"]),
            "payload": f'{b["payload"]}{{"{INSTEAD_OF_ENTITY}": "{topic}"}}',
        }
        for b in topic_buttons(kb, [runner_up] if runner_up and runner_up != topic else [], language)
    ]
    return (
        other
        + [
            {"title": e["question"][language], "payload": f'/{topic}{{"question_entry": "{e["key"]}"}}'}
            for e in kb.entries(topic)
            if e["key"] != key
        ][:MAX_RELATED]
    )


def compose_entry(kb: KnowledgeBase, topic: str, key: str | None, language: str, region: str | None) -> list[str]:
    """The reply to one question as short messages: the answer (the entry's, else the topic's
    general one); the regional part (the place's own note, or at most three examples and the
    invitation to name a city); the legal line with the sources as short links."""
    topic_entry = kb.topics[topic]
    entry = kb.entry(topic, key)
    messages = [(entry or topic_entry)["answer"][language].strip()]
    # An entry shows only the local rules that concern its question; the general answer, the topic's.
    examples = (entry.get("variations") or []) if entry else (topic_entry.get("variations") or [])
    regional = regional_parts(kb, topic, language, region, examples)
    if regional:
        messages.append("\n".join(regional))
    # The topic's articles are only the general frame unless the entry names articles of its own.
    frame = bool(topic_entry.get("legal_frame_only")) and not (entry and entry.get("legal_basis"))
    legal = _legal_line(kb, _legal_refs(kb, topic, key), frame, language)
    messages.append(legal + "\n" + sources_line(kb, answer_sources(kb, topic, key), language))
    return messages

"""Build the printable handbook (build/handbook.html) from knowledge/ alone.

For every topic: title, the national answer in Chinese and English, the regional variations with their
sources, every region's notes on the topic with sources, the legal-basis articles in full and the
sources; then the laws appendix and the local hotlines. `make handbook` runs it; print it from a browser
(page breaks between topics).

    python scripts/build_handbook.py [--out build/handbook.html] [--knowledge knowledge]
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import date
from pathlib import Path
from typing import Any

from jinja2 import DictLoader, Environment

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.knowledge import KnowledgeBase, load_knowledge  # noqa: E402

DEFAULT_OUT = ROOT / "build" / "handbook.html"
# Same rules as the web pages (web/static/text.js): stop at whitespace and Chinese punctuation.
_URL = re.compile(r"https?://[^\s<>\"'（）【】「」《》，。；：、！？]+")
_TRAILING = re.compile(r"[.,;:!?)\]}'\"]+$")
_LIST_ITEM = re.compile(r"^\s*[-•]\s+")


def safe_url(value: str | None) -> str | None:
    """The value if it is an http(s) URL (safe as a link), else None."""
    return value if value and re.match(r"^https?://[^\s<>\"]+$", value) else None


def linkify(text: str) -> list[dict[str, str | None]]:
    """Text split into pieces, each plain or an http(s) link; the template escapes both."""
    pieces: list[dict[str, str | None]] = []
    done = 0
    for match in _URL.finditer(text):
        url = _TRAILING.sub("", match.group(0))
        pieces.append({"text": text[done : match.start()], "href": None})
        pieces.append({"text": url, "href": url})
        done = match.start() + len(url)
    pieces.append({"text": text[done:], "href": None})
    return [p for p in pieces if p["text"]]


def blocks(text: str) -> list[dict[str, Any]]:
    """Answer text as paragraphs (blank-line separated; lines kept) and lists (lines starting "- ")."""
    result: list[dict[str, Any]] = []
    for chunk in re.split(r"\n[ \t]*\n", text.strip()):
        current: dict[str, Any] | None = None
        for line in chunk.split("\n"):
            if _LIST_ITEM.match(line):
                if current is None or current["kind"] != "ul":
                    current = {"kind": "ul", "lines": []}
                    result.append(current)
                current["lines"].append(linkify(_LIST_ITEM.sub("", line)))
            elif line.strip():
                if current is None or current["kind"] != "p":
                    current = {"kind": "p", "lines": []}
                    result.append(current)
                current["lines"].append(linkify(line.strip()))
    return result


def topic_sections(kb: KnowledgeBase) -> list[dict[str, Any]]:
    """Each topic with its regional notes and its articles resolved, in file-name order."""
    sections = []
    for name, entry in kb.topics.items():
        notes = [
            {"region": region["region"], "name_en": region["name_en"], **note}
            for region in kb.regions.values()
            for note in region["notes"]
            if note["topic"] == name
        ]
        articles = [
            {"id": ref, "law": kb.articles[ref][0], "article": kb.articles[ref][1]} for ref in entry["legal_basis"]
        ]
        sections.append({"id": name, "entry": entry, "notes": notes, "articles": articles})
    return sections


TEMPLATE = """<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>社保卡激活问答手册 · Social security card activation handbook</title>
<style>
  body { font-family: "Noto Serif CJK SC", "Songti SC", "SimSun", serif; color: #111; max-width: 60rem;
         margin: 0 auto; padding: 1.5rem; line-height: 1.6; font-size: 11pt; }
  h1 { font-size: 22pt; margin: 0 0 .3rem; }
  h2 { font-size: 16pt; border-bottom: 2px solid #0b5cad; padding-bottom: .2rem; margin-top: 0; }
  h2 .en, h1 .en { font-weight: normal; color: #444; font-size: .75em; display: block; }
  h3 { font-size: 12.5pt; margin: 1.2rem 0 .4rem; color: #0b5cad; }
  h4 { font-size: 11pt; margin: .8rem 0 .2rem; }
  .cover { page-break-after: always; break-after: page; }
  .meta, .muted { color: #555; font-size: 9.5pt; }
  .badge { display: inline-block; border: 1px solid #7a5c00; color: #7a5c00; font-size: 9pt; padding: 0 .4rem;
           border-radius: 3px; margin-left: .4rem; }
  .columns { display: grid; grid-template-columns: 1fr 1fr; gap: 1.2rem; }
  .answer p { margin: 0 0 .5rem; }
  .answer ul { margin: 0 0 .5rem; padding-left: 1.2rem; }
  table { width: 100%; border-collapse: collapse; font-size: 9.5pt; margin: .3rem 0 .8rem; }
  th, td { border: 1px solid #bbb; padding: .3rem .4rem; vertical-align: top; text-align: left; }
  th { background: #eef2f6; }
  tr, .article { page-break-inside: avoid; break-inside: avoid; }
  .article { border-left: 3px solid #7a5c00; padding-left: .7rem; margin: .6rem 0 1rem; }
  .legal-note { background: #f4f6f8; padding: .4rem .6rem; font-size: 10pt; }
  a { color: #0b5cad; overflow-wrap: anywhere; }
  .toc ol { columns: 2; }
  .topic, .appendix { page-break-before: always; break-before: page; }
  @media print {
    body { max-width: none; padding: 0; font-size: 10.5pt; }
    a { color: inherit; text-decoration: none; }
    a.titled::after { content: " <" attr(href) ">"; font-size: 8pt; color: #555; }  /* paper has no links */
  }
  @page { size: A4; margin: 18mm 16mm; }
</style>
</head>
<body>
{% macro pieces(line) %}
  {%- for piece in line -%}
    {%- if piece.href %}<a href="{{ piece.href }}">{{ piece.text }}</a>{% else %}{{ piece.text }}{% endif -%}
  {%- endfor -%}
{% endmacro %}
{% macro rich(text) %}
  {%- for block in blocks(text) -%}
    {%- if block.kind == "ul" -%}
      <ul>{% for line in block.lines %}<li>{{ pieces(line) }}</li>{% endfor %}</ul>
    {%- else -%}
      <p>{% for line in block.lines %}{% if not loop.first %}<br>{% endif %}{{ pieces(line) }}{% endfor %}</p>
    {%- endif -%}
  {%- endfor -%}
{% endmacro %}
{% macro source_link(url, title=None) %}
  {%- if safe_url(url) %}<a href="{{ url }}"{% if title %} class="titled"{% endif %}>{{ title or url }}</a>
  {%- else %}{{ title or url }}{% if title %} ({{ url }}){% endif %}{% endif -%}
{% endmacro %}
{% macro doc_number(law, sep) %}{% if law.document_number %}{{ sep }}{{ law.document_number }}{% endif %}{% endmacro %}
{% macro article_block(law, article) %}
<div class="article">
  <h4>《{{ law.name.zh }}》{{ article.number.zh }}{% if article.excerpt %}（节选）{% endif %}</h4>
  <p class="meta">{{ law.issuer.zh }}，{{ law.date }}{{ doc_number(law, "，") }}</p>
  {{ rich(article.text.zh) }}
  <h4 lang="en">{{ law.name.en }}, {{ article.number.en }}{% if article.excerpt %} (excerpt){% endif %}</h4>
  <p class="meta" lang="en">{{ law.issuer.en }}, {{ law.date }}</p>
  <div lang="en">{{ rich(article.text.en) }}</div>
</div>
{% endmacro %}

<section class="cover">
  <h1>社保卡激活问答手册<span class="en">Social security card activation: question-and-answer handbook</span></h1>
  <p class="meta">生成日期 Generated {{ today }} · 全部内容来自知识库 knowledge/（{{ sections|length }} 个主题 topics，
    {{ kb.regions|length }} 个地区 regions，{{ kb.laws|length }} 部法规 laws）。</p>
  {% set hotline = kb.service.hotline %}
  <p>全国服务热线 National hotline: {{ hotline.number }}（{{ hotline.zh }} / {{ hotline.en }}）</p>
  <p>{{ kb.service.scope.zh }}</p>
  <p lang="en">{{ kb.service.scope.en }}</p>
  <nav class="toc">
    <h2>目录<span class="en">Contents</span></h2>
    <ol>
    {% for section in sections %}
      <li><a href="#{{ section.id }}">{{ section.entry.title.zh }} · {{ section.entry.title.en }}</a></li>
    {% endfor %}
      <li><a href="#laws">附录一 法规全文 · Appendix A: laws</a></li>
      <li><a href="#hotlines">附录二 地方热线 · Appendix B: local hotlines</a></li>
    </ol>
  </nav>
</section>

{% for section in sections %}{% set entry = section.entry %}
<section class="topic" id="{{ section.id }}">
  <h2>{{ loop.index }}. {{ entry.title.zh }}<span class="en">{{ entry.title.en }}</span></h2>
  <p class="meta">意图 Intent: <code>{{ section.id }}</code>
    {%- if entry.varies_by_region %}<span class="badge">各地不同 varies by region</span>{% endif %}</p>

  <h3>答复 Answer</h3>
  <div class="columns">
    <div class="answer">{{ rich(entry.answer.zh) }}</div>
    <div class="answer" lang="en">{{ rich(entry.answer.en) }}</div>
  </div>

  {% if entry.variations %}
  <h3>各地说法 Regional variations</h3>
  <p class="muted">以下为地区示例，并非全国规定。These are regional examples, not national rules.</p>
  <table>
    <tr><th>地区 Where</th><th>说法 Rule</th><th>来源 Source</th></tr>
    {% for v in entry.variations %}
    <tr><td>{{ v.where.zh }}<br><span lang="en">{{ v.where.en }}</span></td>
        <td>{{ v.rule.zh }}<br><span lang="en">{{ v.rule.en }}</span></td>
        <td>{{ source_link(v.source) }}</td></tr>
    {% endfor %}
  </table>
  {% endif %}

  <h3>地区说明 Regional notes</h3>
  {% if section.notes %}
  <table>
    <tr><th>地区 Region</th><th>说明 Note</th><th>来源 Source</th></tr>
    {% for note in section.notes %}
    <tr><td>{{ note.region }}<br><span lang="en">{{ note.name_en }}</span></td>
        <td>{{ note.zh }}<br><span lang="en">{{ note.en }}</span></td>
        <td>{{ source_link(note.source) }} <span class="muted">({{ note.kind }})</span></td></tr>
    {% endfor %}
  </table>
  {% else %}
  <p class="muted">知识库中没有地区说明。No regional notes in the knowledge base.</p>
  {% endif %}

  <h3>法律依据 Legal basis</h3>
  {% for item in section.articles %}{{ article_block(item.law, item.article) }}{% endfor %}
  {% if entry.legal_note %}
  <div class="legal-note"><p>{{ entry.legal_note.zh }}</p><p lang="en">{{ entry.legal_note.en }}</p></div>
  {% endif %}

  <h3>来源 Sources</h3>
  <ul>
  {% for source in entry.sources %}
    <li>{{ source_link(source.url, source.title) }} <span class="muted">({{ source.kind }})</span></li>
  {% endfor %}
  </ul>
</section>
{% endfor %}

<section class="appendix" id="laws">
  <h2>附录一 法规全文<span class="en">Appendix A: the laws cited, article by article</span></h2>
  {% for law in kb.laws.values() %}
  <h3>《{{ law.name.zh }}》 · {{ law.name.en }}</h3>
  <p class="meta">{{ law.issuer.zh }} / {{ law.issuer.en }}，{{ law.date }}{{ doc_number(law, "，") }}</p>
  {% if law.history %}<p class="meta">{{ law.history.zh }}<br><span lang="en">{{ law.history.en }}</span></p>{% endif %}
  <p class="meta">来源 Source: {{ source_link(law.source) }}</p>
  {% for article in law.articles %}{{ article_block(law, article) }}{% endfor %}
  {% endfor %}
</section>

<section class="appendix" id="hotlines">
  <h2>附录二 地方热线<span class="en">Appendix B: local hotlines</span></h2>
  <table>
    <tr><th>地区 Region</th><th>热线 Hotline</th><th>号码 Number</th></tr>
    <tr><td>全国 National</td><td>{{ kb.service.hotline.zh }}<br><span lang="en">{{ kb.service.hotline.en }}</span></td>
        <td>{{ kb.service.hotline.number }}</td></tr>
    {% for region in kb.regions.values() if region.hotline %}
    <tr><td>{{ region.region }}<br><span lang="en">{{ region.name_en }}</span></td>
        <td>{{ region.hotline.zh }}<br><span lang="en">{{ region.hotline.en }}</span></td>
        <td>{{ region.hotline.number }}</td></tr>
    {% endfor %}
  </table>
</section>
</body>
</html>
"""


def build_handbook(kb: KnowledgeBase, today: date | None = None) -> str:
    """The handbook as one HTML document. Everything from the knowledge base is escaped."""
    env = Environment(loader=DictLoader({"handbook.html": TEMPLATE}), autoescape=True, trim_blocks=True)
    env.globals.update(blocks=blocks, safe_url=safe_url)
    return env.get_template("handbook.html").render(
        kb=kb, sections=topic_sections(kb), today=(today or date.today()).isoformat()
    )


def main(argv: list[str] | None = None) -> int:
    """Command line: write the handbook; prints where."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output file (default: build/handbook.html)")
    parser.add_argument("--knowledge", type=Path, default=None, help="knowledge directory (default: knowledge/)")
    args = parser.parse_args(argv)
    kb = load_knowledge(args.knowledge)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(build_handbook(kb), encoding="utf-8")
    print(f"wrote {args.out} ({len(kb.topics)} topics)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

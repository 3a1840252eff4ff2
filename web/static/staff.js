// The 12333 staff reference desk: ranks the caller's question with the assistant's model
// (/api/staff/query) and shows the three most likely topics with answers, regional variant and law.
import { getSession, staffFetch } from "./staffnav.js";
import { element, makeLink, renderText, safeHref } from "./text.js";

const DEBOUNCE_MS = 400;
const RETRY_MS = 3000;
const TABS = [
  { id: "zh", label: "中文" },
  { id: "en", label: "English" },
  { id: "region", label: "地区 Region" },
  { id: "law", label: "法律条文 Law" },
  { id: "sources", label: "来源 Sources" },
];

const question = document.getElementById("question");
const regionSearch = document.getElementById("region-search");
const regionSelect = document.getElementById("region");
const regionChosen = document.getElementById("region-chosen");
const statusLine = document.getElementById("status");
const results = document.getElementById("results");

let regions = [];
let selectedRegion = "";
let activeTab = "zh"; // one choice for all three topics, kept while the staff member types
let sequence = 0; // answers to older queries are dropped
let controller = null;
let debounceTimer = null;
let retryTimer = null;

function setStatus(text) {
  statusLine.textContent = text;
}

// ---- region picker ---------------------------------------------------------------------------

function regionLabel(region) {
  const where = region.level === "prefecture" ? ` — ${region.province}` : "";
  const notes = region.has_notes ? " ★" : "";
  return `${region.name} ${region.name_en}${where}${notes}`;
}

function matches(region, query) {
  if (!query) return true;
  const haystack = [region.name, region.name_en, region.province, ...region.aliases].join("\n").toLowerCase();
  return haystack.includes(query);
}

function fillRegionOptions() {
  const query = regionSearch.value.trim().toLowerCase();
  const options = [element("option", null, "全国（不选地区） National (no region)")];
  options[0].value = "";
  for (const region of regions) {
    if (!matches(region, query) && region.name !== selectedRegion) continue;
    const option = element("option", null, regionLabel(region));
    option.value = region.name;
    options.push(option);
  }
  regionSelect.replaceChildren(...options);
  regionSelect.value = selectedRegion;
}

function chooseRegion(name) {
  if (name === selectedRegion) return;
  selectedRegion = name;
  regionSelect.value = name;
  const region = regions.find((r) => r.name === name);
  regionChosen.textContent = region ? `已选 Selected: ${region.name} ${region.name_en}` : "";
  if (region) activeTab = "region"; // picking a place means: show me what applies there
  runQuery();
}

async function loadRegions() {
  try {
    const response = await fetch("/api/regions");
    regions = (await response.json()).regions || [];
  } catch {
    regions = [];
    setStatus("地区列表加载失败 Could not load the region list");
  }
  fillRegionOptions();
}

// ---- copying ----------------------------------------------------------------------------------

async function copyText(text) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch {
    // Permission refused: fall back to the selection-based copy below.
  }
  const area = element("textarea", "offscreen");
  area.value = text;
  area.setAttribute("readonly", "");
  document.body.append(area);
  area.select();
  let copied = false;
  try {
    copied = document.execCommand("copy");
  } catch {
    copied = false;
  }
  area.remove();
  return copied;
}

function copyButton(text, label) {
  const button = element("button", "copy", label);
  button.type = "button";
  button.addEventListener("click", async () => {
    const copied = await copyText(text);
    button.textContent = copied ? "已复制 / Copied" : "复制失败 / Copy failed";
    button.classList.toggle("copy--done", copied);
    setTimeout(() => {
      button.textContent = label;
      button.classList.remove("copy--done");
    }, 2000);
  });
  return button;
}

// ---- results ----------------------------------------------------------------------------------

function answerBlock(text, language, copyLabel) {
  const block = element("div", "answer");
  block.lang = language === "zh" ? "zh-CN" : "en";
  block.append(copyButton(text, copyLabel));
  const body = element("div", "answer__text");
  renderText(body, text);
  block.append(body);
  return block;
}

function regionPanel(topic, region) {
  const panel = document.createDocumentFragment();
  if (!region || !topic.region_answer) {
    panel.append(element("p", "muted", "选择地区后显示当地说明。Pick a region to see what applies there."));
    return panel;
  }
  panel.append(element("h3", null, `${region.name} ${region.name_en}`));
  const notes = element("div", "region-notes");
  for (const language of ["zh", "en"]) {
    for (const line of topic.region_notes[language]) {
      const note = element("p", "region-note");
      note.lang = language === "zh" ? "zh-CN" : "en";
      renderText(note, line);
      notes.append(note);
    }
  }
  if (notes.childElementCount) panel.append(notes);
  const columns = element("div", "columns");
  columns.append(
    answerBlock(topic.region_answer.zh, "zh", "复制地区中文 Copy regional (zh)"),
    answerBlock(topic.region_answer.en, "en", "复制地区英文 Copy regional (en)"),
  );
  panel.append(columns);
  return panel;
}

function lawPanel(topic) {
  const panel = document.createDocumentFragment();
  for (const article of topic.articles) {
    const section = element("section", "article");
    const excerptZh = article.excerpt ? "（节选）" : "";
    const excerptEn = article.excerpt ? " (excerpt)" : "";
    section.append(element("h3", null, `《${article.law.zh}》${article.number.zh}${excerptZh}`));
    const number = article.document_number ? `，${article.document_number}` : "";
    section.append(element("p", "meta", `${article.issuer.zh}，${article.date}${number}`));
    const textZh = element("div", "article__text");
    textZh.lang = "zh-CN";
    renderText(textZh, article.text.zh);
    section.append(textZh);
    const headingEn = element("h4", null, `${article.law.en}, ${article.number.en}${excerptEn}`);
    headingEn.lang = "en";
    section.append(headingEn);
    section.append(element("p", "meta", `${article.issuer.en}, ${article.date}`));
    const textEn = element("div", "article__text");
    textEn.lang = "en";
    renderText(textEn, article.text.en);
    section.append(textEn);
    if (article.source) {
      // A law's source is often a description ("LawRefBook repository, file …"), not a URL.
      const source = element("p", "meta", "来源 Source: ");
      const href = safeHref(article.source);
      source.append(href ? makeLink(href, article.source) : document.createTextNode(article.source));
      section.append(source);
    }
    panel.append(section);
  }
  if (topic.legal_note) {
    const note = element("div", "legal-note");
    note.append(element("p", null, topic.legal_note.zh), element("p", null, topic.legal_note.en));
    panel.append(note);
  }
  return panel;
}

function sourcesPanel(topic) {
  const list = element("ul", "sources");
  for (const source of topic.sources) {
    const item = element("li");
    const href = safeHref(source.url);
    // Seed files and other non-web references are shown as text, never as links.
    item.append(href ? makeLink(href, source.title) : element("span", null, `${source.title} (${source.url})`));
    item.append(element("span", `kind kind--${source.kind}`, source.kind));
    list.append(item);
  }
  return list;
}

function selectTab(card, id) {
  for (const tab of card.querySelectorAll("[role=tab]")) {
    const on = tab.dataset.tab === id;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
  }
  for (const panel of card.querySelectorAll("[role=tabpanel]")) panel.hidden = panel.dataset.tab !== id;
}

function topicCard(topic, index, region) {
  const card = element("article", "topic");
  card.dataset.intent = topic.intent;
  const header = element("header", "topic__header");
  const title = element("h2", "topic__title");
  title.append(element("span", "rank", String(index + 1)), element("span", null, topic.title.zh));
  const titleEn = element("span", "topic__title-en", topic.title.en);
  titleEn.lang = "en";
  title.append(titleEn);
  const percent = Math.round(topic.confidence * 100);
  const shown = topic.confidence > 0 && percent < 1 ? "<1%" : `${percent}%`;
  const confidence = element("div", "confidence");
  const bar = element("progress");
  bar.max = 100;
  bar.value = percent;
  bar.setAttribute("aria-label", "置信度 Confidence");
  confidence.append(bar, element("span", "confidence__value", shown));
  header.append(title, confidence);
  card.append(header);

  const tabs = element("div", "tabs");
  tabs.setAttribute("role", "tablist");
  const panels = {
    zh: () => answerBlock(topic.answer.zh, "zh", "复制中文 Copy Chinese"),
    en: () => answerBlock(topic.answer.en, "en", "复制英文 Copy English"),
    region: () => regionPanel(topic, region),
    law: () => lawPanel(topic),
    sources: () => sourcesPanel(topic),
  };
  const panelId = (id) => `panel-${index}-${id}`;
  for (const { id, label } of TABS) {
    const tab = element("button", "tab", label);
    tab.type = "button";
    tab.dataset.tab = id;
    tab.setAttribute("role", "tab");
    tab.setAttribute("aria-controls", panelId(id));
    tab.addEventListener("click", () => {
      activeTab = id;
      selectTab(card, id);
    });
    tabs.append(tab);
  }
  card.append(tabs);
  for (const { id } of TABS) {
    const panel = element("div", `panel panel--${id}`);
    panel.id = panelId(id);
    panel.dataset.tab = id;
    panel.setAttribute("role", "tabpanel");
    panel.append(panels[id]());
    card.append(panel);
  }
  selectTab(card, activeTab);
  return card;
}

function render(data) {
  if (!data.topics.length) {
    results.replaceChildren(element("p", "muted", "没有找到相关主题，请换个说法。No matching topic; try other words."));
  } else {
    results.replaceChildren(...data.topics.map((topic, i) => topicCard(topic, i, data.region)));
  }
  const limit = data.max_chars;
  setStatus(data.truncated ? `问题超过${limit}字，只查询了前${limit}字。Only the first ${limit} characters were used.` : "");
}

// ---- querying ---------------------------------------------------------------------------------

async function runQuery() {
  clearTimeout(debounceTimer);
  clearTimeout(retryTimer);
  const text = question.value.trim();
  const mine = ++sequence;
  if (controller) controller.abort();
  if (!text) {
    results.replaceChildren();
    setStatus("");
    return;
  }
  controller = new AbortController();
  setStatus("查询中… Searching…");
  let response;
  let data;
  try {
    // staffFetch adds the session's X-CSRF-Token and goes to the login page when the session has ended.
    response = await staffFetch("/api/staff/query", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ text, region: selectedRegion || null }),
      signal: controller.signal,
    });
    data = await response.json();
  } catch (error) {
    if (error.name !== "AbortError" && mine === sequence) setStatus("网络错误 Network error");
    return;
  }
  if (mine !== sequence) return;
  if (response.status === 503) {
    setStatus("模型加载中，稍后自动重试… The model is loading, retrying…");
    retryTimer = setTimeout(runQuery, RETRY_MS);
    return;
  }
  if (!response.ok) {
    setStatus(`查询失败 Query failed: ${data.error || response.status}`);
    return;
  }
  render(data);
}

function start() {
  question.addEventListener("input", () => {
    clearTimeout(debounceTimer);
    debounceTimer = setTimeout(runQuery, DEBOUNCE_MS);
  });
  question.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      runQuery();
    }
  });
  regionSearch.addEventListener("input", fillRegionOptions);
  regionSearch.addEventListener("keydown", (event) => {
    // Enter in the search box picks the first match.
    if (event.key === "Enter" && !event.isComposing) {
      event.preventDefault();
      const query = regionSearch.value.trim().toLowerCase();
      const first = regions.find((region) => matches(region, query));
      if (first) chooseRegion(first.name);
    }
  });
  regionSelect.addEventListener("change", () => chooseRegion(regionSelect.value));
  getSession().catch(() => {}); // the CSRF token for the queries (no session: to the login page)
  loadRegions();
}

start();

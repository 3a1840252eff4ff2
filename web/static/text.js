// Renders the assistant's plain text as DOM: paragraphs (blank-line separated), lists (lines starting
// "- "), http(s) links. Shared by the chat page and the staff desk. Everything goes through
// textContent / createElement, never innerHTML: the text is data, not markup.

// Stops at whitespace, quotes, angle brackets and full-width punctuation that ends Chinese sentences.
const URL_PATTERN = /https?:\/\/[^\s<>"'（）【】「」《》，。；：、！？]+/g;
// ASCII punctuation after a URL usually ends the sentence, e.g. "(source: http://…)."
const TRAILING_PUNCTUATION = /[.,;:!?)\]}'"]+$/;
const LIST_ITEM = /^\s*[-•]\s+/;

/** The URL as a safe href (http or https only), or null. */
export function safeHref(raw) {
  try {
    const url = new URL(raw);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

/** A link that opens in a new tab without giving that tab a handle on this page. */
export function makeLink(href, label) {
  const link = document.createElement("a");
  link.href = href;
  link.textContent = label;
  link.title = href;
  link.target = "_blank";
  link.rel = "noopener noreferrer";
  return link;
}

/** "host/…" for a long URL in running text: percent-encoded paths fill a phone screen. */
export function shortUrl(href) {
  const url = new URL(href);
  return url.pathname.length > 1 || url.search ? `${url.host}/…` : url.host;
}

// A short labelled link, as the answers give their sources: [广州人社](https://…).
const LABELLED_LINK = /\[([^\]\n]+)\]\((https?:\/\/[^)\s]+)\)/g;

/** Append `text` to `parent` as text nodes, with [label](url) links and bare http(s) URLs as links. */
export function appendLinkified(parent, text) {
  let done = 0;
  for (const match of text.matchAll(LABELLED_LINK)) {
    const href = safeHref(match[2]);
    if (!href) continue;
    appendBareLinks(parent, text.slice(done, match.index));
    parent.append(makeLink(href, match[1]));
    done = match.index + match[0].length;
  }
  appendBareLinks(parent, text.slice(done));
}

function appendBareLinks(parent, text) {
  let done = 0;
  for (const match of text.matchAll(URL_PATTERN)) {
    const raw = match[0].replace(TRAILING_PUNCTUATION, "");
    const href = safeHref(raw);
    if (!href) continue;
    parent.append(document.createTextNode(text.slice(done, match.index)));
    parent.append(makeLink(href, shortUrl(href)));
    done = match.index + raw.length;
  }
  parent.append(document.createTextNode(text.slice(done)));
}

/** True for the "⚖ 依据：…" / "⚖ Legal basis: …" line that ends an answer. */
export function isLegalLine(text) {
  return typeof text === "string" && text.trimStart().startsWith("⚖");
}

/** Append `text` to `container` as paragraphs and lists. */
export function renderText(container, text) {
  for (const block of String(text).split(/\n[ \t]*\n/)) {
    let paragraph = null;
    let list = null;
    for (const line of block.split("\n")) {
      if (LIST_ITEM.test(line)) {
        paragraph = null;
        if (!list) {
          list = document.createElement("ul");
          container.append(list);
        }
        const item = document.createElement("li");
        appendLinkified(item, line.replace(LIST_ITEM, ""));
        list.append(item);
      } else if (line.trim()) {
        list = null;
        if (paragraph) {
          paragraph.append(document.createElement("br"));
        } else {
          paragraph = document.createElement("p");
          if (isLegalLine(line)) paragraph.className = "legal-line";
          container.append(paragraph);
        }
        appendLinkified(paragraph, line);
      }
    }
  }
}

/** A small element with a class and text, the building block of both pages. */
export function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

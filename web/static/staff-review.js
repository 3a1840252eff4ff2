// The review queue: groups of near-duplicate questions; a staff member assigns each group a topic.
// Citizens' texts are shown with textContent only (they are data, never markup).
import { element } from "./text.js";
import { staffFetch } from "./staffnav.js";

const REASONS = {
  fallback: "没答上 fallback",
  thumbs_down: "👎",
  handoff: "转人工 handoff",
  runner_up: "点了“我想问的是” I meant",
};
const groupsBody = document.getElementById("groups");
const assignedList = document.getElementById("assigned");
const statusLine = document.getElementById("status");

function title(label, labels) {
  const found = labels.find((l) => l.value === label);
  return found ? `${found.title.zh} · ${found.title.en}` : label || "";
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString("zh-CN", { hour12: false }) : "";
}

function row(group, labels) {
  const tr = element("tr", "ops__group");
  tr.dataset.ids = group.ids.join(",");
  const question = element("td", "ops__question");
  const text = element("div", "ops__text", group.text);
  question.append(text);
  if (group.count > 1) {
    const more = element("details", "ops__more");
    more.append(element("summary", null, `${group.count} 条 · ${group.count} questions`));
    const list = element("ul");
    for (const item of group.items) list.append(element("li", null, item.text));
    more.append(list);
    question.append(more);
  }
  const guess = element(
    "td",
    "ops__guess",
    group.guess
      ? `${title(group.guess, labels)}${group.guess_confidence != null ? ` (${Math.round(group.guess_confidence * 100)}%)` : ""}`
      : group.chosen ? "" : "—",
  );
  // The topic people picked with "I meant: …" under the answer they got: their choice, not the model's.
  if (group.chosen) guess.append(element("div", "ops__chosen", `用户选择 Person chose: ${title(group.chosen, labels)}`));
  tr.append(
    question,
    element("td", "ops__count", String(group.count)),
    element("td", null, group.reasons.map((r) => REASONS[r] || r).join(" · ")),
    guess,
    element("td", null, when(group.latest)),
  );
  const cell = element("td", "ops__assign");
  const select = element("select", "ops__label");
  select.setAttribute("aria-label", "主题 Topic");
  for (const label of labels) {
    const option = element("option", null, title(label.value, labels));
    option.value = label.value;
    if (label.value === (group.chosen || group.guess)) option.selected = true;
    select.append(option);
  }
  const button = element("button", "ops__button", "分配 Assign");
  button.type = "button";
  button.addEventListener("click", async () => {
    button.disabled = true;
    const response = await staffFetch("/api/staff/review/assign", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ ids: group.ids, label: select.value }),
    });
    if (response.ok) {
      statusLine.textContent = `已分配 Assigned: ${title(select.value, labels)}`;
      load();
    } else {
      button.disabled = false;
      statusLine.textContent = `分配失败 Could not assign (${response.status})`;
    }
  });
  cell.append(select, button);
  tr.append(cell);
  return tr;
}

async function load() {
  const response = await staffFetch("/api/staff/review", { cache: "no-store" });
  if (!response.ok) {
    statusLine.textContent = `无法读取复核队列 The queue could not be read (${response.status})`;
    return;
  }
  const data = await response.json();
  groupsBody.replaceChildren(...data.groups.map((g) => row(g, data.labels)));
  if (!data.groups.length) {
    const empty = element("tr");
    const cell = element("td", "ops__empty", "没有待复核的问题 Nothing to review");
    cell.colSpan = 6;
    empty.append(cell);
    groupsBody.append(empty);
  }
  assignedList.replaceChildren(
    ...data.recently_assigned.map((item) =>
      element("li", null, `${item.text} → ${title(item.label, data.labels)} (${item.assigned_by}, ${when(item.assigned_at)})`),
    ),
  );
  document.body.dataset.loaded = "true";
}

load();

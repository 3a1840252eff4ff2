// Opens a handoff code: the conversation's redacted summary, so the caller need not repeat themselves.
import { element } from "./text.js";
import { staffFetch } from "./staffnav.js";

const form = document.getElementById("lookup");
const input = document.getElementById("code");
const statusLine = document.getElementById("status");
const summary = document.getElementById("summary");

function fact(term, value) {
  return [element("dt", null, term), element("dd", null, value)];
}

async function open(code) {
  summary.hidden = true;
  statusLine.textContent = "";
  const response = await staffFetch(`/api/staff/handoff/${encodeURIComponent(code)}`, { cache: "no-store" });
  if (response.status === 404) {
    statusLine.textContent = "没有这个转接码 No such code";
    return;
  }
  if (response.status === 410) {
    statusLine.textContent = "转接码已过期 This code has expired";
    return;
  }
  if (!response.ok) {
    statusLine.textContent = `无法打开 Could not open (${response.status})`;
    return;
  }
  const data = await response.json();
  const s = data.summary;
  document.getElementById("facts").replaceChildren(
    ...fact("转接码 Code", data.code),
    ...fact("渠道 Channel", data.channel),
    ...fact("地区 Region", data.region || "未说明 not given"),
    ...fact("语言 Language", data.language || ""),
    ...fact("身份已核验 Identity verified", data.identity_verified ? "是 yes" : "否 no"),
    ...fact("没答上的次数 Fallbacks", String(s.fallbacks ?? 0)),
    ...fact("有效期至 Valid until", new Date(data.expires_at).toLocaleString("zh-CN", { hour12: false })),
  );
  document.getElementById("topics").replaceChildren(
    ...(s.topics.length
      ? s.topics.map((t) => element("li", null, `${t.title.zh} · ${t.title.en}`))
      : [element("li", null, "无 none")]),
  );
  document.getElementById("questions").replaceChildren(...s.questions.map((q) => element("li", null, q.text)));
  summary.hidden = false;
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const code = input.value.trim();
  if (code) open(code);
});

// The dashboard: figures per day and channel from /api/staff/dashboard, drawn with Chart.js.
import { element } from "./text.js";
import { staffFetch } from "./staffnav.js";

const COLORS = ["#0b5cad", "#1a7f37", "#bf8700", "#8250df", "#cf222e", "#57606a"];
const charts = {};
const statusLine = document.getElementById("status");
const daysSelect = document.getElementById("days");

function draw(id, config) {
  if (charts[id]) charts[id].destroy();
  charts[id] = new window.Chart(document.getElementById(id), { ...config, options: { animation: false, responsive: true, ...config.options } });
}

function tile(label, value) {
  const box = element("div", "ops__tile");
  box.append(element("div", "ops__tile-value", value), element("div", "ops__tile-label", label));
  return box;
}

function percent(rate) {
  return rate == null ? "—" : `${Math.round(rate * 100)}%`;
}

function render(data) {
  const t = data.totals;
  document.getElementById("tiles").replaceChildren(
    tile("会话 Conversations", String(t.conversations)),
    tile("消息 Messages", String(t.messages)),
    tile("未走兜底 Answered", percent(t.answered_rate)),
    tile("转人工 Handoffs", String(t.handoffs)),
    tile("改选主题 Corrected (I meant)", String(t.corrected)),
    tile("👍 / 👎", `${t.up} / ${t.down}`),
    tile("有帮助 Helpful", percent(t.helpful_rate)),
  );
  const byDay = (channel, key) => data.days.map((day) => {
    const row = data.series.find((r) => r.day === day && (channel === null || r.channel === channel));
    if (channel !== null) return row ? row[key] : 0;
    return data.series.filter((r) => r.day === day).reduce((sum, r) => sum + r[key], 0);
  });
  draw("chart-messages", {
    type: "bar",
    data: {
      labels: data.days,
      datasets: data.channels.map((channel, i) => ({ label: channel, data: byDay(channel, "messages"), backgroundColor: COLORS[i % COLORS.length] })),
    },
    options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } },
  });
  const messages = byDay(null, "messages");
  const answered = byDay(null, "answered");
  draw("chart-answered", {
    type: "line",
    data: {
      labels: data.days,
      datasets: [
        { label: "回答率 Answered %", data: messages.map((m, i) => (m ? Math.round((answered[i] / m) * 100) : null)), borderColor: COLORS[1], yAxisID: "y" },
        { label: "转人工 Handoffs", data: byDay(null, "handoffs"), borderColor: COLORS[4], yAxisID: "y1" },
      ],
    },
    options: { scales: { y: { min: 0, max: 100 }, y1: { position: "right", beginAtZero: true } } },
  });
  draw("chart-feedback", {
    type: "bar",
    data: {
      labels: data.days,
      datasets: [
        { label: "👍", data: byDay(null, "up"), backgroundColor: COLORS[1] },
        { label: "👎", data: byDay(null, "down"), backgroundColor: COLORS[4] },
      ],
    },
    options: { scales: { y: { beginAtZero: true } } },
  });
  draw("chart-topics", {
    type: "bar",
    data: {
      labels: data.top_topics.map((x) => (data.topic_titles[x.intent] || {}).zh || x.intent),
      datasets: [{ label: "问题数 Questions", data: data.top_topics.map((x) => x.count), backgroundColor: COLORS[0] }],
    },
    options: { indexAxis: "y", scales: { x: { beginAtZero: true } } },
  });
  document.getElementById("unanswered").replaceChildren(
    ...(data.top_unanswered.length
      ? data.top_unanswered.map((q) => element("li", null, `${q.text} (${q.count})`))
      : [element("li", null, "没有 none")]),
  );
  document.getElementById("rows").replaceChildren(
    ...data.series.map((r) => {
      const tr = element("tr");
      for (const value of [r.day, r.channel, r.conversations, r.messages, r.answered, r.fallbacks, r.handoffs, r.corrected, r.up, r.down]) {
        tr.append(element("td", null, String(value)));
      }
      return tr;
    }),
  );
  document.body.dataset.loaded = "true";
}

async function load() {
  const response = await staffFetch(`/api/staff/dashboard?days=${daysSelect.value}`, { cache: "no-store" });
  if (!response.ok) {
    statusLine.textContent = `无法读取数据 The figures could not be read (${response.status})`;
    return;
  }
  statusLine.textContent = "";
  render(await response.json());
}

daysSelect.addEventListener("change", load);
if (window.Chart) load();
else window.addEventListener("load", load);
